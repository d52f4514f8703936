"""Gradient descent and SGD on the diagonal linear network, and the exact limit they reach.

Notation (docs/model.md, docs/train.md): A is (m, N), y is (m,), the depth p >= 2 is real,
x = u^p - v^p with u, v > 0 started at u = v = alpha, and L = 1/2 ||A x - y||^2. One step with
step size eta and gradient g = A^T (A x - y) (SGD: (m / B) A_B^T (A_B x - y_B) over B rows
drawn without replacement) is

    u <- u (1 - eps_u),   v <- v (1 + eps_v),   eps_u = eta p u^(p-2) g,  eps_v = eta p v^(p-2) g,

carried out on ln u and ln v with log1p, so u and v never underflow (alpha = 1e-30 is fine).

The effective initialisation (docs/train.md): GD's iterates are exactly the gradient flow's
mirror-map states from a per-coordinate start (u_eff, v_eff), with nu = eta sum_k (y - A x_k):

    p = 2:  ln u_eff = ln alpha + sum_k [log1p(-eps_u) + eps_u],
            ln v_eff = ln alpha + sum_k [log1p(eps_v) - eps_v],
            u_k = u_eff e^(2 A^T nu),  v_k = v_eff e^(-2 A^T nu);
    p > 2:  u_eff^(2-p) = alpha^(2-p) + sum_k u_k^(2-p) r(eps_u),
            v_eff^(2-p) = alpha^(2-p) + sum_k v_k^(2-p) r(-eps_v),
            r(e) = (1 - e)^(2-p) - 1 - (p - 2) e >= 0,
            u_k^(2-p) = u_eff^(2-p) - p(p-2) A^T nu,  v_k^(2-p) = v_eff^(2-p) + p(p-2) A^T nu.

So once GD interpolates (A x = y), x is the flow limit from (u_eff, v_eff), which
:func:`dlncli.dln.limit.unbalanced_limit` computes independently: ``prediction_error`` is the
distance between the two, zero up to rounding and the final residual.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlncli.arrays import UNIT_ROUNDOFF, FloatArray
from dlncli.deadline import Deadline
from dlncli.dln.early_stop import Watch, summarize
from dlncli.dln.limit import (
    LimitResult,
    bp_anchor,
    flow_limit,
    normalize,
    scale_exponent,
    unbalanced_limit,
)
from dlncli.errors import OptionError, TimeLimitError
from dlncli.reports import EarlyStop, TrainReport

DEFAULT_TOL = 1e-28  # loss <= DEFAULT_TOL * 1/2 ||y||^2: machine-precision interpolation
DEFAULT_MAX_STEPS = 100_000
EXPLODE_FACTOR = 1e8  # a loss this many times the initial one is divergence
DENSE_EIG_MAX = 400  # 2N up to this: dense eigvalsh for lambda_max; above, Lanczos


def model_x(log_u: FloatArray, log_v: FloatArray, depth: float) -> FloatArray:
    """x = u^p - v^p from ln u, ln v, as e^(p ln v) expm1(p (ln u - ln v)) where that is
    finite (no cancellation when u ~ v), e^(p ln u) - e^(p ln v) elsewhere."""
    w = depth * (log_u - log_v)
    with np.errstate(over="ignore", invalid="ignore"):
        near = np.abs(w) <= 1.0
        x = np.where(
            near,
            np.exp(depth * log_v) * np.expm1(np.where(near, w, 0.0)),
            np.exp(depth * log_u) - np.exp(depth * log_v),
        )
    # u = v is x = 0 exactly, also where u^p overflows (alpha = 1e300: inf * 0).
    return np.asarray(np.where(w == 0.0, 0.0, x))


def hessian_lambda_max(
    A: FloatArray, y: FloatArray, log_u: FloatArray, log_v: FloatArray, depth: float
) -> float:
    """lambda_max of the Hessian of L(u, v) = 1/2 ||A (u^p - v^p) - y||^2, (2N, 2N):

        H = p^2 J^T A^T A J + diag(p(p-1) u^(p-2) g, -p(p-1) v^(p-2) g),
        J = [diag(u^(p-1)), -diag(v^(p-1))],  g = A^T (A x - y).

    Dense eigvalsh for 2N <= DENSE_EIG_MAX, else Lanczos (scipy eigsh) on H as an operator.
    """
    p = depth
    n = A.shape[1]
    # Scaled by e^-S so that nothing overflows or underflows (alpha = 1e300 or 1e-300,
    # p = 1e300): H e^-S = Jt^T A^T A Jt + diag(D e^-S) with Jt = p e^(-S/2) J, where S is the
    # larger of the two parts' log sizes; lambda_max = e^S lambda_max(H e^-S).
    top = float(max(np.max(log_u), np.max(log_v))) if n else 0.0
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        g = A.T @ (A @ model_x(log_u, log_v, p) - y)
        g_top = float(np.max(np.abs(g), initial=0.0))
        if not math.isfinite(g_top):
            return math.inf  # x overflowed: no finite curvature to report
        log_pp = math.log(p) + math.log(p - 1) if p > 1 else -math.inf
        log_scale = 2.0 * math.log(p) + 2.0 * (p - 1) * top
        if g_top > 0:
            log_scale = max(log_scale, log_pp + (p - 2) * top + math.log(g_top))
        half = math.log(p) - 0.5 * log_scale
        ju, jv = np.exp((p - 1) * log_u + half), np.exp((p - 1) * log_v + half)
        diag = np.concatenate(
            [
                np.exp(log_pp + (p - 2) * log_u - log_scale) * g,
                -np.exp(log_pp + (p - 2) * log_v - log_scale) * g,
            ]
        )
    if not (np.all(np.isfinite(diag)) and np.all(np.isfinite(ju)) and np.all(np.isfinite(jv))):
        return math.inf
    if 2 * n <= DENSE_EIG_MAX:
        J = np.concatenate([np.diag(ju), -np.diag(jv)], axis=1)  # (N, 2N)
        AJ = A @ J
        H = AJ.T @ AJ + np.diag(diag)
        scaled = float(np.linalg.eigvalsh(H)[-1])
    else:
        from scipy.sparse.linalg import LinearOperator, eigsh

        def apply(w: FloatArray) -> FloatArray:
            w = np.ravel(w)
            t = A.T @ (A @ (ju * w[:n] - jv * w[n:]))
            return np.asarray(np.concatenate([ju * t, -jv * t]) + diag * w)

        op = LinearOperator((2 * n, 2 * n), matvec=apply, dtype=np.float64)
        start = np.ones(2 * n)  # a fixed start vector: reproducible results and iteration counts
        vals = eigsh(op, k=1, which="LA", return_eigenvectors=False, tol=1e-8, v0=start)
        scaled = float(vals[0])
    if scaled <= 0.0:
        return scaled * math.exp(min(log_scale, 700.0)) if scaled < 0 else 0.0
    log_value = math.log(scaled) + log_scale
    return math.exp(log_value) if log_value < 709.0 else math.inf


def _left_orthant(step: int, signed: FloatArray, lr: float, bound: float) -> str:
    """The message for a step whose factor 1 + e (e = -eps_u, eps_v: ``signed``) is <= 0."""
    i = int(np.argmin(signed.min(axis=0)))
    return (
        f"diverged at step {step}: coordinate {i} would leave u, v > 0 (factor "
        f"1 -+ eta p u^(p-2) g <= 0); lr {lr:.6g} against the stability bound "
        f"2/lambda_max = {bound:.6g} at the start"
    )


def train(
    A: FloatArray,
    y: FloatArray,
    *,
    depth: float,
    log_alpha: float,
    lr: float,
    batch: int | None = None,
    seed: int = 0,
    max_steps: int = DEFAULT_MAX_STEPS,
    tol: float = DEFAULT_TOL,
    predict: bool = True,
    watch: Watch | None = None,
    time_limit: float | None = None,
) -> TrainReport:
    """Run GD (or SGD with ``batch`` rows) on (u, v) from u = v = alpha and explain its result.

    Each step is u <- u - eta dL/du, v <- v - eta dL/dv with dL/du = p u^(p-1) g,
    dL/dv = -p v^(p-1) g (module docstring), on ln u and ln v. The run stops when
    L <= tol * 1/2 ||y||^2 (converged), after ``max_steps``, or when it diverges: a non-finite
    loss, a loss above EXPLODE_FACTOR times the initial one, or (p > 2) a factor 1 - eps_u or
    1 + eps_v <= 0 (u or v would leave the positive orthant). At p = 2 such a factor is a sign
    flip of u or v, which x = u^2 - v^2 ignores: GD goes on with ln|u| (MATH.md §7). The loss
    target is tol * 1/2 ||y||^2, or the rounding floor of ||A x - y|| when that is higher.
    The run is made on the normalized (2^k A, 2^k y) with step eta 4^-k (the same iterates).

    Parameters
    ----------
    A : (m, N).  y : (m,).  depth : p >= 2.  log_alpha : ln alpha (any real).
    lr : the step size eta > 0.
    batch : B rows per SGD step (drawn without replacement each step from ``seed``; the
        gradient is scaled by m / B). None: full-batch GD.
    max_steps : K.  tol : relative loss target.
    predict : compute the flow limits (effective start, nominal alpha) and the BP distance.
    watch : what to measure at every step for early stopping (the error to x_true, the
        loss on held-out rows): ``early_stop`` of the report (docs/noise.md).
    time_limit : wall-clock seconds for the whole run, one budget: the BP anchor, the steps
        (checked every 1000 steps) and both exact limits get what is left.

    Raises
    ------
    TimeLimitError : ``time_limit`` was hit.
    InfeasibleError : y is not in the range of A (with ``predict``).

    Returns
    -------
    TrainReport (its ``to_dict()`` is the JSON of ``dlncli train``).
    """
    start = time.perf_counter()
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    m, n = A.shape
    p = float(depth)
    if p < 2 or not math.isfinite(p):
        raise ValueError(f"depth must be a real number >= 2, got {depth}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite number > 0, got {lr}")
    if batch is not None and not 1 <= batch <= m:
        raise ValueError(f"batch must be between 1 and m = {m}, got {batch}")
    if max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    la = float(log_alpha)
    deadline = Deadline(time_limit)
    # GD on (2^k A, 2^k y) with step eta 4^-k has the same iterates (u, v) exactly (the
    # gradient scales by 4^k): the run is made there, where 1/2 ||y||^2 neither underflows
    # nor overflows, and the loss, its curve and the stability bound are mapped back
    # (x 4^-k, x 4^-k, x 4^k). k normalizes max|A| as the flow limit does.
    scale_exp = scale_exponent(A)
    A_user, y_user = A, y
    A, y = normalize(A, y, scale_exp)
    lr_n = _ldexp(lr, -2 * scale_exp)
    if not (lr_n > 0 and math.isfinite(lr_n)):
        raise OptionError(
            "lr",
            lr,
            f"a step eta with eta * max|A|^2 in float64's range (max|A| = 2^{-scale_exp - 1} "
            "to 2^{-scale_exp})",
            f"{lr:.6g} on data with max|A| ~ 2^{-scale_exp} is a step of {lr_n:.3g} on the "
            "normalized problem (max|A| ~ 1): GD could not move, or would overflow at once; "
            f"the same run on 2^{scale_exp} A, 2^{scale_exp} y takes eta 4^{-scale_exp} lr",
        )
    # BP first: an infeasible problem (y not in range A) is reported before any step.
    anchor = bp_anchor(A, y, time_limit=_left(deadline, "the BP anchor")) if predict else None
    lam0 = hessian_lambda_max(A, y, np.full(n, la), np.full(n, la), p)
    bound_n = 2.0 / lam0 if lam0 > 0 else math.inf
    bound = _ldexp(bound_n, 2 * scale_exp)
    target = tol * 0.5 * float(y @ y)
    run = _descend(
        A,
        y,
        depth=p,
        log_alpha=la,
        lr=lr_n,
        batch=batch,
        seed=seed,
        max_steps=max_steps,
        target=target,
        time_limit=time_limit,
        start=start,
        bound=bound,
        user_lr=lr,
        watch=_normalized_watch(watch, scale_exp),
    )
    lu, lv = run.log_u, run.log_v
    step, converged, diverged, message = run.steps, run.converged, run.diverged, run.message
    loss, loop_s = run.curve[-1], run.loop_s
    x = model_x(lu, lv, p)
    eff_u, eff_v = run.effective_log_u, run.effective_log_v
    sharpness = None
    if not diverged:
        sharpness = lr_n * hessian_lambda_max(A, y, lu, lv, p)
    predicted = None
    prediction_error = flow_distance = bp_distance = None
    bp_reference = "bp"
    if anchor is not None and not diverged:
        balanced = flow_limit(
            A,
            y,
            depth=p,
            log_alpha=la,
            anchor=anchor,
            time_limit=_left(deadline, "the flow limit at the nominal alpha"),
        )
        flow_distance = _max_abs(x - balanced.x)
        if anchor.bp.unique:
            bp_point = anchor.bp.x
        else:
            # A face of BP minimizers: compare with the point the depth's flow selects on it
            # (A, y are normalized already: anchor.scale_exp is 0 here).
            from dlncli.dln.tiebreak import select_minimizer

            bp_point = select_minimizer(A, y, anchor.bp, [p]).selections[0].x
            bp_reference = "tie-break"
        bp_distance = _max_abs(x - bp_point)
        if converged and eff_u is not None and eff_v is not None:
            limit = unbalanced_limit(
                A,
                y,
                depth=p,
                log_u0=eff_u,
                log_v0=eff_v,
                log_alpha=la,
                anchor=anchor,
                balanced=balanced,
                time_limit=_left(deadline, "the predicted limit"),
            )
            predicted = limit.x
            prediction_error = _max_abs(x - predicted)
    if not diverged and not converged:
        message = (
            (f"{message}; " if message else "")
            + f"not converged after {step} steps (loss {_ldexp(loss, -2 * scale_exp):.3g} > "
            f"{_ldexp(run.target, -2 * scale_exp):.3g}): the effective-start identity holds "
            "at interpolation only, so predicted_x is not given"
        )
    elif converged and run.target > target:
        message = (
            f"converged at the rounding floor of ||A x - y|| (loss "
            f"{_ldexp(loss, -2 * scale_exp):.3g} <= {_ldexp(run.target, -2 * scale_exp):.3g}, "
            f"above tol * 1/2 ||y||^2 = {_ldexp(target, -2 * scale_exp):.3g})"
        )
    loss = _ldexp(loss, -2 * scale_exp)
    curve = np.ldexp(np.asarray(run.curve), -2 * scale_exp)
    A, y = A_user, y_user
    return TrainReport(
        x=x,
        steps=step,
        loss=loss,
        converged=converged,
        diverged=diverged,
        lr=lr,
        batch=batch,
        seed=seed if batch is not None else None,
        alpha=_exp_or_zero(la),
        log_alpha=la,
        depth=p,
        effective_log_u=eff_u,
        effective_log_v=eff_v,
        predicted_x=predicted,
        prediction_error=prediction_error,
        flow_limit_distance=flow_distance,
        bp_distance=bp_distance,
        sharpness=sharpness,
        stability_bound=bound,
        elapsed_s=time.perf_counter() - start,
        message=message,
        bp_reference=bp_reference,
        loop_s=loop_s,
        loss_curve=curve,
        early_stop=_early_stop(run, watch, scale_exp),
    )


def _normalized_watch(watch: Watch | None, scale_exp: int) -> Watch | None:
    """The watch on the normalized data (held-out rows scaled like A and y; x is unchanged)."""
    if watch is None or not watch.active:
        return None
    if watch.A_hold is None or watch.y_hold is None:
        return watch
    A_hold, y_hold = normalize(watch.A_hold, watch.y_hold, scale_exp)
    return Watch(watch.x_true, A_hold, y_hold, watch.rows, watch.fraction, watch.stop_factor)


def _early_stop(run: _Descent, watch: Watch | None, scale_exp: int) -> EarlyStop | None:
    if watch is None or not watch.active:
        return None
    holdout = None
    if run.holdout_losses is not None:
        holdout = np.ldexp(np.asarray(run.holdout_losses), -2 * scale_exp)
    errors = None if run.errors is None else np.asarray(run.errors)
    return summarize(
        np.arange(run.steps + 1, dtype=np.float64), errors, holdout, time_unit="step",
        holdout_fraction=watch.fraction, holdout_rows=watch.rows, stop_x=run.stop_x,
    )  # fmt: skip


@dataclass(frozen=True)
class _Descent:
    """What :func:`_descend` returns: the last iterate's ln u, ln v (N,), the loss curve
    (steps + 1 entries), the outcome, ln u_eff, ln v_eff (None if diverged) and the loop's
    wall time."""

    log_u: FloatArray
    log_v: FloatArray
    curve: list[float]
    steps: int
    converged: bool
    diverged: bool
    message: str
    effective_log_u: FloatArray | None
    effective_log_v: FloatArray | None
    loop_s: float
    target: float  # the loss target reached or missed: tol's, or the rounding floor's
    errors: list[float] | None = None  # ||x_k - x_true||_2 per iterate (with a watch)
    holdout_losses: list[float] | None = None  # 1/2 ||A_hold x_k - y_hold||^2 per iterate
    stop_x: FloatArray | None = None  # the iterate at the watched curve's minimum


SGD_CHUNK = 256  # SGD draws the rows of this many steps at once (fewer rows if m is large)


def _descend(
    A: FloatArray,
    y: FloatArray,
    *,
    depth: float,
    log_alpha: float,
    lr: float,
    batch: int | None,
    seed: int,
    max_steps: int,
    target: float,
    time_limit: float | None,
    start: float,
    bound: float,
    user_lr: float,
    watch: Watch | None = None,
) -> _Descent:
    """The steps of :func:`train` (module docstring) and the effective start they imply.

    At 50 x 200 an array operation costs about as much as its call (~0.3 us on equal shapes,
    0.5-1 us when it broadcasts a scalar or a row), so the loop makes few calls, on
    preallocated, equal-shaped arrays: ln u, ln v are the rows of one (2, N) array; the
    constants are full arrays; eta p alpha^(p-2) (times m / B and the row mask for SGD) scales
    the residual (an m-vector) instead of g; the exponents of u^p, v^p and of
    w = (u / alpha)^(p-2) are one (2, 2, N) array, with one exp.
    """
    m, n = A.shape
    p, la = depth, log_alpha
    pm2 = p - 2.0
    general = p != 2.0
    cubic = p == 3.0
    loop_start = time.perf_counter()

    def full(value: float) -> FloatArray:
        return np.full((2, n), value)

    c_p, c_la, c_pm2, c_mpm2, floor = full(p), full(la), full(pm2), full(-pm2), full(-700.0)
    one = full(1.0)
    minus_two = full(-2.0)
    # base = eta p alpha^(p-2): s = (-eps_u, eps_v) = (-1, 1) (A^T (base r)) w.
    base = lr * p * math.exp(pm2 * la) if la * pm2 > -745.0 else 0.0
    rng = np.random.default_rng(seed) if batch is not None else None
    chunk = max(1, min(SGD_CHUNK, 2**20 // m))

    keys = np.empty((chunk, m)) if rng is not None else np.empty((0, m))
    sgd_weights = np.empty_like(keys)

    def draw_rows() -> FloatArray:
        """The residual weights of the next ``chunk`` SGD steps (one per row)."""
        assert rng is not None and batch is not None
        rng.random(out=keys)
        return _batch_weights(keys, batch, base * m / batch, sgd_weights)

    weights = draw_rows() if rng is not None else np.full((1, m), base)
    weight = weights[0]
    # u^p - v^p loses about eps * alpha^p to cancellation: harmless (and cheapest) while
    # alpha^p is far below the scale of x, ~ max|y| / ||A||_F; otherwise
    # x = sign(ln u - ln v) max(u^p, v^p) (1 - e^(-p |ln u - ln v|)), which neither cancels
    # nor overflows (as model_x, in fewer calls).
    y_scale = float(np.max(np.abs(y), initial=0.0)) / max(float(np.linalg.norm(A)), 1e-300)
    cheap = p * la < math.log(max(1e-4 * y_scale, 1e-300))
    c_mp = np.full(n, -p)

    # ln u, ln v themselves, not relative to ln alpha: near the end of a run the steps are
    # below the resolution of ln u where u ~ alpha, but not where u ~ 1 (ln u ~ 0).
    luv = np.full((2, n), la)
    new = np.empty((2, n))
    grad = np.empty((2, n))  # (-base g, base g) with g = A^T r (SGD: A^T rhat)
    grad_u, grad_v = grad[0], grad[1]
    s = np.empty((2, n)) if general else grad  # (-eps_u, eps_v)
    dlog = np.empty((2, n))
    rem = np.empty((2, n))
    term = np.empty((2, n))
    expo = np.empty((2, 2, n))  # p ln(u, v) and (p - 2) ln((u, v) / alpha)
    powers = np.empty((2, 2, n))  # u^p, v^p and w
    e_p, e_w = expo[0], expo[1]
    pw, w = powers[0], powers[1]
    pw_u, pw_v = pw[0], pw[1]
    x = np.zeros(n)
    diff = np.empty(n)
    gap = np.empty(n)
    r = np.empty(m)
    rb = np.empty(m)
    # Effective start: p = 2 from the iterate and R = sum_k base rhat_k, since
    # ln u_k = ln u_eff - A^T R exactly; p > 2 by the per-step sums of (u_k/alpha)^(2-p)
    # r(e) (relative to alpha^(2-p)), which keep their digits where u^(2-p) - p(p-2)A^T nu
    # would cancel.
    R = np.zeros(m)
    acc = np.zeros((2, n))  # rows: u, v
    np.multiply(luv, c_p, e_p)
    np.subtract(luv, c_la, e_w)
    np.multiply(e_w, c_pm2, e_w)
    with np.errstate(over="ignore", under="ignore"):  # alpha^p = 1e600: inf, caught below
        np.exp(expo, powers)
    np.subtract(np.dot(A, x), y, r)  # x = 0 at u = v = alpha
    loss = 0.5 * float(np.dot(r, r))
    loss0 = loss
    explode = min(EXPLODE_FACTOR * max(loss0, 1e-300), sys.float_info.max)
    curve = [loss]
    recorder = None if watch is None else _Recorder(watch, x)
    step = 0
    k = 0  # the row of ``weights`` for the next step
    abs_a = np.abs(A)
    y_top = float(np.max(np.abs(y), initial=0.0))
    requested = target

    def at_floor() -> float:
        """The loss target: tol's, or the rounding floor of the computed ||A x - y||, if that
        is higher. x_j = e^(p ln u_j) - ... carries a relative error up to (p + 2 + p |ln u_j|) u
        (ln u_j is stored to u |ln u_j|, then exp and the difference round), and each residual
        entry is a sum of N products (N u (|A| |x|)_i) minus y_i (u |y_i|): so with
        w_j = N + p + 2 + p max(|ln u_j|, |ln v_j|), f = u (max_i (|A| (w |x|))_i + max|y|),
        1/2 m f^2 is a loss the computed residual cannot be asked to go below."""
        weight = n + p + 2.0 + p * np.max(np.abs(luv), axis=0)
        floor = UNIT_ROUNDOFF * (float(np.max(abs_a @ (weight * np.abs(x)), initial=0.0)) + y_top)
        return float(max(requested, 0.5 * m * floor * floor))

    converged, diverged = loss <= target, False
    message = ""
    dot, add, subtract, multiply, divide = np.dot, np.add, np.subtract, np.multiply, np.divide
    negative, maximum, exp, expm1, log1p = np.negative, np.maximum, np.exp, np.expm1, np.log1p
    absolute, copysign = np.absolute, np.copysign
    append = curve.append
    old = np.seterr(under="ignore", over="ignore", invalid="ignore", divide="ignore")
    try:
        while not converged and step < max_steps:
            if time_limit is not None and time.perf_counter() - start > time_limit:
                raise TimeLimitError(
                    f"time limit of {time_limit:.3g} s reached after {step} steps (loss "
                    f"{loss:.3g}); use a larger --time-limit or fewer --max-steps"
                )
            stop = min(max_steps, step + 1000)  # the clock is read every 1000 steps
            target = at_floor()
            while step < stop:
                if rng is None:
                    multiply(r, weight, rb)
                else:
                    if k == chunk:
                        weights, k = draw_rows(), 0
                    multiply(r, weights[k], rb)
                    k += 1
                dot(rb, A, grad_v)
                negative(grad_v, grad_u)
                # The step is ln(u, v) += log1p(s). No check that 1 + s > 0 here (a reduction
                # costs as much as a product with A): a factor <= 0 gives a NaN loss below,
                # and the step is then undone.
                if general:
                    multiply(grad, w, s)
                    log1p(s, dlog)
                else:
                    # p = 2: x = u^2 - v^2 ignores the sign of u, so a factor 1 + s <= 0 is
                    # a sign flip, not divergence: ln|u| += ln|1 + s| (MATH.md §7), which is
                    # log1p(s) for s > -1 and log1p(-2 - s) below (the larger of the two).
                    subtract(minus_two, s, rem)
                    maximum(s, rem, out=rem)
                    log1p(rem, dlog)
                add(luv, dlog, new)
                if cubic:
                    # p = 3: r = s^2 / (1 + s) exactly, and r / w = s (-+base g) / (1 + s).
                    add(s, one, rem)
                    multiply(s, grad, term)
                    divide(term, rem, term)
                    add(acc, term, acc)
                elif general:
                    # (u_k / alpha)^(2-p) r = r / w with r = (1 + s)^(2-p) - 1 - (2-p) s for
                    # the signed e s: expm1((2-p) log1p(s)) + (p-2) s (docs/train.md §2).
                    multiply(dlog, c_mpm2, rem)
                    expm1(rem, rem)
                    multiply(s, c_pm2, term)
                    add(term, rem, term)
                    divide(term, w, term)
                    add(acc, term, acc)
                else:
                    add(R, rb, R)
                luv, new = new, luv  # new keeps the previous iterate
                step += 1
                multiply(luv, c_p, e_p)
                if general:
                    # w >= e^-700, so that r / w above stays finite (e ~ w then: the clamp
                    # changes u by a relative 1e-300 at most).
                    subtract(luv, c_la, e_w)
                    multiply(e_w, c_pm2, e_w)
                    maximum(e_w, floor, out=e_w)
                    exp(expo, powers)
                else:
                    exp(e_p, pw)
                if cheap:
                    subtract(pw_u, pw_v, x)
                else:
                    subtract(luv[0], luv[1], diff)
                    absolute(diff, gap)
                    multiply(gap, c_mp, gap)
                    expm1(gap, gap)
                    maximum(pw_u, pw_v, out=x)
                    multiply(x, gap, x)
                    copysign(x, diff, x)
                dot(A, x, r)
                subtract(r, y, r)
                loss = 0.5 * float(dot(r, r))
                append(loss)
                if recorder is not None:
                    recorder.record(x)
                if not loss <= explode:  # also a NaN or infinite loss
                    diverged = True
                    if general and not s.min() > -1.0:
                        message = _left_orthant(step, s, user_lr, bound)
                        luv, new = new, luv
                        step -= 1
                        curve.pop()
                        loss = curve[-1]
                        if recorder is not None:
                            recorder.undo()
                    else:
                        message = (
                            f"diverged at step {step}: {_growth(loss, loss0)}; lr "
                            f"{user_lr:.6g} against the stability bound 2/lambda_max = "
                            f"{bound:.6g} at the start (take lr below it)"
                        )
                    break
                if loss <= target:
                    converged = True
                    break
            if diverged:
                break
            if recorder is not None and recorder.past_the_minimum():
                message = (
                    f"stopped at step {step}: the watched curve rose to "
                    f"{recorder.factor:g} times its minimum (early stopping)"
                )
                break
    finally:
        np.seterr(**old)
    loop_s = time.perf_counter() - loop_start
    if not diverged and not converged:
        target = at_floor()
        converged = loss <= target
    if not diverged and not np.all(np.isfinite(luv)):
        # A factor 1 -+ e was exactly 0 at some step (u or v became 0): no positive start.
        diverged = True
        message = (
            f"diverged: a factor 1 -+ eta p u^(p-2) g was exactly 0 (u or v reached 0); lr "
            f"{user_lr:.6g} against the stability bound 2/lambda_max = {bound:.6g} at the start"
        )
    lu, lv = luv[0].copy(), luv[1].copy()
    eff_u: FloatArray | None = None
    eff_v: FloatArray | None = None
    if not diverged:
        if general:
            eff_u = la + np.log1p(acc[0]) / (2.0 - p)
            eff_v = la + np.log1p(acc[1]) / (2.0 - p)
        else:
            shift = A.T @ R
            eff_u, eff_v = lu + shift, lv - shift
    return _Descent(
        lu, lv, curve, step, converged, diverged, message, eff_u, eff_v, loop_s, target,
        None if recorder is None else recorder.errors,
        None if recorder is None else recorder.held,
        None if recorder is None else recorder.best_x,
    )  # fmt: skip


class _Recorder:
    """Early stopping's measurements of every iterate: ||x - x_true||_2 and the held-out loss
    1/2 ||A_hold x - y_hold||^2, in preallocated buffers."""

    def __init__(self, watch: Watch, x: FloatArray) -> None:
        self.x_true, self.A_hold, self.y_hold = watch.x_true, watch.A_hold, watch.y_hold
        self.factor = watch.stop_factor
        self.errors: list[float] | None = None if self.x_true is None else []
        self.held: list[float] | None = None if self.A_hold is None else []
        self.gap = np.empty_like(x)
        self.r = np.empty(0 if self.A_hold is None else self.A_hold.shape[0])
        # The iterate at the watched curve's first minimum (the stop early stopping takes).
        self.best = math.inf
        self.best_x: FloatArray | None = None
        self.record(x)

    def record(self, x: FloatArray) -> None:
        if self.errors is not None and self.x_true is not None:
            np.subtract(x, self.x_true, self.gap)
            self.errors.append(math.sqrt(float(np.dot(self.gap, self.gap))))
        if self.held is not None and self.A_hold is not None and self.y_hold is not None:
            np.dot(self.A_hold, x, self.r)
            np.subtract(self.r, self.y_hold, self.r)
            self.held.append(0.5 * float(np.dot(self.r, self.r)))
        watched = self.held if self.held is not None else self.errors
        if watched and watched[-1] < self.best:
            self.best, self.best_x = watched[-1], x.copy()

    def past_the_minimum(self) -> bool:
        """Whether the watched curve (held-out loss, else error) has risen to ``factor``
        times its minimum: the stop lies behind, and the rest of the run fits the noise."""
        curve = self.held if self.held is not None else self.errors
        if self.factor is None or not curve:
            return False
        return curve[-1] >= self.factor * min(curve)

    def undo(self) -> None:
        for measured in (self.errors, self.held):
            if measured:
                measured.pop()


def _batch_weights(
    keys: FloatArray, batch: int, value: float, out: FloatArray | None = None
) -> FloatArray:
    """SGD's residual weights from uniform keys (steps, m): ``value`` on the B rows of each
    step with the B smallest keys (B rows drawn without replacement), 0 elsewhere. ``out``
    (the shape of ``keys``) receives them, and is the sorting work space before that."""
    work = np.empty_like(keys) if out is None else out
    work[...] = keys
    work.partition(batch - 1, axis=1)
    chosen = keys <= work[:, batch - 1 : batch]
    for i in np.flatnonzero(np.count_nonzero(chosen, axis=1) != batch):
        # Keys equal to the B-th smallest (53-bit keys: about never): B of them by index.
        chosen[i] = False
        chosen[i, np.argpartition(keys[i], batch - 1)[:batch]] = True
    return np.multiply(chosen, value, out=work)


def _left(deadline: Deadline, what: str) -> float | None:
    """Seconds left of the run's budget for the next stage (TimeLimitError when none)."""
    return deadline.remaining(what)


