"""Options and inputs the adversarial battery found mishandled: each is a one-line error with
a documented exit code, or a correct answer (never a traceback)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import dlncli
from dlncli.errors import OptionError, ProblemFormatError
from tests.helpers import run, run_json
from tests.test_hostile_io import _wait_for_handler


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["potentials", "--z", ""], "--z"),
        (["potentials", "--z", ","], "--z"),
        (["flow", "--limit-only", "--t-end", "5"], "--t-end"),
        (["flow", "--alpha", "1e-9999999999999999999999"], "--alpha"),
        (["flow", "--alpha", "1e-999999999999"], "--alpha"),
        (["phase", "--n", "100000", "--delta", "0.5", "--rho", "0.1"], "--n"),
        (["train", "line"], "--lr"),
    ],
)
def test_usage_errors_name_the_flag(args: list[str], flag: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.stdout
    assert flag in result.stderr and "Traceback" not in result.stderr and result.stdout == ""


def test_phase_is_held_to_the_input_cap_before_drawing() -> None:
    result = run("phase", "--n", "20000", "--delta", "0.5", "--rho", "0.1")
    assert (
        result.exit_code == 2 and "input cap" in result.stderr and "--max-input-mb" in result.stderr
    )


def test_compare_accepts_an_alpha_beyond_float_range() -> None:
    doc = run_json("compare", "line", "--depth", "3", "--alpha", "1e+5000", "--alpha", "1e-3")
    rows = doc["rows"]
    assert rows[0]["alpha"] is None and rows[1]["alpha"] == pytest.approx(1e-3, rel=1e-12)
    assert rows[0]["log10_alpha"] == pytest.approx(5000.0, rel=1e-12)


@pytest.mark.parametrize(
    "options", [{"depth": "3"}, {"depth": None}, {"alpha": [1]}, {"alpha": True}, {"t_end": "5"}]
)
def test_api_options_of_the_wrong_type_are_option_errors(options: dict[str, object]) -> None:
    with pytest.raises(OptionError):
        dlncli.flow("line", **options)  # type: ignore[arg-type]


def test_api_refuses_complex_arrays() -> None:
    A = np.array([[1.0 + 1j, 1.0], [0.0, 1.0]])
    for call in (dlncli.solve_bp, dlncli.flow, dlncli.tie_break):
        with pytest.raises(ProblemFormatError, match="complex"):
            call(A, np.ones(2))


def test_flow_from_threads_gives_the_serial_answer() -> None:
    serial = dlncli.flow("random3x5", alpha="1e-3", depth=2.5, limit_only=True).x
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(dlncli.flow("random3x5", alpha="1e-3", depth=2.5, limit_only=True).x)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 6
    for x in results:
        np.testing.assert_array_equal(x, serial)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_phase_terminated_says_what_the_store_keeps(tmp_path: Path, sig: signal.Signals) -> None:
    store = tmp_path / "sweep.db"
    command = [
        sys.executable, "-m", "dlncli", "phase", "--n", "400", "--delta", "0.5",
        "--rho", "0.1:0.5:9", "--trials", "50", "--workers", "1", "--store", str(store),
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_handler(proc.pid, sig)
    proc.send_signal(sig)
    stdout, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert f"terminated by {sig.name}; finished trials are kept in {store}" in err
    assert "Traceback" not in err and stdout == ""


def test_solve_bp_json_of_an_infeasible_system_is_the_status_document() -> None:
    result = run("solve-bp", "-", "--json", input="1,1,1\n1,1,1.000000001\n")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "infeasible"
