"""The exact t -> infinity limit of the DLN gradient flow, by Newton's method on its dual.

Notation (docs/model.md §2-3): A is (m, N), y is (m,), p >= 2 the depth, alpha > 0 the scale,
always handled through log_alpha = ln(alpha). The limit is x_alpha = alpha^p h_p(A^T mu) where
mu maximizes y^T mu - alpha^p sum_i Phi_p(a_i^T mu).

Coordinates that keep their digits
----------------------------------
For small alpha the interesting information sits in the slacks 1 - |a_i^T mu| of the
coordinates on the BP face support J, which are ~ (alpha^p / |x_i|)^{(p-2)/p}: 1e-36 for
p = 6, alpha = 1e-9, far below what 1 - z can resolve in float64. We therefore write

    mu = c * lam + U_R * (kappa * a_hat) + U_N * b,

where lam is a BP certificate (A_J^T lam = s_J, |a_i^T lam| < 1 off J), U_R is an orthonormal
basis of range(A_J), U_N of its complement, c = 1 (p > 2) or ln(1/alpha^2) (p = 2), and
kappa = alpha^(p-2) (p > 2) or 1 (p = 2). On J the slack is then exactly
-kappa * s_J * (A_J^T U_R a_hat), computed from a_hat alone: it keeps full relative
precision, and with the scale kappa factored out a_hat is O(1) for every alpha (the unit
"1" of the barrier on J is taken as |a_i^T lam|, which equals 1 to rounding; this keeps
the face exactly flat for the ℓ1 part, so the depth's tie-break is not polluted by round-off).
Off J the slacks are O(margin) and computed directly. Everything is in the log domain,
so alpha = 1e-1000 is as easy as alpha = 1e-3.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from dlncli.arrays import LN10, FloatArray
from dlncli.bp.verdict import BPSolution, solve_basis_pursuit
from dlncli.dln.geometry import FaceGeometry, PrecisionArrays, face_geometry, numerical_rank
from dlncli.dln.newton import backtrack, step_to_boundary
from dlncli.dln.potentials import DepthPotential, depth_potential
from dlncli.errors import InfeasibleError, SolverError, TimeLimitError


@dataclass(frozen=True)
class Anchor:
    """What basis pursuit tells the limit computation about the problem.

    The computation runs on the normalized problem (2^k A, 2^k y), k = ``scale_exp`` (see
    :func:`normalize`), which has the same BP solutions and flow limit as (A, y).

    bp : the BP solution of the normalized problem (face support J = bp.face.support with
        signs; its x-space fields are the user's, its dual is in normalized units).
    dual : (m,) a certificate with a_J^T dual = s_J and |a_i^T dual| <= 1 - margin off J, in
        the user's units (2^k times ``scaled_dual``; inf where that overflows).
    margin : that certificate's margin (>= 0); a lower bound on the dual margin gamma.
    point : (N,) a point in the relative interior of the BP face (start for Newton).
    geometry : the face's geometry in the normalized problem, built once here and shared by
        every depth and alpha (the flow limit, its continuation, the ODE).
    scale_exp : k.
    scaled_dual : (m,) the certificate for the normalized problem (what the solvers use).
    """

    bp: BPSolution
    dual: FloatArray
    margin: float
    point: FloatArray
    geometry: FaceGeometry
    scale_exp: int = 0
    scaled_dual: FloatArray | None = None

    @property
    def normalized_dual(self) -> FloatArray:
        return self.dual if self.scaled_dual is None else self.scaled_dual


def scale_exponent(A: FloatArray) -> int:
    """k with max|2^k A| in [1/2, 1): the power of two that normalizes A (0 if A = 0)."""
    top = float(np.max(np.abs(A), initial=0.0))
    if top == 0.0 or not math.isfinite(top):
        return 0
    return -math.frexp(top)[1]


def normalize(A: FloatArray, y: FloatArray, scale_exp: int) -> tuple[FloatArray, FloatArray]:
    """(2^k A, 2^k y): exact in floating point (a power of two), including subnormal data.

    The flow on (S A, S y) is the flow on (A, y) run at speed S^2: x_{SA}(t) = x_A(S^2 t)
    (nu' = S^2 (y - A x) for nu = S nu_S). So the limit and the BP solutions are the same, and
    a normalized time t_n is the user's time 2^(2k) t_n (:func:`user_log10_time`).

    Raises SolverError when 2^k y overflows: then x ~ y / A itself is beyond float64's range.
    """
    if scale_exp == 0:
        return A, y
    with np.errstate(over="ignore"):
        A_n, y_n = np.ldexp(A, scale_exp), np.ldexp(y, scale_exp)
    if not np.all(np.isfinite(y_n)):
        top_y = float(np.max(np.abs(y)))
        top_a = float(np.max(np.abs(A)))
        ratio = math.log10(top_y) - math.log10(top_a)
        raise SolverError(
            f"max|y| / max|A| = {top_y:.3g} / {top_a:.3g} = 1e{ratio:.0f}: the solution's scale "
            "is beyond float64's range (expected a ratio below 1e300); rescale y"
        )
    return A_n, y_n


def user_log10_time(log10_t_normalized: float, scale_exp: int) -> float:
    """The inverse of the time change of :func:`normalize`: log10 of 2^(2k) t_n."""
    return log10_t_normalized + 2 * scale_exp * math.log10(2.0)


def bp_anchor(
    A: FloatArray,
    y: FloatArray,
    *,
    time_limit: float | None = None,
    bp: BPSolution | None = None,
) -> Anchor:
    """Solve BP and pick a certificate, strictly inside the dual face when cheaply possible.

    Nondegenerate BP has exactly one certificate. Otherwise we search the segment from the
    LP's certificate to the least-squares-central one (minimizing ||A_off^T lam||_2 on the
    dual face) for the largest margin |a_i^T lam| < 1 off J. ``bp``: a BP solution the caller
    already has for (A, y) (it is solved here otherwise). Everything runs on the normalized
    problem (see :class:`Anchor`).
    """
    k = scale_exponent(A)
    A, y = normalize(A, y, k)
    if bp is None:
        bp = solve_basis_pursuit(A, y, time_limit=time_limit)
    elif k:
        bp = dataclasses.replace(bp, dual=np.ldexp(bp.dual, -k))
    anchor = _anchor_normalized(A, y, bp)
    with np.errstate(over="ignore"):
        dual = np.ldexp(anchor.dual, k)
    return Anchor(anchor.bp, dual, anchor.margin, anchor.point, anchor.geometry, k, anchor.dual)


def _anchor_normalized(A: FloatArray, y: FloatArray, bp: BPSolution) -> Anchor:
    support, signs = bp.face.support, bp.face.signs
    off = np.setdiff1d(np.arange(A.shape[1]), support)
    A_j = A[:, support]
    # Any solution of A_J^T lam = s_J, then the free part (null space of A_J^T) by least squares.
    base = np.asarray(np.linalg.lstsq(A_j.T, signs, rcond=None)[0], dtype=np.float64)
    u_j, sing, _ = np.linalg.svd(A_j, full_matrices=True)
    rank = numerical_rank(sing, A_j.shape)
    null = u_j[:, rank:]
    dual, margin = base, _margin(A[:, off], base)
    if null.shape[1] and off.size:
        corr_null = A[:, off].T @ null
        central = base - null @ np.linalg.lstsq(corr_null, A[:, off].T @ base, rcond=None)[0]
        # The dual face is convex: the best point on the segment from the LP's (feasible,
        # possibly non-strict) certificate towards the central one is strictly feasible
        # whenever the central point relaxes the LP certificate's tight constraints.
        for t in np.linspace(0.0, 1.0, 65):
            trial = (1 - t) * bp.dual + t * central
            trial_margin = _margin(A[:, off], trial)
            if trial_margin > margin and _margin(A_j, trial, signs) < 1e-9:
                dual, margin = trial, trial_margin
    anchor = _normalized_anchor(A, y, bp, dual, max(margin, 0.0))
    if margin > 1e-9 or not off.size:
        return anchor
    # Still on the boundary: the depth-2 limit needs no strict certificate, and its dual
    # mu / L (L = ln 1/alpha^2) tends to a point strictly inside the dual face (margin about
    # gamma - O(1/L)). Restore A_J^T lam = s_J exactly and keep it if strictly feasible;
    # otherwise flow_limit falls back to continuation in alpha from mu = 0 (slower, correct).
    for level in ENTROPIC_LEVELS:
        entropic = flow_limit(A, y, depth=2.0, log_alpha=-0.5 * level, anchor=anchor, certify=False)
        lam = entropic.dual / level
        lam = lam + np.linalg.lstsq(A_j.T, signs - A_j.T @ lam, rcond=None)[0]
        strict = _margin(A[:, off], lam)
        if strict > 1e-9 and _margin(A_j, lam, signs) < 1e-9:
            return _normalized_anchor(A, y, bp, np.asarray(lam, dtype=np.float64), strict)
    return anchor


def _normalized_anchor(
    A: FloatArray, y: FloatArray, bp: BPSolution, dual: FloatArray, margin: float
) -> Anchor:
    face = bp.face
    geometry = face_geometry(A, y, dual, face.support, face.signs)
    return Anchor(bp, dual, margin, face.interior_point, geometry)


# ln(1/alpha^2) of the depth-2 limits tried for a strict certificate, cheapest first. Newton
# from the face needs fewer steps at small L (Gaussian 200 x 800: 16 at L = 20, 35 at L = 200;
# sparse 200 x 800: 18, against 100 without converging at L = 200). L = 20 was too small for
# Gaussian 400 x 1600 (projected margin -0.11; +0.04 at L = 30, 0.14 at L = 200), so we start
# at 30 and keep 200 for faces where the O(1/L) error hides a small margin.
ENTROPIC_LEVELS = (30.0, 200.0)


def _margin(A_cols: FloatArray, dual: FloatArray, signs: FloatArray | None = None) -> float:
    """1 - max |a_i^T dual| over the given columns; with ``signs``, max |a_i^T dual - s_i|."""
    corr = A_cols.T @ dual
    if signs is not None:
        return float(np.max(np.abs(corr - signs), initial=0.0))
    return 1.0 - float(np.max(np.abs(corr), initial=0.0))


@dataclass(frozen=True)
class LimitResult:
    """The exact limit x_alpha of the flow (all vectors (N,))."""

    x: FloatArray
    dual: FloatArray  # (m,) the dual maximizer mu (float64: informational for tiny alpha)
    depth: float
    log_alpha: float
    residual_inf: float
    l1_norm: float
    converged: bool
    newton_iterations: int
    continuation_stages: int
    last_step: float  # relative size of the last Newton step in x
    elapsed_s: float
    certified: bool = False  # the face-free check confirmed x (see flow_limit)
    route: str = "face"  # face | face-free Newton | face-free continuation | min-l2 | zero
    check_precision: str = ""  # the arithmetic of the check (float64, longdouble, mpmath)
    check_step: float = math.nan  # the check's last relative Newton step
    # The check's first-order bound on max|x - x_alpha| / max|x| (dual_check.error_bound);
    # certified implies error_bound <= dual_check.ERROR_TOL (nan: no check ran).
    error_bound: float = math.nan
    face_correction: float = 0.0  # max|x_face - x| / (1 + max|x|); nan: the face route failed
    message: str = ""
    scale_exp: int = 0  # the computation ran on (2^k A, 2^k y)


@dataclass(frozen=True)
class MirrorCoordinates:
    """The scaled dual coordinates theta = (a_hat, b) for one problem, depth and alpha.

    mu = c lam + U_R (kappa a_hat) + U_N b (module docstring): the face's ``geometry`` (built
    once per problem) and the depth family's ``potential`` at this alpha (its constants c,
    kappa and its maps). theta has ``geometry.dim`` entries, a_hat the first rank_j. Shared
    by the exact limit (Newton on theta) and the ODE (which integrates theta).
    """

    geometry: FaceGeometry
    potential: DepthPotential

    # ------------------------------------------------------------------ states

    def zero_state(self) -> FloatArray:
        """theta for mu = 0, i.e. x = 0: the flow's initial condition."""
        geo, pot = self.geometry, self.potential
        coeffs = -pot.c * (geo.U.T @ geo.lam)
        theta = coeffs.copy()
        r = geo.rank_j
        theta[:r] = coeffs[:r] / pot.kappa if pot.kappa > 0 else -np.inf
        return theta

    def face_state(self, point: FloatArray) -> FloatArray | None:
        """theta whose x is near ``point`` on J (exact as alpha -> 0), or None if infeasible."""
        geo = self.geometry
        theta = np.zeros(geo.dim)
        if geo.rank_j == 0:
            return theta
        mag = np.abs(point[geo.support])
        mag = np.maximum(mag, 1e-300 + 1e-12 * float(np.max(mag, initial=0.0)))
        weights, rhs = self.potential.face_system(mag, geo.w)
        theta[: geo.rank_j] = np.linalg.lstsq(
            (weights * geo.signs)[:, None] * geo.M_j, rhs, rcond=None
        )[0]
        return theta if self.feasible(theta) else None

    # ------------------------------------------------------------------ maps

    def dual(self, theta: FloatArray) -> FloatArray:
        """mu(theta) in the original rows of A (float64; kappa * a_hat may underflow)."""
        geo, kappa = self.geometry, self.potential.kappa
        r = geo.rank_j
        omega = geo.U[:, r:] @ theta[r:]
        if r and kappa > 0:
            omega = omega + geo.U[:, :r] @ (kappa * theta[:r])
        return np.asarray(geo.basis @ (self.potential.c * geo.lam + omega), dtype=np.float64)

    def support_variable(
        self, theta: FloatArray, arrays: PrecisionArrays | None = None
    ) -> NDArray[Any]:
        """u = s_J (A_J^T U_R a_hat) (|J|,): the scaled slack (p > 2) or correlation (p = 2)."""
        geo = self.geometry
        arrays = arrays or geo.float64
        th = theta.astype(arrays.dtype)
        return np.asarray(geo.signs * (arrays.M_j @ th[: geo.rank_j]), dtype=arrays.dtype)

    def off_variable(
        self, theta: FloatArray, arrays: PrecisionArrays | None = None
    ) -> NDArray[Any]:
        """z = a_i^T mu off J (|off|,)."""
        geo, pot = self.geometry, self.potential
        arrays = arrays or geo.float64
        th = theta.astype(arrays.dtype)
        r = geo.rank_j
        z = pot.c * arrays.corr_off + arrays.K_off[:, r:] @ th[r:]
        if pot.kappa > 0 and r:
            z = z + pot.kappa * (arrays.K_off[:, :r] @ th[:r])
        return np.asarray(z, dtype=arrays.dtype)

    def feasible(self, theta: FloatArray) -> bool:
        if not np.all(np.isfinite(theta)):
            return False
        u, z = self.support_variable(theta), self.off_variable(theta)
        return self.potential.face_in_domain(u, self.geometry.w, z)

    def evaluate(self, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """x(theta) (N,), and dx_J/du_J (|J|,), dx_off/dz_off (|off|,) (both positive)."""
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            # Trial points outside the domain give NaN/inf, which callers reject.
            return self.maps(theta, self.geometry.float64)

    def maps(
        self, theta: FloatArray, arrays: PrecisionArrays
    ) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
        """x, dx_J/du_J, dx_off/dz_off in the precision of ``arrays``."""
        geo = self.geometry
        x = np.zeros(geo.n, dtype=arrays.dtype)
        signed_x, d_j = self.potential.support_map(self.support_variable(theta, arrays), arrays.w)
        x[geo.support] = geo.signs * signed_x
        x[geo.off], d_off = self.potential.off_map(self.off_variable(theta, arrays))
        return x, d_j, d_off

    def precise_rate(self, theta: FloatArray) -> FloatArray:
        """d theta / d tau computed in extended precision (np.longdouble), from x(theta).

        The fast block's rate is residual / kappa, so float64 round-off in x (~1e-16) is
        amplified; in long double the rate is smooth to ~1e-19. The ODE evaluates its rate
        differently (around a moving reference, :mod:`dlncli.dln.ode`); this is the independent
        reference its tests compare with.
        """
        geo = self.geometry
        arrays = geo.long_double
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            x, _, _ = self.maps(theta, arrays)
            g = arrays.U.T @ (arrays.y - arrays.A @ x)
            if geo.rank_j:
                g[: geo.rank_j] = g[: geo.rank_j] / np.longdouble(self.potential.kappa)
            return np.asarray(g, dtype=np.float64)  # inf at overflowing trial states

    def residual(self, x: FloatArray) -> FloatArray:
        """U^T (y - A x) in the reduced rows: the gradient of the dual (and of -loss)."""
        geo = self.geometry
        return geo.U.T @ (geo.y - geo.A @ x)

    def jacobian_x(self, d_j: FloatArray, d_off: FloatArray) -> FloatArray:
        """dx/dtheta, (N, dim)."""
        geo = self.geometry
        jac = np.zeros((geo.n, geo.dim))
        r = geo.rank_j
        jac[np.ix_(geo.support, np.arange(r))] = d_j[:, None] * geo.M_j
        off_block = d_off[:, None] * geo.K_off
        if r:
            off_block[:, :r] *= self.potential.kappa
        jac[geo.off] = off_block
        return jac

    def step_bound(self, theta: FloatArray, delta: FloatArray) -> float:
        """Largest step in (0, 1] keeping every slack positive (newton.step_to_boundary)."""
        u, du = self.support_variable(theta), self.support_variable(delta)
        z = self.off_variable(theta)
        dz = self.off_variable(delta) - self.potential.c * self.geometry.corr_off
        pairs = self.potential.face_slack_pairs(u, du, self.geometry.w, z, dz)
        return step_to_boundary(pairs)


def mirror_coordinates(anchor: Anchor, *, depth: float, log_alpha: float) -> MirrorCoordinates:
    """The coordinates of ``anchor``'s face (normalized problem) at this depth and alpha."""
    return MirrorCoordinates(anchor.geometry, depth_potential(depth, log_alpha))


@dataclass(frozen=True)
class NewtonStep:
    """One Newton step for A x(theta) = y: delta_theta (dim,), delta_x = dx/dtheta delta
    (N,), and x (N,) and residual U^T (y - A x) (dim,) at theta."""

    delta: FloatArray
    dx: FloatArray
    x: FloatArray
    residual: FloatArray


def newton_step(coords: MirrorCoordinates, theta: FloatArray) -> NewtonStep:
    """The Newton step for A x(theta) = y at theta, from the system (K^T dx/dtheta) delta =
    U^T (y - A x) (solved after equilibration: :func:`solve_equilibrated`)."""
    x, d_j, d_off = coords.evaluate(theta)
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite x: caller rejects
        g = coords.residual(x)
        jac = coords.jacobian_x(d_j, d_off)
        system = coords.geometry.K.T @ jac  # = U^T A dx/dtheta
    delta = solve_equilibrated(system, g)
    return NewtonStep(delta, jac @ delta, x, g)


def solve_equilibrated(system: FloatArray, rhs: FloatArray) -> FloatArray:
    """Solve system @ d = rhs after row/column equilibration; least squares if singular.

    The blocks of the Newton matrix differ by factors like alpha^p: scaling makes them O(1).
    """
    if not (np.all(np.isfinite(system)) and np.all(np.isfinite(rhs))):
        return np.full(rhs.shape, np.nan)  # from a point where x overflowed: callers reject
    diag = np.abs(np.diag(system))
    scale = np.where(diag > 0, 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), 1.0)
    scaled = scale[:, None] * system * scale[None, :]
    try:
        with warnings.catch_warnings():
            # Ill-conditioning is expected in the transient; the least-squares path covers it.
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            solution = scipy.linalg.lu_solve(scipy.linalg.lu_factor(scaled), scale * rhs)
        if np.all(np.isfinite(solution)):
            return np.asarray(scale * solution, dtype=np.float64)
    except (np.linalg.LinAlgError, ValueError):
        pass
    least = np.linalg.lstsq(scaled, scale * rhs, rcond=1e-14)[0]
    return np.asarray(scale * np.nan_to_num(least), dtype=np.float64)


