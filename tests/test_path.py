"""The alpha -> 0 path: closed forms, a second method (fresh scipy NNLS per event), the ODE at
small alpha (integrate_flow in log alpha, and a raw (u, v) integration), degenerate cases, CLI."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.integrate import solve_ivp
from scipy.optimize import brentq, nnls

import dlncli
from dlncli.arrays import LN10
from dlncli.bp.verdict import solve_basis_pursuit
from dlncli.dln.path import _State, _ThinQR, log10_tau_rate, path
from dlncli.errors import InfeasibleError
from dlncli.problem_io import load_sample
from dlncli.reports import PathReport
from tests.helpers import run, run_json

FloatArray = NDArray[np.float64]


def _gauss(seed: int, m: int = 3, n: int = 6) -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, n)), rng.standard_normal(m)


def _reference_path(A: FloatArray, y: FloatArray) -> list[tuple[float, FloatArray]]:
    """The same limit process, written plainly: a fresh scipy NNLS on the whole active face
    at every event (no warm start, no factorisation updates)."""
    n = A.shape[1]
    q, signs = np.zeros(n), np.zeros(n)
    active = np.zeros(n, dtype=bool)
    tol = 1e-10 * float(np.max(np.linalg.norm(A, axis=0)) * np.linalg.norm(y))
    x, tau = np.zeros(n), 0.0
    g = A.T @ y
    out = [(0.0, x)]
    while True:
        moving = ~active & (np.abs(g) > tol)
        if not moving.any():
            return out
        steps = np.full(n, np.inf)
        steps[moving] = (np.sign(g[moving]) - q[moving]) / g[moving]
        dtau = float(np.min(steps))
        hit = steps <= dtau * (1 + 1e-9)
        q[~active] += dtau * g[~active]
        tau += dtau
        signs[hit] = np.sign(g[hit])
        q[hit] = signs[hit]
        active |= hit
        idx = np.flatnonzero(active)
        w, _ = nnls(A[:, idx] * signs[idx], y)
        x = np.zeros(n)
        x[idx] = signs[idx] * w
        g = A.T @ (y - A @ x)
        leaving = active & (x == 0) & (signs * g < -tol)
        active[leaving] = False
        out.append((tau, x))


# --------------------------------------------------------------------------- exact path


@pytest.mark.parametrize("seed", range(8))
def test_first_jump_closed_form(seed: int) -> None:
    A, y = _gauss(seed, 5, 12)
    result = path(A, y)
    corr = A.T @ y
    i = int(np.argmax(np.abs(corr)))
    first = result.saddles[1]
    assert first.tau == pytest.approx(1 / np.max(np.abs(corr)), rel=1e-14, abs=0)
    assert first.support == (i,) and first.hit == (i,) and first.entered == (i,)
    expected = corr[i] / (A[:, i] @ A[:, i])  # the 1-D least-squares refit
    assert first.x[i] == pytest.approx(expected, rel=1e-13, abs=0)
    assert first.loss == pytest.approx(0.5 * (y @ y - corr[i] ** 2 / (A[:, i] @ A[:, i])))
    start = result.saddles[0]
    assert start.tau == 0 and not np.any(start.x) and start.loss == 0.5 * float(y @ y)


@pytest.mark.parametrize("seed", [*range(12), 19, 29])
def test_matches_fresh_nnls_per_event(seed: int) -> None:
    A, y = _gauss(seed, 3 + seed % 4, 6 + seed % 7)
    result = path(A, y)
    reference = _reference_path(A, y)
    assert len(result.saddles) == len(reference)
    for saddle, (tau, x) in zip(result.saddles, reference, strict=True):
        assert saddle.tau == pytest.approx(tau, rel=1e-10, abs=1e-12)
        np.testing.assert_allclose(saddle.x, x, atol=1e-10)
        assert saddle.face_dimension == 0 and saddle.selection == "nnls"


@pytest.mark.parametrize("seed", [0, 5, 19, 29])
def test_each_saddle_is_an_nnls_kkt_point_and_the_end_is_bp(seed: int) -> None:
    A, y = _gauss(seed, 4, 10)
    result = path(A, y)
    lam = result.certificate
    q = A.T @ lam
    assert np.max(np.abs(q)) <= 1 + 1e-12
    end = result.x
    on = np.flatnonzero(end)
    np.testing.assert_allclose(q[on], np.sign(end[on]), atol=1e-12)
    assert float(y @ lam) == pytest.approx(
        np.sum(np.abs(end)), rel=1e-12, abs=0
    )  # zero duality gap
    assert result.bp_unique and result.bp_distance is not None and result.bp_distance < 1e-10
    losses = [s.loss for s in result.saddles]
    assert all(a > b for a, b in itertools.pairwise(losses))
    for saddle in result.saddles:
        g = A.T @ (y - A @ saddle.x)
        support = list(saddle.support)
        assert np.max(np.abs(g[support]), initial=0.0) < 1e-10  # stationary on the support
        # Observed |difference| <= 1.1e-16 (the last saddle's loss is ~0 itself).
        recomputed = 0.5 * float(np.sum((A @ saddle.x - y) ** 2))
        assert saddle.loss == pytest.approx(recomputed, rel=1e-12, abs=1e-13)


def test_nnls_is_warm_started() -> None:
    """Each event adds the coordinates that hit |q| = 1 to the previous passive set: about
    |hit| + 1 Lawson-Hanson iterations, where a cold start would need one per support entry."""
    A, y = _gauss(4, 40, 160)
    result = path(A, y)
    assert len(result.saddles[-1].support) >= 15
    iterations = [s.nnls_iterations for s in result.saddles[1:]]
    assert max(iterations) <= 3
    assert sum(iterations) <= 2 * (len(result.saddles) - 1) + 5


def test_a_coordinate_leaves_and_comes_back() -> None:
    A, y = _gauss(29)
    result = path(A, y)
    assert [s.left for s in result.saddles] == [(), (), (), (1,), ()]
    assert result.saddles[4].entered == (1,)  # q_1 went inside, then reached the boundary again
    assert result.saddles[3].support == (0, 5)


def test_y_zero_is_a_single_saddle() -> None:
    A, _ = _gauss(0)
    result = path(A, np.zeros(3))
    assert len(result.saddles) == 1 and result.bp_distance == 0.0
    assert result.to_dict()["saddles"][0]["x"] == [0.0] * 6


@pytest.mark.parametrize("compare_bp", [True, False])
def test_y_outside_the_range_is_infeasible(compare_bp: bool) -> None:
    A = np.array([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(InfeasibleError, match="not in the range of A"):
        path(A, np.array([1.0, 0.0]), compare_bp=compare_bp)


def test_without_bp_the_path_is_the_same() -> None:
    p = load_sample("face2d")
    full, alone = path(p.A, p.y, depth=3.0), path(p.A, p.y, depth=3.0, compare_bp=False)
    assert alone.bp_distance is None and alone.tiebreak_distance is None
    assert alone.bp_unique is False and alone.bp_elapsed_s < full.bp_elapsed_s
    for a, b in zip(full.saddles, alone.saddles, strict=True):
        assert a.tau == b.tau and a.support == b.support and np.array_equal(a.x, b.x)
    assert full.end_vertex_distance == pytest.approx(alone.end_vertex_distance, abs=1e-12)


def test_physical_time_from_tau() -> None:
    A, y = _gauss(3)
    two = path(A, y, depth=2.0, log_alpha=math.log(1e-6))
    for s in two.saddles[1:]:
        assert s.t == pytest.approx(s.tau * math.log(1e6) / 2, rel=1e-12, abs=0)
    four = path(A, y, depth=4.0, log_alpha=-1000 * LN10)  # alpha = 1e-1000: t overflows
    for s in four.saddles[1:]:
        assert s.t is None
        assert s.log10_t == pytest.approx(math.log10(s.tau / 8) + 2000, rel=1e-14, abs=0)
    assert four.saddles[0].t == 0.0 and four.saddles[0].log10_t is None
    assert log10_tau_rate(3.0, math.log(1e-2)) == pytest.approx(math.log10(3 * 1e-2))


# --------------------------------------------------------------------------- the active-set NNLS


def test_thin_qr_updates_match_the_matrix() -> None:
    rng = np.random.default_rng(1)
    B = rng.standard_normal((8, 6))
    qr = _ThinQR(8, 6)
    columns: list[int] = []
    for j in range(6):
        assert qr.append(B[:, j])
        columns.append(j)
    for position in (2, 0, 3):
        qr.delete(position)
        del columns[position]
        k = qr.k
        np.testing.assert_allclose(qr.Qt[:k].T @ qr.R[:k, :k], B[:, columns], atol=1e-13)
        np.testing.assert_allclose(qr.Qt[:k] @ qr.Qt[:k].T, np.eye(k), atol=1e-14)
        assert np.allclose(np.tril(qr.R[:k, :k], -1), 0.0)
    assert not qr.append(B[:, columns[0]] + B[:, columns[1]])  # dependent: refused


@pytest.mark.parametrize("seed", range(10))
def test_active_set_nnls_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n = 12, 8
    B, y = rng.standard_normal((m, n)), rng.standard_normal(m)
    state = _State(
        A=B,
        At=np.ascontiguousarray(B.T),
        y=y,
        q=np.ones(n),
        active=np.ones(n, dtype=bool),
        signs=np.ones(n),
        passive=[],
        w=np.zeros(0),
        qr=_ThinQR(m, n),
        g=B.T @ y,
        residual=y.copy(),
        grad_tol=1e-12,
    )
    state.nnls(max_iterations=100)
    expected, _ = nnls(B, y)
    np.testing.assert_allclose(state.x(), expected, atol=1e-12)


# --------------------------------------------------------------------------- against the ODE


def _deviations(
    A: FloatArray, y: FloatArray, depth: float, log10_alphas: list[float]
) -> list[float]:
    out = []
    for level in log10_alphas:
        result = path(A, y, depth=depth, check_log_alpha=level * LN10)
        assert result.check is not None and result.check.converged
        assert all(s.observed_tau is not None for s in result.saddles[1:])
        assert result.max_tau_deviation is not None
        out.append(result.max_tau_deviation)
    return out


def test_ode_jump_times_converge_like_one_over_log_alpha_for_depth_2() -> None:
    # alpha = 1e-60 and 1e-120 are far below float range: the flow works in log alpha.
    A, y = _gauss(29)
    dev = _deviations(A, y, 2.0, [-30.0, -60.0, -120.0])
    # O(1 / ln(1/alpha)): halving each time ln(1/alpha) doubles.
    assert dev[1] / dev[0] == pytest.approx(0.5, rel=0.05, abs=0)
    assert dev[2] / dev[1] == pytest.approx(0.5, rel=0.05, abs=0)
    assert dev[2] < 0.004 * path(A, y).saddles[-1].tau


def test_ode_jump_times_on_a_10_by_30_problem() -> None:
    """The issue's size: about two digits at alpha = 1e-60, three at 1e-120 (p = 2). Here the
    ODE's own convergence test can stop it early; the check then integrates past tau_end."""
    p = load_sample("gauss:10:30:3:0")
    coarse, fine = (path(p.A, p.y, check_log_alpha=level * LN10) for level in (-60.0, -120.0))
    assert coarse.max_tau_deviation is not None and fine.max_tau_deviation is not None
    assert fine.max_tau_deviation / coarse.max_tau_deviation == pytest.approx(0.5, rel=0.05, abs=0)
    for a, b in zip(coarse.saddles[1:], fine.saddles[1:], strict=True):
        assert a.observed_tau == pytest.approx(a.tau, rel=0.02, abs=0)
        assert b.observed_tau == pytest.approx(b.tau, rel=0.01, abs=0)


