"""The flow ODE against the paper's raw (u, v) integration, and against the exact limit."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from dlncli.arrays import LN10
from dlncli.dln.flow import integrate_flow, integrate_raw_flow
from dlncli.dln.limit import bp_anchor, flow_limit
from dlncli.dln.path import path
from dlncli.problem_io import load_sample
from tests.helpers import run, run_json


@pytest.mark.parametrize(
    ("name", "depth", "alpha", "t_end"),
    [
        ("random3x5", 3.0, 0.1, 5.0),
        ("line", 2.0, 0.1, 0.3),
        ("kink:0.1", 4.0, 0.3, 1.0),
        ("plane", 2.5, 0.05, 0.3),
    ],
)
def test_ode_matches_raw_uv_integration(
    name: str, depth: float, alpha: float, t_end: float
) -> None:
    p = load_sample(name)
    ours = integrate_flow(
        p.A,
        p.y,
        depth=depth,
        log_alpha=math.log(alpha),
        anchor=bp_anchor(p.A, p.y),
        log10_t_end=math.log10(t_end),
    )
    raw = integrate_raw_flow(
        p.A, p.y, depth=depth, alpha=alpha, t_end=t_end, rtol=1e-12, atol=1e-15
    )
    assert raw.success
    assert ours.log10_t_end == pytest.approx(math.log10(t_end))
    # x(t) is mid-transition here (far from both 0 and the limit): a meaningful comparison.
    limit = flow_limit(p.A, p.y, depth=depth, log_alpha=math.log(alpha))
    assert np.max(np.abs(ours.x)) > 0.05 and np.max(np.abs(ours.x - limit.x)) > 1e-3
    np.testing.assert_allclose(ours.x, raw.x, rtol=0, atol=1e-9 * np.max(np.abs(raw.x)))


def test_ode_states_between_saddles_match_raw_uv_integration() -> None:
    """Mid-transient states, where coordinates enter and leave the support: the ODE's x-part
    error norm (X_TOL) is what keeps x accurate there. A Gaussian 3 x 6 at p = 3,
    alpha = 1e-3, stopped at the tau midway between consecutive saddles of the path,
    against scipy's LSODA on the raw (u, v) system (rtol 1e-12)."""
    rng = np.random.default_rng(19)
    A, y = rng.standard_normal((3, 6)), rng.standard_normal(3)
    depth, alpha, n = 3.0, 1e-3, 6
    saddles = path(A, y, depth=depth).saddles
    rate = depth * (depth - 2) * alpha ** (depth - 2)  # tau = rate * t

    def rhs(_t: float, state: np.ndarray) -> np.ndarray:
        u, v = state[:n], state[n:]
        corr = A.T @ (y - A @ (u**depth - v**depth))
        return np.concatenate([depth * u ** (depth - 1) * corr, -depth * v ** (depth - 1) * corr])

    t_last = 1.2 * saddles[-1].tau / rate
    raw = solve_ivp(
        rhs,
        (0, t_last),
        np.full(2 * n, alpha),
        method="LSODA",
        rtol=1e-12,
        atol=1e-16,
        dense_output=True,
    )
    assert raw.success and raw.sol is not None
    anchor = bp_anchor(A, y)
    errors = []
    for before, after in itertools.pairwise(saddles):
        t = 0.5 * (before.tau + after.tau) / rate
        ours = integrate_flow(
            A, y, depth=depth, log_alpha=math.log(alpha), anchor=anchor, log10_t_end=math.log10(t)
        )
        state = raw.sol(t)
        x_raw = state[:n] ** depth - state[n:] ** depth
        errors.append(float(np.max(np.abs(ours.x - x_raw)) / np.max(np.abs(x_raw))))
    # Observed: at most 1.1e-9 (rtol 1e-9); with X_TOL 100x looser the third midpoint is off
    # by 3.6e-8. The bound sits between the two, not at 1e3 x, on purpose.
    assert max(errors) <= 5e-9


@pytest.mark.parametrize(
    ("name", "depth", "log10_alpha"),
    [("line", 3.0, -3.0), ("random3x5", 2.0, -3.0), ("plane", 4.0, -2.0), ("kink:0.1", 2.5, -2.0)],
)
def test_ode_end_point_matches_exact_limit(name: str, depth: float, log10_alpha: float) -> None:
    p = load_sample(name)
    anchor = bp_anchor(p.A, p.y)
    run_ = integrate_flow(p.A, p.y, depth=depth, log_alpha=log10_alpha * LN10, anchor=anchor)
    limit = flow_limit(p.A, p.y, depth=depth, log_alpha=log10_alpha * LN10, anchor=anchor)
    assert run_.converged and run_.reachable
    assert np.max(np.abs(run_.x - limit.x)) <= 1e-8 * np.max(np.abs(limit.x))
    # The trajectory starts at x = 0 with loss ||y||^2 / 2 and the loss ends near 0.
    assert np.all(run_.xs[0] == 0) and run_.losses[0] == pytest.approx(0.5 * p.y @ p.y)
    assert run_.losses[-1] < 1e-12


