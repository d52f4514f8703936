"""Figures (matplotlib) of the reports: each function takes one report and display options and
returns a Figure; nothing is written here (the CLI saves it)."""

from __future__ import annotations

from typing import Any

import numpy as np

from dlncli.reports import (
    CompareReport,
    CompareRowReport,
    EarlyStop,
    FlowReport,
    PathReport,
    PhaseReport,
    PotentialsReport,
    RecoverReport,
    TrainReport,
)

BW_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))  # black-and-white lines


def _curve_label(name: str) -> str:
    """A problem's legend entry; the kink family is labelled by its ε as in the paper."""
    return f"ε = {name.split(':', 1)[1]}" if name.startswith("kink:") else name


def compare_figure(
    report: CompareReport,
    *,
    by: str = "problem",
    increasing: bool = False,
    bw: bool = False,
) -> Any:
    """The paper-style figure: error vs alpha^p, log-log. ``by="problem"``: a panel per
    problem, a line per depth (the paper's figure 1); ``by="depth"``: a panel per depth, a
    line per problem (its figure 2). ``increasing``: alpha^p grows to the right (as in the
    paper); ``bw``: black lines told apart by dash pattern. Returns a matplotlib Figure
    (matplotlib is imported only here)."""
    import matplotlib

    records = report.problems
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    # (panel title, [(legend label, rows)]) for each panel
    panels: list[tuple[str, list[tuple[str, list[CompareRowReport]]]]] = []
    if by == "depth":
        depths = sorted({r.depth for rec in records for r in rec.rows})
        for depth in depths:
            lines = [
                (_curve_label(rec.problem.name), [r for r in rec.rows if r.depth == depth])
                for rec in records
            ]
            panels.append((f"p = {depth:g}", lines))
    else:
        for rec in records:
            lines = [
                (f"p = {depth:g}", [r for r in rec.rows if r.depth == depth])
                for depth in sorted({r.depth for r in rec.rows})
            ]
            title = f"{rec.problem.name} (γ = {rec.dual_margin:.3g})"
            panels.append((title, lines))
    horizon = any(rec.t_end_rule for rec in records)
    fig = Figure(figsize=(4.2 * len(panels), 3.6), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, lines) in zip(axes, panels, strict=True):
        for k, (label, pts) in enumerate(lines):
            style: dict[str, Any] = (
                {"color": "k", "linestyle": BW_STYLES[k % len(BW_STYLES)], "lw": 1.8}
                if bw
                else {"marker": "o", "markersize": 3}
            )
            ax.loglog(
                [10.0**r.log10_alpha_p for r in pts],
                [max(r.error_l2, 1e-300) for r in pts],
                label=label,
                **style,
            )
        if not increasing:
            ax.invert_xaxis()
        ax.set_xlabel("α^p")
        ax.set_ylabel("‖x(t_end) − x*‖₂" if horizon else "‖x_α − x*‖₂")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def potentials_figure(report: PotentialsReport) -> Any:
    """The paper's figure 3 from a report made with ``figure=True``: h_p on z, q_p and g_p on
    w, one black-and-white line style per depth. Returns a matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12.0, 3.6), layout="constrained")
    ax_h, ax_q, ax_g = fig.subplots(1, 3)
    for k, (ch, cw) in enumerate(zip(report.figure_h, report.figure_w, strict=True)):
        style = {"color": "k", "linestyle": BW_STYLES[k % len(BW_STYLES)], "lw": 1.8}
        label = f"p = {ch.depth:g}"
        ax_h.plot(ch.z, ch.h, label=label, **style)
        ax_q.plot(cw.w, cw.q, label=label, **style)
        ax_g.plot(cw.w, cw.g, label=label, **style)
    ax_h.set(xlim=(-0.99, 0.99), ylim=(-20, 20), xlabel="z", title="h_p(z)")
    ax_q.set(xlim=(-5, 5), ylim=(0, 3), xlabel="w", title="q_p(w) = ∫₀^w h_p⁻¹")
    ax_g.set(xlim=(-8, 8), xlabel="x", title="g_p(x)")
    for ax in (ax_h, ax_q, ax_g):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def path_figure(report: PathReport) -> Any:
    """Loss staircase (top) and coordinates (bottom) against τ; the ODE's rescaled trajectory
    dashed over them when the report has a --check-alpha run."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    saddles = report.saddles
    tau = np.array([s.tau for s in saddles])
    end = 1.25 * tau[-1] if tau[-1] > 0 else 1.0
    steps = np.append(tau, end)
    losses = np.array([s.loss for s in saddles])
    xs = np.array([s.x for s in saddles])
    shown = np.flatnonzero(np.any(xs != 0.0, axis=0))[:20]
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.stairs(losses, steps, baseline=None, label="path", linewidth=1.5)
    colours = {}
    for i in shown:
        colours[i] = bottom.stairs(xs[:, i], steps, baseline=None, label=f"x_{i}").get_edgecolor()
    check = report.check
    if check is not None and check.log10_tau.size:
        finite = np.isfinite(check.log10_tau)
        t_ode = 10.0 ** check.log10_tau[finite]
        keep = t_ode <= end
        label = f"ODE, α = 1e{check.log10_alpha:.4g}"
        top.plot(t_ode[keep], check.losses[finite][keep], "--", label=label)
        for i in shown:
            ode_x = check.xs[finite][keep, i]
            bottom.plot(t_ode[keep], ode_x, "--", color=colours[i], linewidth=0.8)
    top.set_ylabel("loss ½‖Ax − y‖²")
    name = "" if report.problem is None else f"{report.problem.name}: "
    top.set_title(f"{name}α → 0 path, depth {report.depth:g}", fontsize=10)
    top.legend(fontsize=8)
    bottom.set_xlabel("rescaled time τ")
    bottom.set_ylabel("x_i")
    if shown.size <= 10:
        bottom.legend(fontsize=7, ncol=2)
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    return fig


