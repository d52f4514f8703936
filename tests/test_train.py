"""dlncli train: log-domain GD/SGD, its effective initialisation and the exact limit it reaches.

References used here are independent of the code under test: a plain (u, v) gradient descent in
mpmath (no logs, no effective-start algebra), a stiff ODE integration of the raw (ln u, ln v)
flow from an unbalanced start, and closed forms for the stability bound at the start.
"""

from __future__ import annotations

import math
from typing import Any

import mpmath as mp
import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.integrate import solve_ivp

import dlncli
from dlncli.dln.limit import flow_limit, unbalanced_limit
from dlncli.dln.train import SGD_CHUNK, _batch_weights, hessian_lambda_max, model_x, train
from dlncli.problem_io import load_sample

FloatArray = NDArray[np.float64]


def _problem(name: str) -> tuple[FloatArray, FloatArray]:
    if name == "gauss5x12":
        rng = np.random.default_rng(7)
        A = rng.standard_normal((5, 12)) / np.sqrt(5)
        return A, rng.standard_normal(5)
    prob = load_sample(name)
    return prob.A, prob.y


def _safe_lr(A: FloatArray, y: FloatArray, depth: float, fraction: float = 1.0) -> float:
    """A step size well inside stability at the balanced flow limit (sharpness ~ 0.6 fraction)."""
    top = float(np.max(np.abs(np.linalg.lstsq(A, y, rcond=None)[0])))
    curvature = depth**2 * np.linalg.norm(A, 2) ** 2 * max(top, 1.0) ** (2 - 2 / depth)
    return float(fraction / curvature)


# ------------------------------------------------------------------ the identity


@pytest.mark.parametrize("name", ["line", "plane", "random3x5", "gauss5x12"])
@pytest.mark.parametrize("depth", [2.0, 2.5, 3.0])
@pytest.mark.parametrize("batch", [None, 1])
def test_prediction_is_an_identity(name: str, depth: float, batch: int | None) -> None:
    A, y = _problem(name)
    lr = _safe_lr(A, y, depth)
    result = train(A, y, depth=depth, log_alpha=math.log(0.1), lr=lr, batch=batch, seed=3)
    assert result.converged and not result.diverged
    # tol's target, or the rounding floor of ||A x - y|| just above it (train's message says so)
    target = 1e-28 * 0.5 * float(y @ y)
    floor = "rounding floor" in result.message and result.loss <= 100 * target
    assert result.loss <= target or floor
    assert result.predicted_x is not None and result.prediction_error is not None
    assert result.prediction_error <= 1e-9 * float(np.max(np.abs(result.x)))
    # Not a tautology: the effective start differs from alpha, and the flow limit at the
    # nominal alpha is a different point.
    assert result.effective_log_u is not None and result.effective_log_v is not None
    assert np.max(np.abs(result.effective_log_u - math.log(0.1))) > 1e-4
    assert result.flow_limit_distance is not None
    assert result.flow_limit_distance > 1e3 * result.prediction_error
    assert result.sharpness is not None and 0 < result.sharpness < 2


def test_sgd_depends_on_seed_and_batch_and_is_reproducible() -> None:
    A, y = _problem("gauss5x12")
    lr = _safe_lr(A, y, 2.0)
    one = train(A, y, depth=2.0, log_alpha=math.log(0.1), lr=lr, batch=2, seed=1)
    again = train(A, y, depth=2.0, log_alpha=math.log(0.1), lr=lr, batch=2, seed=1)
    other = train(A, y, depth=2.0, log_alpha=math.log(0.1), lr=lr, batch=2, seed=2)
    assert np.array_equal(one.x, again.x) and one.steps == again.steps
    assert float(np.max(np.abs(one.x - other.x))) > 1e-8
    assert one.to_dict()["batch"] == 2 and one.to_dict()["seed"] == 1


# ------------------------------------------------------------------ independent references


