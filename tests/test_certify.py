"""Certified BP verdicts: near-ties, bad scaling, huge/tiny data, the float route's bound."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from flint import fmpq, fmpq_mat
from hypothesis import given, settings, strategies as st
from scipy.optimize import linprog
from typer.testing import CliRunner

from dlncli.bp import certify
from dlncli.bp.lp import equilibrate
from dlncli.bp.verdict import solve_basis_pursuit
from dlncli.cli import app
from dlncli.deadline import Deadline
from dlncli.errors import InfeasibleError, TimeLimitError
from dlncli.problem_io import load_sample
from tests.helpers import SINGLE_THREADED_ENV, wait_for_threads


def _reference_bp(A: np.ndarray, y: np.ndarray) -> np.ndarray:
    """BP by scipy's linprog on a well-conditioned problem (a second method)."""
    n = A.shape[1]
    res = linprog(np.ones(2 * n), A_eq=np.hstack([A, -A]), b_eq=y, bounds=(0, None))
    assert res.status == 0 and res.x is not None
    return np.asarray(res.x[:n] - res.x[n:])


@pytest.mark.parametrize("k", range(4, 17))
def test_kink_is_unique_for_every_positive_eps(k: int) -> None:
    # kink:EPS: A = [1, 1 - EPS], y = 1. The unique minimizer is (1, 0) for every EPS > 0:
    # |x_1| + |x_2| >= x_1 + (1 - EPS) x_2 = 1 with equality only at x_2 = 0.
    p = load_sample(f"kink:1e-{k}")
    sol = solve_basis_pursuit(p.A, p.y)
    assert sol.unique is True and sol.certified
    assert sol.x.tolist() == [1.0, 0.0]
    assert sol.face_dimension == 0
    # The exact margin is 1 - (1 - EPS) (exact in floats). A unique verdict needs it > 0.
    exact = 1 - float(p.A[0, 1])
    assert 0 < sol.margin <= exact
    if "exact rational" in sol.certification:
        # Rounded down from the exact rational: observed relative error <= 2.0e-16.
        assert sol.margin == pytest.approx(exact, rel=1e-13, abs=0)
    else:
        # The homotopy's float bound (EPS >= 1e-9): observed exact - margin = 7.8e-16 (its
        # gamma_m allowances), the same for every EPS.
        assert exact - sol.margin <= 1e-12


def test_exact_tie_is_not_unique() -> None:
    sol = solve_basis_pursuit(np.array([[1.0, 1.0]]), np.array([1.0]))
    assert sol.unique is False and sol.certified and sol.face_dimension == 1


