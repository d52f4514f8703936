"""Hostile input and I/O (issue 11): each kind with the named instance plus one more.

Memory caps, closed/full/broken standard streams, output files (same file twice, no-clobber
at the moment of placing, SIGTERM clean-up, umask mode), progress off a terminal, absurd
compare grids, sparse .mat, '' and shadowed sample names, --json on infeasible problems, and
strict number parsing.
"""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

import dlncli.cli.terminal
from bench.bench_hostile_io import deflate_bomb, npy_header
from dlncli.deadline import Deadline
from dlncli.errors import OutputExistsError, ProblemFormatError
from dlncli.problem import DEFAULT_MAX_INPUT_BYTES, parse_decimal
from dlncli.problem_io import load_problem, load_sample, write_record
from tests.helpers import run

ROOT = Path(__file__).resolve().parent.parent
LINE_X_L1 = 3.0  # min ||x||_1 for the sample 'line': x = (1, 2, 0) and (0, 3, 0) are optimal


def _messages(err: str) -> list[str]:
    """stderr lines other than progress lines (which a slow, shared machine may add)."""
    return [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("progress: ")]


def _one_error_line(result: Any, *fragments: str, code: int = 1) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    err: str = result.stderr
    assert "Traceback" not in err
    lines = _messages(err)
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in err, err


def _cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dlncli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        **kwargs,
    )


def _sh(script: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a bash snippet in which `dlncli` is this interpreter's module."""
    env = dict(os.environ, DLN=f"{sys.executable} -m dlncli")
    return subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
        cwd=cwd,
    )


# --------------------------------------------------------------------------- memory caps


def test_npz_member_without_npy_suffix_declaring_a_huge_shape(tmp_path: Path) -> None:
    # np.load serves a bare member 'A' as key 'A': its header must be checked like 'A.npy'.
    for name, shape in (("A", (100000, 100000)), ("x_true", (2_000_000_000,))):
        f = tmp_path / f"bare_{name}.npz"
        with zipfile.ZipFile(f, "w") as z:
            y = io.BytesIO()
            np.save(y, np.ones(2))
            if name == "A":
                z.writestr("A", npy_header(shape))
            else:
                a = io.BytesIO()
                np.save(a, np.eye(2))
                z.writestr("A", a.getvalue())
                z.writestr(name, npy_header(shape))
            z.writestr("y", y.getvalue())
        _one_error_line(run("solve-bp", str(f)), f.name, name, str(shape), "input cap of 256 MiB")


def test_compressed_bombs_are_refused_before_inflating(tmp_path: Path) -> None:
    # The named kind: a ~2 MB file that inflates to 2 GiB, at the default cap.
    bomb = tmp_path / "bomb.npz"
    deflate_bomb(bomb, 10 * 2**14, 2**13)  # 10 GiB of float64 zeros in ~10 MiB
    assert bomb.stat().st_size < 11 * 2**20
    with zipfile.ZipFile(bomb) as z:
        assert z.infolist()[0].file_size > 10 * 2**30
        with z.open("A.npy") as member:  # a real deflate stream: it does inflate to zeros
            member.read(128)
            assert member.read(2**22) == b"\0" * 2**22
    start = time.perf_counter()
    _one_error_line(run("solve-bp", str(bomb)), "bomb.npz", "10 GiB", "input cap of 256 MiB")
    assert time.perf_counter() - start < 5.0  # refused from the headers, nothing inflated
    # Other compressors: an LZMA member (8 MiB of zeros in ~1 KB) under a 1 MiB cap.
    lzma = tmp_path / "lzma.npz"
    npy = io.BytesIO()
    np.save(npy, np.zeros((1024, 1024)))
    with zipfile.ZipFile(lzma, "w", compression=zipfile.ZIP_LZMA) as z:
        z.writestr("A.npy", npy.getvalue())
        z.writestr("y.npy", npy.getvalue()[:128])
    assert lzma.stat().st_size < 20_000
    _one_error_line(run("solve-bp", str(lzma), "--max-input-mb", "1"), "'A.npy'", "1 MiB")
    # One more: np.savez_compressed zeros (30 KB on disk, 30 MiB inflated), under a 1 MiB cap.
    small = tmp_path / "small.npz"
    np.savez_compressed(small, A=np.zeros((2000, 2000)), y=np.zeros(2000))
    assert small.stat().st_size < 100_000
    _one_error_line(
        run("flow", str(small), "--max-input-mb", "1"), "small.npz", "input cap of 1 MiB"
    )
    # and the same in a compressed .mat (headers are read with whosmat before any data).
    mat = tmp_path / "small.mat"
    scipy.io.savemat(mat, {"A": np.zeros((2000, 2000)), "y": np.zeros(2000)}, do_compression=True)
    _one_error_line(
        run("solve-bp", str(mat), "--max-input-mb", "1"), "small.mat", "(2000, 2000)", "1 MiB"
    )
    # Raising the cap lets the same file through the cap (it is then read normally).
    ok = tmp_path / "ok.npz"
    np.savez_compressed(ok, A=np.array([[1.0, 1.0, 1.0], [3.0, 0.0, 1.0]]), y=np.array([3.0, 3]))
    assert load_problem(str(ok), max_bytes=2**20).shape == (2, 3)


