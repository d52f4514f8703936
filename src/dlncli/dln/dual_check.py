"""Face-free Newton on the full flow-limit dual, in float64, extended or arbitrary precision.

This is the check behind every limit :func:`dlncli.dln.limit.flow_limit` returns, and its fallback.
The fast route in limit.py writes the dual in coordinates built from the basis-pursuit face;
if the face is misclassified (near-tied columns) those coordinates describe a slightly
different problem and can converge, confidently, to a wrong point. Here nothing depends on
the face: with A (m, N), y (m,), depth p >= 2 and ln(alpha^p) = pla, we maximize the concave
dual (docs/limit.md)

    f(mu) = y^T mu - alpha^p sum_i Phi_p(a_i^T mu),     x(mu) = alpha^p h_p(A^T mu),

in log form: with z = A^T mu, for p = 2

    x = exp(pla + z) - exp(pla - z),     alpha^p Phi = exp(pla + z) + exp(pla - z),

and for p > 2, q = p / (p - 2), l_+ = log1p(-z), l_- = log1p(z) (|z| < 1)

    x = exp(pla - q l_+) - exp(pla - q l_-),
    alpha^p Phi = ((p - 2) / 2) (exp(pla - (q - 1) l_+) + exp(pla - (q - 1) l_-)),
    dx/dz = q (exp(pla - (q + 1) l_+) + exp(pla - (q + 1) l_-)).

The slacks 1 -+ z on the BP support are ~ (alpha^p / |x_i|)^{1/q}: 1e-36 for p = 6,
alpha = 1e-9. They keep their digits only if mu is carried with more digits than that, so mu
and every function of it live in an :class:`Arithmetic` with enough precision (mpmath for
small problems); the Newton matrix A diag(dx/dz) A^T is only needed approximately and is
formed and solved in float64 (mixed-precision iterative refinement: the residual y - A x(mu),
which decides what converges to, is evaluated in full precision).

Data are taken as exact: a float64 entry is converted to the working precision exactly.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from dlncli.arrays import LN10, FloatArray
from dlncli.dln.newton import backtrack, step_to_boundary
from dlncli.dln.potentials import DepthPotential

AnyArray = NDArray[Any]

# Above this many entries of A the mpmath evaluation (pure Python, ~1 us per operation) costs
# more than a few seconds per Newton step; such problems are checked in long double when its
# 64-bit mantissa suffices, and otherwise reported as not certified.
MP_MAX_ENTRIES = 20_000

# What one evaluation of x(mu) in mpmath may cost before the check is not run (the limit is
# then returned uncertified, with the reason): estimated by :func:`mp_evaluation_seconds`.
# Depth 1e4 at alpha = 1e-6 would need 60,000 digits (0.6 s per exp, pure-Python mpmath).
MP_EVALUATION_LIMIT_S = 1.0

TARGET_DIGITS = 12  # the check resolves x to at least 1e-12 relative
RESIDUAL_TOL = 1e-9  # a certified x has max|y - A x| <= RESIDUAL_TOL * max|y|
# A certified x has a first-order error bound (:func:`error_bound`) of at most this, relative
# to max|x|. A small residual alone proves nothing on an ill-conditioned A: for
# A = [[1, 1, 0], [1, 1 + 1e-15, 1e-15]], y = (1, 1), x = (1/2, 1/2, 0) fits to 5e-16 and
# is 0.5 away from the limit (1, 6e-18, -7e-18).
ERROR_TOL = 1e-9
# mpmath solves the m x m Newton system itself (m^3 / 3 operations at ~1 us) when float64's
# factorization is too inaccurate for iterative refinement, up to this m.
MP_SOLVE_MAX_ROWS = 120


def _mp() -> Any:
    """mpmath, imported on first use: most checks run in float64 or long double, and the
    import costs 25-50 ms of every command's start-up."""
    import mpmath

    return mpmath


@functools.cache
def _mp_ufunc(name: str) -> Any:
    """mpmath's ``name`` (exp, expm1, log1p) elementwise over object arrays."""
    return np.frompyfunc(getattr(_mp(), name), 1, 1)


