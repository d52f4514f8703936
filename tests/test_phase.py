"""dlncli phase: the weak threshold, instances, transitions, the store and resume."""

from __future__ import annotations

import itertools
import math
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import mpmath as mp
import numpy as np
import pytest

import dlncli
from dlncli.bp.verdict import solve_basis_pursuit
from dlncli.transition.store import PhaseStore, StoreError
from dlncli.transition.sweep import (
    Variant,
    draw_instance,
    observe,
    parse_grid,
    phase,
    run_trial,
    transition_point,
    variants_for,
)
from dlncli.transition.theory import weak_threshold, weak_threshold_table

# --------------------------------------------------------------------------- theory


def _dmm_threshold(delta: str) -> mp.mpf:
    """rho_W by a different formula (Donoho, Maleki, Montanari 2009, the minimax soft
    threshold): max_z [1 - (2/delta) g(z)] / [1 + z^2 - 2 g(z)], g = (1+z^2) Phi(-z) - z phi(z),
    maximized at 30 digits with mpmath."""
    d = mp.mpf(delta)

    def f(z: mp.mpf) -> mp.mpf:
        g = (1 + z * z) * mp.ncdf(-z) - z * mp.npdf(z)
        return (1 - 2 / d * g) / (1 + z * z - 2 * g)

    # Golden-section search on [0, 8] (f is unimodal there); 120 steps shrink it to 1e-24.
    lo, hi = mp.mpf(0), mp.mpf(8)
    ratio = (mp.sqrt(5) - 1) / 2
    for _ in range(120):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if f(a) < f(b):
            lo = a
        else:
            hi = b
    return f((lo + hi) / 2)


@pytest.mark.parametrize("delta", ["0.02", "0.1", "0.25", "0.5", "0.75", "0.9"])
def test_weak_threshold_matches_an_independent_high_precision_formula(delta: str) -> None:
    with mp.workdps(30):
        expected = float(_dmm_threshold(delta))
    assert weak_threshold(float(delta)) == pytest.approx(expected, rel=1e-10, abs=0)


def test_weak_threshold_shape() -> None:
    values = [weak_threshold(d) for d in np.linspace(0.01, 0.99, 25)]
    assert all(b > a for a, b in itertools.pairwise(values))
    assert weak_threshold(1.0) == 1.0
    # 4 digits as printed by `dlncli phase --theory`, from the mpmath formula above.
    assert f"{weak_threshold(0.5):.4f}" == "0.3857"
    assert f"{weak_threshold(0.25):.4f}" == "0.2674"
    for bad in (0.0, -0.1, 1.5, math.nan):
        with pytest.raises(ValueError):
            weak_threshold(bad)
    table = weak_threshold_table([0.25, 0.5]).to_dict()
    assert [row["delta"] for row in table["theory"]] == [0.25, 0.5]


# --------------------------------------------------------------------------- grids and instances


def test_parse_grid() -> None:
    assert parse_grid("0.1,0.25") == ("0.1", "0.25")
    assert parse_grid("0.1:0.5:5") == ("0.1", "0.2", "0.3", "0.4", "0.5")
    assert [float(v) for v in parse_grid("1e-30:1e-10:3", geometric=True)] == pytest.approx(
        [1e-30, 1e-20, 1e-10], rel=1e-12, abs=0
    )
    assert parse_grid("1e-400:1e-200:3", geometric=True) == ("1e-400", "1e-300", "1e-200")
    for bad in ("", "a,b", "0:1", "0:1:0", "0:1:x", "nan"):
        with pytest.raises(ValueError):
            parse_grid(bad)
    with pytest.raises(ValueError):
        parse_grid("0:1e-3:3", geometric=True)


