"""Pure builders: JSON records (plain dicts) and rich renderables. No printing here."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:  # annotations only: a command's --help must not import numpy
    from dlncli.reports import (
        BPReport,
        CompareGdReport,
        CompareReport,
        EarlyStop,
        FlowReport,
        NoiseTheoryReport,
        PathReport,
        PhaseReport,
        PotentialsReport,
        ProblemInfo,
        RecoverReport,
        SamplesReport,
        TheoryReport,
        TieBreakReport,
        TrainReport,
    )


def fmt(value: float | None, digits: int = 6) -> str:
    """Compact number formatting for tables."""
    if value is None or not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e6:
        return f"{value:.{digits}g}"
    return f"{value:.{max(digits - 2, 2)}e}"


# --------------------------------------------------------------------------- solve-bp


def bp_renderable(report: BPReport, *, show_all: bool) -> RenderableType:
    """The summary and the coordinates of a :class:`dlncli.reports.BPReport`."""
    sol = report.solution
    m, n = report.problem.m, report.problem.n
    summary = Table(
        title=f"basis pursuit: {escape(report.problem.name)} ({m}×{n})", show_header=False
    )
    summary.add_column(style="bold")
    summary.add_column()
    if sol.unique is None:
        verdict = f"undecided (candidate face of dimension {sol.face.dimension})"
    elif sol.unique:
        verdict = "unique"
    else:
        verdict = f"not unique: face of dimension {sol.face.dimension}"
    how = sol.certification if sol.unique is None else f"certified by {sol.certification}"
    for key, value in (
        ("status", sol.status),
        ("minimizer", verdict),
        ("verdict", how),
        ("route", sol.route),
        ("dual margin", fmt(sol.margin)),
        ("‖x‖₁", fmt(sol.l1_norm, 10)),
        ("‖Ax − y‖∞", fmt(sol.residual_inf)),
        ("‖Aᵀλ‖∞", fmt(sol.dual_inf_norm, 10)),
        ("duality gap", fmt(sol.duality_gap)),
        ("support of x", f"{sol.support.size} coordinates"),
        ("LP solves", str(sol.lp_solves)),
        ("time", f"{sol.elapsed_s:.3f} s"),
    ):
        summary.add_row(key, value)
    coords = Table(title="x (nonzero coordinates)" if not show_all else "x")
    coords.add_column("i", justify="right")
    coords.add_column("x_i", justify="right")
    coords.add_column("aᵢᵀλ", justify="right")
    ranged = sol.face.ranges is not None
    face_index = {int(i): k for k, i in enumerate(sol.face.support)}
    coords.add_column("on face")
    if ranged:
        coords.add_column("min over face", justify="right")
        coords.add_column("max over face", justify="right")
    correlations = report.correlations
    rows = range(n) if show_all else sorted(set(sol.support.tolist()) | set(face_index))
    for i in rows:
        cells = [str(i), fmt(float(sol.x[i]), 8), fmt(float(correlations[i]), 8)]
        cells.append("yes" if i in face_index else "")
        if ranged and sol.face.ranges is not None:
            if i in face_index:
                lo, hi = sol.face.ranges[face_index[i]]
                cells += [fmt(float(lo), 8), fmt(float(hi), 8)]
            else:
                cells += ["0", "0"]
        coords.add_row(*cells)
    notes = [f"[dim]{escape(note)}[/dim]" for note in sol.route_notes]
    return Group(summary, coords, *notes)


def samples_renderable(report: SamplesReport) -> RenderableType:
    table = Table(title="built-in sample problems")
    table.add_column("name")
    table.add_column("what it is")
    for name, text in report.descriptions.items():
        label = f"{name} (default)" if name == report.default else name
        table.add_row(escape(label), escape(text))
    return table


def early_stop_rows(stop: EarlyStop | None) -> list[tuple[str, str]]:
    """The early-stopping lines of a flow or train table (none without x_true or --holdout)."""
    if stop is None:
        return []
    unit = stop.time_unit
    rows = []
    if stop.oracle_time is not None:
        rows += [
            (f"oracle stop ({unit})", fmt(stop.oracle_time)),
            ("‖x − x_true‖₂ there", fmt(stop.oracle_error)),
            (f"window ±10 % ({unit})", f"{fmt(stop.window_lo)} – {fmt(stop.window_hi)}"),
            ("window ratio", fmt(stop.window_ratio)),
        ]
    if stop.holdout_time is not None:
        share = f"{len(stop.holdout_rows)} rows"
        rows += [(f"hold-out stop ({unit}; {share})", fmt(stop.holdout_time))]
        if stop.holdout_error is not None:
            rows += [("‖x − x_true‖₂ there", fmt(stop.holdout_error))]
    return rows


def key_value_table(title: str, rows: Sequence[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    return table


# --------------------------------------------------------------------------- flow


def flow_renderable(report: FlowReport, *, show_all: bool) -> RenderableType:
    """The summary, the coordinates and the saddle-to-saddle table of a flow run."""
    m, n = report.problem.m, report.problem.n
    x = report.x
    rows = [
        ("α", report.alpha_text),
        ("α^p", f"1e{report.log10_alpha_p:.6g}"),
        ("depth p", fmt(report.depth)),
        ("method", f"{report.method} (x is the {report.x_source})"),
        ("converged", "yes" if report.converged else "no"),
        ("limit certified", "yes" if report.certified else "no"),
        ("t_end", "—" if report.log10_t_end is None else f"1e{report.log10_t_end:.6g}"),
        ("loss ½‖Ax − y‖²", "—" if report.loss is None else fmt(report.loss)),
        ("‖x‖₁", fmt(report.l1_norm, 10)),
        ("‖Ax − y‖∞", fmt(report.residual_inf)),
        (
            "ODE vs exact limit",
            fmt(report.limit_agreement) if report.limit_agreement is not None else "—",
        ),
        (f"distance to {report.reference}", fmt(report.distance_to_reference)),
        ("time", f"{report.elapsed_s:.3f} s"),
    ]
    rows += early_stop_rows(report.early_stop)
    summary = key_value_table(f"DLN flow: {escape(report.problem.name)} ({m}×{n})", rows)
    scale = max((abs(float(v)) for v in x), default=0.0)
    shown = range(n) if show_all else [i for i in range(n) if abs(x[i]) >= 1e-6 * scale]
    coords = Table(title="x" if show_all else "x (|x_i| ≥ 1e-6·‖x‖∞)")
    coords.add_column("i", justify="right")
    coords.add_column("x_i", justify="right")
    for i in shown:
        coords.add_row(str(i), f"{x[i]:.12g}")
    hidden = n - len(shown)
    parts: list[RenderableType] = [summary, coords]
    if hidden:
        parts.append(f"[dim]{hidden} smaller coordinates hidden; --all shows them[/dim]")
    if report.support_changes:
        saddle = Table(title="saddle-to-saddle: active set (|x_i| ≥ 1% of ‖x_end‖∞) over time")
        saddle.add_column("t", justify="right")
        saddle.add_column("loss", justify="right")
        saddle.add_column("active coordinates")
        for change in report.support_changes:
            saddle.add_row(
                f"1e{change.log10_t:.4g}",
                fmt(change.loss),
                ", ".join(map(str, change.support)) or "none",
            )
        parts.append(saddle)
    if report.message:
        parts.append(f"[dim]{escape(report.message)}[/dim]")
    return Group(*parts)


# --------------------------------------------------------------------------- tie-break


def tiebreak_renderable(report: TieBreakReport) -> RenderableType:
    """The face, each depth's selected point, their distances and --verify's checks."""
    m, n = report.problem.m, report.problem.n
    support = [int(i) for i in report.support]
    labels = list(report.labels)
    head = key_value_table(
        f"tie-break: {escape(report.problem.name)} ({m}×{n})",
        [
            (
                "BP minimizer",
                "unique (every depth selects it)"
                if report.unique
                else f"not unique: face of dimension {report.face_dimension}",
            ),
            ("‖x‖₁ on the face", fmt(report.l1_norm, 10)),
            ("coordinates nonzero on the face", str(len(support))),
            ("time", f"{report.elapsed_s:.3f} s"),
        ],
    )
    table = Table(title="selected point x*_p on the face's coordinates")
    table.add_column("i", justify="right")
    table.add_column("sign", justify="center")
    table.add_column("range on face", justify="right")
    for label in labels:
        table.add_column(f"p = {escape(label)}", justify="right")
    ranges = report.ranges
    for k, i in enumerate(support):
        cells = [str(i), "+" if report.signs[k] > 0 else "−"]
        cells.append(
            escape(f"[{fmt(float(ranges[k][0]), 4)}, {fmt(float(ranges[k][1]), 4)}]")
            if ranges is not None
            else ""
        )
        cells += [f"{report.selected[label][i]:.6g}" for label in labels]
        table.add_row(*cells)
    parts: list[RenderableType] = [head, table]
    if len(labels) > 1:
        dist = Table(title="pairwise distances ‖x*_p − x*_q‖∞")
        dist.add_column("")
        for label in labels:
            dist.add_column(escape(label), justify="right")
        for a in labels:
            dist.add_row(escape(a), *[fmt(report.distances[a][b], 4) for b in labels])
        parts.append(dist)
    if report.verify:
        vt = Table(title="--verify: ‖x_α − x*_p‖∞ for the flow's exact limit")
        vt.add_column("p")
        vt.add_column("α^p", justify="right")
        vt.add_column("distance", justify="right")
        for label, checks in report.verify.items():
            for row in checks:
                vt.add_row(escape(label), f"1e{row.log10_alpha_p:.4g}", fmt(row.distance, 3))
        parts.append(vt)
    for note in report.notes:
        parts.append(f"[dim]{escape(note)}[/dim]")
    return Group(*parts)


# --------------------------------------------------------------------------- compare


def compare_renderable(report: CompareReport) -> RenderableType:
    """Per problem: the reference and margin, the error table, the fitted rates."""
    parts: list[RenderableType] = []
    for rec in report.problems:
        prob = rec.problem
        parts.append(
            key_value_table(
                f"flow vs basis pursuit: {escape(prob.name)} ({prob.m}×{prob.n})",
                [
                    (
                        "reference x*",
                        "BP minimizer (unique)"
                        if rec.reference == "bp"
                        else "tie-break point of each depth (BP not unique)",
                    ),
                    ("dual margin γ", fmt(rec.dual_margin, 4)),
                    ("min ‖x‖₁", fmt(rec.l1_min, 10)),
                    ("time", f"{rec.elapsed_s:.2f} s"),
                ],
            )
        )
        rule = rec.t_end_rule
        if rule is None:
            rows = Table(title="errors of x_α (exact limit unless --ode)")
            columns = ["p", "α", "α^p", "‖x_α − x*‖₂", "‖x_α − x*‖∞", "‖x_α‖₁ − min", "‖Ax − y‖∞"]
        else:
            rows = Table(title=f"errors of x(t_end), t_end = {escape(rule)}; the limit beside")
            columns = ["p", "α", "α^p", "t_end", "‖x(t_end) − x*‖₂", "‖Ax − y‖∞"]
            columns += ["t → ∞: ‖x_α − x*‖₂"]
        for col in columns:
            rows.add_column(col, justify="right")
        for r in rec.rows:
            cells = [fmt(r.depth), f"1e{r.log10_alpha:.4g}", f"1e{r.log10_alpha_p:.4g}"]
            if rule is not None:
                cells.append("—" if r.log10_t_end is None else f"1e{r.log10_t_end:.4g}")
            if rule is None:
                cells += [fmt(r.error_l2, 3), fmt(r.error_inf, 3), fmt(r.l1_gap, 3)]
                cells.append(fmt(r.residual_inf, 2))
            else:
                cells += [fmt(r.error_l2, 3), fmt(r.residual_inf, 2)]
                cells.append(fmt(r.limit_error_l2, 3))
            rows.add_row(*cells)
        parts.append(rows)
        fits = Table(title="rate: log-log slope of the error vs α^p (asymptotic points)")
        for col in ("p", "fitted slope", "theory", "agrees", "points"):
            fits.add_column(col, justify="right")
        for f in rec.fits:
            fits.add_row(
                fmt(f.depth),
                "—" if f.slope is None else f"{f.slope:.3f}",
                f"{f.predicted_slope:.3f}",
                "yes" if f.agrees else "NO",
                str(f.points),
            )
        parts.append(fits)
    return Group(*parts)


# --------------------------------------------------------------------------- potentials


def potentials_renderable(report: PotentialsReport) -> RenderableType:
    """A table per depth: z, w = h_p(z), q_p(w), g_p(w)."""
    parts: list[RenderableType] = []
    for curve in report.curves:
        table = Table(title=f"p = {fmt(curve.depth)}: x = α^p·h_p(z); q_p, g_p at w = h_p(z)")
        for col in ("z", "w = h_p(z)", "q_p(w)", "g_p(w)"):
            table.add_column(col, justify="right")
        for z, w, qv, gv in zip(curve.z, curve.w, curve.q, curve.g, strict=True):
            table.add_row(fmt(float(z), 10), fmt(float(w), 10), fmt(float(qv), 10), fmt(gv, 10))
        parts.append(table)
    parts.append(
        "[dim]q_p(w) = ∫₀^w h_p⁻¹(s) ds; g_p = |x| log|x| (p = 2), −|x|^(2/p) (p > 2). "
        "docs/potentials.md[/dim]"
    )
    return Group(*parts)


# --------------------------------------------------------------------------- path


def _index_list(indices: Sequence[int], limit: int | None = 12) -> str:
    if limit is not None and len(indices) > limit:
        return ", ".join(map(str, indices[:limit])) + f", … ({len(indices)})"
    return ", ".join(map(str, indices)) or "—"


def _shape(problem: ProblemInfo | None, n: int) -> tuple[str, int | str, int]:
    """A report's problem name and shape for a title ("?" rows when it was not recorded)."""
    if problem is None:
        return "arrays", "?", n
    return problem.name, problem.m, problem.n


