"""`dlncli train` and `dlncli flow --init` through the CLI: JSON, exit codes, files."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlncli.dln.limit import unbalanced_limit
from dlncli.problem_io import load_sample
from tests.helpers import run, run_json

KEYS = {
    "x",
    "steps",
    "loss",
    "converged",
    "diverged",
    "lr",
    "batch",
    "seed",
    "alpha",
    "depth",
    "effective_log_u",
    "effective_log_v",
    "predicted_x",
    "prediction_error",
    "flow_limit_distance",
    "bp_distance",
    "sharpness",
    "elapsed_s",
}


@pytest.mark.parametrize("extra", [(), ("--batch", "1", "--seed", "4"), ("--depth", "2.5")])
def test_json_result(extra: tuple[str, ...]) -> None:
    doc = run_json("train", "line", "--lr", "0.005", "--alpha", "1e-2", *extra)
    assert set(doc) >= KEYS
    assert doc["converged"] is True and doc["diverged"] is False and doc["status"] == "converged"
    assert doc["prediction_error"] <= 1e-9 * max(abs(v) for v in doc["x"])
    assert doc["loss"] <= 1e-28 * 0.5 * 18.0  # y = (3, 3)
    x, pred = np.array(doc["x"]), np.array(doc["predicted_x"])
    assert np.max(np.abs(x - pred)) == pytest.approx(
        doc["prediction_error"], rel=1e-12, abs=0
    )  # ~3e-14
    assert doc["lr"] == 0.005 and doc["alpha_text"] == "1e-2"
    if "--batch" in extra:
        assert doc["batch"] == 1 and doc["seed"] == 4
    else:
        assert doc["batch"] is None and doc["seed"] is None


def test_table_output() -> None:
    result = run("train", "line", "--lr", "0.005", "--alpha", "1e-2")
    assert result.exit_code == 0, result.stderr
    assert "prediction error" in result.stdout and "ln u_eff" in result.stdout


def test_divergence_exit_code_and_message() -> None:
    # p = 2: lr 0.05 (above 2/lambda_max = 0.082 / 2) only flips signs of u, which
    # x = u^2 - v^2 ignores, and converges; lr 0.2 makes the loss explode.
    result = run("train", "line", "--lr", "0.2", "--alpha", "0.1", "--json")
    assert result.exit_code == 5
    doc = json.loads(result.stdout)
    assert doc["diverged"] is True and doc["status"] == "diverged"
    assert result.stderr.startswith("error: line: diverged at step ")
    assert "2/lambda_max = " in result.stderr
    bound = float(result.stderr.split("2/lambda_max = ")[1].split()[0])
    assert bound == pytest.approx(doc["stability_bound"], rel=1e-5, abs=0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--lr"),
        (("--lr", "0"), "expected a finite number > 0"),
        (("--lr", "-1"), "expected a finite number > 0"),
        (("--lr", "nan"), "--lr"),
        (("--lr", "abc"), "not a plain decimal"),
        (("--lr", "0.01", "--batch", "0"), "expected a whole number >= 1"),
        (("--lr", "0.01", "--batch", "1.5"), "expected a whole number >= 1"),
        (("--lr", "0.01", "--batch", "3"), "expected at most m = 2 rows"),
        (("--lr", "0.01", "--alpha", "0"), "expected a finite number > 0"),
        (("--lr", "0.01", "--depth", "1.5"), "expected a real number >= 2"),
        (("--lr", "0.01", "--tol", "0"), "expected a finite number > 0"),
        (("--lr", "0.01", "--max-steps", "-1"), "--max-steps"),
    ],
)
def test_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = run("train", "line", *args)
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr
    assert result.stdout == ""


def test_time_limit_exits_4() -> None:
    result = run("train", "line", "--lr", "1e-9", "--time-limit", "0", "--json")
    assert result.exit_code == 4 and result.stdout == ""
    # One budget for the run: with nothing left, the first stage (the BP anchor) stops.
    assert "time limit of 0 s was reached in the BP anchor" in result.stderr


def test_max_steps_is_not_an_error() -> None:
    doc = run_json("train", "line", "--lr", "0.005", "--max-steps", "10")
    assert doc["steps"] == 10 and doc["status"] == "max-steps" and doc["predicted_x"] is None


def test_trajectory_file(tmp_path: Path) -> None:
    out = tmp_path / "curve.npz"
    doc = run_json("train", "line", "--lr", "0.005", "--trajectory", str(out))
    with np.load(out) as data:
        assert data["loss"].shape == (doc["steps"] + 1,)
        assert data["loss"][-1] == pytest.approx(doc["loss"], rel=1e-12, abs=0)  # ~8e-28
        assert np.all(np.diff(data["step"]) == 1)
    again = run("train", "line", "--lr", "0.005", "--trajectory", str(out))
    assert again.exit_code == 2 and "--force" in again.stderr
    csv = tmp_path / "curve.csv"
    assert run("train", "line", "--lr", "0.005", "--trajectory", str(csv)).exit_code == 0
    assert csv.read_text().splitlines()[0].replace(" ", "") == "step,loss"


def test_subprocess_json_is_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dlncli", "train", "line", "--lr", "0.005", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["converged"] is True
    help_text = run("train", "--help").stdout
    assert "5 training diverged" in help_text and "--batch" in help_text


# ------------------------------------------------------------------ flow --init


def test_flow_init_matches_the_core(tmp_path: Path) -> None:
    prob = load_sample("line")
    u0, v0 = np.array([0.3, 0.05, 0.2]), np.array([0.1, 0.25, 0.02])
    plain, logs = tmp_path / "start.npz", tmp_path / "logs.npz"
    np.savez(plain, u0=u0, v0=v0)
    np.savez(logs, log_u0=np.log(u0), log_v0=np.log(v0))
    one = run_json("flow", "line", "--depth", "2.5", "--init", str(plain))
    two = run_json("flow", "line", "--depth", "2.5", "--init", str(logs))
    core = unbalanced_limit(prob.A, prob.y, depth=2.5, log_u0=np.log(u0), log_v0=np.log(v0))
    assert np.max(np.abs(np.array(one["x"]) - core.x)) <= 1e-14
    assert np.max(np.abs(np.array(two["x"]) - core.x)) <= 1e-14
    assert one["limit_route"].startswith("unbalanced") and one["certified"] is True
    assert one["residual_inf"] <= 1e-12


def test_flow_init_bad_files(tmp_path: Path) -> None:
    cases = {
        "missing.npz": None,
        "keys.npz": {"a": np.ones(3)},
        "shape.npz": {"u0": np.ones(2), "v0": np.ones(3)},
        "negative.npz": {"u0": np.array([1.0, -1.0, 1.0]), "v0": np.ones(3)},
        "nan.npz": {"log_u0": np.array([0.0, np.nan, 0.0]), "log_v0": np.zeros(3)},
    }
    expected = {
        "missing.npz": "cannot be read",
        "keys.npz": "expected arrays u0 and v0",
        "shape.npz": "expected 3 real numbers",
        "negative.npz": "u0[1] = -1.0; expected every entry finite and > 0",
        "nan.npz": "log_u0[1] = nan; expected every entry finite",
    }
    for name, arrays in cases.items():
        path = tmp_path / name
        if arrays is not None:
            np.savez(path, **arrays)
        result = run("flow", "line", "--init", str(path))
        assert result.exit_code == 1, (name, result.stdout)
        assert result.stderr.startswith("error: ") and expected[name] in result.stderr, name
    text = tmp_path / "text.npz"
    text.write_text("not a zip")
    result = run("flow", "line", "--init", str(text))
    assert result.exit_code == 1 and "not an npz" in result.stderr
    good = tmp_path / "good.npz"
    np.savez(good, u0=np.ones(3), v0=np.ones(3))
    clash = run("flow", "line", "--init", str(good), "--trajectory", str(tmp_path / "t.npz"))
    assert clash.exit_code == 2 and "--init" in clash.stderr


def test_flow_init_balanced_equals_flow() -> None:
    # u0 = v0 = alpha is the ordinary flow.
    doc = run_json("flow", "line", "--depth", "3", "--alpha", "0.1", "--limit-only")
    prob = load_sample("line")
    start = np.full(3, math.log(0.1))
    core = unbalanced_limit(prob.A, prob.y, depth=3.0, log_u0=start, log_v0=start)
    assert np.max(np.abs(np.array(doc["x"]) - core.x)) <= 1e-12


# ------------------------------------------------------------------ compare --method gd


def test_compare_gd_rows_match_train() -> None:
    doc = run_json("compare", "random3x5", "--method", "gd", "--lr", "0.05,0.2", "--alpha", "1e-6")
    assert doc["method"] == "gd" and len(doc["records"]) == 1
    rows = doc["records"][0]["rows"]
    assert [r["lr"] for r in rows] == [0.05, 0.2]
    for row in rows:
        single = run_json("train", "random3x5", "--lr", str(row["lr"]), "--alpha", "1e-6")
        assert row["bp_distance"] == pytest.approx(single["bp_distance"], rel=1e-9, abs=1e-15)
        assert row["steps"] == single["steps"] and row["status"] == "converged"
    # Larger steps move GD further from the flow limit (and here from BP).
    assert rows[1]["flow_limit_distance"] > rows[0]["flow_limit_distance"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--method", "gd"), "expected one or more step sizes"),
        (("--lr", "0.1"), "applies to --method gd only"),
        (("--method", "gd", "--lr", "0.1", "--ode"), "drop --ode"),
        (("--method", "gd", "--lr", "0.1", "--alpha", "1e-3", "--alpha", "1e-4"), "one α"),
        (("--method", "gd", "--lr", "-0.1"), "expected a finite number > 0"),
    ],
)
def test_compare_gd_usage_errors(args: tuple[str, ...], message: str) -> None:
    result = run("compare", "line", *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
