"""One function per command: the experiments the CLI (and a notebook) runs (docs/api.md).

Each takes the problem as ``A, y`` (numpy arrays or a scipy.sparse A) or as a
:class:`~dlncli.problem_io.Problem`, keyword options, and ``time_limit``: one budget in
seconds for the whole computation (every stage gets what is left; TimeLimitError when it
runs out). Each returns a frozen report of :mod:`dlncli.reports` whose ``to_dict()`` is the
command's JSON document. Nothing here prints, reads or writes files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from dlncli.arrays import LN10, FloatArray
from dlncli.blas import one_blas_thread
from dlncli.deadline import Deadline
from dlncli.dln.early_stop import Watch
from dlncli.dln.train import DEFAULT_MAX_STEPS, DEFAULT_TOL
from dlncli.errors import (
    OptionError,
    ProblemFormatError,
    RunFailedError,
    SolverError,
    TimeLimitError,
)
from dlncli.problem import INTEGER, Problem, parse_alpha, parse_decimal
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
    ProblemComparison,
    ProblemInfo,
    RecoverReport,
    RecoverRow,
    SamplesReport,
    TheoryReport,
    TieBreakReport,
    TrainReport,
    Variant,
    VerifyRow,
    alpha_p_fits_float,
    exp_or_none,
)

ProblemLike = Problem | str | Any  # a Problem, a sample name or path, or A: (m, N) / sparse

FLOW_METHODS = ("ode", "raw", "raw-lsoda")
DEFAULT_ALPHA = "1e-6"
DEFAULT_TIEBREAK_DEPTHS = ("2", "2.5", "3", "4", "inf")
DEFAULT_COMPARE_DEPTHS = ("2", "2.5", "3", "4")
DEFAULT_POTENTIAL_DEPTHS = ("2", "2.5", "3", "4")
DEFAULT_LOG10_ALPHA_P = tuple(float(-k) for k in range(10))  # alpha^p = 1, 1e-1, ..., 1e-9
VERIFY_LOG10_ALPHA_P = (-2.0, -4.0, -8.0, -16.0)


# --------------------------------------------------------------------------- inputs


def as_problem(problem: ProblemLike, y: Any = None, *, name: str = "arrays") -> Problem:
    """A :class:`Problem` from a Problem, a sample name or file path (:func:`load_problem`),
    or A (m, N) (dense or scipy.sparse, densified) and y (m,), checked for shape and
    finiteness like a loaded file (named ``name``)."""
    if isinstance(problem, str):
        from dlncli.problem_io import load_problem

        if y is not None:
            raise OptionError("y", "given", "no y with a problem name (give A and y, or a name)")
        return load_problem(problem)
    if isinstance(problem, Problem):
        if y is not None:
            raise OptionError("y", "given", "no y with a Problem (give A and y, or a Problem)")
        return problem
    if y is None:
        raise OptionError("y", None, "y (m,) with an array A (m, N), or a Problem")
    dense = problem.toarray() if hasattr(problem, "toarray") else problem
    if np.iscomplexobj(dense) or np.iscomplexobj(y):
        raise ProblemFormatError(f"{name}: A or y is complex; expected real numbers")
    A = np.array(dense, dtype=np.float64)
    b = np.array(y, dtype=np.float64).reshape(-1)
    if A.ndim != 2 or b.shape != (A.shape[0],) or A.size == 0:
        raise ValueError(f"A has shape {A.shape} and y {b.shape}; expected (m, N) and (m,)")
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
        raise ValueError("A and y must be finite")
    return Problem(name, A, b)


def _info(prob: Problem) -> ProblemInfo:
    m, n = prob.shape
    return ProblemInfo(prob.name, m, n)


def check_depth(depth: float, option: str = "depth") -> float:
    """A depth p as a float; OptionError unless it is a finite real number >= 2."""
    if isinstance(depth, bool) or not isinstance(depth, int | float):
        raise OptionError(option, depth, "a real number >= 2")
    value = float(depth)
    if not (math.isfinite(value) and value >= 2):
        raise OptionError(option, depth, "a real number >= 2")
    return value


def parse_small_alpha(alpha: str | float, option: str) -> float:
    """ln alpha for 0 < alpha < 1 (the path is the alpha -> 0 limit)."""
    try:
        _, log_alpha = parse_alpha(alpha)
    except OptionError as exc:
        raise OptionError(option, alpha, exc.expected) from None
    if log_alpha >= 0:
        raise OptionError(option, alpha, "a number 0 < α < 1 (the path is the α → 0 limit)")
    return log_alpha


def depth_labels(depths: Sequence[str | float], *, allow_inf: bool) -> list[tuple[str, float]]:
    """Depths as (label, p): strings keep their text ("2.5", "inf"), floats are written
    with ``:g``. ValueError for p < 2, NaN, inf (unless allowed) or a repeated depth."""
    out: list[tuple[str, float]] = []
    for depth in depths:
        if isinstance(depth, str):
            try:
                label, value = depth, parse_decimal(depth)
            except ValueError:
                raise OptionError(
                    "depths",
                    depth,
                    "e.g. 2.5",
                    f"{depth!r} is not a plain decimal number; expected e.g. 2.5",
                ) from None
        else:
            label, value = f"{float(depth):g}", float(depth)
        if math.isnan(value) or value < 2 or (math.isinf(value) and not allow_inf):
            expected = "a real number >= 2 or inf" if allow_inf else "a finite real number >= 2"
            raise OptionError("depths", label, expected, f"{label!r}; expected {expected}")
        if any(v == value for _, v in out):
            raise OptionError("depths", label, "distinct depths", f"{label!r} is given twice")
        out.append((label, value))
    return out


def log10_range(start: float, stop: float, num: int) -> list[float]:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive (numpy's linspace)."""
    return [float(v) for v in np.linspace(start, stop, num)]


# --------------------------------------------------------------------------- solve-bp


def solve_bp(
    problem: ProblemLike,
    y: Any = None,
    *,
    solver: str = "choose",
    ranges: bool = False,
    time_limit: float | None = None,
) -> BPReport:
    """Basis pursuit min ||x||_1 s.t. A x = y (HiGHS), certified unique or its face described.

    Parameters
    ----------
    problem, y : a Problem, a sample name or file path, or A (m, N) (dense or scipy.sparse,
        kept sparse) and y (m,).
    solver : HiGHS LP solver for the main solve: "choose", "simplex", "ipm" or "pdlp".
    ranges : also give [min, max] of each face coordinate over the face (2 LPs each).
    time_limit : seconds for the whole call, or None.

    Raises
    ------
    InfeasibleError : y is not in the range of A.  TimeLimitError : the budget ran out.
    """
    from dlncli.bp.verdict import solve_basis_pursuit

    if isinstance(problem, Problem | str) or not hasattr(problem, "toarray"):
        prob = as_problem(problem, y)
        A: Any = prob.A
        b = prob.y
        info = _info(prob)
    else:  # scipy.sparse: HiGHS takes it as it is
        A, b = problem, np.asarray(y, dtype=np.float64).reshape(-1)
        info = ProblemInfo("arrays", int(A.shape[0]), int(A.shape[1]))
    sol = solve_basis_pursuit(A, b, solver=solver, time_limit=time_limit, ranges=ranges)
    correlations = np.asarray(A.T @ sol.dual, dtype=np.float64).reshape(-1)
    return BPReport(info, sol, correlations)


# --------------------------------------------------------------------------- flow