def _planted(seed: int, delta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 3x5 generic problem plus a sixth column (1 + delta) * (a support column).

    With delta < 0 the copy is strictly inside the certificate's cone: the answer is the 3x5
    answer padded with 0. With delta > 0 the copy is strictly better: its coefficient is the
    original one divided by (1 + delta), the original column drops out. Unique either way.
    """
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((3, 5))
    y = rng.standard_normal(3)
    base = _reference_bp(A, y)
    support = np.flatnonzero(np.abs(base) > 1e-9)
    j = int(support[0])
    A6 = np.column_stack([A, (1 + delta) * A[:, j]])
    expected = np.append(base, 0.0)
    if delta > 0:
        expected[5] = base[j] / (1 + delta)
        expected[j] = 0.0
    return A6, y, expected


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(4, 14),
    sign=st.sampled_from([-1.0, 1.0]),
)
def test_planted_near_tie_gets_right_verdict_or_undecided(seed: int, k: int, sign: float) -> None:
    A, y, expected = _planted(seed, sign * 10.0**-k)
    sol = solve_basis_pursuit(A, y)
    assert sol.unique is not False  # the wrong verdict, never
    if sol.unique:
        assert sol.certified
        np.testing.assert_allclose(sol.x, expected, atol=1e-9 * np.abs(expected).max())


def test_generic_3x6_with_scaled_copy_from_the_issue() -> None:
    A, y, expected = _planted(7, -1e-8)
    sol = solve_basis_pursuit(A, y)
    assert sol.unique is True and sol.certified
    np.testing.assert_allclose(sol.x, expected, atol=1e-12)


@pytest.mark.parametrize(
    ("diag", "y"),
    [
        ((1.0, 1e-9), (1.0, 1.0)),
        ((1e-12, 1e3, 1.0), (1.0, 1.0, 1.0)),
        ((1e150, 1e-150), (2.0, 3.0)),
    ],
)
def test_badly_scaled_columns(diag: tuple[float, ...], y: tuple[float, ...]) -> None:
    A = np.diag(diag)
    sol = solve_basis_pursuit(A, np.array(y))
    expected = np.array(y) / np.array(diag)
    np.testing.assert_allclose(sol.x, expected, rtol=1e-14)
    assert sol.unique is True and sol.certified


def test_badly_scaled_column_inside_a_generic_problem() -> None:
    rng = np.random.default_rng(3)
    A = rng.standard_normal((4, 8))
    y = rng.standard_normal(4)
    base = _reference_bp(A, y)
    scale = np.ones(8)
    scale[np.flatnonzero(np.abs(base) > 1e-9)[0]] = 1e-10
    # BP on A diag(scale) is weighted: x = base / scale coordinate-wise is feasible, and BP
    # on the scaled problem is the reference solved on its own well-scaled form.
    sol = solve_basis_pursuit(A * scale, y)
    n = A.shape[1]
    weights = np.concatenate([1 / scale, 1 / scale])
    res = linprog(weights, A_eq=np.hstack([A, -A]), b_eq=y, bounds=(0, None))
    assert res.x is not None
    expected = (res.x[:n] - res.x[n:]) / scale
    np.testing.assert_allclose(sol.x, expected, rtol=1e-7, atol=1e-9 * np.abs(expected).max())


def test_equilibration_round_trip() -> None:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 7)) * np.logspace(-30, 30, 7)
    y = rng.standard_normal(5) * 1e-40
    eq = equilibrate(A, y)
    As, _ = eq.apply(A, y)
    x = rng.standard_normal(7)
    lam = rng.standard_normal(5)
    np.testing.assert_array_equal(eq.primal(eq.primal_inverse(x)), x)
    np.testing.assert_array_equal(eq.dual(eq.dual_inverse(lam)), lam)
    # The scaled system is the same system: A x = y  <=>  As x_s = ys (exact powers of two).
    np.testing.assert_allclose(As @ eq.primal_inverse(x), eq.rows * (A @ x) / eq.y_scale)
    assert np.all(np.log2(eq.rows) == np.round(np.log2(eq.rows)))
    assert 0.5 <= np.abs(As).max() <= 4.0


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10_000), log_scale=st.floats(-250, 250))
def test_solve_bp_is_scale_invariant(seed: int, log_scale: float) -> None:
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(2, 6)), int(rng.integers(3, 12))
    A = rng.standard_normal((m, n))
    x_true = np.where(rng.random(n) < 0.3, rng.standard_normal(n), 0.0)
    x_true[0] = 1.0
    y = A @ x_true
    S = 10.0**log_scale
    base = solve_basis_pursuit(A, y)
    scaled = solve_basis_pursuit(S * A, S * y)
    np.testing.assert_allclose(scaled.x, base.x, rtol=1e-9, atol=1e-9 * np.abs(base.x).max())
    assert scaled.unique == base.unique


@pytest.mark.parametrize("gap", [2.0**-20, 2.0**-27, 1.0])
def test_inconsistent_system_is_refused(gap: float) -> None:
    # 2^-27 = 7.5e-9 is inside HiGHS's feasibility tolerance (1e-7) but above the
    # round-off threshold: the exact dual simplex proves infeasibility.
    A = np.array([[1.0], [1.0]])
    with pytest.raises(InfeasibleError):
        solve_basis_pursuit(A, np.array([1.0, 1.0 + gap]))


def test_round_off_inconsistency_is_a_reported_backward_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 2^-48 is 32 ulps of 1: round-off (2^-40, 8192 ulps, is an inconsistency since the
    # consistency test counts ulps; see test_bp_robust).
    A = np.array([[1.0], [1.0]])
    y = np.array([1.0, 1.0 + 2.0**-48])
    sol = solve_basis_pursuit(A, y)
    assert sol.unique is True and sol.certified
    assert abs(sol.x[0] - 1.0) <= 2.0**-48
    # The exact route states the backward error: y* = A x for the float x, within 2^-48 of y.
    monkeypatch.setattr(certify, "float_uniqueness_bound", _never_strict)
    exact = solve_basis_pursuit(A, y)
    match = re.search(r"‖y\* − y‖∞ = ([0-9.e+-]+)", exact.certification)
    assert match is not None and 0 < float(match.group(1)) <= 2.0**-48


def _never_strict(*args: object) -> certify.FloatBound:
    return certify.FloatBound(-1.0, 0.0)


def test_float_route_certifies_generic_and_never_misjudges_near_ties(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(certify, "EXACT_MAX_ROWS", 0)
    p = load_sample("random3x5")
    sol = solve_basis_pursuit(p.A, p.y)
    assert sol.unique is True and sol.certified and "float error bound" in sol.certification
    assert 0 < sol.margin <= 0.7449  # a lower bound on the published margin 0.745
    for k in (8, 12, 16):
        near = load_sample(f"kink:1e-{k}")
        verdict = solve_basis_pursuit(near.A, near.y)
        assert verdict.unique is not False
        if verdict.unique is None:
            assert not verdict.certified and "undecided" in verdict.certification


def test_default_route_leaves_a_sub_roundoff_margin_undecided() -> None:
    """m = 210 > EXACT_MAX_ROWS, so the default route ends on the float bound. A column
    scaled by 1 + 1e-15 gives a true margin of ~1e-15, below gamma_m = m u ~ 2.3e-14: no
    sound float bound can prove uniqueness, so the verdict must be undecided, not certified.
    """
    rng = np.random.default_rng(0)
    m = 210
    B = rng.standard_normal((m, m + 40))
    A = np.column_stack([B, (1 + 1e-15) * B[:, 0]])
    y = B[:, :3] @ np.array([1.0, -2.0, 0.5])
    assert m > certify.EXACT_MAX_ROWS
    sol = solve_basis_pursuit(A, y)
    assert sol.unique is None
    assert sol.certified is False
    assert "undecided" in sol.certification
    # Still a minimizer: feasible, and its l1 norm is that of the planted 3-sparse x
    # (1 + 2 + 0.5, minus the ~1e-15 the scaled copy saves).
    assert np.max(np.abs(A @ sol.x - y)) <= 1e-12
    assert float(np.sum(np.abs(sol.x))) == pytest.approx(3.5, rel=0, abs=1e-12)


def test_float_bound_rejects_a_certificate_that_is_not_strict() -> None:
    A = np.array([[1.0, 1.0 - 1e-17, 0.5]])
    bound = certify.float_uniqueness_bound(A, np.array([1.0]), np.array([0]), np.array([1.0]))
    assert bound.margin_lower <= 0
    ok = certify.float_uniqueness_bound(A[:, [0, 2]], np.array([1.0]), np.array([0]), np.ones(1))
    assert 0.49 < ok.margin_lower < 0.5


def _q(value: float) -> fmpq:
    return fmpq(*float(value).as_integer_ratio())


def _exact_margin(A: np.ndarray, dual: np.ndarray, support: np.ndarray, signs: np.ndarray) -> fmpq:
    """1 - max_{j not in K} |a_j^T lambda*| in exact rationals, for the certificate the bound
    speaks of: lambda* = lambda + A_K (A_K^T A_K)^{-1} (s_K - A_K^T lambda)."""
    m, n = A.shape
    k = support.size
    A_K = fmpq_mat(m, k, [_q(A[i, j]) for i in range(m) for j in support])
    lam = fmpq_mat(m, 1, [_q(v) for v in dual])
    s = fmpq_mat(k, 1, [_q(v) for v in signs])
    lam_star = lam + A_K * (A_K.transpose() * A_K).solve(s - A_K.transpose() * lam)
    off = [j for j in range(n) if j not in set(support.tolist())]
    A_off = fmpq_mat(m, len(off), [_q(A[i, j]) for i in range(m) for j in off])
    corr = A_off.transpose() * lam_star
    return 1 - max(abs(corr[j, 0]) for j in range(len(off)))


@pytest.mark.parametrize("seed", range(3))
def test_float_margin_bound_is_below_the_exact_margin(seed: int) -> None:
    """Gaussian 60 x 150, a float certificate for a random 6-column support: the bound is
    sound (below the exact margin of the corrected certificate) and not vacuous."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((60, 150)) / np.sqrt(60)
    support = np.sort(rng.choice(150, 6, replace=False)).astype(np.int64)
    signs = rng.choice([-1.0, 1.0], 6)
    dual = np.linalg.lstsq(A[:, support].T, signs, rcond=None)[0]
    bound = certify.float_uniqueness_bound(A, dual, support, signs)
    exact = _exact_margin(A, dual, support, signs)
    assert _q(bound.margin_lower) <= exact
    # Observed exact - bound: 5.5e-14 ... 6.8e-14 (the gamma_m terms); ~1e3 x that here.
    assert float(exact) - bound.margin_lower <= 7e-11


def test_float_margin_bound_covers_a_dot_product_that_loses_its_low_terms() -> None:
    """m = 1024: lambda and the off column share 64 entries of 1/8 (products 1/64) and 960
    products 3 * 2^-61, each below half an ulp of any partial sum, so every summation order
    drops them: the float correlation is 1.0, the exact one 1 + 960 * 3 * 2^-61 (~1.2e-15,
    a certificate that is not one). Only the gamma_m |a|^T |lambda| allowance covers that
    (gamma / 1e3 would leave the bound at ~ -4e-16 > the exact margin)."""
    m, big = 1024, 64
    dual = np.full(m, 2.0**-30)
    dual[:big] = 2.0**-3
    off_column = np.full(m, 3 * 2.0**-31)
    off_column[:big] = 2.0**-3
    A = np.zeros((m, 2))
    A[0, 0] = 8.0  # the support column: a_0^T lambda = 1 exactly
    A[:, 1] = off_column
    support, signs = np.array([0], dtype=np.int64), np.array([1.0])
    assert float(A[:, 1] @ dual) == 1.0  # the low terms are lost in floats
    exact = _exact_margin(A, dual, support, signs)
    assert exact == -960 * 3 * fmpq(1, 2**61)
    bound = certify.float_uniqueness_bound(A, dual, support, signs)
    assert _q(bound.margin_lower) <= exact
    # Observed bound: -1.3e-13 (gamma_m = 1024 u); within 1e3 x of the exact -1.2e-15.
    assert bound.margin_lower >= 1e3 * float(exact)


def test_exact_simplex_pivots_away_from_a_wrong_float_basis() -> None:
    A = np.array([[1.0, 1.0 - 1e-12]])
    # Start from the basis {column 2}: optimal only up to 1e-12, which floats cannot see.
    optimum = certify.exact_simplex(A, np.array([1.0]), [1], np.array([0.0, 1.0]))
    assert not isinstance(optimum, str)
    assert optimum.pivots == 1 and certify.to_float(optimum.x).tolist() == [1.0, 0.0]


def test_deadline_is_one_budget() -> None:
    deadline = Deadline(0.0)
    p = load_sample("gauss:20:60:4:0")
    with pytest.raises(TimeLimitError, match="time limit of 0 s"):
        solve_basis_pursuit(p.A, p.y, deadline=deadline)


def test_cli_json_has_certified_and_margin() -> None:
    result = CliRunner().invoke(app, ["solve-bp", "kink:1e-12", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["unique"] is True and data["certified"] is True
    # The exact margin is 1 - (1 - 1e-12 rounded) = 9.9998e-13; observed relative error 2e-16.
    exact = 1 - float(load_sample("kink:1e-12").A[0, 1])
    assert data["margin"] <= exact and data["margin"] == pytest.approx(exact, rel=1e-13, abs=0)
    assert data["x"] == [1.0, 0.0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread count from /proc")
def test_ctrl_c_stops_a_running_highs_solve() -> None:
    """SIGINT once HiGHS's solver thread exists (the third thread, after main and progress):
    the LP (1000 x 8000 simplex, > 20 s here) must stop at once, exit 130, print nothing.
    Were the interrupt lost, the LP would run on and print JSON with exit 0, or hang."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dlncli",
            "solve-bp",
            "gauss:1000:4000:200:0",
            "--solver",
            "simplex",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=SINGLE_THREADED_ENV,
    )
    try:
        wait_for_threads(proc, 3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)  # a hang guard, not a latency claim
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert out == "" and "interrupted" in err and "Traceback" not in err


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 100_000))
def test_nearly_infeasible_systems_get_a_verdict_not_an_lp_status(seed: int) -> None:
    """Rows and columns dependent up to 1e-4 ... 1e-16, y off the range by as little: either a
    certified or undecided solution with a finite dual, or the feasibility verdict (exit 1)."""
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(2, 6)), int(rng.integers(2, 9))
    B = rng.standard_normal((m - 1, n))
    A = np.vstack([B, B[0] * (1 + 10.0 ** -rng.integers(4, 17))])
    if rng.random() < 0.5:
        A[:, int(rng.integers(n))] = A[:, 0] * (1 + 10.0 ** -rng.integers(4, 17))
    y = A @ np.where(rng.random(n) < 0.5, rng.standard_normal(n), 0.0)
    y[-1] += 10.0 ** -rng.integers(4, 17) * rng.standard_normal()
    try:
        sol = solve_basis_pursuit(A, y)
    except InfeasibleError as exc:
        assert "range of A" in str(exc) and "status" not in str(exc)
        return
    assert np.all(np.isfinite(sol.dual)) and np.all(np.isfinite(sol.x))
    assert sol.certified == (sol.unique is not None)