@pytest.mark.parametrize(
    "spec",
    ["gauss:1:50000000:1:0", "gauss:6000:6000:10:0", "face:10000:10000:5:2:0"],
)
def test_huge_sample_specs_are_refused_before_allocating(spec: str) -> None:
    start = time.perf_counter()
    _one_error_line(run("solve-bp", spec), spec, "as float64", "input cap of 256 MiB")
    assert time.perf_counter() - start < 2.0
    with pytest.raises(ProblemFormatError, match="input cap"):
        load_sample(spec, max_bytes=DEFAULT_MAX_INPUT_BYTES)
    with pytest.raises(ProblemFormatError, match="input cap"):
        load_problem(spec)


def test_the_cap_can_be_raised_and_lowered() -> None:
    # gauss:M:N has A of 8*M*N bytes: 2000*2000*8 = 30.5 MiB.
    _one_error_line(
        run("solve-bp", "gauss:2000:2000:5:0", "--max-input-mb", "30"), "30.5 MiB", "30 MiB"
    )
    with pytest.raises(ProblemFormatError):
        load_sample("gauss:2000:2000:5:0", max_bytes=30 * 2**20)
    assert load_sample("gauss:20:50:5:0", max_bytes=8 * 20 * 50).shape == (20, 50)
    assert DEFAULT_MAX_INPUT_BYTES == 256 * 2**20
    assert dlncli.cli.terminal.DEFAULT_MAX_INPUT_MB * 2**20 == DEFAULT_MAX_INPUT_BYTES  # one cap


def test_dev_zero_and_endless_streams(tmp_path: Path) -> None:
    # /dev/zero itself has no problem extension; through a .csv name it is an endless file.
    _one_error_line(run("solve-bp", "/dev/zero"), "/dev/zero", "extension")
    (tmp_path / "zero.csv").symlink_to("/dev/zero")
    proc = _cli("solve-bp", str(tmp_path / "zero.csv"))  # the default cap: 256 MiB read
    assert proc.returncode == 1 and "input cap of 256 MiB" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    # Endless stdin: /dev/zero and `yes`.
    with open("/dev/zero", "rb") as zero:
        proc = _cli("solve-bp", "-", "--max-input-mb", "2", stdin=zero)
    assert proc.returncode == 1 and "<stdin>" in proc.stderr and "2 MiB" in proc.stderr
    proc = _sh('yes 1,2,3 | $DLN flow - --max-input-mb 2; echo "rc=${PIPESTATUS[1]}"')
    assert "rc=1" in proc.stdout and "input cap of 2 MiB" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_large_csv_is_held_to_the_cap_as_float64(tmp_path: Path) -> None:
    # 200 000 cells of "0," is 400 KB of text but 1.5 MiB as float64: the table counts.
    f = tmp_path / "wide.csv"
    f.write_text(("0," * 999 + "1\n") * 200)
    _one_error_line(run("solve-bp", str(f), "--max-input-mb", "1"), "wide.csv", "line", "1 MiB")


# --------------------------------------------------------------------------- standard streams


