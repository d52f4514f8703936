"""Dense primal simplex pivots for basis pursuit, from the end of the homotopy path.

The LP is min Σ|x_j| s.t. A x = y over x = x⁺ − x⁻. A basis is m columns B of A with signs
σ_B (the basic variable of column j is x⁺_j for σ_j = +1, x⁻_j for −1); it is primal
feasible when x_B = A_B⁻¹ y has σ_B x_B ≥ 0, and optimal when its dual λ = A_B⁻ᵀ σ_B has
|a_jᵀ λ| ≤ 1 for every column (the reduced costs 1 ∓ a_jᵀλ of x±_j are ≥ 0).

The homotopy's end point is such a basis when its active set K is square (|K| = m: above
the weak threshold the minimizer is a vertex with m nonzeros). Rounding near the end of a
long path (l ~ 1e-6 of its start, where the correlations carry absolute errors) can leave it
one or a few pivots short of optimal: gauss:1000:5000:300:8 ended at a square K whose exact
certificate has |a_jᵀλ| = 1 + 6.8e-6 for one column. HiGHS, warm-started from that basis,
needed 15-19 s, mostly to load and factor a dense 1000 x 10000 LP; one dense pivot here (a few
BLAS solves with the LU of A_B and its eta file) finished it. The caller certifies the result
with the rigorous float bound, so a pivot sequence
that stops early or goes wrong costs time, never a wrong verdict.

Ends with |K| < m are not pivoted: completed to a basis at zero they are degenerate, and the
primal simplex stalled there (Bland's rule after degenerate pivots: thousands of pivots on
60 x 200 when only the dual needed to move); they go to the LP.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from dlncli.arrays import FloatArray, IntArray

# Pivots before the attempt is abandoned (the caller then solves the LP).
MAX_PIVOTS = 60
# The LU of A_B is rebuilt after this many eta updates (product form of the inverse).
REFACTOR_EVERY = 20
# |a_jᵀλ| above 1 + ENTER_TOL enters the basis; below it is round-off of the dual solve
# (the caller's bound decides whether the certificate is strict).
ENTER_TOL = 1e-11
# Basic values below ZERO_TOL times the largest are round-off zeros (degenerate); ratios
# within a relative RATIO_TIE of the smallest are ties (the lowest column leaves).
ZERO_TOL = 1e-12
RATIO_TIE = 1e-12
# Bland's rule (which cannot cycle) takes over after this many degenerate pivots in a row.
DEGENERATE_STREAK = 5
# A basis whose LU has a pivot below this (relative to the largest) is singular.
SINGULAR_TOL = 1e-13
# A pivot element below this (relative to the direction's largest entry) is not taken.
PIVOT_TOL = 1e-9


@dataclass(frozen=True)
class PivotEnd:
    """An optimal basis reached by the pivots.

    basis : (m,) columns of A_B.  signs : (m,) σ_B.  x : (N,) the basic solution.
    dual : (m,) λ = A_B⁻ᵀ σ_B.  pivots : pivots taken.
    """

    basis: IntArray
    signs: FloatArray
    x: FloatArray
    dual: FloatArray
    pivots: int


class _Factor:
    """A_B⁻¹ as the LU of A_B at the last refactor and an eta file of the pivots since."""

    def __init__(self, A_B: FloatArray) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
            try:
                self.lu = scipy.linalg.lu_factor(A_B, check_finite=False)
            except scipy.linalg.LinAlgWarning as singular:  # an exactly zero pivot of U
                raise np.linalg.LinAlgError(str(singular)) from None
        diagonal = np.abs(np.diag(self.lu[0]))
        if not diagonal.min(initial=np.inf) > SINGULAR_TOL * diagonal.max(initial=0.0):
            raise np.linalg.LinAlgError("A_B is numerically singular")
        self.etas: list[tuple[int, FloatArray]] = []  # (row r, direction d at that pivot)

    def solve(self, rhs: FloatArray) -> FloatArray:
        """A_B⁻¹ rhs (FTRAN)."""
        z = scipy.linalg.lu_solve(self.lu, rhs, check_finite=False)
        for r, d in self.etas:
            zr = z[r] / d[r]
            z = z - zr * d
            z[r] = zr
        return np.asarray(z, dtype=np.float64)

    def solve_transposed(self, rhs: FloatArray) -> FloatArray:
        """A_B⁻ᵀ rhs (BTRAN)."""
        z = np.array(rhs, dtype=np.float64)
        for r, d in reversed(self.etas):
            z[r] = (z[r] - (d @ z - d[r] * z[r])) / d[r]
        return np.asarray(scipy.linalg.lu_solve(self.lu, z, trans=1, check_finite=False))


def pivot_to_optimum(
    A: FloatArray,
    y: FloatArray,
    basis: IntArray,
    signs: FloatArray,
    *,
    max_pivots: int = MAX_PIVOTS,
    on_pivot: Callable[[], None] | None = None,
) -> PivotEnd | str:
    """Primal simplex (Dantzig's rule; Bland's after degenerate pivots; the lowest variable
    among equal ratios) from the basis
    ``basis`` (m columns of A, nonsingular) with ``signs``; returns the optimal basis, or why
    it was not reached. Basic values of the wrong sign at round-off level count as zero.
    ``on_pivot`` is called before every pivot (the caller's time budget raises from it)."""
    m, n = A.shape
    B = np.array(basis, dtype=np.int64)
    sigma = np.array(signs, dtype=np.float64)
    if B.size != m:
        return f"the start has {B.size} columns, not m = {m}"
    try:
        factor = _Factor(A[:, B])
    except (ValueError, np.linalg.LinAlgError):
        return "the start basis is singular"
    x_B = factor.solve(y)
    degenerate = 0  # degenerate pivots in a row
    for pivots in range(max_pivots + 1):
        dual = factor.solve_transposed(sigma)
        corr = A.T @ dual
        excess = np.abs(corr) - 1.0
        excess[B] = -np.inf  # basic columns (x∓ of a basic column has reduced cost 2)
        entering = int(np.argmax(excess))
        if degenerate >= DEGENERATE_STREAK and excess[entering] > ENTER_TOL:
            # Bland's rule while pivots make no progress (degenerate bases, e.g. columns
            # completed at zero): the lowest entering column.
            # Bland's order is over the LP's variables: x⁺_j ranks j, x⁻_j ranks n + j.
            candidates = np.flatnonzero(excess > ENTER_TOL)
            rank = np.where(corr[candidates] > 0, candidates, n + candidates)
            entering = int(candidates[np.argmin(rank)])
        if not np.all(np.isfinite(x_B)) or not np.all(np.isfinite(dual)):
            return "the basis became numerically singular"
        if not excess[entering] > ENTER_TOL:
            x = np.zeros(n)
            x[B] = x_B
            return PivotEnd(B, sigma, x, dual, pivots)
        if pivots == max_pivots:
            break
        if on_pivot is not None:
            on_pivot()
        direction = float(np.sign(corr[entering]))
        d = factor.solve(A[:, entering]) * direction  # x_B(t) = x_B - t d
        rate = sigma * d  # how fast each basic value moves towards zero
        scale = float(np.max(np.abs(d)))
        blocking = rate > PIVOT_TOL * scale
        if not np.any(blocking):
            return "an entering column found no blocking basic variable (unbounded)"
        # Basic values within round-off of zero are zero (degenerate), so that ties in
        # the ratio test are ties and Bland's rule applies to them.
        slack = sigma * x_B
        slack[slack <= ZERO_TOL * float(np.max(np.abs(x_B), initial=0.0))] = 0.0
        ratios = np.full(m, np.inf)
        ratios[blocking] = slack[blocking] / rate[blocking]
        t = float(np.min(ratios))
        degenerate = 0 if t > 0.0 else degenerate + 1
        ties = np.flatnonzero(ratios <= t * (1.0 + RATIO_TIE))
        leaving = int(ties[np.argmin(np.where(sigma[ties] > 0, B[ties], n + B[ties]))])
        x_B = x_B - t * d
        x_B[leaving] = direction * t  # the entering x_j, signed
        B[leaving] = entering
        sigma[leaving] = direction
        factor.etas.append((leaving, d * direction))
        if len(factor.etas) >= REFACTOR_EVERY:
            try:
                factor = _Factor(A[:, B])
            except np.linalg.LinAlgError:
                return "the basis became numerically singular"
            x_B = factor.solve(y)
    return f"no optimum within {max_pivots} pivots"