def test_saddle_to_saddle_support_changes_on_random3x5() -> None:
    p = load_sample("random3x5")
    run_ = integrate_flow(p.A, p.y, depth=3.0, log_alpha=-3 * LN10, anchor=bp_anchor(p.A, p.y))
    supports = [c.support for c in run_.support_changes]
    # Coordinates switch on one at a time, ending on the BP support {2, 3, 4}.
    assert supports[-1] == (2, 3, 4)
    assert [len(s) for s in supports] == sorted(len(s) for s in supports)
    losses = [c.loss for c in run_.support_changes]
    assert losses == sorted(losses, reverse=True)


def test_unreachable_time_scale_is_reported() -> None:
    p = load_sample("kink:0.1")
    run_ = integrate_flow(p.A, p.y, depth=4.0, log_alpha=-300 * LN10, anchor=bp_anchor(p.A, p.y))
    assert not run_.reachable and not run_.converged
    assert "beyond float range" in run_.message


# --------------------------------------------------------------------------- CLI


FLOW_KEYS = (
    "x",
    "alpha",
    "log10_alpha",
    "depth",
    "loss",
    "residual_inf",
    "l1_norm",
    "converged",
    "method",
    "t_end",
    "limit_agreement",
    "elapsed_s",
)


def test_flow_default_command_json() -> None:
    data = run_json("flow", "--alpha", "1e-6", "--depth", "3")
    for key in FLOW_KEYS:
        assert key in data
    assert data["method"] == "ode" and data["converged"] is True
    assert data["limit_agreement"] <= 1e-8
    assert data["log10_alpha"] == pytest.approx(-6)
    assert data["alpha"] == pytest.approx(1e-6, rel=1e-12, abs=0)
    assert data["problem"]["name"] == "line"


def test_flow_limit_only_and_extreme_alpha() -> None:
    data = run_json("flow", "random3x5", "--alpha", "1e-1000", "--depth", "2", "--limit-only")
    assert data["method"] == "limit" and data["alpha"] is None
    assert data["log10_alpha"] == pytest.approx(-1000)
    np.testing.assert_allclose(data["x"], [0, 0, -0.2782195, -0.9491969, -0.5365510], atol=1e-6)
    assert data["t_end"] is None and data["limit_agreement"] is None


def test_flow_unreachable_ode_falls_back_to_limit() -> None:
    result = run("flow", "kink:0.1", "--alpha", "1e-300", "--depth", "4", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["method"] == "limit"
    assert data["x"] == pytest.approx([1.0, 0.0])
    assert "beyond float range" in result.stderr


def test_flow_t_end_reports_the_ode_state() -> None:
    data = run_json("flow", "line", "--alpha", "0.1", "--depth", "2", "--t-end", "0.3")
    assert data["x_source"] == "ODE state at t_end"
    assert data["t_end"] == pytest.approx(0.3)
    np.testing.assert_allclose(data["x"], [1.09729673, 0.11975613, 0.25136078], atol=1e-7)


def test_flow_trajectory_file(tmp_path: Path) -> None:
    out = tmp_path / "traj.npz"
    data = run_json("flow", "random3x5", "--alpha", "1e-2", "--trajectory", str(out))
    with np.load(out) as traj:
        assert traj["x"].shape[1] == 5 and traj["x"].shape[0] == traj["t"].shape[0]
        assert traj["loss"][0] == pytest.approx(
            0.5 * float(np.sum(np.array([0.973, -0.039, -0.886]) ** 2))
        )
        np.testing.assert_allclose(traj["x"][-1], data["x"], atol=1e-8)
    csv = tmp_path / "traj.csv"
    run_json("flow", "random3x5", "--alpha", "1e-2", "--trajectory", str(csv))
    header = csv.read_text().splitlines()[0].split(",")
    assert header[:3] == ["t", "log10_t", "loss"] and header[3:8] == [f"x_{i}" for i in range(5)]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--alpha", "0"], "--alpha"),
        (["--alpha", "-1e-3"], "--alpha"),
        (["--alpha", "abc"], "--alpha"),
        (["--alpha", "nan"], "--alpha"),
        (["--depth", "1.5"], "--depth"),
        (["--depth", "nan"], "--depth"),
        (["--depth", "x"], "--depth"),
        (["--t-end", "-1"], "--t-end"),
    ],
)
def test_flow_usage_errors(args: list[str], fragment: str) -> None:
    result = run("flow", *args)
    assert result.exit_code == 2
    assert fragment in result.stderr and "Traceback" not in result.stderr


def test_flow_subprocess_json_and_table() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dlncli", "flow", "--alpha", "1e-6", "--depth", "3", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["converged"] is True
    table = run("flow", "line", "--alpha", "1e-3", "--depth", "2")
    assert table.exit_code == 0
    assert "saddle-to-saddle" in table.stdout and "x_i" in table.stdout