def test_instances_depend_only_on_their_seed_tuple() -> None:
    A, x = draw_instance(n=40, m=20, k=5, trial=3, seed=7)
    A2, x2 = draw_instance(n=40, m=20, k=5, trial=3, seed=7)
    assert np.array_equal(A, A2) and np.array_equal(x, x2)
    assert A.shape == (20, 40)
    assert np.count_nonzero(x) == 5 and set(np.abs(x[x != 0])) == {1.0}
    for other in ({"trial": 4}, {"seed": 8}, {"k": 6}):
        kwargs = {"n": 40, "m": 20, "k": 5, "trial": 3, "seed": 7, **other}
        assert not np.array_equal(draw_instance(**kwargs)[0], A)
    # Columns have unit norm on average: entries N(0, 1/m).
    big, _ = draw_instance(n=400, m=200, k=1, trial=0, seed=0)
    assert np.mean(np.sum(big**2, axis=0)) == pytest.approx(1.0, abs=0.02)


def test_run_trial_success_is_the_bp_error_against_the_planted_x() -> None:
    from dlncli.transition.sweep import TrialTask

    task = TrialTask(60, 30, 4, 0, 1, 1e-6, (Variant("bp"),))
    (row,) = run_trial(task)
    A, x = draw_instance(n=60, m=30, k=4, trial=0, seed=1)
    bp = solve_basis_pursuit(A, observe(A, x))
    assert row.error_inf == pytest.approx(np.max(np.abs(bp.x - x)), abs=1e-12)
    assert row.success and row.key == (30, 4, 0, "bp", 0.0, 0.0, 0.0, 0)
    # k close to m: BP cannot recover (more nonzeros than the weak threshold allows).
    (bad,) = run_trial(TrialTask(60, 30, 25, 0, 1, 1e-6, (Variant("bp"),)))
    assert not bad.success and bad.error_inf is not None and bad.error_inf > 1e-3


def test_limit_at_tiny_alpha_agrees_with_bp_and_at_large_alpha_does_not() -> None:
    tiny, large = variants_for(["limit"], depths=[3.0], alphas=["1e-9", "0.3"])
    from dlncli.transition.sweep import TrialTask

    for trial in range(3):
        rows = run_trial(TrialTask(60, 30, 4, trial, 2, 1e-6, (Variant("bp"), tiny, large)))
        bp_row, tiny_row, large_row = rows
        assert bp_row.success
        assert tiny_row.success  # alpha^p = 1e-27: the limit is BP to double precision
        assert not large_row.success and large_row.error_inf is not None


def test_gd_needs_a_step_size_and_runs() -> None:
    from dlncli.transition.sweep import TrialTask

    with pytest.raises(ValueError, match="step size"):
        variants_for(["gd"], lr=None)
    with pytest.raises(ValueError, match="needs lr"):
        phase(
            n=20,
            deltas=[0.5],
            rhos=[0.2],
            trials=1,
            variants=[Variant("gd", depth=3.0, log_alpha=0.0)],
        )
    (gd,) = variants_for(["gd"], depths=[2.0], alphas=["1e-3"], lr=0.02)
    limit = Variant("limit", depth=2.0, log_alpha=gd.log_alpha, alpha_text="1e-3")
    rows = run_trial(TrialTask(30, 15, 2, 0, 1, 1e-2, (limit, gd)))
    # A small step: GD lands near the flow limit, so both recover (or both miss) alike.
    assert rows[1].error_inf is not None and rows[0].error_inf is not None
    assert abs(rows[1].error_inf - rows[0].error_inf) < 0.05


# --------------------------------------------------------------------------- transitions


def test_transition_point_interpolates_the_monotone_fit() -> None:
    rhos = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert transition_point(rhos, [1, 1, 0.6, 0.1, 0], [10] * 5) == pytest.approx(0.32)
    # Order of the input does not matter.
    assert transition_point(rhos[::-1], [0, 0.1, 0.6, 1, 1], [10] * 5) == pytest.approx(0.32)
    # A wiggle (0.4 then 0.6) is pooled to 0.5, 0.5: the crossing is at the pooled block's end.
    assert transition_point(rhos, [1, 0.4, 0.6, 0, 0], [10] * 5) == pytest.approx(0.3)
    assert transition_point(rhos, [1, 1, 1, 1, 0.9], [10] * 5) is None
    assert transition_point(rhos, [0.4, 0, 0, 0, 0], [10] * 5) is None


