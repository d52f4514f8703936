"""Issue 17 benchmarks: the potentials, the raw (u, v) integrator in the authors' gradient form
against the former algebraic form, and compare at the paper's finite horizon.

Run: python -m bench.bench_figures [--skip-raw] [--skip-compare]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial

import numpy as np
from numpy.typing import NDArray
from scipy.integrate import Radau

from bench.common import best_of, machine
from dlncli.arrays import LN10
from dlncli.dln.compare import compare_flow_to_bp, parse_t_end_rule
from dlncli.dln.flow import integrate_raw_flow
from dlncli.dln.limit import flow_limit
from dlncli.dln.potentials import DEFAULT_Z, evaluate_potentials, q
from dlncli.problem_io import load_sample

FloatArray = NDArray[np.float64]


def potentials() -> None:
    t_min, t_med, _ = best_of(lambda: evaluate_potentials([2.0, 2.5, 3.0, 4.0], z=DEFAULT_Z), 5)
    print(
        f"potentials default grid (4 depths x 11 z): min {t_min * 1e3:.2f} ms, median "
        f"{t_med * 1e3:.2f} ms"
    )
    w = np.geomspace(1e-12, 1e12, 1_000_000)
    for p in (2.0, 3.0):
        t_min, t_med, _ = best_of(partial(q, w, p), 3)
        print(
            f"q_p on 1e6 points in [1e-12, 1e12], p = {p:g}: min {t_min:.3f} s, median "
            f"{t_med:.3f} s ({1e6 / t_min / 1e6:.2f} M points/s)"
        )


def _old_form(
    A: FloatArray, y: FloatArray, p: float, alpha: float, cap: float
) -> tuple[FloatArray, float, bool]:
    """The former raw integrator: corr = A^T y - (A^T A) x, same Jacobian and tolerances."""
    n = A.shape[1]
    gram, aty = A.T @ A, A.T @ y

    def rhs(_: float, s: FloatArray) -> FloatArray:
        u, v = s[:n], s[n:]
        corr = aty - gram @ (u**p - v**p)
        return np.concatenate([p * u ** (p - 1) * corr, -p * v ** (p - 1) * corr])

    def jac(_: float, s: FloatArray) -> FloatArray:
        u, v = s[:n], s[n:]
        corr = aty - gram @ (u**p - v**p)
        P = np.concatenate([A * u ** (p - 1), -A * v ** (p - 1)], axis=1)
        out = -(p**2) * (P.T @ P)
        out[np.arange(n), np.arange(n)] += p * (p - 1) * u ** (p - 2) * corr
        out[np.arange(n, 2 * n), np.arange(n, 2 * n)] -= p * (p - 1) * v ** (p - 2) * corr
        return np.asarray(out)

    start = time.perf_counter()
    solver = Radau(
        rhs, 0.0, np.full(2 * n, alpha), 1e9 * alpha ** (2 - p), rtol=2.5e-14, atol=0.0, jac=jac
    )
    while solver.status == "running":
        if solver.step() is not None or time.perf_counter() - start > cap:
            break
    u, v = solver.y[:n], solver.y[n:]
    return u**p - v**p, time.perf_counter() - start, solver.status == "finished"


def raw_forms(cap: float) -> None:
    for name in ("line", "plane", "random3x5"):
        prob = load_sample(name)
        for p in (2.0, 3.0):
            for lap in (-3.0, -6.0):
                alpha = 10 ** (lap / p)
                limit = flow_limit(prob.A, prob.y, depth=p, log_alpha=lap / p * LN10)
                scale = 1.0 + float(np.max(np.abs(limit.x)))
                new = integrate_raw_flow(prob.A, prob.y, depth=p, alpha=alpha, time_limit=cap)
                x_old, t_old, ok_old = _old_form(prob.A, prob.y, p, alpha, cap)
                err_new = float(np.max(np.abs(new.x - limit.x))) / scale
                err_old = float(np.max(np.abs(x_old - limit.x))) / scale
                print(
                    f"raw Radau {name} p={p:g} a^p=1e{lap:g}: authors' form "
                    f"{new.elapsed_s:.2f} s ({new.status}, {new.steps} steps, vs limit "
                    f"{err_new:.1e}); old form {t_old:.2f} s "
                    f"({'finished' if ok_old else 'not finished'}, vs limit {err_old:.1e})"
                )


def compare_horizon() -> None:
    names = ["kink:0.3", "kink:0.1", "kink:0.03", "kink:0.01"]
    rule = parse_t_end_rule("1e9*alpha^(2-p)")
    grid: Callable[[float], list[float]] = lambda p: [-k / p for k in range(10)]  # noqa: E731
    for label, horizon in (
        ("to convergence (exact limit)", None),
        ("t_end = 1e9 alpha^(2-p)", rule),
    ):
        start = time.perf_counter()
        worst = 0.0
        for name in names:
            prob = load_sample(name)
            res = compare_flow_to_bp(
                prob.A, prob.y, depths=[3.0, 4.0, 5.0], log10_alphas=grid, t_end_rule=horizon
            )
            for r in res.rows:
                if r.limit_error_l2 is not None:
                    worst = max(worst, abs(r.error_l2 - r.limit_error_l2))
        extra = f"; max |error(t_end) - error(limit)| = {worst:.1e}" if horizon else ""
        print(
            f"figure 2 (4 problems x 3 depths x 10 alpha), {label}: "
            f"{time.perf_counter() - start:.1f} s{extra}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-raw", action="store_true")
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--cap", type=float, default=120.0, help="seconds per raw run")
    args = parser.parse_args()
    print(f"machine: {machine()} (shared with other jobs: times are noisy)")
    potentials()
    if not args.skip_compare:
        compare_horizon()
    if not args.skip_raw:
        raw_forms(args.cap)


if __name__ == "__main__":
    main()
