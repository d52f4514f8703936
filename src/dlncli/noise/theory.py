"""The minimax noise sensitivity of the lasso (Donoho, Maleki, Montanari, IEEE Trans. IT 2011).

Notation (docs/noise.md): A is m x N with A_ij ~ N(0, 1/m), z_i ~ N(0, sigma^2), y = A x + z,
delta = m / N, rho = k / m for a k-sparse x, eps = delta * rho = k / N. Phi and phi are the
standard normal CDF and density. For the scalar soft threshold eta(x + Z; lam) of a signal with
P(x != 0) <= eps, the worst-case risk at threshold lam is

    F(lam; eps) = eps (1 + lam^2) + 2 (1 - eps) [(1 + lam^2) Phi(-lam) - lam phi(lam)],

and M+-(eps) = min_lam F(lam; eps). As N -> infinity the lasso at its best lambda has
worst-case mean squared error per coordinate ||x_hat - x||^2 / N = sigma^2 M*(delta, rho),

    M*(delta, rho) = M+-(delta rho) / (1 - M+-(delta rho) / delta),

finite exactly when M+-(delta rho) < delta, i.e. rho < rho_W(delta)
(:func:`dlncli.transition.theory.weak_threshold`). dF/dlam = 2 eps lam - 2 (1 - eps) h(lam)
with h(lam) = E[(|Z| - lam)_+] = 2 (phi(lam) - lam Phi(-lam)), so the minimizer solves
eps lam = (1 - eps) h(lam) (the left side minus the right increases in lam: one root), and
since F = eps (1 + lam^2) + (1 - eps) (2 Phi(-lam) - lam h(lam)), at the root

    M+-(eps) = eps + 2 (1 - eps) Phi(-lam*),

a sum of positive terms (no cancellation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dlncli.errors import OptionError
from dlncli.transition.theory import weak_threshold

__all__ = [
    "NoiseSensitivityPoint",
    "NoiseSensitivityReport",
    "SoftThresholdMinimax",
    "minimax_soft_threshold",
    "noise_sensitivity",
    "noise_sensitivity_table",
]

# h(lam) <= 2 phi(0) < 0.8 bounds the root above by 0.8 (1 - eps) / eps; past lam = 40,
# h(lam) ~ phi(lam) underflows (e^-800), so the root lies below 40 for every eps > 1e-300.
_H_BOUND = 0.8
_LAM_CAP = 40.0


@dataclass(frozen=True)
class SoftThresholdMinimax:
    """M+-(eps) and its minimizing threshold (module docstring).

    eps : the sparsity fraction k / N, in [0, 1].
    threshold : the minimizing lam (inf at eps = 0, 0 at eps = 1).
    mse : M+-(eps) = eps + 2 (1 - eps) Phi(-threshold), in [0, 1].
    """

    eps: float
    threshold: float
    mse: float


def _mean_excess(lam: float) -> float:
    """h(lam) = E[(|Z| - lam)_+] = 2 phi(lam) (1 - lam R(lam)), R the Mills ratio
    Phi(-lam) / phi(lam) = sqrt(pi / 2) erfcx(lam / sqrt 2): the tail keeps its relative
    precision where phi(lam) and Phi(-lam) themselves would underflow together."""
    import scipy.special

    density = math.exp(-0.5 * lam * lam) / math.sqrt(2.0 * math.pi)
    mills = math.sqrt(math.pi / 2.0) * float(scipy.special.erfcx(lam / math.sqrt(2.0)))
    return 2.0 * density * (1.0 - lam * mills)


def minimax_soft_threshold(eps: float) -> SoftThresholdMinimax:
    """M+-(eps) = min_lam F(lam; eps) and its minimizer (module docstring).

    The minimizer is the root of eps lam - (1 - eps) h(lam), bracketed in
    [0, min(0.8 (1 - eps) / eps, 40)] and found by Brent's method to float64 resolution.

    Parameters
    ----------
    eps : k / N, in [0, 1].

    Raises
    ------
    OptionError : eps outside [0, 1] or not a number.
    """
    if not 0.0 <= eps <= 1.0:  # also refuses nan
        raise OptionError("eps", eps, "a number in [0, 1]")
    if eps == 0.0:
        return SoftThresholdMinimax(0.0, math.inf, 0.0)
    if eps == 1.0:
        return SoftThresholdMinimax(1.0, 0.0, 1.0)
    import scipy.optimize
    import scipy.special

    upper = min(_H_BOUND * (1.0 - eps) / eps, _LAM_CAP)
    threshold = float(
        scipy.optimize.brentq(
            lambda lam: eps * lam - (1.0 - eps) * _mean_excess(lam),
            0.0,
            upper,
            xtol=1e-300,
            rtol=8.9e-16,  # the smallest brentq accepts (4 eps)
            maxiter=500,
        )
    )
    tail = float(scipy.special.ndtr(-threshold))
    return SoftThresholdMinimax(eps, threshold, eps + 2.0 * (1.0 - eps) * tail)


def _check_delta_rho(delta: float, rho: float) -> None:
    if not 0.0 < delta <= 1.0:
        raise OptionError("delta", delta, "a number in (0, 1]")
    if not 0.0 <= rho <= 1.0:
        raise OptionError("rho", rho, "a number in [0, 1]")


def noise_sensitivity(delta: float, rho: float) -> float:
    """M*(delta, rho) = M+-(delta rho) / (1 - M+-(delta rho) / delta) (module docstring).

    The lasso's minimax MSE per coordinate is sigma^2 times this; ``math.inf`` when
    M+-(delta rho) >= delta, i.e. at and above rho_W(delta).

    Raises
    ------
    OptionError : delta outside (0, 1] or rho outside [0, 1].
    """
    _check_delta_rho(delta, rho)
    mse = minimax_soft_threshold(delta * rho).mse
    if mse >= delta:
        return math.inf
    return mse / (1.0 - mse / delta)


@dataclass(frozen=True)
class NoiseSensitivityPoint:
    """One (delta, rho) of :func:`noise_sensitivity_table`.

    rho_w : rho_W(delta).  eps : delta rho.  threshold : the minimizing lam of M+-(eps).
    soft_threshold_mse : M+-(eps).  minimax_mse : M*(delta, rho), None for rho >= rho_W
    (the lasso's worst-case MSE is unbounded there).
    """

    delta: float
    rho: float
    rho_w: float
    eps: float
    threshold: float
    soft_threshold_mse: float
    minimax_mse: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "delta": self.delta,
            "rho": self.rho,
            "rho_w": self.rho_w,
            "eps": self.eps,
            "threshold": self.threshold if math.isfinite(self.threshold) else None,
            "soft_threshold_mse": self.soft_threshold_mse,
            "minimax_mse": self.minimax_mse,
        }


@dataclass(frozen=True)
class NoiseSensitivityReport:
    """M*(delta, rho) on a grid, deltas outer, rhos inner (``points`` in that order)."""

    deltas: tuple[float, ...]
    rhos: tuple[float, ...]
    points: tuple[NoiseSensitivityPoint, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "message": "lasso minimax noise sensitivity: MSE per coordinate = sigma^2 minimax_mse",
            "noise_sensitivity": [point.to_dict() for point in self.points],
        }


def noise_sensitivity_table(
    deltas: Sequence[float], rhos: Sequence[float]
) -> NoiseSensitivityReport:
    """M*(delta, rho) for every delta in ``deltas`` and rho in ``rhos``, with rho_W(delta).

    Raises
    ------
    OptionError : a delta outside (0, 1] or a rho outside [0, 1].
    """
    delta_values = tuple(float(d) for d in deltas)
    rho_values = tuple(float(r) for r in rhos)
    points = []
    for delta in delta_values:
        for rho in rho_values:
            _check_delta_rho(delta, rho)
        rho_w = weak_threshold(delta)
        for rho in rho_values:
            best = minimax_soft_threshold(delta * rho)
            finite = best.mse < delta
            points.append(
                NoiseSensitivityPoint(
                    delta,
                    rho,
                    rho_w,
                    best.eps,
                    best.threshold,
                    best.mse,
                    best.mse / (1.0 - best.mse / delta) if finite else None,
                )
            )
    return NoiseSensitivityReport(delta_values, rho_values, tuple(points))
