"""Phase-diagram benchmarks (issue 15): throughput, parallel speed-up, engine overhead, the BP
transition at N = 200 against rho_W, and the DLN figure for the README.

Run: python -m bench.bench_phase [--only throughput,speedup,overhead,transition,figure]
     [--figure docs/phase_dln.png]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench.common import machine
from dlncli.phase import Variant, parse_grid, phase, variants_for
from dlncli.problem_io import write_figure
from dlncli.report import phase_figure


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


def speedup() -> None:
    """One worker (in-process) against two local Dask worker processes, same sweep."""
    # 1000 trials (~25 s on one worker): a sweep where the ~1.5 s of cluster start-up is what
    # it is in real diagrams, a few percent, not a third of the run.
    sweep = {"n": 200, "deltas": [0.5], "rhos": grid("0.1:0.5:5"), "trials": 200, "seed": 1}
    one = phase(**sweep, workers=1)  # type: ignore[arg-type]
    marks: list[float] = []

    def first(done: int, total: int) -> None:
        if done == 1:
            marks.append(time.perf_counter())

    start = time.perf_counter()
    two = phase(**sweep, workers=2, progress=first)  # type: ignore[arg-type]
    after_first = time.perf_counter() - marks[0]
    assert two.to_dict()["cells"] == one.to_dict()["cells"]
    per_trial_two = after_first / (two.computed - 1)
    print(
        f"speedup N=200, {one.computed} BP trials: 1 worker {one.elapsed_s:.2f} s; "
        f"2 local workers {two.elapsed_s:.2f} s wall incl. cluster start-up "
        f"({one.elapsed_s / two.elapsed_s:.2f}x), "
        f"{(one.elapsed_s / one.computed) / per_trial_two:.2f}x after the first result "
        f"(start-up {time.perf_counter() - start - after_first:.2f} s)"
    )


def overhead() -> None:
    """Engine overhead per trial at N = 200: wall time not spent inside the solvers, with the
    SQLite store on (instance generation, store commits, bookkeeping)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = phase(
            n=200,
            deltas=[0.5],
            rhos=grid("0.1:0.5:5"),
            trials=40,
            workers=1,
            store=Path(tmp) / "bench.db",
        )
    share = (report.elapsed_s - report.solve_s) / report.elapsed_s
    print(
        f"overhead N=200, {report.computed} BP trials with --store: wall {report.elapsed_s:.2f} s, "
        f"in solvers {report.solve_s:.2f} s; engine overhead {100 * share:.2f} % per trial "
        f"({1e3 * (report.elapsed_s - report.solve_s) / report.computed:.2f} ms)"
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
    args = parser.parse_args()
    parts = set(args.only.split(","))
    print(f"machine: {machine()} (shared with other jobs while measured)")
    if "throughput" in parts:
        throughput()
    if "speedup" in parts:
        speedup()
    if "overhead" in parts:
        overhead()
    if "transition" in parts:
        transition(args.workers)
    if "figure" in parts:
        figure(args.figure, args.workers)


if __name__ == "__main__":
    main()
