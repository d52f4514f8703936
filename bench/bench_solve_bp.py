"""solve-bp (LP + exact uniqueness verdict + polish) vs one scipy linprog(method="highs").

Run: python -m bench.bench_solve_bp [--m 500 --n 2000 --repeats 3]
Target (issue 2): ratio <= 2 on a dense Gaussian 500x2000.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import linprog

from bench.common import best_of, machine
from dlncli.bp.verdict import solve_basis_pursuit
from dlncli.problem_io import load_sample


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--m", type=int, default=500)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    problem = load_sample(f"gauss:{args.m}:{args.n}:{args.k}:0")
    A, y = problem.A, problem.y
    n = A.shape[1]

    def scipy_solve() -> np.ndarray:
        res = linprog(np.ones(2 * n), A_eq=np.hstack([A, -A]), b_eq=y, method="highs")
        assert res.status == 0 and res.x is not None
        return np.asarray(res.x[:n] - res.x[n:])

    t_ours, med_ours, sol = best_of(lambda: solve_basis_pursuit(A, y), args.repeats)
    t_ref, med_ref, x_ref = best_of(scipy_solve, args.repeats)
    print(f"machine: {machine()}")
    print(f"problem: gauss:{args.m}:{args.n}:{args.k}:0")
    print(
        f"dlncli solve-bp (LP + verdict): min {t_ours:.3f} s, median {med_ours:.3f} s, "
        f"unique={sol.unique}, lp_solves={sol.lp_solves}, residual={sol.residual_inf:.1e}"
    )
    print(f"scipy linprog(highs):          min {t_ref:.3f} s, median {med_ref:.3f} s")
    print(
        f"ratio (min/min): {t_ours / t_ref:.2f}   ||x - x_scipy||_inf = "
        f"{np.max(np.abs(sol.x - x_ref)):.2e}"
    )


if __name__ == "__main__":
    main()