def test_closed_stdin() -> None:
    for command in ("solve-bp -", "flow - --alpha 1e-2"):
        proc = _sh(f"$DLN {command} <&-")
        assert proc.returncode == 1, proc.stderr
        assert _messages(proc.stderr) == [
            "error: <stdin>: is closed; expected CSV text or .npz bytes on stdin"
        ]
        assert proc.stdout == ""
    # A closed stdin does not matter when the problem is not read from it.
    proc = _sh("$DLN solve-bp line --json <&-")
    assert proc.returncode == 0 and json.loads(proc.stdout)["l1_norm"] == pytest.approx(3.0)


@pytest.mark.parametrize(
    "command",
    ["solve-bp line --json", "solve-bp line", "flow line --alpha 1e-2 --json", "samples"],
)
def test_full_disk_on_stdout(command: str) -> None:
    proc = _sh(f"$DLN {command} > /dev/full")
    assert proc.returncode == 1
    assert _messages(proc.stderr) == [
        "error: cannot write the result to stdout (No space left on device)"
    ]


def test_closed_stdout(tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    proc = _sh(f"$DLN solve-bp line --output {out} >&-")
    assert proc.returncode == 1 and "stdout is closed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads(out.read_text())["l1_norm"] == pytest.approx(LINE_X_L1)  # still written


@pytest.mark.parametrize(
    "command",
    [
        "solve-bp gauss:5:20000:3:0 --json",  # ~360 KB of JSON, far beyond a pipe buffer
        "solve-bp gauss:5:3000:3:0 --all",  # a long rich table
    ],
)
def test_broken_pipe_exits_141_quietly(command: str) -> None:
    proc = _sh(f'$DLN {command} | head -c 10; echo " rc=${{PIPESTATUS[0]}}"')
    assert proc.stdout.endswith(" rc=141\n"), (proc.stdout[-200:], proc.stderr)
    assert len(proc.stdout) == len(" rc=141\n") + 10
    assert _messages(proc.stderr) == []


# --------------------------------------------------------------------------- output files


def test_output_and_trajectory_naming_the_same_file(tmp_path: Path) -> None:
    t = tmp_path / "t.npz"
    args = ["flow", "line", "--alpha", "1e-2"]
    _one_error_line(
        run(*args, "--output", str(t), "--trajectory", str(t)),
        "'--trajectory'",
        "also the --output file",
        code=2,
    )
    # The same file spelled differently, and through a symlink.
    spelled = tmp_path / "sub" / ".." / "t.npz"
    (tmp_path / "sub").mkdir()
    _one_error_line(
        run(*args, "--output", str(spelled), "--trajectory", str(t)), "also the --output", code=2
    )
    t.write_bytes(b"")
    (tmp_path / "link.npz").symlink_to(t)
    _one_error_line(
        run(*args, "--output", str(tmp_path / "link.npz"), "--trajectory", str(t), "--force"),
        "also the --output",
        code=2,
    )
    os.link(t, tmp_path / "hard.npz")
    _one_error_line(
        run(*args, "--output", str(tmp_path / "hard.npz"), "--trajectory", str(t), "--force"),
        "also the --output",
        code=2,
    )
    assert t.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.npz", "link.npz", "sub", "t.npz"]


def test_a_file_that_appears_during_the_run_is_not_clobbered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dlncli.dln.flow as flow_module  # dlncli.dln.flow is also the flow() experiment
    import dlncli.reports

    out = tmp_path / "out.json"
    original = dlncli.reports.BPReport.to_dict

    def appear_then_record(*a: Any, **k: Any) -> Any:
        out.write_text("someone else's")
        return original(*a, **k)

    monkeypatch.setattr(dlncli.reports.BPReport, "to_dict", appear_then_record)
    result = run("solve-bp", "line", "--output", str(out))
    _one_error_line(result, "'--output'", "exists", "appeared during the run", code=2)
    assert out.read_text() == "someone else's"
    # One more: a trajectory file that appears while the ODE runs.
    traj = tmp_path / "traj.npz"
    integrate = flow_module.integrate_flow

    def appear_then_integrate(*a: Any, **k: Any) -> Any:
        traj.write_text("keep")
        return integrate(*a, **k)

    monkeypatch.setattr(flow_module, "integrate_flow", appear_then_integrate)
    result = run("flow", "line", "--alpha", "1e-2", "--trajectory", str(traj))
    _one_error_line(result, "'--trajectory'", "appeared during the run", code=2)
    assert traj.read_text() == "keep"
    # --force replaces it; no temporary file is left anywhere.
    assert (
        run("flow", "line", "--alpha", "1e-2", "--trajectory", str(traj), "--force").exit_code == 0
    )
    with np.load(traj) as data:
        assert data["x"].shape[1] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "traj.npz"]