def path_renderable(report: PathReport, *, show_all: bool) -> RenderableType:
    """The saddle table of a :class:`dlncli.reports.PathReport` and its summary."""
    name, m, n = _shape(report.problem, report.x.size)
    timed = report.log10_alpha is not None
    check = report.check
    table = Table(title=f"α → 0 saddle-to-saddle path: {escape(name)} ({m}×{n})")
    table.add_column("k", justify="right", no_wrap=True)
    table.add_column("τ_k", justify="right", no_wrap=True)
    if timed:
        table.add_column("t_k", justify="right", no_wrap=True)
    table.add_column("loss", justify="right", no_wrap=True)
    table.add_column("entered")
    leaving = any(saddle.left for saddle in report.saddles)
    if leaving:
        table.add_column("left")
    table.add_column("support")
    if check is not None:
        table.add_column("ODE τ", justify="right", no_wrap=True)
        table.add_column("Δτ", justify="right", no_wrap=True)
    limit = None if show_all else 12
    for k, saddle in enumerate(report.saddles):
        cells = [str(k), fmt(saddle.tau)]
        if timed:
            if saddle.log10_t is None:
                cells.append("0")
            elif saddle.t is not None:
                cells.append(fmt(saddle.t, 4))
            else:
                cells.append(f"1e{saddle.log10_t:.5g}")
        mark = " (face)" if saddle.face_dimension else ""
        cells += [fmt(saddle.loss, 4), _index_list(saddle.entered, limit)]
        if leaving:
            cells.append(_index_list(saddle.left, limit))
        cells.append(_index_list(saddle.support, limit) + mark)
        if check is not None:
            observed = saddle.observed_tau
            cells.append("—" if observed is None else fmt(observed))
            cells.append("—" if observed is None else fmt(observed - saddle.tau, 2))
        table.add_row(*cells)
    rows = [
        ("depth p", fmt(report.depth)),
        ("time scale", "τ = 2t / ln(1/α)" if report.depth == 2.0 else "τ = p(p−2)·α^(p−2)·t"),
        ("jumps", str(len(report.saddles) - 1)),
        ("BP minimizer", "unique" if report.bp_unique else "not unique (a face)"),
        ("last saddle vs solve-bp", fmt(report.bp_distance)),
        ("last saddle vs depth tie-break", fmt(report.tiebreak_distance)),
    ]
    if not report.bp_unique:
        rows.append(("active-set vertex vs tie-break", fmt(report.end_vertex_distance)))
    if check is not None:
        rows.append(("--check-alpha", f"1e{check.log10_alpha:.6g}"))
        rows.append(
            (
                "max |observed τ − τ_k|",
                "—" if check.max_tau_deviation is None else fmt(check.max_tau_deviation),
            )
        )
        rows.append(
            (
                "ODE end vs last saddle",
                "—" if check.end_distance is None else fmt(check.end_distance),
            )
        )
    rows.append(("time", f"{report.elapsed_s:.3f} s"))
    parts: list[RenderableType] = [table, key_value_table("summary", rows)]
    parts += [f"[dim]note: {escape(note)}[/dim]" for note in report.notes]
    return Group(*parts)