def _mp_gd(
    A: FloatArray,
    y: FloatArray,
    depth: float,
    alpha: float,
    lr: float,
    steps: int,
    weights: list[FloatArray] | None = None,
) -> tuple[list[mp.mpf], list[mp.mpf], list[mp.mpf], list[mp.mpf]]:
    """Plain GD on (u, v) in 50-digit mpmath, with the effective start summed per step by the
    formulas of docs/train.md. SGD: ``weights[k]`` multiplies the residual at step k (m / B on
    the drawn rows, 0 elsewhere). Returns u, v, ln u_eff, ln v_eff."""
    with mp.workdps(50):
        m, n = A.shape
        p = mp.mpf(depth)
        Am = [[mp.mpf(float(A[i, j])) for j in range(n)] for i in range(m)]
        ym = [mp.mpf(float(v)) for v in y]
        u = [mp.mpf(alpha)] * n
        v = [mp.mpf(alpha)] * n
        su = [mp.mpf(0)] * n
        sv = [mp.mpf(0)] * n
        for k in range(steps):
            x = [u[j] ** p - v[j] ** p for j in range(n)]
            r = [sum(Am[i][j] * x[j] for j in range(n)) - ym[i] for i in range(m)]
            if weights is not None:
                r = [r[i] * mp.mpf(float(weights[k][i])) for i in range(m)]
            g = [sum(Am[i][j] * r[i] for i in range(m)) for j in range(n)]
            for j in range(n):
                eu = lr * p * u[j] ** (p - 2) * g[j]
                ev = lr * p * v[j] ** (p - 2) * g[j]
                if depth == 2.0:
                    su[j] += mp.log(1 - eu) + eu
                    sv[j] += mp.log(1 + ev) - ev
                else:
                    su[j] += u[j] ** (2 - p) * ((1 - eu) ** (2 - p) - 1 - (p - 2) * eu)
                    sv[j] += v[j] ** (2 - p) * ((1 + ev) ** (2 - p) - 1 + (p - 2) * ev)
                u[j] = u[j] * (1 - eu)
                v[j] = v[j] * (1 + ev)
        la = mp.log(mp.mpf(alpha))
        if depth == 2.0:
            lue = [la + s for s in su]
            lve = [la + s for s in sv]
        else:
            lue = [mp.log(mp.mpf(alpha) ** (2 - p) + s) / (2 - p) for s in su]
            lve = [mp.log(mp.mpf(alpha) ** (2 - p) + s) / (2 - p) for s in sv]
        return u, v, lue, lve


@pytest.mark.parametrize("depth", [2.0, 2.5, 3.0])
def test_iterates_and_effective_start_match_plain_mpmath_gd(depth: float) -> None:
    A, y = _problem("line")
    lr, steps, alpha = 0.004, 150, 0.2
    run = train(A, y, depth=depth, log_alpha=math.log(alpha), lr=lr, max_steps=steps, predict=False)
    assert run.steps == steps and not run.converged
    u, v, lue, lve = _mp_gd(A, y, depth, alpha, lr, steps)
    x_ref = np.array([float(a**depth - b**depth) for a, b in zip(u, v, strict=True)])
    assert np.max(np.abs(run.x - x_ref)) <= 1e-12 * np.max(np.abs(x_ref))
    assert run.effective_log_u is not None and run.effective_log_v is not None
    assert np.max(np.abs(run.effective_log_u - np.array([float(t) for t in lue]))) < 1e-12
    assert np.max(np.abs(run.effective_log_v - np.array([float(t) for t in lve]))) < 1e-12