def test_write_record_is_no_clobber_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    write_record(out, {"a": 1})
    with pytest.raises(OutputExistsError):
        write_record(out, {"a": 2})
    assert json.loads(out.read_text()) == {"a": 1}
    write_record(out, {"a": 3}, force=True)
    assert json.loads(out.read_text()) == {"a": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def _wait_for_handler(pid: int, sig: signal.Signals, timeout: float = 60.0) -> None:
    """Until process ``pid`` catches ``sig`` (Linux: bit sig - 1 of SigCgt in /proc/PID/status).

    dlncli installs its SIGTERM/SIGHUP handlers when a command starts, after Python's and the
    imports' start-up; a signal before that kills the process by default, writing nothing.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        caught = int(
            next(ln for ln in status.splitlines() if ln.startswith("SigCgt:")).split()[1], 16
        )
        if caught >> (int(sig) - 1) & 1:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not install a {sig.name} handler in {timeout} s")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_clean_up_like_sigint(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "out.json"
    traj = tmp_path / "traj.npz"
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
            "--trajectory",
            str(traj),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_handler(proc.pid, sig)  # a fixed sleep raced start-up on a loaded machine
    proc.send_signal(sig)
    stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert f"terminated by {sig.name}; no output file was written" in err
    assert "Traceback" not in err and stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_a_signal_while_the_file_is_written_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SIGTERM handler raises a BaseException; make it land inside the write itself.
    def terminated(*a: Any, **k: Any) -> None:
        dlncli.cli.terminal._raise_terminated(signal.SIGTERM, None)

    monkeypatch.setattr(os, "link", terminated)
    result = run("solve-bp", "line", "--output", str(tmp_path / "out.json"))
    _one_error_line(result, "terminated by SIGTERM", code=143)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(os, "replace", terminated)
    result = run("solve-bp", "line", "--output", str(tmp_path / "o.csv"), "--force")
    assert result.exit_code == 143 and list(tmp_path.iterdir()) == []


@pytest.fixture
def umask() -> Iterator[Any]:
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_output_files_get_the_umask_mode(tmp_path: Path, umask: Any, mask: int, mode: int) -> None:
    umask(mask)
    out, traj = tmp_path / "o.json", tmp_path / "t.csv"
    result = run("flow", "line", "--alpha", "1e-2", "--output", str(out), "--trajectory", str(traj))
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == mode
    assert stat.S_IMODE(traj.stat().st_mode) == mode


# --------------------------------------------------------------------------- progress, grids


def _hold_work_until_a_progress_line(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Every time-budget check waits for a progress line first: the command is still running
    when the heartbeat prints, however fast the machine (an event, not a race)."""
    beat = threading.Event()
    console = dlncli.cli.terminal.stderr
    print_line = console.print

    def print_and_flag(*args: Any, **kwargs: Any) -> None:
        print_line(*args, **kwargs)
        if args and str(args[0]).startswith("progress:"):
            beat.set()

    remaining = Deadline.remaining

    def remaining_after_a_beat(self: Deadline, what: str) -> float | None:
        assert beat.wait(60), "no progress line"  # the timeout only guards against a hang
        return remaining(self, what)

    monkeypatch.setattr(console, "print", print_and_flag)
    monkeypatch.setattr(Deadline, "remaining", remaining_after_a_beat)
    monkeypatch.setattr(dlncli.cli.terminal, "PROGRESS_INTERVAL_S", 0.01)
    return beat


def test_progress_lines_when_stderr_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    _hold_work_until_a_progress_line(monkeypatch)
    result = run("flow", "random3x5", "--alpha", "1e-2", "--json")
    assert result.exit_code == 0, result.stderr
    json.loads(result.stdout)  # stdout is still exactly the JSON document
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("progress: flow")]
    assert lines, result.stderr
    assert all("s elapsed" in ln for ln in lines)
    # One more: the LP-only commands print the same heartbeat.
    result = run("tie-break", "face:30:90:10:4:1", "--json")
    assert result.exit_code == 0, result.stderr
    assert "progress: tie-break" in result.stderr
    monkeypatch.undo()
    monkeypatch.setattr(dlncli.cli.terminal, "PROGRESS_INTERVAL_S", 0.0)  # a beat at every chance
    quiet = run("flow", "random3x5", "--alpha", "1e-2", "--json", "--quiet")
    assert quiet.exit_code == 0 and "progress" not in quiet.stderr


