"""Terminal and process plumbing of the CLI: closed std descriptors, signals, errors to exit
codes, stdout that may be closed or broken, atomic output files, progress on stderr.

Exit codes: 0 success; 1 bad or infeasible problem (one line on stderr); 2 usage error;
3 a requested check failed (``compare --fail-above``); 4 a ``--time-limit`` was hit;
5 ``train`` diverged; 130 interrupted (Ctrl-C); 129/143 hung up/terminated (SIGHUP/SIGTERM);
141 stdout was closed by its reader (broken pipe; nothing printed).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console, RenderableType
from rich.markup import escape

from dlncli.errors import (
    DlnError,
    InfeasibleError,
    OptionError,
    OutputError,
    OutputExistsError,
    ProblemFormatError,
    RunFailedError,
    TimeLimitError,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CHECK_FAILED = 3
EXIT_TIME_LIMIT = 4
EXIT_DIVERGED = 5
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that went away
TERMINATING_SIGNALS = {signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}  # exit 128 + signum


DEFAULT_MAX_INPUT_MB = 256.0  # problem.DEFAULT_MAX_INPUT_MB, without importing numpy early
PROGRESS_INTERVAL_S = 10.0

stderr = Console(stderr=True, highlight=False, emoji=False)

# Python parameter names whose flag is not "--" + the name with dashes.
_FLAGS = {
    "depths": "--depth",
    "lrs": "--lr",
    "deltas": "--delta",
    "rhos": "--rho",
    "alphas": "--alpha",
    "methods": "--method",
    "z_values": "--z",
}


def flag(option: str) -> str:
    """The CLI flag of an API parameter (OptionError.option)."""
    return _FLAGS.get(option, "--" + option.replace("_", "-"))


def max_bytes(max_input_mb: float) -> int:
    return max(int(max_input_mb * 2**20), 1)


_STDOUT_CLOSED = [False]


def occupy_closed_std_fds() -> None:
    # Started with <&- or >&-: put /dev/null on the free descriptor, so that no file opened
    # later (an output's temporary file, the problem file) becomes fd 0, 1 or 2 and receives
    # C-level prints. sys.stdin stays None (load_problem reports it for '-'); a closed stdout
    # is remembered for to_stdout, and sys.stdout/stderr point at /dev/null so code that
    # flushes them keeps working.
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)
    if sys.stdout is None:
        _STDOUT_CLOSED[0] = True
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  # lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    stderr.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


class _Terminated(BaseException):
    """SIGTERM/SIGHUP, raised like KeyboardInterrupt so temporary files are cleaned up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(signum)


@contextmanager
def handled(
    source: str | Callable[[], str | None] | None,
    *,
    as_json: bool = False,
    kept: str = "no output file was written",
) -> Iterator[None]:
    """The one place that turns DlnError / Ctrl-C / SIGTERM into a message and an exit code.

    ``source`` names the problem in messages (None: the default problem; "": no problem, as
    in phase and potentials); a callable gives the one running when the error arrives
    (compare runs several). ``kept`` says what an interruption leaves behind. With
    ``as_json``, an infeasible problem also prints ``{"status": "infeasible", ...}`` on
    stdout, in every command.
    """
    from dlncli.problem import DEFAULT_PROBLEM

    def problem_label() -> str:
        name = source() if callable(source) else source
        return {None: DEFAULT_PROBLEM, "-": "<stdin>"}.get(name, name)  # type: ignore[return-value]

    def labelled(exc: BaseException) -> str:
        label = problem_label()
        return f"{label}: {exc}" if label else str(exc)

    main_thread = threading.current_thread() is threading.main_thread()
    previous = {
        sig: signal.signal(sig, _raise_terminated) for sig in TERMINATING_SIGNALS if main_thread
    }
    try:
        yield
    except OptionError as exc:
        fail(f"Invalid value for '{flag(exc.option)}': {exc}", EXIT_USAGE)
    except RunFailedError as exc:
        if as_json:
            from dlncli.reports import dump_json

            to_stdout(dump_json(exc.document) + "\n")
        fail(labelled(exc))
    except TimeLimitError as exc:
        fail(labelled(exc), EXIT_TIME_LIMIT)
    except ProblemFormatError as exc:  # already names the file or sample
        fail(str(exc))
    except InfeasibleError as exc:
        label = problem_label()
        if as_json:
            from dlncli.reports import dump_json

            document = {"status": "infeasible", "message": f"{label}: {exc}", "problem": label}
            to_stdout(dump_json(document) + "\n")
        fail(f"{label}: {exc}")
    except DlnError as exc:
        fail(labelled(exc))
    except KeyboardInterrupt:
        fail(f"interrupted; {kept}", EXIT_INTERRUPTED)
    except _Terminated as exc:
        name = TERMINATING_SIGNALS.get(signal.Signals(exc.signum), str(exc.signum))
        fail(f"terminated by {name}; {kept}", 128 + exc.signum)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def writing(option: str) -> Iterator[None]:
    """Output-file failures as messages: a file that appeared meanwhile is a usage error (2)."""
    try:
        yield
    except OutputExistsError as exc:
        fail(f"Invalid value for '{option}': {exc} (it appeared during the run)", EXIT_USAGE)
    except OutputError as exc:
        fail(f"{option}: {exc}")