# ------------------------------------------------------------------------------ Newton

REL_STEP_TOL = 1e-13  # converged when a full step moves x by less than this (relative)
FLOOR_STEP_TOL = 1e-9  # ... or when no step reduces the residual and steps are this small
MAX_NEWTON = 100


@dataclass
class _NewtonOutcome:
    theta: FloatArray
    converged: bool
    iterations: int
    last_step: float


def _newton_solve(coords: MirrorCoordinates, theta: FloatArray) -> _NewtonOutcome:
    """Damped Newton on A x(theta) = y, merit ||U^T (y - A x)||^2, fraction to boundary."""
    last = math.inf
    for iteration in range(1, MAX_NEWTON + 1):
        step_ = newton_step(coords, theta)
        delta, dx, x = step_.delta, step_.dx, step_.x
        if not (np.all(np.isfinite(delta)) and np.all(np.isfinite(dx))):
            return _NewtonOutcome(theta, False, iteration, math.inf)
        scale_x = max(float(np.max(np.abs(x))), 1e-300)
        rel_step = float(np.max(np.abs(dx))) / scale_x
        step, accepted = backtrack(
            _merit_decrease(coords, theta, delta, float(step_.residual @ step_.residual)),
            coords.step_bound(theta, delta),
            min_step=1e-12,
        )
        if not accepted:
            return _NewtonOutcome(theta, rel_step <= FLOOR_STEP_TOL, iteration, rel_step)
        theta = theta + step * delta
        last = rel_step * step
        if step == 1.0 and rel_step <= REL_STEP_TOL:
            return _NewtonOutcome(theta, True, iteration, last)
    return _NewtonOutcome(theta, last <= FLOOR_STEP_TOL, MAX_NEWTON, last)