@pytest.mark.parametrize(("depth", "levels"), [(3.0, [-3.0, -4.0]), (4.0, [-1.5, -2.0])])
def test_ode_jump_times_converge_like_alpha_to_the_p_minus_2(
    depth: float, levels: list[float]
) -> None:
    A = load_sample("random3x5").A
    y = load_sample("random3x5").y
    dev = _deviations(A, y, depth, levels)
    ratio = 10.0 ** ((depth - 2) * (levels[1] - levels[0]))  # alpha^(p-2) ratio: 0.1
    assert dev[1] / dev[0] == pytest.approx(ratio, rel=0.05, abs=0)
    assert dev[1] < 3e-4 * path(A, y, depth=depth).saddles[-1].tau


def test_raw_uv_flow_jumps_at_the_path_times_for_depth_3() -> None:
    """An independent integration of the 2N-dimensional (u, v) system, in physical time."""
    A, y = _gauss(19)
    depth, alpha = 3.0, 1e-3
    result = path(A, y, depth=depth)
    n = A.shape[1]

    def rhs(_t: float, state: FloatArray) -> FloatArray:
        u, v = state[:n], state[n:]
        corr = A.T @ (y - A @ (u**depth - v**depth))
        return np.concatenate([depth * u ** (depth - 1) * corr, -depth * v ** (depth - 1) * corr])

    rate = depth * (depth - 2) * alpha ** (depth - 2)
    t_end = 1.2 * result.saddles[-1].tau / rate
    sol = solve_ivp(
        rhs,
        (0, t_end),
        np.full(2 * n, alpha),
        method="LSODA",
        rtol=1e-10,
        atol=1e-14,
        dense_output=True,
    )
    assert sol.success and sol.sol is not None
    t = np.linspace(0, t_end, 200_001)
    states = sol.sol(t)
    x = states[:n] ** depth - states[n:] ** depth
    losses = 0.5 * np.sum((A @ x - y[:, None]) ** 2, axis=0)
    for before, after in itertools.pairwise(result.saddles):
        level = 0.5 * (before.loss + after.loss)
        observed = rate * t[np.argmax(losses <= level)]
        assert observed == pytest.approx(after.tau, rel=4e-3, abs=0)


