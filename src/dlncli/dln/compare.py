"""Flow vs basis pursuit across alpha and depth: errors and fitted rates (docs/model.md §4-5).

For each depth p and scale alpha the flow's limit x_alpha is compared with the reference x*:
the BP minimizer when it is unique, otherwise the depth's tie-break point. The log-log
slope of ||x_alpha - x*||_2 against alpha^p over the asymptotic part of the grid is set
beside the rate theory predicts:

- p > 2: slope 1 (error ~ C alpha^p);
- p = 2: slope gamma, the dual margin (error ~ C (alpha^2)^gamma); when every coordinate is
  on the BP face there is no off-face term and the on-face correction gives slope 2.
"""

from __future__ import annotations

import ast
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dlncli.arrays import LN10, FloatArray
from dlncli.bp.verdict import max_margin_certificate
from dlncli.deadline import Deadline
from dlncli.dln.flow import integrate_flow
from dlncli.dln.limit import bp_anchor, flow_limit
from dlncli.dln.tiebreak import select_minimizer
from dlncli.reports import CompareRowReport, FitReport

SLOPE_TOLERANCE = 0.1  # |fitted - predicted| within this: the verdict "agrees"
FIT_POINTS = 4  # the asymptotic part: the smallest-alpha points above the round-off floor
FLOOR = 1e-12  # errors below FLOOR * (1 + ||x*||_inf) are round-off, not rate


@dataclass(frozen=True)
class Comparison:
    reference: str  # "bp" or "tie-break"
    dual_margin: float
    off_face: int  # coordinates outside the BP face
    l1_min: float
    references: dict[float, FloatArray]  # depth -> x*
    rows: tuple[CompareRowReport, ...]
    fits: tuple[FitReport, ...]
    elapsed_s: float
    t_end_rule: str | None = None


# --------------------------------------------------------------------------- finite horizons


@dataclass(frozen=True)
class TEndRule:
    """A horizon t_end(p, alpha) such as the paper's ``1e9*alpha^(2-p)``, evaluated as
    log10 t_end so that alpha = 1e-300 cannot overflow it.

    Grammar: products and quotients of positive numbers, expressions in ``p`` and powers
    ``alpha^(E)`` (``^`` or ``**``) whose exponent E is an expression in ``p``.
    """

    text: str
    tree: ast.expr = field(repr=False, compare=False)

    def log10_t_end(self, depth: float, log10_alpha: float) -> float:
        """log10 t_end = (the rule in the log domain) for this depth and log10 alpha."""
        return _log10_of(self.tree, float(depth), float(log10_alpha))


def parse_t_end_rule(text: str) -> TEndRule:
    """Parse a horizon rule (see :class:`TEndRule`); ValueError says what is wrong."""
    try:
        tree = ast.parse(text.replace("^", "**"), mode="eval").body
    except SyntaxError:
        raise ValueError(f"{text!r} is not an expression; expected e.g. 1e9*alpha^(2-p)") from None
    rule = TEndRule(text.strip(), tree)
    value = rule.log10_t_end(3.0, -1.0)  # raises on names, operators or signs not allowed
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite time")
    return rule


def _has_alpha(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "alpha" for n in ast.walk(node))


def _log10_of(node: ast.expr, p: float, log10_alpha: float) -> float:
    if not _has_alpha(node):
        value = _value_of(node, p)
        if not value > 0:
            raise ValueError(f"{ast.unparse(node)} = {value:g} at p = {p:g}; a time needs > 0")
        return math.log10(value)
    if isinstance(node, ast.Name):  # alpha itself
        return log10_alpha
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _log10_of(node.left, p, log10_alpha) + _log10_of(node.right, p, log10_alpha)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _log10_of(node.left, p, log10_alpha) - _log10_of(node.right, p, log10_alpha)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and not _has_alpha(node.right):
        return _value_of(node.right, p) * _log10_of(node.left, p, log10_alpha)
    raise ValueError(
        f"{ast.unparse(node)!r}: alpha may appear only in products, quotients and powers "
        "alpha^(expression in p)"
    )


_ARITHMETIC: dict[type, Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


def _value_of(node: ast.expr, p: float) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name) and node.id == "p":
        return p
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _value_of(node.operand, p)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        try:
            return float(
                _ARITHMETIC[type(node.op)](_value_of(node.left, p), _value_of(node.right, p))
            )
        except (ZeroDivisionError, OverflowError):
            raise ValueError(f"{ast.unparse(node)!r} cannot be evaluated at p = {p:g}") from None
    raise ValueError(f"{ast.unparse(node)!r} is not allowed; use numbers, p, alpha, + - * / ^")


# --------------------------------------------------------------------------- the comparison


