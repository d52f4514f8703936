"""Adversarial cases of the flow limit, training and path (each family from a found failure).

References are independent of the code under test: the 80-digit mpmath Newton of
tests/reference/mp_limit.py (no BP face, no scaled coordinates), plain GD loops on (u, v) in
float64 or mpmath, and exact power-of-two rescalings of the data.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlncli.arrays import LN10
from dlncli.dln.limit import flow_limit
from tests.reference.mp_limit import mp_flow_limit

# ------------------------------------------------------------------ nearly dependent rows

# A = [[1, 1, 0], [1, 1 + eps, eps]], y = (1, 1): BP's unique minimizer is (1, 0, 0), and
# x = (1/2, 1/2, 0) fits the data to eps / 2. A residual test alone certified that point.
NEAR_DEPENDENT = [
    (depth, log10_alpha, eps)
    for depth, log10_alpha in ((3.0, -6.0), (2.0, -3.0), (2.5, -4.0))
    for eps in (1e-16, 1e-15, 1e-14, 1e-13, 1e-12)
]


@pytest.mark.parametrize(("depth", "log10_alpha", "eps"), NEAR_DEPENDENT)
def test_nearly_dependent_rows_are_right_or_not_certified(
    depth: float, log10_alpha: float, eps: float
) -> None:
    A = np.array([[1.0, 1.0, 0.0], [1.0, 1.0 + eps, eps]])
    y = np.array([1.0, 1.0])
    result = flow_limit(A, y, depth=depth, log_alpha=log10_alpha * LN10)
    ref = np.array(
        [float(v) for v in mp_flow_limit(A.tolist(), y.tolist(), depth, log10_alpha, dps=80)]
    )
    error = float(np.max(np.abs(result.x - ref))) / float(np.max(np.abs(ref)))
    if result.certified:
        assert error <= 1e-8, (result.x, ref, result.route, result.check_precision)
        assert result.error_bound <= 1e-9
    else:
        assert "not certified" in result.message


@pytest.mark.parametrize("eps", [1e-15, 1e-14])
def test_nearly_dependent_rows_are_certified_right_by_mpmath(eps: float) -> None:
    # The brief's two reproductions: the answer is certified, and it is the reference's.
    for depth, log10_alpha in ((3.0, -6.0), (2.0, -3.0)):
        A = np.array([[1.0, 1.0, 0.0], [1.0, 1.0 + eps, eps]])
        y = np.array([1.0, 1.0])
        result = flow_limit(A, y, depth=depth, log_alpha=log10_alpha * LN10)
        ref = [float(v) for v in mp_flow_limit(A.tolist(), y.tolist(), depth, log10_alpha, dps=80)]
        assert result.certified
        assert result.x == pytest.approx(ref, rel=1e-8, abs=1e-12)
        assert result.x[0] == pytest.approx(1.0, abs=1e-2)


def test_float_check_does_not_certify_the_half_half_point() -> None:
    # The error bound itself, at the wrong point, in float64 and long double: not <= 1e-9.
    from dlncli.dln import dual_check
    from dlncli.dln.potentials import depth_potential

    A = np.array([[1.0, 1.0, 0.0], [1.0, 1.0 + 1e-15, 1e-15]])
    y = np.array([1.0, 1.0])
    for arith in (dual_check.FLOAT64, dual_check.LONGDOUBLE):
        problem = dual_check.DualProblem(A, y, depth_potential(3.0, -6 * LN10), arith)
        with arith.context():
            # mu from the start of the continuation: Newton from mu = 0 lands near (1/2, 1/2, 0)
            solve = dual_check.newton(problem, arith.array(np.zeros(2)), tol=1e-13)
        if solve.converged:
            assert np.max(np.abs(solve.x - np.array([1.0, 0.0, 0.0]))) <= 1e-8
        else:
            assert not solve.error_bound <= dual_check.ERROR_TOL


def test_dependent_rows_are_still_certified() -> None:
    # Exactly dependent rows carry no information: they are dropped (exact rank), not a
    # reason to refuse a certificate.
    A = np.array([[1.0, 2.0, 0.5, 0.0], [0.0, 1.0, 1.0, 3.0], [1.0, 2.0, 0.5, 0.0]])
    y = np.array([1.0, 2.0, 1.0])
    result = flow_limit(A, y, depth=3.0, log_alpha=-2 * LN10)
    ref = [float(v) for v in mp_flow_limit(A[:2].tolist(), y[:2].tolist(), 3.0, -2.0, dps=50)]
    assert result.certified
    assert result.x == pytest.approx(ref, rel=1e-10, abs=1e-14)
    assert math.isfinite(result.error_bound)


# ------------------------------------------------------------------ huge depths, tiny alphas


@pytest.mark.parametrize(
    ("depth", "log10_alpha"),
    [(1e4, -6.0), (1e5, -6.0), (1e6, -6.0), (1e300, -6.0), (3.0, -999999999999.0)],
)
def test_unaffordable_checks_are_refused_fast_and_not_certified(
    depth: float, log10_alpha: float
) -> None:
    # These need 60,000 to 6e300 digits in the face-free check: it is not run, and says so
    # (the time limit turns a hang into a TimeLimitError, which fails the test).
    from dlncli.problem_io import load_sample

    p = load_sample("random3x5")
    result = flow_limit(p.A, p.y, depth=depth, log_alpha=log10_alpha * LN10, time_limit=20)
    assert not result.certified
    assert "digits" in result.message
    # The face route's answer is BP's unique minimizer (alpha^p ~ 0), x* of MATH.md §5.
    x_star = [0.0, 0.0, -0.27822, -0.949197, -0.536551]
    assert result.x == pytest.approx(x_star, abs=2e-5)


def test_very_large_depth_tie_break_converges() -> None:
    # p = 1e17: the penalty -sum (v^r - v) / (1 - r) had a Hessian ~ r = 2e-17 and Newton
    # stopped. The large-depth form tends to the p = inf rule (maximize sum log v): on `line`
    # S = {(1 - t, 2 (1 - t), 3 t)}, so the rule gives t = 1/3 (MATH.md §3).
    from dlncli.bp.verdict import solve_basis_pursuit
    from dlncli.dln.tiebreak import select_minimizer
    from dlncli.problem_io import load_sample

    p = load_sample("line")
    bp = solve_basis_pursuit(p.A, p.y)
    chosen = select_minimizer(p.A, p.y, bp, [1e17, 1e4, math.inf]).selections
    third = [2.0 / 3.0, 4.0 / 3.0, 1.0]
    assert chosen[0].x == pytest.approx(third, abs=1e-12)
    assert chosen[2].x == pytest.approx(third, abs=1e-12)
    # p = 1e4: t* = 1 / (1 + (3^(2/p) / (2^(2/p) + 1))^(-p / (p - 2))) (MATH.md §3).
    depth = 1e4
    ratio = 3 ** (2 / depth) / (2 ** (2 / depth) + 1)
    t = 1 / (1 + ratio ** (-depth / (depth - 2)))
    assert chosen[1].x == pytest.approx([1 - t, 2 * (1 - t), 3 * t], abs=1e-12)


def test_mpmath_check_of_tiny_alpha_is_certified_in_bounded_time() -> None:
    # alpha = 1e-2000 at p = 3 needs ~2000 digits; the face dual's refinement used to stop
    # at 1500 digits (100 rounds), so the check fell to a continuation at 2000 digits.
    from dlncli.problem_io import load_sample

    p = load_sample("gauss:15:30:3:0")
    result = flow_limit(p.A, p.y, depth=3.0, log_alpha=-2000 * LN10, time_limit=60)
    assert result.certified, result.message
    bp = flow_limit(p.A, p.y, depth=3.0, log_alpha=-300 * LN10)
    assert result.x == pytest.approx(bp.x, abs=1e-12)