def test_check_alpha_crossings_match_an_independent_integration() -> None:
    """--check-alpha's observed crossing times at alpha = 1e-3, p = 3 (the ODE's recorded
    steps, interpolated by _crossing) against the same crossings found by root-finding on
    scipy's LSODA solution of the raw (u, v) system (rtol 1e-12)."""
    A, y = _gauss(19)
    depth, alpha = 3.0, 1e-3
    n = A.shape[1]
    result = path(A, y, depth=depth, check_log_alpha=math.log(alpha))
    assert result.check is not None and result.check.converged

    def rhs(_t: float, state: FloatArray) -> FloatArray:
        u, v = state[:n], state[n:]
        corr = A.T @ (y - A @ (u**depth - v**depth))
        return np.concatenate([depth * u ** (depth - 1) * corr, -depth * v ** (depth - 1) * corr])

    rate = depth * (depth - 2) * alpha ** (depth - 2)
    t_end = 1.2 * result.saddles[-1].tau / rate
    sol = solve_ivp(
        rhs,
        (0, t_end),
        np.full(2 * n, alpha),
        method="LSODA",
        rtol=1e-12,
        atol=1e-16,
        dense_output=True,
    )
    assert sol.success and sol.sol is not None
    dense = sol.sol

    def loss_above(t: float, level: float) -> float:
        state = dense(t)
        x = state[:n] ** depth - state[n:] ** depth
        return 0.5 * float(np.sum((A @ x - y) ** 2)) - level

    grid = np.linspace(0, t_end, 20_001)
    states = dense(grid)
    losses = 0.5 * np.sum((A @ (states[:n] ** depth - states[n:] ** depth) - y[:, None]) ** 2, 0)
    for before, after in itertools.pairwise(result.saddles):
        level = 0.5 * (before.loss + after.loss)
        i = int(np.argmax(losses <= level))
        t_cross = brentq(loss_above, grid[i - 1], grid[i], args=(level,), xtol=1e-14, rtol=1e-14)
        assert after.observed_tau is not None
        # Observed: |relative error| <= 3.4e-6 (the linear interpolation between recorded
        # steps); with the check's ODE rtol 100x looser it is 1.6e-5, without interpolation
        # far more. The bound sits between, not at 1e3 x, on purpose.
        assert after.observed_tau == pytest.approx(rate * t_cross, rel=1e-5, abs=0)