def test_bp_transition_is_near_the_weak_threshold() -> None:
    """A small version of the README result (N = 200, 20 trials): N = 100, 10 trials."""
    report = phase(n=100, deltas=[0.5], rhos=parse_floats("0.2:0.6:9"), trials=10, workers=1)
    (t,) = report.transitions
    assert t.rho_theory == pytest.approx(weak_threshold(0.5))
    assert t.rho_50 is not None and abs(t.rho_50 - t.rho_theory) < 0.07
    assert report.computed == 90 and report.reused == 0 and report.backend == "serial"
    rates = [c.rate for c in report.cells]
    assert rates[0] == 1.0 and rates[-1] == 0.0


def parse_floats(text: str) -> list[float]:
    return [float(v) for v in parse_grid(text)]


# --------------------------------------------------------------------------- store and resume

SWEEP = {"n": 40, "deltas": [0.5], "rhos": [0.1, 0.3, 0.5], "trials": 4, "seed": 3}


def _summary(report: dlncli.PhaseReport) -> list[dict[str, object]]:
    return report.to_dict()["cells"] + report.to_dict()["transitions"]  # type: ignore[no-any-return]


def test_store_resume_gives_the_uninterrupted_summary(tmp_path: Path) -> None:
    variants = (Variant("bp"), *variants_for(["limit"], depths=[3.0], alphas=["1e-2"]))
    memory = phase(**SWEEP, variants=variants, workers=1)  # type: ignore[arg-type]
    store = tmp_path / "sweep.db"
    calls: list[int] = []

    def interrupt(done: int, total: int) -> None:
        calls.append(done)
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        phase(**SWEEP, variants=variants, workers=1, store=store, progress=interrupt)  # type: ignore[arg-type]
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 5 * 2
    resumed = phase(**SWEEP, variants=variants, workers=1, store=store, resume=True)  # type: ignore[arg-type]
    assert resumed.reused == 10 and resumed.computed == 12 * 2 - 10
    assert _summary(resumed) == _summary(memory)
    again = phase(**SWEEP, variants=variants, workers=1, store=store, resume=True)  # type: ignore[arg-type]
    assert again.reused == 24 and again.computed == 0 and _summary(again) == _summary(memory)


def test_store_refuses_other_sweeps(tmp_path: Path) -> None:
    store = tmp_path / "sweep.db"
    phase(**SWEEP, workers=1, store=store)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="--resume"):
        phase(**SWEEP, workers=1, store=store)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="trials 5 here, 4 in the store"):
        phase(**{**SWEEP, "trials": 5}, workers=1, store=store, resume=True)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="different sweep"):
        phase(**{**SWEEP, "seed": 4}, workers=1, store=store, resume=True)  # type: ignore[arg-type]
    with (
        PhaseStore(store) as db,
        pytest.raises(StoreError, match=re.escape(f"dlncli {dlncli.__version__}, this is 0.0.0")),
    ):
        db.claim(version="0.0.0", params={}, resume=True)
    junk = tmp_path / "junk.db"
    junk.write_text("not a database at all, just text" * 100)
    with pytest.raises(StoreError, match="SQLite"):
        phase(**SWEEP, workers=1, store=junk)  # type: ignore[arg-type]


def test_store_rejects_a_duplicate_trial(tmp_path: Path) -> None:
    from dlncli.transition.sweep import TrialTask

    rows = run_trial(TrialTask(40, 20, 2, 0, 0, 1e-6, (Variant("bp"),)))
    with PhaseStore(tmp_path / "s.db") as db:
        db.write(rows)
        with pytest.raises(sqlite3.IntegrityError):
            db.write(rows)
        assert db.count() == 1


def test_grid_errors() -> None:
    with pytest.raises(ValueError, match="both give k = 2"):
        phase(n=20, deltas=[0.5], rhos=[0.2, 0.21], trials=1)
    with pytest.raises(ValueError, match="expected 0 < delta <= 1"):
        phase(n=20, deltas=[1.5], rhos=[0.2], trials=1)
    with pytest.raises(ValueError, match="k = 0"):
        phase(n=20, deltas=[0.5], rhos=[0.01], trials=1)


