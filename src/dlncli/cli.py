"""Command-line interface: options in, one core call, a report out. No numerics here.

Exit codes: 0 success; 1 bad or infeasible problem (one line on stderr); 2 usage error;
3 a requested check failed (``compare --fail-above``); 4 a ``--time-limit`` was hit;
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console, RenderableType
from rich.markup import escape

from dlncli import __version__
from dlncli.errors import DlnError, InfeasibleError, ProblemFormatError, TimeLimitError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CHECK_FAILED = 3
EXIT_TIME_LIMIT = 4
EXIT_INTERRUPTED = 130

EPILOG = (
    "Exit codes: 0 ok · 1 bad or infeasible problem · 2 usage error · "
    "3 requested check failed · 4 time limit hit · 130 interrupted."
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
        help="A .npz/.csv/.mat file, '-' for stdin, or a sample name (see 'dlncli samples'). "
        "Default: line.",
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
TimeLimitOpt = Annotated[
    float | None,
    typer.Option("--time-limit", min=0.0, help="Seconds; exit 4 when hit.", show_default=False),
]


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


def _fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    stderr.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def _handled(source: str | None) -> Iterator[None]:
    """The one place that turns DlnError / Ctrl-C into a message and an exit code."""
    label = {None: "line", "-": "<stdin>"}.get(source, source)
    try:
        yield
    except TimeLimitError as exc:
        _fail(f"{label}: {exc}", EXIT_TIME_LIMIT)
    except ProblemFormatError as exc:  # already names the file or sample
        _fail(str(exc))
    except DlnError as exc:
        _fail(f"{label}: {exc}")
    except KeyboardInterrupt:
        _fail("interrupted; no output file was written", EXIT_INTERRUPTED)


def _check_output(output: Path | None, inputs: tuple[Path | None, ...], force: bool) -> None:
    from dlncli.problem_io import check_output_path

    if output is None:
        return
    why = check_output_path(output, inputs=inputs, force=force)
    if why is not None:
        _fail(f"Invalid value for '--output': {output}: {why}", EXIT_USAGE)


def _emit(
    record: Mapping[str, Any],
    renderable: Callable[[], RenderableType],
    *,
    as_json: bool,
    output: Path | None,
) -> None:
    from dlncli.problem_io import write_record
    from dlncli.report import dump_json, jsonable

    if output is not None:
        write_record(output, jsonable(record))
    if as_json:
        sys.stdout.write(dump_json(record) + "\n")
        sys.stdout.flush()
    else:
        Console(highlight=False, emoji=False).print(renderable())


# --------------------------------------------------------------------------- commands


@app.command()
def samples(as_json: JsonOpt = False) -> None:
    """List the built-in sample problems (usable wherever a PROBLEM is expected)."""
    from dlncli.problem_io import DEFAULT_PROBLEM, sample_descriptions
    from dlncli.report import samples_renderable

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
        Solver, typer.Option("--solver", help="HiGHS LP solver for the main solve.")
    ] = Solver.choose,
    ranges: Annotated[
        bool, typer.Option("--ranges", help="Also give each face coordinate's [min, max].")
    ] = False,
    show_all: Annotated[bool, typer.Option("--all", help="Show every coordinate.")] = False,
    time_limit: TimeLimitOpt = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
) -> None:
    """Solve basis pursuit (min ‖x‖₁ s.t. Ax = y) with HiGHS; certify uniqueness or describe
    the face of minimizers."""
    from dlncli.lp import solve_basis_pursuit
    from dlncli.problem_io import load_problem
    from dlncli.report import bp_record, bp_renderable, dump_json

    with _handled(problem):
        prob = load_problem(problem)
        _check_output(output, (prob.path,), force)
        try:
            sol = solve_basis_pursuit(
                prob.A, prob.y, solver=solver.value, time_limit=time_limit, ranges=ranges
            )
        except InfeasibleError as exc:
            if as_json:
                sys.stdout.write(dump_json({"status": "infeasible", "message": str(exc)}) + "\n")
            raise
        _emit(
            bp_record(prob, sol),
            lambda: bp_renderable(prob, sol, show_all=show_all),
            as_json=as_json,
            output=output,
        )
