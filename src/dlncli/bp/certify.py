"""Certified basis pursuit verdicts: exact rational arithmetic and rigorous float bounds.

The input floats are exact rationals, so basis pursuit min ||x||_1 s.t. A x = y has an exact
answer. Notation as in docs/certification.md: the LP is

    min 1^T z  s.t.  [A, -A, I] (z, a) = y,  z >= 0,  a = 0   (x = z_+ - z_-),

whose basis B (m variables) gives x_B = B^{-1} y and the dual lambda = B^{-T} c_B. A basis is
optimal when x_B is feasible and every reduced cost 1 -+ a_i^T lambda is >= 0. From an optimal
lambda, E = {i : |a_i^T lambda| = 1} and s = sign(A^T lambda) describe all minimizers,
S = {x : A x = y, x = 0 off E, s_i x_i >= 0 on E}.

:func:`exact_simplex` starts from the float LP's basis and pivots in exact arithmetic
(python-flint's fmpq_mat) until that basis is optimal; near-ties that float64 cannot see
(a margin of 1e-16) are then decided exactly. :func:`certify_face` proves the face of
minimizers (its support J, its dimension, a point in its relative interior) from a float
candidate. :func:`float_uniqueness_bound` is the cheap route for problems too large for
exact arithmetic: a rigorous a-priori bound on the float error of a strict certificate.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dlncli.arrays import UNIT_ROUNDOFF, FloatArray, IntArray

if TYPE_CHECKING:
    from flint import fmpq, fmpq_mat
# python-flint is imported where exact arithmetic runs: most problems are decided by the
# homotopy or the float bound, and a command should not pay its import (~40 ms) for nothing.


# Exact arithmetic is used when m <= EXACT_MAX_ROWS and m * N <= EXACT_MAX_ENTRIES: one exact
# basis solve (fmpq_mat, 200 x 200 Gaussian) takes 0.5-1.5 s here, and the route needs two per
# pivot (python -m bench.bench_certify); above that the float bound decides or the verdict is
# undecided.
EXACT_MAX_ROWS = 200
EXACT_MAX_ENTRIES = 250_000
MAX_EXACT_PIVOTS = 100


def power_of_two(values: FloatArray) -> FloatArray:
    """2^round(log2 v) for positive v, 1 elsewhere: multiplying by it is exact."""
    out = np.ones_like(values)
    positive = values > 0
    out[positive] = np.exp2(np.round(np.log2(values[positive])))
    return out


def max_abs(A: Any) -> float:
    """max |a_ij| (0 for an empty A): for dense A from its max and min, with no |A| copy
    (40 MB at 1000 x 5000)."""
    if A.size == 0:
        return 0.0
    if issparse(A):
        return float(abs(A).max())
    return max(float(np.max(A)), -float(np.min(A)))


def fits_exact(shape: tuple[int, int]) -> bool:
    """Whether an (m, N) problem is small enough for exact rational certification."""
    m, n = shape
    return m <= EXACT_MAX_ROWS and m * n <= EXACT_MAX_ENTRIES


def issparse(A: Any) -> bool:
    """A is a scipy.sparse matrix (without importing scipy.sparse when nothing could be).

    A sparse A means scipy.sparse was imported before. While another thread imports it, the
    module is in sys.modules half-initialised (no ``issparse`` yet): the import statement
    waits for that import to finish (Python's per-module import lock)."""
    if "scipy.sparse" not in sys.modules:
        return False
    import scipy.sparse

    return bool(scipy.sparse.issparse(A))


def rational_matrix(M: FloatArray) -> fmpq_mat:
    """The exact rational value of a float64 matrix (every float is a dyadic rational)."""
    from flint import fmpq, fmpq_mat

    rows, cols = M.shape
    entries = [fmpq(*value.as_integer_ratio()) for value in M.ravel().tolist()]
    return fmpq_mat(rows, cols, entries)


def rational_column(v: FloatArray | list[fmpq]) -> fmpq_mat:
    from flint import fmpq, fmpq_mat

    values = v if isinstance(v, list) else [fmpq(*f.as_integer_ratio()) for f in v.tolist()]
    return fmpq_mat(len(values), 1, values)


def _column_entries(M: fmpq_mat) -> list[fmpq]:
    return [M[i, 0] for i in range(M.nrows())]


def to_float(values: list[fmpq]) -> FloatArray:
    """Round exact rationals to the nearest float64 (exact rationals -> reported numbers);
    beyond float64's range ±inf (Python's int / int is correctly rounded, subnormals
    included, but raises OverflowError past 1.8e308)."""
    return np.array([_rational_to_float(int(q.p), int(q.q)) for q in values], dtype=np.float64)


def _rational_to_float(p: int, q: int) -> float:
    try:
        return p / q
    except OverflowError:
        return float(np.copysign(np.inf, p))


@dataclass(frozen=True)
class ExactOptimum:
    """An optimal basis of the BP LP for the data (A, y*), verified in exact arithmetic.

    x : (N,) exact minimizer (a vertex of S).  dual : (m,) exact certificate lambda.
    correlations : (N,) a_i^T lambda, exact.  pivots : exact simplex pivots taken.
    rhs : the exact right-hand side solved for: y, or y* = A x_float when y is consistent
        with the float minimizer only up to round-off; backward_error = ||rhs - y||_inf.
    """

    x: list[fmpq]
    dual: list[fmpq]
    correlations: list[fmpq]
    pivots: int
    rhs: fmpq_mat
    backward_error: float


# A x = y "up to round-off" (consistent_to_roundoff): |A x − y|_i <= CONSISTENCY_ULPS ·
# (k + 2) · u · (|y_i| + (|A_S| |x_S|)_i) on every row, with S the support of x, k = |S| and
# u the unit round-off. A planted y = fl(A x_true) is within γ_k |A_S| |x_true| of A x_true, and a
# backward-stable least-squares x on S has a residual of a modest multiple of k u ‖A_S‖ ‖x‖;
# 64 ulps per term covers both with room, and is ~1e-13 relative at k = 100: an
# inconsistency of 1e-9 (A = [[1, 1], [1, 1]], y = (1, 1 + 1e-9)) is not round-off. BP is
# then certified for y* = A x_float, and ‖y* − y‖∞ is reported as a backward error.
CONSISTENCY_ULPS = 64


class _ExactLp:
    """The BP LP in exact arithmetic; variables 0..2N-1 are z, 2N..2N+m-1 the fixed a."""

    def __init__(self, A: FloatArray, y: FloatArray) -> None:
        self.m, self.n = A.shape
        self.A = A
        self.At = rational_matrix(A.T)  # (N, m): correlations are At * lambda
        self.y = rational_column(y)

    def column(self, var: int) -> FloatArray:
        if var < self.n:
            return self.A[:, var]
        if var < 2 * self.n:
            return -self.A[:, var - self.n]
        unit = np.zeros(self.m)
        unit[var - 2 * self.n] = 1.0
        return unit

    def basis_matrix(self, basis: list[int]) -> fmpq_mat:
        return rational_matrix(np.column_stack([self.column(v) for v in basis]))

    def row_values(self, vector: fmpq_mat) -> list[fmpq]:
        """(M^T vector) for the z variables: [A^T v, -A^T v], exact."""
        corr = _column_entries(self.At * vector)
        return corr + [-c for c in corr]


def _violation(value: fmpq, var: int, n: int) -> fmpq:
    from flint import fmpq

    if var >= 2 * n:
        return abs(value)
    return -value if value < 0 else fmpq(0)


def exact_simplex(
    A: FloatArray, y: FloatArray, basis: list[int], x_float: FloatArray
) -> ExactOptimum | str:
    """Pivot from ``basis`` to an exactly optimal basis of the BP LP (Bland's rule).

    A : (m, N); y : (m,); basis : m variable indices (z: 0..2N-1, row slacks 2N + r);
    x_float : (N,) the float LP's minimizer, round-off entries already zeroed.

    The right-hand side is y itself when the basis's exact solution is feasible and agrees
    with the float one; otherwise y* = A x_float (exact), provided every |y*_i - y_i| is
    round-off (:func:`consistent_to_roundoff`). Then dual simplex while the basis
    is primal infeasible, primal simplex while it is dual infeasible. Returns the optimum, or
    a reason string.
    """
    from flint import fmpq

    lp = _ExactLp(A, y)
    m, n = lp.m, lp.n
    basis = list(basis)
    if len(basis) != m:
        return f"the float basis has {len(basis)} variables, expected {m}"
    y_exact = lp.y
    B = lp.basis_matrix(basis)
    if B.rank() < m:
        return "the float LP's basis is singular in exact arithmetic"
    values = _column_entries(B.solve(lp.y))
    feasible = not any(_violation(v, var, n) > 0 for v, var in zip(values, basis, strict=True))
    if not (feasible and _agrees(_basis_x(values, basis, n), x_float)):
        y_star = lp.At.transpose() * rational_column(x_float)
        if consistent_to_roundoff(A, y, x_float):
            lp.y = y_star
    for pivots in range(MAX_EXACT_PIVOTS + 1):
        B = lp.basis_matrix(basis)
        if B.rank() < m:
            return "a basis became singular in exact arithmetic"
        values = _column_entries(B.solve(lp.y))
        cost = rational_column([fmpq(1) if v < 2 * n else fmpq(0) for v in basis])
        dual = B.transpose().solve(cost)
        reduced = [1 - c for c in lp.row_values(dual)]
        in_basis = set(basis)
        entering = [j for j in range(2 * n) if j not in in_basis and reduced[j] < 0]
        infeasible = [
            p
            for p, (v, var) in enumerate(zip(values, basis, strict=True))
            if _violation(v, var, n) > 0
        ]
        if not entering and not infeasible:
            corr = _column_entries(lp.At * dual)
            moved = lp.y - y_exact
            error = max((abs(float(moved[i, 0])) for i in range(m)), default=0.0)
            x = _basis_x(values, basis, n)
            return ExactOptimum(x, _column_entries(dual), corr, pivots, lp.y, error)
        if pivots == MAX_EXACT_PIVOTS:
            break
        if infeasible and entering:
            return "the float basis is neither primal nor dual feasible in exact arithmetic"
        if infeasible:
            p = min(infeasible, key=lambda k: basis[k])
            unit = [fmpq(0)] * m
            unit[p] = fmpq(1)
            row = lp.row_values(B.transpose().solve(rational_column(unit)))
            q_or_none = _dual_ratio(row, reduced, in_basis, n, too_low=values[p] < 0)
            if q_or_none is None:
                return "the exact LP is infeasible: y is not in the range of A"
            basis[p] = q_or_none
            continue
        q = entering[0]
        direction = _column_entries(B.solve(rational_column(lp.column(q))))
        leave = _primal_ratio(basis, values, direction, n)
        if leave is None:
            return "the exact LP is unbounded, which basis pursuit never is"
        basis[leave] = q
    return f"no exact optimum within {MAX_EXACT_PIVOTS} pivots"


def _basis_x(values: list[fmpq], basis: list[int], n: int) -> list[fmpq]:
    from flint import fmpq

    x = [fmpq(0)] * n
    for p, v in enumerate(basis):
        if v < n:
            x[v] += values[p]
        elif v < 2 * n:
            x[v - n] -= values[p]
    return x


def _agrees(x: list[fmpq], x_float: FloatArray) -> bool:
    """Exact and float basic solutions agree to 1e-6 of max |x|: the basis is not so
    ill-conditioned that its exact solution answers a different question than the float one."""
    exact = to_float(x)
    scale = max(float(np.max(np.abs(x_float), initial=0.0)), 1e-300)
    return bool(np.max(np.abs(exact - x_float), initial=0.0) <= 1e-6 * scale)


def _primal_ratio(
    basis: list[int], values: list[fmpq], direction: list[fmpq], n: int
) -> int | None:
    from flint import fmpq

    best: tuple[fmpq, int, int] | None = None
    for p, v in enumerate(basis):
        if v >= 2 * n:
            if direction[p] == 0:
                continue
            ratio = fmpq(0)  # a fixed artificial variable blocks any motion
        elif direction[p] > 0:
            ratio = values[p] / direction[p]
        else:
            continue
        key = (ratio, v, p)
        if best is None or key[:2] < best[:2]:
            best = key
    return None if best is None else best[2]


def _dual_ratio(
    row: list[fmpq], reduced: list[fmpq], in_basis: set[int], n: int, *, too_low: bool
) -> int | None:
    """Entering variable of a dual simplex step on a row whose basic value must rise
    (``too_low``) or fall: candidates have row entries of the right sign, ratio d_j/|row_j|."""
    best: tuple[fmpq, int] | None = None
    for j in range(2 * n):
        if j in in_basis:
            continue
        entry = row[j]
        if (too_low and entry < 0) or (not too_low and entry > 0):
            key = (reduced[j] / abs(entry), j)
            if best is None or key < best:
                best = key
    return None if best is None else best[1]


def exact_rank(M: FloatArray) -> int:
    if M.size == 0:
        return 0
    return int(rational_matrix(M).rank())


def consistent_to_roundoff(A: Any, y: FloatArray, x: FloatArray) -> bool:
    """A x = y holds up to the round-off of computing y from x and of solving for x, row by
    row: |A x − y|_i <= CONSISTENCY_ULPS (k + 2) u (|y_i| + (|A_S| |x_S|)_i), S = support of
    x, k = |S| (Oettli–Prager's componentwise backward error, below a count of ulps). Each row
    is judged on its own scale, so the test is invariant under row scaling: a row of 1e-150
    next to one of 1e150 is not negligible. A may be scipy.sparse; non-finite values are
    never consistent."""
    support = np.flatnonzero(x)
    sparse = issparse(A)
    cols = A[:, support]
    A_S = np.asarray(cols.toarray() if sparse else cols, dtype=np.float64)
    residual = np.abs(A_S @ x[support] - y)
    magnitude = np.abs(y) + np.abs(A_S) @ np.abs(x[support])
    tolerance = CONSISTENCY_ULPS * (support.size + 2) * UNIT_ROUNDOFF
    return bool(np.all(np.isfinite(magnitude)) and np.all(residual <= tolerance * magnitude))


def exact_column_basis(M: FloatArray) -> list[int] | None:
    """Columns of M forming a basis of range(M) exactly: chosen by pivoted QR in float,
    accepted when their exact rank equals theirs and M's; None when float cannot pick them."""
    import scipy.linalg

    if M.shape[1] == 0:
        return []
    target = exact_rank(M)
    if target == 0:
        return []
    _, _, order = scipy.linalg.qr(M, mode="economic", pivoting=True)
    chosen = sorted(int(j) for j in order[:target])
    return chosen if exact_rank(M[:, chosen]) == target else None


@dataclass(frozen=True)
class FaceCertificate:
    """A proof of the face S of minimizers, or the reason there is none.

    support : (k,) J, coordinates nonzero somewhere on S.  dimension : |J| - rank A_J.
    interior_point : (N,) a point of S with s_i x_i > 0 on J (exact, rounded to float).
    maximal : J proven to contain every coordinate that is nonzero on S.
    """

    support: IntArray
    dimension: int
    interior_point: FloatArray
    maximal: bool


def certify_face(
    A: FloatArray,
    y: fmpq_mat,
    signs: FloatArray,
    support: IntArray,
    equicorrelated: IntArray,
    candidate: FloatArray,
) -> FaceCertificate | str:
    """Prove that S has the support ``support`` (J, inside E) and the dimension |J| - rank A_J.

    Parameters
    ----------
    A : (m, N); y : (m, 1) exact right-hand side (y* of the exact optimum);
    signs : (N,) s_i = sign(a_i^T lambda) for an exact optimal lambda; equicorrelated : E;
    candidate : (N,) a float relative-interior point.

    A point v of S with s_i v_i > 0 on J is built exactly: the coordinates of J outside a
    column basis R of A_J keep their float values, A_R v_R solves the rest. J is maximal
    when some w in null(A_J^T) has s_i a_i^T w > 0 on E \\ J: every point of S then has
    sum_{E \\ J} v_i s_i a_i^T w = w^T y = 0, so v = 0 on E \\ J.
    """
    from flint import fmpq

    n = A.shape[1]
    A_J = A[:, support]
    found = exact_column_basis(A_J)
    if found is None:
        return "no exact column basis of the candidate face"
    basis = found
    rest = [k for k in range(support.size) if k not in set(basis)]
    values: list[fmpq] = [fmpq(0)] * support.size
    rhs = y
    for k in rest:
        values[k] = fmpq(*float(candidate[support[k]]).as_integer_ratio())
    if rest:
        rhs = rhs - rational_matrix(A_J[:, rest]) * rational_column([values[k] for k in rest])
    if basis:
        A_R = rational_matrix(A_J[:, basis])
        normal = A_R.transpose() * A_R
        solved = normal.solve(A_R.transpose() * rhs)
        if A_R * solved != rhs:
            return "y is not in the span of the candidate face's columns"
        for k, value in zip(basis, _column_entries(solved), strict=True):
            values[k] = value
    elif any(rhs[i, 0] != 0 for i in range(rhs.nrows())):
        return "y is not in the span of the candidate face's columns"
    if any(value * int(signs[i]) <= 0 for value, i in zip(values, support.tolist(), strict=True)):
        return "the candidate face point does not have strictly the face's signs"
    point = np.zeros(n)
    point[support] = to_float(values)
    outside = np.setdiff1d(equicorrelated, support)
    maximal = outside.size == 0 or _zero_outside(A, support, basis, outside, signs)
    return FaceCertificate(support, support.size - len(basis), point, maximal)


def _zero_outside(
    A: FloatArray, support: IntArray, basis: list[int], outside: IntArray, signs: FloatArray
) -> bool:
    """Look for w in null(A_J^T) with s_i a_i^T w > 0 on ``outside`` (see certify_face)."""
    signed_out = A[:, outside] * signs[outside]
    system = np.vstack([A[:, support].T, signed_out.T])
    target = np.concatenate([np.zeros(support.size), np.ones(outside.size)])
    w_float = np.linalg.lstsq(system, target, rcond=None)[0]
    w = rational_column(np.asarray(w_float, dtype=np.float64))
    if basis:
        A_R = rational_matrix(A[:, support[basis]])
        w = w - A_R * (A_R.transpose() * A_R).solve(A_R.transpose() * w)
    dots = _column_entries(rational_matrix(signed_out.T) * w)
    return all(d > 0 for d in dots)


@dataclass(frozen=True)
class FloatBound:
    """A rigorous lower bound on the dual margin of a strict certificate (float route).

    margin_lower : 1 - max_{j not in K} |a_j^T lambda*| for some exact lambda* with
        A_K^T lambda* = s_K; > 0 proves that the minimizer supported on K is unique.
    correction_upper : a rigorous upper bound on ‖lambda* − lambda‖₂ (inf when A_K^T A_K is
        not provably invertible).
    correlation_upper : (N,) rigorous upper bounds on |a_j^T lambda*| (0 on K), or None.
    """

    margin_lower: float
    correction_upper: float
    correlation_upper: FloatArray | None = None


def _gamma(n: int) -> float:
    """gamma_n = n u / (1 - n u): |fl(a^T b) - a^T b| <= gamma_n |a|^T |b| for length n."""
    return n * UNIT_ROUNDOFF / (1 - n * UNIT_ROUNDOFF)


# The rounding allowance of every float dot product in the bound below is
# ROUNDING_ALLOWANCE * gamma_n |a|^T |b|; 1 is the textbook bound (Higham, Accuracy and
# Stability, Lemma 3.4), and tests/test_bp_robust.py checks that a smaller one fails.
ROUNDING_ALLOWANCE = 1.0


def _correction_norm(A_K: FloatArray, dual: FloatArray, signs: FloatArray) -> float:
    """Rigorous upper bound on ‖δ‖₂ for δ = −A_K G⁻¹ r, G = A_Kᵀ A_K, r = A_Kᵀ λ − s_K;
    inf when G is not provably invertible.

    ‖δ‖₂² = rᵀ G⁻¹ r <= ‖G⁻¹‖₂ ‖r‖₂². Both factors are bounded from float computations and
    a-priori rounding bounds (|fl(aᵀb) − aᵀb| <= γ_n |a|ᵀ|b| for any summation order, FMA
    included), every bound doubled to cover the rounding of the bounds themselves:

    - r ∈ r̂ ± r_rad, r_rad = 2 γ_{m+1} (|A_K|ᵀ|λ| + |s_K|);
    - G ∈ Ĝ ± G_rad, G_rad = 2 γ_m |A_K|ᵀ|A_K| (Ĝ = fl(A_Kᵀ A_K));
    - with X ≈ Ĝ⁻¹ and P = fl(X Ĝ): |I − X G| <= |I − P| + 2 (γ_k |X||Ĝ| + |X| G_rad) =: B,
      and if α = ‖B‖_F < 1, ‖G⁻¹‖₂ <= ‖X‖_F / (1 − α) (a Neumann series; Rump's verified
      inverse). Only BLAS products: O(k³ + m k²), no arbitrary precision.

    When α >= 1 (G near singular at float precision) and k <= BALL_SOLVE_MAX, arb's rigorous
    ball solve of the same enclosure is tried instead (slower: 0.2 s at k = 160)."""
    m, k = A_K.shape
    allowance = 2.0 * ROUNDING_ALLOWANCE
    abs_K = np.abs(A_K)
    r_mid = A_K.T @ dual - signs
    r_rad = allowance * (_gamma(m + 1) * (abs_K.T @ np.abs(dual) + np.abs(signs)))
    G_mid = A_K.T @ A_K
    G_rad = allowance * _gamma(m) * (abs_K.T @ abs_K)
    r_norm = _norm_upper(np.abs(r_mid) + r_rad)
    try:
        X = np.linalg.inv(G_mid)
    except np.linalg.LinAlgError:
        return _ball_correction_norm(G_mid, G_rad, r_mid, r_rad)
    abs_X = np.abs(X)
    residual = -(X @ G_mid)
    residual[np.diag_indices(k)] += 1.0  # 1 − P_ii is exact (P_ii near 1, Sterbenz)
    B = np.abs(residual) + allowance * (_gamma(k) * (abs_X @ np.abs(G_mid)) + abs_X @ G_rad)
    alpha = _norm_upper(B)
    if not alpha < 1.0:
        return _ball_correction_norm(G_mid, G_rad, r_mid, r_rad)
    inverse_norm = _norm_upper(np.asarray(X, dtype=np.float64)) / (
        (1.0 - alpha) * (1 - 4 * UNIT_ROUNDOFF)
    )
    return float(np.sqrt(inverse_norm) * r_norm * (1 + 4 * UNIT_ROUNDOFF))


def _norm_upper(M: FloatArray) -> float:
    """An upper bound on the Frobenius norm of M (float sum of squares, its rounding covered:
    relative error below γ_{n+1} for n entries, doubled)."""
    n = M.size
    total = float(np.sum(np.square(M)))
    return float(np.sqrt(total * (1 + 2 * _gamma(n + 2))) * (1 + 2 * UNIT_ROUNDOFF))


# arb's ball solve costs O(k³) arbitrary-precision operations: used as the fallback only
# up to this k (0.2 s at k = 160 here).
BALL_SOLVE_MAX = 200


def _ball_correction_norm(
    G_mid: FloatArray, G_rad: FloatArray, r_mid: FloatArray, r_rad: FloatArray
) -> float:
    """‖δ‖₂ upper bound by arb: the solve encloses w = G⁻¹ r for every G and r in the balls,
    and ‖δ‖₂² = wᵀ G w = rᵀ w; inf when arb cannot prove G invertible."""
    k = r_mid.size
    if k > BALL_SOLVE_MAX:
        return np.inf
    from flint import arb, arb_mat

    G = arb_mat(
        [
            [arb(mid, rad) for mid, rad in zip(row_mid, row_rad, strict=True)]
            for row_mid, row_rad in zip(G_mid.tolist(), G_rad.tolist(), strict=True)
        ]
    )
    r = arb_mat([[arb(mid, rad)] for mid, rad in zip(r_mid.tolist(), r_rad.tolist(), strict=True)])
    try:
        w = G.solve(r)
    except (ZeroDivisionError, ValueError):
        return np.inf
    square = sum((r[i, 0] * w[i, 0] for i in range(k)), arb(0))
    return float(square.upper().sqrt().upper())


def float_uniqueness_bound(
    A: Any, dual: FloatArray, support: IntArray, signs: FloatArray
) -> FloatBound:
    """Bound the margin of the exact certificate nearest to the float ``dual``.

    A : (m, N) array or scipy.sparse matrix; dual : (m,); support : K; signs : s_K.

    With r = A_K^T lambda - s_K, the correction delta = -A_K (A_K^T A_K)^{-1} r makes
    A_K^T (lambda + delta) = s_K exactly; ‖delta‖_2 is bounded rigorously by ball arithmetic
    (:func:`_correction_norm`: a verified inverse, arb's ball solve as the fallback). Each
    float dot product a^T lambda is
    within gamma_m |a|^T |lambda| <= gamma_m ||a||_2 ||lambda||_2 of the exact one
    (Cauchy-Schwarz spares a pass over |A|), so for j outside K

        |a_j^T (lambda + delta)| <= |fl(a_j^T lambda)| + ||a_j||_2 (gamma_m ||lambda||_2
                                    + ||delta||_2),

    with the norms' own rounding covered by factors (1 + 4 m u). No exact rationals: the
    cost is one k x k ball solve, so it proves strict certificates at any m.
    """
    m, n = A.shape
    if not np.all(np.isfinite(dual)):
        return FloatBound(-np.inf, np.inf)
    # A power-of-two rescaling (exact, and the bound is invariant under A -> A/t, lambda ->
    # t lambda) keeps squares of entries like 1e200 finite.
    largest = max_abs(A)
    if largest > 0:
        unit = float(power_of_two(np.array([largest]))[0])
        if unit != 1.0:  # no copy of A when it is already of unit scale
            A = A / unit
            dual = dual * unit
    gamma = ROUNDING_ALLOWANCE * _gamma(m)
    sparse = issparse(A)
    if support.size > m:
        return FloatBound(-np.inf, np.inf)
    if support.size:
        A_K = np.asarray(A[:, support].toarray() if sparse else A[:, support], dtype=np.float64)
        shift = _correction_norm(A_K, dual, np.asarray(signs, dtype=np.float64))
        if not np.isfinite(shift):
            return FloatBound(-np.inf, shift)
    else:
        shift = 0.0
    off = np.setdiff1d(np.arange(n), support)
    if off.size == 0:
        return FloatBound(1.0, shift, np.zeros(n))
    if sparse:
        norms = np.sqrt(np.asarray(A.multiply(A).sum(axis=0), dtype=np.float64).ravel())
    else:
        norms = np.sqrt(np.einsum("ij,ij->j", A, A))
    norms *= 1 + 4 * m * UNIT_ROUNDOFF  # the norms' own rounding
    corr = np.abs(np.asarray(A.T @ dual, dtype=np.float64).ravel())
    dual_norm = float(np.linalg.norm(dual)) * (1 + 4 * m * UNIT_ROUNDOFF)
    upper = np.zeros(n)
    upper[off] = (corr[off] + norms[off] * (gamma * dual_norm + shift)) * (1 + 4 * UNIT_ROUNDOFF)
    return FloatBound(float(1.0 - np.max(upper[off])), shift, upper)