@dataclass(frozen=True)
class Arithmetic:
    """A floating-point precision for arrays: float64, long double, or mpmath at ``dps``."""

    name: str
    dps: int = 0

    @property
    def is_mp(self) -> bool:
        return self.name == "mpmath"

    @property
    def label(self) -> str:
        return f"mpmath {self.dps} digits" if self.is_mp else self.name

    def array(self, values: FloatArray) -> AnyArray:
        """Exact conversion of float64 values."""
        if self.is_mp:
            out = np.empty(values.shape, dtype=object)
            flat = out.reshape(-1)
            for i, v in enumerate(np.asarray(values, dtype=np.float64).reshape(-1)):
                flat[i] = _mp().mpf(float(v))
            return out
        dtype = np.longdouble if self.name == "longdouble" else np.float64
        return np.asarray(values, dtype=dtype)

    def context(self) -> contextlib.AbstractContextManager[Any]:
        """The mpmath working precision while arrays of this arithmetic are computed with."""
        return _mp().workdps(self.dps) if self.is_mp else contextlib.nullcontext()

    def pow2(self, k: int) -> Any:
        """2^k exactly (k may be far outside float64's exponent range for mpmath)."""
        if self.is_mp:
            return _mp().ldexp(_mp().mpf(1), k)
        one = np.longdouble(1) if self.name == "longdouble" else np.float64(1)
        with np.errstate(over="ignore", under="ignore"):
            return np.ldexp(one, k)

    def exponent(self, values: AnyArray) -> int | None:
        """e with max|values| in [2^e, 2^(e+1)), or None when all are zero or not finite."""
        if self.is_mp:
            top = max((abs(v) for v in values.reshape(-1)), default=_mp().mpf(0))
            if top == 0 or not _mp().isfinite(top):
                return None
            return int(_mp().frexp(top)[1]) - 1
        top_np = np.max(np.abs(values), initial=0)
        if top_np == 0 or not np.isfinite(top_np):
            return None
        return int(np.frexp(top_np)[1]) - 1

    def scalar(self, value: float) -> Any:
        if self.is_mp:
            return _mp().mpf(value)
        return np.longdouble(value) if self.name == "longdouble" else np.float64(value)

    def to_float(self, values: AnyArray) -> FloatArray:
        if self.is_mp:
            return np.array([float(v) for v in values.reshape(-1)], dtype=np.float64).reshape(
                values.shape
            )
        with np.errstate(over="ignore"):
            return np.asarray(values, dtype=np.float64)

    def exp(self, values: AnyArray) -> AnyArray:
        if self.is_mp:
            return np.asarray(_mp_ufunc("exp")(values), dtype=object)
        return np.exp(values)

    def expm1(self, values: AnyArray) -> AnyArray:
        if self.is_mp:
            return np.asarray(_mp_ufunc("expm1")(values), dtype=object)
        return np.expm1(values)

    def log1p(self, values: AnyArray) -> AnyArray:
        if self.is_mp:
            return np.asarray(_mp_ufunc("log1p")(values), dtype=object)
        return np.log1p(values)

    def abs_max(self, values: AnyArray) -> float:
        return float(np.max(self.to_float(np.abs(values)), initial=0.0))


FLOAT64 = Arithmetic("float64")
LONGDOUBLE = Arithmetic("longdouble")


def lost_digits(depth: float, log_alpha: float, x_scale: float) -> int:
    """Decimal digits of mu spent before x's, from R = ln(max|x| / alpha^p) >= 0.

    x's exponent is pla - q log(s) with s = 1 - |z| >= exp(-R/q) on the support; z's relative
    rounding eps moves it by q |z| eps / s, so log10(q (1 - s) / s) digits are lost (36 for
    p = 6, alpha = 1e-9; about log10(R) as p -> 2, which is the p = 2 count: there z ~ R and its
    absolute error is x's relative error).
    """
    pla = depth * log_alpha
    big_r = max(0.0, math.log(max(x_scale, 1e-300)) - pla)
    if depth == 2.0:
        return math.ceil(math.log10(1.0 + big_r))
    q = depth / (depth - 2.0)
    # log10(q (1 - s) / s) with s = exp(-R / q), written to stay finite for huge R / q.
    ratio = big_r / q
    log10_lost = math.log10(q) + math.log10(-math.expm1(-ratio)) + ratio / LN10 if ratio else 0.0
    return max(0, math.ceil(log10_lost))


def start_lost_digits(depth: float, low: float, top: float, x_scale: float) -> int:
    """Digits lost for a per-coordinate start with entries between e^low and e^top: the
    slacks' (:func:`lost_digits` at the smallest entry), or the cancellation in
    x = u0^p (...) - v0^p (...) when the largest entry's u0^p = e^(p top) dwarfs |x|: dx/dz is
    about e^(p top) there, so z's rounding moves x by e^(p top) / max|x| times more."""
    cancelled = (depth * top - math.log(max(x_scale, 1e-300))) / LN10
    return max(lost_digits(depth, low, x_scale), math.ceil(max(cancelled, 0.0)))


def mp_evaluation_seconds(shape: tuple[int, int], dps: int) -> float:
    """Estimated seconds of one mpmath evaluation of x(mu), f(mu) for an (m, N) problem at
    ``dps`` digits: 4 N transcendentals at 1.5 ms (dps / 1000)^1.8 and 2 m N products at
    2 us max(1, dps / 1000)^1.5 (measured with mpmath's pure-Python backend: exp and log1p
    take 1.5 ms at 1,000 digits, 17 ms at 4,000, 0.2 s at 16,000, 0.64 s at 30,000)."""
    m, n = shape
    k = float(min(dps, 1e12)) / 1000.0
    return float(4.0 * n * 1.5e-3 * k**1.8 + 2 * m * n * 2e-6 * max(1.0, k) ** 1.5)


def mp_affordable(shape: tuple[int, int], dps: int) -> bool:
    """Whether an mpmath check of an (m, N) problem at ``dps`` digits has a bounded cost:
    m N <= MP_MAX_ENTRIES and one evaluation within MP_EVALUATION_LIMIT_S (docs/limit.md)."""
    if shape[0] * shape[1] > MP_MAX_ENTRIES:
        return False
    return mp_evaluation_seconds(shape, dps) <= MP_EVALUATION_LIMIT_S


def choose_arithmetic(shape: tuple[int, int], digits_lost: int) -> Arithmetic | None:
    """The cheapest precision that still resolves x to TARGET_DIGITS, or None (too costly:
    :func:`mp_affordable`)."""
    need = digits_lost + TARGET_DIGITS
    if need <= 15:
        return FLOAT64
    if need <= 19 and np.finfo(np.longdouble).precision >= 18:
        return LONGDOUBLE
    if mp_affordable(shape, need + 12):
        return Arithmetic("mpmath", need + 12)
    return None


