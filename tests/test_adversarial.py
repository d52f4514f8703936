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


# ------------------------------------------------------------------ GD: sign flips, floor, scale


def _plain_gd(
    A: np.ndarray, y: np.ndarray, alpha: float, lr: float, steps: int
) -> tuple[np.ndarray, list[float]]:
    """GD on (u, v) at p = 2 exactly as written: u <- u - eta 2 u g, v <- v + eta 2 v g,
    g = A^T (A x - y), x = u^2 - v^2 (no logs, no sign bookkeeping)."""
    n = A.shape[1]
    u, v = np.full(n, alpha), np.full(n, alpha)
    losses = []
    for _ in range(steps):
        r = A @ (u * u - v * v) - y
        losses.append(0.5 * float(r @ r))
        g = A.T @ r
        u, v = u - lr * 2 * u * g, v + lr * 2 * v * g
    return u * u - v * v, losses


def test_depth_two_gd_goes_through_sign_flips() -> None:
    # The brief's reproduction: every factor 1 - 2 eta g <= 0 used to be called divergence.
    from dlncli.dln.train import train
    from dlncli.problem_io import load_sample

    p = load_sample("random3x5")
    lr = 0.4072791264328213
    run = train(p.A, p.y, depth=2.0, log_alpha=math.log(1e-3), lr=lr)
    assert not run.diverged and run.converged, run.message
    x_plain, losses = _plain_gd(p.A, p.y, 1e-3, lr, run.steps)
    assert min(losses) < 1e-20  # the plain loop converges too (independent of the code)
    assert run.x == pytest.approx(x_plain, abs=1e-9)
    # The effective-start identity, with ln|1 - a|: the prediction is the iterate.
    assert run.predicted_x is not None and run.prediction_error is not None
    assert run.prediction_error <= 1e-8
    # Some factor was <= 0 on the way (else this is not the case it claims to be).
    u = np.full(5, 1e-3)
    v = np.full(5, 1e-3)
    flipped = False
    for _ in range(run.steps):
        g = p.A.T @ (p.A @ (u * u - v * v) - p.y)
        flipped |= bool(np.any(1 - 2 * lr * g <= 0) or np.any(1 + 2 * lr * g <= 0))
        u, v = u * (1 - 2 * lr * g), v * (1 + 2 * lr * g)
    assert flipped


@pytest.mark.parametrize("lr", [0.25, 0.3, 0.35, 0.4])
def test_depth_two_flip_family_matches_plain_gd(lr: float) -> None:
    # Step sizes from half the stability bound up (random3x5 at alpha = 1e-3).
    from dlncli.dln.train import train
    from dlncli.problem_io import load_sample

    p = load_sample("random3x5")
    run = train(p.A, p.y, depth=2.0, log_alpha=math.log(1e-3), lr=lr, max_steps=3000, predict=False)
    x_plain, losses = _plain_gd(p.A, p.y, 1e-3, lr, run.steps)
    if run.diverged:
        assert not math.isfinite(losses[-1]) or losses[-1] > 1e6 * losses[0]
    else:
        assert run.x == pytest.approx(x_plain, rel=1e-6, abs=1e-9)


def test_depth_three_leaving_the_orthant_is_still_divergence() -> None:
    from dlncli.dln.train import train
    from dlncli.problem_io import load_sample

    p = load_sample("line")
    run = train(p.A, p.y, depth=3.0, log_alpha=math.log(0.1), lr=0.05)
    assert run.diverged
    assert "leave u, v > 0" in run.message and "2/lambda_max" in run.message


@pytest.mark.parametrize("exponent", [-490, -300, -150, -1, 1, 150, 300, 490])
def test_train_is_invariant_under_exact_rescaling(exponent: int) -> None:
    # GD on (S A, S y) with step eta / S^2 has the same iterates (S = 2^k exactly).
    from dlncli.dln.train import train
    from dlncli.problem_io import load_sample

    p = load_sample("line")
    base = train(p.A, p.y, depth=3.0, log_alpha=math.log(0.1), lr=0.02)
    scaled = train(
        np.ldexp(p.A, exponent),
        np.ldexp(p.y, exponent),
        depth=3.0,
        log_alpha=math.log(0.1),
        lr=math.ldexp(0.02, -2 * exponent),
    )
    assert base.converged and scaled.converged
    assert scaled.steps == base.steps
    np.testing.assert_array_equal(scaled.x, base.x)
    assert scaled.loss == pytest.approx(math.ldexp(base.loss, 2 * exponent), rel=1e-12, abs=0)
    assert scaled.stability_bound == pytest.approx(
        math.ldexp(base.stability_bound, -2 * exponent), rel=1e-12, abs=0
    )