def phase_curves_figure(report: PhaseReport) -> Any:
    """Success rate against ρ, one panel per δ and one curve per method variant, with ρ_W(δ)
    as a vertical line; when GD is in the sweep, a second row gives GD's median η·λ_max at
    the end (2: the edge of stability). Returns a matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    ms = sorted({c.m for c in report.cells})
    gd = [v for v in report.variants if v.method == "gd"]
    rows = 2 if gd else 1
    fig = Figure(figsize=(4.2 * len(ms) + 1.6, 3.3 * rows + 0.3), layout="constrained")
    axes = fig.subplots(rows, len(ms), squeeze=False, sharex="col")
    shades = colormaps["plasma"](np.linspace(0.0, 0.85, max(len(gd), 1)))
    styles: dict[Any, dict[str, Any]] = {}
    others = 0
    for v in report.variants:
        if v.method == "gd":
            styles[v] = {"color": shades[gd.index(v)], "linestyle": "-", "marker": "o"}
        elif v.method == "bp":
            styles[v] = {"color": "black", "marker": "s", "linewidth": 2, "zorder": 4}
        else:
            styles[v] = {
                "color": str(0.35 + 0.2 * (others % 3)),
                "linestyle": "--",
                "marker": "^",
                "linewidth": 2,
                "zorder": 3,
            }
            others += 1
    for j, m in enumerate(ms):
        top = axes[0][j]
        for v in report.variants:
            cells = sorted((c for c in report.cells if c.variant == v and c.m == m), key=_rho)
            top.plot(
                [c.rho for c in cells],
                [c.rate for c in cells],
                markersize=3.5,
                label=v.label,
                **styles[v],
            )
        theory = next(t.rho_theory for t in report.transitions if t.m == m)
        top.axvline(theory, color="tab:green", linestyle=":", linewidth=1.5, label="ρ_W(δ)")
        top.axhline(0.5, color="0.8", linewidth=0.8, zorder=0)
        top.set_ylim(-0.03, 1.03)
        top.set_title(f"δ = m/N = {m / report.n:.3g} (N = {report.n}, m = {m})", fontsize=10)
        top.set_ylabel("success rate")
        top.grid(True, alpha=0.3)
        if gd:
            bottom = axes[1][j]
            for v in gd:
                cells = sorted((c for c in report.cells if c.variant == v and c.m == m), key=_rho)
                shown = [c for c in cells if c.sharpness_median is not None]
                bottom.plot(
                    [c.rho for c in shown],
                    [c.sharpness_median for c in shown],
                    markersize=3.5,
                    label=f"_{v.label}",  # a leading _ keeps it out of the legend
                    **styles[v],
                )
            bottom.axhline(2.0, color="tab:red", linewidth=1.0, linestyle=":")
            bottom.set_ylabel("GD: median η·λ_max at the end")
            bottom.grid(True, alpha=0.3)
        axes[-1][j].set_xlabel("ρ = k/m")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8)
    return fig


def _rho(cell: Any) -> float:
    return float(cell.rho)


def _heatmap_panels(report: PhaseReport) -> tuple[Any, Any, list[int], Any, Any, list[float]]:
    """One panel per method variant over the (delta, rho) cells: the figure and its axes, the
    realized m values, the cells' delta edges, and the rho_W(delta) curve."""
    from matplotlib.figure import Figure

    from dlncli.transition.theory import weak_threshold

    count = len(report.variants)
    fig = Figure(figsize=(3.6 * count + 0.8, 3.4), layout="constrained")
    axes = fig.subplots(1, count, squeeze=False)[0]
    ms = sorted({c.m for c in report.cells})
    deltas = np.array([m / report.n for m in ms])
    edges = _edges(deltas, 0.0, 1.0)
    curve_d = np.linspace(max(edges[0], 1e-3), min(edges[-1], 1.0), 200)
    curve_r = [weak_threshold(float(d)) for d in curve_d]
    return fig, axes, ms, edges, curve_d, curve_r


