"""Basis pursuit on the phase-transition ensemble: dlncli vs SPGL1 vs scipy linprog(highs).

Instances: A Gaussian / sqrt(m), x k-sparse Gaussian, y = A x correctly rounded
(``gauss:M:N:K:SEED``), with rho = k / m in {0.1, 0.2, 0.3, rho_W(delta), 1.2 rho_W(delta)}
(delta = m / N, rho_W from :func:`dlncli.transition.theory.weak_threshold`). Every solver runs
on the same instance in the same process, with one BLAS thread (the policy dlncli applies
itself; --blas-threads 2 measures dlncli with two). SPGL1 runs ``spg_bp`` with
opt_tol = bp_tol = 1e-9, as its authors do for basis pursuit.

Per cell: dlncli's route counts, certified fraction, median time, the median and worst
dlncli / SPGL1 time ratio (with max |x_dlncli - x_SPGL1| and how many SPGL1 runs stopped at
a limit instead of converging, and how many are wrong: farther than 1e-6 from dlncli's
certified unique minimizer), and the median dlncli / linprog ratio (with
max |x_dlncli - x_linprog|, the independent check of dlncli's answers).

Run: python -m bench.bench_bp_ensemble [--quick] [--sizes 100x400,250x1000]
     python -m bench.bench_bp_ensemble --sizes 1000x5000 --seeds 10 --linprog-seeds 3
     python -m bench.bench_bp_ensemble --blas-compare --sizes 500x2000 --quick
Targets: worst <= 2x SPGL1, median <= 0.5x, cold LP <= 1 %, certified >= 99 %.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import statistics
import time
from collections.abc import Iterator

import numpy as np
from threadpoolctl import threadpool_limits

from bench.common import machine
from dlncli.bp import verdict
from dlncli.bp.verdict import solve_basis_pursuit
from dlncli.problem_io import load_sample
from dlncli.transition.theory import weak_threshold

SIZES = ((100, 400), (250, 1000), (500, 2000), (1000, 5000))


def _rhos(delta: float) -> list[tuple[str, float]]:
    rho_w = weak_threshold(delta)
    return [
        ("0.1", 0.1),
        ("0.2", 0.2),
        ("0.3", 0.3),
        (f"rW={rho_w:.3f}", rho_w),
        (f"1.2rW={1.2 * rho_w:.3f}", 1.2 * rho_w),
    ]


@contextlib.contextmanager
def _dlncli_blas(threads: int) -> Iterator[None]:
    """dlncli's own BLAS policy is one thread; for 2, disable it and allow two."""
    if threads == 1:
        yield
        return
    saved = verdict._one_blas_thread
    verdict._one_blas_thread = contextlib.nullcontext  # type: ignore[assignment]
    try:
        with threadpool_limits(threads, user_api="blas"):
            yield
    finally:
        verdict._one_blas_thread = saved


def _timed_dlncli(A: np.ndarray, y: np.ndarray, threads: int) -> tuple[float, verdict.BPSolution]:
    with _dlncli_blas(threads):
        start = time.perf_counter()
        sol = solve_basis_pursuit(A, y)
        return time.perf_counter() - start, sol


# spg_bp's info["stat"]: 1-4 converged (root, BP solution, least squares, optimal), 5 and up
# stopped (iteration or line-search limits).
SPGL1_CONVERGED = (1, 2, 3, 4)
# An SPGL1 x farther than this (max norm) from dlncli's certified unique minimizer is wrong.
SPGL1_WRONG = 1e-6


def _timed_spgl1(A: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, bool]:
    from spgl1 import spg_bp

    with threadpool_limits(1, user_api="blas"):
        start = time.perf_counter()
        x, _, _, info = spg_bp(A, y, opt_tol=1e-9, bp_tol=1e-9, verbosity=0)
        elapsed = time.perf_counter() - start
    return elapsed, np.asarray(x, dtype=np.float64), int(info["stat"]) in SPGL1_CONVERGED