# --------------------------------------------------------------------------- phase


def theory_renderable(table: TheoryReport | NoiseTheoryReport) -> RenderableType:
    """``phase --theory``: rho_W(delta) to 4 digits (``table`` is a theory.TheoryReport); with
    --noise, M*(delta, rho) and sigma^2 M* per (delta, rho) beside rho_W(delta)."""
    from dlncli.reports import NoiseTheoryReport

    if isinstance(table, NoiseTheoryReport):
        return _noise_theory_renderable(table)
    out = Table(title="weak threshold ρ_W(δ)")
    out.add_column("δ = m/N", justify="right")
    out.add_column("ρ_W = k/m", justify="right")
    for d, r in zip(table.deltas, table.rhos, strict=True):
        out.add_row(f"{d:g}", f"{r:.4f}")
    return out


def _noise_theory_renderable(report: NoiseTheoryReport) -> RenderableType:
    sigma2 = report.noise * report.noise
    out = Table(title=f"lasso minimax noise sensitivity M*(δ, ρ), σ = {report.noise:g}")
    for col in ("δ = m/N", "ρ = k/m", "ρ_W(δ)", "M*(δ, ρ)", "σ²·M*", "λ*"):
        out.add_column(col, justify="right")
    for p in report.table.points:
        bound = p.minimax_mse
        out.add_row(
            f"{p.delta:g}",
            f"{p.rho:g}",
            f"{p.rho_w:.4f}",
            "∞ (ρ ≥ ρ_W)" if bound is None else f"{bound:.6g}",
            "∞" if bound is None else f"{sigma2 * bound:.4g}",
            f"{p.threshold:.6g}",
        )
    return out