def test_degenerate_nnls_face_the_flow_takes_the_tie_break_point() -> None:
    """Columns 0, 1, 2 are dependent and reach |q| = 1 together: the saddle at tau in (1, 2)
    is not unique. The flow sits at the depth's tie-break point of that face. (0.75 and 0.25
    are exact in binary: with 0.8 and 0.2 the float columns are not exactly dependent, the
    face's l1 norm tilts by 5.6e-17 and, exactly, the minimizer is a vertex.)"""
    A = np.array([[1.0, 0.0, 0.75, 0.0], [0.0, 1.0, 0.25, 0.0], [0.0, 0.0, 0.0, 1.0]])
    y = np.array([1.0, 1.0, 0.5])
    # face: w = (1 - 0.75 s, 1 - 0.25 s, s, 0), s in [0, 4/3]
    entropic = brentq(
        lambda s: math.log(s) - 0.75 * math.log(1 - 0.75 * s) - 0.25 * math.log(1 - 0.25 * s),
        1e-9,
        4 / 3 - 1e-9,
    )

    def power(s: float) -> float:  # d/ds sum w^(2/3) = 0 for depth 3
        return float(
            s ** (-1 / 3) - 0.75 * (1 - 0.75 * s) ** (-1 / 3) - 0.25 * (1 - 0.25 * s) ** (-1 / 3)
        )

    chosen: list[FloatArray] = []
    for depth, level, s_star in [
        (2.0, -30.0, entropic),
        (3.0, -3.0, brentq(power, 1e-9, 4 / 3 - 1e-9)),
    ]:
        result = path(A, y, depth=depth, check_log_alpha=level * LN10)
        saddle = result.saddles[1]
        assert saddle.tau == 1.0 and saddle.hit == (0, 1, 2) and saddle.face_dimension == 1
        assert saddle.selection == "tie-break" and saddle.vertex_distance > 0.3
        np.testing.assert_allclose(
            saddle.x, [1 - 0.75 * s_star, 1 - 0.25 * s_star, s_star, 0], atol=1e-10
        )
        check = result.check
        assert check is not None
        middle = int(np.argmin(np.abs(check.log10_tau - math.log10(1.5))))
        # The ODE on the plateau; the two depths' points are 2e-3 apart.
        assert np.max(np.abs(check.xs[middle] - saddle.x)) < 1e-6
        chosen.append(saddle.x)
        assert any("1-dimensional face" in note for note in result.notes)
        assert result.saddles[2].tau == pytest.approx(2.0)
    assert np.max(np.abs(chosen[0] - chosen[1])) > 1e-3


