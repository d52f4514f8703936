"""The CLI's terminal and process plumbing (dlncli.cli.terminal): errors to one line and an
exit code, output checks, JSON and table output, progress lines."""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path

import pytest
import typer
from rich.console import Console

from dlncli.cli import terminal
from dlncli.errors import DlnError, InfeasibleError, OptionError, RunFailedError, TimeLimitError
from dlncli.reports import SamplesReport


@pytest.fixture
def err(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """stderr as text (no colour, wide)."""
    buffer = io.StringIO()
    monkeypatch.setattr(terminal, "stderr", Console(file=buffer, width=200, no_color=True))
    return buffer


def _exit_code(raised: pytest.ExceptionInfo[typer.Exit]) -> int:
    return raised.value.exit_code


@pytest.mark.parametrize(
    ("option", "flag"),
    [("alpha", "--alpha"), ("depths", "--depth"), ("lrs", "--lr"), ("t_end", "--t-end"),
     ("deltas", "--delta"), ("max_steps", "--max-steps"), ("check_alpha", "--check-alpha")],
)  # fmt: skip
def test_flag_of_an_api_parameter(option: str, flag: str) -> None:
    assert terminal.flag(option) == flag


def test_option_error_is_a_usage_error_naming_the_flag(err: io.StringIO) -> None:
    with pytest.raises(typer.Exit) as raised, terminal.handled("line"):
        raise OptionError("depths", "1.5", "a real number >= 2")
    assert _exit_code(raised) == 2
    assert (
        err.getvalue() == "error: Invalid value for '--depth': '1.5'; expected a real number >= 2\n"
    )


@pytest.mark.parametrize(
    ("source", "prefix"), [("line", "line: "), (None, "line: "), ("-", "<stdin>: "), ("", "")]
)
def test_errors_name_the_problem_or_nothing(
    err: io.StringIO, source: str | None, prefix: str
) -> None:
    with pytest.raises(typer.Exit) as raised, terminal.handled(source):
        raise DlnError("went wrong")
    assert _exit_code(raised) == 1 and err.getvalue() == f"error: {prefix}went wrong\n"


def test_time_limit_exits_4(err: io.StringIO) -> None:
    with pytest.raises(typer.Exit) as raised, terminal.handled("kink:0.1"):
        raise TimeLimitError("the time limit of 1 s was reached")
    assert _exit_code(raised) == 4 and err.getvalue().startswith("error: kink:0.1: the time")


def test_infeasible_with_json_prints_the_status_document(
    err: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as raised, terminal.handled("mine.npz", as_json=True):
        raise InfeasibleError("y is not in the range of A")
    document = json.loads(capsys.readouterr().out)
    assert _exit_code(raised) == 1
    assert document == {
        "status": "infeasible",
        "message": "mine.npz: y is not in the range of A",
        "problem": "mine.npz",
    }


def test_a_failed_run_prints_its_document_with_json(
    err: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as raised, terminal.handled("line", as_json=True):
        raise RunFailedError("integrator failed", {"status": "failed", "message": "m"})
    assert _exit_code(raised) == 1
    assert json.loads(capsys.readouterr().out) == {"status": "failed", "message": "m"}
    assert err.getvalue() == "error: line: integrator failed\n"


def test_interrupt_and_termination(err: io.StringIO) -> None:
    with pytest.raises(typer.Exit) as raised, terminal.handled("", kept="the store is kept"):
        raise KeyboardInterrupt
    assert _exit_code(raised) == 130 and err.getvalue() == "error: interrupted; the store is kept\n"
    with pytest.raises(typer.Exit) as raised, terminal.handled(""):
        terminal._raise_terminated(signal.SIGTERM, None)
    assert _exit_code(raised) == 128 + signal.SIGTERM
    assert err.getvalue().endswith("error: terminated by SIGTERM; no output file was written\n")


def test_two_outputs_naming_one_file_are_refused(err: io.StringIO, tmp_path: Path) -> None:
    out = tmp_path / "r.npz"
    with pytest.raises(typer.Exit) as raised:
        terminal.check_outputs((), False, output=out, trajectory=tmp_path / "." / "r.npz")
    assert _exit_code(raised) == 2
    assert "Invalid value for '--trajectory'" in err.getvalue()
    assert "is also the --output file" in err.getvalue()
    terminal.check_outputs((), False, output=out, trajectory=tmp_path / "t.npz")  # distinct: fine


def test_output_suffixes_are_checked_before_any_work(err: io.StringIO, tmp_path: Path) -> None:
    with pytest.raises(typer.Exit) as raised:
        terminal.check_outputs((), False, plot=tmp_path / "figure.npz")
    assert _exit_code(raised) == 2 and "Invalid value for '--plot'" in err.getvalue()


def test_emit_prints_the_document_and_writes_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = SamplesReport("line", {"line": "a segment", "kink:EPS": "the family"})
    for suffix in (".json", ".csv", ".npz"):
        out = tmp_path / f"samples{suffix}"
        terminal.emit(report, lambda: "unused", as_json=True, output=out)
        assert json.loads(capsys.readouterr().out) == report.to_dict()
        assert out.stat().st_size > 0
    saved = json.loads((tmp_path / "samples.json").read_text())
    assert saved == report.to_dict()


def test_phase_progress_rate_counts_only_what_this_run_computed(
    monkeypatch: pytest.MonkeyPatch, err: io.StringIO
) -> None:
    clock = iter([100.0, 110.0, 120.0])  # start, then two progress lines 10 s apart
    monkeypatch.setattr("time.perf_counter", lambda: next(clock))
    monkeypatch.setattr(Console, "is_terminal", property(lambda self: False))
    with terminal.phase_progress(quiet=False) as progress:
        assert progress is not None
        progress(51, 100)  # 50 reused from a store, the first computed one
        progress(61, 100)
    lines = err.getvalue().splitlines()
    # 1 computed in the first 10 s, 11 in 20 s: not 51/10 and 61/20 (the reused ones).
    assert lines == [
        "phase: 51/100 instances, 0.10/s, ETA 490 s",
        "phase: 61/100 instances, 0.55/s, ETA 71 s",
    ]


def test_running_names_the_problem_being_worked_on(err: io.StringIO) -> None:
    said: list[str] = []
    running = terminal.Running(["line", None])
    start = running.starting(said.append)
    with pytest.raises(typer.Exit), terminal.handled(running.current):
        start(1, object())
        raise DlnError("went wrong")
    assert said == ["compare: default problem"]
    assert err.getvalue() == "error: line: went wrong\n"  # None is the default problem, line
