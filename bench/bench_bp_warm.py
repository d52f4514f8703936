"""The LP after a declined homotopy: warm (crashed from the path's active set) vs cold.

The path is declined on purpose after a fraction of its breakpoints (the ``max_steps`` hook
of :func:`dlncli.bp.homotopy.follow_homotopy`), as it is at a degenerate tie or a
rank-deficient active set; the LP then runs twice on the same instance, once from the
path's basis (what dlncli does) and once from HiGHS's own crash (warm start disabled).
Both must give the same x; the bench prints both LP times and simplex iteration counts.

Run: python -m bench.bench_bp_warm [--size 500x2000] [--seeds 3] [--fractions 0.5,0.9]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
from collections.abc import Iterator
from unittest import mock

import numpy as np

from bench.common import machine
from dlncli.bp import homotopy, verdict
from dlncli.bp.lp import _Lp
from dlncli.problem_io import load_sample
from dlncli.transition.theory import weak_threshold


@contextlib.contextmanager
def _declined_after(steps: int, *, warm: bool) -> Iterator[None]:
    capped = functools.partial(homotopy.follow_homotopy, max_steps=steps)
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(verdict, "follow_homotopy", capped))
        if not warm:
            stack.enter_context(mock.patch.object(_Lp, "set_basis", lambda self, basic: False))
        yield


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="500x2000")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--fractions", default="0.5,0.9", help="of the path's breakpoints")
    args = parser.parse_args()
    m, n = (int(v) for v in args.size.split("x"))
    k = max(1, round(weak_threshold(m / n) * m))
    print(f"# {machine()}; gauss:{m}:{n}:{k}:seed (rho = rho_W), {args.seeds} seeds")
    for fraction in (float(f) for f in args.fractions.split(",")):
        rows = []
        for seed in range(args.seeds):
            p = load_sample(f"gauss:{m}:{n}:{k}:{seed}")
            full = homotopy.follow_homotopy(p.A, p.y)
            total = full.steps if isinstance(full, homotopy.HomotopyPath) else k
            steps = max(1, int(fraction * total))
            runs = {}
            for warm in (True, False):
                with _declined_after(steps, warm=warm):
                    runs[warm] = verdict.solve_basis_pursuit(p.A, p.y)
            gap = float(np.max(np.abs(runs[True].x - runs[False].x)))
            assert any("warm-started" in note for note in runs[True].route_notes)
            rows.append((runs[True], runs[False]))
            print(
                f"  seed {seed}: declined at step {steps}/{total}: warm "
                f"{runs[True].elapsed_s:6.2f} s {runs[True].iterations:5d} it, cold "
                f"{runs[False].elapsed_s:6.2f} s {runs[False].iterations:5d} it, |dx| {gap:.0e}, "
                f"routes {runs[True].route}/{runs[False].route}",
                flush=True,
            )
        ratio = statistics.median(w.elapsed_s / c.elapsed_s for w, c in rows)
        print(f"{m}x{n} k={k} declined at {fraction:.0%} of the path: warm/cold {ratio:.2f}")


if __name__ == "__main__":
    main()