def _merit_decrease(
    coords: MirrorCoordinates, theta: FloatArray, delta: FloatArray, merit: float
) -> Callable[[float], bool]:
    """Armijo on the merit ||U^T (y - A x)||^2 along theta + t delta (infeasible: reject)."""

    def accept(step: float) -> bool:
        trial = theta + step * delta
        if not coords.feasible(trial):
            return False
        x_trial, _, _ = coords.evaluate(trial)
        with np.errstate(over="ignore", invalid="ignore"):  # overshoots: merit inf/nan
            g_trial = coords.residual(x_trial)
            merit_trial = float(g_trial @ g_trial)
        return merit_trial <= (1 - 1e-4 * step) * merit

    return accept


def flow_limit(
    A: FloatArray,
    y: FloatArray,
    *,
    depth: float,
    log_alpha: float,
    anchor: Anchor | None = None,
    certify: bool = True,
    time_limit: float | None = None,
    log_u0: FloatArray | None = None,
    log_v0: FloatArray | None = None,
) -> LimitResult:
    """x_alpha = lim_{t -> inf} x(t) for the depth-``depth`` DLN flow started at scale alpha.

    With ``log_u0`` and ``log_v0`` ((N,) natural logs of a per-coordinate, possibly unbalanced
    start u(0) = u0, v(0) = v0), the limit of the flow from that start is computed instead, by
    :func:`unbalanced_limit` (docs/train.md); alpha (``log_alpha``) is then only the nominal
    scale whose balanced limit warm-starts it. Both None (the default): the balanced start
    u = v = alpha, unchanged.

    Routes (docs/limit.md): alpha^p so large that x_alpha is the minimum-l2 interpolator A^+ y
    to relative 1e-17 (bound below); otherwise Newton in the BP-face coordinates (fast, but
    only as right as the face), then a face-free check: Newton on the full dual, started from
    that answer, in a precision where the slacks 1 - |a_i^T mu| keep their digits
    (:mod:`dlncli.dln.dual_check`). If the check does not converge, the face-free continuation in
    alpha computes the limit instead. ``certified`` is True when the returned x is the
    face-free Newton's fixed point: A x = y and x = alpha^p h_p(A^T mu) hold in working
    precision, with a last relative Newton step (``check_step``) below the arithmetic's
    tolerance (1e-13 float64, 1e-15 long double, 1e-16 mpmath).

    Large alpha: x = alpha^p h_p(A^T mu) with h_p(z) = h1 z + h3 z^3 / 6 + O(z^5) gives
    |x - A^+ y| <= N (h3 / (6 h1)) max|z|^2 max|x|, with max|z| ~ max|x| / (alpha^p h1).

    Parameters
    ----------
    A : (m, N).  y : (m,).
    depth : p >= 2 (real).
    log_alpha : ln(alpha); any real number (alpha = 1e-1000 is log_alpha = -2302.6).
    anchor : the BP anchor, when the caller already has one (see :func:`bp_anchor`). When
        it is not given and BP's LPs fail (not infeasible, not a time limit), the face-free
        continuation is used alone.
    certify : run the face-free check (False: only the face route, as inside bp_anchor).
    time_limit : wall-clock seconds for the check and the continuation (TimeLimitError).

    Raises
    ------
    InfeasibleError : y is not in the range of A (the flow has no limit fitting the data).
    SolverError : no route converged.
    TimeLimitError : ``time_limit`` was hit.
    """
    if log_u0 is not None or log_v0 is not None:
        if log_u0 is None or log_v0 is None:
            raise ValueError("log_u0 and log_v0 must be given together")
        return unbalanced_limit(
            A,
            y,
            depth=depth,
            log_u0=log_u0,
            log_v0=log_v0,
            log_alpha=log_alpha,
            anchor=anchor,
            time_limit=time_limit,
        )
    start = time.perf_counter()

    def tick() -> None:
        if time_limit is not None and time.perf_counter() - start > time_limit:
            raise TimeLimitError(
                f"time limit of {time_limit:.3g} s reached while certifying the flow limit "
                f"(depth {depth:g}, log10 alpha {log_alpha / LN10:.4g}); use a larger --time-limit"
            )

    if anchor is None:
        try:
            anchor = bp_anchor(A, y)
        except (InfeasibleError, TimeLimitError):
            raise
        except SolverError:
            anchor = None  # no usable BP face: the face-free routes need none
    scale_exp = scale_exponent(A) if anchor is None else anchor.scale_exp
    A_user, y_user = A, y
    A, y = normalize(A, y, scale_exp)
    n = A.shape[1]

    def result(x: FloatArray, dual: FloatArray, **fields: Any) -> LimitResult:
        with np.errstate(all="ignore"):  # subnormal user data: the residual may underflow
            residual = A_user @ x - y_user
        base: dict[str, Any] = {
            "x": x,
            "dual": dual,
            "depth": depth,
            "log_alpha": log_alpha,
            "residual_inf": float(np.max(np.abs(residual), initial=0.0)),
            "l1_norm": float(np.sum(np.abs(x))),
            "converged": True,
            "newton_iterations": 0,
            "continuation_stages": 0,
            "last_step": 0.0,
            "elapsed_s": time.perf_counter() - start,
            "scale_exp": scale_exp,
        }
        base.update(fields)
        return LimitResult(**base)

    if not np.any(y) or (anchor is not None and anchor.bp.face.support.size == 0):
        # y = 0: the flow never leaves x = 0
        return result(np.zeros(n), np.zeros(A.shape[0]), certified=True, route="zero")
    large = _large_alpha_limit(A, y, depth, log_alpha)
    if large is not None:
        x_l2, bound = large
        return result(
            x_l2,
            np.zeros(A.shape[0]),
            certified=True,
            route="min-l2",
            check_step=bound,
            message=f"alpha^p is so large that x is the minimum-l2 interpolator (relative "
            f"deviation bound {bound:.1e})",
        )
    face = None if anchor is None else _face_route(anchor, depth, log_alpha)
    if not certify:
        if face is None:
            raise _not_converged(depth, log_alpha, math.inf)
        x, _, _ = face.coords.evaluate(face.outcome.theta)
        return result(
            x,
            face.coords.dual(face.outcome.theta),
            newton_iterations=face.iterations,
            continuation_stages=face.stages,
            last_step=face.outcome.last_step,
            route="face",
            message="not checked",
        )
    return _certified(A, y, depth, log_alpha, face, result, tick)


