"""Certified BP (solve-bp's default route) against first-order and interior-point solvers.

Run: python -m bench.bench_bp_speed [--quick]   (needs the bench extra: pip install -e ".[bench]")

Issue 16's three cases, every ratio measured in this one run:
- dense Gaussian 1000x5000, 100-sparse: solve-bp vs SPGL1 ``spg_bp`` (the authors' defaults
  with opt_tol = bp_tol = 1e-9, as bench/run.py runs it);
- dense Gaussian 500x2000, 150-sparse (near the phase transition): vs one
  ``scipy.optimize.linprog(method="highs")``;
- sparse 2000x20000 at 1 %, 100-sparse: vs cvxpy + Clarabel (its default tolerances).
Each row gives the time, the error against the planted x_true and, for solve-bp, the route
that proved the verdict.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import linprog

from bench.common import machine
from bench.run import _sparse_problem
from dlncli.bp.verdict import solve_basis_pursuit
from dlncli.problem_io import load_sample


def _linprog(A: Any, y: np.ndarray) -> np.ndarray:
    n = A.shape[1]
    res = linprog(np.ones(2 * n), A_eq=np.hstack([A, -A]), b_eq=y, bounds=(0, None))
    z = np.asarray(res.x, dtype=np.float64)
    return z[:n] - z[n:]


def _spgl1(A: Any, y: np.ndarray) -> np.ndarray:
    from spgl1 import spg_bp

    x, *_ = spg_bp(A, y, verbosity=0, opt_tol=1e-9, bp_tol=1e-9, iter_lim=20000)
    return np.asarray(x)


def _clarabel(A: Any, y: np.ndarray) -> np.ndarray:
    cp: Any = importlib.import_module("cvxpy")  # the bench extra; untyped for mypy either way
    x = cp.Variable(A.shape[1])
    cp.Problem(cp.Minimize(cp.norm1(x)), [A @ x == y]).solve(solver="CLARABEL")
    return np.asarray(x.value)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args()
    scale = 4 if args.quick else 1
    cases: list[tuple[str, Any, np.ndarray, np.ndarray, str, Callable[[Any, np.ndarray], Any]]]
    cases = []
    dense = load_sample(f"gauss:{1000 // scale}:{5000 // scale}:{100 // scale}:0")
    assert dense.x_true is not None
    cases.append(("Gaussian 1000x5000, k=100", dense.A, dense.y, dense.x_true, "SPGL1", _spgl1))
    near = load_sample(f"gauss:{500 // scale}:{2000 // scale}:{150 // scale}:0")
    assert near.x_true is not None
    cases.append(("Gaussian 500x2000, k=150", near.A, near.y, near.x_true, "linprog", _linprog))
    A_sp, y_sp, x_sp = _sparse_problem(2000 // scale, 20000 // scale, 100 // scale, 0.01)
    cases.append(("sparse 2000x20000 1%, k=100", A_sp, y_sp, x_sp, "Clarabel", _clarabel))
    print(f"machine: {machine()}")
    print(
        f"{'case':30} {'solve-bp (s)':>12} {'route':>9} {'err':>8} | {'other':>9} {'(s)':>8}"
        f" {'err':>8} | ratio"
    )
    for name, A, y, x_true, other, solve_other in cases:
        start = time.perf_counter()
        sol = solve_basis_pursuit(A, y)
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        x_other = solve_other(A, y)
        theirs_s = time.perf_counter() - start
        err = float(np.max(np.abs(sol.x - x_true)))
        err_other = float(np.max(np.abs(np.asarray(x_other) - x_true)))
        verdict = {True: "unique", False: "face", None: "undecided"}[sol.unique]
        print(
            f"{name:30} {ours_s:12.3f} {sol.solver:>9} {err:8.1e} | {other:>9} {theirs_s:8.3f}"
            f" {err_other:8.1e} | {ours_s / theirs_s:5.2f}  ({verdict}, certified={sol.certified})"
        )


if __name__ == "__main__":
    main()
