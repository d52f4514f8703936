"""The lasso's noise sensitivity on a Gaussian ensemble against the DMM minimax bound.

N unknowns, delta = m / N = 0.5, k = round(rho m) nonzeros equal to +-1 or standard normal,
A_ij ~ N(0, 1/m), y = A x + sigma z. For each (rho, nonzeros, sigma) the table gives the mean
over seeds of the MSE per coordinate ||x_hat - x||^2 / N divided by sigma^2, for the lasso at
the lam chosen by 5-fold cross-validation and for BPDN at sigma_est = sigma sqrt(m), beside
M*(delta, rho) (the asymptotic worst case over k-sparse x at the best lam; docs/noise.md).

Run: python -m bench.bench_noise [--n 1000 --seeds 10 --folds 5 --rhos 0.1 0.2 0.3
--lambda-ratio 1e-4] (at sigma = 0.01 the best lam is near 1e-3 lam_0, the end of lasso_cv's
default grid)
(--quick: N = 300, 3 seeds).
--scaling 500 1000 2000 4000 --rhos 0.3: the oracle-lam lasso against M* as N grows.
--dln: run dlncli.recover on the same instances instead (lasso-CV on recover's own grid, BPDN,
the least-squares oracle, and the early-stopped DLN at p = 2, 3, 4 with the oracle and hold-out
stops), one table of mean MSE / sigma^2 per estimator and the median window t_hi / t_lo per depth.
K-fold CV trains on m (K - 1) / K rows: near rho_W the folds
can sit above their own transition (rho m / (m (K - 1) / K) > rho_W(delta (K - 1) / K)),
and the CV choice then fails; more folds move them back below.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.common import machine
from dlncli.noise.lasso import basis_pursuit_denoise, lasso_cv, lasso_path
from dlncli.noise.theory import noise_sensitivity

DELTA = 0.5
RHOS = (0.1, 0.2, 0.3)
SIGMAS = (0.01, 0.1)
NONZEROS = ("sign", "gauss")
MARGIN = 1.1


def instance(
    n: int, rho: float, nonzeros: str, sigma: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A, y, x of one instance (the module docstring's ensemble)."""
    m = round(DELTA * n)
    k = round(rho * m)
    rng = np.random.default_rng([seed, round(1000 * rho), NONZEROS.index(nonzeros)])
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    x = np.zeros(n)
    support = rng.choice(n, size=k, replace=False)
    x[support] = rng.choice([-1.0, 1.0], k) if nonzeros == "sign" else rng.standard_normal(k)
    y = A @ x + sigma * rng.standard_normal(m)
    return A, y, x


def trial(
    n: int, rho: float, nonzeros: str, sigma: float, seed: int, folds: int, lambda_ratio: float
) -> tuple[float, float, float]:
    """(lasso-CV, BPDN, oracle lasso) MSE per coordinate divided by sigma^2 on one instance;
    the oracle is the lasso at the best of 400 lam log-spaced over the CV grid's range,
    chosen knowing x."""
    A, y, x = instance(n, rho, nonzeros, sigma, seed)
    m = A.shape[0]
    cv = lasso_cv(A, y, folds=folds, seed=seed, lambda_ratio=lambda_ratio)
    bpdn = basis_pursuit_denoise(A, y, sigma * np.sqrt(m))
    path = lasso_path(A, y, lambda_min=float(cv.lambdas[-1]))
    fine = np.geomspace(float(path.lambdas[0]), float(path.lambdas[-1]), 400)
    oracle = float(np.min(np.sum((path.at(fine) - x) ** 2, axis=1)))
    scale = n * sigma**2
    return (
        float(np.sum((cv.x - x) ** 2)) / scale,
        float(np.sum((bpdn.x - x) ** 2)) / scale,
        oracle / scale,
    )


