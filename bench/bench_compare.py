"""compare's default grid (4 depths x 10 alpha^p, exact limits) on a Gaussian 50x200.

Run: python -m bench.bench_compare     Target (issue 4): under 10 s.
"""

from __future__ import annotations

import time

from bench.common import machine
from dlncli.dln.compare import compare_flow_to_bp
from dlncli.problem_io import load_sample

GRID = [float(-k) for k in range(10)]


def main() -> None:
    print(f"machine: {machine()}")
    for spec in ("gauss:50:200:10:1", "gauss:50:200:25:2"):
        problem = load_sample(spec)
        start = time.perf_counter()
        result = compare_flow_to_bp(
            problem.A,
            problem.y,
            depths=[2.0, 2.5, 3.0, 4.0],
            log10_alphas=lambda p: [lp / p for lp in GRID],
        )
        elapsed = time.perf_counter() - start
        slopes = ", ".join(
            f"p={f.depth:g}: {f.slope:.3f} vs {f.predicted_slope:.3f}"
            if f.slope is not None
            else f"p={f.depth:g}: -"
            for f in result.fits
        )
        print(
            f"compare {spec} default grid ({len(result.rows)} limits): {elapsed:.2f} s; "
            f"gamma={result.dual_margin:.3f}; slopes {slopes}"
        )


if __name__ == "__main__":
    main()
