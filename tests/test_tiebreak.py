"""Depth-dependent tie-break: closed forms, optimality certificates, a second method, the flow."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from dlncli.arrays import LN10
from dlncli.bp.verdict import solve_basis_pursuit
from dlncli.dln.limit import flow_limit
from dlncli.dln.tiebreak import select_minimizer
from dlncli.problem_io import load_sample
from tests.helpers import run, run_json

DEPTHS = [2.0, 2.5, 3.0, 4.0, math.inf]


def _line_t(depth: float) -> float:
    if depth == 2:
        c = 4 ** (1 / 3)
        return c / (3 + c)
    if math.isinf(depth):
        return 1 / 3
    ratio = 3 ** (2 / depth) / (2 ** (2 / depth) + 1)
    return float(1 / (1 + ratio ** (-depth / (depth - 2))))


@pytest.mark.parametrize("name", ["line", "plane"])
def test_line_and_plane_match_closed_forms(name: str) -> None:
    p = load_sample(name)
    result = select_minimizer(p.A, p.y, solve_basis_pursuit(p.A, p.y), DEPTHS)
    assert not result.unique and result.face_dimension == 1
    for sel in result.selections:
        t = _line_t(sel.depth)
        expected = [1 - t, 2 * (1 - t), 3 * t] + ([0.0] if name == "plane" else [])
        np.testing.assert_allclose(sel.x, expected, atol=1e-12)


def _kkt_residual(B: np.ndarray, v: np.ndarray, depth: float) -> float:
    """Distance of grad f(v) from range(B^T): zero exactly at the constrained optimum."""
    if depth == 2:
        grad = np.log(v) + 1
    elif math.isinf(depth):
        grad = -1 / v
    else:
        grad = -(2 / depth) * v ** (2 / depth - 1)
    nu = np.linalg.lstsq(B.T, grad, rcond=None)[0]
    return float(np.max(np.abs(B.T @ nu - grad)) / np.max(np.abs(grad)))


@pytest.mark.parametrize("name", ["face2d", "signs"])
def test_two_dimensional_face_with_and_without_mixed_signs(name: str) -> None:
    p = load_sample(name)
    result = select_minimizer(p.A, p.y, solve_basis_pursuit(p.A, p.y), DEPTHS)
    assert result.face_dimension == 2
    J, s = result.support, result.signs
    B = p.A[:, J] * s
    points = []
    for sel in result.selections:
        v = s * sel.x[J]
        assert np.all(v > 0)
        np.testing.assert_allclose(B @ v, p.y, atol=1e-13)
        assert _kkt_residual(B, v, sel.depth) <= 1e-12
        points.append(v)
    # Different depths select different points on this face.
    assert min(np.max(np.abs(a - b)) for i, a in enumerate(points) for b in points[i + 1 :]) > 1e-3


def test_second_method_slsqp_agrees_on_face2d() -> None:
    p = load_sample("face2d")
    result = select_minimizer(p.A, p.y, solve_basis_pursuit(p.A, p.y), [3.0])
    B = p.A[:, :4]

    def objective(v: np.ndarray) -> float:
        return float(-np.sum(np.maximum(v, 0) ** (2 / 3)))

    ref = minimize(  # type: ignore[call-overload]
        objective,
        np.full(4, 0.25),
        constraints=[{"type": "eq", "fun": lambda v: B @ v - p.y}],
        bounds=[(1e-12, None)] * 4,
        method="SLSQP",
        options={"ftol": 1e-15, "maxiter": 500},
    )
    np.testing.assert_allclose(result.selections[0].x[:4], ref.x, atol=1e-6)


@pytest.mark.parametrize("name", ["line", "face2d", "signs"])
@pytest.mark.parametrize("depth", [2.5, 3.0, 4.0])
def test_flow_limit_at_tiny_alpha_is_the_selected_point(name: str, depth: float) -> None:
    p = load_sample(name)
    selected = select_minimizer(p.A, p.y, solve_basis_pursuit(p.A, p.y), [depth]).selections[0]
    limit = flow_limit(p.A, p.y, depth=depth, log_alpha=-40 / depth * LN10)  # alpha^p = 1e-40
    assert np.max(np.abs(limit.x - selected.x)) <= 1e-10


def test_unique_bp_every_depth_selects_it() -> None:
    p = load_sample("random3x5")
    bp = solve_basis_pursuit(p.A, p.y)
    result = select_minimizer(p.A, p.y, bp, DEPTHS)
    assert result.unique
    for sel in result.selections:
        np.testing.assert_array_equal(sel.x, bp.x)


def test_large_generated_face() -> None:
    p = load_sample("face:60:300:20:8:3")
    bp = solve_basis_pursuit(p.A, p.y)
    assert bp.face_dimension == 12
    result = select_minimizer(p.A, p.y, bp, DEPTHS)
    B = p.A[:, result.support] * result.signs
    for sel in result.selections:
        assert _kkt_residual(B, result.signs * sel.x[result.support], sel.depth) <= 1e-10


def test_tie_break_cli_json_and_verify() -> None:
    data = run_json("tie-break", "line", "--verify")
    for key in ("unique", "face_dimension", "l1_norm", "support", "selected"):
        assert key in data
    assert list(data["selected"]) == ["2", "2.5", "3", "4", "inf"]
    assert data["selected"]["3"][2] / 3 == pytest.approx(0.341923, abs=1e-6)
    for label, rows in data["verify"].items():
        distances = [r["distance"] for r in rows]
        # Shrinking, until it reaches the round-off floor.
        assert all(b <= max(a, 1e-14) for a, b in itertools.pairwise(distances))
        if float(label) > 2:
            assert distances[-1] < 1e-6
    data = run_json("tie-break", "random3x5", "--depth", "3.0", "--depth", "inf")
    assert data["unique"] is True and list(data["selected"]) == ["3.0", "inf"]


@pytest.mark.parametrize("bad", ["1.5", "abc", "nan", "-inf"])
def test_tie_break_bad_depths(bad: str) -> None:
    result = run("tie-break", "--depth", bad)
    assert result.exit_code == 2 and "--depth" in result.stderr


def test_tie_break_table() -> None:
    result = run("tie-break", "signs")
    assert result.exit_code == 0, result.stderr
    assert "pairwise distances" in result.stdout
    assert json.loads(run("tie-break", "signs", "--json").stdout)["face_dimension"] == 2
