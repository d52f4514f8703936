"""compare at a finite horizon (checked against the raw (u, v) integrator), the figure layouts
(per problem / per depth, axis direction, black and white), -q, and solve-bp's help text."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from dlncli.api import compare, log10_range
from dlncli.cli.figures import compare_figure
from dlncli.dln.compare import compare_flow_to_bp, parse_t_end_rule
from dlncli.dln.flow import integrate_raw_flow
from dlncli.problem_io import load_sample
from dlncli.reports import CompareReport
from tests.helpers import run, run_json


@pytest.mark.parametrize(
    ("text", "depth", "log10_alpha", "expected"),
    [
        ("1e9*alpha^(2-p)", 3.0, -2.0, 11.0),
        ("alpha**(2 - p) * 1e9", 4.0, -1.0, 11.0),
        ("1e9/alpha^(p-2)", 2.5, -4.0, 11.0),
        ("1e9*alpha^(2-p)", 3.0, -300.0, 309.0),  # beyond float range: kept as log10
        ("250", 3.0, -2.0, math.log10(250.0)),
        ("2*p*(alpha^2)^(-p/2)", 2.0, -3.0, math.log10(4.0) + 6.0),
    ],
)
def test_t_end_rule_is_evaluated_in_the_log_domain(
    text: str, depth: float, log10_alpha: float, expected: float
) -> None:
    rule = parse_t_end_rule(text)
    assert rule.log10_t_end(depth, log10_alpha) == pytest.approx(expected, rel=1e-14, abs=0)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("alpha + 1", "alpha may appear only"),
        ("__import__('os')", "not allowed"),
        ("x*alpha", "not allowed"),
        ("-1e9*alpha", "a time needs > 0"),
        ("1e9*alpha^(", "not an expression"),
        ("alpha^alpha", "alpha may appear only"),
    ],
)
def test_bad_t_end_rules_are_rejected(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
        parse_t_end_rule(text)


def test_finite_horizon_rows_match_the_raw_uv_integration() -> None:
    """A short horizon (x(t_end) is far from the limit) and the paper's: both agree with the
    authors' raw (u, v) integration at the same t_end."""
    prob = load_sample("kink:0.1")
    depth = 3.0
    grid = [-1.0 / depth, -4.0 / depth]  # alpha^p = 1e-1, 1e-4
    for text, far_from_limit in (("0.3*alpha^(2-p)", True), ("1e9*alpha^(2-p)", False)):
        result = compare_flow_to_bp(
            prob.A,
            prob.y,
            depths=[depth],
            log10_alphas=lambda p: grid,
            t_end_rule=parse_t_end_rule(text),
        )
        assert result.t_end_rule == text
        for row in result.rows:
            assert row.source == "ode at t_end" and row.limit_error_l2 is not None
            assert row.log10_t_end is not None
            alpha = 10.0**row.log10_alpha
            raw = integrate_raw_flow(
                prob.A,
                prob.y,
                depth=depth,
                alpha=alpha,
                t_end=10.0**row.log10_t_end,
                method="LSODA",
            )
            assert raw.success
            error = float(np.linalg.norm(raw.x - np.array([1.0, 0.0])))
            assert row.error_l2 == pytest.approx(error, rel=1e-8, abs=1e-12)
            gap = abs(row.error_l2 - row.limit_error_l2)
            assert (gap > 1e-3) if far_from_limit else (gap < 1e-9)


def test_compare_horizon_json_and_table() -> None:
    args = ["compare", "kink:0.1", "--depth", "3", "--alpha-p-range", "1e-1", "1e-3", "2"]
    data = run_json(*args, "--t-end-rule", "1e9*alpha^(2-p)")
    assert data["method"] == "horizon" and data["t_end_rule"] == "1e9*alpha^(2-p)"
    for row in data["rows"]:
        assert row["source"] == "ode at t_end"
        assert row["t_end"] == pytest.approx(1e9 * row["alpha"] ** (2 - 3), rel=1e-12, abs=0)
        assert row["limit_error_l2"] == pytest.approx(row["error_l2"], rel=1e-8, abs=0)
    plain = run_json(*args)
    assert plain["method"] == "limit" and plain["t_end_rule"] is None
    assert all(r["t_end"] is None and r["limit_error_l2"] is None for r in plain["rows"])
    table = run(*args, "--t-end-rule", "1e9*alpha^(2-p)", "-q")
    assert table.exit_code == 0, table.stderr
    assert "t_end = 1e9*alpha^(2-p)" in table.stdout and "1e10" in table.stdout


def test_compare_rejects_a_bad_rule_as_usage_error() -> None:
    result = run("compare", "kink:0.1", "--t-end-rule", "alpha+1")
    assert result.exit_code == 2 and "--t-end-rule" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def _report(names: list[str], depths: list[str]) -> CompareReport:
    # As `compare NAMES --alpha-p-range 1 1e-4 3 --depth D...`, through the Python API.
    problems = [load_sample(name) for name in names]
    return compare(problems, depths=depths, log10_alpha_p=log10_range(0.0, -4.0, 3))


def test_figure_layout_per_depth_is_the_papers_figure_2() -> None:
    report = _report(["kink:0.3", "kink:0.1", "kink:0.03"], ["3", "4"])
    records = report.problems
    fig = compare_figure(report, by="depth", increasing=True, bw=True)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["p = 3", "p = 4"]
    for ax, depth in zip(axes, (3.0, 4.0), strict=True):
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == ["ε = 0.3", "ε = 0.1", "ε = 0.03"]
        assert all(line.get_color() == "k" for line in lines)
        assert len({str(line.get_linestyle()) for line in lines}) == 3
        assert not ax.xaxis_inverted()
        for line, rec in zip(lines, records, strict=True):
            rows = [r for r in rec.rows if r.depth == depth]
            np.testing.assert_allclose(line.get_ydata(), [r.error_l2 for r in rows])
            np.testing.assert_allclose(line.get_xdata(), [10**r.log10_alpha_p for r in rows])


def test_figure_layout_per_problem_is_the_default() -> None:
    report = _report(["line", "plane"], ["2", "3"])
    fig = compare_figure(report)
    axes = fig.get_axes()
    assert len(axes) == 2 and axes[0].get_title().startswith("line")
    assert [line.get_label() for line in axes[0].get_lines()] == ["p = 2", "p = 3"]
    assert all(ax.xaxis_inverted() for ax in axes)
    assert len({line.get_color() for line in axes[0].get_lines()}) == 2  # colour by default


def test_compare_plot_options_write_a_file(tmp_path: Path) -> None:
    out = tmp_path / "figure2.svg"
    result = run(
        "compare",
        "kink:0.3",
        "kink:0.1",
        "--depth",
        "3",
        "--alpha-p-range",
        "1",
        "1e-3",
        "4",
        "--plot-by",
        "depth",
        "--alpha-axis",
        "increasing",
        "--bw",
        "--plot",
        str(out),
        "--quiet",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "ok"
    assert out.read_text().lstrip().startswith("<?xml") and "ε = 0.3" in out.read_text()
    bad = run("compare", "kink:0.3", "--plot-by", "epsilon")
    assert bad.exit_code == 2 and "--plot-by" in bad.stderr


def test_solve_bp_help_keeps_the_bracketed_range() -> None:
    result = run("solve-bp", "--help")
    assert result.exit_code == 0
    assert "[min, max]" in result.stdout