def test_tiny_data_is_refused_not_converged_at_step_zero() -> None:
    # line x 1e-300: 1/2 ||y||^2 underflowed to 0 and "converged" at step 0 with x = 0. The
    # run is made on the normalized data, where eta = 0.01 is a step of 1e-602: refused.
    from dlncli.dln.train import train
    from dlncli.errors import OptionError
    from dlncli.problem_io import load_sample

    p = load_sample("line")
    for scale in (1e-300, 2.0**-1070):  # the second is subnormal data
        with pytest.raises(OptionError):
            train(p.A * scale, p.y * scale, depth=2.0, log_alpha=math.log(0.1), lr=0.01)


def test_gd_at_the_rounding_floor_is_converged() -> None:
    # p = 3, alpha = 0.1, eta = 0.05 on 10 x 30: the loss stalls at 6e-29, just above
    # tol * 1/2 ||y||^2 = 1.5e-29; at the floor of the computed ||A x - y|| it is converged.
    from dlncli.dln.train import train
    from dlncli.problem_io import load_sample

    p = load_sample("gauss:10:30:3:2")
    tol = 1e-30
    run = train(p.A, p.y, depth=3.0, log_alpha=math.log(0.1), lr=0.05, tol=tol)
    assert run.converged, run.message
    assert run.loss > tol * 0.5 * float(p.y @ p.y)  # the case it claims to be
    assert "rounding floor" in run.message
    assert run.predicted_x is not None and run.prediction_error is not None
    assert run.prediction_error <= 1e-9
    # The residual GD reached is at rounding level: compare with the exact-in-mpmath
    # residual of the same float x (an independent evaluation).
    import mpmath

    with mpmath.workdps(50):
        exact = [
            mpmath.fsum(
                mpmath.mpf(float(a)) * mpmath.mpf(float(v)) for a, v in zip(row, run.x, strict=True)
            )
            - mpmath.mpf(float(t))
            for row, t in zip(p.A, p.y, strict=True)
        ]
        residual = float(mpmath.sqrt(mpmath.fsum(e * e for e in exact)))
    assert residual <= 1e-13 * float(np.linalg.norm(p.y))


def test_stability_bound_at_huge_alpha_is_finite_or_zero_not_an_exception() -> None:
    from dlncli.dln.train import hessian_lambda_max, train
    from dlncli.problem_io import load_sample

    p = load_sample("random3x5")
    run = train(p.A, p.y, depth=2.0, log_alpha=300 * LN10, lr=0.02, predict=False)
    assert run.diverged and "2/lambda_max" in run.message
    # lambda_max scales exactly: at u = v = c, H = 4 c^2 J0^T A^T A J0 - ... (p = 2, x = 0).
    for c in (1e-200, 1.0, 1e100):
        lam = hessian_lambda_max(p.A, p.y, np.full(5, math.log(c)), np.full(5, math.log(c)), 2.0)
        J = np.concatenate([np.eye(5), -np.eye(5)], axis=1)
        g = -p.A.T @ p.y
        H = 4 * c * c * (p.A @ J).T @ (p.A @ J) + np.diag(np.concatenate([2 * g, -2 * g]))
        assert lam == pytest.approx(float(np.linalg.eigvalsh(H)[-1]), rel=1e-9, abs=0)


# ------------------------------------------------------------------ path: the data's scale


