"""Command-line interface: options in, one core call, a report out. No numerics here.

Exit codes: 0 success; 1 bad or infeasible problem (one line on stderr); 2 usage error;
3 a requested check failed (``compare --fail-above``); 4 a ``--time-limit`` was hit;
5 ``train`` diverged;
130 interrupted (Ctrl-C); 129/143 hung up/terminated (SIGHUP/SIGTERM); 141 stdout was
closed by its reader (broken pipe; nothing printed).
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console, RenderableType
from rich.markup import escape

from dlncli import __version__
from dlncli.errors import (
    DlnError,
    InfeasibleError,
    OutputError,
    OutputExistsError,
    ProblemFormatError,
    TimeLimitError,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CHECK_FAILED = 3
EXIT_TIME_LIMIT = 4
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a reader that went away
TERMINATING_SIGNALS = {signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}  # exit 128 + signum

EPILOG = (
    "Exit codes: 0 ok · 1 bad or infeasible problem · 2 usage error · "
    "3 requested check failed · 4 time limit hit · 130 interrupted · "
    "129/143 SIGHUP/SIGTERM · 141 broken pipe."
)

app = typer.Typer(
    name="dlncli",
    help="Diagonal linear networks vs basis pursuit: gradient flow, exact limits, tie-breaks.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

stderr = Console(stderr=True, highlight=False, emoji=False)


class Solver(str, Enum):
    choose = "choose"
    simplex = "simplex"
    ipm = "ipm"
    pdlp = "pdlp"


ProblemArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[PROBLEM]",
        help="A .npz/.csv/.mat file, '-' for stdin, or a sample name (see 'dlncli samples'; "
        "a sample name wins over a same-named local file). Default: line.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON document to stdout.")]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Also write the result to FILE (.json, .npz or .csv).",
        dir_okay=False,
    ),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Allow --output to replace a file.")]


class CompareMethod(str, Enum):
    limit = "limit"
    gd = "gd"


CompareMethodOpt = Annotated[
    CompareMethod,
    typer.Option(
        "--method",
        help="limit: the flow's exact limit across α (default). gd: gradient descent at one α "
        "across the step sizes --lr (see 'dlncli train').",
    ),
]
LrListOpt = Annotated[
    list[str] | None,
    typer.Option("--lr", help="GD step size η (repeatable; --method gd).", show_default=False),
]
InitOpt = Annotated[
    Path | None,
    typer.Option(
        "--init",
        help="Start from a per-coordinate u(0) = u0, v(0) = v0: an .npz with arrays u0 and v0 "
        "(or log_u0 and log_v0). Computes the exact limit only; --alpha is ignored.",
        dir_okay=False,
        show_default=False,
    ),
]


def _strict_number(text: str | float, *, minimum: float | None = None) -> float:
    """An option value as a plain ASCII decimal (no '1_000', no full-width digits).

    Typer also passes the declared default (a float) through the parser."""
    from dlncli.problem import DECIMAL

    if isinstance(text, float | int):
        return float(text)
    if DECIMAL.fullmatch(text) is None:
        raise typer.BadParameter(f"{text!r} is not a plain decimal number; expected e.g. 2.5")
    value = float(text)
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum:g}"
        raise typer.BadParameter(f"{text!r}; expected a finite number{bound}")
    return value


def _nonnegative(text: str | float) -> float:
    return _strict_number(text, minimum=0.0)


def _positive(text: str | float) -> float:
    value = _strict_number(text)
    if value <= 0:
        raise typer.BadParameter(f"{text!r}; expected a finite number > 0")
    return value


TimeLimitOpt = Annotated[
    float | None,
    typer.Option(
        "--time-limit", parser=_nonnegative, help="Seconds; exit 4 when hit.", show_default=False
    ),
]
MaxInputOpt = Annotated[
    float,
    typer.Option(
        "--max-input-mb",
        parser=_positive,
        help="Refuse a problem larger than this many MiB (bytes read, or A and y as float64), "
        "before allocating it.",
    ),
]
DEFAULT_MAX_INPUT_MB = 256.0  # problem_io.DEFAULT_MAX_INPUT_MB, without importing numpy early


def _max_bytes(max_input_mb: float) -> int:
    return max(int(max_input_mb * 2**20), 1)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dlncli {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Diagonal linear networks vs basis pursuit."""
    _occupy_closed_std_fds()


_STDOUT_CLOSED = [False]


def _occupy_closed_std_fds() -> None:
    # Started with <&- or >&-: put /dev/null on the free descriptor, so that no file opened
    # later (an output's temporary file, the problem file) becomes fd 0, 1 or 2 and receives
    # C-level prints. sys.stdin stays None (load_problem reports it for '-'); a closed stdout
    # is remembered for _to_stdout, and sys.stdout/stderr point at /dev/null so code that
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


def _fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
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
def _handled(
    source: str | Callable[[], str | None] | None, *, as_json: bool = False
) -> Iterator[None]:
    """The one place that turns DlnError / Ctrl-C / SIGTERM into a message and an exit code.

    ``source`` names the problem in messages; a callable gives the one running when the
    error arrives (compare runs several). With ``as_json``, an infeasible problem also
    prints ``{"status": "infeasible", ...}`` on stdout, in every command.
    """
    from dlncli.problem import DEFAULT_PROBLEM

    def problem_label() -> str:
        name = source() if callable(source) else source
        return {None: DEFAULT_PROBLEM, "-": "<stdin>"}.get(name, name)  # type: ignore[return-value]

    main_thread = threading.current_thread() is threading.main_thread()
    previous = {
        sig: signal.signal(sig, _raise_terminated) for sig in TERMINATING_SIGNALS if main_thread
    }
    try:
        yield
    except TimeLimitError as exc:
        label = problem_label()
        _fail(f"{label}: {exc}", EXIT_TIME_LIMIT)
    except ProblemFormatError as exc:  # already names the file or sample
        _fail(str(exc))
    except InfeasibleError as exc:
        label = problem_label()
        if as_json:
            from dlncli.report import dump_json

            document = {"status": "infeasible", "message": f"{label}: {exc}", "problem": label}
            _to_stdout(dump_json(document) + "\n")
        _fail(f"{label}: {exc}")
    except DlnError as exc:
        _fail(f"{problem_label()}: {exc}")
    except KeyboardInterrupt:
        _fail("interrupted; no output file was written", EXIT_INTERRUPTED)
    except _Terminated as exc:
        name = TERMINATING_SIGNALS.get(signal.Signals(exc.signum), str(exc.signum))
        _fail(f"terminated by {name}; no output file was written", 128 + exc.signum)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _writing(option: str) -> Iterator[None]:
    """Output-file failures as messages: a file that appeared meanwhile is a usage error (2)."""
    try:
        yield
    except OutputExistsError as exc:
        _fail(f"Invalid value for '{option}': {exc} (it appeared during the run)", EXIT_USAGE)
    except OutputError as exc:
        _fail(f"{option}: {exc}")


