"""Pure builders: JSON records (plain dicts) and rich renderables. No printing here."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table

from dlncli.lp import BPSolution
from dlncli.problem_io import Problem


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays (recursively) to JSON-ready Python values.

    Non-finite floats become None so that ``allow_nan=False`` never fails on a result.
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def dump_json(record: Mapping[str, Any]) -> str:
    return json.dumps(jsonable(record), indent=2, sort_keys=True, allow_nan=False)


def fmt(value: float, digits: int = 6) -> str:
    """Compact number formatting for tables."""
    if value is None or not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e6:
        return f"{value:.{digits}g}"
    return f"{value:.{max(digits - 2, 2)}e}"


def problem_record(problem: Problem) -> dict[str, Any]:
    m, n = problem.shape
    return {"name": problem.name, "m": m, "n": n}


# --------------------------------------------------------------------------- solve-bp


def bp_record(problem: Problem, sol: BPSolution) -> dict[str, Any]:
    face = sol.face
    record: dict[str, Any] = {
        "status": sol.status,
        "message": _bp_message(sol),
        "problem": problem_record(problem),
        "x": sol.x,
        "l1_norm": sol.l1_norm,
        "residual_inf": sol.residual_inf,
        "dual": sol.dual,
        "dual_inf_norm": sol.dual_inf_norm,
        "duality_gap": sol.duality_gap,
        "unique": sol.unique,
        "face_dimension": face.dimension,
        "support": sol.support,
        "signs": sol.signs,
        "face_support": face.support,
        "face_signs": face.signs,
        "face_interior_point": face.interior_point,
        "solver": sol.solver,
        "lp_solves": sol.lp_solves,
        "iterations": sol.iterations,
        "elapsed_s": sol.elapsed_s,
    }
    if face.ranges is not None:
        record["face_ranges"] = face.ranges
    return record


def _bp_message(sol: BPSolution) -> str:
    if sol.unique:
        return f"unique minimizer with {sol.support.size} nonzeros"
    return (
        f"minimizers form a {sol.face.dimension}-dimensional face; "
        f"{sol.face.support.size} coordinates are nonzero somewhere on it"
    )


def bp_renderable(problem: Problem, sol: BPSolution, *, show_all: bool) -> RenderableType:
    m, n = problem.shape
    summary = Table(title=f"basis pursuit: {escape(problem.name)} ({m}×{n})", show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    verdict = "unique" if sol.unique else f"not unique: face of dimension {sol.face.dimension}"
    for key, value in (
        ("status", sol.status),
        ("minimizer", verdict),
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
    correlations = problem.A.T @ sol.dual
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
    return Group(summary, coords)


def samples_renderable(descriptions: Mapping[str, str], default: str) -> RenderableType:
    table = Table(title="built-in sample problems")
    table.add_column("name")
    table.add_column("what it is")
    for name, text in descriptions.items():
        label = f"{name} (default)" if name == default else name
        table.add_row(escape(label), escape(text))
    return table


def key_value_table(title: str, rows: Sequence[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    return table


# --------------------------------------------------------------------------- flow


def flow_record(
    problem: Problem,
    run: Mapping[str, Any],
) -> dict[str, Any]:
    """The JSON record of a flow run; ``run`` is assembled by the CLI from core results."""
    record = {"status": "ok", "problem": problem_record(problem)}
    record.update(run)
    return record


def flow_renderable(
    problem: Problem, record: Mapping[str, Any], *, show_all: bool
) -> RenderableType:
    m, n = problem.shape
    x = np.asarray(record["x"], dtype=np.float64)
    rows = [
        ("α", str(record["alpha_text"])),
        ("α^p", f"1e{record['log10_alpha_p']:.6g}"),
        ("depth p", fmt(record["depth"])),
        ("method", f"{record['method']} (x is the {record['x_source']})"),
        ("converged", "yes" if record["converged"] else "no"),
        ("limit certified", "yes" if record.get("certified") else "no"),
        ("t_end", "—" if record["log10_t_end"] is None else f"1e{record['log10_t_end']:.6g}"),
        ("loss ½‖Ax − y‖²", "—" if record["loss"] is None else fmt(record["loss"])),
        ("‖x‖₁", fmt(record["l1_norm"], 10)),
        ("‖Ax − y‖∞", fmt(record["residual_inf"])),
        (
            "ODE vs exact limit",
            fmt(record["limit_agreement"]) if record["limit_agreement"] is not None else "—",
        ),
        (
            f"distance to {record['reference']}",
            fmt(record["distance_to_reference"])
            if record["distance_to_reference"] is not None
            else "—",
        ),
        ("time", f"{record['elapsed_s']:.3f} s"),
    ]
    summary = key_value_table(f"DLN flow: {escape(problem.name)} ({m}×{n})", rows)
    scale = float(np.max(np.abs(x), initial=0.0))
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
    changes = record.get("support_changes") or []
    if changes:
        saddle = Table(title="saddle-to-saddle: active set (|x_i| ≥ 1% of ‖x_end‖∞) over time")
        saddle.add_column("t", justify="right")
        saddle.add_column("loss", justify="right")
        saddle.add_column("active coordinates")
        for change in changes:
            saddle.add_row(
                f"1e{change['log10_t']:.4g}",
                fmt(change["loss"]),
                ", ".join(map(str, change["support"])) or "none",
            )
        parts.append(saddle)
    if record.get("message"):
        parts.append(f"[dim]{escape(str(record['message']))}[/dim]")
    return Group(*parts)


# --------------------------------------------------------------------------- tie-break


def tiebreak_renderable(problem: Problem, record: Mapping[str, Any]) -> RenderableType:
    m, n = problem.shape
    support = list(record["support"])
    labels = list(record["selected"])
    head = key_value_table(
        f"tie-break: {escape(problem.name)} ({m}×{n})",
        [
            (
                "BP minimizer",
                "unique (every depth selects it)"
                if record["unique"]
                else f"not unique: face of dimension {record['face_dimension']}",
            ),
            ("‖x‖₁ on the face", fmt(record["l1_norm"], 10)),
            ("coordinates nonzero on the face", str(len(support))),
            ("time", f"{record['elapsed_s']:.3f} s"),
        ],
    )
    table = Table(title="selected point x*_p on the face's coordinates")
    table.add_column("i", justify="right")
    table.add_column("sign", justify="center")
    table.add_column("range on face", justify="right")
    for label in labels:
        table.add_column(f"p = {escape(label)}", justify="right")
    ranges = record.get("ranges")
    for k, i in enumerate(support):
        cells = [str(i), "+" if record["signs"][k] > 0 else "−"]
        cells.append(
            escape(f"[{fmt(ranges[k][0], 4)}, {fmt(ranges[k][1], 4)}]")
            if ranges is not None
            else ""
        )
        cells += [f"{record['selected'][label][i]:.6g}" for label in labels]
        table.add_row(*cells)
    parts: list[RenderableType] = [head, table]
    if len(labels) > 1:
        dist = Table(title="pairwise distances ‖x*_p − x*_q‖∞")
        dist.add_column("")
        for label in labels:
            dist.add_column(escape(label), justify="right")
        for a in labels:
            dist.add_row(escape(a), *[fmt(record["distances"][a][b], 4) for b in labels])
        parts.append(dist)
    verify = record.get("verify")
    if verify:
        vt = Table(title="--verify: ‖x_α − x*_p‖∞ for the flow's exact limit")
        vt.add_column("p")
        vt.add_column("α^p", justify="right")
        vt.add_column("distance", justify="right")
        for label, rows in verify.items():
            for row in rows:
                vt.add_row(escape(label), f"1e{row['log10_alpha_p']:.4g}", fmt(row["distance"], 3))
        parts.append(vt)
    for note in record.get("notes", []):
        parts.append(f"[dim]{escape(note)}[/dim]")
    return Group(*parts)


# --------------------------------------------------------------------------- compare


def compare_record(problem: Problem, comparison: Any) -> dict[str, Any]:
    """One problem's comparison as plain data (rows and fits carry the problem name)."""
    name = problem.name
    return {
        "problem": problem_record(problem),
        "reference": comparison.reference,
        "dual_margin": comparison.dual_margin,
        "l1_min": comparison.l1_min,
        "off_face_coordinates": comparison.off_face,
        "rows": [
            {
                "problem": name,
                "depth": r.depth,
                "alpha": 10.0**r.log10_alpha if r.log10_alpha > -300 else None,
                "log10_alpha": r.log10_alpha,
                "log10_alpha_p": r.log10_alpha_p,
                "error_l2": r.error_l2,
                "error_inf": r.error_inf,
                "l1_gap": r.l1_gap,
                "residual_inf": r.residual_inf,
                "converged": r.converged,
            }
            for r in comparison.rows
        ],
        "fits": [
            {
                "problem": name,
                "depth": f.depth,
                "slope": f.slope,
                "predicted_slope": f.predicted_slope,
                "agrees": f.agrees,
                "points": f.points,
                "break_log10_alpha_p": f.break_log10_alpha_p,
            }
            for f in comparison.fits
        ],
        "elapsed_s": comparison.elapsed_s,
    }


