"""The exact flow limit against 60-digit mpmath references and closed forms."""

from __future__ import annotations

import hashlib
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dlncli.arrays import LN10
from dlncli.bp.verdict import max_margin_certificate
from dlncli.dln.limit import (
    Anchor,
    _newton_solve,
    bp_anchor,
    flow_limit,
    mirror_coordinates,
    newton_step,
    solve_equilibrated,
)
from dlncli.problem_io import load_sample
from tests.reference.mp_limit import mp_flow_limit

REFERENCES = json.loads((Path(__file__).parent / "data" / "limit_references.json").read_text())


@cache
def _anchor(name: str) -> Anchor:
    p = load_sample(name)
    return bp_anchor(p.A, p.y)


@pytest.mark.parametrize(
    "case", REFERENCES, ids=lambda c: f"{c['problem']}-p{c['depth']}-a1e{c['log10_alpha']}"
)
def test_limit_matches_60_digit_reference(case: dict[str, Any]) -> None:
    p = load_sample(case["problem"])
    result = flow_limit(
        p.A,
        p.y,
        depth=float(case["depth"]),
        log_alpha=float(case["log10_alpha"]) * LN10,
        anchor=_anchor(case["problem"]),
    )
    ref = np.array([float(v) for v in case["x"]])
    assert result.converged
    # Every reference case is answered by the face route itself. A wrong face map (e.g. a sign
    # flip in the p = 2 off-face map) is rejected by the face-free check, which then supplies
    # a correct x: only the route shows that the face route broke.
    assert result.route == "face"
    assert np.max(np.abs(result.x - ref)) <= 1e-9 * (1 + np.max(np.abs(ref)))


@pytest.mark.parametrize("name", sorted({c["problem"] for c in REFERENCES}))
def test_references_were_made_from_todays_sample_data(name: str) -> None:
    """A sample whose data changes in its last bit (as the gauss samples' y once did) makes
    its references stale: each stores sha256(A.tobytes() + y.tobytes()) of its data."""
    p = load_sample(name)
    digest = hashlib.sha256(p.A.tobytes() + p.y.tobytes()).hexdigest()
    stored = {c["data_sha256"] for c in REFERENCES if c["problem"] == name}
    assert stored == {digest}, "regenerate: python tools/make_limit_references.py " + name


def test_reference_file_covers_the_issue_grid() -> None:
    seen = {(c["problem"], c["depth"], c["log10_alpha"]) for c in REFERENCES}
    for name in ("line", "plane", "random3x5", "kink:0.1", "gauss:10:30:10:1", "gauss:10:30:4:2"):
        for depth in ("2", "2.5", "3", "4", "6"):
            for log10_alpha in ("-1", "-3", "-6", "-9"):
                assert (name, depth, log10_alpha) in seen
        assert (name, "2", "-50") in seen and (name, "2", "-300") in seen


def test_live_mpmath_reference_agrees() -> None:
    # The checked-in references are made by this same mpmath code: run it once here too.
    p = load_sample("plane")
    ref = np.array([float(v) for v in mp_flow_limit(p.A.tolist(), p.y.tolist(), "2.5", "-2")])
    result = flow_limit(p.A, p.y, depth=2.5, log_alpha=-2 * LN10)
    assert result.route == "face"
    got = result.x
    assert np.max(np.abs(got - ref)) <= 1e-12 * (1 + np.max(np.abs(ref)))


def _line_t(depth: float) -> float:
    """The paper's closed-form tie-break on the line instance (docs/model.md §4)."""
    if depth == 2:
        c = 4 ** (1 / 3)
        return c / (3 + c)
    ratio = 3 ** (2 / depth) / (2 ** (2 / depth) + 1)
    return float(1 / (1 + ratio ** (-depth / (depth - 2))))


@pytest.mark.parametrize(
    ("depth", "log10_alpha"), [(2, -300), (2, -1000), (2.5, -300), (3, -100), (4, -300), (6, -100)]
)
def test_far_below_double_precision_the_limit_is_the_tie_break(
    depth: float, log10_alpha: float
) -> None:
    p = load_sample("line")
    result = flow_limit(p.A, p.y, depth=depth, log_alpha=log10_alpha * LN10)
    assert result.route == "face"
    x = result.x
    t = _line_t(depth)
    np.testing.assert_allclose(x, [1 - t, 2 * (1 - t), 3 * t], rtol=1e-12, atol=1e-13)


def test_published_tie_break_values() -> None:
    for depth, t in ((2.5, 0.343587), (3, 0.341923), (4, 0.339811)):
        assert _line_t(depth) == pytest.approx(t, abs=1e-6)
    assert _line_t(2) == pytest.approx(0.346035, abs=1e-6)


@pytest.mark.parametrize("depth", [2.0, 3.0, 4.0])
def test_unique_bp_far_below_double_precision(depth: float) -> None:
    for name in ("random3x5", "kink:0.1"):
        p = load_sample(name)
        x_bp = _anchor(name).bp.x
        result = flow_limit(p.A, p.y, depth=depth, log_alpha=-300 * LN10, anchor=_anchor(name))
        assert result.route == "face"
        x = result.x
        np.testing.assert_allclose(x, x_bp, rtol=1e-13, atol=1e-15)


def test_zero_rhs_and_rank_deficient_rows() -> None:
    A = np.array([[1.0, 2.0, 0.5], [2.0, 4.0, 1.0]])  # rank 1
    x = flow_limit(A, np.zeros(2), depth=3, log_alpha=math.log(1e-3)).x
    assert np.all(x == 0)
    y = A @ np.array([0.0, 1.0, 0.0])
    result = flow_limit(A, y, depth=3, log_alpha=math.log(1e-3))
    assert result.residual_inf <= 1e-12
    assert result.x[1] == pytest.approx(1.0, abs=1e-6)


