"""Flow benchmarks (issue 3): our ODE and exact limit vs the paper's raw (u, v) Radau.

Run: python -m bench.bench_flow [--baseline-cap 300] [--skip-baseline-10x30]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.common import machine
from dlncli.arrays import LN10
from dlncli.dln.flow import integrate_flow, integrate_raw_flow
from dlncli.dln.limit import bp_anchor, flow_limit
from dlncli.problem_io import load_sample


def ode_vs_baseline(name: str, depth: float, log10_alpha: float, cap: float) -> None:
    problem = load_sample(name)
    A, y = problem.A, problem.y
    start = time.perf_counter()
    anchor = bp_anchor(A, y)
    ours = integrate_flow(A, y, depth=depth, log_alpha=log10_alpha * LN10, anchor=anchor)
    t_ours = time.perf_counter() - start
    limit = flow_limit(A, y, depth=depth, log_alpha=log10_alpha * LN10, anchor=anchor)
    raw = integrate_raw_flow(A, y, depth=depth, alpha=10.0**log10_alpha, time_limit=cap)
    status = f"{raw.elapsed_s:.1f} s" if raw.success else f"did not finish in {cap:g} s"
    scale = float(np.max(np.abs(limit.x)))
    print(
        f"ODE {name} p={depth:g} alpha=1e{log10_alpha:g} (alpha^p=1e{depth * log10_alpha:g}): "
        f"ours {t_ours:.2f} s ({ours.steps} steps, converged={ours.converged}); "
        f"baseline Radau (u,v) {status} ({raw.steps} steps, reached t={raw.t_end:.3g}); "
        f"ratio >= {raw.elapsed_s / t_ours:.0f}x; "
        f"|x_ours - x_baseline|/|x| = {np.max(np.abs(ours.x - raw.x)) / scale:.1e}; "
        f"|x_ours - limit|/|x| = {np.max(np.abs(ours.x - limit.x)) / scale:.1e}"
    )


def ode_only(name: str, depth: float, log10_alpha: float) -> None:
    problem = load_sample(name)
    start = time.perf_counter()
    anchor = bp_anchor(problem.A, problem.y)
    ours = integrate_flow(
        problem.A, problem.y, depth=depth, log_alpha=log10_alpha * LN10, anchor=anchor
    )
    elapsed = time.perf_counter() - start
    limit = flow_limit(
        problem.A, problem.y, depth=depth, log_alpha=log10_alpha * LN10, anchor=anchor
    )
    scale = float(np.max(np.abs(limit.x)))
    print(
        f"ODE {name} p={depth:g} alpha=1e{log10_alpha:g}: {elapsed:.2f} s, {ours.steps} steps, "
        f"converged={ours.converged}, |x_ode - limit|/|x| = "
        f"{np.max(np.abs(ours.x - limit.x)) / scale:.1e}"
    )


def limits(name: str) -> None:
    problem = load_sample(name)
    start = time.perf_counter()
    anchor = bp_anchor(problem.A, problem.y)
    t_anchor = time.perf_counter() - start
    print(f"limit {name}: BP anchor (LP + certificate) {t_anchor:.2f} s, then per (p, alpha):")
    for depth in (2.0, 3.0):
        for log10_alpha in (-3.0, -6.0, -12.0):
            start = time.perf_counter()
            result = flow_limit(
                problem.A, problem.y, depth=depth, log_alpha=log10_alpha * LN10, anchor=anchor
            )
            elapsed = time.perf_counter() - start
            print(
                f"  p={depth:g} alpha=1e{log10_alpha:g}: {elapsed:.3f} s "
                f"(+anchor {elapsed + t_anchor:.2f} s), {result.newton_iterations} Newton "
                f"iterations, residual {result.residual_inf:.1e}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline-cap", type=float, default=300.0)
    parser.add_argument("--skip-baseline-10x30", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    ode_vs_baseline("random3x5", 3.0, -3.0, args.baseline_cap)
    ode_only("gauss:50:200:10:1", 3.0, -6.0)
    if not args.skip_baseline_10x30:
        ode_vs_baseline("gauss:10:30:4:2", 3.0, -6.0, max(args.baseline_cap, 600.0))
    limits("gauss:200:1000:40:0")


if __name__ == "__main__":
    main()