def independent_rows(A: FloatArray, sing: FloatArray | None = None) -> NDArray[np.intp]:
    """Indices of a maximal set of exactly independent rows of A (all rows when A has full
    row rank). Float data are exact rationals: when the singular values say the rows may be
    dependent (sigma_min <= 1e-8 sigma_max), the rank is decided exactly (python-flint,
    rref of A^T over Q; pivot columns are independent rows), so rows that are dependent
    only to rounding are kept (they are a different, ill-conditioned problem)."""
    m = A.shape[0]
    all_rows = np.arange(m)
    if m <= 1:
        return all_rows if np.any(A) else all_rows[:0]
    if sing is None:
        sing = np.asarray(np.linalg.svd(A, compute_uv=False), dtype=np.float64)
    if sing.size == m and sing[-1] > 1e-8 * sing[0]:
        return all_rows
    from fractions import Fraction

    import flint

    entries = [[Fraction(float(v)) for v in column] for column in A.T]
    reduced, rank = flint.fmpq_mat(
        [[flint.fmpq(f.numerator, f.denominator) for f in row] for row in entries]
    ).rref()
    pivots = []
    for i in range(rank):
        for j in range(m):
            if reduced[i, j] != 0:
                pivots.append(j)
                break
    return np.asarray(pivots, dtype=np.intp)


def onto_rows(A: FloatArray, rows: NDArray[np.intp], mu: AnyArray, arith: Arithmetic) -> AnyArray:
    """A dual on ``rows`` with the same A^T mu as the full-row ``mu``: each dropped row is a
    combination C of the kept ones (least squares; exact for the small dyadic combinations of
    duplicated or summed rows), so its multiplier moves onto them."""
    dropped = np.setdiff1d(np.arange(A.shape[0]), rows)
    combo = np.asarray(np.linalg.lstsq(A[rows].T, A[dropped].T, rcond=None)[0], dtype=np.float64)
    return np.asarray(mu[rows] + arith.array(combo) @ mu[dropped])


def conditioned_arithmetic(
    A: FloatArray, digits_lost: int, sing: FloatArray | None = None
) -> Arithmetic | None:
    """mpmath with the digits that nearly dependent rows cost besides ``digits_lost``: z =
    A^T mu cancels log10 cond(A) digits of mu, and the Newton matrix squares the condition;
    None when A is too large for mpmath or well conditioned (float64's check suffices)."""
    if sing is None:
        sing = np.asarray(np.linalg.svd(A, compute_uv=False), dtype=np.float64)
    if sing.size == 0 or sing[0] == 0.0:
        return None
    ratio = float(sing[-1] / sing[0]) if sing.size == A.shape[0] else 0.0
    if ratio > 1e-6:
        return None
    cond_digits = min(40, math.ceil(-math.log10(max(ratio, 1e-40))))
    dps = digits_lost + TARGET_DIGITS + 12 + 2 * cond_digits
    return Arithmetic("mpmath", dps) if mp_affordable(A.shape, dps) else None


class DualProblem:
    """f, x and dx/dz of the flow-limit dual for one (A, y, potential) in one arithmetic.

    The start is u = v = alpha (the potential's) unless ``log_u0`` and ``log_v0`` ((N,)
    natural logs) give a per-coordinate, possibly unbalanced one (docs/train.md); the
    formulas are the potential's :meth:`~dlncli.dln.potentials.PowerPotential.dual_terms`. The
    attributes pu, pv, log_ru, log_rv, ru, rv, p, q are the start's constants in working
    precision (:class:`dlncli.dln.potentials.DualStart`).
    """

    def __init__(
        self,
        A: FloatArray,
        y: FloatArray,
        potential: DepthPotential,
        arith: Arithmetic,
        *,
        log_u0: FloatArray | None = None,
        log_v0: FloatArray | None = None,
    ) -> None:
        self.arith = arith
        self.potential = potential
        self.A_float = A
        self.A = arith.array(A)
        self.y = arith.array(y)
        self.depth = potential.depth
        p = arith.scalar(potential.depth)
        la = arith.scalar(potential.log_alpha)
        self.p = p
        self.q = p / (p - 2) if potential.depth != 2.0 else None
        if log_u0 is None or log_v0 is None:
            self.pu = self.pv = p * la
            self.log_ru = self.log_rv = arith.scalar(0.0)
            self.ru = self.rv = arith.scalar(1.0)
        else:
            lu, lv = arith.array(log_u0), arith.array(log_v0)
            self.pu, self.pv = p * lu, p * lv
            self.log_ru, self.log_rv = (p - 2) * (lu - la), (p - 2) * (lv - la)
            self.ru, self.rv = arith.exp(self.log_ru), arith.exp(self.log_rv)

    def z(self, mu: AnyArray) -> AnyArray:
        return np.asarray(self.A.T @ mu)

    def feasible(self, z: AnyArray) -> bool:
        """z in the potential's domain, compared in working precision (1 - 1e-36 is not 1)."""
        return self.potential.dual_in_domain(z, self)

    def evaluate(self, mu: AnyArray) -> tuple[AnyArray, AnyArray, Any]:
        """x(mu) (N,), dx/dz (N,) and f(mu), for a feasible mu."""
        with np.errstate(over="ignore", under="ignore"):
            x, d, phi = self.potential.dual_terms(self.z(mu), self, self.arith)
        return x, d, np.sum(self.y * mu) - phi

    def boundary_step(self, mu: AnyArray, delta: AnyArray) -> float:
        """Largest t in (0, 1] keeping every slack positive (fraction to boundary), with the
        slack / rate ratios formed in working precision (slacks can be 1e-600)."""
        pairs = self.potential.dual_slack_pairs(self.z(mu), self.z(delta), self)
        return step_to_boundary(pairs, to_float=self.arith.to_float)