def compare_flow_to_bp(
    A: FloatArray,
    y: FloatArray,
    *,
    depths: Sequence[float],
    log10_alphas: Callable[[float], Sequence[float]],
    use_ode: bool = False,
    t_end_rule: TEndRule | None = None,
    time_limit: float | None = None,
    progress: Callable[[float], None] | None = None,
    name: str = "arrays",
) -> Comparison:
    """Errors of the flow's limit (or ODE end-point) against BP for every (depth, alpha).

    Parameters
    ----------
    A : (m, N).  y : (m,).
    depths : the depths p >= 2.
    log10_alphas : for each depth, the log10 alpha values of its grid.
    use_ode : integrate the ODE to convergence instead of using the exact limit.
    t_end_rule : integrate the ODE to this finite horizon t_end(p, alpha) instead (as the
        paper's figures do); each row then also carries the exact limit's error.
    progress : called with the fraction of grid points done.
    name : the problem's name in the rows and fits.
    time_limit : seconds for the whole comparison (TimeLimitError when spent), or None.
    """
    start = time.perf_counter()
    deadline = Deadline(time_limit)  # one budget: each stage gets what is left
    anchor = bp_anchor(A, y, time_limit=time_limit)
    bp = anchor.bp
    face = bp.face
    n = A.shape[1]
    off_face = n - face.support.size
    margin = (
        max_margin_certificate(
            A, face.support, face.signs, time_limit=deadline.remaining("the dual margin LP")
        ).margin
        if off_face and face.support.size
        else 1.0
    )
    selections = select_minimizer(A, y, bp, list(depths)).selections
    references = {float(p): sel.x for p, sel in zip(depths, selections, strict=True)}
    rows: list[CompareRowReport] = []
    grids = {float(p): list(log10_alphas(p)) for p in depths}
    total, done = sum(len(g) for g in grids.values()), 0
    for depth in depths:
        x_star = references[float(depth)]
        for log10_alpha in grids[float(depth)]:
            limit = flow_limit(
                A,
                y,
                depth=depth,
                log_alpha=log10_alpha * LN10,
                anchor=anchor,
                time_limit=deadline.remaining("compare"),
            )
            x, converged, source = limit.x, limit.converged, "limit"
            log10_t_end = None
            if t_end_rule is not None:
                log10_t_end = t_end_rule.log10_t_end(depth, log10_alpha)
            if use_ode or t_end_rule is not None:
                run = integrate_flow(
                    A,
                    y,
                    depth=depth,
                    log_alpha=log10_alpha * LN10,
                    anchor=anchor,
                    log10_t_end=log10_t_end,
                    time_limit=deadline.remaining("compare"),
                )
                # Unreachable (time scale beyond float range): the end-point is the limit.
                if run.reachable:
                    x, converged = run.x, run.converged
                    source = "ode" if log10_t_end is None else "ode at t_end"
            diff = x - x_star
            rows.append(
                CompareRowReport(
                    problem=name,
                    depth=float(depth),
                    log10_alpha=float(log10_alpha),
                    log10_alpha_p=float(depth) * float(log10_alpha),
                    error_l2=float(np.linalg.norm(diff)),
                    error_inf=float(np.max(np.abs(diff))),
                    l1_gap=float(np.sum(np.abs(x))) - bp.l1_norm,
                    residual_inf=float(np.max(np.abs(A @ x - y))),
                    converged=converged,
                    log10_t_end=log10_t_end,
                    limit_error_l2=None
                    if t_end_rule is None
                    else float(np.linalg.norm(limit.x - x_star)),
                    source=source,
                )
            )
            done += 1
            if progress is not None:
                progress(done / total)
    fits = tuple(
        fit_rate(
            [r for r in rows if r.depth == float(p)],
            predicted_slope(float(p), margin, off_face),
            scale=1.0 + float(np.max(np.abs(references[float(p)]))),
        )
        for p in depths
    )
    return Comparison(
        reference="bp" if bp.unique else "tie-break",
        dual_margin=margin,
        off_face=off_face,
        l1_min=bp.l1_norm,
        references=references,
        rows=tuple(rows),
        fits=fits,
        elapsed_s=time.perf_counter() - start,
        t_end_rule=None if t_end_rule is None else t_end_rule.text,
    )


def predicted_slope(depth: float, margin: float, off_face: int) -> float:
    """Theory's slope of log error against log alpha^p (see the module docstring)."""
    if depth > 2.0:
        return 1.0
    return margin if off_face else 2.0


def fit_rate(rows: Sequence[CompareRowReport], predicted: float, *, scale: float) -> FitReport:
    """Least-squares slope of log10 error_l2 vs log10 alpha^p over the asymptotic points."""
    depth = rows[0].depth if rows else math.nan
    problem = rows[0].problem if rows else ""
    ordered = sorted(rows, key=lambda r: -r.log10_alpha_p)
    broken = [r for r in ordered if ordered and r.error_l2 < 0.5 * ordered[0].error_l2]
    break_at = broken[0].log10_alpha_p if broken else None
    usable = sorted((r for r in rows if r.error_l2 > FLOOR * scale), key=lambda r: r.log10_alpha_p)[
        :FIT_POINTS
    ]
    x = np.array([r.log10_alpha_p for r in usable])
    if len(usable) < 2 or np.ptp(x) == 0:
        return FitReport(problem, depth, None, predicted, False, len(usable), break_at)
    y = np.log10([r.error_l2 for r in usable])
    slope = float(np.polyfit(x, y, 1)[0])
    agrees = abs(slope - predicted) <= SLOPE_TOLERANCE
    return FitReport(problem, depth, slope, predicted, agrees, len(usable), break_at)