def flow(
    problem: ProblemLike,
    y: Any = None,
    *,
    alpha: str | float | None = None,
    depth: float = 3.0,
    t_end: float | None = None,
    limit_only: bool = False,
    method: str = "ode",
    trajectory: bool = False,
    init: str | Path | tuple[Any, Any] | None = None,
    max_bytes: int | None = None,
    holdout: float | None = None,
    seed: int = 0,
    time_limit: float | None = None,
    progress: Callable[[float], None] | None = None,
    status: Callable[[str], None] | None = None,
) -> FlowReport:
    """The DLN flow x = u^p - v^p, u' = -grad_u L, v' = -grad_v L for L = 1/2 ||A x - y||^2,
    from u = v = alpha, and its exact limit x_alpha = lim_{t -> inf} x(t) (docs/model.md,
    docs/limit.md), with their agreement and the distance to BP's (or the tie-break's) x*.

    Parameters
    ----------
    problem, y : a Problem, a sample name or file path, or A (m, N) (dense or scipy.sparse)
        and y (m,).
    alpha : initialization scale alpha > 0; a decimal string keeps any exponent exactly
        ("1e-1000"), a float is taken as it is.
    depth : p >= 2 (real).
    t_end : integrate to this time (user units) instead of to convergence.
    limit_only : skip the ODE; compute only the exact limit.
    method : "ode" (the exact m-dimensional reduction), "raw" / "raw-lsoda" (the 2N-dim
        (u, v) flow with Radau rtol 2.5e-14 / LSODA rtol 1e-12, to ``t_end`` or the horizon
        1e9 alpha^(2-p); needs 1e-300 < alpha^p < 1e300).
    trajectory : keep t, x(t), loss(t), u(t), v(t) in ``report.trajectory``.
    init : start from a per-coordinate u(0) = u0, v(0) = v0 instead of u = v = alpha: an .npz
        path holding u0 and v0 (or log_u0 and log_v0; read under the cap ``max_bytes``), or a
        pair (log_u0, log_v0) of (N,) arrays. Gives the exact limit only (docs/train.md).
    holdout, seed : run the flow on all rows but this fraction (drawn from ``seed``) and
        record the held-out loss along the ODE; with the problem's ``x_true`` the error
        ||x(t) - x_true||_2 is recorded too: ``report.early_stop`` (docs/noise.md).
    time_limit : seconds for the whole computation, or None.
    progress : called with the fraction of the ODE done; status : called with what runs now.

    Raises
    ------
    ValueError : an option out of range (as the CLI's usage errors).
    InfeasibleError, TimeLimitError, SolverError : as the command's exit codes 1 and 4.
    """
    prob = as_problem(problem, y)
    if init is not None:
        return _flow_from_init(prob, init, alpha, depth, t_end, method, trajectory, max_bytes,
                               time_limit)  # fmt: skip
    alpha_text, log_alpha = parse_alpha(DEFAULT_ALPHA if alpha is None else alpha)
    depth = check_depth(depth)
    if method not in FLOW_METHODS:
        raise OptionError("method", method, f"one of {', '.join(FLOW_METHODS)}")
    if limit_only and t_end is not None:
        raise OptionError("t_end", t_end, "no limit_only", "integrates the ODE; drop --limit-only")
    if t_end is not None and not (isinstance(t_end, int | float) and t_end > 0):
        raise OptionError("t_end", t_end, "a time > 0", f"{t_end}; expected a time > 0")
    if method != "ode" and limit_only:
        raise OptionError(
            "method", method, "ode with limit_only", f"{method} runs the flow; drop --limit-only"
        )
    if trajectory and limit_only:
        raise OptionError("trajectory", True, "no limit_only", "needs the ODE; drop --limit-only")
    say = status or (lambda text: None)
    if method == "ode":
        A_train, y_train, watch = _early_stopping_split(prob, holdout, seed)
        if watch is not None and watch.A_hold is not None:
            prob = replace(prob, A=A_train, y=y_train)
        if watch is not None and limit_only and watch.A_hold is not None:
            raise OptionError(
                "holdout", holdout, "the ODE", "stops along the ODE; drop --limit-only"
            )
        return _ode_flow(
            prob, depth, alpha_text, log_alpha, t_end, limit_only, trajectory, time_limit,
            progress=progress, status=say, watch=watch,
        )  # fmt: skip
    if holdout is not None:
        raise OptionError("holdout", holdout, "--method ode", "stops along the ODE (--method ode)")
    if not alpha_p_fits_float(depth, log_alpha):
        raise OptionError(
            "alpha",
            alpha_text,
            "1e-300 < alpha^p < 1e300",
            f"{alpha_text} gives α^p = 1e{depth * log_alpha / LN10:.4g}; --method {method} "
            "works in floating point and needs 1e-300 < α^p < 1e300 (alpha^p = alpha**depth in "
            "float64: 1e-300 < alpha^p < 1e300)",
        )
    return _raw_flow(
        prob, depth, alpha_text, log_alpha, t_end, method, trajectory, time_limit,
        progress=progress,
    )  # fmt: skip


def _flow_from_init(
    prob: Problem,
    init: str | Path | tuple[Any, Any],
    alpha: str | float | None,
    depth: float,
    t_end: float | None,
    method: str,
    trajectory: bool,
    max_bytes: int | None,
    time_limit: float | None,
) -> FlowReport:
    """flow(init=...): the exact limit from a per-coordinate start."""
    from dlncli.problem_io import load_start

    if t_end is not None or trajectory or method != "ode":
        raise OptionError(
            "init",
            str(init) if isinstance(init, str | Path) else "arrays",
            "no t_end, trajectory or method",
            "the ODE runs from u = v = α only; drop --t-end, --trajectory and --method with "
            "--init (the exact limit is computed)",
        )
    if isinstance(init, str | Path):
        log_u0, log_v0 = load_start(Path(init), prob.A.shape[1], max_bytes=max_bytes)
        name = str(init)
    else:
        log_u0, log_v0 = (np.asarray(v, dtype=np.float64) for v in init)
        name = "arrays"
    report = flow_from_start(
        prob, log_u0=log_u0, log_v0=log_v0, depth=check_depth(depth), init=name,
        time_limit=time_limit,
    )  # fmt: skip
    if alpha is None:
        return report
    note = "--alpha is ignored with --init (the start is per coordinate)"
    return replace(report, notes=(note, *report.notes))


def flow_from_start(
    problem: ProblemLike,
    y: Any = None,
    *,
    log_u0: FloatArray,
    log_v0: FloatArray,
    depth: float = 3.0,
    init: str = "arrays",
    time_limit: float | None = None,
) -> FlowReport:
    """The flow's exact limit from a per-coordinate, unbalanced start (docs/train.md).

    log_u0, log_v0 : (N,) ln u(0) and ln v(0). ``init`` names the start in the report. The
    reference is BP's minimizer (its vertex when BP is not unique: the tie-break rule is for
    balanced starts). One time budget covers the BP anchor and the limit.
    """
    from dlncli.dln.limit import bp_anchor, flow_limit

    prob = as_problem(problem, y)
    start = time.perf_counter()
    deadline = Deadline(time_limit)
    with one_blas_thread():  # the BLAS policy (docs/performance.md, "Threads")
        anchor = bp_anchor(prob.A, prob.y, time_limit=_time_left(deadline))
        nominal = float(max(np.max(log_u0), np.max(log_v0)))
        limit = flow_limit(
            prob.A,
            prob.y,
            depth=depth,
            log_alpha=nominal,
            anchor=anchor,
            time_limit=_time_left(deadline),
            log_u0=log_u0,
            log_v0=log_v0,
        )
    x = limit.x
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        residual = prob.A @ x - prob.y
        loss = 0.5 * float(residual @ residual)
    return FlowReport(
        problem=_info(prob),
        x=x,
        x_source="exact limit from --init",
        alpha=None,
        alpha_text=f"per coordinate ({init})",
        log10_alpha=nominal / LN10,
        log10_alpha_p=depth * nominal / LN10,
        depth=depth,
        loss=loss if math.isfinite(loss) else None,
        residual_inf=float(np.max(np.abs(residual))),
        l1_norm=float(np.sum(np.abs(x))),
        converged=limit.converged,
        method="limit",
        t_end=None,
        log10_t_end=None,
        limit_agreement=None,
        reference="bp" if anchor.bp.unique else "a BP vertex (BP is not unique)",
        distance_to_reference=float(np.max(np.abs(x - anchor.bp.x))),
        bp_unique=anchor.bp.unique,
        newton_iterations=limit.newton_iterations,
        support_changes=(),
        message=limit.message,
        elapsed_s=time.perf_counter() - start,
        certified=limit.certified,
        limit_route=limit.route,
        certificate_step=limit.check_step,
        certificate_error_bound=_finite_or_none(limit.error_bound),
        certificate_precision=limit.check_precision or None,
        face_correction=None,
        init=init,
        log_u0=log_u0,
        log_v0=log_v0,
    )


def _reference(
    prob: Problem, anchor: Any, depth: float, *, normalized: bool
) -> tuple[str, FloatArray]:
    """BP's minimizer when unique, else the depth's tie-break point on the face."""
    bp = anchor.bp
    if bp.unique:
        return "bp", np.asarray(bp.x, dtype=np.float64)
    from dlncli.dln.limit import normalize
    from dlncli.dln.tiebreak import select_minimizer

    A, y = normalize(prob.A, prob.y, anchor.scale_exp) if normalized else (prob.A, prob.y)
    return "tie-break", select_minimizer(A, y, bp, [depth]).selections[0].x