def compare_renderable(records: Sequence[Mapping[str, Any]]) -> RenderableType:
    parts: list[RenderableType] = []
    for rec in records:
        prob = rec["problem"]
        parts.append(
            key_value_table(
                f"flow vs basis pursuit: {escape(prob['name'])} ({prob['m']}×{prob['n']})",
                [
                    (
                        "reference x*",
                        "BP minimizer (unique)"
                        if rec["reference"] == "bp"
                        else "tie-break point of each depth (BP not unique)",
                    ),
                    ("dual margin γ", fmt(rec["dual_margin"], 4)),
                    ("min ‖x‖₁", fmt(rec["l1_min"], 10)),
                    ("time", f"{rec['elapsed_s']:.2f} s"),
                ],
            )
        )
        rows = Table(title="errors of x_α (exact limit unless --ode)")
        for col in ("p", "α", "α^p", "‖x_α − x*‖₂", "‖x_α − x*‖∞", "‖x_α‖₁ − min", "‖Ax − y‖∞"):
            rows.add_column(col, justify="right")
        for r in rec["rows"]:
            rows.add_row(
                fmt(r["depth"]),
                f"1e{r['log10_alpha']:.4g}",
                f"1e{r['log10_alpha_p']:.4g}",
                fmt(r["error_l2"], 3),
                fmt(r["error_inf"], 3),
                fmt(r["l1_gap"], 3),
                fmt(r["residual_inf"], 2),
            )
        parts.append(rows)
        fits = Table(title="rate: log-log slope of the error vs α^p (asymptotic points)")
        for col in ("p", "fitted slope", "theory", "agrees", "points"):
            fits.add_column(col, justify="right")
        for f in rec["fits"]:
            fits.add_row(
                fmt(f["depth"]),
                "—" if f["slope"] is None else f"{f['slope']:.3f}",
                f"{f['predicted_slope']:.3f}",
                "yes" if f["agrees"] else "NO",
                str(f["points"]),
            )
        parts.append(fits)
    return Group(*parts)


def compare_figure(records: Sequence[Mapping[str, Any]]) -> Any:
    """The paper-style figure: error vs alpha^p, log-log, one line per depth, a panel per
    problem. Returns a matplotlib Figure (matplotlib is imported only here)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    count = len(records)
    fig = Figure(figsize=(4.2 * count, 3.6), layout="constrained")
    axes = fig.subplots(1, count, squeeze=False)[0]
    for ax, rec in zip(axes, records, strict=True):
        depths = sorted({r["depth"] for r in rec["rows"]})
        for depth in depths:
            pts = [r for r in rec["rows"] if r["depth"] == depth]
            ax.loglog(
                [10.0 ** r["log10_alpha_p"] for r in pts],
                [max(r["error_l2"], 1e-300) for r in pts],
                marker="o",
                markersize=3,
                label=f"p = {depth:g}",
            )
        ax.invert_xaxis()
        ax.set_xlabel("α^p")
        ax.set_ylabel("‖x_α − x*‖₂")
        ax.set_title(f"{rec['problem']['name']} (γ = {rec['dual_margin']:.3g})", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    return fig