@pytest.mark.parametrize("depth", [2.0, 2.5])
def test_sgd_iterates_match_plain_mpmath_sgd_on_the_same_rows(depth: float) -> None:
    # The rows of step k: the B smallest of m keys drawn SGD_CHUNK steps at a time from the
    # seed (docs/train.md §1); 300 steps cross a chunk boundary.
    A, y = _problem("gauss5x12")
    m = A.shape[0]
    lr, steps, alpha, batch, seed = 0.01, 300, 0.3, 2, 5
    rng = np.random.default_rng(seed)
    keys = np.concatenate([rng.random((SGD_CHUNK, m)) for _ in range(2)])[:steps]
    weights = []
    for row in keys:
        w = np.zeros(m)
        w[np.argsort(row)[:batch]] = m / batch
        weights.append(w)
    run = train(
        A,
        y,
        depth=depth,
        log_alpha=math.log(alpha),
        lr=lr,
        batch=batch,
        seed=seed,
        max_steps=steps,
        predict=False,
    )
    assert run.steps == steps and not run.converged
    u, v, lue, lve = _mp_gd(A, y, depth, alpha, lr, steps, weights)
    x_ref = np.array([float(a**depth - b**depth) for a, b in zip(u, v, strict=True)])
    assert np.max(np.abs(run.x - x_ref)) <= 1e-12 * np.max(np.abs(x_ref))
    assert run.effective_log_u is not None and run.effective_log_v is not None
    assert np.max(np.abs(run.effective_log_u - np.array([float(t) for t in lue]))) < 1e-12
    assert np.max(np.abs(run.effective_log_v - np.array([float(t) for t in lve]))) < 1e-12


def test_batch_weights_take_exactly_the_b_smallest_keys() -> None:
    rng = np.random.default_rng(4)
    keys = rng.random((40, 7))
    for batch in (1, 3, 7):
        w = _batch_weights(keys, batch, 2.5)
        expected = np.zeros_like(keys)
        np.put_along_axis(expected, np.argsort(keys, axis=1)[:, :batch], 2.5, axis=1)
        assert np.array_equal(w, expected)
    # Ties at the B-th smallest key still give B rows, among the tied ones.
    tied = np.array([[0.5, 0.1, 0.5, 0.5, 0.9], [0.3, 0.3, 0.3, 0.3, 0.3]])
    w = _batch_weights(tied, 2, 1.0)
    assert np.array_equal(np.count_nonzero(w, axis=1), [2, 2])
    assert w[0, 1] == 1.0 and w[0, 4] == 0.0


def test_batch_rows_are_uniform_without_replacement() -> None:
    # Each of the C(5, 2) = 10 pairs has probability 1/10: counts within 5 sigma.
    rng = np.random.default_rng(11)
    trials = 20_000
    w = _batch_weights(rng.random((trials, 5)), 2, 1.0)
    pairs = np.array([int("".join("1" if t else "0" for t in row), 2) for row in w > 0])
    counts = np.bincount(pairs, minlength=32)
    chosen = counts[counts > 0]
    assert chosen.size == 10
    sigma = math.sqrt(trials * 0.1 * 0.9)
    assert np.all(np.abs(chosen - trials / 10) < 5 * sigma)


def _raw_flow_limit(
    A: FloatArray, y: FloatArray, depth: float, log_u0: FloatArray, log_v0: FloatArray
) -> FloatArray:
    """Integrate d ln u/dt = -p u^(p-2) g, d ln v/dt = p v^(p-2) g (g = A^T(Ax - y)) to t = 1e5
    with Radau; no mirror map and no dual involved."""
    n = A.shape[1]
    p = depth

    def rhs(t: float, w: FloatArray) -> FloatArray:
        lu, lv = w[:n], w[n:]
        g = A.T @ (A @ (np.exp(p * lu) - np.exp(p * lv)) - y)
        return np.concatenate([-p * np.exp((p - 2) * lu) * g, p * np.exp((p - 2) * lv) * g])

    sol = solve_ivp(
        rhs, (0.0, 1e5), np.concatenate([log_u0, log_v0]), method="Radau", rtol=1e-12, atol=1e-13
    )
    assert sol.success
    w = sol.y[:, -1]
    return np.asarray(np.exp(p * w[:n]) - np.exp(p * w[n:]))