def phase_figure(report: PhaseReport) -> Any:
    """One panel per method variant: the success rate over (δ, ρ) as a heatmap, ρ_W(δ) as a
    curve and the empirical 50 % points as markers. Returns a matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    fig, axes, ms, edges, curve_d, curve_r = _heatmap_panels(report)
    mesh = None
    for ax, variant in zip(axes, report.variants, strict=True):
        for i, m in enumerate(ms):
            cells = sorted(
                (c for c in report.cells if c.variant == variant and c.m == m), key=lambda c: c.rho
            )
            rhos = np.array([c.rho for c in cells])
            rates = np.array([[c.rate] for c in cells])
            mesh = ax.pcolormesh(
                edges[i : i + 2], _edges(rhos, 0.0, 1.0), rates, cmap="viridis", vmin=0, vmax=1
            )
        ax.plot(curve_d, curve_r, color="white", linewidth=1.5, label="ρ_W(δ)")
        points = [t for t in report.transitions if t.variant == variant and t.rho_50 is not None]
        ax.plot(
            [t.delta for t in points],
            [t.rho_50 for t in points],
            "o",
            color="red",
            markersize=4,
            label="50 % point",
        )
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel("δ = m/N")
        ax.set_ylabel("ρ = k/m")
        ax.set_title(variant.label, fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    if mesh is not None:
        fig.colorbar(mesh, ax=list(axes), label="success rate")
    return fig


def _edges(centers: Any, lo: float, hi: float) -> Any:
    """Cell edges around sorted centers: midpoints inside, half a step outside, clipped."""
    c = np.asarray(centers, dtype=np.float64)
    if c.size == 1:
        half = 0.05
        return np.clip(np.array([c[0] - half, c[0] + half]), lo, hi)
    mid = (c[1:] + c[:-1]) / 2
    first = c[0] - (mid[0] - c[0])
    last = c[-1] + (c[-1] - mid[-1])
    return np.clip(np.concatenate([[first], mid, [last]]), lo, hi)


def _early_stop_figure(
    times: Any, losses: Any, stop: EarlyStop | None, *, title: str, xlabel: str
) -> Any:
    """Loss (top) and ||x - x_true||_2 with the held-out loss (bottom) against time, log-log;
    the oracle stop, the 10 % window (shaded) and the hold-out stop marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 6.0), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    positive = np.asarray(times) > 0
    top.loglog(np.asarray(times)[positive], np.asarray(losses)[positive], color="k", lw=1.5)
    top.set(ylabel="loss ½‖Ax − y‖²", title=title)
    if stop is not None:
        t = np.asarray(stop.times)
        keep = t > 0
        if stop.errors is not None:
            bottom.loglog(t[keep], np.asarray(stop.errors)[keep], color="k", label="‖x − x_true‖₂")
        if stop.holdout_losses is not None:
            bottom.loglog(
                t[keep], np.asarray(stop.holdout_losses)[keep], color="0.5", ls="--",
                label="held-out loss",
            )  # fmt: skip
        if stop.window_lo is not None and stop.window_hi is not None:
            bottom.axvspan(stop.window_lo, stop.window_hi, color="0.85", label="10 % window")
        if stop.oracle_time is not None:
            bottom.axvline(stop.oracle_time, color="k", ls=":", label="oracle stop")
        if stop.holdout_time is not None:
            bottom.axvline(stop.holdout_time, color="0.4", ls="-.", label="hold-out stop")
        bottom.legend(fontsize=8)
    bottom.set(xlabel=xlabel, ylabel="early stopping")
    for ax in (top, bottom):
        ax.grid(True, which="both", alpha=0.3)
    return fig


