"""path on Gaussian 500x2000 with a 50-sparse truth: the whole alpha -> 0 path, and the cost
per event against a fresh scipy NNLS per event (the same path without warm start/updates).

Run: python -m bench.bench_path     Target (issue 13): the whole path in under 2 s.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import nnls

from bench.common import best_of, machine
from dlncli.bp.verdict import solve_basis_pursuit
from dlncli.dln.path import path
from dlncli.problem_io import load_sample

FloatArray = np.ndarray


def fresh_nnls_events(
    A: FloatArray, y: FloatArray, report_taus: list[float]
) -> tuple[float, FloatArray]:
    """Seconds for scipy's NNLS from scratch on the active face at every event of the path,
    and the last saddle it reaches."""
    n = A.shape[1]
    start = time.perf_counter()
    q, signs = np.zeros(n), np.zeros(n)
    active = np.zeros(n, dtype=bool)
    tol = 1e-10 * float(np.max(np.linalg.norm(A, axis=0)) * np.linalg.norm(y))
    g = A.T @ y
    for _ in report_taus[1:]:
        moving = ~active & (np.abs(g) > tol)
        steps = np.full(n, np.inf)
        steps[moving] = (np.sign(g[moving]) - q[moving]) / g[moving]
        dtau = float(np.min(steps))
        hit = steps <= dtau * (1 + 1e-9)
        q[~active] += dtau * g[~active]
        signs[hit] = np.sign(g[hit])
        q[hit] = signs[hit]
        active |= hit
        idx = np.flatnonzero(active)
        w, _ = nnls(A[:, idx] * signs[idx], y)
        x = np.zeros(n)
        x[idx] = signs[idx] * w
        g = A.T @ (y - A @ x)
        active &= ~((x == 0) & (signs * g < -tol))
    return time.perf_counter() - start, x


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "specs",
        nargs="*",
        default=[f"gauss:500:2000:50:{seed}" for seed in range(3)],
        help="sample problems (default: Gaussian 500x2000, 50-sparse, seeds 0-2)",
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    for spec in args.specs:
        problem = load_sample(spec)
        A, y = problem.A, problem.y
        start = time.perf_counter()
        bp = solve_basis_pursuit(A, y)
        t_bp = time.perf_counter() - start
        best, median, report = best_of(lambda: path(A, y, bp=bp), repeats=3)  # noqa: B023
        events = len(report.saddles) - 1
        left = sum(len(s.left) for s in report.saddles)
        t_fresh, x_fresh = fresh_nnls_events(A, y, [s.tau for s in report.saddles])
        truth = problem.x_true if problem.x_true is not None else bp.x
        print(
            f"{spec}: {events} events ({left} coordinates left), tau_end "
            f"{report.saddles[-1].tau:.4g}, last saddle vs solve-bp {report.bp_distance:.2g}, "
            f"vs truth {float(np.max(np.abs(report.x - truth))):.2g}"
        )
        print(
            f"  path {best:.3f} s best / {median:.3f} s median of 3 "
            f"({1e3 * best / max(events, 1):.1f} ms per event); solve-bp (HiGHS, for "
            f"bp_distance) {t_bp:.2f} s; whole command ~{best + t_bp:.2f} s; "
            f"fresh scipy NNLS per event {t_fresh:.2f} s (its end vs ours "
            f"{float(np.max(np.abs(x_fresh - report.x))):.1e})"
        )


if __name__ == "__main__":
    main()