def _ode_flow(
    prob: Problem,
    depth: float,
    alpha_text: str,
    log_alpha: float,
    t_end: float | None,
    limit_only: bool,
    trajectory: bool,
    time_limit: float | None,
    *,
    progress: Callable[[float], None] | None,
    status: Callable[[str], None],
    watch: Watch | None = None,
) -> FlowReport:
    from dlncli.dln.flow import integrate_flow
    from dlncli.dln.limit import bp_anchor, flow_limit

    start = time.perf_counter()
    deadline = Deadline(time_limit)
    log10_t_end = None if t_end is None else math.log10(t_end)
    with one_blas_thread():  # the BLAS policy (docs/performance.md, "Threads")
        status("flow: solving the basis-pursuit anchor")
        anchor = bp_anchor(prob.A, prob.y, time_limit=time_limit)
        status("flow: computing the exact limit")
        limit = flow_limit(
            prob.A,
            prob.y,
            depth=depth,
            log_alpha=log_alpha,
            anchor=anchor,
            time_limit=_time_left(deadline),
        )
    x = limit.x
    method, source, converged = "limit", "exact limit", limit.converged
    log10_t_end_out: float | None = None
    agreement: float | None = None
    message = limit.message
    changes: tuple[Any, ...] = ()
    notes: list[str] = []
    arrays: dict[str, FloatArray] | None = None
    early_stop: EarlyStop | None = None
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
        if trajectory or log10_t_end is not None:
            raise SolverError(
                f"--trajectory/--t-end need the ODE, which cannot run here: {message}"
            )
        notes.append(message)
    elif not limit_only:
        status("flow: integrating the ODE")
        run = integrate_flow(
            prob.A,
            prob.y,
            depth=depth,
            log_alpha=log_alpha,
            anchor=anchor,
            log10_t_end=log10_t_end,
            time_limit=_time_left(deadline),
            progress=progress,
        )
        message = "; ".join(m for m in (limit.message, run.message) if m)
        if run.reachable:
            method = "ode"
            log10_t_end_out = run.log10_t_end
            changes = run.support_changes
            scale = 1.0 + float(np.max(np.abs(limit.x)))
            if log10_t_end is not None:
                x, source, converged = run.x, "ODE state at t_end", run.converged
            else:
                converged = run.converged
                agreement = float(np.max(np.abs(run.x - limit.x))) / scale
            if watch is not None and watch.active:
                early_stop = _stops_along(run.xs, run.log10_t, watch)
            if trajectory:
                from dlncli.dln.potentials import trajectory_uv

                finite = np.isfinite(run.log10_t)
                t = np.where(finite, 10.0 ** np.minimum(run.log10_t, 300.0), 0.0)
                uv, uv_note = trajectory_uv(run.xs, depth=depth, log_alpha=log_alpha)
                if uv_note:
                    notes.append(uv_note)
                arrays = {
                    "t": t,
                    "log10_t": np.where(finite, run.log10_t, -np.inf),
                    "loss": run.losses,
                    "x": run.xs,
                    **uv,
                    **({} if early_stop is None else early_stop.curves()),
                }
        else:
            notes.append(message)
    status("flow: selecting the depth's minimizer on the face")
    reference, point = _reference(prob, anchor, depth, normalized=True)
    distance = float(np.max(np.abs(x - point)))
    with np.errstate(over="ignore", under="ignore"):  # data near the ends of float range
        residual = prob.A @ x - prob.y
        loss = 0.5 * float(residual @ residual)
    return FlowReport(
        problem=_info(prob),
        x=x,
        x_source=source,
        alpha=exp_or_none(log_alpha),
        alpha_text=alpha_text,
        log10_alpha=log_alpha / LN10,
        log10_alpha_p=depth * log_alpha / LN10,
        depth=depth,
        loss=loss if math.isfinite(loss) else None,
        residual_inf=float(np.max(np.abs(residual))),
        l1_norm=float(np.sum(np.abs(x))),
        converged=converged,
        method=method,
        t_end=None if log10_t_end_out is None or log10_t_end_out > 300 else 10.0**log10_t_end_out,
        log10_t_end=log10_t_end_out,
        limit_agreement=agreement,
        reference=reference,
        distance_to_reference=distance,
        bp_unique=anchor.bp.unique,
        certified=limit.certified,
        limit_route=limit.route,
        certificate_step=None if math.isnan(limit.check_step) else limit.check_step,
        certificate_error_bound=_finite_or_none(limit.error_bound),
        certificate_precision=limit.check_precision or None,
        face_correction=None if math.isnan(limit.face_correction) else limit.face_correction,
        newton_iterations=limit.newton_iterations,
        support_changes=tuple(changes),
        message=message,
        elapsed_s=time.perf_counter() - start,
        notes=tuple(notes),
        trajectory=arrays,
        early_stop=early_stop,
    )


def _stops_along(xs: FloatArray, log10_t: FloatArray, watch: Watch) -> EarlyStop:
    """Early stopping along the ODE's recorded states x(t_k) (K, N) at 10**log10_t (K,)."""
    from dlncli.dln.early_stop import summarize

    times = np.where(np.isfinite(log10_t), 10.0 ** np.minimum(log10_t, 300.0), 0.0)
    errors = None
    if watch.x_true is not None:
        errors = np.sqrt(np.sum((xs - watch.x_true) ** 2, axis=1))
    held = None
    if watch.A_hold is not None and watch.y_hold is not None:
        residual = xs @ watch.A_hold.T - watch.y_hold
        held = 0.5 * np.sum(residual * residual, axis=1)
    return summarize(
        times, errors, held, time_unit="t", holdout_fraction=watch.fraction,
        holdout_rows=watch.rows,
    )  # fmt: skip


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _time_left(deadline: Deadline) -> float | None:
    """What is left of the budget, 0 when spent (the stage then reports the time limit
    itself, naming what it was doing)."""
    if deadline.end is None:
        return None
    return max(deadline.end - time.perf_counter(), 0.0)


def _raw_flow(
    prob: Problem,
    depth: float,
    alpha_text: str,
    log_alpha: float,
    t_end: float | None,
    method: str,
    trajectory: bool,
    time_limit: float | None,
    *,
    progress: Callable[[float], None] | None,
) -> FlowReport:
    """The authors' (u, v) integration, checked against the exact limit."""
    from dlncli.dln.flow import integrate_raw_flow
    from dlncli.dln.limit import bp_anchor, flow_limit

    start = time.perf_counter()
    deadline = Deadline(time_limit)
    with one_blas_thread():  # the BLAS policy (docs/performance.md, "Threads")
        anchor = bp_anchor(prob.A, prob.y, time_limit=time_limit)
    run = integrate_raw_flow(
        prob.A,
        prob.y,
        depth=depth,
        alpha=math.exp(log_alpha),
        t_end=t_end,
        time_limit=_time_left(deadline),
        method="Radau" if method == "raw" else "LSODA",
        progress=progress,
    )
    if run.status == "time limit":
        raise TimeLimitError(f"{run.message}; use a larger --time-limit or --method ode")
    if run.status != "finished":
        raise RunFailedError(
            f"--method {method}: {run.message}",
            {"status": "failed", "method": method, "message": run.message},
        )
    with one_blas_thread():
        limit = flow_limit(
            prob.A,
            prob.y,
            depth=depth,
            log_alpha=log_alpha,
            anchor=anchor,
            time_limit=_time_left(deadline),
        )
    reference, point = _reference(prob, anchor, depth, normalized=False)
    residual = prob.A @ run.x - prob.y
    return FlowReport(
        problem=_info(prob),
        x=run.x,
        x_source="raw (u, v) state at t_end",
        alpha=math.exp(log_alpha),
        alpha_text=alpha_text,
        log10_alpha=log_alpha / LN10,
        log10_alpha_p=depth * log_alpha / LN10,
        depth=depth,
        loss=0.5 * float(residual @ residual),
        residual_inf=float(np.max(np.abs(residual))),
        l1_norm=float(np.sum(np.abs(run.x))),
        converged=True,
        method=method,
        t_end=run.t_end,
        log10_t_end=math.log10(run.t_end),
        limit_agreement=float(np.max(np.abs(run.x - limit.x)))
        / (1.0 + float(np.max(np.abs(limit.x)))),
        reference=reference,
        distance_to_reference=float(np.max(np.abs(run.x - point))),
        bp_unique=anchor.bp.unique,
        newton_iterations=limit.newton_iterations,
        raw_steps=run.steps,
        support_changes=tuple(run.support_changes),
        message=run.message,
        elapsed_s=time.perf_counter() - start,
        trajectory=run.trajectory() if trajectory else None,
    )


