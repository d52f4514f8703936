"""`dlncli phase` on the command line: JSON, tables, usage errors, store errors, the plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlncli.transition.theory import weak_threshold
from tests.helpers import run, run_json

SMALL = ("phase", "--n", "40", "--delta", "0.5", "--rho", "0.1,0.3,0.6", "--trials", "3")


def test_theory_json_and_table() -> None:
    doc = run_json("phase", "--theory", "--delta", "0.25,0.5")
    assert doc["theory"] == [
        {"delta": 0.25, "rho": weak_threshold(0.25)},
        {"delta": 0.5, "rho": weak_threshold(0.5)},
    ]
    result = run("phase", "--theory", "--delta", "0.1:0.5:3")
    assert result.exit_code == 0
    assert "0.3857" in result.stdout and "0.2908" in result.stdout  # delta 0.5 and 0.3


def test_sweep_json(tmp_path: Path) -> None:
    doc = run_json(*SMALL, "--workers", "1", "--method", "bp,limit", "--depth", "3", "--quiet")
    assert doc["computed"] == 3 * 3 * 2 and doc["reused"] == 0 and doc["elapsed_s"] > 0
    cells = doc["cells"]
    assert [(c["m"], c["k"]) for c in cells[:3]] == [(20, 2), (20, 6), (20, 12)]
    bp = [c for c in cells if c["method"] == "bp"]
    assert bp[0]["rate"] == 1.0 and bp[0]["successes"] == 3 and bp[0]["depth"] is None
    limit = [c for c in cells if c["method"] == "limit"]
    assert limit[0]["depth"] == 3.0 and limit[0]["alpha"] == pytest.approx(1e-3, rel=1e-12, abs=0)
    assert {t["method"] for t in doc["transitions"]} == {"bp", "limit"}
    assert all(t["rho_theory"] == weak_threshold(0.5) for t in doc["transitions"])


def test_sweep_table_store_resume_and_plot(tmp_path: Path) -> None:
    store, plot = tmp_path / "s.db", tmp_path / "p.png"
    first = run(*SMALL, "--workers", "1", "--store", str(store), "--plot", str(plot))
    assert first.exit_code == 0, first.stderr
    assert "success rate: bp" in first.stdout and "ρ_W(δ)" in first.stdout
    assert "phase: 9/9 instances" in first.stderr  # plain progress lines off a terminal
    assert plot.read_bytes()[:4] == b"\x89PNG"
    again = run(*SMALL, "--workers", "1", "--store", str(store))
    assert again.exit_code == 1 and "--resume" in again.stderr
    assert again.stderr.startswith("error: ")
    doc = run_json(*SMALL, "--workers", "1", "--store", str(store), "--resume")
    assert doc["reused"] == 9 and doc["computed"] == 0
    other = run(*SMALL[:-1], "4", "--workers", "1", "--store", str(store), "--resume")
    assert other.exit_code == 1 and "trials 4 here, 3 in the store" in other.stderr
    exists = run(*SMALL, "--workers", "1", "--plot", str(plot))
    assert exists.exit_code == 2 and "--force" in exists.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--method", "gd"), "needs a step size"),
        (("--method", "bp,sgd"), "expected a comma-separated list"),
        (("--method", "bp,bp"), "distinct"),
        (("--lr", "0.1"), "--lr"),
        (("--depth", "3"), "applies to --method limit"),
        (("--method", "limit", "--depth", "1.5"), "expected a real number >= 2"),
        (("--method", "limit", "--alpha", "-1"), "expected alpha > 0"),
        (("--resume",), "needs --store"),
        (("--workers", "2", "--scheduler", "tcp://127.0.0.1:1"), "not both"),
        (("--success-tol", "0"), "expected a number > 0"),
        (("--rho", "0.1:0.5"), "start:stop:count"),
        (("--rho", "0.10,0.11"), "both give k = 2"),
        (("--rho", "x"), "not a number"),
        (("--trials", "0"), "--trials"),
        (("--method", "gd", "--lr", "0,0.1"), "needs a step size"),
        (("--method", "gd", "--lr", "0.1,0.1"), "a value is twice"),
        (("--method", "gd", "--lr", "x"), "not a number"),
        (("--lr-relative",), "applies to --method gd only"),
        (("--method", "gd", "--lr-relative"), "needs --lr LIST"),
        (("--max-steps", "10"), "applies to --method gd only"),
        (("--loss-tol", "1e-9"), "applies to --method gd only"),
        (("--method", "gd", "--lr", "0.1", "--max-steps", "0"), "expected a whole number >= 1"),
        (("--method", "gd", "--lr", "0.1", "--max-steps", "2.5"), "--max-steps"),
        (("--method", "gd", "--lr", "0.1", "--loss-tol", "0"), "expected a number > 0"),
        (("--method", "gd", "--lr", "0.1", "--loss-tol", "nan"), "expected a number > 0"),
        (("--plot-kind", "pie"), "expected heatmap or curves"),
        (("--plot-kind", "curves"), "needs --plot FILE"),
    ],
)
def test_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = run(*SMALL, *args)
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr
    assert result.stdout == ""


def test_missing_options_are_usage_errors() -> None:
    assert run("phase", "--n", "40").exit_code == 2
    no_n = run("phase", "--delta", "0.5")
    assert no_n.exit_code == 2 and "--n" in no_n.stderr
    bad = run("phase", "--theory", "--delta", "0,0.5")
    assert bad.exit_code == 2 and "(0, 1]" in bad.stderr


def test_interrupt_keeps_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dlncli.transition.sweep as engine

    real, calls = engine.run_trial, []

    def flaky(task: engine.TrialTask) -> object:
        calls.append(task)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(engine, "run_trial", flaky)
    store = tmp_path / "s.db"
    result = run(*SMALL, "--workers", "1", "--store", str(store), "--json")
    assert result.exit_code == 130 and result.stdout == ""
    assert "interrupted; finished trials are kept in" in result.stderr
    monkeypatch.setattr(engine, "run_trial", real)
    doc = run_json(*SMALL, "--workers", "1", "--store", str(store), "--resume")
    assert doc["reused"] == 3 and doc["computed"] == 6


def test_subprocess_json_is_clean() -> None:
    """HiGHS prints from C++ on first use, also in worker processes: stdout must still be
    exactly one JSON document (two local workers: the default path)."""
    out = subprocess.run(
        [sys.executable, "-m", "dlncli", *SMALL, "--workers", "2", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    doc = json.loads(out.stdout)
    assert doc["computed"] == 9
    assert "phase: 9/9 instances" in out.stderr
    helptext = subprocess.run(
        [sys.executable, "-m", "dlncli", "phase", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "--scheduler" in helptext.stdout


def test_figure_panels_and_theory_curve() -> None:
    import numpy as np

    from dlncli.cli.figures import phase_figure
    from dlncli.transition.sweep import phase, variants_for

    variants = variants_for(["bp", "limit"], depths=[3.0], alphas=["1e-2"])
    report = phase(n=40, deltas=[0.3, 0.6], rhos=[0.2, 0.5], trials=2, variants=variants, workers=1)
    fig = phase_figure(report)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["bp", "limit p=3 α=1e-2"]
    assert len(fig.axes) == 3  # two panels and the colour bar
    curve = next(line for line in panels[0].get_lines() if line.get_label() == "ρ_W(δ)")
    xs, ys = curve.get_xdata(), curve.get_ydata()
    assert np.allclose(ys, [weak_threshold(float(d)) for d in xs])


GD = (
    *SMALL[:-1], "2", "--workers", "1", "--quiet", "--method", "bp,gd", "--depth", "2",
    "--alpha", "1e-6", "--lr", "0.1,0.45", "--lr-relative", "--max-steps", "3000",
    "--loss-tol", "1e-10", "--success-tol", "1e-2",
)  # fmt: skip


def test_gd_sweep_json_curves_plot_and_store(tmp_path: Path) -> None:
    store, plot = tmp_path / "gd.db", tmp_path / "gd.png"
    doc = run_json(*GD, "--store", str(store), "--plot", str(plot), "--plot-kind", "curves")
    assert doc["gd_max_steps"] == 3000 and doc["gd_loss_tol"] == 1e-10
    gd = [c for c in doc["cells"] if c["method"] == "gd"]
    assert [c["lr"] for c in gd] == [0.1] * 3 + [0.45] * 3
    assert all(c["lr_relative"] and c["label"].endswith("·η_max") for c in gd)
    assert all(c["lr_used_median"] > 0 and c["sharpness_median"] > 0 for c in gd)
    assert doc["unconverged"] == sum(c["unconverged"] for c in doc["cells"])
    assert plot.read_bytes()[:4] == b"\x89PNG"
    table = run(*GD, "--store", str(store), "--resume")
    assert table.exit_code == 0 and "GD budget" in table.stdout and "η=0.45·η_max" in table.stdout
    other = run(*GD[:-1], "1e-3", "--store", str(store), "--resume")
    assert other.exit_code == 1 and "success_tol 0.001 here, 0.01 in the store" in other.stderr
    budget = run(*GD, "--max-steps", "2000", "--store", str(store), "--resume")
    assert budget.exit_code == 1 and "different sweep (gd" in budget.stderr


def test_curves_figure_lines_are_the_rates() -> None:
    from dlncli.cli.figures import phase_curves_figure
    from dlncli.transition.sweep import Variant, phase, variants_for

    variants = (
        Variant("bp"),
        *variants_for(["gd"], depths=[2.0], alphas=["1e-6"], lr=[0.2, 0.45], lr_relative=True),
    )
    report = phase(
        n=40, deltas=[0.3, 0.6], rhos=[0.2, 0.5], trials=2, variants=variants, workers=1,
        max_steps=500, loss_tol=1e-8,
    )  # fmt: skip
    fig = phase_curves_figure(report)
    tops = [ax for ax in fig.axes if ax.get_ylabel() == "success rate"]
    bottoms = [ax for ax in fig.axes if ax.get_ylabel().startswith("GD: median")]
    assert len(tops) == 2 and len(bottoms) == 2
    for ax, m in zip(tops, (12, 24), strict=True):
        assert ax.get_title().startswith(f"δ = m/N = {m / 40:.3g}")
        lines = {line.get_label(): line for line in ax.get_lines()}
        for v in variants:
            cells = sorted(
                (c for c in report.cells if c.variant == v and c.m == m), key=lambda c: c.rho
            )
            assert list(lines[v.label].get_ydata()) == [c.rate for c in cells]
        theory = lines["ρ_W(δ)"].get_xdata()
        assert theory[0] == weak_threshold(m / 40)
    for ax, m in zip(bottoms, (12, 24), strict=True):
        lines = {line.get_label(): line for line in ax.get_lines()}
        for v in variants[1:]:
            expected = [c.sharpness_median for c in report.cells if c.variant == v and c.m == m]
            assert list(lines[f"_{v.label}"].get_ydata()) == expected
