"""Command-line interface: options in, one core call, a report out. No numerics here.

Exit codes: 0 success; 1 bad or infeasible problem (one line on stderr); 2 usage error;
3 a requested check failed (``compare --fail-above``); 4 a ``--time-limit`` was hit;
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import numpy as np
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
    from dlncli.problem_io import DEFAULT_PROBLEM

    label = {None: DEFAULT_PROBLEM, "-": "<stdin>"}.get(source, source)
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


# --------------------------------------------------------------------------- flow


def _parse_alpha(text: str) -> tuple[str, float]:
    """An alpha as typed -> (text, ln alpha), exactly, for values far outside float range."""
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise typer.BadParameter(
            f"{text!r} is not a number; expected e.g. 1e-6", param_hint="'--alpha'"
        ) from None
    if not value.is_finite() or value <= 0:
        raise typer.BadParameter(f"{text!r}; expected a finite number > 0", param_hint="'--alpha'")
    return text.strip(), float(value.ln())


def _finite_depth(value: float) -> float:
    if not math.isfinite(value) or value < 2:
        raise typer.BadParameter(f"{value}; expected a real number >= 2")
    return value


def _log10_time(value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0:
        raise typer.BadParameter(f"{value}; expected a time > 0", param_hint="'--t-end'")
    return math.log10(value)


@app.command(epilog=EPILOG)
def flow(
    problem: ProblemArg = None,
    alpha: Annotated[
        str, typer.Option("--alpha", help="Initialization scale α > 0, any decimal (1e-1000 ok).")
    ] = "1e-6",
    depth: Annotated[
        float, typer.Option("--depth", help="Depth p >= 2 (real).", callback=_finite_depth)
    ] = 3.0,
    t_end: Annotated[
        float | None,
        typer.Option(
            "--t-end", help="Integrate to this time instead of to convergence.", show_default=False
        ),
    ] = None,
    limit_only: Annotated[
        bool, typer.Option("--limit-only", help="Skip the ODE; compute only the exact limit.")
    ] = False,
    trajectory: Annotated[
        Path | None,
        typer.Option(
            "--trajectory",
            help="Save t, x(t), loss(t) to FILE (.npz or .csv).",
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
) -> None:
    """Run the DLN gradient flow x = u^p − v^p from u = v = α: the ODE trajectory and its
    exact limit x_α (from the dual characterization), with their agreement."""
    alpha_text, log_alpha = _parse_alpha(alpha)
    log10_t_end = _log10_time(t_end)
    from dlncli.problem_io import load_problem

    with _handled(problem):
        prob = load_problem(problem)
        _check_output(output, (prob.path,), force)
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
        record = _run_flow(
            prob,
            depth,
            alpha_text,
            log_alpha,
            log10_t_end,
            limit_only,
            trajectory,
            time_limit,
            quiet=quiet or as_json,
        )
        from dlncli.report import flow_record, flow_renderable

        full = flow_record(prob, record)
        _emit(
            full,
            lambda: flow_renderable(prob, full, show_all=show_all),
            as_json=as_json,
            output=output,
        )


def _run_flow(
    prob: Any,
    depth: float,
    alpha_text: str,
    log_alpha: float,
    log10_t_end: float | None,
    limit_only: bool,
    trajectory: Path | None,
    time_limit: float | None,
    *,
    quiet: bool,
) -> dict[str, Any]:
    import time

    from dlncli.errors import SolverError
    from dlncli.flow import integrate_flow
    from dlncli.limit import LN10, bp_anchor, flow_limit, normalize
    from dlncli.problem_io import write_arrays

    start = time.perf_counter()
    anchor = bp_anchor(prob.A, prob.y, time_limit=time_limit)
    remaining = None if time_limit is None else max(time_limit - (time.perf_counter() - start), 0)
    limit = flow_limit(
        prob.A, prob.y, depth=depth, log_alpha=log_alpha, anchor=anchor, time_limit=remaining
    )
    x = limit.x
    method, source, converged = "limit", "exact limit", limit.converged
    log10_t_end_out: float | None = None
    agreement: float | None = None
    message = limit.message
    changes: list[dict[str, Any]] = []
    # The ODE's coordinates are built on the BP face: not usable when the check contradicted
    # the face, nor when alpha^p is beyond the range where the face coordinates are formed.
    skip_ode = limit.route == "min-l2" or not limit.face_correction <= 1e-9
    if not limit_only and skip_ode:
        why = (
            "alpha^p is beyond the range of the ODE's coordinates"
            if limit.route == "min-l2"
            else "its coordinates rely on the BP face, and the face route "
            + ("did not converge" if math.isnan(limit.face_correction) else "was contradicted")
        )
        message = "; ".join(m for m in (message, f"the ODE is not run ({why})") if m)
        if trajectory is not None or log10_t_end is not None:
            raise SolverError(
                f"--trajectory/--t-end need the ODE, which cannot run here: {message}"
            )
        stderr.print(f"note: {escape(message)}", soft_wrap=True)
    elif not limit_only:
        with _progress(quiet) as report:
            run = integrate_flow(
                prob.A,
                prob.y,
                depth=depth,
                log_alpha=log_alpha,
                anchor=anchor,
                log10_t_end=log10_t_end,
                time_limit=time_limit,
                progress=report,
            )
        message = "; ".join(m for m in (limit.message, run.message) if m)
        if run.reachable:
            method = "ode"
            log10_t_end_out = run.log10_t_end
            changes = [
                {"log10_t": c.log10_t, "support": list(c.support), "loss": c.loss}
                for c in run.support_changes
            ]
            scale = 1.0 + float(np.max(np.abs(limit.x)))
            if log10_t_end is not None:
                x, source, converged = run.x, "ODE state at t_end", run.converged
            else:
                converged = run.converged
                agreement = float(np.max(np.abs(run.x - limit.x))) / scale
            if trajectory is not None:
                finite = np.isfinite(run.log10_t)
                t = np.where(finite, 10.0 ** np.minimum(run.log10_t, 300.0), 0.0)
                write_arrays(
                    trajectory,
                    {
                        "t": t,
                        "log10_t": np.where(finite, run.log10_t, -np.inf),
                        "loss": run.losses,
                        "x": run.xs,
                    },
                )
        else:
            stderr.print(f"note: {escape(message)}", soft_wrap=True)
    bp = anchor.bp
    if bp.unique:
        reference, point = "bp", bp.x
    else:
        from dlncli.tiebreak import select_minimizer

        reference = "tie-break"
        A_n, y_n = normalize(prob.A, prob.y, anchor.scale_exp)
        point = select_minimizer(A_n, y_n, bp, [depth]).selections[0].x
    distance = float(np.max(np.abs(x - point)))
    with np.errstate(over="ignore", under="ignore"):  # data near the ends of float range
        residual = prob.A @ x - prob.y
        loss = 0.5 * float(residual @ residual)
    return {
        "x": x,
        "x_source": source,
        "alpha": math.exp(log_alpha) if -745 < log_alpha < 709 else None,
        "alpha_text": alpha_text,
        "log10_alpha": log_alpha / LN10,
        "log10_alpha_p": depth * log_alpha / LN10,
        "depth": depth,
        "loss": loss if math.isfinite(loss) else None,
        "residual_inf": float(np.max(np.abs(residual))),
        "l1_norm": float(np.sum(np.abs(x))),
        "converged": converged,
        "method": method,
        "t_end": None
        if log10_t_end_out is None or log10_t_end_out > 300
        else 10.0**log10_t_end_out,
        "log10_t_end": log10_t_end_out,
        "limit_agreement": agreement,
        "reference": reference,
        "distance_to_reference": distance,
        "bp_unique": bp.unique,
        "certified": limit.certified,
        "limit_route": limit.route,
        "certificate_step": None if math.isnan(limit.check_step) else limit.check_step,
        "certificate_precision": limit.check_precision or None,
        "face_correction": None if math.isnan(limit.face_correction) else limit.face_correction,
        "newton_iterations": limit.newton_iterations,
        "support_changes": changes,
        "message": message,
        "elapsed_s": time.perf_counter() - start,
    }


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

DEFAULT_TIEBREAK_DEPTHS = ["2", "2.5", "3", "4", "inf"]


def _parse_depths(texts: list[str] | None, *, allow_inf: bool) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for text in texts or []:
        try:
            value = float(text)
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not a number", param_hint="'--depth'") from None
        if math.isnan(value) or value < 2 or (math.isinf(value) and not allow_inf):
            expected = "a real number >= 2 or inf" if allow_inf else "a finite real number >= 2"
            raise typer.BadParameter(f"{text!r}; expected {expected}", param_hint="'--depth'")
        if any(v == value for _, v in out):
            raise typer.BadParameter(f"{text!r} is given twice", param_hint="'--depth'")
        out.append((text, value))
    return out


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
) -> None:
    """Which basis-pursuit minimizer the flow selects as α → 0, for each depth: the face of
    minimizers and x*_p (p = 2: max entropy; p > 2: max Σ|x|^(2/p); inf: max Σ log|x|)."""
    parsed = _parse_depths(depths or DEFAULT_TIEBREAK_DEPTHS, allow_inf=True)
    from dlncli.lp import solve_basis_pursuit
    from dlncli.problem_io import load_problem
    from dlncli.report import tiebreak_renderable
    from dlncli.tiebreak import select_minimizer

    with _handled(problem):
        prob = load_problem(problem)
        _check_output(output, (prob.path,), force)
        bp = solve_basis_pursuit(prob.A, prob.y, time_limit=time_limit, ranges=True)
        result = select_minimizer(prob.A, prob.y, bp, [v for _, v in parsed])
        selected = {label: sel.x for (label, _), sel in zip(parsed, result.selections, strict=True)}
        distances = {
            a: {b: float(np.max(np.abs(selected[a] - selected[b]))) for b in selected}
            for a in selected
        }
        record: dict[str, Any] = {
            "status": "ok",
            "message": "unique minimizer: every depth selects it"
            if result.unique
            else f"{result.face_dimension}-dimensional face; one point per depth",
            "problem": {"name": prob.name, "m": prob.shape[0], "n": prob.shape[1]},
            "unique": result.unique,
            "face_dimension": result.face_dimension,
            "l1_norm": result.l1_norm,
            "support": result.support,
            "signs": result.signs,
            "ranges": bp.face.ranges,
            "selected": selected,
            "distances": distances,
            "newton_iterations": {
                label: sel.iterations
                for (label, _), sel in zip(parsed, result.selections, strict=True)
            },
            "elapsed_s": result.elapsed_s + bp.elapsed_s,
            "notes": [],
        }
        if verify:
            record["verify"] = _verify_tiebreak(prob, bp, parsed, selected, record["notes"])
        _emit(record, lambda: tiebreak_renderable(prob, record), as_json=as_json, output=output)


VERIFY_LOG10_ALPHA_P = (-2.0, -4.0, -8.0, -16.0)


def _verify_tiebreak(
    prob: Any,
    bp: Any,
    parsed: list[tuple[str, float]],
    selected: dict[str, Any],
    notes: list[str],
) -> dict[str, list[dict[str, float]]]:
    from dlncli.limit import LN10, bp_anchor, flow_limit

    anchor = bp_anchor(prob.A, prob.y, bp=bp)  # reuse the BP solve of the command
    out: dict[str, list[dict[str, float]]] = {}
    for label, depth in parsed:
        if math.isinf(depth):
            notes.append("--verify skips depth inf: there is no flow at infinite depth")
            continue
        rows = []
        for level in VERIFY_LOG10_ALPHA_P:
            limit = flow_limit(
                prob.A, prob.y, depth=depth, log_alpha=level / depth * LN10, anchor=anchor
            )
            rows.append(
                {
                    "log10_alpha_p": level,
                    "log10_alpha": level / depth,
                    "distance": float(np.max(np.abs(limit.x - selected[label]))),
                }
            )
        out[label] = rows
    return out


# --------------------------------------------------------------------------- compare

DEFAULT_COMPARE_DEPTHS = ["2", "2.5", "3", "4"]
PLOT_SUFFIXES = (".png", ".pdf", ".svg")
DEFAULT_LOG10_ALPHA_P = tuple(float(-k) for k in range(10))  # alpha^p = 1, 1e-1, ..., 1e-9


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
        tuple[str, str, int] | None,
        typer.Option(
            "--alpha-range",
            metavar="START STOP NUM",
            help="NUM log-spaced α values from START to STOP.",
            show_default=False,
        ),
    ] = None,
    alpha_p_range: Annotated[
        tuple[str, str, int] | None,
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
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write the log-log figure to FILE (.png, .pdf, .svg).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    fail_above: Annotated[
        float | None,
        typer.Option(
            "--fail-above",
            min=0.0,
            help="Exit 3 if the error at the smallest α of any depth exceeds TOL.",
            metavar="TOL",
            show_default=False,
        ),
    ] = None,
    time_limit: TimeLimitOpt = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
) -> None:
    """Compare the flow's limit with basis pursuit across α and depth: errors, the fitted rate
    beside theory's (slope 1 in α^p for p > 2, the dual margin γ for p = 2), a CI gate."""
    parsed = _parse_depths(depths or DEFAULT_COMPARE_DEPTHS, allow_inf=False)
    if sum(g is not None and g != [] for g in (alphas, alpha_range, alpha_p_range)) > 1:
        raise typer.BadParameter(
            "give one of --alpha, --alpha-range, --alpha-p-range", param_hint="'--alpha'"
        )
    grid = _alpha_grid(alphas, alpha_range)
    grid_p = (
        _log_range(alpha_p_range, "--alpha-p-range")
        if alpha_p_range
        else list(DEFAULT_LOG10_ALPHA_P)
    )
    from dlncli.compare import compare_flow_to_bp
    from dlncli.problem_io import load_problem, write_figure
    from dlncli.report import compare_figure, compare_record, compare_renderable

    sources = problems or [None]  # type: ignore[list-item]
    records: list[dict[str, Any]] = []
    for source in sources:
        with _handled(source):
            prob = load_problem(source)
            _check_output(output, (prob.path,), force)
            _check_output(plot, (prob.path, output), force, option="--plot", suffixes=PLOT_SUFFIXES)
            result = compare_flow_to_bp(
                prob.A,
                prob.y,
                depths=[v for _, v in parsed],
                log10_alphas=lambda p: grid if grid is not None else [lp / p for lp in grid_p],
                use_ode=use_ode,
                time_limit=time_limit,
            )
            records.append(compare_record(prob, result))
    failures = _gate(records, fail_above)
    single = len(records) == 1
    document: dict[str, Any] = {
        "status": "ok" if not failures else "failed",
        "message": "; ".join(failures) if failures else "all checks passed",
        "method": "ode" if use_ode else "limit",
        "reference": records[0]["reference"]
        if single
        else {r["problem"]["name"]: r["reference"] for r in records},
        "dual_margin": records[0]["dual_margin"]
        if single
        else {r["problem"]["name"]: r["dual_margin"] for r in records},
        "rows": [row for r in records for row in r["rows"]],
        "fits": [fit for r in records for fit in r["fits"]],
        "problems": [{k: v for k, v in r.items() if k not in ("rows", "fits")} for r in records],
        "fail_above": fail_above,
    }
    with _handled(None):
        if plot is not None:
            write_figure(plot, compare_figure(records))
        _emit(document, lambda: compare_renderable(records), as_json=as_json, output=output)
    if failures:
        stderr.print(
            f"check failed: {escape(failures[0])}"
            + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""),
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_CHECK_FAILED)


