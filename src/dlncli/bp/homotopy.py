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

Tests on event times are absolute, in units of the starting l (the correlations' round-off
is absolute: a few ulps of ‖Aᵀy‖∞): an event within END_TOL · l_start of the end is the end
itself, and two events within TIE_TOL · l_start of each other are a tie, resolved
lexicographically (leave before join, then the lowest column). Earlier tests relative to the
current l declined every path whose last breakpoints came within ~1e-9 of the end. A
resolved tie or a drifted factor can only produce a wrong end point, never a wrong verdict:
the caller accepts the end point only with a rigorous certificate bound. When the update's
residual ‖A_Kᵀv − s_K‖∞ grows past REFACTOR_TOL the Cholesky factor is rebuilt from A_K.

On dense A with at least SCREEN_MIN_ENTRIES entries the step's product a = Aᵀv, memory-bound
and most of a step, runs on a float32 copy of Aᵀ with a rigorous error bound (_Screen); join
times are computed in float64 only for the columns whose enclosure allows them to come first
(about one per step), from exact products with v and the residual. A screened-out column is
provably not the next event, so the breakpoints are the unscreened path's.

The path is abandoned (:class:`Declined`, with the reason) at a start with two columns at
the maximal correlation, at a rank-deficient active set, or past MAX_STEPS_PER_ROW · m
steps; the caller then solves the LP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg.blas import drot, dtrsv

from dlncli.arrays import FloatArray, IntArray
from dlncli.bp.certify import issparse

# Near the weak threshold a path can pass ~2m breakpoints (gauss:250:1000:67:1: 481 on the
# data, more on its row-equilibrated copy); each costs O(mN), about one LP iteration.
MAX_STEPS_PER_ROW = 4
# Two breakpoints closer than TIE_TOL * l_start are a tie (float64 cannot order them); they
# are taken one at a time in a fixed order, and the end point is verified by the caller.
TIE_TOL = 1e-10
# Events within END_TOL * l_start of l's end are the end of the path itself (on the last
# segment every join time equals l in exact arithmetic; round-off scatters them around it).
END_TOL = 1e-9
# The correlations are updated incrementally (one product with A^T per step); they are
# recomputed from the residual every REFRESH_EVERY steps, or sooner when the active ones
# (c_K = l s_K in exact arithmetic, checked for free) drift past DRIFT_TOL * l_start, so that
# rounding does not accumulate. Measured drift between refreshes is ~1e-15 * l_start even 50
# steps apart (Gaussian 250x1000 to 500x2000 near rho_W), 1e5 below TIE_TOL; a refresh every
# 5 steps cost 20% of the loop's products (bench/bench_bp_path.py).
REFRESH_EVERY = 50
DRIFT_TOL = 1e-12
# A refresh that moves any correlation by more than this (times l_start) means x_K had lost
# the accuracy the events need (measured drift between refreshes: ~1e-15): the path is declined.
LOST_TOL = 1e-8
# A new column whose component orthogonal to the active columns is below this (relative to
# its norm) would make A_K rank deficient.
RANK_TOL = 1e-10
# ‖A_Kᵀ v − s_K‖∞ above this means the updated Cholesky factor has drifted: rebuild it.
REFACTOR_TOL = 1e-9
# Dense A with at least this many entries: the step's product a = Aᵀv (memory-bound, nearly
# all of a step at 1000 x 5000) runs on a float32 copy of Aᵀ (half the bytes: 0.74 ms instead
# of 1.85 ms there) with a rigorous bound on its error, and the event times are computed in
# float64 only for the columns whose event could come first (a median of 1 column per step
# on gauss:1000:5000:243:0); see _Screen.
SCREEN_MIN_ENTRIES = 1_000_000
# With screening, ‖A_Kᵀ v − s_K‖∞ (an extra O(mk) product) is checked every this many steps.
SCREEN_CHECK_EVERY = 8
# More screened candidates than this in a step: the correlations' error bounds have grown
# (they accumulate between refreshes), so refresh them.
SCREEN_REFRESH_CANDIDATES = 64


