"""The lasso's minimax noise sensitivity (noise/theory.py) against an independent 50-digit
computation: F(lam; eps) from its definition in mpmath, its minimizer as the root of a
numerical derivative (mpmath.diff), and M+-(delta rho_W(delta)) = delta, which ties the
formula to the project's rho_W (transition/theory.py, parametrized differently)."""

from __future__ import annotations

import math

import mpmath
import pytest

from dlncli.errors import OptionError
from dlncli.noise.theory import (
    minimax_soft_threshold,
    noise_sensitivity,
    noise_sensitivity_table,
)
from dlncli.transition.theory import weak_threshold

mpmath.mp.dps = 50


def _risk(lam: mpmath.mpf, eps: mpmath.mpf) -> mpmath.mpf:
    """F(lam; eps) = eps (1 + lam^2) + 2 (1 - eps) [(1 + lam^2) Phi(-lam) - lam phi(lam)]."""
    tail = mpmath.ncdf(-lam)
    density = mpmath.npdf(lam)
    return eps * (1 + lam**2) + 2 * (1 - eps) * ((1 + lam**2) * tail - lam * density)


def _reference(eps: float) -> tuple[mpmath.mpf, mpmath.mpf]:
    """(argmin, min) of F(.; eps) at 50 digits: a bracketed root of dF/dlam by
    Anderson-Bjorck, the derivative taken numerically by mpmath."""
    e = mpmath.mpf(eps)
    slope = lambda lam: mpmath.diff(lambda t: _risk(t, e), lam)  # noqa: E731
    lam = mpmath.findroot(slope, (mpmath.mpf("1e-8"), mpmath.mpf(12)), solver="anderson")
    return lam, _risk(lam, e)


@pytest.mark.parametrize("eps", [1e-6, 1e-3, 0.01, 0.025, 0.05, 0.1, 0.15, 0.3, 0.6, 0.9, 0.999])
def test_soft_threshold_minimax_matches_50_digit_reference(eps: float) -> None:
    lam, mse = _reference(eps)
    best = minimax_soft_threshold(eps)
    assert best.threshold == pytest.approx(float(lam), rel=1e-10, abs=0)
    assert best.mse == pytest.approx(float(mse), rel=1e-10, abs=0)


@pytest.mark.parametrize("delta", [0.1, 0.25, 0.5, 0.75, 0.9])
@pytest.mark.parametrize("fraction", [0.1, 0.4, 0.8])
def test_noise_sensitivity_matches_50_digit_reference(delta: float, fraction: float) -> None:
    rho = fraction * weak_threshold(delta)
    _, mse = _reference(delta * rho)
    expected = mse / (1 - mse / mpmath.mpf(delta))
    assert noise_sensitivity(delta, rho) == pytest.approx(float(expected), rel=1e-10, abs=0)


def test_published_values() -> None:
    # shared/MATH.md §7 (computed at 40 digits there).
    assert noise_sensitivity(0.5, 0.1) == pytest.approx(0.3443089453, abs=1e-10)
    assert noise_sensitivity(0.5, 0.2) == pytest.approx(0.9602249796, abs=1e-10)
    assert noise_sensitivity(0.25, 0.1) == pytest.approx(0.2426068897, abs=1e-10)
    assert minimax_soft_threshold(0.1).threshold == pytest.approx(1.1401711458, abs=1e-10)


@pytest.mark.parametrize("delta", [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.98])
def test_soft_threshold_minimax_at_the_weak_threshold_is_delta(delta: float) -> None:
    rho_w = weak_threshold(delta)
    assert minimax_soft_threshold(delta * rho_w).mse == pytest.approx(delta, abs=1e-10)
    assert math.isfinite(noise_sensitivity(delta, rho_w * (1 - 1e-6)))
    assert noise_sensitivity(delta, min(rho_w * (1 + 1e-6), 1.0)) == math.inf


def test_ends_of_the_eps_range() -> None:
    assert minimax_soft_threshold(0.0).mse == 0.0
    assert minimax_soft_threshold(0.0).threshold == math.inf
    assert minimax_soft_threshold(1.0).mse == 1.0
    assert minimax_soft_threshold(1.0).threshold == 0.0
    assert noise_sensitivity(0.5, 0.0) == 0.0
    # A tiny eps: F's minimum eps (1 + lam^2) + ... is of the order of eps itself.
    tiny = minimax_soft_threshold(1e-200)
    assert 0 < tiny.mse < 1e-196
    assert math.isfinite(tiny.threshold)


@pytest.mark.parametrize(
    ("delta", "rho"), [(0.0, 0.1), (1.5, 0.1), (math.nan, 0.1), (0.5, -0.1), (0.5, 1.2)]
)
def test_bad_grid_values_are_option_errors(delta: float, rho: float) -> None:
    with pytest.raises(OptionError):
        noise_sensitivity(delta, rho)
    with pytest.raises(OptionError):
        noise_sensitivity_table([delta], [rho])


def test_table_marks_the_region_above_rho_w() -> None:
    report = noise_sensitivity_table([0.25, 0.5], [0.1, 0.2, 0.5])
    assert [(p.delta, p.rho) for p in report.points] == [
        (d, r) for d in (0.25, 0.5) for r in (0.1, 0.2, 0.5)
    ]
    for point in report.points:
        above = point.rho >= point.rho_w
        assert (point.minimax_mse is None) == above
        if not above:
            assert point.minimax_mse == noise_sensitivity(point.delta, point.rho)
    document = report.to_dict()
    assert document["status"] == "ok"
    assert document["noise_sensitivity"][2]["minimax_mse"] is None  # (0.25, 0.5): rho_W < 0.5
