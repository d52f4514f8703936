"""Command-level behaviour: samples, help, JSON on real stdout, every sample file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlncli.cli import app
from dlncli.samples import sample_descriptions
from tests.helpers import run, run_json

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_problems"
SAMPLE_FILES = sorted(SAMPLE_DIR.glob("*.npz")) + sorted(SAMPLE_DIR.glob("*.csv"))


def test_samples_lists_every_builtin() -> None:
    data = run_json("samples")
    assert data["default"] == "line"
    assert set(data["samples"]) == set(sample_descriptions())
    table = run("samples")
    assert table.exit_code == 0 and "random3x5" in table.stdout


def test_every_command_has_help() -> None:
    import typer.main

    group = typer.main.get_command(app)
    names = list(group.commands)  # type: ignore[attr-defined]
    assert {"samples", "solve-bp"} <= set(names)
    for name in names:
        result = run(name, "--help")
        assert result.exit_code == 0
        assert "Usage" in result.stdout
        assert len(result.stdout) > 100


def test_subprocess_json_is_clean() -> None:
    # The only test that sees C-level prints (the HiGHS banner goes to fd 1 in C++).
    proc = subprocess.run(
        [sys.executable, "-m", "dlncli", "solve-bp", "random3x5", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["unique"] is True
    assert "HiGHS" not in proc.stdout


def test_subprocess_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dlncli", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert "solve-bp" in proc.stdout and "Exit codes" in proc.stdout


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_every_sample_file_runs(path: Path) -> None:
    data = run_json("solve-bp", str(path))
    assert data["status"] == "optimal"
    assert data["residual_inf"] <= 1e-9
    assert abs(data["duality_gap"]) <= 1e-9 * max(1.0, data["l1_norm"])
    expect_face = {"line": 1, "plane": 1, "simplex_face2d": 2, "face2d": 2, "signs_face2d": 2}
    stem = path.stem
    assert data["face_dimension"] == expect_face.get(stem, 0)


def test_sample_files_match_builtins() -> None:
    import numpy as np

    from dlncli.problem_io import load_problem, load_sample

    for stem, spec in (
        ("line", "line"),
        ("kink_0.1", "kink:0.1"),
        ("gauss_50x200", "gauss:50:200:10:1"),
    ):
        for suffix in (".npz", ".csv"):
            loaded = load_problem(str(SAMPLE_DIR / f"{stem}{suffix}"))
            builtin = load_sample(spec)
            np.testing.assert_array_equal(loaded.A, builtin.A)
            np.testing.assert_array_equal(loaded.y, builtin.y)


def test_solve_bp_json_keys_and_table() -> None:
    data = run_json("solve-bp", "line", "--ranges")
    for key in (
        "status",
        "x",
        "l1_norm",
        "residual_inf",
        "dual",
        "unique",
        "face_dimension",
        "support",
        "elapsed_s",
    ):
        assert key in data
    assert data["face_ranges"] == [pytest.approx(r, abs=1e-12) for r in ([0, 1], [0, 2], [0, 3])]
    table = run("solve-bp", "line", "--ranges")
    assert table.exit_code == 0
    assert "not unique: face of dimension 1" in table.stdout


def test_solve_bp_says_which_route_ran_and_why_a_faster_one_was_declined() -> None:
    routes = {"zero", "homotopy", "lp-float-bound", "lp-exact", "lp-float"}
    fast = run_json("solve-bp", "random3x5")
    assert fast["route"] == "homotopy" and fast["route_notes"] == []
    face = run_json("solve-bp", "line")  # not unique: the homotopy's end is a face, not a vertex
    assert face["route"] in routes - {"homotopy", "zero"}
    assert face["route_notes"] and face["route_notes"][0].startswith("homotopy declined: ")
    assert run_json("solve-bp", "gauss:100:400:27:11")["route"] == "homotopy"