def flow_curves_figure(report: FlowReport) -> Any:
    """``flow --plot``: the flow's loss and its early-stopping curves against t."""
    arrays = report.trajectory or {}
    return _early_stop_figure(
        arrays.get("t", np.zeros(0)), arrays.get("loss", np.zeros(0)), report.early_stop,
        title=f"DLN flow: {report.problem.name}, p = {report.depth:g}, α = {report.alpha_text}",
        xlabel="t",
    )  # fmt: skip


def train_curves_figure(report: TrainReport) -> Any:
    """``train --plot``: GD's loss and its early-stopping curves against the step."""
    curve = report.loss_curve
    name = "" if report.problem is None else f"{report.problem.name}, "
    return _early_stop_figure(
        np.arange(curve.size, dtype=np.float64), curve, report.early_stop,
        title=f"DLN GD: {name}p = {report.depth:g}, η = {report.lr:g}", xlabel="step",
    )  # fmt: skip


def phase_noise_figure(report: PhaseReport) -> Any:
    """``phase --noise --plot``: one panel per method variant, the mean ||x_hat - x||^2 / (N
    sigma^2) over (delta, rho) on a log colour scale (one scale for all panels), with rho_W(delta),
    where the lasso's minimax M*(delta, rho) blows up. Returns a matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.colors import LogNorm

    fig, axes, ms, edges, curve_d, curve_r = _heatmap_panels(report)
    values = [c.mse_sigma2 for c in report.cells if c.mse_sigma2 is not None and c.mse_sigma2 > 0]
    low, high = (min(values), max(values)) if values else (1e-2, 1e2)
    if low == high:  # a single value: a decade on either side
        low, high = low / 10, high * 10
    norm = LogNorm(low, high)
    mesh = None
    for ax, variant in zip(axes, report.variants, strict=True):
        for i, m in enumerate(ms):
            cells = sorted((c for c in report.cells if c.variant == variant and c.m == m), key=_rho)
            rhos = np.array([c.rho for c in cells])
            # No x_hat in any trial (all failed): a masked (blank) cell, never a made-up colour.
            mse = np.ma.masked_invalid(
                np.array([[np.nan if c.mse_sigma2 is None else c.mse_sigma2] for c in cells])
            )
            mesh = ax.pcolormesh(
                edges[i : i + 2], _edges(rhos, 0.0, 1.0), mse, cmap="magma", norm=norm
            )
        ax.plot(curve_d, curve_r, color="tab:cyan", linewidth=1.5, label="ρ_W(δ): M* = ∞")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel("δ = m/N")
        ax.set_ylabel("ρ = k/m")
        ax.set_title(variant.label, fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    if mesh is not None:
        fig.colorbar(mesh, ax=list(axes), label=f"MSE/σ² = ‖x̂ − x‖²/(Nσ²), σ = {report.noise:g}")
    return fig


def phase_noise_curves_figure(report: PhaseReport) -> Any:
    """``phase --noise --plot-kind curves``: the mean ||x_hat - x||^2 / (N sigma^2) against rho,
    one panel per delta, one line per method variant (log scale), with the lasso's minimax
    M*(delta, rho) as a curve and rho_W(delta), where it blows up, as a vertical line. Returns a
    matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from dlncli.noise.theory import noise_sensitivity
    from dlncli.transition.theory import weak_threshold

    ms = sorted({c.m for c in report.cells})
    fig = Figure(figsize=(4.2 * len(ms) + 1.6, 3.6), layout="constrained")
    axes = fig.subplots(1, len(ms), squeeze=False)[0]
    markers = "os^vDPX*"
    for ax, m in zip(axes, ms, strict=True):
        delta = m / report.n
        for j, v in enumerate(report.variants):
            cells = sorted((c for c in report.cells if c.variant == v and c.m == m), key=_rho)
            shown = [c for c in cells if c.mse_sigma2 is not None]
            ax.plot(
                [c.rho for c in shown],
                [c.mse_sigma2 for c in shown],
                marker=markers[j % len(markers)],
                markersize=4,
                label=v.label,
            )
        rho_w = weak_threshold(delta)
        rhos = [c.rho for c in report.cells if c.m == m]
        grid = np.linspace(min(rhos) / 2, min(max(rhos), rho_w) * (1 - 1e-9), 200)
        bound = np.array([noise_sensitivity(delta, float(r)) for r in grid])
        ax.plot(grid, bound, color="black", linestyle="--", linewidth=1.5, label="M*(δ, ρ)")
        # M* -> inf at rho_W: the axis follows the measurements, not the blow-up.
        seen = [
            c.mse_sigma2
            for c in report.cells
            if c.m == m and c.mse_sigma2 is not None and c.mse_sigma2 > 0
        ]
        if seen:
            ax.set_ylim(min(min(seen), float(bound[0])) / 3, max(seen) * 10)
        ax.axvline(rho_w, color="tab:green", linestyle=":", linewidth=1.5, label="ρ_W(δ)")
        ax.set_yscale("log")
        ax.set_title(f"δ = m/N = {delta:.3g} (N = {report.n}, m = {m}), σ = {report.noise:g}")
        ax.set_xlabel("ρ = k/m")
        ax.set_ylabel("MSE/σ² = ‖x̂ − x‖²/(Nσ²)")
        ax.grid(True, alpha=0.3, which="both")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=8)
    return fig


def recover_figure(report: RecoverReport) -> Any:
    """``recover --plot``: each depth's error ||x(t) - x_true||_2 along the flow (or GD's
    steps with --lr; oracle runs), with the other estimators' errors as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    ax = fig.subplots()
    for k, (label, stop) in enumerate(report.curves.items()):
        if stop.errors is None:
            continue
        steps = np.asarray(stop.times)
        keep = steps > 0
        style = {"color": "k", "linestyle": BW_STYLES[k % len(BW_STYLES)], "lw": 1.6}
        ax.loglog(steps[keep], np.asarray(stop.errors)[keep], label=f"DLN p = {label}", **style)
    for row, shade in zip(
        [r for r in report.rows if r.method != "dln"], ("0.3", "0.55", "0.75"), strict=False
    ):
        ax.axhline(row.error_l2, color=shade, lw=1.2, label=row.method)
    units = {stop.time_unit for stop in report.curves.values()}
    ax.set(
        xlabel="GD step" if units == {"step"} else "flow time t",
        ylabel="‖x − x_true‖₂",
        title=f"recovering x_true: {report.problem.name}",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig
