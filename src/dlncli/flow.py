"""The DLN gradient flow as an ODE: the trajectory x(t) from u = v = alpha.

Notation as in limit.py. The 2N-dimensional flow reduces exactly to the mirror flow
d mu / d tau = y - A x(mu) in R^m, with tau = rate * t, rate = 4 (p = 2) or
p (p - 2) alpha^(p-2) (p > 2) (MATH.md §2). We integrate it in the scaled coordinates theta of
:class:`dlncli.limit.MirrorCoordinates`, which keep the slacks' digits, with an implicit
Radau method and the analytic Jacobian. Any integration error is a perturbation of mu, which
the mirror flow forgets (its limit does not depend on where in mu-space it starts), so the
end-point agrees with the exact limit far better than rtol. The right-hand side is evaluated
in extended precision: see MirrorCoordinates.precise_rate for why.

Convergence is decided by a stated criterion, not a fixed time: the Newton step from the
current state (the predicted remaining motion of x to the limit) is below
``converge_tol * ||x||_inf``.

:func:`integrate_raw_flow` is the paper's own method (Radau on the raw (u, v) system with a
dense 2N x 2N Jacobian); it is here for checking and benchmarking only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.integrate import LSODA, Radau

from dlncli.errors import TimeLimitError
from dlncli.limit import LN10, Anchor, MirrorCoordinates, normalize, user_log10_time

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

ACTIVE_FRACTION = 1e-2  # a coordinate is "active" once |x_i| >= 1% of ||x_end||_inf


@dataclass(frozen=True)
class SupportChange:
    """The active set changed between two recorded times (a saddle-to-saddle jump)."""

    log10_t: float
    support: tuple[int, ...]
    loss: float


@dataclass(frozen=True)
class FlowResult:
    """The ODE run. ``x`` is x(t_end): the end-point, converged or not."""

    x: FloatArray
    log10_t_end: float
    converged: bool
    reachable: bool  # False when the time scale is beyond float range (say so, use the limit)
    steps: int
    last_step: float  # the convergence measure at the end
    log10_t: FloatArray = field(repr=False)  # (K,) recorded times
    xs: FloatArray = field(repr=False)  # (K, N) recorded x(t)
    losses: FloatArray = field(repr=False)  # (K,) 1/2 ||A x - y||^2
    support_changes: tuple[SupportChange, ...]
    message: str
    elapsed_s: float

    @property
    def t_end(self) -> float:
        return 10.0**self.log10_t_end if self.log10_t_end < 308 else math.inf


def log_rate(depth: float, log_alpha: float) -> float:
    """ln(rate) with tau = rate * t (tau: flow time in mu units)."""
    if depth == 2.0:
        return math.log(4.0)
    return math.log(depth * (depth - 2.0)) + (depth - 2.0) * log_alpha


def integrate_flow(
    A: FloatArray,
    y: FloatArray,
    *,
    depth: float,
    log_alpha: float,
    anchor: Anchor,
    log10_t_end: float | None = None,
    rtol: float = 1e-9,
    converge_tol: float = 1e-10,
    max_steps: int = 100_000,
    time_limit: float | None = None,
    progress: Callable[[float], None] | None = None,
) -> FlowResult:
    """Integrate the flow from u = v = alpha to convergence or to t = 10**log10_t_end.

    Parameters
    ----------
    A : (m, N).  y : (m,).  depth : p >= 2.  log_alpha : ln(alpha).
    anchor : BP anchor that fixes the coordinates (see :func:`dlncli.limit.bp_anchor`).
    log10_t_end : stop at this time instead of at convergence.
    rtol : Radau relative tolerance on theta.
    converge_tol : stop when the predicted remaining motion of x is below this, relative.
    time_limit : wall-clock seconds; TimeLimitError when exceeded.
    progress : called with a rough fraction done, for a progress bar.
    """
    start = time.perf_counter()
    n = A.shape[1]
    A_user, y_user = A, y
    # The ODE runs on the normalized problem (2^k A, 2^k y), whose time is the user's / 4^k.
    A, y = normalize(A, y, anchor.scale_exp)
    time_shift = user_log10_time(0.0, anchor.scale_exp)
    if log10_t_end is not None:
        log10_t_end -= time_shift
    lrate = log_rate(depth, log_alpha)
    if anchor.bp.face.support.size == 0:
        return _finished(
            n, [-math.inf], [np.zeros(n)], [0.0], True, True, 0, 0.0, "y = 0: x stays 0", start
        )
    coords = MirrorCoordinates(A, y, anchor, depth=depth, log_alpha=log_alpha)
    theta0 = coords.zero_state()
    if coords.kappa == 0.0 or not np.all(np.isfinite(theta0)) or abs(lrate) > 650.0:
        return _finished(
            n,
            [],
            [],
            [],
            False,
            False,
            0,
            math.inf,
            f"the flow's time scale (rate 1e{lrate / LN10:.4g}) is beyond float range; "
            "its end-point is given by the exact limit",
            start,
        )

    def rhs(_t: float, theta: FloatArray) -> FloatArray:
        return coords.precise_rate(theta)

    def jac(_t: float, theta: FloatArray) -> FloatArray:
        _, d_j, d_off = coords.evaluate(theta)
        jacobian = -(coords.K.T @ coords.jacobian_x(d_j, d_off))
        if coords.rank_j:
            jacobian[: coords.rank_j] /= coords.kappa
        return np.asarray(np.nan_to_num(jacobian), dtype=np.float64)

    tau_end = 1e300 if log10_t_end is None else 10.0 ** min(log10_t_end + lrate / LN10, 300.0)
    # a_hat starts at ~1/kappa and ends O(1); b is O(1) or O(ln 1/alpha): atol is relative.
    atol = 1e-13 * np.maximum(np.abs(theta0), 1.0)
    atol[: coords.rank_j] = 1e-13
    # scipy-stubs types atol as a scalar; Radau accepts one per component.
    solver = Radau(rhs, 0.0, theta0, tau_end, rtol=rtol, atol=atol, jac=jac)  # type: ignore[arg-type]
    log_t: list[float] = [-math.inf]
    xs: list[FloatArray] = [np.zeros(n)]
    with np.errstate(over="ignore"):  # a loss beyond float range is recorded as inf
        losses: list[float] = [0.5 * float(y_user @ y_user)]
    converged = False
    measure = math.inf
    steps = 0
    while steps < max_steps and solver.status == "running":
        # Radau's trial states can overflow x (p = 2, alpha = 1e-300); it rejects them by value.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            try:
                failed = solver.step() is not None
            except (ValueError, np.linalg.LinAlgError):  # non-finite Jacobian: give up here
                failed = True
        if failed:
            break
        steps += 1
        _, dx, x, _ = coords.newton(solver.y)
        scale = float(np.max(np.abs(x)))
        measure = float(np.max(np.abs(dx))) / scale if scale > 0 else math.inf
        xs.append(x)
        log_t.append(math.log10(max(solver.t, 1e-300)) - lrate / LN10 + time_shift)
        with np.errstate(over="ignore"):
            losses.append(0.5 * float(np.sum((A_user @ x - y_user) ** 2)))
        if progress is not None:
            # Rough: x leaves 0 near tau ~ 1 and the flow settles some decades later.
            progress(min(max((math.log10(max(solver.t, 1e-300)) + 3.0) / 15.0, 0.0), 0.99))
        if log10_t_end is None and measure <= converge_tol:
            converged = True
            break
        if time_limit is not None and time.perf_counter() - start > time_limit:
            raise TimeLimitError(
                f"the ODE reached t = 1e{log_t[-1]:.4g} in {time_limit:g} s without converging "
                f"(remaining relative motion {measure:.2g}); use --limit-only or a larger "
                "--time-limit"
            )
    user_t_end = None if log10_t_end is None else log10_t_end + time_shift
    if user_t_end is not None and solver.status == "finished":
        text = f"integrated to t = 1e{user_t_end:.6g}"
        converged = measure <= converge_tol
    elif converged:
        text = f"converged at t = 1e{log_t[-1]:.6g} (remaining relative motion {measure:.1e})"
    else:
        text = (
            f"stopped after {steps} steps at t = 1e{log_t[-1]:.6g} without converging "
            f"(remaining relative motion {measure:.2g})"
        )
    if progress is not None:
        progress(1.0)
    return _finished(
        n, log_t, xs, losses, converged, True, steps, measure, text, start, end_log10_t=user_t_end
    )


def _finished(
    n: int,
    log_t: list[float],
    xs: list[FloatArray],
    losses: list[float],
    converged: bool,
    reachable: bool,
    steps: int,
    measure: float,
    message: str,
    start: float,
    end_log10_t: float | None = None,
) -> FlowResult:
    times = np.array(log_t, dtype=np.float64)
    traj = np.array(xs, dtype=np.float64).reshape(len(xs), n)
    loss = np.array(losses, dtype=np.float64)
    x_end = traj[-1] if len(xs) else np.zeros(n)
    log10_t_end = (
        end_log10_t if end_log10_t is not None else (float(times[-1]) if times.size else math.inf)
    )
    return FlowResult(
        x=x_end,
        log10_t_end=log10_t_end,
        converged=converged,
        reachable=reachable,
        steps=steps,
        last_step=measure,
        log10_t=times,
        xs=traj,
        losses=loss,
        support_changes=_support_changes(times, traj, loss),
        message=message,
        elapsed_s=time.perf_counter() - start,
    )


def _support_changes(
    log_t: FloatArray, xs: FloatArray, losses: FloatArray
) -> tuple[SupportChange, ...]:
    if xs.shape[0] == 0:
        return ()
    threshold = ACTIVE_FRACTION * float(np.max(np.abs(xs[-1])))
    if threshold == 0:
        return ()
    changes: list[SupportChange] = []
    previous: tuple[int, ...] = ()
    for k in range(xs.shape[0]):
        active = tuple(int(i) for i in np.flatnonzero(np.abs(xs[k]) >= threshold))
        if active != previous:
            changes.append(SupportChange(float(log_t[k]), active, float(losses[k])))
            previous = active
    return tuple(changes)


# --------------------------------------------------------------------------- the paper's method


@dataclass(frozen=True)
class RawFlowResult:
    x: FloatArray
    t_end: float
    steps: int
    success: bool
    elapsed_s: float


def integrate_raw_flow(
    A: FloatArray,
    y: FloatArray,
    *,
    depth: float,
    alpha: float,
    t_end: float | None = None,
    rtol: float = 2.5e-14,
    atol: float = 0.0,
    time_limit: float | None = None,
    method: str = "Radau",
) -> RawFlowResult:
    """Radau (or ``method="LSODA"``) on the raw 2N-dimensional (u, v) flow with the dense
    analytic Jacobian.

    This is how the paper's authors integrate the flow (default t_end = 1e9 alpha^(2-p)).
    Slow and limited to small N and moderate alpha; used as an independent check and as the
    benchmark baseline. ``time_limit`` stops it (success=False) after that many seconds.
    """
    start = time.perf_counter()
    p = float(depth)
    n = A.shape[1]
    gram = A.T @ A
    aty = A.T @ y
    if t_end is None:
        t_end = 1e9 * alpha ** (2.0 - p)

    def rhs(_: float, state: FloatArray) -> FloatArray:
        u, v = state[:n], state[n:]
        corr = aty - gram @ (u**p - v**p)
        return np.concatenate([p * u ** (p - 1) * corr, -p * v ** (p - 1) * corr])

    def jac(_: float, state: FloatArray) -> FloatArray:
        u, v = state[:n], state[n:]
        corr = aty - gram @ (u**p - v**p)
        du = p * u ** (p - 1)  # d x / d u
        dv = -p * v ** (p - 1)  # d x / d v
        dcorr_du = -gram * du[None, :]
        dcorr_dv = -gram * dv[None, :]
        top = np.hstack(
            [
                np.diag(p * (p - 1) * u ** (p - 2) * corr) + du[:, None] * dcorr_du,
                du[:, None] * dcorr_dv,
            ]
        )
        bottom = np.hstack(
            [
                -(p * v ** (p - 1))[:, None] * dcorr_du,
                np.diag(-p * (p - 1) * v ** (p - 2) * corr)
                - (p * v ** (p - 1))[:, None] * dcorr_dv,
            ]
        )
        return np.vstack([top, bottom])

    integrator = {"Radau": Radau, "LSODA": LSODA}[method]
    solver = integrator(
        rhs, 0.0, np.full(2 * n, float(alpha)), t_end, rtol=rtol, atol=atol, jac=jac
    )
    steps = 0
    success = True
    while solver.status == "running":
        if solver.step() is not None:
            success = False
            break
        steps += 1
        if time_limit is not None and time.perf_counter() - start > time_limit:
            success = False
            break
    u, v = solver.y[:n], solver.y[n:]
    return RawFlowResult(
        u**p - v**p,
        float(solver.t),
        steps,
        success and solver.status == "finished",
        time.perf_counter() - start,
    )