def test_progress_interval_is_about_ten_seconds() -> None:
    assert dlncli.cli.terminal.PROGRESS_INTERVAL_S == 10.0


@pytest.mark.parametrize(
    "args",
    [
        ["--alpha-range", "1e-1", "1e-9", "1000000"],
        ["--alpha-p-range", "1", "1e-9", "5000"],
        [
            *[a for k in range(30) for a in ("--depth", str(2 + k / 10))],
            "--alpha-range",
            "1e-1",
            "1e-3",
            "100",
        ],
    ],
)
def test_compare_refuses_an_absurd_grid(args: list[str]) -> None:
    start = time.perf_counter()
    result = run("compare", "line", *args)
    assert result.exit_code == 2, result.stderr
    assert "2000" in result.stderr and "Traceback" not in result.stderr
    assert time.perf_counter() - start < 2.0


# --------------------------------------------------------------------------- messages


def test_sparse_A_in_a_mat_file(tmp_path: Path) -> None:
    dense = np.array([[1.0, 1.0, 1.0], [3.0, 0.0, 1.0]])
    f = tmp_path / "line_sparse.mat"
    scipy.io.savemat(f, {"A": sp.csc_matrix(dense), "y": np.array([3.0, 3.0])})
    loaded = load_problem(str(f))
    np.testing.assert_array_equal(loaded.A, dense)
    result = run("solve-bp", str(f), "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["l1_norm"] == pytest.approx(LINE_X_L1, abs=1e-9)
    # One more: a random sparse A with a sparse y, against the same problem as dense arrays.
    rng = np.random.default_rng(3)
    A = sp.csc_matrix(sp.random(6, 15, density=0.4, random_state=rng))
    y = sp.csc_matrix(A @ np.r_[1.0, -2.0, np.zeros(13)]).T
    g = tmp_path / "rand.mat"
    scipy.io.savemat(g, {"A": A, "b": y})
    h = tmp_path / "rand.npz"
    np.savez(h, A=A.toarray(), y=(A @ np.r_[1.0, -2.0, np.zeros(13)]))
    np.testing.assert_array_equal(load_problem(str(g)).A, load_problem(str(h)).A)
    np.testing.assert_array_equal(load_problem(str(g)).y, load_problem(str(h)).y)
    huge = tmp_path / "huge_sparse.mat"
    scipy.io.savemat(huge, {"A": sp.csc_matrix((40000, 40000)), "y": np.zeros(40000)})
    _one_error_line(run("solve-bp", str(huge)), "(40000, 40000)", "input cap")


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_empty_problem_name(blank: str) -> None:
    for command in ("solve-bp", "flow", "tie-break", "compare"):
        _one_error_line(run(command, blank), "empty problem name", "sample name")


def test_a_local_file_shadowing_a_sample_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("line").write_text("1,2\n")
    Path("kink:0.5").mkdir()
    result = run("solve-bp", "line", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["l1_norm"] == pytest.approx(LINE_X_L1)  # the sample
    assert "note: 'line' is a built-in sample name" in result.stderr
    result = run("solve-bp", "kink:0.5", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["x"] == pytest.approx([1.0, 0.0])  # 1 < 1/(1-0.5)
    assert "note: 'kink:0.5'" in result.stderr
    # A name with a path separator is always the file; a non-sample name is a file too.
    _one_error_line(run("solve-bp", "./line"), "./line", "extension")
    Path("kink:0.csv").write_text("1,2,3\n")
    assert run("solve-bp", "kink:0.csv", "--json").exit_code == 0
    assert "note" not in run("solve-bp", "kink:0.csv").stderr


def _infeasible(tmp_path: Path) -> list[str]:
    csv = tmp_path / "inf.csv"
    csv.write_text("1,1,1\n1,1,2\n")  # x1 + x2 = 1 and = 2
    npz = tmp_path / "inf.npz"
    np.savez(npz, A=np.array([[1.0, 0.0], [2.0, 0.0]]), y=np.array([1.0, 1.0]))
    return [str(csv), str(npz)]


@pytest.mark.parametrize(
    "command",
    [["solve-bp"], ["flow", "--alpha", "1e-2"], ["tie-break"], ["compare", "--depth", "3"]],
)
def test_json_on_an_infeasible_problem_is_the_same_in_every_command(
    tmp_path: Path, command: list[str]
) -> None:
    for problem in _infeasible(tmp_path):
        result = run(command[0], problem, *command[1:], "--json")
        assert result.exit_code == 1, (result.stdout, result.stderr)
        document = json.loads(result.stdout)
        assert document["status"] == "infeasible" and document["problem"] == problem
        assert document["message"].startswith(problem)
        lines = _messages(result.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in lines[0]
        plain = run(command[0], problem, *command[1:])
        assert plain.exit_code == 1 and plain.stdout == ""


# --------------------------------------------------------------------------- strict numbers

NOT_PLAIN = ["1_000", "１", "1_0e-6", "٣", "1e-6 "]


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_parse_decimal_refuses_what_float_accepts(text: str) -> None:
    float(text)  # Python accepts every one of them
    with pytest.raises(ValueError):
        parse_decimal(text)


@pytest.mark.parametrize(
    "args",
    [
        ["flow", "--alpha", "{}"],
        ["flow", "--depth", "{}"],
        ["flow", "--t-end", "{}"],
        ["solve-bp", "--time-limit", "{}"],
        ["tie-break", "--depth", "{}"],
        ["compare", "--depth", "{}"],
        ["compare", "--alpha", "{}"],
        ["compare", "--alpha-range", "{}", "1e-3", "3"],
        ["compare", "--alpha-p-range", "1", "1e-3", "{}"],
        ["compare", "--fail-above", "{}"],
        ["solve-bp", "--max-input-mb", "{}"],
    ],
)
@pytest.mark.parametrize("text", ["1_0e-6", "１", "1_000"])
def test_every_numeric_option_is_strict(args: list[str], text: str) -> None:
    result = run(*[text if a == "{}" else a for a in args], "line")
    assert result.exit_code == 2, (args, result.stderr)
    assert "Invalid value" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("kink:1e-400", "underflows to 0"),
        ("kink:1e-17", "1 - EPS rounds to 1"),
        ("kink:1_0e-3", "plain decimal"),
        ("kink:１e-3", "plain decimal"),
        ("gauss:1_0:20:2:0", "plain decimal integer"),
        ("face:１0:30:5:2:0", "plain decimal integer"),
    ],
)
def test_sample_fields_are_strict(spec: str, fragment: str) -> None:
    _one_error_line(run("solve-bp", spec), spec, fragment)


def test_kink_eps_just_above_resolution_is_kept() -> None:
    # 1 - 1e-15 is representable and differs from 1: still a valid kink with A = [1, 1 - EPS].
    p = load_sample("kink:1e-15")
    assert p.A[0, 1] == 1.0 - 1e-15 and p.A[0, 1] < 1.0
    assert load_sample("kink:0").A[0, 1] == 1.0


@pytest.mark.parametrize("cell", ["1_000", "１", "٣"])
def test_csv_cells_are_strict(tmp_path: Path, cell: str) -> None:
    f = tmp_path / "s.csv"
    f.write_text(f"1,2,3\n{cell},5,6\n", encoding="utf-8")
    _one_error_line(run("solve-bp", str(f)), "s.csv", "line 2", repr(cell), "plain decimal")