def recover_trial(
    n: int, rho: float, nonzeros: str, sigma: float, seed: int, folds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """dlncli.recover on one instance: MSE / sigma^2 per estimator, window ratio per depth."""
    import dlncli
    from dlncli.problem import Problem

    A, y, x = instance(n, rho, nonzeros, sigma, seed)
    name = f"{nonzeros}:{rho}:{sigma}:{seed}"
    report = dlncli.recover(Problem(name, A, y, x_true=x, sigma=sigma), folds=folds, seed=seed)
    mse = {
        (r.method if r.depth is None else f"p={r.depth:g} {r.stop}"): r.mse / sigma**2
        for r in report.rows
    }
    windows = {
        label: stop.window_ratio
        for label, stop in report.curves.items()
        if stop.window_ratio is not None
    }
    return mse, windows


def recover_table(n: int, seeds: int, folds: int, rhos: list[float]) -> None:
    print(f"dlncli.recover (defaults: depths 2, 3, 4, alpha^p = 1e-6, hold-out 0.2, {folds} folds)")
    header: list[str] = []
    for rho in rhos:
        bound = noise_sensitivity(DELTA, rho)
        for nonzeros in NONZEROS:
            for sigma in SIGMAS:
                start = time.perf_counter()
                runs = [recover_trial(n, rho, nonzeros, sigma, s, folds) for s in range(seeds)]
                if not header:
                    header = list(runs[0][0])
                    print(
                        "| rho | nonzeros | sigma | M* | "
                        + " | ".join(header)
                        + " | window p=2/3/4 | s |"
                    )
                    print("|---|---|---|---|" + "---|" * (len(header) + 2))
                means = [float(np.mean([r[0][h] for r in runs])) for h in header]
                windows = "/".join(
                    f"{float(np.median([r[1][d] for r in runs if d in r[1]])):.2f}"
                    for d in ("2", "3", "4")
                )
                cells = " | ".join(f"{v:.3f}" for v in means)
                print(
                    f"| {rho} | {nonzeros} | {sigma} | {bound:.4f} | {cells} | {windows} | "
                    f"{time.perf_counter() - start:.0f} |",
                    flush=True,
                )


def oracle_scaling(rho: float, sigma: float, seeds: int, sizes: list[int]) -> None:
    """The lasso at its best lam (chosen knowing x) against M* as N grows, +-1 nonzeros: M* is
    a limit N -> infinity, and the finite-N gap shows how far a given N is from it."""
    bound = noise_sensitivity(DELTA, rho)
    print(f"oracle-lam lasso, rho = {rho}, +-1 nonzeros, sigma = {sigma}; M* = {bound:.4f}")
    print("| N | seeds | oracle-lam lasso MSE/sigma^2 (mean ± s.e.) | / M* | s |")
    print("|---|---|---|---|---|")
    for n in sizes:
        start = time.perf_counter()
        values = []
        for seed in range(seeds):
            A, y, x = instance(n, rho, "sign", sigma, seed)
            lam_0 = float(np.max(np.abs(A.T @ y)))
            path = lasso_path(A, y, lambda_min=1e-4 * lam_0)
            fine = np.geomspace(lam_0, float(path.lambdas[-1]), 400)
            best = min(float(np.sum((path.at(lam) - x) ** 2)) for lam in fine)
            values.append(best / (n * sigma**2))
        mean = float(np.mean(values))
        sem = float(np.std(values, ddof=1) / np.sqrt(seeds)) if seeds > 1 else 0.0
        print(
            f"| {n} | {seeds} | {mean:.4f} ± {sem:.4f} | {mean / bound:.3f} | "
            f"{time.perf_counter() - start:.0f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000, help="unknowns N")
    parser.add_argument("--seeds", type=int, default=10, help="instances per row")
    parser.add_argument("--quick", action="store_true", help="N = 300, 3 seeds")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    parser.add_argument(
        "--lambda-ratio", type=float, default=1e-4, help="CV grid end relative to lam_0"
    )
    parser.add_argument("--rhos", type=float, nargs="+", default=list(RHOS), help="k / m values")
    parser.add_argument("--dln", action="store_true", help="dlncli.recover's table (DLN rows)")
    parser.add_argument(
        "--scaling", type=int, nargs="*", help="oracle-lam lasso at these N (rho = --rhos[0])"
    )
    args = parser.parse_args()
    n, seeds = (300, 3) if args.quick else (args.n, args.seeds)
    print(f"machine: {machine()}")
    if args.scaling:
        oracle_scaling(args.rhos[0], SIGMAS[0], seeds, args.scaling)
        return
    if args.dln:
        print(f"N = {n}, delta = {DELTA}, {seeds} seeds per row")
        recover_table(n, seeds, args.folds, args.rhos)
        return
    print(
        f"N = {n}, delta = {DELTA}, {seeds} seeds per row, {args.folds}-fold CV, "
        f"grid down to {args.lambda_ratio:g} lam_0"
    )
    print()
    print(
        "| rho | nonzeros | sigma | M* | lasso-CV MSE/sigma^2 | BPDN MSE/sigma^2 "
        "| oracle-lam lasso | CV <= 1.1 M* | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for rho in args.rhos:
        bound = noise_sensitivity(DELTA, rho)
        for nonzeros in NONZEROS:
            for sigma in SIGMAS:
                start = time.perf_counter()
                results = np.array(
                    [
                        trial(n, rho, nonzeros, sigma, s, args.folds, args.lambda_ratio)
                        for s in range(seeds)
                    ]
                )
                cv_mean, bpdn_mean, oracle_mean = results.mean(axis=0)
                cv_sem = results[:, 0].std(ddof=1) / np.sqrt(seeds) if seeds > 1 else 0.0
                verdict = "yes" if cv_mean <= MARGIN * bound else "no"
                print(
                    f"| {rho} | {nonzeros} | {sigma} | {bound:.4f} | {cv_mean:.4f} ± "
                    f"{cv_sem:.4f} | {bpdn_mean:.4f} | {oracle_mean:.4f} | {verdict} | "
                    f"{time.perf_counter() - start:.1f} |"
                )


if __name__ == "__main__":
    main()
