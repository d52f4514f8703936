"""The raw (u, v) integrator in the paper authors' form, flow --method raw, and u(t), v(t) in
saved trajectories."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest

import dlncli.dln.flow
from dlncli.arrays import LN10
from dlncli.dln.flow import integrate_raw_flow, raw_flow_rhs
from dlncli.dln.limit import flow_limit
from dlncli.dln.potentials import log_uv_from_x, trajectory_uv
from dlncli.problem_io import load_sample
from tests.helpers import SteppingClock, run


@pytest.mark.parametrize("p", [2.0, 2.5, 4.0])
def test_raw_jacobian_matches_finite_differences(p: float) -> None:
    prob = load_sample("random3x5")
    rng = np.random.default_rng(0)
    state = rng.uniform(0.2, 1.2, size=10)
    rhs, jac = raw_flow_rhs(prob.A, prob.y, p)
    step = 1e-6
    fd = np.empty((10, 10))
    for j in range(10):
        e = np.zeros(10)
        e[j] = step
        fd[:, j] = (rhs(0.0, state + e) - rhs(0.0, state - e)) / (2 * step)
    np.testing.assert_allclose(jac(0.0, state), fd, rtol=1e-7, atol=1e-8)
    # The right-hand side is minus the gradient of 1/2 ||A(u^p - v^p) - y||^2.
    u, v = state[:5], state[5:]
    residual = prob.A @ (u**p - v**p) - prob.y
    grad_u = p * u ** (p - 1) * (prob.A.T @ residual)
    grad_v = -p * v ** (p - 1) * (prob.A.T @ residual)
    np.testing.assert_allclose(rhs(0.0, state), -np.concatenate([grad_u, grad_v]), rtol=1e-13)


@pytest.mark.parametrize(
    ("name", "p", "log10_alpha_p", "method"),
    [
        ("kink:0.1", 3.0, -6.0, "LSODA"),
        ("kink:0.01", 5.0, -9.0, "LSODA"),
        ("line", 2.0, -2.0, "LSODA"),
        ("line", 3.0, -1.0, "Radau"),
    ],
)
def test_raw_flow_at_the_authors_horizon_reaches_the_exact_limit(
    name: str, p: float, log10_alpha_p: float, method: str
) -> None:
    prob = load_sample(name)
    alpha = 10 ** (log10_alpha_p / p)
    raw = integrate_raw_flow(prob.A, prob.y, depth=p, alpha=alpha, method=method)
    assert raw.success and raw.status == "finished"
    assert raw.t_end == pytest.approx(1e9 * alpha ** (2 - p), rel=1e-12, abs=0)
    assert raw.rtol == (2.5e-14 if method == "Radau" else 1e-12)
    limit = flow_limit(prob.A, prob.y, depth=p, log_alpha=log10_alpha_p / p * LN10)
    assert np.max(np.abs(raw.x - limit.x)) < 1e-10
    # u and v themselves: the closed form from x (docs/potentials.md) and, for p > 2,
    # the invariant u^(2-p) + v^(2-p) = 2 alpha^(2-p).
    log_u, log_v = log_uv_from_x(raw.x, depth=p, log_alpha=math.log(alpha))
    np.testing.assert_allclose(np.log(raw.u), log_u, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.log(raw.v), log_v, rtol=0, atol=1e-9)
    if p > 2:
        invariant = raw.u ** (2 - p) + raw.v ** (2 - p)
        np.testing.assert_allclose(invariant, 2 * alpha ** (2 - p), rtol=1e-9)


def test_log_uv_from_x_follows_the_whole_raw_trajectory() -> None:
    prob = load_sample("random3x5")
    p, alpha = 2.5, 0.05
    raw = integrate_raw_flow(prob.A, prob.y, depth=p, alpha=alpha, t_end=30.0, method="LSODA")
    assert raw.success and raw.us.shape[0] > 20
    xs = raw.trajectory()["x"]
    log_u, log_v = log_uv_from_x(xs, depth=p, log_alpha=math.log(alpha))
    assert np.max(np.abs(xs[-1])) > 0.1  # the flow has moved: a real check
    np.testing.assert_allclose(np.log(raw.us), log_u, rtol=0, atol=1e-8)
    np.testing.assert_allclose(np.log(raw.vs), log_v, rtol=0, atol=1e-8)


def test_raw_flow_reports_when_it_cannot_finish() -> None:
    prob = load_sample("line")
    stopped = integrate_raw_flow(prob.A, prob.y, depth=3.0, alpha=0.1, time_limit=0.0)
    assert not stopped.success and stopped.status == "time limit"
    assert "did not finish" in stopped.message and f"of {stopped.t_target:.6g}" in stopped.message
    assert 0 < stopped.t_end < stopped.t_target
    tiny = integrate_raw_flow(prob.A, prob.y, depth=3.0, alpha=1e-120)
    assert tiny.status == "unreachable" and "outside float range" in tiny.message
    huge = integrate_raw_flow(np.array([[1.0]]), np.array([1e300]), depth=4.0, alpha=0.5)
    assert huge.status == "failed" and not huge.success and "Radau" in huge.message
    assert np.all(np.isfinite(huge.u))


# --------------------------------------------------------------------------- the command


def test_flow_method_raw_json_and_trajectory(tmp_path: Path) -> None:
    traj = tmp_path / "traj.npz"
    result = run(
        "flow",
        "kink:0.1",
        "--method",
        "raw-lsoda",
        "--alpha",
        "1e-2",
        "--depth",
        "3",
        "--trajectory",
        str(traj),
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["method"] == "raw-lsoda" and "LSODA" in data["message"]
    assert data["t_end"] == pytest.approx(1e9 * 1e-2 ** (2 - 3), rel=1e-12, abs=0)
    assert data["limit_agreement"] < 1e-11 and data["raw_steps"] > 10
    with np.load(traj) as npz:
        saved = dict(npz)
    assert {"t", "x", "u", "v", "log_u", "log_v", "loss"} <= set(saved)
    np.testing.assert_allclose(saved["u"] ** 3 - saved["v"] ** 3, saved["x"], atol=1e-15)
    np.testing.assert_allclose(saved["x"][-1], data["x"], rtol=0, atol=0)


def test_flow_ode_trajectory_saves_u_and_v(tmp_path: Path) -> None:
    traj = tmp_path / "traj.npz"
    result = run("flow", "line", "--alpha", "1e-2", "--depth", "3", "--trajectory", str(traj))
    assert result.exit_code == 0, result.stderr
    with np.load(traj) as npz:
        saved = dict(npz)
    assert {"u", "v", "log_u", "log_v"} <= set(saved)
    np.testing.assert_allclose(saved["u"] ** 3 - saved["v"] ** 3, saved["x"], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(saved["u"][0], 1e-2, rtol=1e-14)


def test_flow_trajectory_keeps_logs_where_u_underflows(tmp_path: Path) -> None:
    traj = tmp_path / "traj.npz"
    result = run("flow", "line", "--alpha", "1e-310", "--depth", "2.5", "--trajectory", str(traj))
    assert result.exit_code == 0, result.stderr
    assert "log_u, log_v" in result.stderr
    with np.load(traj) as npz:
        saved = dict(npz)
    assert "u" not in saved and "log_u" in saved and "log_v" in saved
    assert saved["log_u"][0][0] == pytest.approx(-310 * LN10, rel=1e-14, abs=0)


@pytest.mark.parametrize("p", [2.0, 3.0])
def test_trajectory_uv_in_logs_is_exact_beyond_float_range(p: float) -> None:
    xs = np.array([[0.0, 0.0], [1e-3, -2.0], [1.5, -1e-200]])
    arrays, note = trajectory_uv(xs, depth=p, log_alpha=-800.0)
    assert "outside float range" in note and set(arrays) == {"log_u", "log_v"}
    with mp.workdps(40):
        for row, lu, lv in zip(xs, arrays["log_u"], arrays["log_v"], strict=True):
            for x, a, b in zip(row, lu, lv, strict=True):
                value = mp.exp(p * mp.mpf(a)) - mp.exp(p * mp.mpf(b))
                assert abs(value - x) <= 1e-12 * abs(x) + mp.mpf(10) ** -600
    arrays, note = trajectory_uv(xs, depth=p, log_alpha=-3.0)
    assert note == "" and {"u", "v"} <= set(arrays)
    np.testing.assert_allclose(arrays["u"] ** p - arrays["v"] ** p, xs, rtol=1e-12, atol=1e-18)


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--method", "raw", "--limit-only"], 2, "drop --limit-only"),
        (["--method", "raw", "--alpha", "1e-200"], 2, "1e-300 < α^p"),
        (["--method", "raw", "--alpha", "0.1", "--time-limit", "0.2"], 4, "did not finish"),
        (["--method", "nope"], 2, "nope"),
    ],
)
def test_flow_method_raw_errors(
    args: list[str], code: int, needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "--time-limit" in args:
        # Each clock reading of the raw integrator is 1 s later: the 0.2 s budget is spent
        # at its first step on any machine.
        monkeypatch.setattr(dlncli.dln.flow, "time", SteppingClock(1.0))
    result = run("flow", "line", *args)
    assert result.exit_code == code
    assert needle in result.stderr and "Traceback" not in result.stderr


def test_flow_method_raw_failed_integration_is_exit_1_with_json(tmp_path: Path) -> None:
    problem = tmp_path / "huge.csv"
    problem.write_text("1,1e150\n")
    result = run(
        "flow", str(problem), "--method", "raw", "--alpha", "0.5", "--depth", "4", "--json"
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "failed"
    assert "error:" in result.stderr and "Radau" in result.stderr
