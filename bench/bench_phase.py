"""Phase-diagram benchmarks (issue 15): throughput, parallel speed-up, engine overhead, the BP
transition at N = 200 against rho_W, and the DLN figure for the README.

Run: python -m bench.bench_phase [--only throughput,speedup,overhead,transition,figure]
     [--figure docs/phase_dln.png] [--repeats 3] [--dask-defaults]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import best_of, machine
from dlncli.blas import single_threaded_blas
from dlncli.cli.figures import phase_figure
from dlncli.problem_io import write_figure
from dlncli.transition.sweep import (
    LOCAL_WORKER_CONFIG,
    TrialTask,
    Variant,
    cell_grid,
    draw_instance,
    observe,
    parse_grid,
    phase,
    run_trial,
    variants_for,
)


def grid(text: str) -> list[float]:
    return [float(v) for v in parse_grid(text)]


def throughput() -> None:
    """Trials per second of one worker (this process), BP only, at the transition's edge."""
    for n, trials in ((200, 40), (1000, 4)):
        report = phase(n=n, deltas=[0.5], rhos=[0.3], trials=trials, workers=1)
        rate = report.computed / report.elapsed_s
        print(
            f"throughput N={n} m={n // 2} k={round(0.3 * n / 2)}: {report.computed} BP trials in "
            f"{report.elapsed_s:.2f} s = {rate:.2f} trials/s per worker"
        )


def speedup(repeats: int, dask_defaults: bool) -> None:
    """One worker (in-process) against two local Dask worker processes, same sweep, in
    alternation ``repeats`` times (the machine's speed drifts by 20 % over minutes, so each
    ratio is of two neighbouring runs). With ``dask_defaults`` a third run per repeat uses
    Dask's default worker settings instead of phase.LOCAL_WORKER_CONFIG. Each repeat also
    runs the machine's ceiling: the same trials split between two plain processes (no Dask,
    no engine; each times its own loop), the best two workers could do at that moment."""
    # 1000 trials (~25-50 s on one worker): a sweep where the ~1 s of cluster start-up (this
    # process runs trials meanwhile) is what it is in real diagrams, a few percent.
    sweep = {"n": 200, "deltas": [0.5], "rhos": grid("0.1:0.5:5"), "trials": 200, "seed": 1}
    walls: list[float] = []
    defaults: list[float] = []
    ceilings: list[float] = []
    for _ in range(repeats):
        one = phase(**sweep, workers=1)  # type: ignore[arg-type]
        two = phase(**sweep, workers=2)  # type: ignore[arg-type]
        assert two.to_dict()["cells"] == one.to_dict()["cells"]
        walls.append(one.elapsed_s / two.elapsed_s)
        halves = _plain_pair(sweep)
        ceilings.append(one.elapsed_s / max(halves))
        line = (
            f"speedup N=200, {one.computed} BP trials: 1 worker {one.elapsed_s:.2f} s; "
            f"2 local workers {two.elapsed_s:.2f} s wall, cluster start-up included "
            f"({walls[-1]:.2f}x); ceiling, 2 plain processes {max(halves):.2f} s "
            f"({ceilings[-1]:.2f}x)"
        )
        if dask_defaults:
            tuned = dict(LOCAL_WORKER_CONFIG)
            LOCAL_WORKER_CONFIG.clear()
            try:
                plain = phase(**sweep, workers=2)  # type: ignore[arg-type]
            finally:
                LOCAL_WORKER_CONFIG.update(tuned)
            defaults.append(one.elapsed_s / plain.elapsed_s)
            line += (
                f"; Dask's default worker settings {plain.elapsed_s:.2f} s ({defaults[-1]:.2f}x)"
            )
        print(line, flush=True)
    print(
        f"speedup over {repeats} pairs: 2 local workers {_spread(walls)}, "
        f"ceiling {_spread(ceilings)}"
        + (f", Dask defaults {_spread(defaults)}" if defaults else "")
    )


def _plain_pair(sweep: dict[str, Any]) -> list[float]:
    """The sweep's trials, alternately split, run by two plain processes at once; each
    process's loop time (after its imports and one warm-up trial)."""
    cells = cell_grid(sweep["n"], sweep["deltas"], sweep["rhos"])
    tasks = [
        TrialTask(sweep["n"], m, k, i, sweep["seed"], 1e-6, (Variant("bp"),))
        for i in range(sweep["trials"])
        for m, k in cells
    ]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        return list(pool.map(_timed_loop, [tasks[0::2], tasks[1::2]]))