def phase_renderable(report: PhaseReport) -> RenderableType:
    """Success-rate grid (rows ρ, columns δ) per method variant, then the 50 % points beside
    ρ_W(δ) (``report`` is a phase.PhaseReport)."""
    gd = any(v.method == "gd" for v in report.variants)
    rows = [
        ("trials", f"{report.computed} computed, {report.reused} from the store"),
        ("solver failures", str(report.failed)),
        ("success", f"‖x̂ − x‖∞ ≤ {report.success_tol:g}·‖x‖∞"),
    ]
    if gd:
        rows += [
            (
                "GD budget",
                f"{report.gd.max_steps} steps, converged at loss ≤ {report.gd.loss_tol:g}·½‖y‖²",
            ),
            ("GD diverged (no success)", str(report.diverged)),
            ("GD stopped at the budget", str(report.unconverged)),
        ]
    rows += [("backend", escape(report.backend)), ("time", f"{report.elapsed_s:.2f} s")]
    parts: list[RenderableType] = [
        key_value_table(f"phase diagram: N = {report.n}, {report.trials} trials per cell", rows)
    ]
    for variant in report.variants:
        cells = [c for c in report.cells if c.variant == variant]
        columns = list(dict.fromkeys(c.m for c in cells))
        grid = Table(title=f"success rate: {escape(variant.label)}")
        grid.add_column("ρ = k/m", justify="right")
        for m in columns:
            grid.add_column(f"δ = {m / report.n:.3g}", justify="right")
        by_m = {m: [c for c in cells if c.m == m] for m in columns}
        for j, rho in enumerate(report.rho_grid):
            grid.add_row(f"{rho:g}", *(_rate_cell(by_m[m][j]) for m in columns))
        parts.append(grid)
    if report.noise:
        parts.append(_mse_table(report))
    if gd:
        parts.append(
            "[dim]GD cells: n d = n runs diverged (no success), n s = n runs stopped at the "
            "step budget (judged on their last iterate)[/dim]"
        )
    table = Table(title="transition: empirical 50 % point vs theory")
    for col in ("method", "δ", "ρ_50", "ρ_W(δ)", "ρ_50 − ρ_W"):
        table.add_column(col, justify="right")
    for t in report.transitions:
        table.add_row(
            escape(t.variant.label),
            f"{t.delta:.4g}",
            "outside grid" if t.rho_50 is None else f"{t.rho_50:.4f}",
            f"{t.rho_theory:.4f}",
            "—" if t.rho_50 is None else f"{t.rho_50 - t.rho_theory:+.4f}",
        )
    parts.append(table)
    return Group(*parts)


