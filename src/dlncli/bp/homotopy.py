"""Basis pursuit by the homotopy (LARS-lasso) path, from the sparse side.

Notation: A is (m, N), y is (m,). The lasso solution x(l) of min ½‖Ax − y‖² + l‖x‖₁ is
piecewise linear in l; it starts at x = 0 for l ≥ ‖Aᵀy‖∞ and, when the path reaches l = 0
with an active set K of full column rank, ends at the BP minimizer (Donoho and Tsaig: a
k-sparse solution in about k steps of O(mN) each). Along a segment, with correlations
c = Aᵀ(y − Ax), c_K = l s_K on the active set and

    d_K = (A_Kᵀ A_K)⁻¹ s_K,   v = A_K d_K,   a = Aᵀ v,

decreasing l by g moves x_K by g d_K and c by −g a. The next breakpoint is the smallest g at
which an inactive |c_j| reaches l (j joins with sign c_j), an active x_i reaches 0 (i leaves)
or l reaches 0 (the end). On the last segment v is constant and is a BP certificate:
A_Kᵀ v = s_K exactly in exact arithmetic; |a_jᵀ v| ≤ 1 elsewhere is what the caller proves
(lp.py, with the rigorous float bound of certify.py).

The path is abandoned (None) at ties (two events within round-off), at a rank-deficient
active set, or past MAX_STEPS_PER_ROW · m steps; the caller then solves the LP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg

from dlncli.arrays import FloatArray, IntArray
from dlncli.bp.certify import issparse

MAX_STEPS_PER_ROW = 2
# Two breakpoints closer than this (relative to l) are a tie: the path is not decided by
# float64, so the LP decides.
TIE_TOL = 1e-10
# Join times within END_TOL (relative) of l's end are the end of the path itself.
END_TOL = 1e-9
# The correlations are updated incrementally (one product with A^T per step); they are
# recomputed from the residual every REFRESH_EVERY steps so that rounding does not accumulate.
REFRESH_EVERY = 5
# A new column whose component orthogonal to the active columns is below this (relative to
# its norm) would make A_K rank deficient.
RANK_TOL = 1e-10


@dataclass(frozen=True)
class HomotopyPath:
    """The end of the homotopy path.

    x : (N,) the path's end point (A x = y up to round-off).  support : (k,) K, sorted.
    signs : (k,) s_K.  certificate : (m,) v with A_Kᵀ v = s_K (to round-off).
    steps : breakpoints passed.
    """

    x: FloatArray
    support: IntArray
    signs: FloatArray
    certificate: FloatArray
    steps: int


class _Cholesky:
    """Upper Cholesky factor R of A_Kᵀ A_K, updated as columns join and leave."""

    def __init__(self) -> None:
        self.R = np.zeros((0, 0))

    def add(self, gram_col: FloatArray, gram_diag: float) -> bool:
        k = self.R.shape[0]
        if k == 0:
            if gram_diag <= 0:
                return False
            self.R = np.array([[np.sqrt(gram_diag)]])
            return True
        r = scipy.linalg.solve_triangular(self.R, gram_col, trans="T")
        rest = gram_diag - float(r @ r)
        if rest <= (RANK_TOL**2) * gram_diag:
            return False
        grown = np.zeros((k + 1, k + 1))
        grown[:k, :k] = self.R
        grown[:k, k] = r
        grown[k, k] = np.sqrt(rest)
        self.R = grown
        return True

    def remove(self, position: int) -> None:
        """Drop column ``position`` and restore triangularity with Givens rotations."""
        R = np.delete(self.R, position, axis=1)
        for i in range(position, R.shape[1]):
            a, b = R[i, i], R[i + 1, i]
            h = np.hypot(a, b)
            c, s = a / h, b / h
            rows = R[[i, i + 1], i:].copy()
            R[i, i:] = c * rows[0] + s * rows[1]
            R[i + 1, i:] = -s * rows[0] + c * rows[1]
        self.R = R[:-1, :]

    def solve(self, rhs: FloatArray) -> FloatArray:
        z = scipy.linalg.solve_triangular(self.R, rhs, trans="T")
        return np.asarray(scipy.linalg.solve_triangular(self.R, z), dtype=np.float64)


def _column(A: Any, j: int, sparse: bool) -> FloatArray:
    col = A[:, [j]].toarray().ravel() if sparse else A[:, j]
    return np.asarray(col, dtype=np.float64)


def homotopy_bp(
    A: Any, y: FloatArray, *, on_step: Callable[[], None] | None = None
) -> HomotopyPath | None:
    """Follow the lasso path from l = ‖Aᵀy‖∞ to 0; the end point is BP's minimizer.

    Parameters
    ----------
    A : (m, N) array or scipy.sparse matrix.  y : (m,), not zero.
    on_step : called once per breakpoint (the caller's time budget raises from it).

    Returns None when the path cannot be followed reliably in float64 (see module doc).
    """
    sparse = issparse(A)
    m, n = A.shape
    c = np.asarray(A.T @ y, dtype=np.float64).ravel()
    lam = float(np.max(np.abs(c)))
    if lam == 0.0:
        return None
    start = lam
    if n > 1 and np.partition(np.abs(c), n - 2)[n - 2] >= lam * (1.0 - TIE_TOL):
        return None  # two columns start the path together
    active: list[int] = []
    signs: list[float] = []
    # The active columns, A_K = block[:, :len(active)], stored once (no restacking per step).
    block = np.empty((m, min(m, n) + 1))
    column_y: list[float] = []  # a_j^T y for the active columns
    x_active = np.zeros(0)
    chol = _Cholesky()
    joining = int(np.argmax(np.abs(c)))
    just_left = -1  # a coordinate that left cannot rejoin at the next breakpoint
    v = np.zeros(m)
    for step in range(MAX_STEPS_PER_ROW * m + 1):
        if on_step is not None:
            on_step()
        if joining >= 0:
            col = _column(A, joining, sparse)
            k = len(active)
            if k >= block.shape[1]:
                return None
            gram_col = block[:, :k].T @ col
            if not chol.add(gram_col, float(col @ col)):
                return None
            active.append(joining)
            signs.append(float(np.sign(c[joining])))
            block[:, len(active) - 1] = col
            column_y.append(float(col @ y))
            x_active = np.append(x_active, 0.0)
        s = np.array(signs)
        d = chol.solve(s)
        v = block[:, : len(active)] @ d
        a = np.asarray(A.T @ v, dtype=np.float64).ravel()
        inactive = np.ones(n, dtype=bool)
        inactive[active] = False
        gamma_join = np.full(n, np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            for g in ((lam - c) / (1.0 - a), (lam + c) / (1.0 + a)):
                ok = inactive & (g > TIE_TOL * lam) & np.isfinite(g)
                gamma_join[ok] = np.minimum(gamma_join[ok], g[ok])
            gamma_leave = np.where(-x_active / d > TIE_TOL * lam, -x_active / d, np.inf)
        # On the last segment every inactive c_j equals (l - g) a_j, and active coordinates
        # that are zero in the BP minimizer reach 0 at l = 0: their join and leave times all
        # coincide with the end. Such events are the end itself.
        gamma_join[gamma_join >= lam * (1.0 - END_TOL)] = np.inf
        if len(active) >= m:  # A_K is square: every join time is the end (see above)
            gamma_join[:] = np.inf
        if just_left >= 0:
            # It sits at |c| = l with its correlation moving inwards; rounding can make it
            # look like an immediate rejoin, which the lasso path never does.
            gamma_join[just_left] = np.inf
        gamma_leave[gamma_leave >= lam * (1.0 - END_TOL)] = np.inf
        j = int(np.argmin(gamma_join))
        leave = int(np.argmin(gamma_leave)) if gamma_leave.size else -1
        candidates = sorted(
            [
                (float(gamma_join[j]), "join"),
                (float(gamma_leave[leave]) if leave >= 0 else np.inf, "leave"),
                (lam, "end"),
            ]
        )
        gamma, event = candidates[0]
        if candidates[1][0] - gamma <= TIE_TOL * start:
            return None  # two events at once: a tie that float64 cannot order
        second_join = np.partition(gamma_join, 1)[1] if n > 1 else np.inf
        if event == "join" and second_join - gamma <= TIE_TOL * start:
            return None
        c = c - gamma * a
        lam -= gamma
        # On the path x_K = (A_K^T A_K)^{-1} (A_K^T y - l s_K): recomputed, not accumulated,
        # so that hundreds of steps do not drift (drift flips the sign of small entries).
        x_active = chol.solve(np.array(column_y) - lam * s)
        if step % REFRESH_EVERY == REFRESH_EVERY - 1:  # updates drift; one more product resets
            residual = y - block[:, : len(active)] @ x_active
            c = np.asarray(A.T @ residual, dtype=np.float64).ravel()
        joining = -1
        just_left = -1
        if event == "end":
            x = np.zeros(n)
            x[active] = x_active
            order = np.argsort(active)
            support = np.array(active, dtype=np.int64)[order]
            return HomotopyPath(x, support, s[order], v, step)
        if event == "join":
            joining = j
        else:
            chol.remove(leave)
            just_left = active[leave]
            k = len(active)
            block[:, leave : k - 1] = block[:, leave + 1 : k]
            del active[leave], signs[leave], column_y[leave]
            x_active = np.delete(x_active, leave)
    return None