def _alpha_grid(
    alphas: list[str] | None, alpha_range: tuple[str, str, int] | None
) -> list[float] | None:
    """log10 alpha values shared by every depth, or None for the default per-depth grid."""
    if alphas:
        return [_parse_alpha(a)[1] / math.log(10) for a in alphas]
    if alpha_range:
        return _log_range(alpha_range, "--alpha-range")
    return None


def _log_range(spec: tuple[str, str, int], option: str) -> list[float]:
    """START STOP NUM -> NUM log10 values evenly spaced from log10 START to log10 STOP."""
    start, stop, num = spec
    if num < 1:
        raise typer.BadParameter(f"NUM is {num}; expected >= 1", param_hint=f"'{option}'")
    try:
        lo, hi = (_parse_alpha(v)[1] / math.log(10) for v in (start, stop))
    except typer.BadParameter as exc:
        raise typer.BadParameter(exc.message, param_hint=f"'{option}'") from None
    return [float(v) for v in np.linspace(lo, hi, num)]


def _gate(records: list[dict[str, Any]], tol: float | None) -> list[str]:
    """The --fail-above check: the error at the smallest alpha of each depth."""
    if tol is None:
        return []
    failures = []
    for rec in records:
        for depth in sorted({r["depth"] for r in rec["rows"]}):
            last = min(
                (r for r in rec["rows"] if r["depth"] == depth), key=lambda r: r["log10_alpha"]
            )
            if last["error_l2"] > tol:
                failures.append(
                    f"{rec['problem']['name']}: p = {depth:g}: error {last['error_l2']:.3g} at "
                    f"alpha = 1e{last['log10_alpha']:.4g} exceeds --fail-above {tol:g}"
                )
    return failures