@pytest.mark.parametrize("exponent", [-996, -664, -500, -1, 0, 1, 500, 664, 996])
@pytest.mark.parametrize("name", ["line", "random3x5"])
def test_path_is_invariant_under_exact_rescaling(name: str, exponent: int) -> None:
    # line x 1e+-200 / 1e+-300 said "0 jumps" with x = 0. S = 2^k from 1e-300 to 1e300.
    from dlncli.dln.path import path
    from dlncli.problem_io import load_sample

    p = load_sample(name)
    base = path(p.A, p.y, depth=2.0)
    scaled = path(np.ldexp(p.A, exponent), np.ldexp(p.y, exponent), depth=2.0)
    assert len(scaled.saddles) == len(base.saddles) > 1
    for s, b in zip(scaled.saddles, base.saddles, strict=True):
        np.testing.assert_array_equal(s.x, b.x)
        expected_tau = b.tau * 2.0 ** (-2 * exponent) if abs(exponent) < 500 else None
        if expected_tau is not None:
            assert s.tau == pytest.approx(expected_tau, rel=1e-15, abs=0)
    # tau_1 = 1 / ||A^T y||_inf (MATH.md §6), computed here without the code under test.
    if abs(exponent) < 500:
        top = float(np.max(np.abs(p.A.T @ p.y)))
        assert scaled.saddles[1].tau == pytest.approx(
            1.0 / (top * 2.0 ** (2 * exponent)), rel=1e-14, abs=0
        )
    np.testing.assert_array_equal(scaled.saddles[-1].x, base.saddles[-1].x)


# ------------------------------------------------------------------ badly scaled columns


@pytest.mark.parametrize(("depth", "log10_alpha"), [(3.0, -6.0), (2.0, -3.0), (2.5, -4.0)])
@pytest.mark.parametrize("name", ["line", "random3x5", "gauss:5:12:2:0"])
def test_columns_scaled_1e_minus8_1_1e8(name: str, depth: float, log10_alpha: float) -> None:
    # "Newton did not converge ... last relative step 1.9e-14": a step at the rounding floor
    # of long double (z = A^T mu with mu ~ 1e9) was called a failure; and a residual test
    # relative to max|y| alone cannot see that. Right (against 80 digits) or not certified.
    from dlncli.problem_io import load_sample

    p = load_sample(name)
    A = p.A * np.resize(np.array([1e-8, 1.0, 1e8]), p.A.shape[1])
    result = flow_limit(A, p.y, depth=depth, log_alpha=log10_alpha * LN10)
    ref = np.array(
        [float(v) for v in mp_flow_limit(A.tolist(), p.y.tolist(), depth, log10_alpha, dps=80)]
    )
    assert result.certified, result.message
    error = float(np.max(np.abs(result.x - ref))) / float(np.max(np.abs(ref)))
    assert error <= 1e-9, (result.x, ref, result.check_precision)


# ------------------------------------------------------------------ the input cap


@pytest.mark.parametrize("name", ["line", "random3x5", "plane", "gauss:5:12:2:0"])
def test_input_cap_applies_to_fixed_and_parametric_samples(name: str) -> None:
    from dlncli.errors import ProblemFormatError
    from dlncli.problem_io import load_problem, load_sample

    p = load_sample(name)
    size = 8 * p.A.size  # the cap's rule for samples: A's float64 size
    with pytest.raises(ProblemFormatError, match="input cap"):
        load_problem(name, max_bytes=size - 1)
    with pytest.raises(ProblemFormatError, match="input cap"):
        load_sample(name, max_bytes=7)
    again = load_problem(name, max_bytes=size)
    np.testing.assert_array_equal(again.A, p.A)


def test_graded_dual_is_certified_by_the_face_check() -> None:
    # p = 2, alpha = 1e-50 on 100 x 400: dx/dz spans 1e100, and a bound that back-substituted
    # with the graded triangular factor blew up to 1e102 (the check then fell to a slow
    # continuation and ended uncertified). The certified x is checked against BP's minimizer
    # (gamma > 0: at alpha^2 = 1e-100 the limit is BP's to far below 1e-9).
    from dlncli.bp.verdict import solve_basis_pursuit
    from dlncli.problem_io import load_sample

    p = load_sample("gauss:100:400:10:0")
    result = flow_limit(p.A, p.y, depth=2.0, log_alpha=-50 * LN10)
    assert result.certified, result.message
    assert result.error_bound <= 1e-9
    bp = solve_basis_pursuit(p.A, p.y)
    assert bp.unique
    assert result.x == pytest.approx(bp.x, abs=1e-6)