def _mse_table(report: PhaseReport) -> Table:
    """With noise: the mean ||x_hat - x||^2 / (N sigma^2) per cell and variant beside M*."""
    table = Table(
        title=f"MSE/σ² = mean ‖x̂ − x‖²/(Nσ²), σ = {report.noise:g}, beside the lasso's M*(δ, ρ)"
    )
    for col in ("δ", "ρ", "M*(δ, ρ)"):
        table.add_column(col, justify="right")
    for variant in report.variants:
        table.add_column(escape(variant.label), justify="right")
    first = report.variants[0]
    for cell in (c for c in report.cells if c.variant == first):
        row = [c for c in report.cells if c.m == cell.m and c.k == cell.k]
        shown = []
        for c in row:
            value = c.mse_sigma2
            text = "—" if value is None else f"{value:.4g}"
            if value is not None and c.mse_trials < c.trials:
                text += f" ({c.mse_trials}/{c.trials})"
            shown.append(text)
        bound = cell.minimax_mse
        table.add_row(
            f"{cell.delta:.4g}", f"{cell.rho:.4g}", "∞" if bound is None else f"{bound:.4g}", *shown
        )
    return table


def _rate_cell(cell: Any) -> str:
    """A success rate, with GD's diverged (d) and budget-stopped (s) counts when nonzero."""
    text = f"{cell.rate:.2f}"
    if cell.diverged:
        text += f" {cell.diverged}d"
    if cell.unconverged:
        text += f" {cell.unconverged}s"
    return text


