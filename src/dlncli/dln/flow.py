"""The DLN gradient flow as an ODE: the trajectory x(t) from u = v = alpha.

Notation as in limit.py. The 2N-dimensional flow reduces exactly to the mirror flow
d mu / d tau = y - A x(mu) in R^m, with tau = rate * t, rate = 4 (p = 2) or
p (p - 2) alpha^(p-2) (p > 2) (docs/model.md §2). It is integrated in the face coordinates of
:class:`dlncli.dln.limit.MirrorCoordinates` (for p > 2 with r face slacks in place of a_hat, so a
slack of ~1 next to others of ~1/kappa keeps its digits), by the Radau IIA integrator of
:mod:`dlncli.dln.ode` with the analytic Jacobian; the right-hand side is formed around the current
point, accurate relative to the motion, in float64 (see dlncli.dln.ode). Any integration error is
a perturbation of mu, which the mirror flow forgets (its limit does not depend on where in
mu-space it starts), so the end-point agrees with the exact limit far better than rtol.

Convergence is decided by a stated criterion, not a fixed time: the Newton step from the
current state, applied in full, moves x by at most ``converge_tol * ||x||_inf`` (the
predicted remaining motion; applied in full, not linearised, so that a plateau, where the
coordinates still to activate have dx/dz ~ alpha^p, does not pass for the end).

:func:`integrate_raw_flow` is the paper's own method (Radau on the raw (u, v) system with a
dense 2N x 2N Jacobian); it is here for checking and benchmarking only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from dlncli.arrays import LN10, FloatArray
from dlncli.blas import single_threaded_blas
from dlncli.dln.limit import Anchor, mirror_coordinates, normalize, user_log10_time
from dlncli.dln.ode import Radau5, SlackMaps
from dlncli.errors import TimeLimitError

ACTIVE_FRACTION = 1e-2  # a coordinate is "active" once |x_i| >= 1% of ||x_end||_inf
CHEAP_JACOBIAN_FLOPS = 2_000_000  # N d^2 up to this: the Jacobian counts as cheap to form
# The convergence test (a Newton step from the current state, with a current Jacobian) is
# made after steps that moved x by at most this (relative): a step to within converge_tol of
# the limit can move x by more, and the test then passes one step later.
MEASURE_GATE = 1e-6
# Where forming the Jacobian is expensive (N d^2 large) the test is made at most once per
# this factor of time: the tail's steps grow geometrically, and a test after each would cost
# a Jacobian and its factors per step. The time of convergence is then known to this factor.
MEASURE_GROWTH = 1.25


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
    anchor : BP anchor that fixes the coordinates (see :func:`dlncli.dln.limit.bp_anchor`).
    log10_t_end : stop at this time instead of at convergence.
    rtol : Radau relative tolerance on the state (the face slacks (p > 2) or a_hat, and b).
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
    coords = mirror_coordinates(anchor, depth=depth, log_alpha=log_alpha)
    theta0 = coords.zero_state()
    if coords.potential.kappa == 0.0 or not np.all(np.isfinite(theta0)) or abs(lrate) > 650.0:
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
    maps = SlackMaps(coords, theta0)
    state0 = maps.state
    tau_end = 1e300 if log10_t_end is None else 10.0 ** min(log10_t_end + lrate / LN10, 300.0)
    # The face part of the state (slacks for p > 2, a_hat for p = 2) starts at up to 1/kappa
    # and ends O(1); b is O(1) or O(ln 1/alpha): atol is relative to where it starts.
    atol = 1e-13 * np.maximum(np.abs(state0), 1.0)
    atol[: coords.geometry.rank_j] = 1e-13
    # x starts at 0: the x part of the error norm is relative to at least 1e-3 of its scale.
    x_floor = 1e-3 * float(np.max(np.abs(y))) / float(np.max(np.abs(A)))
    # The Jacobian is re-formed when Newton contracts slowly (sooner when it is cheap to
    # form, N d^2 small) and for the convergence test.
    cheap = theta0.size**2 * n <= CHEAP_JACOBIAN_FLOPS
    solver = Radau5(
        maps, state0, tau_end, rtol=rtol, atol=atol, cheap_jacobian=cheap, x_floor=x_floor
    )
    log_t: list[float] = [-math.inf]
    xs: list[FloatArray] = [np.zeros(n)]
    with np.errstate(over="ignore"):  # a loss beyond float range is recorded as inf
        losses: list[float] = [0.5 * float(y_user @ y_user)]
    converged = False
    measure = math.inf
    measured_at = 0.0
    steps = 0
    # Thousands of small BLAS calls in sequence: OpenBLAS threads only wait for each other.
    with single_threaded_blas():
        while steps < max_steps and solver.status == "running":
            if solver.step() is not None:
                break
            steps += 1
            x = maps.x.copy()
            if log10_t_end is None:
                scale = maps.x_max
                moved = float(np.maximum.reduce(np.abs(x - xs[-1])))
                due = cheap or solver.tau >= MEASURE_GROWTH * measured_at
                if moved <= MEASURE_GATE * scale and due:
                    solver.refresh_jacobian()
                    measure = maps.newton_motion(solver.jac)
                    measured_at = solver.tau
            xs.append(x)
            log_t.append(math.log10(max(solver.tau, 1e-300)) - lrate / LN10 + time_shift)
            if progress is not None:
                # Rough: x leaves 0 near tau ~ 1 and the flow settles some decades later.
                progress(min(max((math.log10(max(solver.tau, 1e-300)) + 3.0) / 15.0, 0.0), 0.99))
            if log10_t_end is None and measure <= converge_tol:
                converged = True
                break
            if time_limit is not None and time.perf_counter() - start > time_limit:
                raise TimeLimitError(
                    f"the ODE reached t = 1e{log_t[-1]:.4g} in {time_limit:g} s without converging "
                    f"(remaining relative motion {measure:.2g}); use --limit-only or a larger "
                    "--time-limit"
                )
    if log10_t_end is not None:
        solver.refresh_jacobian()
        measure = maps.newton_motion(solver.jac)
    if len(xs) > 1:  # the losses of the recorded states, in one product
        with np.errstate(over="ignore", invalid="ignore"):
            residuals = np.array(xs[1:]) @ A_user.T - y_user
            losses.extend((0.5 * np.sum(residuals**2, axis=1)).tolist())
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

# The authors' tolerances: Radau for their figure 1, LSODA for their figure 2 (atol 0 in both).
RAW_RTOL = {"Radau": 2.5e-14, "LSODA": 1e-12}
RAW_HORIZON = 1e9  # their t_end = 1e9 * alpha^(2 - p)


@dataclass(frozen=True)
class RawFlowResult:
    """The raw (u, v) integration. ``x``, ``u``, ``v`` are the state at ``t_end`` (the time
    reached); ``success`` is True only when the integrator reached ``t_target``."""

    x: FloatArray
    t_end: float
    steps: int
    success: bool
    elapsed_s: float
    t_target: float = math.nan
    status: str = "finished"  # "finished", "failed", "time limit", "unreachable"
    message: str = ""
    method: str = "Radau"
    rtol: float = math.nan
    u: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    v: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    ts: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)  # (K,) times
    us: FloatArray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)  # (K, N)
    vs: FloatArray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)  # (K, N)
    support_changes: tuple[SupportChange, ...] = ()
    losses: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)  # (K,)
    depth: float = math.nan

    def trajectory(self) -> dict[str, FloatArray]:
        """The recorded states as named arrays: t, log10_t, loss, x, u, v, log_u, log_v."""
        p = self.depth
        with np.errstate(divide="ignore", over="ignore"):
            return {
                "t": self.ts,
                "log10_t": np.log10(self.ts),
                "loss": self.losses,
                "x": self.us**p - self.vs**p,
                "u": self.us,
                "v": self.vs,
                "log_u": np.log(self.us),
                "log_v": np.log(self.vs),
            }


def raw_flow_rhs(
    A: FloatArray, y: FloatArray, depth: float
) -> tuple[Callable[[float, FloatArray], FloatArray], Callable[[float, FloatArray], FloatArray]]:
    """The raw flow's right-hand side and Jacobian in the paper authors' form.

    With state (u, v) in R^2N, x = u^p - v^p and G = p A^T (y - A x) (the residual formed
    first, never as A^T y - A^T A x):

        u' = u^(p-1) G,   v' = -v^(p-1) G,
        J = diag((p-1) u^(p-2) G, -(p-1) v^(p-2) G) - p^2 P^T P,
        P = [A diag(u^(p-1)), -A diag(v^(p-1))]   (m x 2N).
    """
    p = float(depth)
    n = A.shape[1]

    def rhs(_t: float, state: FloatArray) -> FloatArray:
        u, v = state[:n], state[n:]
        grad = p * (A.T @ (y - A @ (u**p - v**p)))
        return np.concatenate([u ** (p - 1) * grad, -(v ** (p - 1)) * grad])

    def jac(_t: float, state: FloatArray) -> FloatArray:
        u, v = state[:n], state[n:]
        grad = p * (A.T @ (y - A @ (u**p - v**p)))
        P = np.concatenate([A * u ** (p - 1), -A * v ** (p - 1)], axis=1)
        out = -(p**2) * (P.T @ P)
        out[np.arange(n), np.arange(n)] += (p - 1) * u ** (p - 2) * grad
        out[np.arange(n, 2 * n), np.arange(n, 2 * n)] -= (p - 1) * v ** (p - 2) * grad
        return np.asarray(out, dtype=np.float64)

    return rhs, jac


def integrate_raw_flow(
    A: FloatArray,
    y: FloatArray,
    *,
    depth: float,
    alpha: float,
    t_end: float | None = None,
    rtol: float | None = None,
    atol: float = 0.0,
    time_limit: float | None = None,
    method: str = "Radau",
    progress: Callable[[float], None] | None = None,
) -> RawFlowResult:
    """Radau (or ``method="LSODA"``) on the raw 2N-dimensional (u, v) flow from u = v = alpha
    with the dense analytic Jacobian (:func:`raw_flow_rhs`), as the paper's authors do.

    Parameters
    ----------
    A : (m, N).  y : (m,).  depth : p >= 2.  alpha : the scale (a float > 0).
    t_end : default the authors' horizon 1e9 alpha^(2-p).
    rtol : default the authors' 2.5e-14 (Radau) or 1e-12 (LSODA); atol 0 as theirs.
    time_limit : wall-clock seconds; then status "time limit" (success False).

    Slow and limited to small N and moderate alpha; an independent check and the benchmark
    baseline. It never raises on a failed integration: ``status`` and ``message`` say what
    happened and how far it got.
    """
    start = time.perf_counter()
    p = float(depth)
    n = A.shape[1]
    tol = RAW_RTOL[method] if rtol is None else rtol
    with np.errstate(over="ignore"):
        target = RAW_HORIZON * alpha ** (2.0 - p) if t_end is None else float(t_end)
    rhs, jac = raw_flow_rhs(A, y, p)
    u0 = np.full(n, float(alpha))
    if not (alpha > 0 and math.isfinite(target) and alpha**p > 0):
        return RawFlowResult(
            np.zeros(n),
            0.0,
            0,
            False,
            time.perf_counter() - start,
            status="unreachable",
            message=f"alpha = {alpha:g}, t_end = {target:g}: alpha^p or t_end is outside "
            "float range; the raw (u, v) integrator cannot represent this flow",
            u=u0,
            v=u0,
            t_target=target,
            method=method,
            rtol=tol,
            depth=p,
        )
    # scipy.integrate takes ~0.3 s to import: only this baseline needs it.
    from scipy.integrate import LSODA, Radau

    integrator = {"Radau": Radau, "LSODA": LSODA}[method]
    ts, us, vs = [0.0], [u0], [u0]
    steps = 0
    status, message = "finished", ""
    # Overflow is reported through the state and the status, not as numpy warnings.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            solver = integrator(
                rhs, 0.0, np.concatenate([u0, u0]), target, rtol=tol, atol=atol, jac=jac
            )
        except (ValueError, np.linalg.LinAlgError) as exc:
            return RawFlowResult(
                np.zeros(n),
                0.0,
                0,
                False,
                time.perf_counter() - start,
                status="failed",
                message=f"{method} could not start: {exc}",
                u=u0,
                v=u0,
                t_target=target,
                method=method,
                rtol=tol,
            )
        while solver.status == "running":
            try:
                failure = solver.step()
            except (ValueError, np.linalg.LinAlgError) as exc:  # non-finite Jacobian or LU
                failure = str(exc)
            if failure is not None:
                status, message = "failed", f"{method} stopped: {failure}"
                break
            steps += 1
            if not np.all(np.isfinite(solver.y)):
                status, message = "failed", "the state (u, v) left float range"
                break
            ts.append(float(solver.t))
            us.append(solver.y[:n].copy())
            vs.append(solver.y[n:].copy())
            if progress is not None and solver.t > 0:
                done = math.log10(solver.t) / max(math.log10(target), 1.0)
                progress(min(max(done, 0.0), 0.99))
            if time_limit is not None and time.perf_counter() - start > time_limit:
                status = "time limit"
                message = f"{method} on (u, v) did not finish in {time_limit:g} s"
                break
    if status == "finished" and solver.status != "finished":
        status, message = "failed", f"{method} stopped: {solver.status}"
    u, v = us[-1], vs[-1]  # the last finite state
    with np.errstate(over="ignore", invalid="ignore"):
        x = u**p - v**p
    if status == "finished":
        message = f"{method} on (u, v) reached t = {target:.6g} in {steps} steps (rtol {tol:g})"
    else:
        message += f" at t = {solver.t:.6g} of {target:.6g} after {steps} steps"
    u_arr, v_arr = np.array(us), np.array(vs)
    t_arr = np.array(ts)
    log_t = np.where(t_arr > 0, np.log10(np.where(t_arr > 0, t_arr, 1.0)), -np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        xs = u_arr**p - v_arr**p
        losses = 0.5 * np.sum((xs @ A.T - y) ** 2, axis=1)
    return RawFlowResult(
        x,
        float(solver.t),
        steps,
        status == "finished",
        time.perf_counter() - start,
        status=status,
        message=message,
        u=u.copy(),
        v=v.copy(),
        ts=t_arr,
        us=u_arr,
        vs=v_arr,
        support_changes=_support_changes(log_t, xs, losses),
        t_target=target,
        method=method,
        rtol=tol,
        depth=p,
        losses=losses,
    )
