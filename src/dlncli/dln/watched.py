"""The gradient flow with its stop watched, in steps the flow's stiffness does not limit
(docs/noise.md, "the flow stopped early").

Early stopping needs the flow only up to a little past its best time, but the flow is stiff
there: the coordinates already fitted have the curvature p^2 (u^(2p-2) + v^(2p-2)) ||A||^2,
while the ones still growing from alpha move on a time scale alpha^(2-p) longer. GD, and any
explicit method, must step below 2 / that curvature for the whole run: ~1e5 steps at
500 x 2000, p = 4 (docs/noise.md). This module integrates the flow's m-dimensional reduction
(docs/model.md): with w = A^T q, the flow from u = v = alpha is

    q' = y - A x,   x_i = u_i^p - v_i^p,
    d ln u_i = p u_i^(p-2) dw_i,   d ln v_i = -p v_i^(p-2) dw_i,

so that, given the change dw of w over a step, ln u and ln v move exactly:

    p > 2:  ln u -= log1p(-p (p-2) u^(p-2) dw) / (p-2),   ln v -= log1p(p (p-2) v^(p-2) dw) / (p-2)
    p = 2:  ln u += 2 dw,                                ln v -= 2 dw.

Only q is integrated approximately, by the linearly implicit Euler step

    (I + h A D Aᵀ) dq = h (y - A x),   D = diag(dx/dw) = diag(p^2 (u^(2p-2) + v^(2p-2))),

with A D Aᵀ restricted to the stiff coordinates S = {i : h D_i ||A||_2^2 > STIFF} (the rest is
then an explicit step within its stability bound) and solved through the |S| x |S| system
(Woodbury) when |S| <= m, through the m x m one otherwise. The step h is chosen so that no
ln u_i, ln v_i moves by more than MAX_MOVE (a step that would is retaken with a smaller h; h
grows by at most 2x per step): first order in h, stable on the stiff part, and with a
relative error in x of order MAX_MOVE^2 per step. Times are the flow's t (time unit "t").

The run is made on (2^k A, 2^k y) with max|2^k A| in [1/2, 1) (the flow at speed 4^k:
:func:`dlncli.dln.limit.normalize`); the times are mapped back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg

from dlncli.arrays import FloatArray, IntArray
from dlncli.deadline import Deadline
from dlncli.dln.early_stop import Watch, summarize
from dlncli.dln.limit import normalize, scale_exponent
from dlncli.dln.train import model_x
from dlncli.reports import EarlyStop

# The change of any ln u_i, ln v_i in one step: the steps aim at MAX_MOVE and are retaken
# above twice that (a coordinate near its fast growth accelerates within a step).
MAX_MOVE = 0.25
LOCAL_TOL = 3e-2  # largest local error of any ln u_i, ln v_i in one step (ROS2's estimate)
# The watched curve's relative change per step (||dx|| / ||x - x_true||, and the held-out
# residual's): the steps aim at CURVE_STEP and are retaken above twice that.
CURVE_STEP = 0.05
GAMMA = 1.0 + 1.0 / math.sqrt(2.0)  # ROS2's L-stable choice (Verwer et al. 1999)
STIFF = 0.5  # h D_i ||A||^2 above this: coordinate i is integrated implicitly
# End the run at this multiple of the best time seen (past the window's end): the flow's
# error curve can dip again once a smaller signal coordinate is learned (observed: a second,
# deeper minimum at 1.9x the time of the first, 100 x 400, p = 4).
TIME_FACTOR = 4.0
MAX_STEPS = 20_000  # accepted steps (a run at 500 x 2000 takes a few hundred)
DEADLINE_EVERY = 20  # steps between checks of the time limit
GROWTH = 2.0  # h grows by at most this factor per accepted step
SAFETY = 0.9  # the next h aims at this share of MAX_MOVE


@dataclass(frozen=True)
class WatchedFlow:
    """The flow run by :func:`flow_watched`.

    early_stop : the stops, the window and the recorded curves (time unit "t").
    steps : accepted steps.  rejected : steps retaken with a smaller h.
    message : why the run ended before it had passed its stop, or "".
    """

    early_stop: EarlyStop
    steps: int
    rejected: int
    message: str


def flow_watched(
    A: FloatArray,
    y: FloatArray,
    *,
    depth: float,
    log_alpha: float,
    watch: Watch,
    norm_A: float,
    max_steps: int = MAX_STEPS,
    time_limit: float | None = None,
) -> WatchedFlow:
    """The flow from u = v = alpha on (A, y), recording the watched curves at every step, until
    the watched curve (the held-out loss with a hold-out, else the error to x_true) has risen
    to ``watch.stop_factor`` times its minimum or the time is TIME_FACTOR times that of the
    minimum (and the curve is above its minimum), or ``max_steps``.

    Parameters
    ----------
    A : (m, N).  y : (m,).  depth : p >= 2.  log_alpha : ln alpha.
    watch : what to record (x_true and/or held-out rows), with the stop factor.
    norm_A : ||A||_2 (where the stiff coordinates begin).

    Raises
    ------
    TimeLimitError : ``time_limit`` was hit.
    """
    p = float(depth)
    deadline = Deadline(time_limit)
    scale_exp = scale_exponent(A)
    A, y = normalize(A, y, scale_exp)
    A_hold, y_hold = watch.A_hold, watch.y_hold
    if A_hold is not None and y_hold is not None:
        A_hold, y_hold = normalize(A_hold, y_hold, scale_exp)
    norm2 = math.ldexp(norm_A, scale_exp) ** 2
    n = A.shape[1]
    log_u = np.full(n, float(log_alpha))
    log_v = np.full(n, float(log_alpha))
    x = model_x(log_u, log_v, p)
    residual = y - A @ x
    # The first step moves the fastest ln u_i by MAX_MOVE / 2 (p u^(p-2) |A^T y|_i at most).
    start_rate = p * math.exp((p - 2.0) * log_alpha) * float(np.max(np.abs(A.T @ y)))
    h = 0.5 * MAX_MOVE / start_rate if start_rate > 0 else 1.0
    times: list[float] = []
    errors: list[float] = []
    held: list[float] = []
    best, best_time = math.inf, 0.0
    best_x: FloatArray | None = None
    clock = 0.0
    steps = rejected = 0
    message = ""
    gram = _Gram(A)
    while True:
        times.append(clock)
        if watch.x_true is not None:
            errors.append(float(np.linalg.norm(x - watch.x_true)))
        if A_hold is not None and y_hold is not None:
            r_hold = A_hold @ x - y_hold
            held.append(0.5 * float(r_hold @ r_hold))
        curve = held if held else errors
        if curve[-1] < best:
            best, best_time, best_x = curve[-1], clock, x
        elif (watch.stop_factor is not None and curve[-1] >= watch.stop_factor * best) or (
            clock >= TIME_FACTOR * best_time and best_time > 0
        ):
            break
        if steps >= max_steps:
            message = f"the step budget ({max_steps}) ended the run before its stop"
            break
        if steps % DEADLINE_EVERY == 0:
            deadline.remaining("the flow's early-stopping run")
        with np.errstate(over="ignore", under="ignore"):
            slope = p * p * (np.exp((2 * p - 2) * log_u) + np.exp((2 * p - 2) * log_v))
            speed = p * np.exp((p - 2.0) * np.maximum(log_u, log_v))  # d ln u / dw, d ln v / dw
        # What the watched curve measures, to keep its change per step small (a sharp minimum
        # sampled coarsely would be missed): x - x_true, and the held-out residual.
        gap = None if watch.x_true is None else float(np.linalg.norm(x - watch.x_true))
        held_gap = None if not held else float(np.linalg.norm(r_hold))
        while True:
            step = _ros2_step(A, y, gram, log_u, log_v, residual, slope, h * norm2, h, p)
            if step is not None:
                new_u, new_v, error = step
                new_x = model_x(new_u, new_v, p)
                ratio = max(
                    _largest_move(new_u - log_u, new_v - log_v) / MAX_MOVE,
                    math.sqrt(float(np.max(speed * np.abs(error))) / LOCAL_TOL),
                    _relative(new_x - x, gap) / CURVE_STEP,
                    _relative(A_hold @ (new_x - x), held_gap) / CURVE_STEP
                    if A_hold is not None
                    else 0.0,
                )
                if ratio <= 2.0:  # within twice each aim (and the local error within its tolerance)
                    break
            else:
                ratio = 4.0  # a stage crossed the singularity of u or v: much shorter
            rejected += 1
            h *= SAFETY / ratio if math.isfinite(ratio) else 0.25
        log_u, log_v, x = new_u, new_v, new_x
        residual = y - A @ x
        clock += h
        steps += 1
        h *= min(GROWTH, SAFETY / ratio) if ratio > 0 else GROWTH
    # The flow on (2^k A, 2^k y) runs 4^k times faster: its time t_n is the user's 4^k t_n.
    recorded = np.ldexp(np.array(times), 2 * scale_exp)
    holdout = np.ldexp(np.array(held), -2 * scale_exp) if held else None
    early = summarize(
        recorded, np.array(errors) if errors else None, holdout, time_unit="t",
        holdout_fraction=watch.fraction, holdout_rows=watch.rows, stop_x=best_x,
    )  # fmt: skip
    return WatchedFlow(early, steps, rejected, message)


def _ros2_step(
    A: FloatArray,
    y: FloatArray,
    gram: _Gram,
    log_u: FloatArray,
    log_v: FloatArray,
    residual: FloatArray,
    slope: FloatArray,
    h_norm2: float,
    h: float,
    p: float,
) -> tuple[FloatArray, FloatArray, FloatArray] | None:
    """One ROS2 step of q' = y - A x(q) (module docstring): ln u, ln v after it and the
    difference to the embedded first-order step, in w = A^T q (the local error estimate);
    None when a stage would cross the singularity of u or v."""
    stiff = np.flatnonzero(GAMMA * h_norm2 * slope > STIFF)
    shift = GAMMA * h * slope[stiff]
    k1 = gram.solve_shifted(residual, stiff, shift)
    w1 = A.T @ k1
    mid_u, mid_v = _moved(log_u, log_v, h * w1, p)
    if not (np.all(np.isfinite(mid_u)) and np.all(np.isfinite(mid_v))):
        return None
    k2 = gram.solve_shifted(y - A @ model_x(mid_u, mid_v, p) - 2.0 * k1, stiff, shift)
    w2 = A.T @ k2
    new_u, new_v = _moved(log_u, log_v, h * (1.5 * w1 + 0.5 * w2), p)
    if not (np.all(np.isfinite(new_u)) and np.all(np.isfinite(new_v))):
        return None
    return new_u, new_v, 0.5 * h * (w1 + w2)


def _moved(
    log_u: FloatArray, log_v: FloatArray, dw: FloatArray, p: float
) -> tuple[FloatArray, FloatArray]:
    """ln u and ln v after w moved by dw (module docstring): exact for the flow; NaN where
    the move would cross the singularity of u or v (p > 2; the step is then retaken)."""
    if p == 2.0:
        return log_u + 2.0 * dw, log_v - 2.0 * dw
    q = p * (p - 2.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        new_u = log_u - np.log1p(-q * np.exp((p - 2.0) * log_u) * dw) / (p - 2.0)
        new_v = log_v - np.log1p(q * np.exp((p - 2.0) * log_v) * dw) / (p - 2.0)
    return new_u, new_v


def _relative(change: FloatArray, size: float | None) -> float:
    """||change|| / size, 0 without a size (that curve is not watched)."""
    if size is None:
        return 0.0
    return float(np.linalg.norm(change)) / size if size > 0 else math.inf


def _largest_move(du: FloatArray, dv: FloatArray) -> float:
    """max |du|, |dv|; inf when a move is not a number (a crossed singularity)."""
    top = max(float(np.max(np.abs(du), initial=0.0)), float(np.max(np.abs(dv), initial=0.0)))
    return top if math.isfinite(top) else math.inf


class _Gram:
    """Solves (I + A_S diag(H) A_Sᵀ) z = r for a set S of columns and H > 0 (length |S|):
    through (diag(1/H) + A_SᵀA_S) (Woodbury) when |S| <= m, keeping A_SᵀA_S while S stays the
    same; through the m x m matrix otherwise."""

    def __init__(self, A: FloatArray) -> None:
        self.A = A
        self.columns: IntArray = np.zeros(0, dtype=np.int64)
        self.A_S = A[:, :0]
        self.gram = np.zeros((0, 0))

    def solve_shifted(self, r: FloatArray, columns: IntArray, H: FloatArray) -> FloatArray:
        if columns.size == 0:
            return r
        m = self.A.shape[0]
        if not np.array_equal(columns, self.columns):
            # A_S and its Gram matrix are kept while S stays the same (most steps)
            self.columns, self.A_S = columns, self.A[:, columns]
            self.gram = self.A_S.T @ self.A_S if columns.size <= m else np.zeros((0, 0))
        A_S = self.A_S
        if columns.size <= m:
            system = self.gram + np.diag(1.0 / H)
            try:
                factor = scipy.linalg.cho_factor(system, check_finite=False)
            except np.linalg.LinAlgError:
                pass  # numerically singular (tiny 1/H, dependent columns): the m x m form
            else:
                return r - A_S @ scipy.linalg.cho_solve(factor, A_S.T @ r, check_finite=False)
        system = np.eye(m) + (A_S * H) @ A_S.T
        return np.asarray(scipy.linalg.solve(system, r, assume_a="pos", check_finite=False))
