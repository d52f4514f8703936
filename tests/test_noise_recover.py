"""Early stopping (train, flow) and `recover`: every number against an independent
recomputation (separate runs, plain numpy, the noise module's own estimators)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dlncli
from dlncli.dln.early_stop import Watch, holdout_rows, summarize
from dlncli.dln.train import train
from dlncli.noise.lasso import basis_pursuit_denoise, lasso_cv
from dlncli.problem_io import load_problem
from tests.helpers import run, run_json

NOISY = "noisy:30:90:4:0.05:1"


def test_the_window_is_located_by_interpolation_in_log_time() -> None:
    # e(t) = 1 + |ln t - 3|, sampled at ln t = 0, 0.25, ..., 6: the minimum 1 at t = e^3, the
    # 10 % window ln t in [2.9, 3.1] (linear in ln t between samples, so exact).
    log_t = np.arange(0.0, 6.0001, 0.25)
    times = np.exp(log_t)
    errors = 1.0 + np.abs(log_t - 3.0)
    held = (log_t - 2.5) ** 2
    stop = summarize(times, errors, held, time_unit="t")
    assert stop.oracle_time == pytest.approx(math.exp(3.0), rel=1e-15)
    assert stop.oracle_error == 1.0
    assert stop.window_lo == pytest.approx(math.exp(2.9), rel=1e-13)
    assert stop.window_hi == pytest.approx(math.exp(3.1), rel=1e-13)
    assert stop.window_ratio == pytest.approx(math.exp(0.2), rel=1e-13)
    assert stop.holdout_time == pytest.approx(math.exp(2.5), rel=1e-15)
    assert stop.holdout_error == pytest.approx(1.5, rel=1e-15)


def test_a_window_at_the_end_of_the_run_ends_there() -> None:
    stop = summarize(np.arange(5.0), np.array([5.0, 4.0, 3.0, 2.0, 1.0]), None, time_unit="step")
    assert stop.oracle_time == 4.0 and stop.window_hi == 4.0 and stop.holdout_time is None
    # e = 1.1 between step 4 (e = 1) and step 3 (e = 2): a tenth of the way, in ln t.
    expected = math.exp(math.log(4.0) + 0.1 * (math.log(3.0) - math.log(4.0)))
    assert stop.window_lo == pytest.approx(expected, rel=1e-14)


def test_gd_records_the_error_of_every_iterate() -> None:
    p = load_problem(NOISY)
    assert p.x_true is not None and p.sigma == 0.05
    la = math.log(1e-3)
    run_all = train(
        p.A, p.y, depth=2.0, log_alpha=la, lr=0.05, max_steps=300, predict=False,
        watch=Watch(x_true=p.x_true),
    )  # fmt: skip
    stop = run_all.early_stop
    assert stop is not None and stop.errors is not None and stop.errors.size == 301
    for k in (0, 1, 37, 150, 300):  # separate runs stopped at k steps: the same iterates
        x_k = train(p.A, p.y, depth=2.0, log_alpha=la, lr=0.05, max_steps=k, predict=False).x
        assert stop.errors[k] == pytest.approx(np.linalg.norm(x_k - p.x_true), rel=1e-14)
    best = int(np.argmin(stop.errors))
    assert stop.oracle_time == best and stop.oracle_error == stop.errors[best]


def test_holdout_rows_are_seeded_and_their_loss_is_recorded() -> None:
    p = load_problem(NOISY)
    mask = holdout_rows(30, 0.2, seed=3)
    assert mask.sum() == 6 and np.array_equal(mask, holdout_rows(30, 0.2, seed=3))
    assert not np.array_equal(mask, holdout_rows(30, 0.2, seed=4))
    report = dlncli.train(
        p, lr=0.05, alpha="1e-3", max_steps=200, holdout=0.2, seed=3, predict=False
    )
    stop = report.early_stop
    assert stop is not None and stop.holdout_losses is not None
    assert stop.holdout_rows == tuple(int(i) for i in np.flatnonzero(mask))
    la = math.log(1e-3)
    for k in (0, 50, 200):
        x_k = train(p.A[~mask], p.y[~mask], depth=2.0, log_alpha=la, lr=0.05, max_steps=k,
                    predict=False).x  # fmt: skip
        r = p.A[mask] @ x_k - p.y[mask]
        assert stop.holdout_losses[k] == pytest.approx(0.5 * float(r @ r), rel=1e-13)


def test_flow_early_stopping_reads_the_ode_states() -> None:
    report = dlncli.flow(NOISY, alpha="1e-3", depth=2, trajectory=True)
    stop = report.early_stop
    assert stop is not None and stop.errors is not None and report.trajectory is not None
    p = load_problem(NOISY)
    assert p.x_true is not None
    expected = np.linalg.norm(report.trajectory["x"] - p.x_true, axis=1)
    np.testing.assert_allclose(stop.errors, expected, rtol=1e-14)
    np.testing.assert_array_equal(report.trajectory["es_error"], stop.errors)
    assert stop.oracle_error == pytest.approx(float(expected.min()), rel=1e-15)
    doc = run_json("flow", NOISY, "--alpha", "1e-3", "--depth", "2")
    assert doc["early_stopping"]["oracle_error"] == pytest.approx(stop.oracle_error, rel=1e-12)


def test_recover_rows_against_independent_estimators() -> None:
    p = load_problem(NOISY)
    assert p.x_true is not None and p.sigma is not None
    report = dlncli.recover(p, depths=["2"], max_steps=3000, folds=5, seed=0)
    rows = {(r.method, r.stop): r for r in report.rows}
    support = np.flatnonzero(p.x_true)
    oracle = np.zeros(90)
    oracle[support] = np.linalg.lstsq(p.A[:, support], p.y, rcond=None)[0]
    cv = lasso_cv(p.A, p.y, folds=5, seed=0)
    bpdn = basis_pursuit_denoise(p.A, p.y, p.sigma * math.sqrt(30))
    for key, x_hat in (
        (("ls-oracle", ""), oracle),
        (("lasso-cv", ""), cv.x),
        (("bpdn", ""), bpdn.x),
    ):
        row = rows[key]
        assert row.error_l2 == pytest.approx(np.linalg.norm(x_hat - p.x_true), rel=1e-12)
        assert row.mse == pytest.approx(row.error_l2**2 / 90, rel=1e-15)
        chosen = np.abs(x_hat) > report.threshold
        on = np.isin(np.arange(90), support)
        assert row.false_positives == int(np.sum(chosen & ~on))
        assert row.false_negatives == int(np.sum(~chosen & on))
    assert report.threshold == 0.5 * float(np.min(np.abs(p.x_true[support])))
    dln = rows[("dln", "oracle")]
    curve = report.curves["2"]
    assert curve.errors is not None
    assert dln.error_l2 == pytest.approx(float(np.min(curve.errors)), rel=1e-12)
    assert ("dln", "hold-out") in rows
    cli = run_json("recover", NOISY, "--depth", "2", "--max-steps", "3000")
    api = report.to_dict()
    assert [r["error_l2"] for r in cli["rows"]] == pytest.approx(
        [r["error_l2"] for r in api["rows"]], rel=1e-12
    )


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("--holdout", "0"), "Invalid value for '--holdout'"),
        (("--holdout", "1.5"), "Invalid value for '--holdout'"),
        (("--holdout", "0.9"), "expected at least one held out and at least 4 kept"),
        (("--sigma", "-1"), "Invalid value for '--sigma'"),
        (("--folds", "1"), "Invalid value for '--folds'"),
    ],
)
def test_recover_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], text: str) -> None:
    result = run("recover", NOISY, "--depth", "2", "--max-steps", "10", *args)
    assert result.exit_code == 2 and text in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_recover_needs_x_true() -> None:
    result = run("recover", "line")
    assert result.exit_code == 1 and "line: has no x_true to recover" in result.stderr


def test_train_holdout_bad_fraction() -> None:
    result = run("train", NOISY, "--lr", "0.05", "--holdout", "1")
    assert result.exit_code == 2 and "Invalid value for '--holdout'" in result.stderr


def test_gd_keeps_the_iterate_at_its_stop() -> None:
    """The iterate GD kept at the watched minimum is the one a separate run stopped there
    reaches. GD is deterministic; the kept x is the loop's u^p - v^p and the report's x is
    model_x of the same ln u, ln v, which round differently (observed 3e-15 relative)."""
    p = load_problem(NOISY)
    assert p.x_true is not None
    la = math.log(1e-3)
    for watch_holdout in (False, True):
        report = dlncli.train(
            p, lr=0.05, alpha="1e-3", max_steps=400, predict=False,
            holdout=0.2 if watch_holdout else None, seed=2,
        )  # fmt: skip
        stop = report.early_stop
        assert stop is not None and stop.stop_x is not None
        k = stop.holdout_time if watch_holdout else stop.oracle_time
        assert k is not None
        mask = holdout_rows(30, 0.2, seed=2) if watch_holdout else np.zeros(30, dtype=bool)
        again = train(p.A[~mask], p.y[~mask], depth=2.0, log_alpha=la, lr=0.05,
                      max_steps=int(k), predict=False)  # fmt: skip
        np.testing.assert_allclose(stop.stop_x, again.x, rtol=1e-12, atol=0)


def test_recover_with_lr_trains_by_gd_and_its_rows_are_gd_runs() -> None:
    """With --lr the DLN rows are GD with that constant step: the oracle row's error is the
    smallest error of a separate train() run with the same step, start and watch."""
    p = load_problem(NOISY)
    assert p.x_true is not None
    report = dlncli.recover(p, depths=["2"], lr=0.05, max_steps=2000, seed=0)
    row = next(r for r in report.rows if r.method == "dln" and r.stop == "oracle")
    assert row.detail.startswith("step ")
    again = train(p.A, p.y, depth=2.0, log_alpha=math.log(1e-3), lr=0.05, max_steps=2000,
                  predict=False, watch=Watch(x_true=p.x_true, stop_factor=2.0))  # fmt: skip
    assert again.early_stop is not None and again.early_stop.errors is not None
    assert row.error_l2 == pytest.approx(float(np.min(again.early_stop.errors)), rel=1e-12)
    assert report.curves["2"].time_unit == "step"


def test_recover_flow_rows_are_watched_flow_runs() -> None:
    """Without --lr the DLN rows are the flow: the oracle row equals flow_watched's stop."""
    from dlncli.dln.watched import flow_watched

    p = load_problem(NOISY)
    assert p.x_true is not None
    report = dlncli.recover(p, depths=["3"], seed=0)
    row = next(r for r in report.rows if r.method == "dln" and r.stop == "oracle")
    run = flow_watched(
        p.A, p.y, depth=3.0, log_alpha=math.log(1e-6) / 3, norm_A=float(np.linalg.norm(p.A, 2)),
        watch=Watch(x_true=p.x_true, stop_factor=2.0),
    )  # fmt: skip
    assert run.early_stop.oracle_error == pytest.approx(row.error_l2, rel=1e-12)
    assert report.curves["3"].time_unit == "t"
    assert row.detail.startswith("t = ")
