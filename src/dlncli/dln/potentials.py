"""The functions behind the flow's limit and its tie-break (docs/potentials.md).

Notation: p >= 2 the depth, k = p / (p - 2) and a = 2 / (p - 2) = k - 1 for p > 2.

- h_p maps the dual variable z to the scaled weight w = x / alpha^p along the flow:
  h_2(z) = 2 sinh z (z real), h_p(z) = (1 - z)^(-k) - (1 + z)^(-k) (|z| < 1, p > 2).
- h_p^{-1} is its inverse, w -> z.
- q_p(w) = integral_0^w h_p^{-1}(s) ds is the potential whose sum the limit minimizes:
  x_alpha = argmin { alpha^p sum_i q_p(x_i / alpha^p) : A x = y }.
- g_p is the tie-break penalty on the face of BP minimizers: g_2(x) = |x| log|x|,
  g_p(x) = -|x|^(2/p) for p > 2.

Every function is pure, vectorized over numpy arrays and accurate to a few ulps across
its whole domain: the slack 1 - |z| is computed directly (never as 1 - z) so that w up
to 1e300 and beyond (given as log w) keeps its digits, and small |z| uses forms without
cancellation (expm1/log1p, a positive power series).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dlncli.arrays import FloatArray
from dlncli.reports import PotentialCurve, PotentialsReport

SMALL_Z = 0.5  # |z| <= SMALL_Z: Newton on z; above: Newton on log(1 - |z|)
SERIES_Z = 0.1  # |z| < SERIES_Z: q_p by its positive power series (no cancellation)
MAX_ITERATIONS = 200
DEFAULT_Z = (-0.99, -0.9, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 0.9, 0.99)
# The paper's figure 3 ranges: h on z in [-0.99, 0.99]; q on w in [-5, 5]; g on [-8, 8].
PLOT_Z = tuple(float(v) for v in np.linspace(-0.99, 0.99, 397))
PLOT_W = tuple(float(v) for v in np.linspace(-8.0, 8.0, 401))


def _check_depth(depth: float) -> float:
    p = float(depth)
    if not math.isfinite(p) or p < 2.0:
        raise ValueError(f"depth {depth!r}; expected a finite real number >= 2")
    return p


def h(z: ArrayLike, depth: float) -> FloatArray:
    """The flow's map from the dual variable to the scaled weight, w = h_p(z).

    h_2(z) = 2 sinh z; for p > 2, h_p(z) = (1 - z)^(-k) - (1 + z)^(-k) with k = p/(p - 2),
    evaluated for |z| <= 1/2 as expm1(-k log1p(-z)) - expm1(-k log1p(z)) so that small |z|
    keeps its digits.

    Parameters
    ----------
    z : array, any shape; real for p = 2, in (-1, 1) for p > 2.
    depth : p >= 2.

    Returns
    -------
    w : array of z's shape (overflows to +-inf where the true value exceeds float range).
    """
    p = _check_depth(depth)
    zz = np.asarray(z, dtype=np.float64)
    if p == 2.0:
        with np.errstate(over="ignore"):
            return np.asarray(2.0 * np.sinh(zz), dtype=np.float64)
    if np.any(np.abs(zz) >= 1.0) or np.any(np.isnan(zz)):
        raise ValueError(f"h_p needs |z| < 1 for p = {p:g} > 2")
    k = p / (p - 2.0)
    with np.errstate(over="ignore"):
        near_zero = np.expm1(-k * np.log1p(-zz)) - np.expm1(-k * np.log1p(zz))
        # 1 - z is exact in floating point for |z| >= 1/2, and power is correctly rounded
        # where exp(k log) would multiply log's rounding by k.
        direct = np.power(1.0 - zz, -k) - np.power(1.0 + zz, -k)
    return np.asarray(np.where(np.abs(zz) <= SMALL_Z, near_zero, direct), dtype=np.float64)


def h_inverse(w: ArrayLike, depth: float) -> FloatArray:
    """z = h_p^{-1}(w), the inverse of :func:`h` (real w; |z| < 1 for p > 2).

    p = 2: z = arcsinh(w / 2). p > 2: the root of h_p(z) = w, by monotone Newton on z for
    |z| <= 1/2 and by Newton on log(1 - |z|) above (see :func:`inverse_slack`).
    """
    p = _check_depth(depth)
    ww = np.asarray(w, dtype=np.float64)
    if p == 2.0:
        return np.asarray(np.arcsinh(ww / 2.0), dtype=np.float64)
    z_abs, _ = _inverse_abs(np.abs(ww), p)
    return np.asarray(np.sign(ww) * z_abs, dtype=np.float64)


def inverse_slack(log_abs_w: ArrayLike, depth: float) -> tuple[FloatArray, FloatArray]:
    """|z| and ln s, the log of the slack s = 1 - |z|, of z = h_p^{-1}(w), from ln|w| (p > 2).

    The slack is computed directly, never as 1 - |z|, for any ln|w| (also far beyond float
    range, where s itself underflows). For |z| > 1/2 it solves, in l = ln s,

        -k l + log1p(-r^k) = ln|w|,   r = s / (2 - s),

    which is s^(-k) - (2 - s)^(-k) = |w| rewritten; Newton from l0 = -ln|w| / k, kept inside
    the bracket s in [(|w| + 1)^(-1/k), |w|^(-1/k)].

    Returns
    -------
    z_abs, log_slack : arrays of log_abs_w's shape.
    """
    p = _check_depth(depth)
    if p == 2.0:
        raise ValueError("inverse_slack is for p > 2 (h_2 has no slack)")
    log_w = np.asarray(log_abs_w, dtype=np.float64)
    with np.errstate(over="ignore"):
        abs_w = np.exp(np.minimum(log_w, 709.0))
    return _inverse_abs(abs_w, p, log_w)


def _inverse_abs(
    abs_w: FloatArray, p: float, log_w: FloatArray | None = None
) -> tuple[FloatArray, FloatArray]:
    k = p / (p - 2.0)
    abs_w = np.asarray(abs_w, dtype=np.float64)
    if log_w is None:
        with np.errstate(divide="ignore"):
            log_w = np.log(abs_w)
    # Newton on z up to z_b = 1/2, or lower where h_p(z_b) would leave float range (k large,
    # p near 2); the slack form takes over above.
    z_b = min(SMALL_Z, -math.expm1(-600.0 / k))
    boundary = float(h(z_b, p))
    small = abs_w <= boundary
    z_abs = np.zeros_like(abs_w)
    log_slack = np.zeros_like(abs_w)
    if np.any(small):
        target = abs_w[small]
        # h is increasing and convex on [0, z_b] with h(0) = 0 and h'(0) = 2k, so the root lies
        # in [w z_b / h(z_b), min(w / (2k), z_b)]. Newton on ln h(z) = ln w (nearly linear
        # where h grows like e^(kz)), kept in that bracket, bisecting geometrically.
        with np.errstate(divide="ignore"):
            log_t = np.log(target)
        lo = target * (z_b / boundary)
        hi = np.minimum(target / (2.0 * k), z_b)
        zk = hi.copy()
        active = np.flatnonzero(target > 0)
        zk[target == 0] = 0.0
        for _ in range(MAX_ITERATIONS):
            za = zk[active]
            value = np.expm1(-k * np.log1p(-za)) - np.expm1(-k * np.log1p(za))
            slope = k * (np.exp(-(k + 1) * np.log1p(-za)) + np.exp(-(k + 1) * np.log1p(za)))
            f = np.log(value) - log_t[active]
            hi[active] = np.where(f > 0, za, hi[active])
            lo[active] = np.where(f < 0, za, lo[active])
            la, ha = lo[active], hi[active]
            new = za - f * value / slope
            middle = np.where(la > 0, np.sqrt(la * ha), 0.5 * ha)
            new = np.where((new < la) | (new > ha), middle, new)
            zk[active] = new
            moving = (np.abs(new - za) > 4e-16 * new) & (f != 0)
            active = active[moving]
            if active.size == 0:
                break
        z_abs[small] = zk
        log_slack[small] = np.log1p(-zk)
    beyond = np.isposinf(log_w)
    z_abs[beyond] = 1.0
    log_slack[beyond] = -np.inf
    large = ~small & ~beyond
    if np.any(large):
        lw = log_w[large]
        hi = -lw / k  # ln of |w|^(-1/k)
        lo = -np.logaddexp(lw, 0.0) / k  # ln of (|w| + 1)^(-1/k)
        ell = hi.copy()
        active = np.arange(ell.size)
        for _ in range(MAX_ITERATIONS):
            ea, lwa = ell[active], lw[active]
            sa = np.exp(ea)
            rk = np.exp(k * (ea - np.log(2.0 - sa)))  # r^k, r = s / (2 - s)
            value = -k * ea + np.log1p(-rk) - lwa
            slope = -k * (1.0 + rk * (2.0 / (2.0 - sa)) / (1.0 - rk))
            new = np.clip(ea - value / slope, lo[active], hi[active])
            ell[active] = new
            moving = np.abs(new - ea) > 4e-16 * np.maximum(np.abs(new), 1.0)
            active = active[moving]
            if active.size == 0:
                break
        log_slack[large] = ell
        z_abs[large] = -np.expm1(ell)
    return z_abs, log_slack


def _delta_phi(z_abs: FloatArray, log_slack: FloatArray, p: float) -> FloatArray:
    """Phi_p(z) - Phi_p(0) = ((p - 2)/2) [(1 - z)^(-a) + (1 + z)^(-a) - 2], a = 2/(p - 2)."""
    a = 2.0 / (p - 2.0)
    with np.errstate(over="ignore"):
        minus = np.expm1(-a * log_slack)
        plus = np.expm1(-a * np.log1p(z_abs))
    return np.asarray((minus + plus) / a)


def q(w: ArrayLike, depth: float) -> FloatArray:
    """The potential q_p(w) = integral_0^w h_p^{-1}(s) ds (even, convex, q_p(0) = 0).

    p = 2 (the hypentropy): q_2(w) = w arcsinh(w/2) - w^2 / (2 + sqrt(w^2 + 4)), which is
    2 - sqrt(w^2 + 4) + w arcsinh(w/2) written without cancellation.
    p > 2, with z = h_p^{-1}(|w|): the Legendre form q_p(w) = |w| z - (Phi_p(z) - Phi_p(0)),
    Phi_p(z) = ((p - 2)/2) [(1 - z)^(-2/(p-2)) + (1 + z)^(-2/(p-2))]; for z < 0.1 the positive
    series q_p = 2k sum_{j even} C(k + j, j) z^(j+2) / (j + 2), which is the integral of
    t h_p'(t) from 0 to z.

    Parameters
    ----------
    w : array, any shape (the scaled weight x / alpha^p).
    depth : p >= 2.
    """
    p = _check_depth(depth)
    ww = np.abs(np.asarray(w, dtype=np.float64))
    if p == 2.0:
        with np.errstate(over="ignore", invalid="ignore"):
            out = ww * np.arcsinh(ww / 2.0) - ww * (ww / (2.0 + np.hypot(ww, 2.0)))
        return np.asarray(np.where(np.isinf(ww), np.inf, out), dtype=np.float64)
    k = p / (p - 2.0)
    z_abs, log_slack = _inverse_abs(ww, p)
    with np.errstate(over="ignore", invalid="ignore"):
        closed = ww * z_abs - _delta_phi(z_abs, log_slack, p)
    out = np.where(np.isinf(ww), np.inf, closed)
    series = z_abs < SERIES_Z
    if np.any(series):
        zs = z_abs[series]
        z2 = zs * zs
        coeff = np.ones_like(zs)  # C(k + j, j) z^j for the current even j
        total = np.zeros_like(zs)
        j = 0
        while j < 1_000_000:
            term = coeff / (j + 2)
            total += term
            ratio = z2 * (k + j + 1) * (k + j + 2) / ((j + 1) * (j + 2))
            # Past the largest term the ratios only fall, so the tail is below term * 2.
            if np.all(ratio < 0.5) and np.all(term <= 1e-17 * total):
                break
            coeff = coeff * ratio
            j += 2
        out[series] = 2.0 * k * total * z2
    return np.asarray(out, dtype=np.float64)


def g(x: ArrayLike, depth: float) -> FloatArray:
    """The tie-break penalty g_p: g_2(x) = |x| log|x| (0 at x = 0), g_p(x) = -|x|^(2/p).

    As alpha -> 0 the flow's limit tends to the point of the BP face S minimizing
    sum_i g_p(x_i).
    """
    p = _check_depth(depth)
    ax = np.abs(np.asarray(x, dtype=np.float64))
    if p == 2.0:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.where(ax > 0, ax * np.log(np.where(ax > 0, ax, 1.0)), 0.0))
    return np.asarray(-(ax ** (2.0 / p)), dtype=np.float64)


def log_uv_from_x(x: ArrayLike, *, depth: float, log_alpha: float) -> tuple[FloatArray, FloatArray]:
    """ln u and ln v of the flow's state from x = u^p - v^p (started at u = v = alpha).

    Along the flow x = alpha^p h_p(z) with (docs/potentials.md)

        p = 2: u = alpha e^(z/2), v = alpha e^(-z/2);
        p > 2: u = alpha (1 - z)^(-1/(p-2)), v = alpha (1 + z)^(-1/(p-2)),

    so z = h_p^{-1}(x / alpha^p) recovers both; x / alpha^p is handled as ln|x| - p ln alpha,
    so the logs are right where u, v or alpha^p under- or overflow.

    Parameters
    ----------
    x : array, any shape.  depth : p >= 2.  log_alpha : ln alpha.

    Returns
    -------
    log_u, log_v : arrays of x's shape (natural logs).
    """
    p = _check_depth(depth)
    xx = np.asarray(x, dtype=np.float64)
    ax = np.abs(xx)
    with np.errstate(divide="ignore"):
        log_w = np.where(ax > 0, np.log(np.where(ax > 0, ax, 1.0)) - p * log_alpha, -np.inf)
    sign = np.sign(xx)
    if p == 2.0:
        with np.errstate(over="ignore"):
            z_abs = np.where(log_w > 40.0, log_w, np.arcsinh(np.exp(np.minimum(log_w, 40.0)) / 2))
        half = sign * z_abs / 2.0
        return np.asarray(log_alpha + half), np.asarray(log_alpha - half)
    z_abs, log_near = inverse_slack(log_w, p)  # log_near = ln(1 - |z|)
    log_far = np.log1p(z_abs)  # ln(1 + |z|)
    log_one_minus_z = np.where(sign >= 0, log_near, log_far)
    log_one_plus_z = np.where(sign >= 0, log_far, log_near)
    scale = 1.0 / (p - 2.0)
    return (
        np.asarray(log_alpha - scale * log_one_minus_z),
        np.asarray(log_alpha - scale * log_one_plus_z),
    )


# ------------------------------------------------------------------- depth families
# The flow's limit, its ODE and its certificate use the potential of one depth family in
# three sets of coordinates (docs/limit.md, "The pieces in the code"): the BP-face
# coordinates of limit.py (the support map on J, the off map elsewhere), and the full dual
# of dual_check.py, possibly from a per-coordinate start u(0) = u0, v(0) = v0. Each family
# is one class; each method is a pure function of its arrays, in whatever precision they
# carry (float64, long double, or mpmath objects through ``ops``).


class DualStart(Protocol):
    """The start's constants in working precision, as the full dual needs them.

    pu, pv : p ln u0, p ln v0 ((N,) or scalars; both p ln alpha for the balanced start).
    log_ru, log_rv, ru, rv : (p - 2) ln(u0 / alpha), (p - 2) ln(v0 / alpha) and their exps
        (0 and 1 for the balanced start; unused for p = 2).
    p, q : the depth and p / (p - 2) (q None for p = 2).
    """

    pu: Any
    pv: Any
    log_ru: Any
    log_rv: Any
    ru: Any
    rv: Any
    p: Any
    q: Any


def cancellation_free_difference(b: Any, w: Any, ops: Any) -> Any:
    """exp(b + w) - exp(b) without cancellation: exp(b) expm1(w) where |w| <= 1 (x small
    against alpha^p: large alpha, or p near 2). w is passed, not formed as a - b."""
    near = np.abs(w) <= 1
    return np.where(near, ops.exp(b) * ops.expm1(w), ops.exp(b + w) - ops.exp(b))


@dataclass(frozen=True)
class EntropicPotential:
    """Depth p = 2 (docs/limit.md). L = ln(1/alpha^2), c = max(L, 0), kappa = 1.

    BP-face coordinates: on J, with u = s_J a_J^T U_R a_hat and w = s_J a_J^T lam (= 1),

        x_J = s_J (e^(-L + c w + u) - e^(-L - c w - u)),
        dx_J/du = e^(-L + c w + u) + e^(-L - c w - u);

    off J, with z = a_i^T mu: x_i = e^(-L + z) - e^(-L - z), dx_i/dz = e^(-L + z) + e^(-L - z).
    Every theta is in the domain (only overflow limits it).

    Full dual from (u0, v0), P_u = 2 ln u0, P_v = 2 ln v0, z = a_i^T mu:

        x_i = e^(P_u + z) - e^(P_v - z) = dPhi_i/dz,  Phi_i = e^(P_u + z) + e^(P_v - z).
    """

    log_alpha: float

    @property
    def depth(self) -> float:
        return 2.0

    @property
    def p_log_alpha(self) -> float:
        return 2.0 * self.log_alpha

    @property
    def L(self) -> float:
        return -2.0 * self.log_alpha

    @property
    def c(self) -> float:
        return max(self.L, 0.0)

    @property
    def log_kappa(self) -> float:
        return 0.0

    @property
    def kappa(self) -> float:
        return 1.0

    def support_map(self, u: NDArray[Any], w: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        """(s_J x_J, dx_J/du) on J; both (|J|,), in u's precision."""
        e1 = np.exp(-self.L + self.c * w + u)
        e2 = np.exp(-self.L - self.c * w - u)
        return e1 - e2, e1 + e2

    def off_map(self, z: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        """(x, dx/dz) off J; both (|off|,)."""
        f1, f2 = np.exp(-self.L + z), np.exp(-self.L - z)
        return f1 - f2, f1 + f2

    def face_in_domain(self, u: FloatArray, w: FloatArray, z: FloatArray) -> bool:
        """True when the maps are finite at (u, z): exp(-L +- z) overflows for large z, and
        such a point is useless as a Newton iterate (its Jacobian is inf/nan)."""
        with np.errstate(over="ignore", invalid="ignore"):
            arrays = (*self.support_map(u, w), *self.off_map(z))
        return all(bool(np.all(np.isfinite(a))) for a in arrays)

    def face_slack_pairs(
        self, u: FloatArray, du: FloatArray, w: FloatArray, z: FloatArray, dz: FloatArray
    ) -> list[tuple[FloatArray, FloatArray]]:
        """The (slack, rate) pairs a step must keep positive: none for p = 2."""
        return []

    def face_system(self, mag: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(row weights, right-hand side) of the least squares for a_hat putting |x_J| at
        ``mag`` as alpha -> 0: e^(-L + c w + u) = mag, i.e. u = ln mag + L - c w."""
        return np.ones_like(mag), np.log(mag) + self.L - self.c * w

    def dual_terms(self, z: Any, start: DualStart, ops: Any) -> tuple[Any, Any, Any]:
        """(x, dx/dz, sum Phi) of the full dual at z = A^T mu ((N,) each, Phi summed)."""
        e1, e2 = ops.exp(start.pu + z), ops.exp(start.pv - z)
        x = cancellation_free_difference(start.pv - z, start.pu - start.pv + 2 * z, ops)
        return x, e1 + e2, np.sum(e1 + e2)

    def dual_in_domain(self, z: Any, start: DualStart) -> bool:
        return True

    def dual_slack_pairs(self, z: Any, dz: Any, start: DualStart) -> list[tuple[Any, Any]]:
        return []


@dataclass(frozen=True)
class PowerPotential:
    """Depth p > 2 (docs/limit.md). q = p / (p - 2), c = 1, kappa = alpha^(p-2).

    BP-face coordinates: on J, with the scaled slack -u = (1 - |a_i^T mu|) / kappa > 0 and
    the other side's 2 w + kappa u > 0 (w = 1 up to rounding),

        x_J = s_J ((-u)^(-q) - alpha^p (2 w + kappa u)^(-q)),
        dx_J/du = q ((-u)^(-q-1) + alpha^p kappa (2 w + kappa u)^(-q-1));

    off J, |z| < 1: x_i = alpha^p ((1 - z)^(-q) - (1 + z)^(-q)),
    dx_i/dz = q alpha^p ((1 - z)^(-q-1) + (1 + z)^(-q-1)). All in the log domain.

    Full dual from (u0, v0), r_u = (u0 / alpha)^(p-2), r_v = (v0 / alpha)^(p-2):

        x_i = u0^p (1 - r_u z)^(-q) - v0^p (1 + r_v z)^(-q) = dPhi_i/dz,
        Phi_i = ((p - 2)/2) (u0^p / r_u (1 - r_u z)^(1-q) + v0^p / r_v (1 + r_v z)^(1-q)),

    on the domain r_u z < 1, r_v z > -1.
    """

    depth: float
    log_alpha: float

    @property
    def p_log_alpha(self) -> float:
        return self.depth * self.log_alpha

    @property
    def q(self) -> float:
        return self.depth / (self.depth - 2.0)

    @property
    def c(self) -> float:
        return 1.0

    @property
    def log_kappa(self) -> float:
        return (self.depth - 2.0) * self.log_alpha

    @property
    def kappa(self) -> float:
        """alpha^(p-2); it may underflow to 0, which then only drops terms."""
        return math.exp(self.log_kappa)

    def support_map(self, u: NDArray[Any], w: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        """(s_J x_J, dx_J/du) on J; both (|J|,), in u's precision."""
        q, pla = self.q, self.p_log_alpha
        log_s = np.log(-u)  # the scaled slack on the active side
        log_other = np.log(2 * w + self.kappa * u)
        x = np.exp(-q * log_s) - np.exp(pla - q * log_other)
        d = q * (np.exp(-(q + 1) * log_s) + np.exp(pla + self.log_kappa - (q + 1) * log_other))
        return x, d

    def off_map(self, z: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        """(x, dx/dz) off J; both (|off|,)."""
        q, pla = self.q, self.p_log_alpha
        log_plus, log_minus = np.log1p(-z), np.log1p(z)
        x = np.exp(pla - q * log_plus) - np.exp(pla - q * log_minus)
        d = q * (np.exp(pla - (q + 1) * log_plus) + np.exp(pla - (q + 1) * log_minus))
        return x, d

    def face_in_domain(self, u: FloatArray, w: FloatArray, z: FloatArray) -> bool:
        """Every slack positive: -u > 0, 2 w + kappa u > 0 on J, |z| < 1 off J."""
        return bool(np.all(-u > 0) and np.all(2 * w + self.kappa * u > 0) and np.all(np.abs(z) < 1))

    def face_slack_pairs(
        self, u: FloatArray, du: FloatArray, w: FloatArray, z: FloatArray, dz: FloatArray
    ) -> list[tuple[FloatArray, FloatArray]]:
        """The (slack, rate) pairs a step (du, dz) must keep positive."""
        return [(-u, du), (2 * w + self.kappa * u, -self.kappa * du), (1 - z, dz), (1 + z, -dz)]

    def face_system(self, mag: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(row weights, right-hand side) of the relative least squares for a_hat putting
        |x_J| at ``mag`` as alpha -> 0: (-u)^(-q) = mag, i.e. -u = mag^(-1/q), capped so that
        the other side's slack stays positive."""
        s_hat = mag ** (-1.0 / self.q)
        if self.kappa > 0:
            s_hat = np.minimum(s_hat, 0.5 * w / self.kappa)
        return 1.0 / s_hat, -np.ones_like(s_hat)

    def dual_terms(self, z: Any, start: DualStart, ops: Any) -> tuple[Any, Any, Any]:
        """(x, dx/dz, sum Phi) of the full dual at z = A^T mu ((N,) each, Phi summed)."""
        q = start.q
        lp, lm = ops.log1p(-start.ru * z), ops.log1p(start.rv * z)
        x = cancellation_free_difference(
            start.pv - q * lm, start.pu - start.pv - q * (lp - lm), ops
        )
        d = q * (
            ops.exp(start.log_ru + start.pu - (q + 1) * lp)
            + ops.exp(start.log_rv + start.pv - (q + 1) * lm)
        )
        phi = (
            (start.p - 2)
            / 2
            * np.sum(
                ops.exp(start.pu - start.log_ru - (q - 1) * lp)
                + ops.exp(start.pv - start.log_rv - (q - 1) * lm)
            )
        )
        return x, d, phi

    def dual_in_domain(self, z: Any, start: DualStart) -> bool:
        """r_u z < 1 and r_v z > -1, compared in working precision (1 - 1e-36 is not 1)."""
        return bool(np.all(start.ru * z < 1) and np.all(start.rv * z > -1))

    def dual_slack_pairs(self, z: Any, dz: Any, start: DualStart) -> list[tuple[Any, Any]]:
        return [(1 - start.ru * z, start.ru * dz), (1 + start.rv * z, -start.rv * dz)]


DepthPotential = EntropicPotential | PowerPotential


def depth_potential(depth: float, log_alpha: float) -> DepthPotential:
    """The potential of ``depth``'s family at scale ln alpha = ``log_alpha``."""
    p = _check_depth(depth)
    return EntropicPotential(log_alpha) if p == 2.0 else PowerPotential(p, log_alpha)


# Below this r = 2/p (p > 100) the tie-break penalty is written in its large-depth form.
LARGE_DEPTH_R = 0.02


def tie_break_penalty(depth: float, v: FloatArray) -> tuple[float, FloatArray, FloatArray]:
    """(f(v), grad f, diag hess f) of the strictly convex penalty whose minimizer on the BP
    face is the depth's selected point (docs/model.md §4), for v = s_J x_J > 0 (|J|,):

    - p = 2: f = sum v log v (the family's g_2, maximum entropy);
    - 2 < p < inf: f = -sum (v^r - v) / (1 - r), r = 2/p (g_p = -|x|^r shifted by a
      multiple of sum v, which is constant on the face, and scaled so that p -> 2+ tends to
      the entropy); for p > 100, f = -sum (v^r - 1) / r (same minimizer, O(1) Hessian);
    - p = inf: f = -sum log v.
    """
    if depth == 2.0:
        logv = np.log(v)
        return float(np.sum(v * logv)), logv + 1.0, 1.0 / v
    if math.isinf(depth):
        return float(-np.sum(np.log(v))), -1.0 / v, 1.0 / v**2
    r = 2.0 / depth
    if r < LARGE_DEPTH_R:
        # -sum (v^r - 1) / r, = -sum log v - (r / 2) sum log^2 v - ...: the same minimizer
        # (maximize sum v^r) with an O(1) Hessian for every large p (the form below has
        # Hessian r v^(r-2), which vanishes with r: at p = 1e17 Newton could not converge),
        # and tending to the p = inf rule.
        logv = np.log(v)
        vr = np.exp(r * logv)
        return float(-np.sum(np.expm1(r * logv)) / r), -vr / v, (1.0 - r) * vr / v**2
    # -sum v^r with r = 2/p, written as -sum (v^r - v) / eps, eps = 1 - r: the same minimizer
    # on the face (sum v is constant there) and continuous as p -> 2+, where it tends to the
    # entropy sum v log v; expm1 keeps p = 2.0000001 accurate.
    eps = 1.0 - r
    logv = np.log(v)
    shrink = np.expm1(-eps * logv)  # v^(-eps) - 1
    vr = v * (shrink + 1.0)  # v^r
    return float(-np.sum(v * shrink) / eps), -shrink / eps + shrink + 1.0, r * vr / v**2


# --------------------------------------------------------------------------- the report


def evaluate_potentials(
    depths: Sequence[float],
    *,
    z: Sequence[float] = DEFAULT_Z,
    w: Sequence[float] | None = None,
) -> PotentialsReport:
    """h_p, q_p and g_p for each depth.

    Parameters
    ----------
    depths : the depths p >= 2.
    z : (K,) points for h_p; in (-1, 1) when some depth exceeds 2.
    w : (L,) points for q_p and g_p; default the grid w = h_p(z) of each depth.

    Raises
    ------
    ValueError : a depth below 2 or a z outside (-1, 1) for p > 2.
    """
    start = time.perf_counter()
    zs = np.asarray(z, dtype=np.float64)
    curves = []
    for depth in depths:
        p = _check_depth(depth)
        hz = h(zs, p)
        ws = hz if w is None else np.asarray(w, dtype=np.float64)
        curves.append(PotentialCurve(p, zs.copy(), hz, ws.copy(), q(ws, p), g(ws, p)))
    return PotentialsReport(tuple(curves), time.perf_counter() - start)


def trajectory_uv(
    xs: FloatArray, *, depth: float, log_alpha: float
) -> tuple[dict[str, FloatArray], str]:
    """u(t), v(t) for a saved trajectory x(t) (K, N): always ``log_u`` and ``log_v``, and
    ``u`` and ``v`` themselves when every value is a normal float. Returns the arrays and a
    note ("" when u and v are included)."""
    log_u, log_v = log_uv_from_x(xs, depth=depth, log_alpha=log_alpha)
    out = {"log_u": log_u, "log_v": log_v}
    low, high = math.log(np.finfo(np.float64).tiny), math.log(np.finfo(np.float64).max)
    logs = np.concatenate([log_u.ravel(), log_v.ravel()])
    if logs.size and (logs.min() < low or logs.max() > high):
        return out, (
            f"u(t), v(t) reach e^{logs.min():.4g}…e^{logs.max():.4g}, outside float range: "
            "saved as log_u, log_v (natural logs) only"
        )
    out["u"], out["v"] = np.exp(log_u), np.exp(log_v)
    return out, ""