def _growth(loss: float, loss0: float) -> str:
    if not math.isfinite(loss):
        return f"the loss became {loss}"
    return f"the loss grew {loss / loss0:.3g} times"


def _ldexp(value: float, exponent: int) -> float:
    """value * 2^exponent, inf or 0 beyond float64's range."""
    try:
        return math.ldexp(value, exponent)
    except OverflowError:
        return math.copysign(math.inf, value)


def _max_abs(v: FloatArray) -> float:
    return float(np.max(np.abs(v), initial=0.0))


def _exp_or_zero(log_value: float) -> float:
    return math.exp(log_value) if log_value > -745.0 else 0.0


@dataclass(frozen=True)
class StepSweep:
    """GD at fixed alpha and depth over several step sizes: where large steps stop
    recovering BP (``dlncli compare --method gd``). ``runs`` are in the order of ``lrs``."""

    depth: float
    log_alpha: float
    runs: tuple[TrainReport, ...]

    def to_dict(self) -> dict[str, Any]:
        keys = (
            "lr",
            "status",
            "steps",
            "loss",
            "bp_distance",
            "bp_reference",
            "flow_limit_distance",
            "prediction_error",
            "sharpness",
            "stability_bound",
            "elapsed_s",
        )
        return {
            "depth": self.depth,
            "log_alpha": self.log_alpha,
            "rows": [{k: run.to_dict()[k] for k in keys} for run in self.runs],
        }


def sweep_step_sizes(
    A: FloatArray,
    y: FloatArray,
    *,
    depth: float,
    log_alpha: float,
    lrs: list[float],
    batch: int | None = None,
    seed: int = 0,
    max_steps: int = DEFAULT_MAX_STEPS,
    tol: float = DEFAULT_TOL,
) -> StepSweep:
    """:func:`train` at each step size in ``lrs`` (same alpha, depth, batch, seed)."""
    runs = tuple(
        train(
            A,
            y,
            depth=depth,
            log_alpha=log_alpha,
            lr=lr,
            batch=batch,
            seed=seed,
            max_steps=max_steps,
            tol=tol,
        )
        for lr in lrs
    )
    return StepSweep(float(depth), float(log_alpha), runs)


__all__ = ["LimitResult", "StepSweep", "TrainReport", "sweep_step_sizes", "train"]