# --------------------------------------------------------------------------- train


def train_renderable(report: TrainReport, *, show_all: bool) -> RenderableType:
    """The summary and coordinates of a :class:`dlncli.reports.TrainReport`."""
    name, m, n = _shape(report.problem, report.x.size)
    alpha_text = report.alpha_text or f"{report.alpha:g}"

    def maybe(value: float | None, digits: int = 6) -> str:
        return "—" if value is None else fmt(value, digits)

    algorithm = "GD" if report.batch is None else f"SGD (batch {report.batch}, seed {report.seed})"
    rows = [
        ("algorithm", algorithm),
        ("step size η", fmt(report.lr)),
        ("α", alpha_text),
        ("depth p", fmt(report.depth)),
        ("status", report.status),
        ("steps", str(report.steps)),
        ("loss ½‖Ax − y‖²", fmt(report.loss)),
        ("stability bound 2/λ_max at the start", fmt(report.stability_bound)),
        ("sharpness η·λ_max at the end", maybe(report.sharpness)),
        ("prediction error max|x − predicted_x|", maybe(report.prediction_error, 3)),
        ("distance to the flow limit at α", maybe(report.flow_limit_distance)),
        (
            "distance to BP" if report.bp_reference == "bp" else "distance to BP (tie-break)",
            maybe(report.bp_distance),
        ),
        ("time", f"{report.elapsed_s:.3f} s"),
    ]
    rows += early_stop_rows(report.early_stop)
    summary = key_value_table(f"DLN {algorithm}: {escape(name)} ({m}×{n})", rows)
    x = report.x
    scale = max((abs(float(v)) for v in x), default=0.0)
    shown = range(n) if show_all else [i for i in range(n) if abs(x[i]) >= 1e-6 * scale]
    coords = Table(title="x" if show_all else "x (|x_i| ≥ 1e-6·‖x‖∞)")
    coords.add_column("i", justify="right")
    coords.add_column("x_i", justify="right")
    effective = report.effective_log_u is not None and report.effective_log_v is not None
    if report.predicted_x is not None:
        coords.add_column("predicted_x_i", justify="right")
    if effective:
        coords.add_column("ln u_eff", justify="right")
        coords.add_column("ln v_eff", justify="right")
    for i in shown:
        cells = [str(i), f"{x[i]:.12g}"]
        if report.predicted_x is not None:
            cells.append(f"{report.predicted_x[i]:.12g}")
        if effective and report.effective_log_u is not None and report.effective_log_v is not None:
            cells += [f"{report.effective_log_u[i]:.8g}", f"{report.effective_log_v[i]:.8g}"]
        coords.add_row(*cells)
    parts: list[RenderableType] = [summary, coords]
    hidden = n - len(shown)
    if hidden:
        parts.append(f"[dim]{hidden} smaller coordinates hidden; --all shows them[/dim]")
    if report.message:
        parts.append(f"[dim]{escape(report.message)}[/dim]")
    return Group(*parts)