@pytest.mark.parametrize("depth", [2.0, 2.5, 3.0])
def test_unbalanced_limit_matches_the_raw_flow(depth: float) -> None:
    A, y = _problem("line")
    log_u0 = np.log(np.array([0.3, 0.05, 0.2]))
    log_v0 = np.log(np.array([0.1, 0.25, 0.02]))
    limit = flow_limit(A, y, depth=depth, log_alpha=math.log(0.2), log_u0=log_u0, log_v0=log_v0)
    assert limit.certified and limit.route.startswith("unbalanced")
    assert limit.residual_inf <= 1e-12
    reference = _raw_flow_limit(A, y, depth, log_u0, log_v0)
    assert np.max(np.abs(limit.x - reference)) <= 1e-7
    balanced = flow_limit(A, y, depth=depth, log_alpha=math.log(0.2))
    assert np.max(np.abs(limit.x - balanced.x)) > 1e-2  # the start matters


@pytest.mark.parametrize("depth", [2.0, 2.5, 3.0, 4.0])
@pytest.mark.parametrize("log10_alpha", [-1.0, -3.0, -6.0])
def test_balanced_start_reproduces_flow_limit(depth: float, log10_alpha: float) -> None:
    A, y = _problem("random3x5")
    la = log10_alpha * math.log(10.0)
    balanced = flow_limit(A, y, depth=depth, log_alpha=la)
    start = np.full(A.shape[1], la)
    same = unbalanced_limit(A, y, depth=depth, log_u0=start, log_v0=start)
    scale = float(np.max(np.abs(balanced.x)))
    assert np.max(np.abs(same.x - balanced.x)) <= 1e-11 * scale


def test_unbalanced_limit_with_tiny_p3_start_uses_extended_precision() -> None:
    A, y = _problem("line")
    la = math.log(1e-8)
    log_u0 = np.array([la, la - 1.0, la + 0.5])
    log_v0 = np.array([la - 2.0, la, la])
    limit = unbalanced_limit(A, y, depth=3.0, log_u0=log_u0, log_v0=log_v0)
    assert limit.check_precision != "float64"
    assert limit.residual_inf <= 1e-12
    # Tiny starts: the limit is the depth-3 flow's choice on the BP face, which sums to 3.
    assert abs(float(np.sum(np.abs(limit.x))) - 3.0) < 1e-6


