"""What the certified verdict costs: solve-bp with certification vs its float route alone.

Run: python -m bench.bench_certify [--repeats 3]

For each problem, solve-bp is timed as shipped (the exact route when m <= 300 and
m*N <= 600 000) and with the exact route switched off (the float route: LP, float face and the
rigorous float bound). Both are timed in the same run.
"""

from __future__ import annotations

import argparse

from bench.common import best_of, machine
from dlncli.bp import certify
from dlncli.bp.verdict import BPSolution, solve_basis_pursuit
from dlncli.problem import Problem
from dlncli.problem_io import load_sample

PROBLEMS = (
    "kink:1e-12",
    "random3x5",
    "gauss:50:200:10:1",
    "gauss:100:400:20:0",
    "gauss:200:1000:40:0",
    "gauss:300:2000:60:0",
    "face:60:300:20:8:3",
    "face:200:1000:40:20:0",
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"{'problem':24} {'certified (s)':>14} {'float only (s)':>15} {'verdict':>10}  route")
    for spec in PROBLEMS:
        problem = load_sample(spec)

        def solve(problem: Problem = problem) -> BPSolution:
            return solve_basis_pursuit(problem.A, problem.y)

        best, _, sol = best_of(solve, args.repeats)
        saved = certify.EXACT_MAX_ROWS
        certify.EXACT_MAX_ROWS = 0
        try:
            float_best, _, _ = best_of(solve, args.repeats)
        finally:
            certify.EXACT_MAX_ROWS = saved
        verdict = {True: "unique", False: "face", None: "undecided"}[sol.unique]
        route = sol.certification.split("(")[0].strip()
        print(f"{spec:24} {best:14.3f} {float_best:15.3f} {verdict:>10}  {route}")


if __name__ == "__main__":
    main()
