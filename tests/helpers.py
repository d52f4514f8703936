"""Shared test helpers: run the CLI in-process and parse its JSON."""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

from typer.testing import CliRunner

from dlncli.cli import app

runner = CliRunner()


def run(*args: str, input: str | bytes | None = None) -> Any:
    return runner.invoke(app, list(args), input=input)


def run_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# Subprocesses whose thread count is an event: one thread until a command starts its work
# (numerical libraries held to one thread), then the progress thread, then HiGHS's solver.
SINGLE_THREADED_ENV = {
    **os.environ,
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def thread_count(pid: int) -> int | None:
    """The process's thread count from /proc (Linux), or None once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def wait_for_threads(proc: subprocess.Popen[str], count: int, *, hang_guard_s: float = 120) -> None:
    """Block until ``proc`` runs at least ``count`` threads (an event, not a duration: the
    guard only turns a hang into a failure)."""
    give_up = time.monotonic() + hang_guard_s
    while time.monotonic() < give_up:
        threads = thread_count(proc.pid)
        if threads is None or proc.poll() is not None:
            raise AssertionError(f"the process exited before running {count} threads")
        if threads >= count:
            return
        time.sleep(0.005)
    raise AssertionError(f"no {count} threads within {hang_guard_s} s")


class SteppingClock:
    """A stand-in for the ``time`` module whose clocks advance ``step_s`` per reading: a
    budget of B seconds is spent after about B / step_s readings however fast the machine
    (the event is the code reading its clock, not a wall-clock duration)."""

    def __init__(self, step_s: float) -> None:
        self.step_s = step_s
        self.now = 1000.0

    def perf_counter(self) -> float:
        self.now += self.step_s
        return self.now

    def monotonic(self) -> float:
        return self.perf_counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)
