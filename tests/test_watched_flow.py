"""The flow stopped early (dln/watched.py) against the project's Radau integration of the same
flow (dlncli.flow, an independent method: implicit order-5 collocation in face coordinates),
the closed form of ln u along w, and the flow's scaling law."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import dlncli
from dlncli.dln import watched
from dlncli.dln.early_stop import Watch, holdout_rows
from dlncli.dln.train import model_x
from dlncli.problem_io import load_problem

NOISY = "noisy:40:120:4:0.05:3"


def _run(A, y, x_true, depth, alpha, **kw):  # type: ignore[no-untyped-def]
    return watched.flow_watched(
        A, y, depth=depth, log_alpha=math.log(alpha), norm_A=float(np.linalg.norm(A, 2)),
        watch=Watch(x_true=x_true, stop_factor=2.0), **kw,
    )  # fmt: skip


@pytest.mark.parametrize(("depth", "alpha"), [(2.0, 1e-3), (3.0, 1e-2), (4.0, 10**-1.5)])
def test_the_stop_and_window_equal_the_radau_flow(depth: float, alpha: float) -> None:
    p = load_problem(NOISY)
    assert p.x_true is not None
    ours = _run(p.A, p.y, p.x_true, depth, alpha).early_stop
    assert ours.oracle_time is not None and ours.oracle_error is not None
    assert ours.window_hi is not None
    reference = dlncli.flow(p, alpha=alpha, depth=depth, t_end=3.0 * ours.window_hi).early_stop
    assert reference is not None and reference.oracle_error is not None
    assert reference.oracle_time is not None and reference.window_ratio is not None
    # First order with ln u moves <= MAX_MOVE per step, and the stop read off the steps taken.
    assert ours.oracle_error == pytest.approx(reference.oracle_error, rel=5e-3)
    assert ours.oracle_time == pytest.approx(reference.oracle_time, rel=3e-2)
    assert ours.window_ratio == pytest.approx(reference.window_ratio, rel=3e-2)


def test_tighter_steps_bring_the_stop_to_the_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tightening the local-error tolerance and the curve's step brings the stop's error to
    the Radau flow's: the integrator converges to the flow, not to something nearby."""
    p = load_problem(NOISY)
    assert p.x_true is not None
    reference = dlncli.flow(p, alpha=1e-3, depth=2.0, t_end=60.0).early_stop
    assert reference is not None and reference.oracle_error is not None
    gaps = []
    for tol, curve in ((1e-1, 0.2), (watched.LOCAL_TOL, watched.CURVE_STEP), (1e-4, 0.002)):
        monkeypatch.setattr(watched, "LOCAL_TOL", tol)
        monkeypatch.setattr(watched, "CURVE_STEP", curve)
        run = _run(p.A, p.y, p.x_true, 2.0, 1e-3)
        errors = run.early_stop.errors
        assert errors is not None
        gaps.append(abs(float(np.min(errors)) - reference.oracle_error))
        assert np.all(np.diff(run.early_stop.times) > 0)
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-4 * reference.oracle_error


@pytest.mark.parametrize("depth", [2.0, 2.5, 3.0, 4.0])
def test_ln_u_moves_by_the_closed_form(depth: float) -> None:
    """u^(2-p) = alpha^(2-p) - p (p-2) w (p > 2), u = alpha e^(p w) (p = 2): the move from w
    to w + dw in 50 digits."""
    rng = np.random.default_rng(7)
    log_u = rng.uniform(-4.0, 0.5, 6)
    log_v = rng.uniform(-4.0, 0.5, 6)
    dw = rng.uniform(-0.05, 0.05, 6)
    new_u, new_v = watched._moved(log_u, log_v, dw, depth)
    mpmath.mp.dps = 50
    p = mpmath.mpf(depth)
    for i in range(6):
        u, v, d = mpmath.e ** mpmath.mpf(log_u[i]), mpmath.e ** mpmath.mpf(log_v[i]), dw[i]
        if depth == 2.0:
            want_u, want_v = u * mpmath.e ** (2 * d), v * mpmath.e ** (-2 * d)
        else:
            q = p * (p - 2)
            want_u = (u ** (2 - p) - q * d) ** (-1 / (p - 2))
            want_v = (v ** (2 - p) + q * d) ** (-1 / (p - 2))
        assert new_u[i] == pytest.approx(float(mpmath.log(want_u)), rel=1e-13, abs=1e-14)
        assert new_v[i] == pytest.approx(float(mpmath.log(want_v)), rel=1e-13, abs=1e-14)


def test_scaled_data_run_the_same_flow_faster() -> None:
    """The flow on (c A, c y) is x_A(c^2 t): the stops' times divide by c^2 = 2^40, errors equal."""
    p = load_problem(NOISY)
    assert p.x_true is not None
    base = _run(p.A, p.y, p.x_true, 3.0, 1e-2).early_stop
    scaled = _run(p.A * 2.0**20, p.y * 2.0**20, p.x_true, 3.0, 1e-2).early_stop
    assert base.oracle_time is not None and scaled.oracle_time is not None
    assert scaled.oracle_time == pytest.approx(base.oracle_time * 2.0**-40, rel=1e-12)
    assert scaled.oracle_error == pytest.approx(base.oracle_error, rel=1e-12)


def test_the_holdout_stop_keeps_its_iterate() -> None:
    """stop_x is x at the smallest held-out loss, and that loss is recomputed from it."""
    p = load_problem(NOISY)
    assert p.x_true is not None
    mask = holdout_rows(40, 0.25, seed=1)
    watch = Watch(
        x_true=p.x_true, A_hold=p.A[mask], y_hold=p.y[mask], stop_factor=2.0,
        rows=tuple(np.flatnonzero(mask)), fraction=0.25,
    )  # fmt: skip
    run = watched.flow_watched(
        p.A[~mask], p.y[~mask], depth=2.0, log_alpha=math.log(1e-3),
        norm_A=float(np.linalg.norm(p.A, 2)), watch=watch,
    )  # fmt: skip
    stop = run.early_stop
    assert stop.holdout_losses is not None and stop.stop_x is not None
    assert stop.errors is not None
    k = int(np.argmin(stop.holdout_losses))
    r = p.A[mask] @ stop.stop_x - p.y[mask]
    assert 0.5 * float(r @ r) == pytest.approx(float(stop.holdout_losses[k]), rel=1e-12)
    assert stop.holdout_error == pytest.approx(float(stop.errors[k]), rel=0)
    assert float(np.linalg.norm(stop.stop_x - p.x_true)) == pytest.approx(stop.holdout_error)
    # It ended past its stop: the held-out loss rose to twice its minimum or 4x its time.
    assert run.message == ""
    t = stop.times
    assert stop.holdout_losses[-1] >= 2 * stop.holdout_losses[k] or t[-1] >= 4 * t[k]


def test_the_start_is_u_equal_v_and_x_zero() -> None:
    p = load_problem(NOISY)
    assert p.x_true is not None
    run = _run(p.A, p.y, p.x_true, 3.0, 1e-2, max_steps=0)
    assert run.steps == 0 and "step budget" in run.message
    errors = run.early_stop.errors
    assert errors is not None
    assert errors[0] == pytest.approx(float(np.linalg.norm(p.x_true)), rel=1e-15)
    assert np.all(model_x(np.zeros(3), np.zeros(3), 3.0) == 0.0)