@dataclass
class _FaceRoute:
    coords: MirrorCoordinates
    outcome: _NewtonOutcome
    iterations: int
    stages: int


def _face_route(anchor: Anchor, depth: float, log_alpha: float) -> _FaceRoute | None:
    """Newton in the face coordinates (from the face, then by continuation); None if unusable."""
    if depth > 2.0 and (depth - 2.0) * log_alpha > 700.0:
        return None  # kappa = alpha^(p-2) overflows: the face-free routes handle it
    coords = mirror_coordinates(anchor, depth=depth, log_alpha=log_alpha)
    iterations = stages = 0
    theta = coords.face_state(anchor.point)
    outcome = None
    with np.errstate(all="ignore"):  # trial points outside the domain are rejected by value
        if theta is not None:
            outcome = _newton_solve(coords, theta)
            iterations += outcome.iterations
        if outcome is None or not outcome.converged:
            outcome, extra, stages = _continuation(anchor, depth, log_alpha)
            iterations += extra
    if not outcome.converged:
        return None
    return _FaceRoute(coords, outcome, iterations, stages)


def _not_converged(depth: float, log_alpha: float, last_step: float) -> SolverError:
    return SolverError(
        f"Newton for the flow limit did not converge (depth {depth:g}, "
        f"log10 alpha {log_alpha / LN10:.4g}, last relative step {last_step:.2g})"
    )