# --------------------------------------------------------------------------- tie-break


def tie_break(
    problem: ProblemLike,
    y: Any = None,
    *,
    depths: Sequence[str | float] | None = None,
    verify: bool = False,
    time_limit: float | None = None,
    status: Callable[[str], None] | None = None,
) -> TieBreakReport:
    """Which BP minimizer the flow selects as alpha -> 0, per depth: on the face S of BP
    minimizers, x*_p = argmin over S of sum_i g_p(|x_i|) with g_2(x) = x log x,
    g_p(x) = -x^(2/p) for 2 < p < inf and g_inf(x) = -log x (docs/potentials.md).

    Parameters
    ----------
    problem, y : a Problem, a sample name or file path, or A (m, N) (dense or scipy.sparse)
        and y (m,).
    depths : depths p >= 2 or inf; strings keep their text as labels ("2.5", "inf").
    verify : also compute the flow's exact limit at alpha^p = 1e-2, 1e-4, 1e-8, 1e-16 and
        its distance to x*_p (finite depths; inf is skipped with a note).
    time_limit : seconds for the whole computation (BP, selections and --verify), or None.
    status : called with what runs now.
    """
    from dlncli.bp.verdict import solve_basis_pursuit
    from dlncli.dln.limit import bp_anchor, flow_limit
    from dlncli.dln.tiebreak import select_minimizer

    prob = as_problem(problem, y)
    parsed = depth_labels(depths or DEFAULT_TIEBREAK_DEPTHS, allow_inf=True)
    say = status or (lambda text: None)
    deadline = Deadline(time_limit)
    say("tie-break: solving basis pursuit and its face")
    bp = solve_basis_pursuit(prob.A, prob.y, ranges=True, deadline=deadline)
    say("tie-break: selecting a minimizer per depth")
    result = select_minimizer(prob.A, prob.y, bp, [v for _, v in parsed])
    pairs = list(zip(parsed, result.selections, strict=True))
    selected = {label: sel.x for (label, _), sel in pairs}
    distances = {
        a: {b: float(np.max(np.abs(selected[a] - selected[b]))) for b in selected} for a in selected
    }
    notes: list[str] = []
    checks: dict[str, tuple[VerifyRow, ...]] | None = None
    if verify:
        say("tie-break: --verify against the flow's exact limits")
        checks = {}
        with one_blas_thread():  # the BLAS policy (docs/performance.md, "Threads")
            anchor = bp_anchor(prob.A, prob.y, bp=bp)  # reuses the BP solve above
            for label, depth in parsed:
                if math.isinf(depth):
                    notes.append("--verify skips depth inf: there is no flow at infinite depth")
                    continue
                rows = []
                for level in VERIFY_LOG10_ALPHA_P:
                    limit = flow_limit(
                        prob.A,
                        prob.y,
                        depth=depth,
                        log_alpha=level / depth * LN10,
                        anchor=anchor,
                        time_limit=deadline.remaining("tie-break --verify"),
                    )
                    distance = float(np.max(np.abs(limit.x - selected[label])))
                    rows.append(VerifyRow(level, level / depth, distance))
                checks[label] = tuple(rows)
    return TieBreakReport(
        problem=_info(prob),
        labels=tuple(label for label, _ in parsed),
        depths=tuple(v for _, v in parsed),
        unique=result.unique,
        face_dimension=result.face_dimension,
        l1_norm=result.l1_norm,
        support=result.support,
        signs=result.signs,
        ranges=bp.face.ranges,
        selected=selected,
        distances=distances,
        newton_iterations={label: sel.iterations for (label, _), sel in pairs},
        elapsed_s=result.elapsed_s + bp.elapsed_s,
        notes=tuple(notes),
        verify=checks,
    )


# --------------------------------------------------------------------------- path


def path(
    problem: ProblemLike,
    y: Any = None,
    *,
    depth: float = 2.0,
    alpha: str | float | None = None,
    check_alpha: str | float | None = None,
    compare_bp: bool = True,
    time_limit: float | None = None,
) -> PathReport:
    """The alpha -> 0 limit of the flow as an exact saddle-to-saddle path (``dlncli path``).

    Parameters
    ----------
    problem, y : a Problem, a sample name or file path, or A (m, N) and y (m,).
    depth : p >= 2 (real); it sets the time scale and the tie-break of degenerate saddles.
    alpha : 0 < alpha < 1: also give each saddle's physical time t_k at this alpha.
    check_alpha : 0 < alpha < 1: integrate the flow at this alpha and report each jump's
        observed rescaled time.
    compare_bp : measure the last saddle against solve-bp's minimizer.
    time_limit : seconds for the whole call, or None.
    """
    from dlncli.dln.path import path as saddle_path

    log_alpha = None if alpha is None else parse_small_alpha(alpha, "alpha")
    check_log_alpha = None if check_alpha is None else parse_small_alpha(check_alpha, "check_alpha")
    prob = as_problem(problem, y)
    report = saddle_path(
        prob.A,
        prob.y,
        depth=check_depth(depth),
        log_alpha=log_alpha,
        check_log_alpha=check_log_alpha,
        compare_bp=compare_bp,
        time_limit=time_limit,
    )
    return replace(report, problem=_info(prob))


# --------------------------------------------------------------------------- compare


@overload
def compare(
    problems: ProblemLike | Sequence[Problem],
    y: Any = None,
    *,
    method: Literal["gd"],
    **options: Any,
) -> CompareGdReport: ...


@overload
def compare(
    problems: ProblemLike | Sequence[Problem],
    y: Any = None,
    *,
    method: Literal["limit"] = "limit",
    **options: Any,
) -> CompareReport: ...


@overload
def compare(
    problems: ProblemLike | Sequence[Problem],
    y: Any = None,
    *,
    method: str,
    **options: Any,
) -> CompareReport | CompareGdReport: ...