def test_large_alpha_is_fine() -> None:
    # alpha >= 1: far from BP, but the limit is still the unique minimizer; check KKT in mpmath.
    p = load_sample("random3x5")
    for depth, log10_alpha in ((2.0, 0.5), (3.0, 0.3)):
        result = flow_limit(p.A, p.y, depth=depth, log_alpha=log10_alpha * LN10)
        assert result.route == "face"
        got = result.x
        ref = mp_flow_limit(p.A.tolist(), p.y.tolist(), depth, log10_alpha)
        assert np.max(np.abs(got - np.array([float(v) for v in ref]))) <= 1e-10


def test_overflowing_depth_two_start_is_rejected_not_a_crash() -> None:
    # Found on a sparse 800 x 3200 problem: an ill-conditioned A_J put the depth-2 face start
    # at |theta| ~ 6e3, exp(-L + z) overflowed, and lstsq raised LinAlgError on the inf/nan
    # Newton matrix. Such a point must count as infeasible and Newton must stop cleanly.
    p = load_sample("random3x5")
    anchor = bp_anchor(p.A, p.y)
    coords = mirror_coordinates(anchor, depth=2.0, log_alpha=-100.0)
    theta = np.full(coords.geometry.dim, 1e4)
    assert not coords.feasible(theta)
    outcome = _newton_solve(coords, theta)
    assert not outcome.converged
    assert np.all(np.isnan(solve_equilibrated(np.full((2, 2), np.inf), np.ones(2))))
    # A sane start still converges to the same limit as the public entry point.
    start = coords.face_state(anchor.point)
    assert start is not None and coords.feasible(start)
    converged = _newton_solve(coords, start)
    x, _, _ = coords.evaluate(converged.theta)
    reference = flow_limit(p.A, p.y, depth=2.0, log_alpha=-100.0, anchor=anchor).x
    assert converged.converged and np.max(np.abs(x - reference)) <= 1e-12


@pytest.mark.parametrize(
    ("name", "depth", "log10_alpha"), [("line", 2.0, -300), ("plane", 2.0, -50)]
)
def test_newton_stops_only_after_a_step_below_its_tolerance(
    name: str, depth: float, log10_alpha: float
) -> None:
    """Newton's convergence claim: its last full step moved x by <= 1e-13 (relative). Here
    the steps go 1.1e-6, 5.4e-13, 1.4e-16: a tolerance 100x looser stops after the 5.4e-13
    step. (The answer itself would barely move, Newton being quadratic here, but the reported
    last step is the error estimate the user gets.) One more step, taken here, confirms it."""
    p = load_sample(name)
    anchor = bp_anchor(p.A, p.y)
    coords = mirror_coordinates(anchor, depth=depth, log_alpha=log10_alpha * LN10)
    start = coords.face_state(anchor.point)
    assert start is not None
    outcome = _newton_solve(coords, start)
    assert outcome.converged
    assert outcome.last_step <= 1e-13
    extra = newton_step(coords, outcome.theta)
    assert np.max(np.abs(extra.dx)) <= 1e-15 * np.max(np.abs(extra.x))  # observed 1.4e-16


@pytest.mark.parametrize(
    "spec", ["gauss:50:200:10:1", "gauss:10:30:4:2", "gauss:100:400:20:3", "gauss:40:200:15:4"]
)
def test_anchor_certificate_is_strict_and_at_most_the_max_margin(spec: str) -> None:
    # These faces are vertices with non-strict LP certificates: the anchor comes from the
    # depth-2 limit. The max-margin LP (an independent computation) bounds its margin.
    p = load_sample(spec)
    anchor = bp_anchor(p.A, p.y)
    face = anchor.bp.face
    off = np.setdiff1d(np.arange(p.A.shape[1]), face.support)
    corr = p.A.T @ anchor.dual
    assert np.max(np.abs(corr[face.support] - face.signs)) <= 1e-9
    assert anchor.margin == pytest.approx(1 - np.max(np.abs(corr[off])), abs=1e-12)
    gamma = max_margin_certificate(p.A, face.support, face.signs).margin
    assert 0 < anchor.margin <= gamma + 1e-9


def test_anchor_falls_back_to_the_next_level(monkeypatch: pytest.MonkeyPatch) -> None:
    # At L = 1 the depth-2 dual is far from the dual face: its projection is not strict, and
    # the anchor must come from the next level; the limit does not depend on the certificate.
    import dlncli.dln.limit as limit_module

    p = load_sample("gauss:50:200:10:1")
    expected = flow_limit(p.A, p.y, depth=3.0, log_alpha=-2 * LN10).x
    levels: list[float] = []
    real = limit_module.flow_limit

    def recording(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("depth") == 2.0:
            levels.append(-2 * kwargs["log_alpha"])
        return real(*args, **kwargs)

    monkeypatch.setattr(limit_module, "ENTROPIC_LEVELS", (1.0, 200.0))
    monkeypatch.setattr(limit_module, "flow_limit", recording)
    anchor = bp_anchor(p.A, p.y)
    assert levels == [1.0, 200.0] and anchor.margin > 0
    x = real(p.A, p.y, depth=3.0, log_alpha=-2 * LN10, anchor=anchor).x
    assert np.max(np.abs(x - expected)) <= 1e-12