def _render(renderable: RenderableType) -> str:
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


def _to_stdout(text: str) -> None:
    """Print ``text`` to stdout, turning a closed, full or broken stdout into one stderr line
    (a broken pipe: no line, exit 141)."""
    if _STDOUT_CLOSED[0] or sys.stdout is None:
        _fail("cannot print the result: stdout is closed; expected an open stdout (or --output)")
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
        _fail(f"cannot write the result to stdout ({exc.strerror or exc})")


def _silence_stdout() -> None:
    # What is left in Python's buffer would fail again at exit ("Exception ignored ...").
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (tests) or already gone
        pass


def _check_output(
    output: Path | None,
    inputs: tuple[Path | None, ...],
    force: bool,
    *,
    option: str = "--output",
    suffixes: tuple[str, ...] = (".npz", ".csv", ".json"),
) -> None:
    from dlncli.problem_io import check_output_path

    if output is None:
        return
    why = check_output_path(output, inputs=inputs, force=force, suffixes=suffixes)
    if why is not None:
        _fail(f"Invalid value for '{option}': {output}: {why}", EXIT_USAGE)


def _emit(
    record: Mapping[str, Any],
    renderable: Callable[[], RenderableType],
    *,
    as_json: bool,
    output: Path | None,
    force: bool = False,
) -> None:
    from dlncli.problem_io import write_record
    from dlncli.report import dump_json, jsonable

    if output is not None:
        with _writing("--output"):
            write_record(output, jsonable(record), force=force)
    if as_json:
        _to_stdout(dump_json(record) + "\n")
    else:
        _to_stdout(_render(renderable()))


def _load(source: str | None, max_input_mb: float) -> Any:
    """load_problem with the input cap, and a note when a sample name hides a local file."""
    from dlncli.problem_io import load_problem, shadowed_file

    shadow = shadowed_file(source)
    if shadow is not None:
        stderr.print(
            f"note: {escape(str(source))!r} is a built-in sample name, so the sample is used, "
            f"not the local file; write ./{escape(str(shadow))} to read the file",
            soft_wrap=True,
        )
    return load_problem(source, max_bytes=_max_bytes(max_input_mb))


PROGRESS_INTERVAL_S = 10.0


@contextmanager
def _heartbeat(what: str, *, quiet: bool = False) -> Iterator[Callable[[str], None]]:
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


# --------------------------------------------------------------------------- commands


@app.command()
def samples(as_json: JsonOpt = False) -> None:
    """List the built-in sample problems (usable wherever a PROBLEM is expected)."""
    from dlncli.problem import DEFAULT_PROBLEM
    from dlncli.report import samples_renderable
    from dlncli.samples import sample_descriptions

    descriptions = sample_descriptions()
    _emit(
        {"status": "ok", "default": DEFAULT_PROBLEM, "samples": descriptions},
        lambda: samples_renderable(descriptions, DEFAULT_PROBLEM),
        as_json=as_json,
        output=None,
    )


@app.command("solve-bp", epilog=EPILOG)
def solve_bp(
    problem: ProblemArg = None,
    solver: Annotated[
        Solver,
        typer.Option(
            "--solver",
            help="choose: the homotopy path first (no LP when its certificate is proved), "
            "then HiGHS's choice; simplex, ipm, pdlp: that HiGHS solver only.",
        ),
    ] = Solver.choose,
    ranges: Annotated[
        bool, typer.Option("--ranges", help="Also give each face coordinate's \\[min, max].")
    ] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Show every coordinate.")] = False,
    time_limit: TimeLimitOpt = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
    max_input_mb: MaxInputOpt = DEFAULT_MAX_INPUT_MB,
) -> None:
    """Solve basis pursuit (min ‖x‖₁ s.t. Ax = y) with HiGHS; certify uniqueness or describe
    the face of minimizers."""
    from dlncli.api import solve_bp as run_solve_bp
    from dlncli.report import bp_renderable

    with _handled(problem, as_json=as_json):
        prob = _load(problem, max_input_mb)
        _check_output(output, (prob.path,), force)
        with _heartbeat("solve-bp: solving basis pursuit"):
            report = run_solve_bp(prob, solver=solver.value, ranges=ranges, time_limit=time_limit)
        _emit(
            report.to_dict(),
            lambda: bp_renderable(report, show_all=show_all),
            as_json=as_json,
            output=output,
            force=force,
        )


# --------------------------------------------------------------------------- flow