def compare(  # type: ignore[misc]  # the overloads name the options of each method as **options
    problems: ProblemLike | Sequence[Problem],
    y: Any = None,
    *,
    depths: Sequence[str | float] | None = None,
    alphas: Sequence[str | float] | None = None,
    alpha_range: tuple[str | float, str | float, str | int] | None = None,
    alpha_p_range: tuple[str | float, str | float, str | int] | None = None,
    log10_alphas: Sequence[float] | None = None,
    log10_alpha_p: Sequence[float] = DEFAULT_LOG10_ALPHA_P,
    use_ode: bool = False,
    t_end_rule: str | None = None,
    fail_above: float | None = None,
    method: str = "limit",
    lrs: Sequence[str | float] | None = None,
    time_limit: float | None = None,
    progress: Callable[[float], None] | None = None,
    on_problem: Callable[[int, Problem], None] | None = None,
) -> CompareReport | CompareGdReport:
    """The flow's limit x_alpha against BP's x* (or each depth's tie-break point) across
    alpha and depth, the fitted rate of ||x_alpha - x*||_2 against alpha^p beside theory's
    (slope 1 for p > 2, the dual margin gamma for p = 2; docs/model.md), and a CI gate.

    Parameters
    ----------
    problems, y : a Problem or sample name/path, a sequence of them, or A (m, N) and y (m,).
    depths : depths p >= 2 (finite).
    alphas : alpha values shared by every depth (decimal strings keep any exponent).
    alpha_range, alpha_p_range : (start, stop, num): num log-spaced values of alpha, or of
        alpha^p for every depth (at most one of alphas, alpha_range, alpha_p_range).
    log10_alphas : log10 alpha values shared by every depth; None: the per-depth grid
        alpha^p = 10**log10_alpha_p (default 1, 1e-1, ..., 1e-9).
    use_ode : integrate the ODE to convergence instead of using the exact limit.
    t_end_rule : integrate the ODE to the horizon t_end(p, alpha), e.g. "1e9*alpha^(2-p)".
    fail_above : the gate: fail when error_l2 at a depth's smallest alpha exceeds it.
    method : "limit" (the above) or "gd": gradient descent at one alpha (default 1e-3) and
        depth (default 2) across the step sizes ``lrs``, its distance to BP
        (:class:`CompareGdReport`).
    time_limit : seconds for the whole computation (every problem), or None.
    progress : called with the fraction of a problem's grid done; on_problem : called with
        (index, problem) before each problem.
    """
    from dlncli.dln.compare import compare_flow_to_bp

    if method not in ("limit", "gd"):
        raise OptionError("method", method, "limit or gd")
    if lrs is not None and method != "gd":
        raise OptionError("lrs", lrs, "--method gd", "applies to --method gd only")
    if isinstance(problems, Problem | str) or y is not None:
        items = [as_problem(problems, y)]
    else:
        items = [as_problem(p) for p in problems]
    if not items:
        raise OptionError("problems", "", "at least one problem")
    if method == "gd":
        given = {
            "--alpha-range": alpha_range is not None,
            "--alpha-p-range": alpha_p_range is not None,
            "--ode": use_ode,
            "--t-end-rule": t_end_rule is not None,
            "--fail-above": fail_above is not None,
        }
        refused = [k for k, v in given.items() if v]
        if refused:
            raise OptionError(
                "method", "gd", "gd with --lr, --alpha and --depth",
                f"gd takes --lr, --alpha and --depth; drop {', '.join(refused)}",
            )  # fmt: skip
        return _compare_gd(items, depths or ("2",), alphas, lrs)
    parsed = depth_labels(list(depths or DEFAULT_COMPARE_DEPTHS), allow_inf=False)
    if sum(g is not None and len(g) > 0 for g in (alphas, alpha_range, alpha_p_range)) > 1:
        raise OptionError(
            "alphas", alphas, "one grid", "give one of --alpha, --alpha-range, --alpha-p-range"
        )
    grid = None if log10_alphas is None else [float(v) for v in log10_alphas]
    if alphas:
        grid = [parse_alpha(a)[1] / LN10 for a in alphas]
    elif alpha_range is not None:
        grid = _log_range(alpha_range, "alpha_range")
    grid_p = (
        _log_range(alpha_p_range, "alpha_p_range")
        if alpha_p_range is not None
        else [float(v) for v in log10_alpha_p]
    )
    points = len(parsed) * len(grid if grid is not None else grid_p)
    if points > MAX_GRID_POINTS:
        raise OptionError(
            "alpha_range", points, f"at most {MAX_GRID_POINTS} points",
            f"the grid has {len(parsed)} depth(s) x {points // len(parsed)} alpha values = "
            f"{points} points, each a limit solve; expected at most {MAX_GRID_POINTS}",
        )  # fmt: skip
    rule = None if t_end_rule is None else _t_end_rule(t_end_rule)
    deadline = Deadline(time_limit)
    done: list[ProblemComparison] = []
    for index, prob in enumerate(items):
        if on_problem is not None:
            on_problem(index, prob)
        result = compare_flow_to_bp(
            prob.A,
            prob.y,
            depths=[v for _, v in parsed],
            log10_alphas=lambda p: grid if grid is not None else [lp / p for lp in grid_p],
            use_ode=use_ode,
            t_end_rule=rule,
            time_limit=deadline.remaining("compare"),
            progress=progress,
            name=prob.name,
        )
        done.append(
            ProblemComparison(
                problem=_info(prob),
                reference=result.reference,
                dual_margin=result.dual_margin,
                l1_min=result.l1_min,
                off_face_coordinates=result.off_face,
                rows=result.rows,
                fits=result.fits,
                elapsed_s=result.elapsed_s,
                t_end_rule=result.t_end_rule,
            )
        )
    return CompareReport(
        problems=tuple(done),
        method="horizon" if rule is not None else "ode" if use_ode else "limit",
        t_end_rule=None if rule is None else rule.text,
        fail_above=fail_above,
        failures=tuple(gate(done, fail_above)),
    )


MAX_GRID_POINTS = 2000  # depths x alpha values per problem; each point is one limit solve


def _t_end_rule(text: str) -> Any:
    from dlncli.dln.compare import parse_t_end_rule

    try:
        return parse_t_end_rule(text)
    except ValueError as exc:
        raise OptionError("t_end_rule", text, "a rule in alpha and p", str(exc)) from None


def _log_range(spec: tuple[str | float, str | float, str | int], option: str) -> list[float]:
    """(start, stop, num) -> num log10 values evenly spaced from log10 start to log10 stop."""
    start, stop, num_given = spec
    num_text = str(num_given)
    if INTEGER.fullmatch(num_text) is None:
        raise OptionError(
            option, num_text, "a plain decimal integer",
            f"NUM is {num_text!r}; expected a plain decimal integer",
        )  # fmt: skip
    num = int(num_text)
    if not 1 <= num <= MAX_GRID_POINTS:
        raise OptionError(
            option, num, f"1 <= NUM <= {MAX_GRID_POINTS}",
            f"NUM is {num}; expected 1 <= NUM <= {MAX_GRID_POINTS} (each value is a limit solve)",
        )  # fmt: skip
    try:
        lo, hi = (parse_alpha(v)[1] / LN10 for v in (start, stop))
    except OptionError as exc:
        raise OptionError(option, exc.value, exc.expected, str(exc)) from None
    return log10_range(lo, hi, num)


def _compare_gd(
    items: Sequence[Problem],
    depths: Sequence[str | float],
    alphas: Sequence[str | float] | None,
    lrs: Sequence[str | float] | None,
) -> CompareGdReport:
    """compare(method="gd"): GD's distance to BP against the step size, at one alpha."""
    from dlncli.dln.train import sweep_step_sizes

    if not lrs:
        raise OptionError(
            "lrs", None, "one or more step sizes η > 0",
            "missing; expected one or more step sizes η > 0",
        )  # fmt: skip
    steps = [_positive_number(v, "lrs") for v in lrs]
    if alphas is not None and len(alphas) > 1:
        raise OptionError(
            "alphas", list(alphas), "one α", f"{list(alphas)}; --method gd takes one α"
        )
    alpha_text, log_alpha = parse_alpha(alphas[0] if alphas else "1e-3")
    parsed = depth_labels(list(depths), allow_inf=False)
    records = tuple(
        (_info(prob), sweep_step_sizes(prob.A, prob.y, depth=p, log_alpha=log_alpha, lrs=steps))
        for prob in items
        for _, p in parsed
    )
    return CompareGdReport(alpha_text=alpha_text, records=records)


def _positive_number(value: str | float, option: str) -> float:
    """A finite number > 0 given as a plain decimal string or a number."""
    try:
        number = parse_decimal(value) if isinstance(value, str) else float(value)
    except ValueError:
        raise OptionError(
            option, value, "e.g. 2.5", f"{value!r} is not a plain decimal number; expected e.g. 2.5"
        ) from None
    if not (math.isfinite(number) and number > 0):
        raise OptionError(option, value, "a finite number > 0")
    return number


def gate(comparisons: Sequence[ProblemComparison], tol: float | None) -> list[str]:
    """The --fail-above check: one line per (problem, depth) whose error_l2 at the smallest
    alpha exceeds ``tol`` (none when ``tol`` is None)."""
    if tol is None:
        return []
    failures = []
    for comparison in comparisons:
        for depth in sorted({r.depth for r in comparison.rows}):
            last = min(
                (r for r in comparison.rows if r.depth == depth), key=lambda r: r.log10_alpha
            )
            if last.error_l2 > tol:
                failures.append(
                    f"{comparison.problem.name}: p = {depth:g}: error {last.error_l2:.3g} at "
                    f"alpha = 1e{last.log10_alpha:.4g} exceeds --fail-above {tol:g}"
                )
    return failures


__all__ = [
    "as_problem",
    "compare",
    "flow",
    "flow_from_start",
    "gate",
    "parse_alpha",
    "path",
    "phase",
    "potentials",
    "recover",
    "sample_list",
    "solve_bp",
    "theory",
    "tie_break",
    "train",
]


# --------------------------------------------------------------------------- train