@pytest.mark.parametrize("depth", [2.0, 3.0])
def test_non_unique_bp_face_ends_at_the_tie_break_point(depth: float) -> None:
    p = load_sample("line")
    result = path(p.A, p.y, depth=depth, check_log_alpha=(-15.0 if depth == 2 else -3.0) * LN10)
    # The closed forms of docs/model.md §4 (p = 3: 1 / (1 + r^(-p/(p-2))), r = 3^(2/p) /
    # (2^(2/p) + 1)); observed max error 2.2e-16 for both depths.
    ratio = 3 ** (2 / depth) / (2 ** (2 / depth) + 1)
    t_star = (
        4 ** (1 / 3) / (3 + 4 ** (1 / 3))
        if depth == 2
        else 1 / (1 + ratio ** (-depth / (depth - 2)))
    )
    np.testing.assert_allclose(result.x, [1 - t_star, 2 * (1 - t_star), 3 * t_star], atol=1e-12)
    assert not result.bp_unique
    assert result.tiebreak_distance is not None and result.tiebreak_distance < 1e-12
    assert result.end_vertex_distance > 0.3  # the active-set vertex is elsewhere on the face
    assert result.check is not None and result.check.end_distance is not None
    assert result.check.end_distance < 1e-6  # the ODE at small alpha ends there too
    tie = result.saddles[2]
    assert tie.hit == (1, 2) and tie.face_dimension == 1


