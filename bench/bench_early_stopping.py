"""Early-stopped DLNs on noisy measurements: the window of good stopping times per depth.

Part 1, Li, Nguyen, Hegde and Wong (NeurIPS 2021), their "l2_error" setting as their code runs it
(src/run_early_stopping.py of their repository): n = 100 measurements, p = 200 unknowns, x* with
5 ones, Rademacher (+-1) covariates X, noise N(0, 0.5^2), w0 = alpha^N = 1e-5, GD with lr 1e-2 on
their loss (1/n) ||X w - y||^2 for 3000 / 10000 / 25000 steps at depth N = 2 / 3 / 4. Their loss is
1/2 ||A w - b||^2 with A = sqrt(2/n) X, b = sqrt(2/n) y, so dlncli.train on (A, b) takes the same
steps. Per depth: the oracle stop, its error ||w - x*||_2, and the 10 % window t_hi / t_lo.

Part 2, dlncli.recover on noisy:M:N:K:SIGMA:SEED (A_ij ~ N(0, 1/m), +-1 nonzeros): mean
||x_hat - x||^2 / (N sigma^2) per estimator beside the lasso's minimax M*(delta, rho).

Run: python -m bench.bench_early_stopping [--replicates 10] [--n 200 --seeds 5]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

import dlncli
from bench.common import machine
from dlncli.noise.theory import noise_sensitivity
from dlncli.problem import Problem

LI_DEPTHS = (2.0, 3.0, 4.0)
LI_STEPS = (3000, 10000, 25000)


def li_setting(replicates: int) -> None:
    n, p, k, noise = 100, 200, 5, 0.5
    rows: dict[float, list[tuple[float, float, float]]] = {d: [] for d in LI_DEPTHS}
    start = time.perf_counter()
    for i in range(replicates):
        rng = np.random.default_rng(i * 1000)
        X = rng.integers(0, 2, (n, p)) * 2.0 - 1.0
        w_star = np.zeros(p)
        w_star[:k] = 1.0
        y = X @ w_star + noise * rng.standard_normal(n)
        scale = math.sqrt(2.0 / n)
        A = np.asarray(scale * X, dtype=np.float64)
        problem = Problem(f"li:{i}", A, np.asarray(scale * y, dtype=np.float64), x_true=w_star)
        for depth, steps in zip(LI_DEPTHS, LI_STEPS, strict=True):
            alpha = 1e-5 ** (1.0 / depth)
            report = dlncli.train(
                problem, lr=1e-2, alpha=alpha, depth=depth, max_steps=steps, predict=False
            )
            stop = report.early_stop
            assert stop is not None and stop.oracle_error is not None
            rows[depth].append(
                (stop.oracle_time or 0.0, stop.oracle_error, stop.window_ratio or 1.0)
            )
    took = time.perf_counter() - start
    print(f"Li et al.'s l2_error setting, {replicates} replicates ({took:.0f} s)")
    print("| depth N | steps | oracle stop (median step) | ‖w − x*‖₂ there (median) |", end="")
    print(" window t_hi/t_lo (median) |")
    print("|---|---|---|---|---|")
    for depth, steps in zip(LI_DEPTHS, LI_STEPS, strict=True):
        stops, errors, ratios = zip(*rows[depth], strict=True)
        print(
            f"| {depth:g} | {steps} | {statistics.median(stops):.0f} | "
            f"{statistics.median(errors):.3f} | {statistics.median(ratios):.2f} |"
        )


def ensemble(n: int, seeds: int, sigma: float, rhos: tuple[float, ...]) -> None:
    m = n // 2
    start = time.perf_counter()
    print(f"\nrecover on noisy:{m}:{n}:K:{sigma}:SEED, {seeds} seeds; mean MSE / sigma^2")
    header = None
    for rho in rhos:
        k = round(rho * m)
        sums: dict[str, list[float]] = {}
        windows: dict[str, list[float]] = {}
        for seed in range(seeds):
            report = dlncli.recover(f"noisy:{m}:{n}:{k}:{sigma}:{seed}", max_steps=100_000)
            for row in report.rows:
                label = row.method if row.depth is None else f"dln p={row.depth:g} {row.stop}"
                sums.setdefault(label, []).append(row.mse / sigma**2)
            for label, stop in report.curves.items():
                if stop.window_ratio is not None:
                    windows.setdefault(label, []).append(stop.window_ratio)
        if header is None:
            header = list(sums)
            print("| ρ | M* | " + " | ".join(header) + " |")
            print("|---|---|" + "---|" * len(header))
        bound = noise_sensitivity(0.5, rho)
        cells = " | ".join(f"{statistics.fmean(sums[h]):.3g}" for h in header)
        print(f"| {rho:g} | {bound:.3g} | {cells} |")
        shown = ", ".join(f"p={d}: {statistics.median(w):.2f}" for d, w in windows.items())
        print(f"  window t_hi/t_lo (median over seeds, oracle runs): {shown}")
    print(f"({time.perf_counter() - start:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=10, help="Li et al. replicates")
    parser.add_argument("--n", type=int, default=200, help="unknowns N of the ensemble")
    parser.add_argument("--seeds", type=int, default=5, help="instances per ensemble row")
    parser.add_argument("--sigma", type=float, default=0.05)
    parser.add_argument("--rhos", type=float, nargs="+", default=[0.1, 0.2])
    parser.add_argument("--skip-li", action="store_true")
    args = parser.parse_args()
    print(machine())
    if not args.skip_li:
        li_setting(args.replicates)
    ensemble(args.n, args.seeds, args.sigma, tuple(args.rhos))


if __name__ == "__main__":
    main()
