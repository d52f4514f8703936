"""Cost of certifying the flow limit (issue 11): flow_limit with and without the face-free check.

Run: python -m bench.bench_limit_check [--repeats 3]

For each case: the face route alone (certify=False), the certified limit (default), the route
the certified limit took, the precision of its check, and for the near-tie cases the distance
between the two answers (the face route's error).
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np

from bench.common import best_of, machine
from dlncli.arrays import LN10
from dlncli.dln.limit import Anchor, LimitResult, bp_anchor, flow_limit
from dlncli.problem_io import load_sample

CASES: tuple[tuple[str, float, float], ...] = (
    ("random3x5", 3.0, -3.0),
    ("random3x5", 6.0, -9.0),
    ("random3x5", 2.0, -300.0),
    ("gauss:10:30:4:2", 3.0, -3.0),
    ("gauss:10:30:4:2", 6.0, -9.0),
    ("gauss:10:30:4:2", 4.0, -300.0),
    ("gauss:40:160:8:3", 3.0, -6.0),
    ("gauss:100:400:10:4", 3.0, -3.0),
    ("gauss:100:400:10:4", 3.0, -6.0),
    ("line", 2.0000001, -3.0),
    ("line", 3.0, 5.0),
    ("kink:1e-7", 3.0, -8.0),
    ("kink:1e-12", 3.0, -8.0),
)


def _face_only(
    A: np.ndarray, y: np.ndarray, depth: float, log_alpha: float, anchor: Anchor
) -> LimitResult | Exception:
    try:
        return flow_limit(A, y, depth=depth, log_alpha=log_alpha, anchor=anchor, certify=False)
    except Exception as exc:  # the face route alone may fail: that is the point
        return exc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()} (shared with other jobs while measured: times are noisy)")
    print("case | face route only (min / median s) | certified (min / median s) | route | check")
    for name, depth, log10_alpha in CASES:
        problem = load_sample(name)
        anchor = bp_anchor(problem.A, problem.y)
        log_alpha = log10_alpha * LN10
        face_only = partial(_face_only, problem.A, problem.y, depth, log_alpha, anchor)
        certified = partial(
            flow_limit, problem.A, problem.y, depth=depth, log_alpha=log_alpha, anchor=anchor
        )
        f_min, f_med, face = best_of(face_only, args.repeats)
        c_min, c_med, result = best_of(certified, args.repeats)
        face_text = (
            f"{f_min:.4f} / {f_med:.4f}"
            if not isinstance(face, Exception)
            else f"failed ({type(face).__name__})"
        )
        print(
            f"{name} p={depth:.10g} alpha=1e{log10_alpha:g} | {face_text} | "
            f"{c_min:.4f} / {c_med:.4f} | {result.route} | "
            f"{result.check_precision or '-'}, certified={result.certified}, "
            f"face error {result.face_correction:.2g}"
        )


if __name__ == "__main__":
    main()
