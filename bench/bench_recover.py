"""`dlncli recover` at scale: the whole call and each estimator's time.

Instances: noisy:M:N:K:SIGMA:SEED (A Gaussian / sqrt(m), K Gaussian nonzeros, y = A x + sigma z).
Per seed: the time of dlncli.recover with its defaults (depths 2, 3, 4, oracle and hold-out
stops, 5-fold lasso CV, BPDN, least-squares oracle), the sum of the baselines' rows (lasso-CV,
BPDN, LS oracle), the DLN rows, and each DLN row's stop against the Radau integration of the same
flow (dlncli.flow to 1.5x the stop) with --check.

Run: python -m bench.bench_recover [--size 500x2000] [--k 50] [--sigma 0.05] [--seeds 3] [--check]
Target: the whole call on 500 x 2000 in <= 5 s.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import dlncli
from bench.common import machine
from dlncli.problem_io import load_sample


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="500x2000")
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--sigma", type=float, default=0.05)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="each oracle stop against flow")
    args = parser.parse_args()
    m, n = (int(v) for v in args.size.split("x"))
    print(machine())
    totals, bases, dlns = [], [], []
    for seed in range(args.seeds):
        spec = f"noisy:{m}:{n}:{args.k}:{args.sigma}:{seed}"
        problem = load_sample(spec)
        start = time.perf_counter()
        report = dlncli.recover(problem)
        total = time.perf_counter() - start
        base = sum(r.time_s for r in report.rows if r.method != "dln")
        dln = sum(r.time_s for r in report.rows if r.method == "dln")
        totals.append(total)
        bases.append(base)
        dlns.append(dln)
        rows = ", ".join(
            f"{r.method if r.depth is None else f'p={r.depth:g} {r.stop}'} {r.time_s:.2f}"
            for r in report.rows
        )
        print(f"{spec}: total {total:.2f} s (baselines {base:.2f}, DLN {dln:.2f}); {rows}")
        if args.check:
            for label, stop in report.curves.items():
                assert stop.oracle_time is not None and stop.oracle_error is not None
                alpha = 1e-6 ** (1.0 / float(label))
                began = time.perf_counter()
                ref = dlncli.flow(
                    problem, alpha=alpha, depth=float(label), t_end=1.5 * stop.oracle_time
                ).early_stop
                assert ref is not None and ref.oracle_error is not None
                assert ref.oracle_time is not None
                print(
                    f"    p={label}: stop error {stop.oracle_error:.5f} at t = "
                    f"{stop.oracle_time:.4g}; Radau flow {ref.oracle_error:.5f} at t = "
                    f"{ref.oracle_time:.4g} ({time.perf_counter() - began:.1f} s); relative "
                    f"{abs(stop.oracle_error / ref.oracle_error - 1):.1e} / "
                    f"{abs(math.log(stop.oracle_time / ref.oracle_time)):.1e}"
                )
    print(
        f"median over {args.seeds} seeds: total {statistics.median(totals):.2f} s, baselines "
        f"{statistics.median(bases):.2f} s, DLN {statistics.median(dlns):.2f} s"
    )


if __name__ == "__main__":
    main()
