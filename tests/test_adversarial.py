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