def _timed_linprog(A: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    from scipy.optimize import linprog

    n = A.shape[1]
    with threadpool_limits(1, user_api="blas"):
        start = time.perf_counter()
        z = linprog(
            np.ones(2 * n), A_eq=np.hstack([A, -A]), b_eq=y, bounds=(0, None), method="highs"
        ).x
        elapsed = time.perf_counter() - start
    assert z is not None, "linprog found no optimum"
    return elapsed, np.asarray(z[:n] - z[n:], dtype=np.float64)


def _cell(m: int, n: int, label: str, rho: float, seeds: int, linprog_seeds: int) -> None:
    k = max(1, round(rho * m))
    routes: collections.Counter[str] = collections.Counter()
    ratios, lp_ratios, times, gaps, lp_gaps = [], [], [], [], []
    certified = spgl1_stopped = spgl1_wrong = 0
    for seed in range(seeds):
        p = load_sample(f"gauss:{m}:{n}:{k}:{seed}")
        t_dln, sol = _timed_dlncli(p.A, p.y, 1)
        t_spg, x_spg, converged = _timed_spgl1(p.A, p.y)
        spgl1_stopped += int(not converged)
        routes[sol.route] += 1
        if sol.route != "homotopy":  # why the path was declined, for the record
            print(f"    seed {seed} {sol.route}: {'; '.join(sol.route_notes)}", flush=True)
        certified += int(sol.certified)
        times.append(t_dln)
        ratios.append(t_dln / t_spg)
        gaps.append(float(np.max(np.abs(sol.x - x_spg))))
        # SPGL1's answer is wrong when it is far from a certified unique minimizer
        spgl1_wrong += int(sol.certified and sol.unique is True and gaps[-1] > SPGL1_WRONG)
        if seed < linprog_seeds:
            t_lp, x_lp = _timed_linprog(p.A, p.y)
            lp_ratios.append(t_dln / t_lp)
            lp_gaps.append(float(np.max(np.abs(sol.x - x_lp))))
    route_text = " ".join(f"{r}:{c}" for r, c in sorted(routes.items()))
    lp_text = (
        f"{statistics.median(lp_ratios):6.2f} |dx| {max(lp_gaps):.0e} ({len(lp_ratios)} seeds)"
        if lp_ratios
        else "-"
    )
    lp_routes = sum(c for r, c in routes.items() if r.startswith("lp"))
    print(
        f"{m:5d}x{n:<5d} {label:>14s} k={k:4d}  {route_text:<32s} LP {lp_routes}/{seeds}  "
        f"cert {certified}/{seeds}  "
        f"t_med {statistics.median(times):6.2f}s  /spgl1 med {statistics.median(ratios):5.2f} "
        f"worst {max(ratios):5.2f} (|dx| {max(gaps):.0e}, stopped {spgl1_stopped}, "
        f"wrong {spgl1_wrong})  "
        f"/linprog med {lp_text}",
        flush=True,
    )


def _blas_compare(m: int, n: int, seeds: int) -> None:
    """dlncli with 1 vs 2 BLAS threads on the same instances (rho = rho_W)."""
    k = max(1, round(weak_threshold(m / n) * m))
    for threads in (1, 2):
        times = []
        for seed in range(seeds):
            p = load_sample(f"gauss:{m}:{n}:{k}:{seed}")
            times.append(_timed_dlncli(p.A, p.y, threads)[0])
        print(
            f"{m}x{n} k={k} BLAS threads={threads}: median {statistics.median(times):.2f} s, "
            f"max {max(times):.2f} s over {seeds} seeds",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default=",".join(f"{m}x{n}" for m, n in SIZES))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 seeds per cell")
    parser.add_argument("--no-linprog", action="store_true", help="skip scipy linprog")
    parser.add_argument(
        "--linprog-seeds", type=int, default=None, help="linprog on the first N seeds only"
    )
    parser.add_argument("--blas-compare", action="store_true", help="1 vs 2 BLAS threads")
    parser.add_argument(
        "--cells", default=None, help="only these rho labels, e.g. 0.1,rW (default: all five)"
    )
    args = parser.parse_args()
    seeds = 3 if args.quick else args.seeds
    linprog_seeds = 0 if args.no_linprog else seeds
    if args.linprog_seeds is not None:
        linprog_seeds = min(seeds, args.linprog_seeds)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    print(f"# {machine()}; {seeds} seeds per cell")
    for m, n in sizes:
        if args.blas_compare:
            _blas_compare(m, n, seeds)
            continue
        for label, rho in _rhos(m / n):
            if args.cells is None or label.split("=")[0] in args.cells.split(","):
                _cell(m, n, label, rho, seeds, linprog_seeds)


if __name__ == "__main__":
    main()