def _timed_loop(tasks: list[TrialTask]) -> float:
    with single_threaded_blas():
        run_trial(tasks[0])
        start = time.perf_counter()
        for task in tasks:
            run_trial(task)
        return time.perf_counter() - start


def _spread(ratios: list[float]) -> str:
    return f"median {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x)"


def overhead() -> None:
    """Engine overhead per trial at N = 200, with the SQLite store on: the time of the trial
    loop not spent inside the solvers (instance drawing, y = A x correctly rounded, the
    error, the store's commit, bookkeeping), and apart from it the sweep's fixed costs
    (store set-up, summaries, rho_W)."""
    sweep = {"n": 200, "deltas": [0.5], "rhos": grid("0.1:0.5:5"), "trials": 40}
    with tempfile.TemporaryDirectory() as tmp:
        stamps: list[float] = []
        report = phase(
            **sweep,  # type: ignore[arg-type]
            workers=1,
            store=Path(tmp) / "bench.db",
            progress=lambda done, total: stamps.append(time.perf_counter()),
        )
    loop = stamps[-1] - stamps[0]
    outside = loop - report.solve_s
    A, x = draw_instance(n=200, m=100, k=30, trial=0, seed=0)
    # Median of 200 single calls each (bench.common.best_of).
    draw_s = best_of(lambda: draw_instance(n=200, m=100, k=30, trial=0, seed=0), 200)[1]
    observe_s = best_of(lambda: observe(A, x), 200)[1]
    print(
        f"overhead N=200, {report.computed} BP trials with --store: trial loop {loop:.2f} s, "
        f"in solvers {report.solve_s:.2f} s; engine overhead {100 * outside / loop:.2f} % "
        f"per trial ({1e3 * outside / report.computed:.2f} ms: drawing A, x "
        f"{1e3 * draw_s:.2f} ms, y {1e3 * observe_s:.2f} ms, the rest "
        f"{1e3 * (outside / report.computed - draw_s - observe_s):.2f} ms); fixed costs "
        f"{report.elapsed_s - loop:.2f} s per sweep"
    )


def transition(workers: int) -> None:
    """The README result: BP at N = 200, 20 trials per cell, delta = 0.25 and 0.5."""
    report = phase(
        n=200, deltas=[0.25, 0.5], rhos=grid("0.1:0.5:21"), trials=20, workers=workers, seed=0
    )
    for t in report.transitions:
        assert t.rho_50 is not None
        print(
            f"transition N=200 T=20 delta={t.delta:g}: rho_50 = {t.rho_50:.4f}, "
            f"rho_W = {t.rho_theory:.4f}, difference {t.rho_50 - t.rho_theory:+.4f} "
            f"({report.computed} trials, {report.elapsed_s:.1f} s, {report.backend})"
        )


def figure(out: Path, workers: int) -> None:
    """The README figure: BP and the DLN limit at finite alpha for depths 2, 3, 4."""
    variants: list[Variant] = [Variant("bp")]
    for depth, alpha in ((2.0, "1e-10"), (3.0, "1e-3"), (4.0, "1e-2")):
        variants += variants_for(["limit"], depths=[depth], alphas=[alpha])
    report = phase(
        n=100,
        deltas=grid("0.2:0.8:4"),
        rhos=grid("0.05:0.75:15"),
        trials=10,
        variants=variants,
        workers=workers,
        seed=0,
    )
    write_figure(out, phase_figure(report), force=True)
    for t in report.transitions:
        rho = "outside grid" if t.rho_50 is None else f"{t.rho_50:.3f}"
        print(f"figure {t.variant.label} delta={t.delta:g}: rho_50 {rho}, rho_W {t.rho_theory:.3f}")
    print(
        f"figure: {report.computed} trials in {report.elapsed_s:.1f} s "
        f"({report.backend}, {report.failed} solver failures) -> {out}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="throughput,speedup,overhead,transition,figure")
    parser.add_argument("--figure", type=Path, default=Path("docs/phase_dln.png"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3, help="speedup: pairs of runs")
    parser.add_argument(
        "--dask-defaults",
        action="store_true",
        help="speedup: also run 2 workers with Dask's default worker settings",
    )
    args = parser.parse_args()
    parts = set(args.only.split(","))
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.2f} at the start")
    if "throughput" in parts:
        throughput()
    if "speedup" in parts:
        speedup(args.repeats, args.dask_defaults)
    if "overhead" in parts:
        overhead()
    if "transition" in parts:
        transition(args.workers)
    if "figure" in parts:
        figure(args.figure, args.workers)


if __name__ == "__main__":
    main()