def test_public_api() -> None:
    assert "phase" in dlncli.__all__ and "PhaseReport" in dlncli.__all__
    report = dlncli.phase(n=30, deltas=[0.5], rhos=[0.2], trials=2, workers=1)
    assert isinstance(report, dlncli.PhaseReport)
    doc = report.to_dict()
    assert {"cells", "transitions", "reused", "computed", "elapsed_s"} <= set(doc)
    assert set(doc["cells"][0]) >= {
        "delta", "rho", "m", "k", "method", "depth", "alpha", "trials", "successes", "rate"
    }  # fmt: skip
    assert set(doc["transitions"][0]) >= {
        "delta", "method", "depth", "alpha", "rho_50", "rho_theory"
    }  # fmt: skip


# --------------------------------------------------------------------------- GD in the sweep


def test_y_is_a_x_correctly_rounded() -> None:
    from fractions import Fraction

    A, x = draw_instance(n=50, m=20, k=7, trial=0, seed=5)
    y = observe(A, x)
    exact = [
        float(sum((Fraction(float(a)) * Fraction(float(b)) for a, b in zip(row, x, strict=True)),
                  Fraction(0)))
        for row in A
    ]  # fmt: skip
    assert y.tolist() == exact  # Fraction -> float rounds once, correctly
    assert np.allclose(y, A @ x, rtol=0, atol=1e-14)


def test_gd_defaults_are_trains() -> None:
    from dlncli.dln.train import DEFAULT_MAX_STEPS, DEFAULT_TOL
    from dlncli.reports import GD_LOSS_TOL, GD_MAX_STEPS

    assert (GD_MAX_STEPS, GD_LOSS_TOL) == (DEFAULT_MAX_STEPS, DEFAULT_TOL)


def test_relative_step_is_a_fraction_of_the_stability_bound() -> None:
    """eta = f * 2 / lambda_max at u = v = alpha. Two independent checks: train's own
    stability_bound for that instance, and the closed form at tiny alpha, where the Hessian
    is diag(2g, -2g) + O(alpha^2) with g = -A^T y, so 2 / lambda_max = 1 / ||A^T y||_inf."""
    from dlncli.dln.train import train
    from dlncli.transition.sweep import GdBudget, TrialTask

    (gd,) = variants_for(["gd"], depths=[2.0], alphas=["1e-6"], lr=[0.3], lr_relative=True)
    assert gd.lr_relative and gd.label == "gd p=2 α=1e-6 η=0.3·η_max"
    budget = GdBudget(max_steps=3000, loss_tol=1e-10)
    (row,) = run_trial(TrialTask(40, 20, 3, 0, 4, 1e-2, (gd,), budget))
    A, x = draw_instance(n=40, m=20, k=3, trial=0, seed=4)
    y = observe(A, x)
    assert row.lr_used is not None
    assert row.lr_used == pytest.approx(0.3 / np.max(np.abs(A.T @ y)), rel=1e-9, abs=0)
    run = train(A, y, depth=2.0, log_alpha=gd.log_alpha or 0.0, lr=0.1, max_steps=0)
    assert row.lr_used == pytest.approx(0.3 * run.stability_bound, rel=1e-12, abs=0)
    # The trial is train's run at that step size: same steps, same end, same error.
    same = train(
        A, y, depth=2.0, log_alpha=gd.log_alpha or 0.0, lr=row.lr_used,
        max_steps=3000, tol=1e-10, predict=False,
    )  # fmt: skip
    assert row.steps == same.steps and row.sharpness == same.sharpness
    assert row.status == {"converged": "ok", "max-steps": "max-steps"}[same.status]
    assert row.error_inf == pytest.approx(np.max(np.abs(same.x - x)), rel=1e-12, abs=0)


