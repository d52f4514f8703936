"""tie-break on a 200x1000 problem whose BP face has dimension 20, for 5 depths.

Run: python -m bench.bench_tiebreak     Target (issue 5): under 5 s.
"""

from __future__ import annotations

import math
import time

from bench.common import machine
from dlncli.bp.verdict import solve_basis_pursuit
from dlncli.dln.tiebreak import select_minimizer
from dlncli.problem_io import load_sample


def main() -> None:
    print(f"machine: {machine()}")
    problem = load_sample("face:200:1000:40:20:0")  # 40 facet columns in a 20-dim subspace
    start = time.perf_counter()
    bp = solve_basis_pursuit(problem.A, problem.y, ranges=True)
    t_bp = time.perf_counter() - start
    result = select_minimizer(problem.A, problem.y, bp, [2.0, 2.5, 3.0, 4.0, math.inf])
    total = time.perf_counter() - start
    print(
        f"tie-break face:200:1000:40:20:0: face dimension {result.face_dimension}, "
        f"|J| = {result.support.size}; BP with ranges {t_bp:.2f} s + selection "
        f"{result.elapsed_s:.3f} s = {total:.2f} s for 5 depths"
    )


if __name__ == "__main__":
    main()