# The face-free check's Newton gets this many steps from the face route's answer: a right
# answer needs 1-3; more means the face coordinates were wrong, and continuation is cheaper.
CHECK_ITERATIONS = 25


def _certified(
    A: FloatArray,
    y: FloatArray,
    depth: float,
    log_alpha: float,
    face: _FaceRoute | None,
    result: Callable[..., LimitResult],
    tick: Callable[[], None],
) -> LimitResult:
    """Check the face route's answer with the face-free dual Newton; fall back to continuation.

    The check runs in the cheapest arithmetic that resolves x (:func:`dual_check.
    choose_arithmetic`); a Newton point is certified only when its first-order error bound
    (:func:`dual_check.error_bound`) is at most ERROR_TOL. When that fails in float64 or long
    double because the rows of A are nearly dependent (the bound sees H^-1), the check is
    repeated once in mpmath with the digits the conditioning costs. Exactly dependent rows
    (exact rank, python-flint) are dropped first: they carry no information, and their
    rounding noise would make every bound infinite.
    """
    from dlncli.dln import dual_check

    x_face = None
    if face is not None:
        x_face = face.coords.evaluate(face.outcome.theta)[0]
        if not np.all(np.isfinite(x_face)):
            face, x_face = None, None
    if x_face is not None:
        x_scale = float(np.max(np.abs(x_face)))
    else:
        x_scale = float(np.max(np.abs(np.linalg.lstsq(A, y, rcond=None)[0])))
    sing = np.asarray(np.linalg.svd(A, compute_uv=False), dtype=np.float64)  # used twice below
    rows = dual_check.independent_rows(A, sing)
    lost = dual_check.lost_digits(depth, log_alpha, x_scale)
    arith = dual_check.choose_arithmetic(A.shape, lost)
    face_fields: dict[str, Any] = {}
    if face is not None:
        face_fields = {
            "newton_iterations": face.iterations,
            "continuation_stages": face.stages,
            "last_step": face.outcome.last_step,
        }
    if arith is None:
        if face is None or x_face is None:
            raise _not_converged(depth, log_alpha, math.inf)
        return result(
            x_face,
            face.coords.dual(face.outcome.theta),
            route="face",
            message=f"not certified: at this depth and alpha the face-free check needs "
            f"{float(lost + dual_check.TARGET_DIGITS):.6g} digits; mpmath is limited to m*N <= "
            f"{dual_check.MP_MAX_ENTRIES} and to about {dual_check.MP_EVALUATION_LIMIT_S:g} s "
            "per evaluation (docs/limit.md)",
            **face_fields,
        )
    attempts = [arith]
    sing_rows = sing if rows.size == A.shape[0] else None
    escalated = dual_check.conditioned_arithmetic(A[rows], lost, sing_rows)
    if escalated is not None and (not arith.is_mp or escalated.dps > arith.dps):
        attempts.append(escalated)
    iterations = 0 if face is None else face.iterations
    last_bound = math.inf
    for attempt in attempts:
        tol = dual_check.tolerance(attempt, lost)
        outcome = _check_in(A, y, rows, depth, log_alpha, face, x_scale, attempt, tol, tick)
        iterations += outcome.iterations
        if outcome.solve is None or not outcome.solve.converged:
            if outcome.solve is not None:
                last_bound = outcome.solve.error_bound
            continue
        solve = outcome.solve
        correction = math.nan if x_face is None else _distance(solve.x, x_face)
        if outcome.from_face:
            route = "face" if correction <= 1e-9 else "face-free Newton"
            stages = 0 if face is None else face.stages
        else:
            route, stages = "face-free continuation", outcome.stages
        return result(
            solve.x,
            attempt.to_float(solve.mu),
            certified=True,
            route=route,
            check_precision=attempt.label,
            check_step=solve.last_step,
            error_bound=solve.error_bound,
            face_correction=correction,
            newton_iterations=iterations,
            continuation_stages=stages,
            last_step=solve.last_step,
            message=_corrected(correction) if correction > 1e-9 else "",
        )
    if face is None or x_face is None:
        raise _not_converged(depth, log_alpha, math.inf)
    why = (
        "the face-free check did not converge"
        if not math.isfinite(last_bound)
        else f"the face-free check's error bound {last_bound:.2g} is above {dual_check.ERROR_TOL:g}"
    )
    return result(
        x_face,
        face.coords.dual(face.outcome.theta),
        route="face",
        check_precision=attempts[-1].label,
        message=f"not certified: {why}",
        **face_fields,
    )


