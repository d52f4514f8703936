"""Property-based and adversarial tests: never a traceback; either a documented error with a
non-zero exit, or a result that certifies itself (residual, dual feasibility, duality gap)."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

import dlncli.deadline
from tests.helpers import SINGLE_THREADED_ENV, SteppingClock, run, wait_for_threads

# Derandomized: CI sees the same examples every run (no flaky discoveries), and no database.
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)


@st.composite
def problems(draw: Any) -> tuple[np.ndarray, np.ndarray, str]:
    m = draw(st.integers(1, 6))
    n = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    A[rng.random((m, n)) < draw(st.floats(0.0, 0.6))] = 0.0  # sparsity
    if n > 1 and draw(st.booleans()):
        A[:, n - 1] = A[:, 0]  # duplicate column
    if draw(st.booleans()):
        A[:, draw(st.integers(0, n - 1))] = 0.0  # zero column
    if m > 1 and draw(st.booleans()):
        A[m - 1] = A[0]  # rank deficiency
    kind = draw(st.sampled_from(["consistent", "random", "zero"]))
    x0 = rng.standard_normal(n) * (rng.random(n) < 0.5)
    y = {"consistent": A @ x0, "random": rng.standard_normal(m), "zero": np.zeros(m)}[kind]
    scale = 10.0 ** draw(st.integers(-150, 150))
    return A * scale, y * scale, kind


# Relative round-off allowances, ~1e3 x the largest error measured (by recording _at_most
# over these derandomized examples and over a second, differently seeded set; the larger):
# solve-bp residual, dual feasibility and duality gap 5.0e-15; the flow limit's residual
# 1.9e-13; tie-break residual and l1 spread 1.4e-15; compare's residual and l1 gap 4.3e-14.
BP_TOL = 5e-12
FLOW_TOL = 2e-10
TIE_BREAK_TOL = 1.5e-12
COMPARE_TOL = 5e-11


def _at_most(value: float, bound: float) -> None:
    """value <= bound; one helper so that a run can record the values (docs/testing.md)."""
    assert value <= bound, (value, bound)


def _as_stdin(A: np.ndarray, y: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, A=A, y=y)
    return buffer.getvalue()


def _check_error(result: Any) -> None:
    event(f"refused (exit {result.exit_code})")
    assert result.exit_code in (1, 4), (result.exit_code, result.stderr)
    assert isinstance(result.exception, SystemExit)  # not an uncaught exception
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error:"), result.stderr


@SETTINGS
@given(problems())
def test_solve_bp_certifies_or_refuses(problem: tuple[np.ndarray, np.ndarray, str]) -> None:
    A, y, kind = problem
    result = run("solve-bp", "-", "--json", input=_as_stdin(A, y))
    if result.exit_code != 0:
        _check_error(result)
        assert kind != "zero"
        return
    data = json.loads(result.stdout)
    x, dual = np.array(data["x"]), np.array(data["dual"])
    scale_y = max(float(np.max(np.abs(y))), 1e-300)
    _at_most(np.max(np.abs(A @ x - y)) / scale_y, BP_TOL)
    _at_most(np.max(np.abs(A.T @ dual), initial=0.0) - 1, BP_TOL)
    l1 = float(np.sum(np.abs(x)))
    _at_most(abs(l1 - float(y @ dual)) / max(l1, 1e-300), BP_TOL)
    assert data["face_dimension"] >= 0 and data["unique"] == (data["face_dimension"] == 0)


@SETTINGS
@given(
    problems(),
    st.sampled_from(["2", "2.5", "3", "4"]),
    st.sampled_from(["1e-1", "1e-4", "1e-12", "1e-300"]),
)
def test_flow_limit_certifies_or_refuses(
    problem: tuple[np.ndarray, np.ndarray, str], depth: str, alpha: str
) -> None:
    A, y, _ = problem
    result = run(
        "flow",
        "-",
        "--alpha",
        alpha,
        "--depth",
        depth,
        "--limit-only",
        "--json",
        input=_as_stdin(A, y),
    )
    if result.exit_code != 0:
        _check_error(result)
        return
    data = json.loads(result.stdout)
    x = np.array(data["x"])
    assert np.all(np.isfinite(x))
    scale_y = max(float(np.max(np.abs(y))), 1e-300)
    _at_most(np.max(np.abs(A @ x - y)) / scale_y, FLOW_TOL)


@SETTINGS
@given(problems())
def test_tie_break_certifies_or_refuses(problem: tuple[np.ndarray, np.ndarray, str]) -> None:
    A, y, _ = problem
    result = run("tie-break", "-", "--json", input=_as_stdin(A, y))
    if result.exit_code != 0:
        _check_error(result)
        return
    data = json.loads(result.stdout)
    scale_y = max(float(np.max(np.abs(y))), 1e-300)
    l1s = []
    for x in data["selected"].values():
        xv = np.array(x)
        _at_most(np.max(np.abs(A @ xv - y)) / scale_y, TIE_BREAK_TOL)
        l1s.append(float(np.sum(np.abs(xv))))
    # Every depth selects a BP minimizer: all have the same, minimal, l1 norm.
    _at_most((max(l1s) - min(l1s)) / max(max(l1s), 1e-300), TIE_BREAK_TOL)


@settings(SETTINGS, max_examples=25)
@given(problems(), st.sampled_from(["2", "3"]))
def test_compare_certifies_or_refuses(
    problem: tuple[np.ndarray, np.ndarray, str], depth: str
) -> None:
    A, y, _ = problem
    args = ["compare", "-", "--depth", depth, "--alpha", "1e-2", "--alpha", "1e-5", "--json"]
    result = run(*args, input=_as_stdin(A, y))
    if result.exit_code != 0:
        _check_error(result)
        return
    data = json.loads(result.stdout)
    scale_y = max(float(np.max(np.abs(y))), 1e-300)
    assert len(data["rows"]) == 2
    for row in data["rows"]:
        _at_most(row["residual_inf"] / scale_y, COMPARE_TOL)
        assert row["error_l2"] >= 0 and np.isfinite(row["error_l2"])
        # The flow's limit fits the data, so its l1 norm is never below BP's (up to round-off).
        l1_min = data["problems"][0]["l1_min"]
        _at_most(-row["l1_gap"] / max(l1_min, 1e-300), COMPARE_TOL)


def _strip_timing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_timing(v) for k, v in value.items() if k != "elapsed_s"}
    if isinstance(value, list):
        return [_strip_timing(v) for v in value]
    return value


def test_json_output_is_deterministic() -> None:
    for args in (
        ["solve-bp", "gauss:20:60:5:3", "--ranges"],
        ["flow", "random3x5", "--alpha", "1e-2"],
        ["tie-break", "face2d"],
        ["compare", "plane", "--depth", "3"],
    ):
        first = run(*args, "--json")
        second = run(*args, "--json")
        assert first.exit_code == 0 and second.exit_code == 0
        assert _strip_timing(json.loads(first.stdout)) == _strip_timing(json.loads(second.stdout))


def test_time_limit_exits_4(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each budget check is 1 s after the last: the 0.5 s budget is spent at the first check
    # (the BP anchor's homotopy), on any machine.
    monkeypatch.setattr(dlncli.deadline, "time", SteppingClock(1.0))
    result = run("flow", "gauss:50:200:10:1", "--alpha", "1e-6", "--time-limit", "0.5")
    assert result.exit_code == 4
    assert "time" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread count from /proc")
def test_ctrl_c_exits_130_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dlncli",
            "flow",
            # ~30 s here (BP anchor, exact limit, then an ODE through ~90 support changes):
            # still running when the signal comes.
            "gauss:200:1000:40:0",
            "--depth",
            "3",
            "--alpha",
            "1e-3",
            "--output",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=SINGLE_THREADED_ENV,
    )
    try:
        wait_for_threads(proc, 2)  # the progress thread: the command is running
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)  # a hang guard, not a latency claim
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.iterdir())


def _valid_bytes(fmt: str) -> bytes:
    A = np.array([[1.0, 1.0, 1.0], [3.0, 0.0, 1.0]])
    y = np.array([3.0, 3.0])
    if fmt == "csv":
        return b"# line\na1,a2,a3,y\n1,1,1,3\n3,0,1,3\n"
    buffer = io.BytesIO()
    if fmt == "npz":
        np.savez(buffer, A=A, y=y)
    else:
        import scipy.io

        scipy.io.savemat(buffer, {"A": A, "y": y})  # type: ignore[arg-type]  # file objects work
    return buffer.getvalue()


def _mutations(blob: bytes, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    cuts = sorted({0, 1, 2, 5, 10, len(blob) // 3, len(blob) // 2, len(blob) - 3, len(blob) - 1})
    out = [blob[:c] for c in cuts if 0 <= c < len(blob)]
    for _ in range(12):
        data = bytearray(blob)
        for pos in rng.integers(0, len(data), size=rng.integers(1, 6)):
            data[pos] = int(rng.integers(0, 256))
        out.append(bytes(data))
    out.append(b"\x00" * 64)
    out.append(b"PK\x03\x04" + b"garbage" * 10)
    out.append(b"MATLAB 5.0 MAT-file" + bytes(120))
    return out


@pytest.mark.parametrize("fmt", ["npz", "csv", "mat", "stdin-npz", "stdin-csv"])
def test_fuzzed_files_never_crash(fmt: str, tmp_path: Path) -> None:
    base = fmt.split("-")[-1]
    for k, blob in enumerate(_mutations(_valid_bytes(base), seed=len(fmt))):
        if fmt.startswith("stdin"):
            result = run("solve-bp", "-", "--json", input=blob)
        else:
            path = tmp_path / f"case{k}.{base}"
            path.write_bytes(blob)
            result = run("solve-bp", str(path), "--json")
        assert isinstance(result.exception, SystemExit) or result.exception is None, (
            k,
            result.exception,
        )
        if result.exit_code == 0:
            json.loads(result.stdout)
        else:
            assert result.exit_code == 1, (k, result.stderr)
            lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
            assert len(lines) == 1 and lines[0].startswith("error:"), (k, result.stderr)