def test_near_tie_is_resolved_exactly() -> None:
    """kink:1e-9: A = [1, 1 - 1e-9]. Column 1 would reach |q| = 1 at tau = 1/(1 - 1e-9), after
    column 0 has fitted y exactly, so it never enters: the unique BP minimizer (1, 0). HiGHS's
    tolerances cannot tell the two columns apart; the path can, and says so."""
    p = load_sample("kink:1e-9")
    result = path(p.A, p.y)
    assert [s.support for s in result.saddles] == [(), (0,)]
    np.testing.assert_allclose(result.x, [1.0, 0.0], atol=1e-15)
    assert result.bp_unique and result.saddles[1].face_dimension == 0
    exact_tie = path(np.array([[1.0, 1.0]]), np.array([1.0]))
    assert exact_tie.saddles[1].hit == (0, 1) and not exact_tie.bp_unique
    np.testing.assert_allclose(exact_tie.x, [0.5, 0.5], atol=1e-12)  # every depth: symmetric


def test_three_way_tie_on_a_two_dimensional_face() -> None:
    p = load_sample("simplex")
    result = path(p.A, p.y, depth=2.0)
    assert len(result.saddles) == 2
    last = result.saddles[1]
    assert last.tau == 1.0 and last.hit == (0, 1, 2) and last.face_dimension == 2
    np.testing.assert_allclose(last.x, [1 / 3, 1 / 3, 1 / 3, 0], atol=1e-12)  # max entropy


# --------------------------------------------------------------------------- API and CLI


def test_api_export_and_json_is_to_dict() -> None:
    assert "path" in dlncli.__all__ and "PathReport" in dlncli.__all__
    report = dlncli.path("random3x5", depth=3.0)
    assert isinstance(report, PathReport)
    data = run_json("path", "random3x5", "--depth", "3")
    expected = json.loads(json.dumps(report.to_dict()))
    for key in ("elapsed_s", "bp_elapsed_s"):
        data.pop(key), expected.pop(key)
    assert data == expected
    assert {"depth", "saddles", "bp_distance", "elapsed_s"} <= set(report.to_dict())
    assert set(data["saddles"][0]) >= {"tau", "x", "loss", "support", "entered", "left"}


def test_cli_alpha_and_check_alpha_keys(tmp_path: Path) -> None:
    figure = tmp_path / "path.png"
    data = run_json(
        "path",
        "random3x5",
        "--depth",
        "4",
        "--alpha",
        "1e-300",
        "--check-alpha",
        "1e-2",
        "--plot",
        str(figure),
    )
    assert figure.stat().st_size > 10_000
    saddles = data["saddles"]
    assert saddles[0]["t"] == 0.0 and saddles[0]["log10_t"] is None
    assert saddles[1]["t"] is None and saddles[1]["log10_t"] > 590
    assert saddles[0]["observed_tau"] is None
    deviations = [abs(s["observed_tau"] - s["tau"]) for s in saddles[1:]]
    assert data["max_tau_deviation"] == pytest.approx(max(deviations))
    assert data["max_tau_deviation"] < 3e-3