def train(
    problem: ProblemLike,
    y: Any = None,
    *,
    lr: float,
    alpha: str | float = "1e-3",
    depth: float = 2.0,
    batch: int | None = None,
    seed: int = 0,
    max_steps: int = DEFAULT_MAX_STEPS,
    tol: float = DEFAULT_TOL,
    holdout: float | None = None,
    predict: bool = True,
    time_limit: float | None = None,
) -> TrainReport:
    """Train the DLN by gradient descent (SGD with ``batch``) from u = v = alpha (``dlncli
    train``), and explain its result exactly by the flow limit from GD's effective start.

    Parameters
    ----------
    problem, y : a Problem, a sample name or file path, or A (m, N) and y (m,).
    lr : the step size eta > 0.
    alpha : initialization scale alpha > 0 (a decimal string keeps any exponent exactly).
    depth : p >= 2 (real).
    batch : B rows per SGD step (at most m), or None for full-batch GD.
    seed : seed of the SGD row draws.  max_steps : K >= 0.
    tol : converged when the loss <= tol * 1/2 ||y||^2.
    holdout : train on all rows but this fraction, drawn from ``seed``, and record the loss
        on the held-out rows at every step (early stopping, docs/noise.md). With the
        problem's ``x_true`` the error ||x - x_true||_2 is recorded too: ``report.early_stop``.
    predict : also compute the flow limits that explain GD's result (False: the steps only).
    time_limit : seconds for the whole call, or None.
    """
    from dlncli.dln.train import train as descend

    _, log_alpha = parse_alpha(alpha)
    prob = as_problem(problem, y)
    A_train, y_train, watch = _early_stopping_split(prob, holdout, seed)
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise OptionError("lr", lr, "a step size eta > 0")
    m = prob.A.shape[0]
    if batch is not None and not 1 <= batch <= m:
        raise OptionError("batch", batch, f"at most m = {m} rows (and at least 1)",
                          f"{batch}; expected at most m = {m} rows")  # fmt: skip
    if max_steps < 0:
        raise OptionError("max_steps", max_steps, "a whole number >= 0")
    if not (math.isfinite(tol) and tol > 0):
        raise OptionError("tol", tol, "a number > 0")
    alpha_text, _ = parse_alpha(alpha)
    report = descend(
        A_train,
        y_train,
        depth=check_depth(depth),
        log_alpha=log_alpha,
        lr=float(lr),
        batch=batch,
        seed=seed,
        max_steps=max_steps,
        tol=tol,
        predict=predict,
        watch=watch,
        time_limit=time_limit,
    )
    return replace(report, problem=_info(prob), alpha_text=alpha_text)


def _early_stopping_split(
    prob: Problem, holdout: float | None, seed: int
) -> tuple[FloatArray, FloatArray, Watch | None]:
    """The rows to train on and what to watch along the run: the error to the problem's
    x_true (when it has one) and the loss on ``holdout`` (a fraction) of the rows."""
    from dlncli.dln.early_stop import Watch, holdout_rows

    if holdout is None:
        watch = None if prob.x_true is None else Watch(x_true=prob.x_true)
        return prob.A, prob.y, watch
    m = prob.A.shape[0]
    if not (isinstance(holdout, int | float) and 0 < holdout < 1):
        raise OptionError("holdout", holdout, "a fraction 0 < holdout < 1")
    mask = holdout_rows(m, float(holdout), seed)
    kept = int(m - mask.sum())
    support = 0 if prob.x_true is None else int(np.count_nonzero(prob.x_true))
    if mask.sum() < 1 or kept < max(support, 1):
        raise OptionError(
            "holdout", holdout, f"a fraction leaving at least {max(support, 1)} of the m = {m} "
            "rows to train on (the support of x_true) and holding out at least one",
            f"{holdout} holds out {int(mask.sum())} of m = {m} rows and leaves {kept}; expected "
            f"at least one held out and at least {max(support, 1)} kept (the support of x_true)",
        )  # fmt: skip
    rows = tuple(int(i) for i in np.flatnonzero(mask))
    watch = Watch(prob.x_true, prob.A[mask], prob.y[mask], rows, float(holdout))
    return prob.A[~mask], prob.y[~mask], watch


# --------------------------------------------------------------------------- potentials


def potentials(
    depths: Sequence[str | float] | None = None,
    *,
    z: Sequence[str | float] | None = None,
    w: Sequence[float] | None = None,
    figure: bool = False,
) -> PotentialsReport:
    """h_p, q_p and g_p, the functions behind the flow's limit and tie-break (``dlncli
    potentials``, docs/potentials.md).

    depths : p >= 2 each.  z : points for h_p (in (-1, 1) when some p > 2); default a fixed
    grid.  w : points for q_p and g_p; default the grid w = h_p(z) of each depth.
    figure : also evaluate the curves of the paper's figure 3 (``figure_h``, ``figure_w``).
    """
    from dlncli.dln.potentials import DEFAULT_Z, PLOT_W, PLOT_Z, evaluate_potentials

    values = [p for _, p in depth_labels(depths or DEFAULT_POTENTIAL_DEPTHS, allow_inf=False)]
    grid = list(DEFAULT_Z) if z is None else [_finite_number(v, "z") for v in z]
    if not grid:
        raise OptionError("z", "", "at least one point")
    for value in grid:
        if not math.isfinite(value) or (abs(value) >= 1 and any(p > 2 for p in values)):
            raise OptionError("z", value, "-1 < z < 1 (h_p is defined there for p > 2)")
    report = evaluate_potentials(values, z=grid, w=w)
    if not figure:
        return report
    on_z = evaluate_potentials(values, z=PLOT_Z)
    on_w = evaluate_potentials(values, z=[0.0], w=PLOT_W)
    return replace(report, figure_h=on_z.curves, figure_w=on_w.curves)


