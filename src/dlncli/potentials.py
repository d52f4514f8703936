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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

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


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class PotentialCurve:
    """One depth's functions: h on the z grid, and q, g on the grid w = h_p(z)."""

    depth: float
    z: FloatArray = field(repr=False)  # (K,)
    h: FloatArray = field(repr=False)  # (K,) h_p(z)
    w: FloatArray = field(repr=False)  # (K,) where q and g are evaluated
    q: FloatArray = field(repr=False)  # (K,) q_p(w)
    g: FloatArray = field(repr=False)  # (K,) g_p(w)

    def to_dict(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "z": self.z.tolist(),
            "h": self.h.tolist(),
            "w": self.w.tolist(),
            "q": self.q.tolist(),
            "g": self.g.tolist(),
        }


@dataclass(frozen=True)
class PotentialsReport:
    """The potentials command's result; ``to_dict()`` is its JSON document."""

    curves: tuple[PotentialCurve, ...]
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "message": f"h_p, q_p and g_p for {len(self.curves)} depth(s)",
            "curves": [c.to_dict() for c in self.curves],
            "elapsed_s": self.elapsed_s,
        }


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