@dataclass(frozen=True)
class DualSolve:
    """The outcome of Newton on the full dual."""

    converged: bool
    mu: AnyArray  # (m,) in the arithmetic's precision
    x: FloatArray  # (N,) x(mu) rounded to float64
    residual_inf: float  # max |y - A x(mu)| in working precision
    last_step: float  # max |dx| / max |x| of the last Newton step
    iterations: int
    error_bound: float = math.inf  # :func:`error_bound` at mu (inf when not converged)


class GradedSolver:
    """Solves (A diag(d) A^T) delta = g for many g from one Powell-Reid QR of
    B^T = diag(sqrt d) A^T (rows sorted by decreasing norm), with no rank cut: a graded d
    (1e300 apart) gives a triangular factor whose diagonal spans as much, which is right,
    and iterative refinement (:func:`accurate_step`) judges the answers. ``ok`` is False when
    the factor has a zero or non-finite diagonal."""

    def __init__(self, A: FloatArray, d: FloatArray) -> None:
        with np.errstate(all="ignore"):
            root = np.sqrt(d)
            bt = (root[:, None] * A.T)[np.argsort(-root)]
        self.ok = bool(np.all(np.isfinite(bt))) and bt.shape[0] >= A.shape[0]
        self.root = np.sort(root)[::-1] if self.ok else root
        if self.ok:
            self.q, self.r = np.linalg.qr(bt, mode="reduced")
            diag = np.abs(np.diag(self.r))
            self.ok = diag.size == A.shape[0] and bool(np.all(diag > 0))
        self.A, self.d = A, d

    def gain(self) -> FloatArray:
        """|D A^T H^-1| with its rows in decreasing order of d: D A^T H^-1 =
        D^(1/2) Q R^-T for B^T = Q R (H = R^T R), which never forms H^-1 (whose entries are
        huge in the directions that d barely weighs, and cancel in the product)."""
        m = self.A.shape[0]
        with np.errstate(all="ignore"):
            w = scipy.linalg.solve_triangular(self.r, np.eye(m), trans="T")
            return np.asarray(np.abs(self.root[:, None] * (self.q @ w)), dtype=np.float64)

    def solve(self, g: FloatArray) -> FloatArray:
        if not self.ok:
            return solve_newton_step(self.A, self.d, g)
        with np.errstate(all="ignore"):
            w = scipy.linalg.solve_triangular(self.r, g, trans="T")
            delta = scipy.linalg.solve_triangular(self.r, w)
        if not np.all(np.isfinite(delta)):
            return solve_newton_step(self.A, self.d, g)
        return np.asarray(delta, dtype=np.float64)


def solve_newton_step(A: FloatArray, d: FloatArray, g: FloatArray) -> FloatArray:
    """delta with (A diag(d) A^T) delta = g, by QR of B^T = diag(sqrt d) A^T.

    d spans many decades (1e36 on the support, 1e-54 off it for p = 6, alpha = 1e-9), so
    A diag(d) A^T in float64 has lost its small eigenvalues. Householder QR of the row-graded
    B^T with rows sorted by decreasing norm keeps them (Powell-Reid), and
    A diag(d) A^T = R^T R. Rank-deficient A (dependent rows): least squares instead.
    """
    with np.errstate(all="ignore"):
        root = np.sqrt(d)
        order = np.argsort(-root)
        bt = (root[:, None] * A.T)[order]
        if np.all(np.isfinite(bt)):
            r = np.linalg.qr(bt, mode="r")
            diag = np.abs(np.diag(r))
            if diag.size == A.shape[0] and np.all(diag > 1e-14 * max(float(np.max(diag)), 1e-300)):
                w = scipy.linalg.solve_triangular(r, g, trans="T")
                delta = scipy.linalg.solve_triangular(r, w)
                if np.all(np.isfinite(delta)):
                    return np.asarray(delta, dtype=np.float64)
        H = (A * d[None, :]) @ A.T
        scale_d = np.abs(np.diag(H))
        scale = np.where(scale_d > 0, 1.0 / np.sqrt(np.where(scale_d > 0, scale_d, 1.0)), 1.0)
        least = np.linalg.lstsq(scale[:, None] * H * scale[None, :], scale * g, rcond=1e-13)[0]
        return np.asarray(scale * np.nan_to_num(least), dtype=np.float64)


def unit_roundoff(arith: Arithmetic) -> Any:
    """The unit roundoff of the arithmetic, as its scalar (2^-53 for float64; mpmath's can
    be far below float64's range)."""
    if arith.is_mp:
        return arith.pow2(-int(_mp().mp.prec))
    if arith.name == "longdouble":
        return np.longdouble(np.finfo(np.longdouble).eps) / 2
    return np.float64(2.0**-53)


# A full Newton step below this (relative to max|x|) that no line search can improve on is
# the rounding floor: the point is then judged by its error bound, not by the step.
FLOOR_STEP = 1e-9