def compare_gd_renderable(report: CompareGdReport) -> RenderableType:
    """compare --method gd: one row per (problem, depth, step size)."""
    records = report.to_dict()["records"]
    table = Table(title="GD against basis pursuit across step sizes")
    for name in ("problem", "p", "α", "η", "status", "steps", "η·λ_max end", "‖x − x_BP‖∞"):
        table.add_column(name, justify="left" if name in ("problem", "status") else "right")
    table.add_column("‖x − x_α‖∞", justify="right")
    for record in records:
        for row in record["rows"]:

            def cell(value: float | None, digits: int = 4) -> str:
                return "—" if value is None else fmt(value, digits)

            table.add_row(
                escape(str(record["problem"]["name"])),
                fmt(record["depth"]),
                str(record["alpha_text"]),
                fmt(row["lr"]),
                str(row["status"]),
                str(row["steps"]),
                cell(row["sharpness"]),
                cell(row["bp_distance"]),
                cell(row["flow_limit_distance"]),
            )
    note = (
        "[dim]‖x − x_BP‖∞ is to the depth's tie-break point when BP's minimizers form a face; "
        "x_α is the flow limit at the same α (the η → 0 limit of GD)[/dim]"
    )
    return Group(table, note)


def compare_any(report: CompareReport | CompareGdReport) -> RenderableType:
    """compare's table: the limit sweep, or GD across step sizes (``--method gd``)."""
    if report.to_dict().get("method") == "gd":
        return compare_gd_renderable(report)  # type: ignore[arg-type]
    return compare_renderable(report)  # type: ignore[arg-type]


def figures() -> Any:
    """The figures module (matplotlib), imported only when a --plot is drawn."""
    from dlncli.cli import figures as module

    return module


def draw(name: str, *args: Any, **kwargs: Any) -> Any:
    """The figure ``name`` of :mod:`dlncli.cli.figures` for a report (matplotlib loads here)."""
    return getattr(figures(), name)(*args, **kwargs)


def recover_renderable(report: RecoverReport) -> RenderableType:
    """``recover``: one row per estimator, best error first."""
    p = report.problem
    sigma = "unknown" if report.sigma is None else fmt(report.sigma)
    table = Table(
        title=f"recovering x_true: {escape(p.name)} ({p.m}×{p.n}), σ = {sigma}, "
        f"{report.support_size} nonzeros"
    )
    for name in ("estimator", "‖x̂ − x_true‖₂", "MSE", "false +", "false −", "chosen by", "time"):
        table.add_column(name, justify="left" if name in ("estimator", "chosen by") else "right")
    for row in sorted(report.rows, key=lambda r: r.error_l2):
        label = row.method if row.depth is None else f"DLN p = {row.depth:g}, {row.stop} stop"
        table.add_row(
            escape(label), fmt(row.error_l2), fmt(row.mse), str(row.false_positives),
            str(row.false_negatives), escape(row.detail), f"{row.time_s:.2f} s",
        )  # fmt: skip
    note = f"[dim]support threshold {fmt(report.threshold)}; docs/noise.md[/dim]"
    return Group(table, note)