@dataclass
class _CheckOutcome:
    solve: Any  # dual_check.DualSolve | None
    iterations: int
    stages: int
    from_face: bool


def _check_in(
    A_full: FloatArray,
    y_full: FloatArray,
    rows: Any,
    depth: float,
    log_alpha: float,
    face: _FaceRoute | None,
    x_scale: float,
    arith: Any,
    tol: float,
    tick: Callable[[], None],
) -> _CheckOutcome:
    """The face-free Newton from the face route's answer, else the continuation in alpha,
    on the rows ``rows`` of (A, y) (the face's dual is moved onto them)."""
    from dlncli.dln import dual_check

    A, y = A_full[rows], y_full[rows]
    iterations = 0
    if face is not None:
        check_dual = dual_check.DualProblem(A, y, depth_potential(depth, log_alpha), arith)
        with arith.context():
            mu0 = _precise_dual(A_full, face.coords, face.outcome.theta, arith)
            if rows.size < A_full.shape[0]:
                mu0 = dual_check.onto_rows(A_full, rows, mu0, arith)
            feasible = check_dual.feasible(check_dual.z(mu0))
        if feasible:
            check = dual_check.newton(
                check_dual, mu0, tol=tol, max_iterations=CHECK_ITERATIONS, on_iteration=tick
            )
            iterations += check.iterations
            if check.converged:
                return _CheckOutcome(check, iterations, 0, True)
    target = depth * log_alpha

    def balanced_at(level: float) -> dual_check.DualProblem:
        return dual_check.DualProblem(A, y, depth_potential(depth, level / depth), arith)

    solve, stages = dual_check.continuation(
        balanced_at,
        start=dual_check.start_level(depth, target, log_alpha, x_scale),
        target=target,
        schedule=dual_check.alpha_schedule(depth),
        arith=arith,
        tol=tol,
        on_iteration=tick,
    )
    return _CheckOutcome(solve, iterations + solve.iterations, stages, False)


def _distance(x: FloatArray, other: FloatArray) -> float:
    """max|x - other| / (1 + max|x|)."""
    return float(np.max(np.abs(x - other))) / (1.0 + float(np.max(np.abs(x))))


def _corrected(correction: float) -> str:
    return (
        f"the BP-face coordinates gave a point {correction:.2g} away (relative); x is the "
        "face-free certified limit"
    )