def test_gd_statuses_are_counted_not_hidden() -> None:
    """p = 2 at tiny alpha: the first step multiplies v_i by 1 - 2 eta |g_i|. From half the
    stability bound on that factor is negative for the largest |g_i|: a sign flip, which GD
    goes through (x = u^2 - v^2 ignores the sign of u). 100 times the bound multiplies |u| by
    about 200 per step, so the loss explodes within 5 steps: diverged. A fraction 0.45 and 0.6
    are merely stopped by the budget of 5 steps."""
    sweep = {"n": 30, "deltas": [0.5], "rhos": [0.2, 0.4], "trials": 2, "workers": 1}
    variants = variants_for(
        ["gd"], depths=[2.0], alphas=["1e-6"], lr=[0.45, 0.6, 100.0], lr_relative=True
    )
    report = phase(**sweep, variants=variants, max_steps=5, loss_tol=1e-10)  # type: ignore[arg-type]
    slow = [c for c in report.cells if c.variant.lr in (0.45, 0.6)]
    wild = [c for c in report.cells if c.variant.lr == 100.0]
    assert all(c.unconverged == 2 and c.diverged == 0 for c in slow)
    assert all(c.diverged == 2 and c.successes == 0 and c.sharpness_median is None for c in wild)
    assert report.diverged == 4 and report.unconverged == 8 and report.failed == 0
    doc = report.to_dict()
    assert (
        "4 GD runs diverged" in doc["message"] and "8 GD runs stopped at 5 steps" in doc["message"]
    )
    assert doc["gd_max_steps"] == 5 and doc["gd_loss_tol"] == 1e-10
    assert {c["unconverged"] for c in doc["cells"] if c["lr"] == 0.45} == {2}


def test_small_gd_sweep_near_the_edge_of_stability(tmp_path: Path) -> None:
    """A fast version of the README sweep: GD at a small fraction of the stability bound
    ends near the flow limit (the eta -> 0 limit), sharpness eta lambda_max < 2; close to
    the bound it ends at the edge of stability, sharpness ~ 2, never much above."""
    variants = (
        Variant("bp"),
        *variants_for(["limit"], depths=[2.0], alphas=["1e-6"]),
        *variants_for(["gd"], depths=[2.0], alphas=["1e-6"], lr=[0.1, 0.49], lr_relative=True),
    )
    sweep = {"n": 40, "deltas": [0.5], "rhos": [0.1, 0.3], "trials": 3, "seed": 2, "workers": 1}
    budget = {"max_steps": 4000, "loss_tol": 1e-10, "success_tol": 1e-2}
    store = tmp_path / "gd.db"
    report = phase(**sweep, **budget, variants=variants, store=store)  # type: ignore[arg-type]
    small = [c for c in report.cells if c.variant.lr == 0.1]
    large = [c for c in report.cells if c.variant.lr == 0.49]
    assert all(c.sharpness_median is not None and c.sharpness_median < 1.0 for c in small)
    assert all(c.sharpness_median is not None and 1.5 < c.sharpness_median < 2.1 for c in large)
    for c in small + large:
        assert c.lr_used_median is not None and c.lr_used_median > 0
    resumed = phase(**sweep, **budget, variants=variants, store=store, resume=True)  # type: ignore[arg-type]
    assert resumed.computed == 0 and _summary(resumed) == _summary(report)
    with pytest.raises(StoreError, match="gd"):
        phase(**sweep, **{**budget, "max_steps": 4001}, variants=variants, store=store, resume=True)  # type: ignore[arg-type]


def test_store_of_another_format_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "old.db"
    phase(**SWEEP, workers=1, store=store)  # type: ignore[arg-type]
    with sqlite3.connect(store) as db:
        db.execute("UPDATE meta SET value = '1' WHERE key = 'format'")
    with pytest.raises(StoreError, match="format 1, this dlncli writes format 3"):
        phase(**SWEEP, workers=1, store=store, resume=True)  # type: ignore[arg-type]
    with sqlite3.connect(store) as db:
        db.execute("DELETE FROM meta WHERE key = 'format'")
    with pytest.raises(StoreError, match="not a dlncli phase store"):
        phase(**SWEEP, workers=1, store=store, resume=True)  # type: ignore[arg-type]