def _finite_number(value: str | float, option: str) -> float:
    try:
        number = parse_decimal(value) if isinstance(value, str) else float(value)
    except ValueError:
        raise OptionError(option, value, "a number", f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise OptionError(option, value, "a finite number")
    return number


# --------------------------------------------------------------------------- theory


def theory(
    deltas: str | Sequence[float] | None,
    *,
    rhos: str | Sequence[float] | None = None,
    noise: str | float | None = None,
) -> TheoryReport | NoiseTheoryReport:
    """The asymptotic weak threshold rho_W(delta) of basis pursuit (Donoho-Tanner) at each
    delta = m / N in (0, 1] (``dlncli phase --theory``): a list, or "a,b,c" /
    "start:stop:count" text.

    With ``noise`` = sigma > 0 (``phase --theory --noise SIGMA``): the lasso's minimax noise
    sensitivity M*(delta, rho) for every delta and every rho in ``rhos`` (default 0.1:0.9:9),
    with rho_W(delta), as a NoiseTheoryReport (docs/noise.md); sigma = 0 is the noiseless
    table.
    """
    from dlncli.transition.theory import weak_threshold_table

    if deltas is None:
        raise OptionError(
            "deltas", None, "a list like 0.25,0.5", "missing; expected a list like 0.25,0.5"
        )
    values = _grid_floats(deltas, "deltas")
    if any(not 0 < d <= 1 for d in values):
        shown = deltas if isinstance(deltas, str) else list(deltas)
        raise OptionError(
            "deltas", shown, "values in (0, 1]", f"{shown!r}; expected values in (0, 1]"
        )
    sigma = _noise_level(noise)
    if sigma == 0.0:
        return weak_threshold_table(values)
    from dlncli.noise.theory import noise_sensitivity_table

    rho_values = _grid_floats(DEFAULT_PHASE_RHOS if rhos is None else rhos, "rhos")
    if any(not 0 <= r <= 1 for r in rho_values):
        shown = rhos if isinstance(rhos, str) else list(rho_values)
        raise OptionError(
            "rhos", shown, "values in [0, 1]", f"{shown!r}; expected values in [0, 1]"
        )
    return NoiseTheoryReport(sigma, noise_sensitivity_table(values, rho_values))


# --------------------------------------------------------------------------- phase

DEFAULT_PHASE_RHOS = "0.1:0.9:9"


def phase(
    *,
    n: int | None,
    deltas: str | Sequence[float] | None,
    rhos: str | Sequence[float] = DEFAULT_PHASE_RHOS,
    trials: int = 10,
    methods: str | Sequence[str] = ("bp",),
    depths: str | Sequence[float] | None = None,
    alphas: str | Sequence[str] | None = None,
    lrs: str | Sequence[float] | None = None,
    lr_relative: bool = False,
    variants: Sequence[Variant] | None = None,
    max_steps: int | None = None,
    loss_tol: float | None = None,
    seed: int = 0,
    success_tol: float = 1e-6,
    workers: int | None = None,
    scheduler: str | None = None,
    store: str | Path | None = None,
    resume: bool = False,
    max_bytes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    noise: str | float | None = None,
) -> PhaseReport:
    """Recovery phase diagrams (Donoho-Tanner) over Gaussian ensembles (``dlncli phase``).

    Parameters
    ----------
    n : N, the number of unknowns (A of the largest cell held to ``max_bytes``, default the
        input cap of every command).
    deltas, rhos : delta = m / N and rho = k / m values: a list, or "a,b,c" or
        "start:stop:count" text.
    trials : instances per cell.
    methods : "bp", "limit", "gd", "lasso-cv", "bpdn" (a list or comma-separated text).
    depths, alphas : for limit and gd (defaults 3 and 1e-3); alphas as decimal text,
        "start:stop:count" log-spaced.
    lrs, lr_relative : GD step sizes, or fractions of each instance's stability bound.
    variants : explicit method variants instead of methods x depths x alphas x lrs.
    max_steps, loss_tol : GD's budget and target (train's defaults).
    seed, success_tol : the ensemble's seed; success when ||x_hat - x||_inf <= tol ||x||_inf.
    workers, scheduler : local worker processes, or an existing Dask scheduler's address.
    store, resume : SQLite file receiving every trial, and reuse of what it holds.
    progress : called with (done, total) instances.
    noise : sigma >= 0 (default 0): y = A x + sigma z, z ~ N(0, I_m) drawn after x from the
        instance's generator; each cell then reports the mean ||x_hat - x||^2 / (N sigma^2)
        beside M*(delta, rho) (docs/noise.md).
    """
    from dlncli.problem import DEFAULT_MAX_INPUT_BYTES, format_bytes
    from dlncli.reports import GD_LOSS_TOL, GD_MAX_STEPS
    from dlncli.transition.sweep import (
        DEFAULT_ALPHAS,
        DEFAULT_DEPTHS,
        METHODS,
        cell_grid,
        log_alpha_of,
        phase as sweep,
        variants_for,
    )

    if n is None:
        raise OptionError(
            "n", None, "the number of unknowns N", "missing; expected the number of unknowns N"
        )
    if not (isinstance(n, int) and n >= 1):
        raise OptionError("n", n, "a whole number >= 1")
    if deltas is None:
        raise OptionError(
            "deltas", None, "a list like 0.25,0.5", "missing; expected a list like 0.25,0.5"
        )
    delta_values = _grid_floats(deltas, "deltas")
    rho_values = _grid_floats(rhos, "rhos")
    sigma = _noise_level(noise)
    if trials < 1:
        raise OptionError("trials", trials, "a whole number >= 1")
    if variants is None:
        names = _names(methods)
        for name in names:
            if name not in METHODS:
                raise OptionError(
                    "methods", name, f"a comma-separated list of {', '.join(METHODS)}",
                    f"{name!r}; expected a comma-separated list of {', '.join(METHODS)}",
                )  # fmt: skip
            if METHODS[name].solve is None:
                raise OptionError("methods", name, "an available method", METHODS[name].unavailable)
        if not names or len(set(names)) != len(names):
            raise OptionError("methods", methods, "distinct method names")
        used = {param for name in names for param in METHODS[name].params}
        shown = methods if isinstance(methods, str) else ",".join(methods)
        for option, given, param in (
            ("depths", depths is not None, "depth"),
            ("alphas", alphas is not None, "alpha"),
            ("lrs", lrs is not None, "lr"),
            ("lr_relative", lr_relative, "lr"),
            ("max_steps", max_steps is not None, "lr"),
            ("loss_tol", loss_tol is not None, "lr"),
        ):
            if given and param not in used:
                takers = " or ".join(k for k, s in METHODS.items() if param in s.params)
                raise OptionError(
                    option, "given", f"--method {takers}",
                    f"applies to --method {takers} only; got --method {shown}",
                )  # fmt: skip
        lr_values = None if lrs is None else _grid_floats(lrs, "lrs")
        if lr_relative and lr_values is None:
            raise OptionError(
                "lr_relative",
                True,
                "--lr LIST",
                "needs --lr LIST, the fractions of the stability bound",
            )
        depth_values = _grid_floats(depths if depths is not None else DEFAULT_DEPTHS, "depths")
        for value in depth_values:
            check_depth(value, "depths")
        alpha_texts = _grid_texts(alphas if alphas is not None else DEFAULT_ALPHAS)
        for text in alpha_texts:
            try:
                log_alpha_of(text)
            except OptionError as exc:
                # A number <= 0 is refused as "alpha > 0", as the phase grid's other values.
                why = f"{text!r}; expected alpha > 0" if "> 0" in exc.expected else str(exc)
                raise OptionError("alphas", text, exc.expected, why) from None
        try:
            variants = variants_for(
                names, depths=depth_values, alphas=alpha_texts, lr=lr_values,
                lr_relative=lr_relative,
            )  # fmt: skip
        except ValueError as exc:
            raise OptionError("lrs", lrs, "step sizes > 0", str(exc)) from None
    if max_steps is not None and max_steps < 1:
        raise OptionError(
            "max_steps",
            max_steps,
            "a whole number >= 1",
            f"{max_steps}; expected a whole number >= 1",
        )
    if loss_tol is not None and not (math.isfinite(loss_tol) and loss_tol > 0):
        raise OptionError(
            "loss_tol", loss_tol, "a number > 0", f"{loss_tol}; expected a number > 0"
        )
    if not (math.isfinite(success_tol) and success_tol > 0):
        raise OptionError(
            "success_tol", success_tol, "a number > 0", f"{success_tol}; expected a number > 0"
        )
    if scheduler is not None and workers is not None:
        raise OptionError(
            "workers",
            workers,
            "--workers or --scheduler",
            "give --workers or --scheduler, not both",
        )
    if workers is not None and workers < 1:
        raise OptionError("workers", workers, "a whole number >= 1")
    if resume and store is None:
        raise OptionError("resume", True, "--store FILE", "needs --store FILE to resume from")
    try:
        cells = cell_grid(n, delta_values, rho_values)
    except ValueError as exc:  # "--delta: what was wrong"
        flag_text, _, message = str(exc).partition(": ")
        option = {"--delta": "deltas", "--rho": "rhos"}.get(flag_text, "deltas")
        raise OptionError(option, None, message, message) from None
    cap = DEFAULT_MAX_INPUT_BYTES if max_bytes is None else max_bytes
    largest = 8 * max(m for m, _ in cells) * n
    if largest > cap:
        raise OptionError(
            "n", n, "a smaller N or --max-input-mb",
            f"{n}: the largest cell's A is {format_bytes(largest)} as float64, more than the input "
            f"cap of {format_bytes(cap)}; expected a smaller N (or raise the cap with "
            "--max-input-mb)",
        )  # fmt: skip
    return sweep(
        n=n,
        deltas=delta_values,
        rhos=rho_values,
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
        noise=sigma,
    )


def _noise_level(noise: str | float | None) -> float:
    """``--noise``: sigma as a finite number >= 0 (None: 0)."""
    if noise is None:
        return 0.0
    try:
        sigma = parse_decimal(noise) if isinstance(noise, str) else float(noise)
    except ValueError:
        raise OptionError(
            "noise", noise, "a number sigma >= 0", f"{noise!r} is not a number"
        ) from None
    if not (math.isfinite(sigma) and sigma >= 0):
        raise OptionError("noise", noise, "a finite number sigma >= 0")
    return sigma


def _names(methods: str | Sequence[str]) -> list[str]:
    items = methods.split(",") if isinstance(methods, str) else list(methods)
    return [name.strip() for name in items if name.strip()]


def _grid_texts(values: str | Sequence[str | float], *, geometric: bool = True) -> tuple[str, ...]:
    from dlncli.transition.sweep import parse_grid

    if not isinstance(values, str):
        return tuple(v if isinstance(v, str) else repr(float(v)) for v in values)
    try:
        return parse_grid(values, geometric=geometric)
    except ValueError as exc:
        raise OptionError("alphas", values, "a,b,c or start:stop:count", str(exc)) from None


def _grid_floats(values: str | Sequence[float] | Sequence[str], option: str) -> list[float]:
    """A list of numbers, or "a,b,c" / "start:stop:count" text (evenly spaced)."""
    from dlncli.transition.sweep import parse_grid

    if isinstance(values, str):
        try:
            return [float(v) for v in parse_grid(values)]
        except ValueError as exc:
            raise OptionError(option, values, "a,b,c or start:stop:count", str(exc)) from None
    return [float(v) for v in values]


# --------------------------------------------------------------------------- samples


def sample_list() -> SamplesReport:
    """Every built-in sample problem's name (or pattern) with a one-line description."""
    from dlncli.problem import DEFAULT_PROBLEM
    from dlncli.samples import sample_descriptions

    return SamplesReport(DEFAULT_PROBLEM, sample_descriptions())


# --------------------------------------------------------------------------- recover

DEFAULT_RECOVER_DEPTHS = ("2", "3", "4")
# With --lr, GD's step is that; without it the DLN rows are the gradient flow itself
# (dlncli.dln.watched: steps the flow's stiffness does not limit).
# Each depth starts from the alpha with alpha^p = RECOVER_ALPHA_P (one effective scale).
RECOVER_ALPHA_P = 1e-6
RECOVER_STOP_FACTOR = 2.0  # end a run once its watched curve is twice its minimum


def recover(
    problem: ProblemLike,
    y: Any = None,
    *,
    depths: Sequence[str | float] | None = None,
    alpha: str | float | None = None,
    lr: float | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
    holdout: float = 0.2,
    seed: int = 0,
    folds: int = 5,
    sigma: float | None = None,
    threshold: float | None = None,
    time_limit: float | None = None,
) -> RecoverReport:
    """Recover x_true from noisy y = A x_true + z (``dlncli recover``, docs/noise.md): the DLN
    trained by gradient flow (or GD with ``lr``) and stopped early (at the oracle's best time
    and at the smallest held-out loss), the lasso with lambda by K-fold cross-validation along
    its exact path, BPDN at sigma_est = sigma sqrt(m), and least squares on the true support
    (an oracle).

    Parameters
    ----------
    problem, y : a Problem with ``x_true`` (a file's x_true, or a ``noisy:``/``gauss:`` sample).
    depths : the DLN depths (default 2, 3, 4).  alpha : the network's initial scale (default:
        per depth, the alpha with alpha^p = RECOVER_ALPHA_P).
    lr : run GD with this constant step instead of the gradient flow (default: the flow,
        integrated by :func:`dlncli.dln.watched.flow_watched`; times are then the flow's t).
    max_steps : each run's budget of steps (GD's, or the flow integrator's); a run ends once
        its watched curve doubled from its minimum (the flow: or at 4x the time of it).
    holdout, seed : the hold-out stop's fraction of rows and their seed; also the CV folds'.
    folds : K of the lasso's cross-validation.
    sigma : the noise level (default the problem's); without one there is no BPDN row.
    threshold : |x_hat_i| above it counts as selected (default half the smallest nonzero
        |x_true_i|).
    time_limit : seconds for the whole call, or None.
    """
    from dlncli.dln.early_stop import Watch
    from dlncli.dln.train import train as descend
    from dlncli.dln.watched import flow_watched
    from dlncli.noise.lasso import CV_LAMBDA_RATIO, basis_pursuit_denoise, lasso_cv, lasso_path

    start = time.perf_counter()
    deadline = Deadline(time_limit)
    prob = as_problem(problem, y)
    if prob.x_true is None:
        raise ProblemFormatError(
            f"{prob.name}: has no x_true to recover; expected a file with x_true (and "
            "optionally sigma) or a noisy:/gauss: sample"
        )
    x_true = prob.x_true
    m, n = prob.shape
    level = prob.sigma if sigma is None else sigma
    if level is not None and not (
        isinstance(level, int | float) and math.isfinite(level) and level >= 0
    ):
        raise OptionError("sigma", level, "a noise level >= 0")
    if not (isinstance(folds, int) and 2 <= folds <= m):
        raise OptionError("folds", folds, f"a whole number from 2 to m = {m}")
    support = np.flatnonzero(x_true)
    cut = 0.5 * float(np.min(np.abs(x_true[support]))) if support.size else 0.0
    cut = cut if threshold is None else float(threshold)
    if not (math.isfinite(cut) and cut >= 0):
        raise OptionError("threshold", threshold, "a number >= 0")
    log_alpha_given = None if alpha is None else parse_alpha(alpha)[1]
    A_train, y_train, split = _early_stopping_split(prob, holdout, seed)
    assert split is not None  # a hold-out is always given here
    labels = depth_labels(depths or DEFAULT_RECOVER_DEPTHS, allow_inf=False)
    notes: list[str] = []
    rows: list[RecoverRow] = []

    def row(method: str, x_hat: FloatArray, began: float, *, depth: float | None = None,
            stop: str = "", detail: str = "") -> RecoverRow:  # fmt: skip
        error = float(np.linalg.norm(x_hat - x_true))
        chosen = np.abs(x_hat) > cut
        on = np.zeros(n, dtype=bool)
        on[support] = True
        return RecoverRow(
            method, depth, stop, error, error * error / n, int(np.sum(chosen & ~on)),
            int(np.sum(~chosen & on)), detail, time.perf_counter() - began, x_hat,
        )  # fmt: skip

    def baselines() -> tuple[list[RecoverRow], list[str]]:
        """The lasso-CV, BPDN and least-squares-oracle rows."""
        out: list[RecoverRow] = []
        said: list[str] = []
        began = time.perf_counter()
        # One path for the CV refit and BPDN, to the CV grid's end: below it, as lam -> 0 with
        # noise, the active set approaches m columns and A_K its worst conditioning.
        lam_0 = float(np.max(np.abs(prob.A.T @ prob.y)))
        path = lasso_path(prob.A, prob.y, lambda_min=CV_LAMBDA_RATIO * lam_0)
        cv = lasso_cv(prob.A, prob.y, folds=folds, seed=seed, path=path)
        out.append(row("lasso-cv", cv.x, began, detail=f"λ = {cv.lam:.4g}"))
        if cv.at_grid_end:
            said.append("lasso-cv chose the smallest λ of its grid: the best λ may lie below it")
        if level is not None and level > 0:
            began = time.perf_counter()
            sigma_est = level * math.sqrt(m)
            bpdn = basis_pursuit_denoise(prob.A, prob.y, sigma_est, path=path)
            out.append(row("bpdn", bpdn.x, began, detail=f"σ_est = σ√m = {sigma_est:.4g}"))
        elif level is None:
            said.append("no noise level known (sigma): no BPDN row")
        began = time.perf_counter()
        oracle = np.zeros(n)
        if support.size:
            oracle[support] = np.linalg.lstsq(prob.A[:, support], prob.y, rcond=None)[0]
        detail = f"least squares on the {support.size} nonzeros"
        out.append(row("ls-oracle", oracle, began, detail=detail))
        return out, said

    def dln(label: str, p: float, stop: str) -> tuple[RecoverRow | None, str, EarlyStop | None]:
        """One DLN row (None if the run diverged), a note ("" if none), its curves."""
        began = time.perf_counter()
        log_alpha = log_alpha_given
        if log_alpha is None:
            log_alpha = math.log(RECOVER_ALPHA_P) / p
        if stop == "oracle":
            A_run, y_run = prob.A, prob.y
            watch = Watch(x_true=x_true, stop_factor=RECOVER_STOP_FACTOR)
        else:
            A_run, y_run = A_train, y_train
            watch = replace(split, stop_factor=RECOVER_STOP_FACTOR)
        if lr is None:
            flow = flow_watched(
                A_run, y_run, depth=p, log_alpha=log_alpha, watch=watch, norm_A=norm_A,
                max_steps=max_steps, time_limit=deadline.remaining("recover"),
            )  # fmt: skip
            early, message, ran_out = flow.early_stop, flow.message, bool(flow.message)
        else:
            run = descend(
                A_run, y_run, depth=p, log_alpha=log_alpha, lr=lr, max_steps=max_steps,
                predict=False, watch=watch, time_limit=deadline.remaining("recover"),
            )  # fmt: skip
            if run.diverged:
                return None, f"p = {label}, {stop} stop: the run diverged ({run.message})", None
            assert run.early_stop is not None
            early, message = run.early_stop, f"{run.steps} steps"
            ran_out = not run.converged and run.steps == max_steps
        k = early.oracle_time if stop == "oracle" else early.holdout_time
        assert k is not None and early.stop_x is not None  # the run recorded its start
        note = ""
        if ran_out and k == early.times[-1]:
            note = (
                f"p = {label}, {stop} stop: the error was still falling when the run ended "
                f"({message}): a larger --max-steps reaches the stop"
            )
        when = f"t = {k:.4g}" if lr is None else f"step {int(k)}, η = {lr:.3g}"
        detail = f"{when}, α = {math.exp(log_alpha):.3g}"
        return row("dln", early.stop_x, began, depth=p, stop=stop, detail=detail), note, early

    curves: dict[str, EarlyStop] = {}
    with one_blas_thread():  # the BLAS policy (docs/performance.md, "Threads")
        norm_A = float(np.linalg.norm(prob.A, 2))  # >= ||A_train||: the hold-out runs use it too
        base_rows, base_notes = baselines()
        rows.extend(base_rows)
        notes.extend(base_notes)
        for label, p in labels:
            for stop in ("oracle", "hold-out"):
                dln_row, note, early = dln(label, p, stop)
                if dln_row is not None:
                    rows.append(dln_row)
                if note:
                    notes.append(note)
                if stop == "oracle" and early is not None:
                    curves[label] = early
    return RecoverReport(
        problem=_info(prob),
        sigma=level,
        threshold=cut,
        support_size=int(support.size),
        rows=tuple(rows),
        curves=curves,
        notes=tuple(notes),
        elapsed_s=time.perf_counter() - start,
    )
