"""Flow limits from widely spread per-coordinate starts (u0, v0 over many decades: weighted
l1, per-coordinate scales) against an independent integration of the raw flow in
(ln u, ln v) with Radau: no mirror map, no dual, no continuation (docs/limit.md)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.integrate import solve_ivp

from dlncli.dln import dual_check
from dlncli.dln.limit import unbalanced_limit
from dlncli.problem_io import load_sample

FloatArray = NDArray[np.float64]


def raw_flow_end(
    A: FloatArray, y: FloatArray, depth: float, log_u0: FloatArray, log_v0: FloatArray
) -> FloatArray:
    """x at t = 1e6 of d ln u/dt = -p u^(p-2) g, d ln v/dt = p v^(p-2) g, g = A^T(Ax - y)."""
    n, p = A.shape[1], depth

    def rhs(_t: float, w: FloatArray) -> FloatArray:
        lu, lv = w[:n], w[n:]
        g = A.T @ (A @ (np.exp(p * lu) - np.exp(p * lv)) - y)
        return np.concatenate([-p * np.exp((p - 2) * lu) * g, p * np.exp((p - 2) * lv) * g])

    start = np.concatenate([log_u0, log_v0])
    sol = solve_ivp(rhs, (0.0, 1e6), start, method="Radau", rtol=1e-12, atol=1e-13)
    assert sol.success
    w = sol.y[:, -1]
    return np.asarray(np.exp(p * w[:n]) - np.exp(p * w[n:]))


@pytest.mark.parametrize(
    ("name", "depth", "spread", "route"),
    [
        # u0^2 up to e^28 against |x| ~ 1: the cancellation in x = u0^2 e^z - v0^2 e^-z costs
        # digits, so the Newton runs in extended precision (float64 stalled at a 1e-8 residual).
        ("random3x5", 2.0, 6.0, "unbalanced Newton"),
        # The balanced limit's dual is outside this start's domain r_u z < 1: the homotopy
        # from the balanced start pulls each stage's start inside (the common-scale
        # continuation failed here).
        ("gauss:10:30:3:0", 4.0, 6.0, "unbalanced homotopy"),
    ],
)
def test_spread_starts_match_the_raw_flow(
    name: str, depth: float, spread: float, route: str
) -> None:
    problem = load_sample(name)
    A, y = problem.A, problem.y
    n = A.shape[1]
    center = -4.0
    rng = np.random.default_rng(int(spread * 7 + depth * 3))
    log_u0 = np.asarray(center + spread * rng.standard_normal(n), dtype=np.float64)
    log_v0 = np.asarray(center + spread * rng.standard_normal(n), dtype=np.float64)
    limit = unbalanced_limit(A, y, depth=depth, log_u0=log_u0, log_v0=log_v0, log_alpha=center)
    assert limit.certified and limit.route == route
    assert limit.check_precision != "float64"  # see start_lost_digits
    reference = raw_flow_end(A, y, depth, log_u0, log_v0)
    assert np.max(np.abs(limit.x - reference)) <= 1e-10 * (1.0 + np.max(np.abs(reference)))


def test_start_digits_count_the_cancellation_at_the_top() -> None:
    # Balanced-like: only the slacks' digits (lost_digits); a start whose largest u0^p is
    # e^28 against max|x| = 1 loses ceil(28 / ln 10) = 13 digits to cancellation.
    assert dual_check.start_lost_digits(2.0, -3.0, -3.0, 1.0) == dual_check.lost_digits(
        2.0, -3.0, 1.0
    )
    assert dual_check.start_lost_digits(2.0, -3.0, 14.0, 1.0) == 13
    assert dual_check.start_lost_digits(4.0, -3.0, 7.0, 1.0) == 13


def test_gd_prediction_at_alpha_1e_minus_100() -> None:
    # GD's effective start spans ln u0 ~ -262 ... -279 at alpha = 1e-100: the limit from it
    # failed to converge before the start's precision counted both of its ends.
    from dlncli.dln.train import train

    problem = load_sample("random3x5")
    run = train(problem.A, problem.y, depth=2.0, log_alpha=-100 * np.log(10.0), lr=0.1)
    assert run.converged and run.prediction_error is not None
    assert run.prediction_error <= 1e-9 * float(np.max(np.abs(run.x)))
