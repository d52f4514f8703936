"""dlncli phase on Dask: local workers, and a real scheduler that loses a worker mid-sweep."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dlncli.transition.sweep import PhaseReport, Variant, phase, variants_for

# Each instance also runs the p = 2 limit, so a trial takes tens of milliseconds: long enough
# that the killed worker has trials in flight, short enough for a ~15 s test on 2 busy cores.
SWEEP: dict[str, Any] = {
    "n": 60,
    "deltas": [0.5],
    "rhos": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    "trials": 8,
    "seed": 11,
    "variants": (Variant("bp"), *variants_for(["limit"], depths=[2.0], alphas=["1e-8"])),
}
INSTANCES = 6 * 8
DEADLINE_S = 90.0


def _summary(report: PhaseReport) -> Any:
    doc = report.to_dict()
    return doc["cells"], doc["transitions"]


@pytest.fixture(scope="module")
def serial() -> PhaseReport:
    return phase(**SWEEP, workers=1)


def test_local_workers_give_the_serial_result(serial: PhaseReport, tmp_path: Path) -> None:
    """This process runs instances while the cluster starts, the workers the rest: each
    instance once (the store refuses a second write of a key), progress counts 0 ... total."""
    counts: list[tuple[int, int]] = []
    store = tmp_path / "local.db"
    report = phase(
        **SWEEP, workers=2, store=store, progress=lambda done, total: counts.append((done, total))
    )
    assert report.backend == "local:2"
    assert report.computed == 2 * INSTANCES
    assert _summary(report) == _summary(serial)
    assert counts == [(done, INSTANCES) for done in range(INSTANCES + 1)]
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 2 * INSTANCES


def _worker_settings() -> dict[str, Any]:
    import dask.config

    return {
        "profile": dask.config.get("distributed.worker.profile.enabled"),
        "tick": dask.config.get("distributed.admin.tick.interval"),
        "monitor": dask.config.get("distributed.worker.memory.monitor-interval"),
        "malloc_trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
    }


def test_local_cluster_workers_run_with_the_measured_settings() -> None:
    """The settings bench_phase measured (phase.LOCAL_WORKER_CONFIG) reach the worker
    processes, and Dask's one-thread BLAS does too; this process's config is unchanged."""
    import dask.config
    from distributed import Client

    from dlncli.transition.sweep import local_cluster

    before = dask.config.get("distributed.worker.profile.enabled")
    with local_cluster(2) as cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        settings = client.run(_worker_settings)
    assert len(settings) == 2
    for seen in settings.values():
        assert seen == {
            "profile": False,
            "tick": "1s",
            "monitor": "1s",
            "malloc_trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            "openblas_threads": "1",
        }
    assert dask.config.get("distributed.worker.profile.enabled") == before


def test_local_cluster_ignores_a_taken_dashboard_port() -> None:
    """Another cluster on the machine holds 8787 (Dask's dashboard port): the local cluster
    must neither fail nor warn "Port 8787 is already in use" (warnings are errors here)."""
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:
        pass  # something else holds it already: the same situation
    try:
        small = {**SWEEP, "rhos": [0.1, 0.2], "trials": 2, "variants": (Variant("bp"),)}
        report = phase(**small, workers=2)
    finally:
        holder.close()
    assert report.backend == "local:2" and report.computed == 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _dask(*args: str) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("dask")
    return subprocess.Popen(
        [str(exe), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.fixture
def cluster() -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A `dask scheduler` and two `dask worker` processes (no nanny: killing one is final)."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")]
    try:
        workers = [
            _dask(
                "worker",
                address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
                "--name",
                f"w{i}",
            )
            for i in range(2)
        ]
        procs += workers
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout=5) as client:  # type: ignore[no-untyped-call]
                    client.wait_for_workers(2, timeout=max(deadline - time.monotonic(), 1))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address, workers
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_scheduler_sweep_survives_a_killed_worker(
    serial: PhaseReport, cluster: tuple[str, list[subprocess.Popen[bytes]]], tmp_path: Path
) -> None:
    address, workers = cluster
    store = tmp_path / "cluster.db"
    killed_at: list[int] = []

    def kill_one(done: int, total: int) -> None:
        if done == total // 4 and not killed_at:
            os.killpg(workers[0].pid, signal.SIGKILL)
            killed_at.append(done)

    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["report"] = phase(**SWEEP, scheduler=address, store=store, progress=kill_one)
        except BaseException as exc:  # reported below, in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    assert not thread.is_alive(), f"sweep did not finish within {DEADLINE_S} s"
    assert "error" not in outcome, repr(outcome.get("error"))
    report: PhaseReport = outcome["report"]
    assert killed_at == [INSTANCES // 4]
    assert workers[0].wait(timeout=10) == -signal.SIGKILL
    assert report.backend == address
    assert report.computed == 2 * INSTANCES and report.reused == 0
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        keys = db.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT m, k, trial, method, depth, log_alpha, lr "
            "FROM trials)"
        ).fetchone()[0]
    assert rows == keys == 2 * INSTANCES  # nothing lost, nothing twice
    assert _summary(report) == _summary(serial)


def test_workers_with_another_dlncli_version_are_refused(
    cluster: tuple[str, list[subprocess.Popen[bytes]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dlncli.transition.sweep import SchedulerError

    address, _ = cluster
    # The driver pretends to be another version; the real workers report the installed one.
    monkeypatch.setattr(sys.modules["dlncli.transition.sweep"], "__version__", "0.0.0-driver")
    with pytest.raises(SchedulerError, match=r"runs dlncli .*; expected 0\.0\.0-driver"):
        phase(**{**SWEEP, "trials": 1}, scheduler=address)


def test_unreachable_scheduler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from dlncli.transition.sweep import SchedulerError

    # sys.modules: the attribute dlncli.transition.sweep is the function, not the module.
    monkeypatch.setattr(sys.modules["dlncli.transition.sweep"], "CONNECT_TIMEOUT_S", 1.0)
    port = _free_port()
    with pytest.raises(SchedulerError, match="cannot reach the Dask scheduler"):
        phase(**{**SWEEP, "trials": 1}, scheduler=f"tcp://127.0.0.1:{port}")


def test_cli_unreachable_scheduler_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers import run

    monkeypatch.setattr(sys.modules["dlncli.transition.sweep"], "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    result = run("phase", "--n", "20", "--delta", "0.5", "--rho", "0.2", "--scheduler", address)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error: cannot reach the Dask scheduler at " + address)
