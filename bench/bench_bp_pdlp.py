"""Basis pursuit on sparse A: dlncli vs Google OR-Tools' PDLP.

Instances: A is 2000 x 20000 with 1 % density (scipy.sparse.random, Gaussian entries, CSC),
x k-sparse Gaussian (k = 200 by default), y = A x; one seed per instance. PDLP runs as its
authors' sample does (ortools/pdlp/samples/simple_pdlp_program.py): its default termination
tolerances eps_optimal_relative = eps_optimal_absolute = 1e-6, one thread, no time limit, no
glop presolve, on the LP min 1ᵀ(u + v) s.t. A u − A v = y, u, v >= 0 (the LP dlncli's HiGHS
route solves). dlncli: :func:`solve_basis_pursuit` with its defaults (certified verdict).
Both with one BLAS thread. Per instance: both times, the ratio dlncli / PDLP (target <= 1),
PDLP's termination reason and max |x_dlncli − x_PDLP| (PDLP's own accuracy, ~1e-6).

Run: python -m bench.bench_bp_pdlp [--seeds 3] [--k 200] [--size 2000x20000]
Needs ortools (pip install ortools; bench only).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from bench.common import machine
from dlncli.bp.verdict import solve_basis_pursuit

DENSITY = 0.01


def _instance(m: int, n: int, k: int, seed: int) -> tuple[Any, np.ndarray]:
    rng = np.random.default_rng(seed)
    A: Any = sp.random(
        m, n, density=DENSITY, random_state=seed + 1, data_rvs=rng.standard_normal, format="csc"
    )
    x_true = np.zeros(n)
    x_true[rng.choice(n, k, replace=False)] = rng.standard_normal(k)
    return A, np.asarray(A @ x_true, dtype=np.float64)


def _pdlp(A: Any, y: np.ndarray) -> tuple[float, np.ndarray, str]:
    from ortools.pdlp import solve_log_pb2, solvers_pb2
    from ortools.pdlp.python import pdlp

    n = A.shape[1]
    lp = pdlp.QuadraticProgram()
    lp.objective_vector = np.ones(2 * n)
    lp.constraint_lower_bounds = y
    lp.constraint_upper_bounds = y
    lp.variable_lower_bounds = np.zeros(2 * n)
    lp.variable_upper_bounds = np.full(2 * n, np.inf)
    lp.constraint_matrix = sp.csc_matrix(sp.hstack([A, -A]))
    params = solvers_pb2.PrimalDualHybridGradientParams()
    criteria = params.termination_criteria.simple_optimality_criteria
    criteria.eps_optimal_relative = 1.0e-6  # the defaults, as the authors' sample sets them
    criteria.eps_optimal_absolute = 1.0e-6
    params.termination_criteria.time_sec_limit = np.inf
    params.num_threads = 1
    params.verbosity_level = 0
    params.presolve_options.use_glop = False
    start = time.perf_counter()
    result = pdlp.primal_dual_hybrid_gradient(lp, params)
    elapsed = time.perf_counter() - start
    reason = solve_log_pb2.TerminationReason.Name(result.solve_log.termination_reason)
    z = np.asarray(result.primal_solution, dtype=np.float64)
    return elapsed, z[:n] - z[n:], reason


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="2000x20000")
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    m, n = (int(v) for v in args.size.split("x"))
    print(f"# {machine()}; sparse {m}x{n} at {DENSITY:.0%}, k = {args.k}, {args.seeds} seeds")
    ratios = []
    for seed in range(args.seeds):
        A, y = _instance(m, n, args.k, seed)
        with threadpool_limits(1, user_api="blas"):
            start = time.perf_counter()
            sol = solve_basis_pursuit(A, y)
            t_dln = time.perf_counter() - start
            t_pdlp, x_pdlp, reason = _pdlp(A, y)
        ratios.append(t_dln / t_pdlp)
        print(
            f"  seed {seed}: dlncli {t_dln:6.2f} s ({sol.route}, certified {sol.certified}), "
            f"PDLP {t_pdlp:6.2f} s ({reason}), ratio {t_dln / t_pdlp:5.2f}, "
            f"|dx| {float(np.max(np.abs(sol.x - x_pdlp))):.0e}",
            flush=True,
        )
    print(
        f"{m}x{n} k={args.k}: dlncli / PDLP median {statistics.median(ratios):.2f}, "
        f"worst {max(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