REFINEMENTS = 4  # iterative-refinement rounds of a Newton step before it is called inaccurate


@dataclass(frozen=True)
class Step:
    """A Newton step delta (m,) in working precision, with ``dx`` = max|d (A^T delta)| and
    ``uncertainty`` = max|d (A^T c)| for the last iterative-refinement correction c: how
    far the computed D A^T H^-1 g may be from the exact one (both in x's units)."""

    delta: AnyArray
    dx: float
    uncertainty: float


def accurate_step(problem: DualProblem, d: AnyArray, g: AnyArray) -> Step | None:
    """delta with A diag(d) A^T delta = g, refined in working precision; None when no finite
    step can be had.

    float64's graded QR (:class:`GradedSolver`) gives a first delta; the residual
    g - A (d (A^T delta)) is then formed in working precision and its correction added
    (mixed-precision iterative refinement) until the corrections stop shrinking. The last
    correction's size in x is the step's ``uncertainty``: it is large when float64's
    factorization cannot resolve H (nearly dependent rows, cond 1e15 and more). mpmath then
    solves the m x m system itself (m <= MP_SOLVE_MAX_ROWS). ``d`` and ``g`` may lie outside
    float64's range (scaled by powers of 2).
    """
    ar = problem.arith
    A = problem.A_float
    big_e, big_f = ar.exponent(d), ar.exponent(g)
    if big_e is None:
        return None
    if big_f is None:
        return Step(ar.array(np.zeros(A.shape[0])), 0.0, 0.0)
    d_s = d * ar.pow2(-big_e)
    g_s = g * ar.pow2(-big_f)
    solver = GradedSolver(A, ar.to_float(d_s))
    delta = ar.array(solver.solve(ar.to_float(g_s)))

    def size(step: AnyArray) -> float:
        return ar.abs_max(d_s * (problem.A.T @ step))

    uncertainty = math.inf
    for _ in range(REFINEMENTS):
        res = g_s - problem.A @ (d_s * (problem.A.T @ delta))
        exponent = ar.exponent(res)
        if exponent is None:
            uncertainty = 0.0
            break
        scaled = ar.to_float(res * ar.pow2(-exponent))
        correction = ar.array(solver.solve(scaled)) * ar.pow2(exponent)
        change = size(correction)
        if not math.isfinite(change):
            break
        delta = delta + correction
        shrinking = change < 0.5 * uncertainty
        uncertainty = change
        if not shrinking or change <= 1e-6 * size(delta):
            break
    if ar.is_mp and not uncertainty <= 1e-6 * size(delta) and A.shape[0] <= MP_SOLVE_MAX_ROWS:
        mp = _mp()
        H = (problem.A * d_s[None, :]) @ problem.A.T
        try:
            solution = mp.lu_solve(mp.matrix(H.tolist()), mp.matrix(list(g_s)))
        except ZeroDivisionError:  # singular in working precision
            return None
        exact = np.array([solution[i] for i in range(A.shape[0])], dtype=object)
        res = g_s - problem.A @ (d_s * (problem.A.T @ exact))
        exponent = ar.exponent(res)
        correction_size = (
            0.0
            if exponent is None
            else size(
                ar.array(solver.solve(ar.to_float(res * ar.pow2(-exponent)))) * ar.pow2(exponent)
            )
        )
        delta, uncertainty = exact, correction_size
    dx = size(delta)
    if not (math.isfinite(dx) and math.isfinite(uncertainty)):
        return None
    unit = _ldexp(1.0, big_f)
    return Step(delta * ar.pow2(big_f - big_e), dx * unit, uncertainty * unit)


def fits_data(problem: DualProblem, mu: AnyArray, x: AnyArray, d: AnyArray) -> tuple[bool, float]:
    """(fits, max|y - A x|): A x = y to RESIDUAL_TOL max|y|, or to 10 times the residual's
    rounding floor |A| (D |z_err|) + (N + 1) u (|y| + |A| |x|) (z_err as in
    :func:`error_bound`): with columns scaled 1e-8, 1, 1e8 the rounding of z = A^T mu (mu ~ 1e9)
    alone leaves a residual of 1e-8 max|y| in long double, while x is right to 1e-14 (which
    the error bound then has to confirm)."""
    ar = problem.arith
    residual = ar.abs_max(problem.y - problem.A @ x)
    if residual <= RESIDUAL_TOL * max(ar.abs_max(problem.y), 1e-300):
        return True, residual
    m, n = problem.A_float.shape
    u = unit_roundoff(ar)
    abs_a = np.abs(problem.A)
    z_noise = m * u * (abs_a.T @ np.abs(mu))
    floor = ar.abs_max(abs_a @ (d * z_noise)) + ar.abs_max(
        (n + 1) * u * (np.abs(problem.y) + abs_a @ np.abs(x))
    )
    return residual <= 10.0 * floor, residual


