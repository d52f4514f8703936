"""compare: errors and rates against independently known numbers (docs/model.md §5)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from dlncli.dln.compare import FIT_POINTS, compare_flow_to_bp, fit_rate
from dlncli.problem_io import load_sample
from dlncli.reports import CompareRowReport
from tests.helpers import run, run_json

GRID = [float(-k) for k in range(10)]


def _grid(depth: float) -> list[float]:
    return [lp / depth for lp in GRID]


def test_random3x5_errors_and_slopes_match_published_values() -> None:
    p = load_sample("random3x5")
    result = compare_flow_to_bp(p.A, p.y, depths=[2.0, 3.0, 4.0], log10_alphas=_grid)
    assert result.reference == "bp"
    assert result.dual_margin == pytest.approx(0.745, abs=1e-3)
    by_key = {(r.depth, round(r.log10_alpha_p)): r for r in result.rows}
    assert by_key[(3.0, -6)].error_l2 == pytest.approx(2.3e-6, rel=0.05, abs=0)
    assert by_key[(4.0, -9)].error_l2 == pytest.approx(1.4e-9, rel=0.05, abs=0)
    fits = {f.depth: f for f in result.fits}
    assert fits[3.0].slope == pytest.approx(1.0, abs=0.05) and fits[3.0].agrees
    assert fits[2.0].predicted_slope == pytest.approx(0.745, abs=1e-3) and fits[2.0].agrees
    # The objective gap is positive and shrinks with alpha.
    gaps = [r.l1_gap for r in result.rows if r.depth == 3.0]
    assert all(g > 0 for g in gaps[1:]) and gaps[-1] < gaps[1]


def test_plane_p2_slope_is_its_dual_margin() -> None:
    p = load_sample("plane")
    result = compare_flow_to_bp(p.A, p.y, depths=[2.0], log10_alphas=_grid)
    assert result.reference == "tie-break"
    assert result.dual_margin == pytest.approx(0.5, abs=1e-9)
    fit = result.fits[0]
    assert fit.predicted_slope == pytest.approx(0.5) and fit.agrees
    assert fit.slope == pytest.approx(0.5, abs=0.02)


def test_line_has_no_off_face_term() -> None:
    p = load_sample("line")
    result = compare_flow_to_bp(p.A, p.y, depths=[2.0, 3.0], log10_alphas=_grid)
    fits = {f.depth: f for f in result.fits}
    assert fits[2.0].predicted_slope == 2.0 and fits[2.0].agrees
    assert fits[3.0].agrees


@pytest.mark.parametrize("eps", [0.1, 0.01])
def test_kink_plateau_and_its_break(eps: float) -> None:
    p = load_sample(f"kink:{eps}")
    grid = [-0.5 * k for k in range(1, 29)]  # alpha^p = 1e-0.5 ... 1e-14
    result = compare_flow_to_bp(
        p.A, p.y, depths=[3.0, 4.0], log10_alphas=lambda d: [lp / d for lp in grid]
    )
    for fit in result.fits:
        rows = [r for r in result.rows if r.depth == fit.depth]
        assert rows[0].error_l2 == pytest.approx(math.sqrt(0.5), abs=0.1)  # near (1/2, 1/2)
        expected = fit.depth / (fit.depth - 2) * math.log10(eps)  # alpha^p ~ eps^{p/(p-2)}
        assert fit.break_log10_alpha_p is not None
        assert abs(fit.break_log10_alpha_p - expected) <= 1.0
        assert fit.agrees


def test_kink_plateau_alone_does_not_agree_with_the_rate() -> None:
    """A grid inside kink:0.01's plateau (its break is at alpha^p ~ 1e-6 for p = 3) shows a
    flat error, slope ~0.06 against theory's 1: the verdict must be agrees = False."""
    p = load_sample("kink:0.01")
    result = compare_flow_to_bp(
        p.A, p.y, depths=[3.0], log10_alphas=lambda d: [-0.5 * k / d for k in range(1, 9)]
    )
    fit = result.fits[0]
    rows = sorted((r for r in result.rows), key=lambda r: r.log10_alpha_p)[:FIT_POINTS]
    # The fitted slope, recomputed from the rows by a two-point secant (observed 0.058).
    secant = (math.log10(rows[-1].error_l2) - math.log10(rows[0].error_l2)) / (
        rows[-1].log10_alpha_p - rows[0].log10_alpha_p
    )
    assert fit.slope is not None and fit.slope == pytest.approx(secant, abs=0.02)
    assert fit.slope < 0.2 and fit.predicted_slope == 1.0
    assert fit.agrees is False