@dataclass(frozen=True)
class HomotopyPath:
    """The end of the homotopy path.

    x : (N,) the path's end point (A x = y up to round-off).  support : (k,) K, sorted.
    signs : (k,) s_K.  certificate : (m,) v with A_Kᵀ v = s_K (to round-off).
    steps : breakpoints passed.  ties : ties resolved lexicographically.
    refactors : Cholesky factors rebuilt from scratch after drift.
    """

    x: FloatArray
    support: IntArray
    signs: FloatArray
    certificate: FloatArray
    steps: int
    ties: int = 0
    refactors: int = 0


@dataclass(frozen=True)
class Declined:
    """Why the path was not followed to its end (the caller solves the LP instead).

    support : (k,) the active set K when the path stopped (linearly independent columns),
        sorted; at a tied start, the first tied column.  signs : (k,) their signs s_K.
    The caller's LP starts from the basis these columns give (a warm start, not from zero).
    """

    reason: str
    support: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    signs: FloatArray = field(default_factory=lambda: np.zeros(0))


def _declined(reason: str, active: list[int], signs: list[float]) -> Declined:
    order = np.argsort(active)
    support = np.array(active, dtype=np.int64)[order]
    return Declined(reason, support, np.array(signs, dtype=np.float64)[order])


class _Cholesky:
    """Upper Cholesky factor R of A_Kᵀ A_K, updated as columns join and leave.

    R is the leading k x k block of a Fortran-ordered buffer whose trailing block is the
    identity (capacity a multiple of BLOCK), so that BLAS works on the whole buffer with no
    copy per call: dtrsv for the triangular solves (the right-hand side padded with zeros:
    the identity block leaves the padding zero), drot for the Givens rotations of a removal
    (along a row: stride = capacity). A join writes one column, O(k); the buffer grows by
    BLOCK columns when full. A compact k x k R cost an O(k²) allocation and copy per join and
    per removal (1.6 of 5.6 s on gauss:1000:5000:300:8); the padding costs at most
    (k + BLOCK)² / k² in the solves. A Python Givens loop over fancy-indexed rows and scipy's
    validating solve_triangular dominated the loop at N = 1000; LAPACK's dtrtrs with two
    right-hand sides (dtrsm) took milliseconds per call here, dtrsv microseconds.
    """

    BLOCK = 64

    def __init__(self) -> None:
        self.k = 0
        self.buffer = np.zeros((0, 0), order="F")

    @property
    def R(self) -> FloatArray:
        """The factor, k x k (a view of the buffer)."""
        return self.buffer[: self.k, : self.k]

    def _reserve(self, size: int) -> None:
        capacity = self.buffer.shape[0]
        if size <= capacity:
            return
        grown = np.asfortranarray(np.eye(-(-size // self.BLOCK) * self.BLOCK))
        grown[:capacity, :capacity] = self.buffer
        self.buffer = grown

    def add(self, gram_col: FloatArray, gram_diag: float) -> bool:
        k = self.k
        if k == 0:
            if gram_diag <= 0:
                return False
            self._reserve(1)
            self.buffer[0, 0] = np.sqrt(gram_diag)
            self.k = 1
            return True
        r = self._triangular(gram_col, transpose=True)
        rest = gram_diag - float(r @ r)
        if rest <= (RANK_TOL**2) * gram_diag:
            return False
        self._reserve(k + 1)
        self.buffer[:k, k] = r
        self.buffer[k, k] = np.sqrt(rest)  # was the identity block's 1
        self.k = k + 1
        return True

    def remove(self, position: int) -> None:
        """Drop column ``position`` and restore triangularity with Givens rotations."""
        R, k = self.buffer, self.k
        cap = R.shape[0]
        R[:k, position : k - 1] = R[:k, position + 1 : k]
        flat = R.reshape(-1, order="F")  # a view: element (i, j) at i + j * cap
        for i in range(position, k - 1):
            a, b = R[i, i], R[i + 1, i]
            h = float(np.hypot(a, b))
            if h == 0.0:
                continue
            # rows i and i + 1 from column i to k - 2 (stride cap in the flat view), in place
            drot(
                flat,
                flat,
                a / h,
                b / h,
                n=k - 1 - i,
                offx=i + i * cap,
                incx=cap,
                offy=i + 1 + i * cap,
                incy=cap,
                overwrite_x=1,
                overwrite_y=1,
            )
            R[i + 1, i] = 0.0  # rotated to zero; round-off leaves ~1e-16
        # row and column k - 1 back to the identity block
        R[k - 1, :k] = 0.0
        R[:k, k - 1] = 0.0
        R[k - 1, k - 1] = 1.0
        self.k = k - 1

    def rebuild(self, columns: FloatArray) -> bool:
        """R from scratch: the Cholesky factor of columnsᵀ columns (False if not PD)."""
        try:
            R = np.linalg.cholesky(columns.T @ columns).T
        except np.linalg.LinAlgError:
            return False
        k = R.shape[0]
        self.buffer = np.zeros((0, 0), order="F")
        self._reserve(k)
        self.buffer[:k, :k] = R
        self.k = k
        return True

    def solve(self, rhs: FloatArray) -> FloatArray:
        """(RᵀR)⁻¹ rhs, one column of rhs (k, r) at a time."""
        out = np.empty((rhs.shape[0], rhs.shape[1]))
        for j in range(rhs.shape[1]):
            z = self._triangular(rhs[:, j], transpose=True)
            out[:, j] = self._triangular(z, transpose=False)
        return out

    def _triangular(self, rhs: FloatArray, *, transpose: bool) -> FloatArray:
        padded = np.zeros(self.buffer.shape[0])
        padded[: self.k] = rhs
        x = dtrsv(self.buffer, padded, trans=int(transpose), overwrite_x=1)
        return np.asarray(x[: self.k], dtype=np.float64)


class _Screen:
    """a = Aᵀv in float32 with a rigorous bound on its error, for screening event times.

    With A32 = fl32(A), v32 = fl32(v) and any summation order (FMA included),
    |fl32(A32ᵀ v32) − Aᵀv|_j <= (γ_m(u)(1 + u)² + 2u + u²) |a_j|ᵀ|v| + (underflow)
    <= (m + 3) u ‖a_j‖₂ ‖v‖₂ + 2^-148 (√m (‖v‖₂ + ‖a_j‖₂) + 2m),   u = 2^-24,
    for m u <= 0.01 (Higham, Lemma 3.4, with the representation errors of A32 and v32);
    the factor 1.01 covers the float64 rounding of the bound itself.
    """

    def __init__(self, A: FloatArray, AT: FloatArray) -> None:
        m = A.shape[0]
        # Rows of Aᵀ (columns of A) contiguous in float64 too: the screened-in columns'
        # exact products gather whole rows (a column of a C-ordered A strides over N).
        self.rows = np.ascontiguousarray(AT, dtype=np.float64)
        self.AT32 = np.ascontiguousarray(AT, dtype=np.float32)
        self.norms = np.sqrt(np.einsum("ij,ij->j", A, A)) * (1 + 4 * m * 2.0**-53)
        self.kappa = 1.01 * (m + 3) * 2.0**-24
        self.tiny = 2.0**-148 * np.sqrt(m) * self.norms + 2.0**-147 * m

    @staticmethod
    def usable(A: Any, sparse: bool) -> bool:
        m, n = A.shape
        if sparse or m * n < SCREEN_MIN_ENTRIES or (m + 3) * 2.0**-24 > 0.01:
            return False
        # max and min: no |A| copy (40 MB at 1000 x 5000)
        return bool(max(float(np.max(A, initial=0.0)), -float(np.min(A, initial=0.0))) < 1e30)

    def join_times(
        self,
        seg: _Segment,
        active: list[int],
        s: FloatArray,
        just_left: int,
        bound: float,
        tie_gap: float,
        end_cut: float,
    ) -> tuple[FloatArray, FloatArray, IntArray]:
        """The join times (c_j reaching +l, -l) in float64 for the screened-in columns, inf
        for the others; a and c of those columns are made exact in place (c from the
        residual), their error bounds zero. Also returns the screened-in columns."""
        m, n = self.rows.shape[1], self.rows.shape[0]
        seg.a[active] = s  # exact in exact arithmetic (checked every SCREEN_CHECK_EVERY steps)
        seg.a_err[active] = 0.0
        if len(active) >= m:  # every join is the end (see follow_homotopy): nothing to screen
            candidates = np.zeros(0, dtype=np.int64)
        else:
            excluded = active + ([just_left] if just_left >= 0 else [])
            candidates = _screened_columns(seg, bound, tie_gap, end_cut, excluded)
            if just_left >= 0:
                candidates = np.union1d(candidates, [just_left])  # its other side
        rows = self.rows[candidates]
        seg.a[candidates] = rows @ seg.v
        seg.c[candidates] = rows @ seg.residual
        seg.a_err[candidates] = 0.0
        seg.c_err[candidates] = 0.0
        join_up = np.full(n, np.inf)
        join_down = np.full(n, np.inf)
        lam, c, a = seg.lam, seg.c[candidates], seg.a[candidates]
        with np.errstate(divide="ignore", invalid="ignore"):
            join_up[candidates] = (lam - c) / (1.0 - a)
            join_down[candidates] = (lam + c) / (1.0 + a)
        return join_up, join_down, candidates

    def product(self, v: FloatArray) -> tuple[FloatArray, FloatArray] | None:
        """(a, err) with |a − Aᵀv| <= err, or None (v out of float32's comfortable range)."""
        v_norm = float(np.linalg.norm(v))
        if not v_norm < 1e30:
            return None
        a = (self.AT32 @ v.astype(np.float32)).astype(np.float64)
        err = (self.kappa * v_norm) * self.norms + self.tiny * (1.0 + v_norm)
        return a, err


@dataclass(frozen=True)
class _Segment:
    """The step's state for screening: l, the correlations c (within c_err), the direction's
    products a = Aᵀv (within a_err), v and the residual y − A_K x_K. Arrays are the loop's own
    and are updated in place."""

    lam: float
    c: FloatArray
    c_err: FloatArray
    a: FloatArray
    a_err: FloatArray
    v: FloatArray
    residual: FloatArray


def _screened_columns(
    seg: _Segment,
    bound: float,
    tie_gap: float,
    end_cut: float,
    excluded: list[int],
) -> IntArray:
    """The columns whose join time (c_j reaching ±l) could be the next event or tie with it,
    from enclosures c ± c_err and a ± a_err; ``bound`` is an upper bound on the next event's
    time (the first leave, the end). A column is dropped only when every time its enclosure
    allows is past the smallest sure upper bound plus tie_gap."""
    lam, c, c_err, a, a_err = seg.lam, seg.c, seg.c_err, seg.a, seg.a_err
    lower = np.full(c.size, np.inf)
    upper = np.full(c.size, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for side in (1.0, -1.0):  # c_j reaches +l (num l - c_j), or -l (num l + c_j)
            num = lam - side * c
            den = 1.0 - side * a
            num_lo, num_hi = num - c_err, num + c_err
            den_lo, den_hi = den - a_err, den + a_err
            lo = np.where(den_hi > 0, num_lo / den_hi, np.inf)
            lo[num_lo < 0] = -np.inf  # at the boundary up to rounding: keep it
            hi = np.where((num_lo > 0) & (den_lo > 0), num_hi / den_lo, np.inf)
            hi[~((lo > tie_gap) & (hi < end_cut))] = np.inf  # surely a valid join only
            np.minimum(lower, lo, out=lower)
            np.minimum(upper, hi, out=upper)
    lower[excluded] = np.inf
    upper[excluded] = np.inf
    limit = min(bound, float(np.min(upper, initial=np.inf)))
    return np.flatnonzero(lower <= limit * (1 + 1e-9) + tie_gap)


def _column(A: Any, j: int, sparse: bool) -> FloatArray:
    """Column j, dense (A sparse: CSC, read from its index arrays with no slicing object)."""
    if not sparse:
        return np.asarray(A[:, j], dtype=np.float64)
    col = np.zeros(A.shape[0])
    lo, hi = A.indptr[j], A.indptr[j + 1]
    np.add.at(col, A.indices[lo:hi], A.data[lo:hi])  # add: duplicate entries sum, as in A
    return col


def homotopy_bp(
    A: Any, y: FloatArray, *, on_step: Callable[[], None] | None = None
) -> HomotopyPath | None:
    """:func:`follow_homotopy`, with None for a declined path."""
    path = follow_homotopy(A, y, on_step=on_step)
    return path if isinstance(path, HomotopyPath) else None


def follow_homotopy(
    A: Any,
    y: FloatArray,
    *,
    on_step: Callable[[], None] | None = None,
    max_steps: int | None = None,
    lambda_min: float = 0.0,
    on_breakpoint: Callable[[float, list[int], FloatArray], None] | None = None,
) -> HomotopyPath | Declined:
    """Follow the lasso path from l = ‖Aᵀy‖∞ to 0; the end point is BP's minimizer.

    Parameters
    ----------
    A : (m, N) array or scipy.sparse matrix.  y : (m,), not zero.
    on_step : called once per breakpoint (the caller's time budget raises from it).
    max_steps : breakpoints before the path is declined (default MAX_STEPS_PER_ROW * m).
    lambda_min : where the path ends (>= 0; the lasso path of noise/lasso.py stops above 0).
        Above 0 the end point is the lasso's x(lambda_min), not a BP minimizer.
    on_breakpoint : called at every breakpoint after the start, the end included, with
        (l, K, x_K): the active columns as they were on the segment that ends there (a column
        that leaves there is in K with x = 0). The list and array are the loop's own: copy them.

    Returns :class:`Declined` (with the reason) when the path cannot be followed in float64.
    """
    sparse = issparse(A)
    m, n = A.shape
    if sparse:
        A = A.tocsc()  # columns by index arrays
        AT = A.T.tocsr()  # A^T v once per step: CSR, converted once (not per product)
    else:
        AT = A.T
    c = np.asarray(AT @ y, dtype=np.float64).ravel()
    lam = float(np.max(np.abs(c)))
    if lam == 0.0:
        return Declined("Aᵀy = 0")
    start = lam
    tie_gap = TIE_TOL * start
    end_gap = END_TOL * start
    if n > 1 and np.partition(np.abs(c), n - 2)[n - 2] >= lam - tie_gap:
        first = int(np.argmax(np.abs(c)))  # one of the tied columns: independent, for sure
        return _declined(
            "two columns start the path together (|Aᵀy| ties at its maximum)",
            [first],
            [float(np.sign(c[first]))],
        )
    active: list[int] = []
    signs: list[float] = []
    # The active columns, A_K = block[:, :len(active)], stored once (no restacking per step),
    # Fortran-ordered: A_K is then one contiguous block for BLAS, and a column is contiguous
    # to write (a C-ordered block made every product stride over rows of 8 (m + 1) bytes).
    block = np.empty((m, min(m, n) + 1), order="F")
    column_y: list[float] = []  # a_j^T y for the active columns
    x_active = np.zeros(0)
    chol = _Cholesky()
    if not lambda_min < lam:
        return HomotopyPath(np.zeros(n), np.zeros(0, np.int64), np.zeros(0), np.zeros(m), 0)
    joining = int(np.argmax(np.abs(c)))
    # A coordinate that left cannot rejoin with its old sign at the next breakpoint
    just_left, left_sign = -1, 0.0
    ties = refactors = 0
    step_cap = MAX_STEPS_PER_ROW * m if max_steps is None else max_steps
    screen = _Screen(A, AT) if _Screen.usable(A, sparse) else None
    # With screening: the residual r = y − A_K x_K (updated by −g v per step, recomputed at
    # refreshes; exact correlations a_jᵀr of the screened-in columns) and a bound c_err on
    # each correlation's error (the float32 parts of its updates since the last refresh).
    residual = np.array(y, dtype=np.float64)
    c_err = np.zeros(n)
    for step in range(step_cap + 1):
        if on_step is not None:
            on_step()
        if joining >= 0:
            col = _column(A, joining, sparse)
            k = len(active)
            if k >= block.shape[1]:
                return _declined(f"the active set outgrew min(m, N) at step {step}", active, signs)
            if sparse:  # only the column's nonzero rows: O(nnz k), not O(m k)
                rows = A.indices[A.indptr[joining] : A.indptr[joining + 1]]
                gram_col = block[rows, :k].T @ col[rows]
            else:
                gram_col = block[:, :k].T @ col
            if not chol.add(gram_col, float(col @ col)):
                why = f"column {joining} would make the active set rank deficient"
                return _declined(why, active, signs)
            active.append(joining)
            signs.append(float(np.sign(c[joining])))
            block[:, len(active) - 1] = col
            column_y.append(float(col @ y))
            x_active = np.append(x_active, 0.0)
        s = np.array(signs)
        A_K = block[:, : len(active)]
        d, w = _direction(chol, s, column_y)
        v = A_K @ d
        a, a_err, a_K = _products(screen, AT, A_K, v, active, s, step)
        if not float(np.max(np.abs(a_K - s))) <= REFACTOR_TOL:  # NaN too
            # The updated factor drifted (hundreds of joins and leaves): rebuild it from A_K.
            refactors += 1
            if not chol.rebuild(A_K):
                why = f"the active set became numerically rank deficient at {step}"
                return _declined(why, active, signs)
            d, w = _direction(chol, s, column_y)
            v = A_K @ d
            a = np.asarray(AT @ v, dtype=np.float64).ravel()
            a_err = None
            if not float(np.max(np.abs(a[active] - s))) <= REFACTOR_TOL:  # NaN too
                why = f"the active set is too ill-conditioned at step {step}"
                return _declined(why, active, signs)
            x_active = w - lam * d
        with np.errstate(divide="ignore", invalid="ignore"):
            leave_times = -x_active / d
        gamma_end = lam - lambda_min
        gamma_leave = np.where(leave_times > tie_gap, leave_times, np.inf)
        gamma_leave[gamma_leave >= lam - end_gap] = np.inf
        join_up, join_down, candidates = _join_times(
            screen,
            None if a_err is None else _Segment(lam, c, c_err, a, a_err, v, residual),
            lam,
            c,
            a,
            active,
            s,
            just_left,
            min(float(np.min(gamma_leave, initial=np.inf)), gamma_end),
            tie_gap,
            lam - end_gap,
        )
        for g in (join_up, join_down):
            g[~(g > tie_gap)] = np.inf  # past events, and NaN (0 / 0)
        if just_left >= 0:
            # It sits at c = l s with its correlation moving inwards; rounding can make it
            # look like an immediate rejoin on that side, which the lasso path never does. It
            # may still reach the other side, -l s, later on the segment.
            (join_up if left_sign > 0 else join_down)[just_left] = np.inf
        gamma_join = np.minimum(join_up, join_down, out=join_up)
        gamma_join[active] = np.inf
        # On the last segment every inactive c_j equals (l - g) a_j, and active coordinates
        # that are zero in the BP minimizer reach 0 at l = 0: their join and leave times all
        # coincide with the end. Such events are the end itself.
        gamma_join[gamma_join >= lam - end_gap] = np.inf
        if len(active) >= m:  # A_K is square: every join time is the end (see above)
            gamma_join[:] = np.inf
        j = int(np.argmin(gamma_join))  # argmin: the lowest column among equal times
        leave = int(np.argmin(gamma_leave)) if gamma_leave.size else -1
        first_leave = float(gamma_leave[leave]) if leave >= 0 else np.inf
        first_join = float(gamma_join[j])
        # Lexicographic order within a tie: leave, then join (lowest column), then the end.
        # The end is taken only when no event comes before it.
        events = sorted([(first_leave, 0), (first_join, 1), (gamma_end, 2)])
        gamma, kind = events[0]
        near = [e for e in events[1:] if e[0] - gamma <= tie_gap and np.isfinite(e[0])]
        if kind != 2 and (near or _joins_within(gamma_join, gamma + tie_gap) > 1):
            ties += 1
        if kind == 2 or (gamma >= gamma_end - end_gap):
            kind, gamma = 2, gamma_end
        c = c - gamma * a
        _accumulate(c_err, gamma, a_err)
        residual -= gamma * v
        lam = lambda_min if kind == 2 else lam - gamma
        # On the path x_K = (A_K^T A_K)^{-1} (A_K^T y - l s_K): recomputed, not accumulated,
        # so that hundreds of steps do not drift (drift flips the sign of small entries).
        x_active = w - lam * d
        if kind == 0:
            x_active[leave] = 0.0  # it leaves here: zero in exact arithmetic
        if on_breakpoint is not None:
            on_breakpoint(lam, active, x_active)
        drift = float(np.max(np.abs(c[active] - lam * s), initial=0.0))
        if _refresh_due(step, drift <= DRIFT_TOL * start, candidates, c_err):
            residual = y - A_K @ x_active
            c, lost = _refreshed(AT, residual, c, c_err)
            if not lost <= LOST_TOL * start:  # NaN too
                # x_K no longer matches the correlations the events were found from (an
                # ill-conditioned A_K: with noise the active set nears m columns as l -> 0);
                # the breakpoints since the last refresh may be wrong.
                why = f"the path lost accuracy near l = {lam:.3g} (step {step})"
                return _declined(why, active, signs)
        joining = -1
        just_left = -1
        if kind == 2:
            x = np.zeros(n)
            x[active] = x_active
            order = np.argsort(active)
            support = np.array(active, dtype=np.int64)[order]
            return HomotopyPath(x, support, s[order], v, step, ties, refactors)
        if kind == 1:
            joining = j
        else:
            chol.remove(leave)
            just_left, left_sign = active[leave], signs[leave]
            k = len(active)
            block[:, leave : k - 1] = block[:, leave + 1 : k]
            del active[leave], signs[leave], column_y[leave]
            x_active = np.delete(x_active, leave)
    return _declined(f"no end within {step_cap} steps", active, signs)


def _accumulate(c_err: FloatArray, gamma: float, a_err: FloatArray | None) -> None:
    """c −= g a moved each correlation by g a_j, known within g a_err_j (screened steps)."""
    if a_err is not None:
        c_err += gamma * a_err


def _join_times(
    screen: _Screen | None,
    segment: _Segment | None,
    lam: float,
    c: FloatArray,
    a: FloatArray,
    active: list[int],
    s: FloatArray,
    just_left: int,
    bound: float,
    tie_gap: float,
    end_cut: float,
) -> tuple[FloatArray, FloatArray, IntArray | None]:
    """When c_j reaches +l and -l for every column; on a screened step (``segment``: the
    enclosures) for the screened-in columns only, inf elsewhere, and those columns."""
    if screen is not None and segment is not None:
        return screen.join_times(segment, active, s, just_left, bound, tie_gap, end_cut)
    with np.errstate(divide="ignore", invalid="ignore"):
        join_up = (lam - c) / (1.0 - a)  # c_j reaches +l
        join_down = (lam + c) / (1.0 + a)  # c_j reaches -l
    return join_up, join_down, None


def _refreshed(
    AT: Any, residual: FloatArray, c: FloatArray, c_err: FloatArray
) -> tuple[FloatArray, float]:
    """The correlations recomputed from the residual, and how far the updated ones were
    from them beyond their known error (c_err, from screening; zeroed here)."""
    refreshed = np.asarray(AT @ residual, dtype=np.float64).ravel()
    lost = float(np.max(np.abs(refreshed - c) - c_err))
    c_err[:] = 0.0
    return refreshed, lost


def _refresh_due(step: int, drift_ok: bool, candidates: IntArray | None, c_err: FloatArray) -> bool:
    """Recompute the correlations from the residual: every REFRESH_EVERY steps, when the
    active ones drifted, or when screening lets too many columns through while the error
    bounds of the correlations are what holds them (a refresh zeroes those bounds)."""
    if step % REFRESH_EVERY == REFRESH_EVERY - 1 or not drift_ok:
        return True
    crowded = candidates is not None and candidates.size > SCREEN_REFRESH_CANDIDATES
    return crowded and float(np.max(c_err)) > 0.0


def _products(
    screen: _Screen | None,
    AT: Any,
    A_K: FloatArray,
    v: FloatArray,
    active: list[int],
    s: FloatArray,
    step: int,
) -> tuple[FloatArray, FloatArray | None, FloatArray]:
    """a = Aᵀv (float64, or screened float32 with its error bound) and A_Kᵀv for the
    factor's check (with screening: computed every SCREEN_CHECK_EVERY steps, else s_K)."""
    screened = screen.product(v) if screen is not None else None
    if screened is None:
        a = np.asarray(AT @ v, dtype=np.float64).ravel()
        return a, None, a[active]
    a, a_err = screened
    return a, a_err, (A_K.T @ v if step % SCREEN_CHECK_EVERY == 0 else s)


def _direction(
    chol: _Cholesky, s: FloatArray, column_y: list[float]
) -> tuple[FloatArray, FloatArray]:
    """d = (A_KᵀA_K)⁻¹ s_K and w = (A_KᵀA_K)⁻¹ A_Kᵀy in one pair of triangular solves: on the
    path x_K(l) = w − l d (recomputed from w each step, not accumulated, so that hundreds of
    steps do not drift: drift flips the sign of small entries)."""
    both = chol.solve(np.column_stack([s, column_y]))
    return both[:, 0], both[:, 1]


def _joins_within(times: FloatArray, limit: float) -> int:
    """How many join times are at most ``limit``."""
    return int(np.count_nonzero(times <= limit))