def sensitivity(problem: DualProblem, d: AnyArray) -> FloatArray | None:
    """D A^T H^-1 (N, m) in float64 (D = diag d, H = A D A^T): how a change of the residual
    y - A x moves x to first order. It does not change when d is scaled, so d is scaled to
    max 1 first. In mpmath (m <= MP_SOLVE_MAX_ROWS) H is inverted in working precision;
    otherwise D^(1/2) Q R^-T from float64's graded QR (:meth:`GradedSolver.gain`), which never
    forms H^-1. None when it is not finite."""
    ar = problem.arith
    m = problem.A_float.shape[0]
    big_e = ar.exponent(d)
    if big_e is None:
        return None
    d_s = d * ar.pow2(-big_e)
    if ar.is_mp and m <= MP_SOLVE_MAX_ROWS:
        mp = _mp()
        H = (problem.A * d_s[None, :]) @ problem.A.T
        try:
            inverse = mp.inverse(mp.matrix(H.tolist()))
        except ZeroDivisionError:
            return None
        h_inv = np.array(inverse.tolist(), dtype=object)
        gain = ar.to_float(d_s[:, None] * (problem.A.T @ h_inv))
    else:
        solver = GradedSolver(problem.A_float, ar.to_float(d_s))
        if not solver.ok:
            return None
        gain = solver.gain()
    return gain if bool(np.all(np.isfinite(gain))) else None


def _applied(gain: FloatArray, vector: AnyArray, arith: Arithmetic, absolute: bool) -> float:
    """max|gain @ vector| (or max(|gain| @ |vector|)), with ``vector`` scaled by a power of
    two on the way (it may lie outside float64's range)."""
    exponent = arith.exponent(vector)
    if exponent is None:
        return 0.0
    scaled = arith.to_float(vector * arith.pow2(-exponent))
    with np.errstate(all="ignore"):
        product = np.abs(gain) @ np.abs(scaled) if absolute else np.abs(gain @ scaled)
        value = float(np.max(product, initial=0.0))
    return _ldexp(value, exponent) if math.isfinite(value) else math.inf


def error_bound(problem: DualProblem, mu: AnyArray, x: AnyArray, d: AnyArray) -> float:
    """A first-order bound on max|x(mu) - x_alpha| / max|x| at a Newton point mu.

    x_alpha = x(mu*) with A x(mu*) = y; to first order x(mu*) - x(mu) = M r with
    M = D A^T H^-1 (:func:`sensitivity`), D = diag(dx/dz), H = A D A^T, r = y - A x(mu).
    Three terms, each computed, none assumed: (1) the Newton correction |M r|; (2) |M| |r_err|
    for the rounding of r, |r_err| <= (N + 1) u (|y| + |A| |x|), every sign pattern included
    (this is what sees a direction of mu that H barely weighs: nearly dependent rows make M
    huge there); (3) the rounding of z = A^T mu, |z_err| <= m u |A|^T |mu|, which moves x by
    D |z_err|. u is the unit roundoff of the working precision. A residual alone is not
    enough on an ill-conditioned A. M is computed in float64 (in mpmath for small m), so the
    bound is a first-order estimate in floating point, not interval arithmetic.
    """
    ar = problem.arith
    m, n = problem.A_float.shape
    u = unit_roundoff(ar)  # inside the arithmetic's context: mpmath's current precision
    scale_x = ar.abs_max(x)
    if not scale_x > 0 or not math.isfinite(scale_x):
        return math.inf
    gain = sensitivity(problem, d)
    if gain is None:
        return math.inf
    abs_a = np.abs(problem.A)
    correction = _applied(gain, problem.y - problem.A @ x, ar, absolute=False)
    r_noise = (n + 1) * u * (np.abs(problem.y) + abs_a @ np.abs(x))
    noise = _applied(gain, r_noise, ar, absolute=True)
    z_noise = m * u * (abs_a.T @ np.abs(mu))
    rounding_z = ar.abs_max(d * z_noise)
    return (correction + noise + rounding_z) / scale_x


def newton(
    problem: DualProblem,
    mu: AnyArray,
    *,
    tol: float,
    max_iterations: int = 200,
    on_iteration: Callable[[], None] | None = None,
    certify: bool = True,
) -> DualSolve:
    """Damped Newton for max f(mu) from a feasible mu; converged when a full step moves x by
    at most ``tol`` relative to max|x| (the step is then applied) and, with ``certify``, the
    point's :func:`error_bound` is at most ERROR_TOL (an intermediate continuation stage
    needs no certificate)."""
    # Overflowing trial points (exp of a large z) give inf/nan, which the tests below reject.
    with problem.arith.context(), np.errstate(all="ignore"):
        return _newton(
            problem,
            mu,
            tol=tol,
            max_iterations=max_iterations,
            on_iteration=on_iteration,
            certify=certify,
        )