def test_cli_json_says_agrees_false_on_the_plateau() -> None:
    data = run_json("compare", "kink:0.01", "--depth", "3", "--alpha-p-range", "0.3", "1e-4", "8")
    (fit,) = data["fits"]
    assert fit["agrees"] is False and fit["predicted_slope"] == 1.0
    assert fit["slope"] < 0.2  # observed 0.058


def _rows_with_slope(slope: float) -> list[CompareRowReport]:
    return [
        CompareRowReport(
            problem="power law",
            depth=3.0,
            log10_alpha=lp / 3.0,
            log10_alpha_p=lp,
            error_l2=10.0 ** (slope * lp),
            error_inf=10.0 ** (slope * lp),
            l1_gap=0.0,
            residual_inf=0.0,
            converged=True,
            source="limit",
            log10_t_end=None,
            limit_error_l2=None,
        )
        for lp in (-2.0, -3.0, -4.0, -5.0, -6.0)
    ]


@pytest.mark.parametrize(
    ("slope", "agrees"), [(1.0, True), (0.95, True), (1.08, True), (0.85, False), (1.2, False)]
)
def test_fit_rate_verdict_at_the_slope_tolerance(slope: float, agrees: bool) -> None:
    """Exact power laws: the fitted slope is the exponent; the verdict flips between
    |slope - 1| = 0.08 and 0.15, so a tolerance loosened past 0.15 fails this test."""
    fit = fit_rate(_rows_with_slope(slope), 1.0, scale=1.0)
    assert fit.slope == pytest.approx(slope, abs=1e-12)
    assert fit.agrees is agrees


def test_compare_cli_json_gate_and_plot(tmp_path: Path) -> None:
    data = run_json("compare", "random3x5", "--depth", "3")
    for key in ("reference", "dual_margin", "rows", "fits"):
        assert key in data
    for key in ("depth", "alpha", "log10_alpha", "error_l2", "error_inf", "l1_gap", "residual_inf"):
        assert key in data["rows"][0]
    for key in ("slope", "predicted_slope", "agrees"):
        assert key in data["fits"][0]
    assert len(data["rows"]) == 10
    failing = run("compare", "random3x5", "--depth", "2", "--fail-above", "1e-9", "--json")
    assert failing.exit_code == 3
    assert json.loads(failing.stdout)["status"] == "failed"
    assert "exceeds --fail-above" in failing.stderr
    passing = run("compare", "random3x5", "--depth", "3", "--fail-above", "1e-6")
    assert passing.exit_code == 0
    figure = tmp_path / "fig.png"
    result = run("compare", "line", "plane", "--depth", "2", "--depth", "3", "--plot", str(figure))
    assert result.exit_code == 0, result.stderr
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    multi = run_json("compare", "line", "plane", "--depth", "3")
    assert set(multi["dual_margin"]) == {"line", "plane"}


def test_compare_alpha_options() -> None:
    data = run_json("compare", "random3x5", "--depth", "3", "--alpha", "1e-2", "--alpha", "1e-3")
    assert [r["log10_alpha"] for r in data["rows"]] == pytest.approx([-2, -3])
    data = run_json("compare", "random3x5", "--depth", "3", "--alpha-range", "1e-1", "1e-3", "3")
    assert [r["log10_alpha"] for r in data["rows"]] == pytest.approx([-1, -2, -3])
    data = run_json("compare", "random3x5", "--depth", "2", "--alpha-p-range", "1", "1e-4", "5")
    assert [r["log10_alpha_p"] for r in data["rows"]] == pytest.approx([0, -1, -2, -3, -4])


@pytest.mark.parametrize(
    "args",
    [
        ["--alpha", "0"],
        ["--alpha-range", "1", "1e-3", "0"],
        ["--depth", "inf"],
        ["--alpha", "1e-2", "--alpha-range", "1", "1e-2", "2"],
        ["--plot", "fig.gif"],
        ["--fail-above", "-1"],
    ],
)
def test_compare_usage_errors(args: list[str]) -> None:
    result = run("compare", "random3x5", *args)
    assert result.exit_code == 2, result.stdout


def test_compare_ode_end_points_agree_with_limits() -> None:
    args = ("compare", "random3x5", "--depth", "3", "--alpha", "1e-1", "--alpha", "1e-2")
    limit = run_json(*args)
    ode = run_json(*args, "--ode")
    assert ode["method"] == "ode"
    for a, b in zip(limit["rows"], ode["rows"], strict=True):
        assert abs(a["error_l2"] - b["error_l2"]) <= 1e-8