def _parse_alpha(text: str) -> tuple[str, float]:
    """An alpha as typed -> (text, ln alpha), exactly, for values far outside float range."""
    from dlncli.api import parse_alpha

    try:
        return parse_alpha(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--alpha'") from None


def _depth_value(text: str | float) -> float:
    value = _strict_number(text)
    if value < 2:
        raise typer.BadParameter(f"{text!r}; expected a real number >= 2")
    return value


def _log10_time(value: float | None) -> float | None:
    if value is None:
        return None
    if value <= 0:
        raise typer.BadParameter(f"{value}; expected a time > 0", param_hint="'--t-end'")
    return math.log10(value)


class FlowMethod(str, Enum):
    ode = "ode"
    raw = "raw"
    raw_lsoda = "raw-lsoda"


@app.command(epilog=EPILOG)
def flow(
    problem: ProblemArg = None,
    alpha: Annotated[
        str, typer.Option("--alpha", help="Initialization scale α > 0, any decimal (1e-1000 ok).")
    ] = "1e-6",
    depth: Annotated[
        float, typer.Option("--depth", help="Depth p >= 2 (real).", parser=_depth_value)
    ] = 3.0,
    t_end: Annotated[
        float | None,
        typer.Option(
            "--t-end",
            parser=_strict_number,
            help="Integrate to this time instead of to convergence.",
            show_default=False,
        ),
    ] = None,
    limit_only: Annotated[
        bool, typer.Option("--limit-only", help="Skip the ODE; compute only the exact limit.")
    ] = False,
    method: Annotated[
        FlowMethod,
        typer.Option(
            "--method",
            help="ode: the exact m-dimensional reduction (default). raw / raw-lsoda: the paper "
            "authors' 2N-dimensional (u, v) integration with Radau (rtol 2.5e-14) or LSODA "
            "(rtol 1e-12) to --t-end or their horizon 1e9·α^(2−p), for independent checks.",
        ),
    ] = FlowMethod.ode,
    trajectory: Annotated[
        Path | None,
        typer.Option(
            "--trajectory",
            help="Save t, x(t), loss(t), u(t), v(t) and ln u, ln v to FILE (.npz or .csv).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Show every coordinate.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    time_limit: TimeLimitOpt = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
    max_input_mb: MaxInputOpt = DEFAULT_MAX_INPUT_MB,
    init: InitOpt = None,
) -> None:
    """Run the DLN gradient flow x = u^p − v^p from u = v = α: the ODE trajectory and its
    exact limit x_α (from the dual characterization), with their agreement."""
    if init is not None:
        _flow_from_init(
            problem,
            init,
            depth,
            alpha,
            (t_end, limit_only, method, trajectory),
            time_limit,
            show_all=show_all,
            as_json=as_json,
            output=output,
            force=force,
            max_input_mb=max_input_mb,
        )
        return
    alpha_text, log_alpha = _parse_alpha(alpha)
    _log10_time(t_end)
    from dlncli.problem_io import same_file

    if trajectory is not None and output is not None and same_file(trajectory, output):
        _fail(
            f"Invalid value for '--trajectory': {trajectory}: is also the --output file; "
            "expected two different files",
            EXIT_USAGE,
        )
    if method is not FlowMethod.ode:
        from dlncli.reports import alpha_p_fits_float

        if not alpha_p_fits_float(depth, log_alpha):
            _fail(
                f"Invalid value for '--alpha': {alpha_text} gives "
                f"α^p = 1e{depth * log_alpha / math.log(10):.4g}; --method {method.value} works "
                "in floating point and needs 1e-300 < α^p < 1e300",
                EXIT_USAGE,
            )
    from dlncli.api import flow as run_flow
    from dlncli.errors import RunFailedError
    from dlncli.problem_io import write_arrays
    from dlncli.report import dump_json, flow_renderable

    with _handled(problem, as_json=as_json), _heartbeat("flow", quiet=quiet) as status:
        prob = _load(problem, max_input_mb)
        _check_output(output, (prob.path,), force)
        if method is not FlowMethod.ode and limit_only:
            _fail(
                f"Invalid value for '--method': {method.value} runs the flow; drop --limit-only",
                EXIT_USAGE,
            )
        if trajectory is not None:
            if limit_only:
                _fail(
                    "Invalid value for '--trajectory': needs the ODE; drop --limit-only", EXIT_USAGE
                )
            _check_output(
                trajectory,
                (prob.path, output),
                force,
                option="--trajectory",
                suffixes=(".npz", ".csv"),
            )
        with _progress(quiet or as_json) as bar:
            ode = method is FlowMethod.ode
            report = bar or (
                (lambda done: status(f"flow: integrating the ODE, about {done:.0%}"))
                if ode
                else None
            )
            try:
                result = run_flow(
                    prob,
                    alpha=alpha_text,
                    depth=depth,
                    t_end=t_end,
                    limit_only=limit_only,
                    method=method.value,
                    trajectory=trajectory is not None,
                    time_limit=time_limit,
                    progress=report,
                    status=status,
                )
            except RunFailedError as exc:
                if as_json:
                    _to_stdout(dump_json(exc.document) + "\n")
                raise
        for note in result.notes:
            stderr.print(f"note: {escape(note)}", soft_wrap=True)
        if trajectory is not None and result.trajectory is not None:
            with _writing("--trajectory"):
                write_arrays(trajectory, result.trajectory, force=force)
        _emit(
            result.to_dict(),
            lambda: flow_renderable(result, show_all=show_all),
            as_json=as_json,
            output=output,
            force=force,
        )


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[float], None] | None]:
    if quiet or not stderr.is_terminal:
        yield None
        return
    from rich.progress import Progress

    with Progress(console=stderr, transient=True) as bar:
        task = bar.add_task("integrating the flow", total=1.0)
        yield lambda done: bar.update(task, completed=done)


# --------------------------------------------------------------------------- tie-break


def _parse_depths(texts: list[str] | None, *, allow_inf: bool) -> list[tuple[str, float]]:
    from dlncli.api import depth_labels

    try:
        return depth_labels(texts or [], allow_inf=allow_inf)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--depth'") from None


@app.command("tie-break", epilog=EPILOG)
def tie_break(
    problem: ProblemArg = None,
    depths: Annotated[
        list[str] | None,
        typer.Option(
            "--depth",
            help="Depth p >= 2 or 'inf' (repeatable). Default: 2, 2.5, 3, 4, inf.",
            show_default=False,
        ),
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Check against the flow's exact limit at small α.")
    ] = False,
    time_limit: TimeLimitOpt = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
    max_input_mb: MaxInputOpt = DEFAULT_MAX_INPUT_MB,
) -> None:
    """Which basis-pursuit minimizer the flow selects as α → 0, for each depth: the face of
    minimizers and x*_p (p = 2: max entropy; p > 2: max Σ|x|^(2/p); inf: max Σ log|x|)."""
    from dlncli.api import DEFAULT_TIEBREAK_DEPTHS

    parsed = _parse_depths(depths or list(DEFAULT_TIEBREAK_DEPTHS), allow_inf=True)
    from dlncli.api import tie_break as run_tie_break
    from dlncli.report import tiebreak_renderable

    with _handled(problem, as_json=as_json), _heartbeat("tie-break") as status:
        prob = _load(problem, max_input_mb)
        _check_output(output, (prob.path,), force)
        report = run_tie_break(
            prob,
            depths=[label for label, _ in parsed],
            verify=verify,
            time_limit=time_limit,
            status=status,
        )
        _emit(
            report.to_dict(),
            lambda: tiebreak_renderable(report),
            as_json=as_json,
            output=output,
            force=force,
        )


# --------------------------------------------------------------------------- compare

PLOT_SUFFIXES = (".png", ".pdf", ".svg")


class PlotLayout(str, Enum):
    problem = "problem"
    depth = "depth"


class AlphaAxis(str, Enum):
    decreasing = "decreasing"
    increasing = "increasing"


def _t_end_rule(text: str | None) -> Any:
    from dlncli.dln.compare import parse_t_end_rule

    if text is None:
        return None
    try:
        return parse_t_end_rule(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--t-end-rule'") from None


@app.command(epilog=EPILOG)
def compare(
    problems: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[PROBLEM]...",
            help="One or more problems (files or samples). Default: line.",
            show_default=False,
        ),
    ] = None,
    depths: Annotated[
        list[str] | None,
        typer.Option(
            "--depth", help="Depth p >= 2 (repeatable). Default: 2, 2.5, 3, 4.", show_default=False
        ),
    ] = None,
    alphas: Annotated[
        list[str] | None,
        typer.Option(
            "--alpha",
            help="α value (repeatable). Default grid: α^p = 1, 1e-1, …, 1e-9 for each depth.",
            show_default=False,
        ),
    ] = None,
    alpha_range: Annotated[
        tuple[str, str, str] | None,
        typer.Option(
            "--alpha-range",
            metavar="START STOP NUM",
            help="NUM log-spaced α values from START to STOP.",
            show_default=False,
        ),
    ] = None,
    alpha_p_range: Annotated[
        tuple[str, str, str] | None,
        typer.Option(
            "--alpha-p-range",
            metavar="START STOP NUM",
            help="NUM log-spaced values of α^p from START to STOP, for every depth.",
            show_default=False,
        ),
    ] = None,
    use_ode: Annotated[
        bool, typer.Option("--ode", help="Use the ODE end-points instead of the exact limits.")
    ] = False,
    t_end_rule: Annotated[
        str | None,
        typer.Option(
            "--t-end-rule",
            metavar="RULE",
            help="Integrate the ODE to the finite horizon t_end = RULE (in alpha and p, e.g. "
            "the paper's '1e9*alpha^(2-p)') instead of to convergence; rows also give the "
            "exact limit's error beside it.",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write the log-log figure to FILE (.png, .pdf, .svg).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    plot_by: Annotated[
        PlotLayout,
        typer.Option(
            "--plot-by",
            help="Panels of --plot: one per problem with a line per depth, or one per depth "
            "with a line per problem (the paper's figure 2).",
        ),
    ] = PlotLayout.problem,
    alpha_axis: Annotated[
        AlphaAxis,
        typer.Option("--alpha-axis", help="Direction of the α^p axis of --plot."),
    ] = AlphaAxis.decreasing,
    bw: Annotated[
        bool, typer.Option("--bw", help="Black-and-white line styles in --plot (for print).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    fail_above: Annotated[
        float | None,
        typer.Option(
            "--fail-above",
            parser=_nonnegative,
            help="Exit 3 if the error at the smallest α of any depth exceeds TOL.",
            metavar="TOL",
            show_default=False,
        ),
    ] = None,
    time_limit: TimeLimitOpt = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
    max_input_mb: MaxInputOpt = DEFAULT_MAX_INPUT_MB,
    compare_method: CompareMethodOpt = CompareMethod.limit,
    lrs: LrListOpt = None,
) -> None:
    """Compare the flow's limit with basis pursuit across α and depth: errors, the fitted rate
    beside theory's (slope 1 in α^p for p > 2, the dual margin γ for p = 2), a CI gate.
    With --method gd: GD's error to BP against the step size --lr at one α."""
    if compare_method is CompareMethod.gd or lrs:
        given = {
            "--alpha-range": alpha_range is not None,
            "--alpha-p-range": alpha_p_range is not None,
            "--ode": use_ode,
            "--t-end-rule": t_end_rule is not None,
            "--plot": plot is not None,
            "--fail-above": fail_above is not None,
        }
        _compare_gd(
            problems,
            depths,
            alphas,
            lrs,
            compare_method,
            [k for k, v in given.items() if v],
            as_json=as_json,
            output=output,
            force=force,
            max_input_mb=max_input_mb,
        )
        return
    from dlncli.api import DEFAULT_COMPARE_DEPTHS

    parsed = _parse_depths(depths or list(DEFAULT_COMPARE_DEPTHS), allow_inf=False)
    if sum(g is not None and g != [] for g in (alphas, alpha_range, alpha_p_range)) > 1:
        raise typer.BadParameter(
            "give one of --alpha, --alpha-range, --alpha-p-range", param_hint="'--alpha'"
        )
    grid = _alpha_grid(alphas, alpha_range)
    from dlncli.api import DEFAULT_LOG10_ALPHA_P

    grid_p = (
        _log_range(alpha_p_range, "--alpha-p-range")
        if alpha_p_range
        else list(DEFAULT_LOG10_ALPHA_P)
    )
    points = len(parsed) * len(grid if grid is not None else grid_p)
    if points > MAX_GRID_POINTS:
        raise typer.BadParameter(
            f"the grid has {len(parsed)} depth(s) x {points // len(parsed)} alpha values = "
            f"{points} points, each a limit solve; expected at most {MAX_GRID_POINTS}",
            param_hint="'--alpha-range' / '--alpha-p-range' / '--alpha' / '--depth'",
        )
    _t_end_rule(t_end_rule)
    from dlncli.api import compare as run_compare
    from dlncli.problem_io import write_figure
    from dlncli.report import compare_figure, compare_renderable

    sources = problems or [None]  # type: ignore[list-item]
    loaded = []
    for source in sources:
        with _handled(source, as_json=as_json):
            prob = _load(source, max_input_mb)
            _check_output(output, (prob.path,), force)
            _check_output(plot, (prob.path, output), force, option="--plot", suffixes=PLOT_SUFFIXES)
            loaded.append(prob)
    current = [0]

    def starting(index: int, prob: object) -> None:
        current[0] = index
        label = "default problem" if sources[index] is None else sources[index]
        status(f"compare: {label}")

    with (
        _handled(lambda: sources[current[0]], as_json=as_json),
        _heartbeat("compare") as status,
        _progress(quiet or as_json) as report,
    ):
        result = run_compare(
            loaded,
            depths=[label for label, _ in parsed],
            log10_alphas=grid,
            log10_alpha_p=grid_p,
            use_ode=use_ode,
            t_end_rule=t_end_rule,
            fail_above=fail_above,
            time_limit=time_limit,
            progress=report,
            on_problem=starting,
        )
    with _handled(None):
        if plot is not None:
            with _writing("--plot"):
                write_figure(
                    plot,
                    compare_figure(
                        result.problems,
                        by=plot_by.value,
                        increasing=alpha_axis is AlphaAxis.increasing,
                        bw=bw,
                    ),
                    force=force,
                )
        _emit(
            result.to_dict(),
            lambda: compare_renderable(result),
            as_json=as_json,
            output=output,
            force=force,
        )
    if result.failures:
        failures = result.failures
        stderr.print(
            f"check failed: {escape(failures[0])}"
            + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""),
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_CHECK_FAILED)


MAX_GRID_POINTS = 2000  # depths x alpha values per problem; each point is one limit solve


def _alpha_grid(
    alphas: list[str] | None, alpha_range: tuple[str, str, str] | None
) -> list[float] | None:
    """log10 alpha values shared by every depth, or None for the default per-depth grid."""
    if alphas:
        return [_parse_alpha(a)[1] / math.log(10) for a in alphas]
    if alpha_range:
        return _log_range(alpha_range, "--alpha-range")
    return None


def _log_range(spec: tuple[str, str, str], option: str) -> list[float]:
    """START STOP NUM -> NUM log10 values evenly spaced from log10 START to log10 STOP."""
    from dlncli.problem import INTEGER

    start, stop, num_text = spec
    if INTEGER.fullmatch(num_text) is None:
        raise typer.BadParameter(
            f"NUM is {num_text!r}; expected a plain decimal integer", param_hint=f"'{option}'"
        )
    num = int(num_text)
    if not 1 <= num <= MAX_GRID_POINTS:
        raise typer.BadParameter(
            f"NUM is {num}; expected 1 <= NUM <= {MAX_GRID_POINTS} (each value is a limit solve)",
            param_hint=f"'{option}'",
        )
    try:
        lo, hi = (_parse_alpha(v)[1] / math.log(10) for v in (start, stop))
    except typer.BadParameter as exc:
        raise typer.BadParameter(exc.message, param_hint=f"'{option}'") from None
    from dlncli.api import log10_range

    return log10_range(lo, hi, num)


# --------------------------------------------------------------------------- potentials

DEFAULT_POTENTIAL_DEPTHS = ["2", "2.5", "3", "4"]


def _split_list(texts: list[str] | None) -> list[str]:
    """Repeated options and comma-separated lists alike: ['2,3', '4'] -> ['2', '3', '4']."""
    return [part.strip() for text in texts or [] for part in text.split(",") if part.strip()]


def _parse_z(texts: list[str], depths: list[tuple[str, float]]) -> list[float]:
    values = []
    for text in texts:
        try:
            value = float(text)
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not a number", param_hint="'--z'") from None
        if not math.isfinite(value):
            raise typer.BadParameter(f"{text!r}; expected a finite number", param_hint="'--z'")
        if abs(value) >= 1 and any(p > 2 for _, p in depths):
            raise typer.BadParameter(
                f"{text!r}; expected -1 < z < 1 (h_p is defined there for p > 2)",
                param_hint="'--z'",
            )
        values.append(value)
    return values


@app.command(epilog=EPILOG)
def potentials(
    depths: Annotated[
        list[str] | None,
        typer.Option(
            "--depth",
            help="Depth p >= 2 (repeatable or comma-separated). Default: 2, 2.5, 3, 4.",
            show_default=False,
        ),
    ] = None,
    z_values: Annotated[
        list[str] | None,
        typer.Option(
            "--z",
            help="Points z for h_p (repeatable or comma-separated; -1 < z < 1 for p > 2). "
            "Default: 0, ±0.25, ±0.5, ±0.75, ±0.9, ±0.99.",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write the paper's figure 3 (h_p, q_p, g_p; black and white) to FILE "
            "(.png, .pdf, .svg).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
) -> None:
    """The functions behind the flow's limit and tie-break: h_p (x = α^p·h_p(z) along the
    flow), the potential q_p(w) = ∫₀^w h_p⁻¹ and the tie-break penalty g_p (p = 2: |x| log|x|;
    p > 2: −|x|^(2/p)), with q_p and g_p on the grid w = h_p(z). See docs/potentials.md."""
    parsed = _parse_depths(_split_list(depths) or DEFAULT_POTENTIAL_DEPTHS, allow_inf=False)
    from dlncli.dln.potentials import DEFAULT_Z, PLOT_W, PLOT_Z, evaluate_potentials

    grid = _parse_z(_split_list(z_values), parsed) if z_values else list(DEFAULT_Z)
    _check_output(output, (), force)
    _check_output(plot, (output,), force, option="--plot", suffixes=PLOT_SUFFIXES)
    from dlncli.problem_io import write_figure
    from dlncli.report import potentials_figure, potentials_renderable

    report = evaluate_potentials([p for _, p in parsed], z=grid)
    with _handled(None):
        if plot is not None:
            curves_h = evaluate_potentials([p for _, p in parsed], z=PLOT_Z)
            curves_w = evaluate_potentials([p for _, p in parsed], z=[0.0], w=PLOT_W)
            with _writing("--plot"):
                write_figure(plot, potentials_figure(curves_h, curves_w), force=force)
        _emit(
            report.to_dict(),
            lambda: potentials_renderable(report),
            as_json=as_json,
            output=output,
            force=force,
        )


# --------------------------------------------------------------------------- path


def _parse_small_alpha(text: str | None, option: str) -> tuple[str, float] | None:
    """An alpha < 1 as typed -> (text, ln alpha); the path is the alpha -> 0 limit."""
    if text is None:
        return None
    try:
        alpha_text, log_alpha = _parse_alpha(text)
    except typer.BadParameter as exc:
        raise typer.BadParameter(exc.message, param_hint=f"'{option}'") from None
    if log_alpha >= 0:
        raise typer.BadParameter(
            f"{text!r}; expected a number 0 < α < 1 (the path is the α → 0 limit)",
            param_hint=f"'{option}'",
        )
    return alpha_text, log_alpha


@app.command("path", epilog=EPILOG)
def path_command(
    problem: ProblemArg = None,
    depth: Annotated[
        float, typer.Option("--depth", help="Depth p >= 2 (real).", parser=_depth_value)
    ] = 2.0,
    alpha: Annotated[
        str | None,
        typer.Option(
            "--alpha",
            help="Also give each saddle's physical time t_k at this α < 1 (any decimal).",
            show_default=False,
        ),
    ] = None,
    check_alpha: Annotated[
        str | None,
        typer.Option(
            "--check-alpha",
            help="Integrate the flow at this α < 1 and report each jump's observed rescaled "
            "time and its deviation from τ_k.",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write the loss staircase and the coordinates against τ to FILE "
            "(.png, .pdf, .svg); with --check-alpha the ODE is drawn over it.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    no_bp: Annotated[
        bool,
        typer.Option(
            "--no-bp",
            help="Skip the solve-bp comparison (its LP dominates the time on large problems).",
        ),
    ] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="List every support coordinate in the table.")
    ] = False,
    time_limit: TimeLimitOpt = None,
    max_input_mb: MaxInputOpt = DEFAULT_MAX_INPUT_MB,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
) -> None:
    """The α → 0 limit of the flow as an exact saddle-to-saddle path: each saddle's rescaled
    time τ_k (τ = 2t/ln(1/α) for p = 2, p(p−2)α^(p−2)·t for p > 2), loss, the coordinates
    entering and leaving; the last saddle against solve-bp's minimizer."""
    timed = _parse_small_alpha(alpha, "--alpha")
    checked = _parse_small_alpha(check_alpha, "--check-alpha")
    from dlncli.api import path_arrays
    from dlncli.dln.path import path
    from dlncli.problem_io import write_arrays, write_figure
    from dlncli.report import path_figure, path_renderable

    with _handled(problem, as_json=as_json):
        prob = _load(problem, max_input_mb)
        _check_output(output, (prob.path,), force)
        _check_output(plot, (prob.path, output), force, option="--plot", suffixes=PLOT_SUFFIXES)
        result = path(
            prob.A,
            prob.y,
            depth=depth,
            log_alpha=None if timed is None else timed[1],
            check_log_alpha=None if checked is None else checked[1],
            compare_bp=not no_bp,
            time_limit=time_limit,
        )
        if plot is not None:
            with _writing("--plot"):
                write_figure(plot, path_figure(prob.name, result), force=force)
        if output is not None and output.suffix.lower() != ".json":
            with _writing("--output"):
                write_arrays(
                    output,
                    path_arrays(result),
                    force=force,
                )
            output = None
        _emit(
            result.to_dict(),
            lambda: path_renderable(prob, result, show_all=show_all),
            as_json=as_json,
            output=output,
            force=force,
        )


# --------------------------------------------------------------------------- phase


def _phase_list(text: str, option: str, *, geometric: bool = False) -> tuple[str, ...]:
    from dlncli.transition.sweep import parse_grid

    try:
        return parse_grid(text, geometric=geometric)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"'{option}'") from None


def _phase_floats(text: str, option: str) -> list[float]:
    return [float(v) for v in _phase_list(text, option)]


@contextmanager
def _phase_progress(quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich bar on a terminal, plain lines (about every 10 %) otherwise."""
    import time

    if quiet:
        yield None
        return
    if not stderr.is_terminal:
        start, shown = time.perf_counter(), [-1]

        def line(done: int, total: int) -> None:
            step = done * 10 // max(total, 1)
            if done and step > shown[0]:
                shown[0] = step
                elapsed = time.perf_counter() - start
                rate = done / elapsed if elapsed > 0 else 0.0
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


@app.command("phase", epilog=EPILOG)
def phase_command(
    n: Annotated[
        int | None,
        typer.Option("--n", min=1, help="N, the number of unknowns.", show_default=False),
    ] = None,
    delta: Annotated[
        str | None,
        typer.Option(
            "--delta",
            metavar="LIST",
            help="δ = m/N values: a,b,c or start:stop:count.",
            show_default=False,
        ),
    ] = None,
    rho: Annotated[
        str,
        typer.Option("--rho", metavar="LIST", help="ρ = k/m values (a,b,c or start:stop:count)."),
    ] = "0.1:0.9:9",
    trials: Annotated[int, typer.Option("--trials", min=1, help="Instances per cell.")] = 10,
    method: Annotated[
        str, typer.Option("--method", help="Comma-separated: bp, limit, gd (needs --lr LIST).")
    ] = "bp",
    depth: Annotated[
        str | None,
        typer.Option(
            "--depth",
            metavar="LIST",
            help="Depths p >= 2 for limit and gd. [default: 3]",
            show_default=False,
        ),
    ] = None,
    alpha: Annotated[
        str | None,
        typer.Option(
            "--alpha",
            metavar="LIST",
            help="α values for limit and gd; start:stop:count is log-spaced. [default: 1e-3]",
            show_default=False,
        ),
    ] = None,
    lr: Annotated[
        str | None,
        typer.Option(
            "--lr",
            metavar="LIST",
            help="GD step sizes η > 0 (method gd): a,b,c or start:stop:count.",
            show_default=False,
        ),
    ] = None,
    lr_relative: Annotated[
        bool,
        typer.Option(
            "--lr-relative",
            help="--lr values are fractions of each instance's stability bound "
            "η_max = 2/λ_max(∇²L) at the start (p = 2: GD leaves u, v > 0 from 0.5 on).",
        ),
    ] = False,
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps",
            metavar="K",
            help="GD's step budget (method gd). [default: 100000]",
            show_default=False,
        ),
    ] = None,
    loss_tol: Annotated[
        float | None,
        typer.Option(
            "--loss-tol",
            metavar="TOL",
            help="GD has converged when loss ≤ TOL·½‖y‖² (method gd). [default: 1e-28]",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed S of the ensemble.")] = 0,
    success_tol: Annotated[
        float,
        typer.Option("--success-tol", help="Success when ‖x̂ − x‖∞ ≤ TOL·‖x‖∞.", metavar="TOL"),
    ] = 1e-6,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Local worker processes. [default: all cores]",
            show_default=False,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help="Run on an existing Dask scheduler, e.g. tcp://host:8786.",
            show_default=False,
        ),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            help="SQLite file receiving each trial as it finishes.",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Reuse the trials already in --store.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write the phase diagram to FILE (.png, .pdf, .svg).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    plot_kind: Annotated[
        str | None,
        typer.Option(
            "--plot-kind",
            metavar="KIND",
            help="heatmap: one (δ, ρ) panel per method; curves: success rate against ρ, one "
            "panel per δ, all methods, and GD's η·λ_max at the end. [default: heatmap]",
            show_default=False,
        ),
    ] = None,
    theory: Annotated[
        bool, typer.Option("--theory", help="Only print the asymptotic threshold ρ_W(δ).")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    as_json: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Recovery phase diagrams (Donoho–Tanner): over random Gaussian problems with k-sparse ±1
    x, how often BP, the DLN limit and GD recover x, per (δ = m/N, ρ = k/m) cell, beside the
    asymptotic weak threshold ρ_W(δ). Runs on all local cores, or on a Dask cluster."""
    if delta is None:
        raise typer.BadParameter("missing; expected a list like 0.25,0.5", param_hint="'--delta'")
    deltas = _phase_floats(delta, "--delta")
    if theory:
        from dlncli.report import theory_renderable
        from dlncli.transition.theory import weak_threshold_table

        if any(not 0 < d <= 1 for d in deltas):
            raise typer.BadParameter(
                f"{delta!r}; expected values in (0, 1]", param_hint="'--delta'"
            )
        table = weak_threshold_table(deltas)
        _emit(table.to_dict(), lambda: theory_renderable(table), as_json=as_json, output=None)
        return
    if n is None:
        raise typer.BadParameter("missing; expected the number of unknowns N", param_hint="'--n'")
    rhos = _phase_floats(rho, "--rho")
    from dlncli.transition.sweep import METHODS, cell_grid, variants_for

    names = [t.strip() for t in method.split(",") if t.strip()]
    for name in names:
        if name not in METHODS:
            raise typer.BadParameter(
                f"{name!r}; expected a comma-separated list of {', '.join(METHODS)}",
                param_hint="'--method'",
            )
        if METHODS[name].solve is None:
            raise typer.BadParameter(METHODS[name].unavailable, param_hint="'--method'")
    if not names or len(set(names)) != len(names):
        raise typer.BadParameter(
            f"{method!r}; expected distinct method names", param_hint="'--method'"
        )
    used = {p for name in names for p in METHODS[name].params}
    for option, value, param in (("--depth", depth, "depth"), ("--alpha", alpha, "alpha")):
        if value is not None and param not in used:
            takers = " or ".join(k for k, s in METHODS.items() if param in s.params)
            raise typer.BadParameter(
                f"applies to --method {takers} only; got --method {method}",
                param_hint=f"'{option}'",
            )
    for option, given in (
        ("--lr", lr is not None),
        ("--lr-relative", lr_relative),
        ("--max-steps", max_steps is not None),
        ("--loss-tol", loss_tol is not None),
    ):
        if given and "lr" not in used:
            raise typer.BadParameter(
                f"applies to --method gd only; got --method {method}", param_hint=f"'{option}'"
            )
    lrs = _phase_floats(lr, "--lr") if lr is not None else None
    if lr_relative and lrs is None:
        raise typer.BadParameter(
            "needs --lr LIST, the fractions of the stability bound", param_hint="'--lr-relative'"
        )
    if max_steps is not None and max_steps < 1:
        raise typer.BadParameter(
            f"{max_steps}; expected a whole number >= 1", param_hint="'--max-steps'"
        )
    if loss_tol is not None and not (math.isfinite(loss_tol) and loss_tol > 0):
        raise typer.BadParameter(f"{loss_tol}; expected a number > 0", param_hint="'--loss-tol'")
    if plot_kind not in (None, "heatmap", "curves"):
        raise typer.BadParameter(
            f"{plot_kind!r}; expected heatmap or curves", param_hint="'--plot-kind'"
        )
    if plot_kind is not None and plot is None:
        raise typer.BadParameter("needs --plot FILE", param_hint="'--plot-kind'")
    from dlncli.transition.sweep import log_alpha_of

    depths = _phase_floats(depth or "3", "--depth")
    for p in depths:
        if not math.isfinite(p) or p < 2:
            raise typer.BadParameter(f"{p:g}; expected a real number >= 2", param_hint="'--depth'")
    alphas = _phase_list(alpha or "1e-3", "--alpha", geometric=True)
    for a in alphas:
        try:
            log_alpha_of(a)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--alpha'") from None
    if not math.isfinite(success_tol) or success_tol <= 0:
        raise typer.BadParameter(
            f"{success_tol}; expected a number > 0", param_hint="'--success-tol'"
        )
    if scheduler is not None and workers is not None:
        raise typer.BadParameter(
            "give --workers or --scheduler, not both", param_hint="'--workers'"
        )
    if resume and store is None:
        raise typer.BadParameter("needs --store FILE to resume from", param_hint="'--resume'")
    try:
        cell_grid(n, deltas, rhos)
        variants = variants_for(
            names, depths=depths, alphas=alphas, lr=lrs, lr_relative=lr_relative
        )
    except ValueError as exc:
        _fail(f"Invalid value for {exc}", EXIT_USAGE)
    _check_output(plot, (store,), force, option="--plot", suffixes=PLOT_SUFFIXES)
    from dlncli.problem_io import write_figure
    from dlncli.report import phase_curves_figure, phase_figure, phase_renderable
    from dlncli.reports import GD_LOSS_TOL, GD_MAX_STEPS
    from dlncli.transition.sweep import phase as run_phase

    try:
        with _phase_progress(quiet) as progress:
            report = run_phase(
                n=n,
                deltas=deltas,
                rhos=rhos,
                trials=trials,
                variants=variants,
                seed=seed,
                success_tol=success_tol,
                max_steps=GD_MAX_STEPS if max_steps is None else max_steps,
                loss_tol=GD_LOSS_TOL if loss_tol is None else loss_tol,
                workers=workers,
                scheduler=scheduler,
                store=store,
                resume=resume,
                progress=progress,
            )
        if plot is not None:
            draw = phase_curves_figure if plot_kind == "curves" else phase_figure
            write_figure(plot, draw(report))
    except DlnError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        kept = (
            f"finished trials are kept in {store}; rerun with --resume"
            if store is not None
            else "no --store was given, so the results are lost"
        )
        _fail(f"interrupted; {kept}", EXIT_INTERRUPTED)
    _emit(report.to_dict(), lambda: phase_renderable(report), as_json=as_json, output=None)


# --------------------------------------------------------------------------- train

EXIT_DIVERGED = 5
TRAIN_EPILOG = EPILOG.replace("4 time limit hit", "4 time limit hit · 5 training diverged")


def _flow_from_init(
    problem: str | None,
    init: Path,
    depth: float,
    alpha: str,
    ode_options: tuple[float | None, bool, Any, Path | None],
    time_limit: float | None,
    *,
    show_all: bool,
    as_json: bool,
    output: Path | None,
    force: bool,
    max_input_mb: float,
) -> None:
    """flow --init: the exact limit from a per-coordinate start (docs/train.md)."""
    t_end, _, method, trajectory = ode_options
    if t_end is not None or trajectory is not None or method is not FlowMethod.ode:
        _fail(
            "Invalid value for '--init': the ODE runs from u = v = α only; drop --t-end, "
            "--trajectory and --method with --init (the exact limit is computed)",
            EXIT_USAGE,
        )
    if alpha != "1e-6":
        stderr.print("note: --alpha is ignored with --init (the start is per coordinate)")
    from dlncli.api import flow_from_start
    from dlncli.problem_io import load_start
    from dlncli.report import flow_renderable

    with _handled(problem, as_json=as_json):
        prob = _load(problem, max_input_mb)
        _check_output(output, (prob.path, init), force)
        log_u0, log_v0 = load_start(init, prob.A.shape[1], max_bytes=_max_bytes(max_input_mb))
        report = flow_from_start(
            prob, log_u0=log_u0, log_v0=log_v0, depth=depth, init=str(init), time_limit=time_limit
        )
        _emit(
            report.to_dict(),
            lambda: flow_renderable(report, show_all=show_all),
            as_json=as_json,
            output=output,
            force=force,
        )


def _positive_int(text: str | float) -> int:
    value = _strict_number(text)
    if value != int(value) or value < 1:
        raise typer.BadParameter(f"{text!r}; expected a whole number >= 1")
    return int(value)


@app.command("train", epilog=TRAIN_EPILOG)
def train_command(
    problem: ProblemArg = None,
    lr: Annotated[
        float,
        typer.Option("--lr", parser=_positive, help="Step size η > 0.", show_default=False),
    ] = math.nan,
    alpha: Annotated[
        str, typer.Option("--alpha", help="Initialization scale α > 0, any decimal (1e-30 ok).")
    ] = "1e-3",
    depth: Annotated[
        float, typer.Option("--depth", help="Depth p >= 2 (real).", parser=_depth_value)
    ] = 2.0,
    batch: Annotated[
        int | None,
        typer.Option(
            "--batch",
            parser=_positive_int,
            help="SGD: B rows per step, drawn without replacement (gradient scaled by m/B). "
            "Default: full-batch GD.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the SGD row draws.")] = 0,
    max_steps: Annotated[
        int, typer.Option("--max-steps", min=0, help="Stop after K steps.", metavar="K")
    ] = 100_000,
    tol: Annotated[
        float,
        typer.Option(
            "--tol",
            parser=_positive,
            help="Converged when loss <= TOL·½‖y‖² (machine-precision interpolation).",
            metavar="TOL",
        ),
    ] = 1e-28,
    trajectory: Annotated[
        Path | None,
        typer.Option(
            "--trajectory",
            help="Save the loss curve (step, loss) to FILE (.npz or .csv).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Show every coordinate.")] = False,
    time_limit: TimeLimitOpt = None,
    max_input_mb: MaxInputOpt = DEFAULT_MAX_INPUT_MB,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
) -> None:
    """Train the DLN with gradient descent (or SGD with --batch) at step size η from u = v = α,
    until machine-precision interpolation, and explain the result exactly: the flow limit from
    GD's effective per-coordinate initialisation (predicted_x) equals GD's x."""
    if not math.isfinite(lr):
        raise typer.BadParameter("missing; expected a step size η > 0", param_hint="'--lr'")
    alpha_text, log_alpha = _parse_alpha(alpha)
    from dlncli.dln.train import train
    from dlncli.problem_io import same_file, write_arrays
    from dlncli.report import train_renderable

    if trajectory is not None and output is not None and same_file(trajectory, output):
        _fail(
            f"Invalid value for '--trajectory': {trajectory}: is also the --output file; "
            "expected two different files",
            EXIT_USAGE,
        )
    with _handled(problem, as_json=as_json):
        prob = _load(problem, max_input_mb)
        _check_output(output, (prob.path,), force)
        _check_output(
            trajectory, (prob.path, output), force, option="--trajectory", suffixes=(".npz", ".csv")
        )
        m = prob.A.shape[0]
        if batch is not None and batch > m:
            _fail(
                f"Invalid value for '--batch': {batch}; expected at most m = {m} rows", EXIT_USAGE
            )
        result = train(
            prob.A,
            prob.y,
            depth=depth,
            log_alpha=log_alpha,
            lr=lr,
            batch=batch,
            seed=seed,
            max_steps=max_steps,
            tol=tol,
            time_limit=time_limit,
        )
        if trajectory is not None:
            with _writing("--trajectory"):
                write_arrays(trajectory, result.trajectory_arrays(), force=force)
        record = {"problem": prob.name, "alpha_text": alpha_text, **result.to_dict()}
        _emit(
            record,
            lambda: train_renderable(prob, result, alpha_text, show_all=show_all),
            as_json=as_json,
            output=output,
            force=force,
        )
    if result.diverged:
        _fail(f"{prob.name}: {result.message}", EXIT_DIVERGED)


def _compare_gd(
    problems: list[str] | None,
    depths: list[str] | None,
    alphas: list[str] | None,
    lrs: list[str] | None,
    method: Any,
    refused: list[str],
    *,
    as_json: bool,
    output: Path | None,
    force: bool,
    max_input_mb: float,
) -> None:
    """compare --method gd: GD's distance to BP against the step size, at one α per depth."""
    if method is not CompareMethod.gd:
        _fail("Invalid value for '--lr': applies to --method gd only", EXIT_USAGE)
    if refused:
        _fail(
            f"Invalid value for '--method': gd takes --lr, --alpha and --depth; drop "
            f"{', '.join(refused)}",
            EXIT_USAGE,
        )
    if not lrs:
        _fail("Invalid value for '--lr': missing; expected one or more step sizes η > 0", 2)
    steps = [_positive(text) for text in _split_list(lrs)]
    if alphas is not None and len(alphas) > 1:
        _fail(f"Invalid value for '--alpha': {alphas}; --method gd takes one α", EXIT_USAGE)
    alpha_text, log_alpha = _parse_alpha(alphas[0] if alphas else "1e-3")
    parsed = _parse_depths(depths or ["2"], allow_inf=False)
    from dlncli.dln.train import sweep_step_sizes
    from dlncli.report import compare_gd_renderable

    records: list[dict[str, Any]] = []
    for source in problems or [None]:  # type: ignore[list-item]
        with _handled(source, as_json=as_json):
            prob = _load(source, max_input_mb)
            _check_output(output, (prob.path,), force)
            for _, depth in parsed:
                sweep = sweep_step_sizes(
                    prob.A, prob.y, depth=depth, log_alpha=log_alpha, lrs=steps
                )
                problem_info = {"name": prob.name, "m": prob.A.shape[0], "n": prob.A.shape[1]}
                records.append(
                    {"problem": problem_info, "alpha_text": alpha_text, **sweep.to_dict()}
                )
    document = {"status": "ok", "method": "gd", "alpha_text": alpha_text, "records": records}
    _emit(
        document,
        lambda: compare_gd_renderable(records),
        as_json=as_json,
        output=output,
        force=force,
    )