def _newton(
    problem: DualProblem,
    mu: AnyArray,
    *,
    tol: float,
    max_iterations: int,
    on_iteration: Callable[[], None] | None,
    certify: bool,
) -> DualSolve:
    # dx/dz and the residual can lie far outside float64's range (dx/dz ~ 1e600 on the
    # support for p = 4, alpha = 1e-300): both are scaled by powers of two before the float
    # solve, delta = 2^(F - E) delta_s, and the step is applied in working precision.
    ar = problem.arith
    A = problem.A_float
    x, d, f = problem.evaluate(mu)
    last = last_bound = math.inf
    for iteration in range(1, max_iterations + 1):
        if on_iteration is not None:
            on_iteration()
        g = problem.y - problem.A @ x
        x_float = ar.to_float(x)
        big_e, big_f = ar.exponent(d), ar.exponent(g)
        if big_e is None or not np.all(np.isfinite(x_float)):
            break
        if big_f is None:  # A x = y exactly in working precision
            bound = error_bound(problem, mu, x, d) if certify else 0.0
            return DualSolve(bound <= ERROR_TOL, mu, x_float, 0.0, 0.0, iteration, bound)
        precise = accurate_step(problem, d, g) if ar.is_mp else None
        if precise is not None and not precise.uncertainty <= 1e-3 * precise.dx:
            precise = None
        scale_x = max(float(np.max(np.abs(x_float), initial=0.0)), 1e-300)
        g_max = ar.abs_max(g)
        if precise is not None:
            # The step refined in working precision (graded QR, iterative refinement; mpmath
            # solves H itself when float64 cannot): nearly dependent rows or badly scaled
            # columns (1e-8, 1, 1e8) make float64's step miss the direction that matters.
            delta = precise.delta
            rel = precise.dx / scale_x
            slope = np.sum(g * delta)
        else:
            d_s = ar.to_float(d * ar.pow2(-big_e))
            g_s = ar.to_float(g * ar.pow2(-big_f))
            delta_s = solve_newton_step(A, d_s, g_s)
            dx_s = float(np.max(np.abs(d_s * (A.T @ delta_s)), initial=0.0))
            rel = _ldexp(dx_s, big_f) / scale_x
            delta = ar.array(delta_s) * ar.pow2(big_f - big_e)
            slope = ar.scalar(float(g_s @ delta_s)) * ar.pow2(2 * big_f - big_e)
        if not math.isfinite(rel):
            break
        t, found = _line_search(
            problem, mu, delta, f=f, slope=slope, g_max=g_max, trust_full=rel <= 1e3 * tol
        )
        if found is None:
            if rel <= max(tol, FLOOR_STEP):
                # No step rises f or lowers the residual, and the full step is tiny: the
                # rounding floor (badly scaled columns put it at 1e-13 in long double), not a
                # failure. Converged if the point fits and its error bound confirms it.
                fits, residual = fits_data(problem, mu, x, d)
                bound = error_bound(problem, mu, x, d) if fits and certify else 0.0
                ok = fits and bound <= ERROR_TOL
                return DualSolve(ok, mu, x_float, residual, rel, iteration, bound)
            break
        mu, x, d, f = found
        last = rel * t
        if t == 1.0 and rel <= tol:
            # A x = y is part of the certificate: a tiny step at a point that does not fit
            # the data (x overflowed) is not convergence; nor is one whose error bound (the
            # rows' conditioning, the working precision) is above ERROR_TOL.
            fits, residual = fits_data(problem, mu, x, d)
            if not fits or not certify:
                return DualSolve(fits, mu, ar.to_float(x), residual, last, iteration)
            bound = error_bound(problem, mu, x, d)
            if bound <= ERROR_TOL or not bound < 0.5 * last_bound:
                return DualSolve(
                    bound <= ERROR_TOL, mu, ar.to_float(x), residual, last, iteration, bound
                )
            # A step below tol that the bound does not confirm (ill-conditioned rows: a
            # residual of 1e-22 can still move x by 1e-7): go on while the bound improves.
            last_bound = bound
    residual = ar.abs_max(problem.y - problem.A @ x)
    return DualSolve(False, mu, ar.to_float(x), residual, last, max_iterations)


def _line_search(
    problem: DualProblem,
    mu: AnyArray,
    delta: AnyArray,
    *,
    f: Any,
    slope: Any,
    g_max: float,
    trust_full: bool,
) -> tuple[float, list[Any] | None]:
    """(t, [mu + t delta, x, dx/dz, f] there), or (t, None) when no step is accepted.

    A step must rise f (Armijo). Past the objective's resolution (``trust_full``) the full
    Newton step is right, unless it left the region where its prediction holds (the residual
    jumps); and f can be too large to rank tiny steps (alpha^p Phi ~ 1e3 for big alpha), so
    a much smaller residual y - A x at the full step is progress as well.
    """
    ar = problem.arith
    state: list[Any] = []

    def accept(t: float) -> bool:
        trial = mu + ar.scalar(t) * delta
        if not problem.feasible(problem.z(trial)):
            return False
        x_t, d_t, f_t = problem.evaluate(trial)
        g_t_max = ar.abs_max(problem.y - problem.A @ x_t)
        if not math.isfinite(g_t_max):  # x overflowed
            return False
        state[:] = [trial, x_t, d_t, f_t]
        if t == 1.0 and trust_full and g_t_max <= 10.0 * g_max:
            return True
        if f_t >= f + ar.scalar(1e-4 * t) * slope:
            return True
        return t == 1.0 and g_t_max < 0.5 * g_max

    t, accepted = backtrack(accept, problem.boundary_step(mu, delta), min_step=1e-14)
    return t, state if accepted else None


def _ldexp(value: float, exponent: int) -> float:
    """value * 2^exponent, inf on overflow."""
    try:
        return math.ldexp(value, exponent)
    except OverflowError:
        return math.inf


def tolerance(arith: Arithmetic, digits_lost: int = 0) -> float:
    """The Newton stopping tolerance (relative step in x) the arithmetic can reach when
    ``digits_lost`` of its digits go to the slacks: 1e-13 / 1e-15 / 1e-16 (float64, long
    double, mpmath), loosened to 10^(lost + 1 - digits) (long double with 7 lost: 1e-11)."""
    base = {"float64": 1e-13, "longdouble": 1e-15}.get(arith.name, 1e-16)
    digits = {"float64": 16, "longdouble": 19}.get(arith.name, arith.dps)
    return max(base, 10.0 ** (digits_lost + 1 - digits))