def _precise_dual(A: FloatArray, coords: MirrorCoordinates, theta: FloatArray, arith: Any) -> Any:
    """mu(theta) in ``arith``, with a_J^T mu set to what the face coordinates mean.

    Rounding mu to float64 perturbs the slacks 1 - |a_i^T mu| on J by ~1e-16, far more than
    their size for small alpha. The coordinates define those slacks with full relative
    precision (kappa |u_J| for p > 2; z_J = s_J (c + u_J) for p = 2); we impose them by
    iterative refinement of the minimum-norm correction delta (A_J^T delta = residual).
    """
    mu = arith.array(coords.dual(theta))
    geo, pot = coords.geometry, coords.potential
    support = geo.support
    if not support.size:
        return mu
    A_j = A[:, support]
    u_j = coords.support_variable(theta)
    signs = arith.array(geo.signs)
    if pot.depth == 2.0:
        target = signs * (arith.scalar(pot.c) + arith.array(u_j))
        resolution = arith.scalar(1e-18 * (1.0 + pot.c))
    else:
        kappa = arith.exp(arith.array(np.array([pot.log_kappa])))[0]
        slack = kappa * arith.array(u_j)
        target = signs * (1 + slack)
        resolution = arith.scalar(1e-18) * np.min(abs(slack))
    A_j_ar = arith.array(A_j)
    # Each float64 correction gains ~15 digits: tiny slacks need several rounds. The residual
    # is scaled by a power of two first (slacks of 1e-600 are below float64's range). A
    # slack of 10^-D needs about D / 15 rounds: the working precision bounds D.
    for _ in range(20 + arith.dps // 10):
        residual = target - A_j_ar.T @ mu
        exponent = arith.exponent(residual)
        if exponent is None or not np.max(abs(residual)) > resolution:
            break
        scaled = arith.to_float(residual * arith.pow2(-exponent))
        delta = np.linalg.lstsq(A_j.T, scaled, rcond=None)[0]
        mu = mu + arith.array(np.asarray(delta, dtype=np.float64)) * arith.pow2(exponent)
    return mu


def _large_alpha_limit(
    A: FloatArray, y: FloatArray, depth: float, log_alpha: float
) -> tuple[FloatArray, float] | None:
    """(A^+ y, relative deviation bound) when alpha^p makes the limit A^+ y to 1e-17, else None.

    h_2 = 2 sinh: h1 = 2, h3 / (6 h1) = 1/6. h_p, p > 2, q = p / (p - 2): h1 = 2q,
    h3 / (6 h1) = (q + 1)(q + 2) / 6.
    """
    pla = depth * log_alpha
    if pla < 20.0:
        return None
    x_l2 = np.asarray(np.linalg.lstsq(A, y, rcond=None)[0], dtype=np.float64)
    top = float(np.max(np.abs(x_l2)))
    if top == 0.0:
        return None
    if depth == 2.0:
        log_slope, ratio = math.log(2.0), 1.0 / 6.0
    else:
        q = depth / (depth - 2.0)
        log_slope, ratio = math.log(2.0 * q), (q + 1.0) * (q + 2.0) / 6.0
    log_z = math.log(top) - pla - log_slope
    log_bound = math.log(ratio) + 2.0 * log_z + math.log(A.shape[1])
    if log_bound > math.log(1e-17):
        return None
    return x_l2, math.exp(max(log_bound, -700.0))


def _continuation(
    anchor: Anchor, depth: float, log_alpha: float
) -> tuple[_NewtonOutcome, int, int]:
    """Follow the limit from alpha^p = 1 (easy from mu = 0) down to the target alpha."""
    target = depth * log_alpha
    start = max(target, 0.0)
    levels = [start]
    while levels[-1] > target:
        levels.append(max(levels[-1] - 2.0 * LN10, target))  # two decades of alpha^p per stage
    theta: FloatArray | None = None
    iterations = 0
    outcome = _NewtonOutcome(np.zeros(0), False, 0, math.inf)
    for stage, level in enumerate(levels, start=1):
        coords = mirror_coordinates(anchor, depth=depth, log_alpha=level / depth)
        if theta is None or not coords.feasible(theta):
            theta = coords.zero_state()
        outcome = _newton_solve(coords, theta)
        iterations += outcome.iterations
        if not outcome.converged:
            return outcome, iterations, stage
        theta = outcome.theta
        if depth == 2.0:
            # b is ~ ln(1/alpha^2) times a fixed direction: rescale it as a predictor.
            nxt = levels[stage] if stage < len(levels) else level
            ratio = max(-nxt, 1.0) / max(-level, 1.0)
            theta = theta.copy()
            theta[coords.geometry.rank_j :] *= ratio
    return outcome, iterations, len(levels)


# --------------------------------------------------------------------------- unbalanced starts


def unbalanced_limit(
    A: FloatArray,
    y: FloatArray,
    *,
    depth: float,
    log_u0: FloatArray,
    log_v0: FloatArray,
    log_alpha: float | None = None,
    anchor: Anchor | None = None,
    time_limit: float | None = None,
    balanced: LimitResult | None = None,
) -> LimitResult:
    """lim x(t) of the depth-p flow started at the per-coordinate u(0) = u0, v(0) = v0.

    The flow from (u0, v0) is again a mirror flow (docs/train.md): with nu = int (y - A x),
    p = 2: u = u0 e^(2 A^T nu), v = v0 e^(-2 A^T nu); p > 2: u^(2-p) = u0^(2-p) - p(p-2) A^T nu,
    v^(2-p) = v0^(2-p) + p(p-2) A^T nu. Its limit is x(mu*) for the maximizer mu* of the
    concave dual of :class:`dlncli.dln.dual_check.DualProblem` from that start, whose formulas are
    the depth family's (:meth:`dlncli.dln.potentials.PowerPotential.dual_terms`;
    z = 4 A^T nu for p = 2,
    z = p(p-2) alpha^(p-2) A^T nu for p > 2). This is a face-free Newton on the full dual (no
    BP-face coordinates), in the precision :func:`dlncli.dln.dual_check.choose_arithmetic` picks
    for the digits the start loses at either end (:func:`dlncli.dln.dual_check.start_lost_digits`),
    warm-started from the balanced limit at the nominal alpha (default: the largest of u0, v0,
    where every start is feasible); if it does not converge, by the homotopy from the balanced
    start to this one (ln u0(s) = ln alpha + s (ln u0 - ln alpha), s from 0 to 1), and then by
    following the start scaled by a common factor c (u0 c, v0 c) from c with (u0 c)^p ~
    100 max|x| down to c = 1 (docs/train.md).

    Parameters
    ----------
    A : (m, N).  y : (m,).  depth : p >= 2.
    log_u0, log_v0 : (N,) natural logs of the start (finite).
    log_alpha : the nominal ln alpha (see above).
    anchor : a BP anchor for the balanced warm start, if the caller has one.
    time_limit : wall-clock seconds (TimeLimitError).
    balanced : the balanced limit at the nominal alpha, if the caller has it (warm start).

    Returns
    -------
    LimitResult with route "unbalanced Newton", "unbalanced homotopy" or "unbalanced
    continuation"; ``certified``
    means the Newton converged (last relative step below ``check_step``'s tolerance and
    max|y - A x| <= 1e-9 max|y|).
    """
    from dlncli.dln import dual_check

    start = time.perf_counter()
    lu = np.asarray(log_u0, dtype=np.float64)
    lv = np.asarray(log_v0, dtype=np.float64)
    n = A.shape[1]
    if lu.shape != (n,) or lv.shape != (n,):
        raise ValueError(f"log_u0, log_v0 must have shape ({n},); got {lu.shape}, {lv.shape}")
    if not (np.all(np.isfinite(lu)) and np.all(np.isfinite(lv))):
        raise ValueError("log_u0 and log_v0 must be finite")
    top = float(max(np.max(lu), np.max(lv)))
    la = top if log_alpha is None else float(log_alpha)

    def tick() -> None:
        if time_limit is not None and time.perf_counter() - start > time_limit:
            raise TimeLimitError(
                f"time limit of {time_limit:.3g} s reached while computing the flow limit "
                "from the per-coordinate start; use a larger --time-limit"
            )

    if balanced is None or balanced.log_alpha != la or balanced.depth != depth:
        balanced = flow_limit(A, y, depth=depth, log_alpha=la, anchor=anchor, time_limit=time_limit)
    scale_exp = balanced.scale_exp
    A_n, y_n = normalize(A, y, scale_exp)
    x_scale = max(float(np.max(np.abs(balanced.x))), 1e-300)
    low = float(min(np.min(lu), np.min(lv)))
    lost = dual_check.start_lost_digits(depth, low, top, x_scale)
    arith = dual_check.choose_arithmetic(A.shape, lost)
    if arith is None:
        raise SolverError(
            f"the start's entries (ln {low:.4g} to {top:.4g}) need {lost} more digits than float64 "
            f"and long double give, and mpmath is limited to m*N <= {dual_check.MP_MAX_ENTRIES}"
        )
    tol = dual_check.tolerance(arith, lost)

    def problem(shift: float) -> dual_check.DualProblem:
        potential = depth_potential(depth, la + shift)
        return dual_check.DualProblem(
            A_n, y_n, potential, arith, log_u0=lu + shift, log_v0=lv + shift
        )

    target = problem(0.0)
    route = "unbalanced Newton"
    stages = 0
    with arith.context():
        balanced_mu = arith.array(balanced.dual)
        mu = dual_check.pull_inside(target, balanced_mu)  # a start outside the domain
    solve = dual_check.newton(target, mu, tol=tol, max_iterations=60, on_iteration=tick)
    iterations = solve.iterations
    if not solve.converged:
        # The homotopy from the balanced start, whose limit we have, to this one:
        # ln u0(s) = ln alpha + s (ln u0 - ln alpha), s = 1 - level from 0 to 1.
        route = "unbalanced homotopy"
        potential = depth_potential(depth, la)

        def between(level: float) -> dual_check.DualProblem:
            s = 1.0 - level
            return dual_check.DualProblem(
                A_n, y_n, potential, arith, log_u0=la + s * (lu - la), log_v0=la + s * (lv - la)
            )

        solve, stages = dual_check.continuation(
            between,
            start=1.0,
            target=0.0,
            schedule=dual_check.HOMOTOPY_SCHEDULE,
            arith=arith,
            tol=tol,
            mu0=balanced_mu,
            on_iteration=tick,
        )
        iterations += solve.iterations
    if not solve.converged:
        # The continuation of the balanced limit, in the start's common scale: the level is
        # p ln alpha + p ln c for the start (c u0, c v0), from c where (c u0)^p is 100 max|x|
        # for the smallest entry down to c = 1.
        route = "unbalanced continuation"
        nominal = depth * la

        def scaled_at(level: float) -> dual_check.DualProblem:
            return problem((level - nominal) / depth)

        solve, extra = dual_check.continuation(
            scaled_at,
            start=dual_check.start_level(depth, nominal, low, x_scale),
            target=nominal,
            schedule=dual_check.alpha_schedule(depth),
            arith=arith,
            tol=tol,
            on_iteration=tick,
        )
        stages += extra
        iterations += solve.iterations
    if not solve.converged:
        raise SolverError(
            f"Newton for the flow limit from the per-coordinate start did not converge "
            f"(depth {depth:g}, last relative step {solve.last_step:.2g})"
        )
    x = solve.x
    with np.errstate(all="ignore"):
        residual = A @ x - y
    return LimitResult(
        x=x,
        dual=arith.to_float(solve.mu),
        depth=depth,
        log_alpha=la,
        residual_inf=float(np.max(np.abs(residual), initial=0.0)),
        l1_norm=float(np.sum(np.abs(x))),
        converged=True,
        newton_iterations=iterations,
        continuation_stages=stages,
        last_step=solve.last_step,
        elapsed_s=time.perf_counter() - start,
        certified=True,
        route=route,
        check_precision=arith.label,
        check_step=solve.last_step,
        face_correction=math.nan,
        message="",
        scale_exp=scale_exp,
    )
