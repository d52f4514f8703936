"""The dlncli commands: options in, one API call, one report rendered. No numerics here.

Every command body parses its options, calls one function of :mod:`dlncli` (the API) and
hands the report to :mod:`dlncli.cli.terminal`, which prints it (a table from
:mod:`dlncli.cli.render` or the report's JSON document), writes the output files and maps
every error to its one-line message and exit code (listed in the epilog).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

import dlncli
from dlncli.cli import render, terminal
from dlncli.cli.options import (
    DEFAULT_MAX_INPUT_MB,
    DEFAULT_NOISY_PROBLEM,
    AlphaAxis,
    CompareMethod,
    CompareMethodOpt,
    EarlyPlotOpt,
    FlowMethod,
    ForceOpt,
    HoldoutOpt,
    InitOpt,
    JsonOpt,
    LrListOpt,
    MaxInputOpt,
    NoisyProblemArg,
    OutputOpt,
    PlotLayout,
    ProblemArg,
    Solver,
    TimeLimitOpt,
    _nonnegative,
    _positive,
    _positive_int,
    _strict_number,
)

EPILOG = (
    "Exit codes: 0 ok · 1 bad or infeasible problem · 2 usage error · "
    "3 requested check failed · 4 time limit hit · 5 training diverged · 130 interrupted · "
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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dlncli {dlncli.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", metavar="", callback=_version, is_eager=True, help="Show version."
        ),
    ] = False,
) -> None:
    """Diagonal linear networks vs basis pursuit."""
    terminal.occupy_closed_std_fds()


def _split_list(texts: list[str] | None) -> list[str]:
    """Repeated options and comma-separated lists alike: ['2,3', '4'] -> ['2', '3', '4']."""
    return [part.strip() for text in texts or [] for part in text.split(",") if part.strip()]


@app.command(help="List the built-in sample problems (usable wherever a PROBLEM is expected).")
def samples(as_json: JsonOpt = False) -> None:
    report = dlncli.sample_list()
    terminal.emit(report, lambda: render.samples_renderable(report), as_json=as_json)


@app.command(
    "solve-bp",
    help=(
        "Solve basis pursuit (min ‖x‖₁ s.t. Ax = y), certify uniqueness or describe the "
        "face of minimizers."
    ),
    epilog=EPILOG,
)
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
        bool,
        typer.Option("--ranges", metavar="", help="Also give each face coordinate's \\[min, max]."),
    ] = False,
    show_all: Annotated[
        bool, typer.Option("--all", metavar="", help="Show every coordinate.")
    ] = False,
    time_limit: TimeLimitOpt = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
    max_input_mb: MaxInputOpt = DEFAULT_MAX_INPUT_MB,
) -> None:
    with terminal.handled(problem, as_json=as_json):
        prob = terminal.load(problem, max_input_mb)
        terminal.check_output(output, (prob.path,), force)
        with terminal.heartbeat("solve-bp: solving basis pursuit"):
            report = dlncli.solve_bp(
                prob, solver=solver.value, ranges=ranges, time_limit=time_limit
            )
        terminal.emit(
            report, lambda: render.bp_renderable(report, show_all=show_all),
            as_json=as_json, output=output, force=force,
        )  # fmt: skip


@app.command(
    help=(
        "Run the DLN gradient flow x = u^p − v^p from u = v = α: the ODE and its exact, "
        "certified limit."
    ),
    epilog=EPILOG,
)
def flow(
    problem: ProblemArg = None,
    alpha: Annotated[
        str | None,
        typer.Option(
            "--alpha",
            help="Initialization scale α > 0, any decimal (1e-1000 ok). [default: 1e-6]",
            show_default=False,
        ),
    ] = None,
    depth: Annotated[
        float, typer.Option("--depth", help="Depth p >= 2 (real).", parser=_strict_number)
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
        bool,
        typer.Option(
            "--limit-only", metavar="", help="Skip the ODE; compute only the exact limit."
        ),
    ] = False,
    method: Annotated[
        FlowMethod,
        typer.Option(
            "--method",
            help="ode: the exact m-dimensional reduction (default); raw / raw-lsoda: the paper "
            "authors' (u, v) integration, for checks (docs/cli.md).",
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
    show_all: Annotated[
        bool, typer.Option("--all", metavar="", help="Show every coordinate.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", metavar="", help="No progress bar.")
    ] = False,
    time_limit: TimeLimitOpt = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
    max_input_mb: MaxInputOpt = DEFAULT_MAX_INPUT_MB,
    init: InitOpt = None,
    holdout: HoldoutOpt = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the --holdout rows.")] = 0,
    plot: EarlyPlotOpt = None,
) -> None:
    with terminal.handled(problem, as_json=as_json), terminal.heartbeat("flow", quiet=quiet) as say:
        prob = terminal.load(problem, max_input_mb)
        terminal.check_outputs(
            (prob.path, init), force, output=output, trajectory=trajectory, plot=plot
        )
        with terminal.flow_progress(quiet or as_json, say) as progress:
            report = dlncli.flow(
                prob, alpha=alpha, depth=depth, t_end=t_end, limit_only=limit_only,
                method=method.value, trajectory=trajectory is not None or plot is not None,
                init=init, max_bytes=terminal.max_bytes(max_input_mb), holdout=holdout,
                seed=seed, time_limit=time_limit, progress=progress, status=say,
            )  # fmt: skip
        terminal.notes(report.notes)
        terminal.save_arrays(trajectory, "--trajectory", report.trajectory or {}, force=force)
        terminal.save_figure(plot, lambda: render.draw("flow_curves_figure", report), force=force)
        terminal.emit(
            report, lambda: render.flow_renderable(report, show_all=show_all),
            as_json=as_json, output=output, force=force,
        )  # fmt: skip


@app.command(
    "tie-break",
    help="Show which basis-pursuit minimizer the flow selects as α → 0, for each depth.",
    epilog=EPILOG,
)
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
        bool,
        typer.Option(
            "--verify", metavar="", help="Check against the flow's exact limit at small α."
        ),
    ] = False,
    time_limit: TimeLimitOpt = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
    max_input_mb: MaxInputOpt = DEFAULT_MAX_INPUT_MB,
) -> None:
    with terminal.handled(problem, as_json=as_json), terminal.heartbeat("tie-break") as say:
        prob = terminal.load(problem, max_input_mb)
        terminal.check_output(output, (prob.path,), force)
        report = dlncli.tie_break(
            prob, depths=depths or None, verify=verify,
            time_limit=time_limit, status=say,
        )  # fmt: skip
        terminal.emit(
            report, lambda: render.tiebreak_renderable(report),
            as_json=as_json, output=output, force=force,
        )  # fmt: skip


@app.command(
    help=(
        "Compare the flow's limit with basis pursuit across α and depth: errors, fitted "
        "rates, a CI gate."
    ),
    epilog=EPILOG,
)
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
        bool,
        typer.Option(
            "--ode", metavar="", help="Use the ODE end-points instead of the exact limits."
        ),
    ] = False,
    t_end_rule: Annotated[
        str | None,
        typer.Option(
            "--t-end-rule",
            metavar="RULE",
            help="Integrate the ODE to the horizon t_end = RULE in alpha and p (e.g. "
            "'1e9*alpha^(2-p)') instead of to convergence.",
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
        bool,
        typer.Option("--bw", metavar="", help="Black-and-white line styles in --plot (for print)."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", metavar="", help="No progress bar.")
    ] = False,
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
    if plot is not None and compare_method is CompareMethod.gd:
        terminal.fail("Invalid value for '--method': gd takes no --plot; drop --plot", 2)
    running = terminal.Running([*problems] if problems else [None])
    with terminal.handled(running.current, as_json=as_json):
        loaded = [terminal.load(source, max_input_mb) for source in running.sources]
        terminal.check_outputs(tuple(p.path for p in loaded), force, output=output, plot=plot)
        with (
            terminal.heartbeat("compare") as say,
            terminal.flow_progress(quiet or as_json, say) as bar,
        ):
            report = dlncli.compare(
                loaded, depths=depths or None, alphas=alphas,
                alpha_range=alpha_range, alpha_p_range=alpha_p_range, use_ode=use_ode,
                t_end_rule=t_end_rule, fail_above=fail_above, method=compare_method.value,
                lrs=_split_list(lrs) or None, time_limit=time_limit, progress=bar,
                on_problem=running.starting(say),
            )  # fmt: skip
        how = {"by": plot_by.value, "increasing": alpha_axis is AlphaAxis.increasing, "bw": bw}
        terminal.save_figure(
            plot, lambda: render.draw("compare_figure", report, **how), force=force
        )
        terminal.emit(
            report, lambda: render.compare_any(report), as_json=as_json, output=output, force=force
        )
    terminal.check_failed(getattr(report, "failures", []))


@app.command(
    help="Tabulate h_p, q_p and g_p, the functions behind the flow's limit and tie-break.",
    epilog=EPILOG,
)
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
    terminal.check_outputs((), force, output=output, plot=plot)
    with terminal.handled("", as_json=as_json):
        report = dlncli.potentials(
            _split_list(depths) or None,
            z=None if z_values is None else _split_list(z_values), figure=plot is not None,
        )  # fmt: skip
        terminal.save_figure(plot, lambda: render.draw("potentials_figure", report), force=force)
        terminal.emit(
            report, lambda: render.potentials_renderable(report),
            as_json=as_json, output=output, force=force,
        )  # fmt: skip


@app.command(
    "path",
    help="Trace the α → 0 limit of the flow as an exact saddle-to-saddle path with its jump times.",
    epilog=EPILOG,
)
def path_command(
    problem: ProblemArg = None,
    depth: Annotated[
        float, typer.Option("--depth", help="Depth p >= 2 (real).", parser=_strict_number)
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
            metavar="",
            help="Skip the solve-bp comparison (its LP dominates the time on large problems).",
        ),
    ] = False,
    show_all: Annotated[
        bool, typer.Option("--all", metavar="", help="List every support coordinate in the table.")
    ] = False,
    time_limit: TimeLimitOpt = None,
    max_input_mb: MaxInputOpt = DEFAULT_MAX_INPUT_MB,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
) -> None:
    with terminal.handled(problem, as_json=as_json):
        prob = terminal.load(problem, max_input_mb)
        terminal.check_outputs((prob.path,), force, output=output, plot=plot)
        report = dlncli.path(
            prob, depth=depth, alpha=alpha, check_alpha=check_alpha, compare_bp=not no_bp,
            time_limit=time_limit,
        )  # fmt: skip
        terminal.save_figure(plot, lambda: render.draw("path_figure", report), force=force)
        terminal.emit(
            report, lambda: render.path_renderable(report, show_all=show_all),
            as_json=as_json, output=output, force=force, arrays=report.arrays(),
        )  # fmt: skip


@app.command(
    "phase",
    help=(
        "Draw recovery phase diagrams (Donoho–Tanner) for BP, the DLN limit and GD on "
        "Gaussian ensembles."
    ),
    epilog=EPILOG,
)
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
        str, typer.Option("--method", help="Comma-separated: bp, limit, gd (--lr), lasso-cv, bpdn.")
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
            metavar="",
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
    noise: Annotated[
        str | None,
        typer.Option(
            "--noise",
            metavar="SIGMA",
            help="y = Ax + σz, z ~ N(0, I): each cell also gets the mean ‖x̂ − x‖²/(Nσ²) beside "
            "the lasso's minimax M*(δ, ρ), also in --plot. [default: 0]",
            show_default=False,
        ),
    ] = None,
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
        bool, typer.Option("--resume", metavar="", help="Reuse the trials already in --store.")
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
        bool,
        typer.Option("--theory", metavar="", help="Only print ρ_W(δ) (with --noise: M*(δ, ρ))."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", metavar="", help="No progress output.")
    ] = False,
    as_json: JsonOpt = False,
    force: Annotated[
        bool, typer.Option("--force", metavar="", help="Allow --plot to replace a file.")
    ] = False,
    max_input_mb: MaxInputOpt = DEFAULT_MAX_INPUT_MB,
) -> None:
    if plot_kind not in (None, "heatmap", "curves"):
        terminal.fail(
            f"Invalid value for '--plot-kind': {plot_kind!r}; expected heatmap or curves", 2
        )
    if plot_kind is not None and plot is None:
        terminal.fail("Invalid value for '--plot-kind': needs --plot FILE", 2)
    with terminal.handled("", as_json=as_json, kept=terminal.phase_kept(store)):
        if theory:
            table = dlncli.theory(delta, rhos=rho, noise=noise)
            terminal.emit(table, lambda: render.theory_renderable(table), as_json=as_json)
            return
        terminal.check_outputs((store,), force, plot=plot)
        with terminal.phase_progress(quiet) as progress:
            report = dlncli.phase(
                n=n, deltas=delta, rhos=rho, trials=trials, methods=method, depths=depth,
                alphas=alpha, lrs=lr, lr_relative=lr_relative, max_steps=max_steps,
                loss_tol=loss_tol, seed=seed, success_tol=success_tol, workers=workers,
                scheduler=scheduler, store=store, resume=resume,
                max_bytes=terminal.max_bytes(max_input_mb), progress=progress, noise=noise,
            )  # fmt: skip
        kind = "phase_curves_figure" if plot_kind == "curves" else "phase_figure"
        if report.noise:
            kind = kind.replace("phase_", "phase_noise_")
        terminal.save_figure(plot, lambda: render.draw(kind, report), force=force)
        terminal.emit(report, lambda: render.phase_renderable(report), as_json=as_json)


@app.command(
    "train",
    help=(
        "Train the DLN with GD or SGD and explain its result exactly by the flow limit "
        "from GD's effective start."
    ),
    epilog=EPILOG,
)
def train_command(
    problem: ProblemArg = None,
    lr: Annotated[
        float,
        typer.Option(
            "--lr",
            parser=_positive,
            help="Step size η > 0; one above the stability bound 2/λ_max diverges at once.",
            show_default=False,
        ),
    ] = ...,  # type: ignore[assignment]  # Typer: a required option
    alpha: Annotated[
        str, typer.Option("--alpha", help="Initialization scale α > 0, any decimal (1e-30 ok).")
    ] = "1e-3",
    depth: Annotated[
        float, typer.Option("--depth", help="Depth p >= 2 (real).", parser=_strict_number)
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
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Seed of the SGD row draws and --holdout rows.")
    ] = 0,
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
    show_all: Annotated[
        bool, typer.Option("--all", metavar="", help="Show every coordinate.")
    ] = False,
    time_limit: TimeLimitOpt = None,
    max_input_mb: MaxInputOpt = DEFAULT_MAX_INPUT_MB,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
    holdout: HoldoutOpt = None,
    plot: EarlyPlotOpt = None,
) -> None:
    with terminal.handled(problem, as_json=as_json):
        prob = terminal.load(problem, max_input_mb)
        terminal.check_outputs((prob.path,), force, output=output, trajectory=trajectory, plot=plot)
        report = dlncli.train(
            prob, lr=lr, alpha=alpha, depth=depth, batch=batch, seed=seed,
            max_steps=max_steps, tol=tol, holdout=holdout, time_limit=time_limit,
        )  # fmt: skip
        terminal.save_arrays(trajectory, "--trajectory", report.trajectory_arrays(), force=force)
        terminal.save_figure(plot, lambda: render.draw("train_curves_figure", report), force=force)
        terminal.emit(
            report, lambda: render.train_renderable(report, show_all=show_all),
            as_json=as_json, output=output, force=force,
        )  # fmt: skip
    if report.diverged:
        terminal.fail(f"{prob.name}: {report.message}", terminal.EXIT_DIVERGED)


@app.command(
    help="Recover x_true from noisy y: early-stopped DLNs against the lasso (cross-validated λ), "
    "BPDN and the least-squares oracle.",
    epilog=EPILOG,
)
def recover(
    problem: NoisyProblemArg = DEFAULT_NOISY_PROBLEM,
    depths: Annotated[
        list[str] | None,
        typer.Option(
            "--depth", help="DLN depth p >= 2 (repeatable). Default: 2, 3, 4.", show_default=False
        ),
    ] = None,
    alpha: Annotated[
        str | None,
        typer.Option(
            "--alpha", help="The DLN's start α > 0 (default: α^p = 1e-6).", show_default=False
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            "--lr",
            parser=_strict_number,
            help="Train by GD with this constant step instead of the gradient flow.",
            show_default=False,
        ),
    ] = None,
    max_steps: Annotated[
        int, typer.Option("--max-steps", min=1, metavar="K", help="Each DLN run's step budget.")
    ] = 100_000,
    holdout: Annotated[
        float,
        typer.Option(
            "--holdout",
            parser=_strict_number,
            metavar="FRACTION",
            help="Rows held out for the hold-out stop.",
        ),
    ] = 0.2,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Seed of the held-out rows and the CV folds.")
    ] = 0,
    folds: Annotated[
        int, typer.Option("--folds", metavar="K", help="Folds of the lasso's cross-validation.")
    ] = 5,
    sigma: Annotated[
        float | None,
        typer.Option(
            "--sigma",
            parser=_strict_number,
            help="Noise level for BPDN (default: the problem's).",
            show_default=False,
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            parser=_strict_number,
            help="|x_i| above it is selected (default: half the smallest nonzero |x_true_i|).",
            show_default=False,
        ),
    ] = None,
    plot: EarlyPlotOpt = None,
    time_limit: TimeLimitOpt = None,
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    force: ForceOpt = False,
    max_input_mb: MaxInputOpt = DEFAULT_MAX_INPUT_MB,
) -> None:
    with terminal.handled(problem, as_json=as_json), terminal.heartbeat("recover"):
        prob = terminal.load(problem, max_input_mb)
        terminal.check_outputs((prob.path,), force, output=output, plot=plot)
        report = dlncli.recover(
            prob, depths=depths or None, alpha=alpha, lr=lr, max_steps=max_steps,
            holdout=holdout, seed=seed, folds=folds, sigma=sigma, threshold=threshold,
            time_limit=time_limit,
        )  # fmt: skip
        terminal.notes(report.notes)
        terminal.save_figure(plot, lambda: render.draw("recover_figure", report), force=force)
        terminal.emit(
            report, lambda: render.recover_renderable(report),
            as_json=as_json, output=output, force=force,
        )  # fmt: skip