def start_level(depth: float, target: float, low_log_start: float, x_scale: float) -> float:
    """The continuation's first level (in ln alpha^p units): where the smallest start entry
    u0 = e^low (alpha, for the balanced start) has u0^p = 100 max|x|, so that mu = 0 is near
    the optimum; never below the ``target`` level."""
    easy = math.log(max(x_scale, 1e-300)) + 2 * LN10  # ln alpha^p = ln(100 max|x|)
    return max(target, easy + (target - depth * low_log_start))


def pull_inside(problem: DualProblem, mu: AnyArray) -> AnyArray:
    """mu, or mu halved towards 0 (x = u0^p - v0^p, always feasible) until it is in the
    potential's domain (60 halvings at most, then 0)."""
    for _ in range(60):
        if problem.feasible(problem.z(mu)):
            return mu
        mu = mu * problem.arith.scalar(0.5)
    return np.asarray(mu * problem.arith.scalar(0.0))


@dataclass(frozen=True)
class Schedule:
    """How a continuation moves: its first ``stride`` and the smallest it may halve to, and
    the ``coordinate`` (a function of the level) in which the dual moves about linearly,
    used to extrapolate each stage's start from the two before."""

    stride: float
    min_stride: float
    coordinate: Callable[[float], float]


def alpha_schedule(depth: float) -> Schedule:
    """Levels ln alpha^p: mu ~ L lambda + c in L = ln(1/alpha^2) = -level for p = 2,
    mu ~ lambda + C u in u = (alpha^p)^{(p-2)/p} for p > 2; strides of 20 (p = 2) or 2 decades
    of alpha^p, never below 0.05 decades."""
    if depth == 2.0:
        return Schedule(20.0 * LN10, 0.05 * LN10, lambda level: -level)
    return Schedule(2.0 * LN10, 0.05 * LN10, lambda level: math.exp(level * (depth - 2.0) / depth))


# The homotopy from the balanced start (level 1) to a per-coordinate one (level 0): the dual
# moves smoothly in the level; first stride a tenth of the way, never below 1e-4 of it.
HOMOTOPY_SCHEDULE = Schedule(0.1, 1e-4, lambda level: level)


def continuation(
    problem_at: Callable[[float], DualProblem],
    *,
    start: float,
    target: float,
    schedule: Schedule,
    arith: Arithmetic,
    tol: float,
    mu0: AnyArray | None = None,
    on_iteration: Callable[[], None] | None = None,
) -> tuple[DualSolve, int]:
    """Follow the limit from an easy level ``start`` down to the ``target`` one, where
    ``problem_at(level)`` gives the dual, starting Newton from ``mu0`` (default 0) at the
    first stage. Levels are ln alpha^p for the balanced start (:func:`alpha_schedule`; start
    at :func:`start_level`, where mu = 0 is near the optimum), target + p ln c for a
    per-coordinate start scaled by a common factor c, or the homotopy level of
    :data:`HOMOTOPY_SCHEDULE`. Each later stage starts from a linear extrapolation of the two
    previous duals in the schedule's coordinate. Strides adapt: doubled after an easy stage
    (at most 6 Newton steps), halved when Newton fails. The target stage must reach ``tol``,
    earlier ones 1e-8. Returns (solve, stages)."""
    with arith.context():
        mu = arith.array(np.zeros(problem_at(start).A.shape[0])) if mu0 is None else mu0
        return _continuation(problem_at, start, target, schedule, arith, tol, mu, on_iteration)


def _continuation(
    problem_at: Callable[[float], DualProblem],
    level: float,
    target: float,
    schedule: Schedule,
    arith: Arithmetic,
    tol: float,
    mu: AnyArray,
    on_iteration: Callable[[], None] | None,
) -> tuple[DualSolve, int]:
    stride, coordinate = schedule.stride, schedule.coordinate
    solved: list[tuple[float, AnyArray]] = []  # (level, mu), the last two stages
    stages = 0
    while True:
        stages += 1
        problem = problem_at(level)
        starts = [mu]
        if len(solved) == 2:
            (l0, m0), (l1, m1) = solved
            c0, c1, c = coordinate(l0), coordinate(l1), coordinate(level)
            if c1 != c0:
                starts.insert(0, m1 + arith.scalar((c - c1) / (c1 - c0)) * (m1 - m0))
        stage_tol = tol if level == target else 1e-8
        # The domain may move with the level (the homotopy's r_u, r_v): an extrapolation
        # outside it is dropped, and the last stage's mu is pulled in towards mu = 0.
        starts = [g for g in starts[:-1] if problem.feasible(problem.z(g))]
        starts.append(pull_inside(problem, mu))
        final = level == target
        outcome = newton(
            problem, starts[0], tol=stage_tol, on_iteration=on_iteration, certify=final
        )
        if not outcome.converged and len(starts) == 2:
            outcome = newton(
                problem, starts[1], tol=stage_tol, on_iteration=on_iteration, certify=final
            )
        if not outcome.converged:
            if not solved or stride < schedule.min_stride:
                return outcome, stages
            stride /= 2
            level = max(solved[-1][0] - stride, target)
            continue
        if level == target:
            return outcome, stages
        solved = [*solved[-1:], (level, outcome.mu)]
        mu = outcome.mu
        if outcome.iterations <= 6:
            stride *= 2
        level = max(level - stride, target)
        if level - target <= 1e-9 * schedule.stride:  # rounding in 1 - 0.2 k: land on it
            level = target