def test_unbalanced_limit_rejects_bad_arrays() -> None:
    A, y = _problem("line")
    with pytest.raises(ValueError, match="shape"):
        unbalanced_limit(A, y, depth=2.0, log_u0=np.zeros(2), log_v0=np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        unbalanced_limit(A, y, depth=2.0, log_u0=np.full(3, np.nan), log_v0=np.zeros(3))
    with pytest.raises(ValueError, match="together"):
        flow_limit(A, y, depth=2.0, log_alpha=0.0, log_u0=np.zeros(3))


# ------------------------------------------------------------------ step size


@pytest.mark.parametrize("depth", [2.0, 2.5, 3.0])
def test_small_steps_approach_the_flow_limit_linearly(depth: float) -> None:
    A, y = _problem("random3x5")
    base = _safe_lr(A, y, depth)
    etas = [base, base / 2, base / 4]
    errors = []
    for eta in etas:
        run = train(A, y, depth=depth, log_alpha=math.log(0.1), lr=eta)
        assert run.converged and run.flow_limit_distance is not None
        errors.append(run.flow_limit_distance)
    slopes = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(0.85 < s < 1.15 for s in slopes), (errors, slopes)


def test_a_large_step_diverges_with_the_stability_bound() -> None:
    A, y = _problem("line")
    run = train(A, y, depth=2.0, log_alpha=math.log(0.1), lr=0.5)
    assert run.diverged and not run.converged
    assert run.predicted_x is None and run.effective_log_u is None
    assert f"step {run.steps}" in run.message or f"step {run.steps + 1}" in run.message
    assert f"{run.stability_bound:.6g}" in run.message
    assert run.to_dict()["status"] == "diverged"
    # The step that would leave u, v > 0 is not taken: x and the loss are the last iterate's.
    assert np.all(np.isfinite(run.x)) and math.isfinite(run.loss)
    assert run.loss == run.loss_curve[-1] and run.loss_curve.shape == (run.steps + 1,)


@pytest.mark.parametrize("depth", [3.0, 4.0])
def test_divergence_after_some_steps(depth: float) -> None:
    # Well below the bound at the start (tiny u^(p-2)), far above it once u has grown.
    A, y = _problem("line")
    la = math.log(0.01)
    start = train(A, y, depth=depth, log_alpha=la, lr=1.0, max_steps=0, predict=False)
    run = train(A, y, depth=depth, log_alpha=la, lr=0.1 * start.stability_bound)
    assert run.diverged and run.steps > 3
    assert "diverged at step" in run.message and f"{start.stability_bound:.6g}" in run.message
    assert run.loss_curve.size == run.steps + 1


@pytest.mark.parametrize("depth", [2.0, 3.0])
@pytest.mark.parametrize("alpha", [0.5, 1e-30])
def test_stability_bound_at_the_start_closed_form(depth: float, alpha: float) -> None:
    A, y = _problem("plane")
    la = math.log(alpha)
    start = np.full(A.shape[1], la)
    # At u = v = alpha, x = 0: in the basis (e_u +- e_v)/sqrt 2, H = [[0, D], [D, K]] with
    # D = -p(p-1) alpha^(p-2) A^T y and K = 2 p^2 alpha^(2p-2) A^T A.
    D = np.diag(-depth * (depth - 1) * alpha ** (depth - 2) * (A.T @ y))
    K = 2 * depth**2 * alpha ** (2 * depth - 2) * (A.T @ A)
    H = np.block([[np.zeros_like(K), D], [D, K]])
    expected = float(np.linalg.eigvalsh(H)[-1])
    got = hessian_lambda_max(A, y, start, start, depth)
    assert got == pytest.approx(expected, rel=1e-10, abs=0)
    run = train(A, y, depth=depth, log_alpha=la, lr=1e-3, max_steps=0, predict=False)
    assert run.stability_bound == pytest.approx(2 / expected, rel=1e-10, abs=0)


def test_lanczos_and_dense_lambda_max_agree() -> None:
    rng = np.random.default_rng(2)
    A = rng.standard_normal((30, 250)) / np.sqrt(30)
    y = rng.standard_normal(30)
    lu = np.log(rng.uniform(0.05, 1.0, 250))
    lv = np.log(rng.uniform(0.05, 1.0, 250))
    big = hessian_lambda_max(A, y, lu, lv, 2.5)  # 2N = 500: Lanczos
    p = 2.5
    ju, jv = np.exp((p - 1) * lu), np.exp((p - 1) * lv)
    AJ = A @ np.concatenate([np.diag(ju), -np.diag(jv)], axis=1)
    g = A.T @ (A @ model_x(lu, lv, p) - y)
    diag = np.concatenate(
        [p * (p - 1) * np.exp((p - 2) * lu) * g, -p * (p - 1) * np.exp((p - 2) * lv) * g]
    )
    dense = float(np.linalg.eigvalsh(p * p * (AJ.T @ AJ) + np.diag(diag))[-1])
    assert big == pytest.approx(dense, rel=1e-7, abs=0)


# ------------------------------------------------------------------ tiny alpha


def test_alpha_1e_30_depth_2_converges_and_the_identity_holds() -> None:
    A, y = _problem("random3x5")
    run = train(A, y, depth=2.0, log_alpha=math.log(1e-30), lr=_safe_lr(A, y, 2.0))
    assert run.converged
    assert run.prediction_error is not None
    assert run.prediction_error <= 1e-9 * float(np.max(np.abs(run.x)))
    assert run.bp_distance is not None and run.bp_distance < 1e-3  # tiny alpha: BP recovered
    assert run.effective_log_u is not None and np.all(np.isfinite(run.effective_log_u))
    assert run.to_dict()["alpha"] == pytest.approx(1e-30, rel=1e-12, abs=0)


def test_alpha_1e_30_sgd_identity() -> None:
    A, y = _problem("gauss5x12")
    run = train(A, y, depth=2.0, log_alpha=math.log(1e-30), lr=_safe_lr(A, y, 2.0), batch=2)
    assert run.converged and run.prediction_error is not None
    assert run.prediction_error <= 1e-9 * float(np.max(np.abs(run.x)))


def test_alpha_1e_30_depth_3_keeps_its_logs() -> None:
    # GD at p = 3 from alpha = 1e-30 moves ln u by eta p alpha g ~ 1e-31 per step: it cannot
    # leave the start in float64 (nor in any float64 GD), but nothing underflows or fails.
    A, y = _problem("line")
    la = math.log(1e-30)
    run = train(A, y, depth=3.0, log_alpha=la, lr=0.01, max_steps=50)
    assert run.steps == 50 and not run.converged and not run.diverged
    assert np.all(np.isfinite(run.x)) and np.max(np.abs(run.x)) < 1e-80
    assert run.effective_log_u is not None and np.allclose(run.effective_log_u, la, rtol=1e-15)
    assert run.flow_limit_distance is not None and math.isfinite(run.flow_limit_distance)
    assert "not converged" in run.message
    # The stability bound is astronomically large, computed without underflow.
    assert 1e28 < run.stability_bound < 1e31


def test_public_api() -> None:
    A, y = _problem("line")
    run = dlncli.train(A, y, depth=2.0, alpha=0.1, lr=0.005)
    assert isinstance(run, dlncli.TrainReport) and run.converged
    keys = {
        "x",
        "steps",
        "loss",
        "converged",
        "diverged",
        "lr",
        "batch",
        "seed",
        "alpha",
        "depth",
        "effective_log_u",
        "effective_log_v",
        "predicted_x",
        "prediction_error",
        "flow_limit_distance",
        "bp_distance",
        "sharpness",
        "elapsed_s",
    }
    assert keys <= set(run.to_dict())
    assert run.loss_curve.shape == (run.steps + 1,)
    assert run.loss_curve[-1] == run.loss


def test_bad_arguments() -> None:
    A, y = _problem("line")
    for kwargs, match in (
        ({"lr": 0.0}, "lr"),
        ({"lr": math.inf}, "lr"),
        ({"lr": 0.1, "batch": 3}, "batch"),
        ({"lr": 0.1, "max_steps": -1}, "max_steps"),
    ):
        with pytest.raises(ValueError, match=match):
            train(A, y, depth=2.0, log_alpha=0.0, **kwargs)  # type: ignore[arg-type]


def test_time_limit_is_one_budget_for_the_anchor_steps_and_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dlncli.dln.train as train_module

    seen: dict[str, float | None] = {}

    def spy(name: str, real: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            seen[name] = kwargs.get("time_limit")
            return real(*args, **kwargs)

        return wrapped

    for name in ("bp_anchor", "flow_limit", "unbalanced_limit"):
        monkeypatch.setattr(train_module, name, spy(name, getattr(train_module, name)))
    A, y = _problem("line")
    run = train_module.train(A, y, depth=2.0, log_alpha=math.log(0.1), lr=0.005, time_limit=30.0)
    assert run.converged and set(seen) == {"bp_anchor", "flow_limit", "unbalanced_limit"}
    budgets = [seen["bp_anchor"], seen["flow_limit"], seen["unbalanced_limit"]]
    assert all(b is not None and 0 < b <= 30.0 for b in budgets)
    assert budgets[0] >= budgets[1] >= budgets[2]  # type: ignore[operator]  # what is left