def render_text(renderable: RenderableType) -> str:
    """The text rich would print to stdout (its width, colours), without touching stdout."""
    import io

    probe = Console(highlight=False, emoji=False)
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        highlight=False,
        emoji=False,
        width=probe.width,
        force_terminal=probe.is_terminal,
        color_system=probe.color_system,  # type: ignore[arg-type]  # its own value
        no_color=probe.no_color,
    )
    console.print(renderable)
    return buffer.getvalue()


def to_stdout(text: str) -> None:
    """Print ``text`` to stdout, turning a closed, full or broken stdout into one stderr line
    (a broken pipe: no line, exit 141)."""
    if _STDOUT_CLOSED[0] or sys.stdout is None:
        fail("cannot print the result: stdout is closed; expected an open stdout (or --output)")
    stream = sys.stdout
    try:
        try:
            fd = stream.fileno()
        except (OSError, ValueError):  # not a real file (CliRunner)
            stream.write(text)
            stream.flush()
            return
        stream.flush()
        # os.write in a loop: a reader that exits mid-write makes the kernel return a partial
        # count, which Python's buffered stdout drops silently (exit 0 with truncated output).
        data = memoryview(text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
        while data:
            data = data[os.write(fd, data) :]
    except BrokenPipeError:
        _silence_stdout()
        raise typer.Exit(EXIT_BROKEN_PIPE) from None
    except OSError as exc:
        _silence_stdout()
        fail(f"cannot write the result to stdout ({exc.strerror or exc})")


def _silence_stdout() -> None:
    # What is left in Python's buffer would fail again at exit ("Exception ignored ...").
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (tests) or already gone
        pass


def check_output(
    output: Path | None,
    inputs: tuple[Path | None, ...],
    force: bool,
    *,
    option: str = "--output",
    suffixes: tuple[str, ...] = (".npz", ".csv", ".json"),
    others: Mapping[str, Path | None] | None = None,
) -> None:
    """Refuse an output path before any work: a wrong suffix, an input file, an existing file
    without --force, or the file another output option (``others``: option -> path) names."""
    from dlncli.problem_io import check_output_path, same_file

    if output is None:
        return
    for other_option, other in (others or {}).items():
        if other is not None and same_file(output, other):
            fail(
                f"Invalid value for '{option}': {output}: is also the {other_option} file; "
                "expected two different files",
                EXIT_USAGE,
            )
    why = check_output_path(output, inputs=inputs, force=force, suffixes=suffixes)
    if why is not None:
        fail(f"Invalid value for '{option}': {output}: {why}", EXIT_USAGE)


PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def check_outputs(
    inputs: tuple[Path | None, ...],
    force: bool,
    *,
    output: Path | None = None,
    plot: Path | None = None,
    trajectory: Path | None = None,
) -> None:
    """Every output file of a command checked before any work (see :func:`check_output`)."""
    check_output(output, inputs, force)
    others = {"--output": output}
    check_output(plot, inputs, force, option="--plot", suffixes=PLOT_SUFFIXES, others=others)
    check_output(
        trajectory, inputs, force, option="--trajectory", suffixes=(".npz", ".csv"), others=others
    )


def emit(
    report: Any,
    renderable: Callable[[], RenderableType],
    *,
    as_json: bool,
    output: Path | None = None,
    force: bool = False,
    arrays: Mapping[str, Any] | None = None,
) -> None:
    """The one way a command prints its result: ``report.to_dict()`` is the whole JSON
    document (stdout with ``--json``, and every ``--output`` format); otherwise the table.
    ``arrays``: what an .npz/.csv --output holds instead, for reports shaped as a table of
    arrays (path's saddles)."""
    from dlncli.problem_io import write_record
    from dlncli.reports import dump_json, jsonable

    record = report.to_dict()
    if output is not None and arrays is not None and output.suffix.lower() != ".json":
        save_arrays(output, "--output", arrays, force=force)
    elif output is not None:
        with writing("--output"):
            write_record(output, jsonable(record), force=force)
    if as_json:
        to_stdout(dump_json(record) + "\n")
    else:
        to_stdout(render_text(renderable()))


def save_figure(path: Path | None, draw: Callable[[], Any], *, force: bool) -> None:
    """Draw and write a --plot figure (nothing when no --plot was given)."""
    if path is None:
        return
    from dlncli.problem_io import write_figure

    with writing("--plot"):
        write_figure(path, draw(), force=force)


def save_arrays(path: Path | None, option: str, arrays: Mapping[str, Any], *, force: bool) -> None:
    """Write named arrays (a --trajectory or an array --output) to .npz or .csv."""
    if path is None:
        return
    from dlncli.problem_io import write_arrays

    with writing(option):
        write_arrays(path, arrays, force=force)


def load(source: str | None, max_input_mb: float) -> Any:
    """load_problem with the input cap, and a note when a sample name hides a local file."""
    from dlncli.problem_io import load_problem, shadowed_file

    shadow = shadowed_file(source)
    if shadow is not None:
        stderr.print(
            f"note: {escape(str(source))!r} is a built-in sample name, so the sample is used, "
            f"not the local file; write ./{escape(str(shadow))} to read the file",
            soft_wrap=True,
        )
    return load_problem(source, max_bytes=max_bytes(max_input_mb))


@contextmanager
def heartbeat(what: str, *, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """Plain progress lines for logs: when stderr is not a terminal, print what is running
    every PROGRESS_INTERVAL_S seconds. Yields a setter for the current status text."""
    status = [what]
    if quiet or stderr.is_terminal:
        yield lambda text: None
        return
    stop = threading.Event()
    start = time.monotonic()

    def beat() -> None:
        while not stop.wait(PROGRESS_INTERVAL_S):
            elapsed = time.monotonic() - start
            stderr.print(
                f"progress: {escape(status[0])} ({elapsed:.0f} s elapsed)",
                soft_wrap=True,
                highlight=False,
            )

    def set_status(text: str) -> None:
        status[0] = text

    thread = threading.Thread(target=beat, name="dlncli-progress", daemon=True)
    thread.start()
    try:
        yield set_status
    finally:
        stop.set()
        thread.join()


@contextmanager
def flow_progress(
    quiet: bool, say: Callable[[str], None] | None = None
) -> Iterator[Callable[[float], None] | None]:
    """A rich bar of the fraction done on a terminal; otherwise the heartbeat's status line
    (``say``) carries it; nothing when ``quiet``."""
    if quiet:
        yield None
        return
    if not stderr.is_terminal:
        yield None if say is None else (lambda done: say(f"about {done:.0%} done"))
        return
    from rich.progress import Progress

    with Progress(console=stderr, transient=True) as bar:
        task = bar.add_task("integrating the flow", total=1.0)
        yield lambda done: bar.update(task, completed=done)


@contextmanager
def phase_progress(quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich bar on a terminal, plain lines (about every 10 %) otherwise."""
    import time

    if quiet:
        yield None
        return
    if not stderr.is_terminal:
        start, shown, base = time.perf_counter(), [-1], [-1]

        def line(done: int, total: int) -> None:
            if base[0] < 0:  # instances reused from --store are done before the clock starts
                base[0] = max(done - 1, 0)
            step = done * 10 // max(total, 1)
            if done and step > shown[0]:
                shown[0] = step
                elapsed = time.perf_counter() - start
                rate = (done - base[0]) / elapsed if elapsed > 0 else 0.0
                eta = (total - done) / rate if rate > 0 else float("nan")
                stderr.print(
                    f"phase: {done}/{total} instances, {rate:.2f}/s, ETA {eta:.0f} s",
                    soft_wrap=True,
                )

        yield line
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("instances"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task("phase", total=None, rate="")

        def update(done: int, total: int) -> None:
            speed = bar.tasks[0].speed
            rate = "" if speed is None else f"{speed:.2f}/s"
            bar.update(task, completed=done, total=total, rate=rate)

        yield update


def notes(lines: Sequence[str]) -> None:
    """A report's notes, one ``note:`` line each on stderr."""
    for line in lines:
        stderr.print(f"note: {escape(line)}", soft_wrap=True)


class Running:
    """Which of a command's problems is being worked on (compare runs several): ``current``
    names it in messages, ``starting(say)`` is the API's on_problem callback that moves it on."""

    def __init__(self, sources: Sequence[str | None]) -> None:
        self.sources, self.index = sources, 0

    def current(self) -> str | None:
        return self.sources[self.index]

    def starting(self, say: Callable[[str], None]) -> Callable[[int, Any], None]:
        def start(position: int, problem: object) -> None:
            self.index = position
            label = self.sources[position]
            say(f"compare: {'default problem' if label is None else label}")

        return start


def check_failed(failures: Sequence[str]) -> None:
    """A requested check that failed (``compare --fail-above``): one stderr line, exit 3."""
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        stderr.print(f"check failed: {escape(failures[0])}{more}", soft_wrap=True)
        raise typer.Exit(EXIT_CHECK_FAILED)


def phase_kept(store: Path | None) -> str:
    """What an interrupted or terminated phase sweep leaves behind."""
    if store is None:
        return "no --store was given, so the results are lost"
    return f"finished trials are kept in {store}; rerun with --resume"