def test_relative_and_absolute_steps_are_different_variants(tmp_path: Path) -> None:
    absolute = variants_for(["gd"], depths=[2.0], alphas=["1e-3"], lr=[0.1, 0.2])
    relative = variants_for(["gd"], depths=[2.0], alphas=["1e-3"], lr=[0.1, 0.2], lr_relative=True)
    assert [v.lr for v in absolute] == [0.1, 0.2] and not any(v.lr_relative for v in absolute)
    assert {v.key for v in absolute}.isdisjoint({v.key for v in relative})
    store = tmp_path / "s.db"
    sweep = {"n": 20, "deltas": [0.5], "rhos": [0.2], "trials": 1, "workers": 1, "max_steps": 50}
    phase(**sweep, variants=absolute, store=store)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="variants"):
        phase(**sweep, variants=relative, store=store, resume=True)  # type: ignore[arg-type]


def test_gd_option_errors() -> None:
    with pytest.raises(ValueError, match="a value is twice"):
        variants_for(["gd"], lr=[0.1, 0.1])
    with pytest.raises(ValueError, match="needs a step size"):
        variants_for(["gd"], lr=[0.1, -1.0])
    gd = Variant("gd", depth=2.0, log_alpha=0.0, lr=0.1)
    sweep = {"n": 20, "deltas": [0.5], "rhos": [0.2], "trials": 1}
    for bad, message in (
        ({"max_steps": 0}, "max_steps"),
        ({"max_steps": 2.5}, "max_steps"),
        ({"loss_tol": 0.0}, "loss_tol"),
        ({"loss_tol": math.inf}, "loss_tol"),
        ({"variants": [Variant("gd", depth=2.0, log_alpha=0.0, lr=-0.1)]}, "lr = -0.1"),
        ({"variants": [Variant("gd", depth=2.0, log_alpha=0.0, lr_relative=True)]}, "needs lr"),
    ):
        with pytest.raises(ValueError, match=message):
            phase(**{**sweep, "variants": [gd], **bad})  # type: ignore[arg-type]


def test_chunks_cover_every_task_once_in_order() -> None:
    from dlncli.transition.sweep import CHUNKS_PER_WORKER, MAX_CHUNK, chunked

    tasks: list[Any] = list(range(1000))
    chunks = chunked(tasks, 2)
    assert [t for c in chunks for t in c] == tasks
    sizes = [len(c) for c in chunks]
    assert sizes[0] == MAX_CHUNK and max(sizes) == MAX_CHUNK
    # Guided: never growing, each at most the work left over CHUNKS_PER_WORKER * workers
    # (or 1), and the sweep ends on single trials.
    assert sizes == sorted(sizes, reverse=True)
    left = len(tasks)
    for size in sizes:
        assert size == max(1, min(MAX_CHUNK, left // (2 * CHUNKS_PER_WORKER)))
        left -= size
    assert sizes[-2 * CHUNKS_PER_WORKER :] == [1] * (2 * CHUNKS_PER_WORKER)
    few = chunked(tasks[:40], 2)
    assert len(few) >= min(40, 2 * CHUNKS_PER_WORKER) and all(len(c) >= 1 for c in few)
    assert chunked([], 2) == []


def test_one_worker_is_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """workers=1 runs in this process with OpenBLAS on one thread, as on a Dask worker: one
    worker is one core (a second BLAS thread only spins on these sizes)."""
    import sys

    from threadpoolctl import threadpool_info

    engine = sys.modules["dlncli.transition.sweep"]
    real = engine.run_trial
    seen: list[set[int]] = []

    def spy(task: Any) -> Any:
        seen.append({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
        return real(task)

    monkeypatch.setattr(engine, "run_trial", spy)
    phase(n=20, deltas=[0.5], rhos=[0.2], trials=2, workers=1)
    assert seen == [{1}, {1}]
    if (os.cpu_count() or 1) > 1:  # and the limit is lifted afterwards
        assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} != {1}