def test_check_alpha_beyond_float_range_says_so() -> None:
    data = run_json("path", "random3x5", "--depth", "4", "--check-alpha", "1e-300")
    assert data["max_tau_deviation"] is None and data["check_end_distance"] is None
    assert all(s["observed_tau"] is None for s in data["saddles"])
    assert any("beyond float range" in note for note in data["notes"])


def test_cli_table_and_outputs(tmp_path: Path) -> None:
    result = run("path", "face2d", "--depth", "3", "--alpha", "1e-6")
    assert result.exit_code == 0, result.stderr
    assert "τ_k" in result.stdout and "tie-break point" in result.stdout
    for suffix in (".npz", ".csv", ".json"):
        out = tmp_path / f"p{suffix}"
        assert run("path", "face2d", "--output", str(out)).exit_code == 0
        assert out.stat().st_size > 0
    with np.load(tmp_path / "p.npz") as arrays:
        assert arrays["x"].shape == (3, 5) and arrays["tau"][1] == 0.25


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--alpha", "0"], "--alpha"),
        (["--alpha", "2"], "0 < α < 1"),
        (["--check-alpha", "abc"], "--check-alpha"),
        (["--depth", "1.5"], "--depth"),
        (["--plot", "x.txt"], "--plot"),
    ],
)
def test_cli_usage_errors(args: list[str], text: str) -> None:
    result = run("path", *args)
    assert result.exit_code == 2
    assert text in result.stderr


@pytest.mark.parametrize("extra", [[], ["--no-bp"]])
def test_cli_infeasible_exits_1(tmp_path: Path, extra: list[str]) -> None:
    problem = tmp_path / "bad.csv"
    problem.write_text("1,2,1\n2,4,0\n")
    result = run("path", str(problem), *extra)
    assert result.exit_code == 1
    assert result.stderr.startswith("error:") and "not in the range of A" in result.stderr
    assert "bad.csv" in result.stderr
    assert result.stdout == ""


def test_cli_no_bp() -> None:
    data = run_json("path", "random3x5", "--no-bp")
    assert data["bp_distance"] is None and data["bp_elapsed_s"] < 1e-3
    assert data["saddles"][1]["tau"] == pytest.approx(0.67879999022528, rel=1e-12, abs=0)


@pytest.mark.parametrize("seed", range(60))
def test_degenerate_integer_problems_match_the_reference(seed: int) -> None:
    """Small integer matrices: ties, dependent columns, faces. Event times and losses are
    unique even where the saddles are not, so they must match the fresh-NNLS reference."""
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 5)), int(rng.integers(2, 9))
    A = rng.integers(-2, 3, size=(m, n)).astype(float)
    y = A @ (rng.integers(-2, 3, size=n) * (rng.random(n) < 0.5)).astype(float)
    result = path(A, y, depth=2.0 + seed % 3)
    reference = _reference_path(A, y)
    np.testing.assert_allclose(
        [s.tau for s in result.saddles], [t for t, _ in reference], rtol=1e-9, atol=1e-12
    )
    losses = [0.5 * float(np.sum((A @ x - y) ** 2)) for _, x in reference]
    np.testing.assert_allclose([s.loss for s in result.saddles], losses, atol=1e-9 * (1 + y @ y))
    bp = solve_basis_pursuit(A, y)
    assert np.sum(np.abs(result.x)) == pytest.approx(bp.l1_norm, rel=1e-9, abs=1e-12)
    assert np.max(np.abs(A.T @ result.certificate), initial=0.0) <= 1 + 1e-9


@pytest.mark.parametrize("extra", [[], ["--no-bp"]])
def test_cli_time_limit_exits_4(extra: list[str]) -> None:
    result = run("path", "gauss:50:200:10:0", "--time-limit", "0", *extra)
    assert result.exit_code == 4
    assert "time limit" in result.stderr and result.stdout == ""


def test_cli_subprocess_json_parses() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dlncli", "path", "plane", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(proc.stdout)
    assert data["saddles"][1]["tau"] == pytest.approx(1 / 18)
