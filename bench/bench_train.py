"""train: the per-step cost of log-domain GD against the two matrix-vector products a step
needs (A x and A^T r, timed in the same run), and GD to machine-precision interpolation.

Run: python -m bench.bench_train
Targets (issue 14): per-step cost within 3x of the two products at 50x200 and 500x2000
(p = 2, 2.5, 3; GD and SGD with B = m/5);
GD to interpolation on Gaussian 50x200 at alpha = 1e-3, eta = 0.1 in under 2 s.
Instances: the repository's sample_problems/gauss_50x200.npz (10-sparse truth), and A with
N(0, 1/m) entries with y ~ N(0, I) (dense) or y = A x0 for a 5-sparse x0 of +-1 entries (its
last phase is far slower: see the README's train section).
"""

from __future__ import annotations

import argparse
import math
import time
from functools import partial
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bench.common import best_of, machine
from dlncli.dln.train import TrainReport, train
from dlncli.problem_io import load_problem

# The repository's Gaussian 50x200 sample (10-sparse truth, unit-norm-ish columns).
SAMPLE = Path(__file__).resolve().parent.parent / "sample_problems" / "gauss_50x200.npz"

FloatArray = NDArray[np.float64]


def gaussian(m: int, n: int, seed: int, sparse: int = 0) -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / math.sqrt(m)
    if not sparse:
        return A, rng.standard_normal(m)
    x0 = np.zeros(n)
    x0[rng.choice(n, sparse, replace=False)] = rng.choice([-1.0, 1.0], sparse)
    return A, A @ x0


def matvec_pair_seconds(A: FloatArray, y: FloatArray, repeats: int) -> float:
    """Seconds per (r = A x - y, g = A^T r), the products one GD step needs, over
    ``repeats`` of them."""
    x = np.full(A.shape[1], 1e-3)
    start = time.perf_counter()
    for _ in range(repeats):
        r = A @ x - y
        g = A.T @ r
        x[0] += 1e-30 * g[0]
    return (time.perf_counter() - start) / repeats


def fast_pair_seconds(A: FloatArray, y: FloatArray, repeats: int) -> float:
    """The same pair the way the step loop calls it: np.dot into preallocated arrays."""
    m, n = A.shape
    x = np.full(n, 1e-3)
    r = np.empty(m)
    g = np.empty(n)
    dot, subtract = np.dot, np.subtract
    start = time.perf_counter()
    for _ in range(repeats):
        dot(A, x, r)
        subtract(r, y, r)
        dot(r, A, g)
        x[0] += 1e-30 * g[0]
    return (time.perf_counter() - start) / repeats


def step_seconds(
    A: FloatArray, y: FloatArray, depth: float, lr: float, steps: int, batch: int | None
) -> float:
    """Seconds per GD (SGD: ``batch`` rows) step of one run: the report's loop time (the
    steps alone, without lambda_max and the limits) over the steps."""
    result = train(
        A,
        y,
        depth=depth,
        log_alpha=math.log(1e-3),
        lr=lr,
        batch=batch,
        max_steps=steps,
        predict=False,
    )
    assert result.steps == steps, "converged early"
    return result.loop_s / steps


def best_interleaved(
    A: FloatArray, y: FloatArray, depth: float, steps: int, batch: int | None, repeats: int
) -> tuple[float, float, float]:
    """(step, pair, dot) seconds, each the best of ``repeats`` windows of ``steps``, the three
    taken in turn so that the machine's load falls on all of them alike."""
    best = [math.inf] * 3
    for _ in range(repeats):
        times = (
            step_seconds(A, y, depth, 1e-4, steps, batch),
            matvec_pair_seconds(A, y, steps),
            fast_pair_seconds(A, y, steps),
        )
        best = [min(b, t) for b, t in zip(best, times, strict=True)]
    return best[0], best[1], best[2]


def _train_gd(A: FloatArray, y: FloatArray, predict: bool) -> TrainReport:
    return train(A, y, depth=2.0, log_alpha=math.log(1e-3), lr=0.1, predict=predict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="K (50x200; K/10 at 500x2000)")
    parser.add_argument("--repeats", type=int, default=15, help="windows per timing (best of)")
    parser.add_argument("--passes", type=int, default=5, help="rounds the windows are spread over")
    args = parser.parse_args()
    print(f"machine: {machine()} (shared with other jobs: times are noisy)")
    print(
        f"\nper-step cost (alpha = 1e-3, eta = 1e-4, best of {args.repeats} windows of K steps "
        f"in {args.passes} rounds over the cases, the step, the pair and dot in turn: 'pair' "
        "is A @ x - y and A.T @ r, 'dot' the same with np.dot into preallocated arrays, as "
        "the loop calls them; ratio = step / pair, target <= 3)"
    )
    print(
        f"{'size':>10} {'method':>7} {'p':>4} {'step us':>8} {'pair us':>8} {'dot us':>7} "
        f"{'ratio':>6} {'/dot':>6}"
    )
    # Every case is timed in each of --passes rounds (a few windows each), so that a burst of
    # load from other jobs inflates one round of a case, not all its windows.
    timed = []
    for m, n in ((50, 200), (500, 2000)):
        A, y = gaussian(m, n, seed=1)
        steps = args.steps if n <= 200 else max(args.steps // 10, 100)
        for batch in (None, m // 5):
            for depth in (2.0, 2.5, 3.0):
                timed.append((m, n, A, y, steps, batch, depth))
    fastest = [(math.inf, math.inf, math.inf)] * len(timed)
    per_pass = max(1, args.repeats // args.passes)
    for _ in range(args.passes):
        for i, (_m, _n, A, y, steps, batch, depth) in enumerate(timed):
            got = best_interleaved(A, y, depth, steps, batch, per_pass)
            fastest[i] = (
                min(fastest[i][0], got[0]),
                min(fastest[i][1], got[1]),
                min(fastest[i][2], got[2]),
            )
    for (m, n, _A, _y, _steps, batch, depth), (per_step, pair, fast) in zip(
        timed, fastest, strict=True
    ):
        method = "GD" if batch is None else f"SGD B={batch}"
        print(
            f"{m:>4}x{n:<5} {method:>7} {depth:>4g} {per_step * 1e6:>8.1f} "
            f"{pair * 1e6:>8.1f} {fast * 1e6:>7.1f} {per_step / pair:>6.2f} "
            f"{per_step / fast:>6.2f}"
        )
    print("\nGD to machine-precision interpolation, Gaussian 50x200, alpha = 1e-3, eta = 0.1")
    sample = load_problem(str(SAMPLE))
    cases = [("sample", sample.A, sample.y)]
    for label, sparse in (("dense y", 0), ("5-sparse x0", 5)):
        cases.append((label, *gaussian(50, 200, seed=0, sparse=sparse)))
    for label, A, y in cases:
        for predict in (False, True):
            best, median, result = best_of(partial(_train_gd, A, y, predict), repeats=3)
            error = "" if result.prediction_error is None else f"{result.prediction_error:.2g}"
            print(
                f"{label:>12} predict={predict!s:<5} {result.status:>9} steps {result.steps:>6} "
                f"loss/(½|y|²) {result.loss / (0.5 * float(y @ y)):.1e} best {best:.3f} s "
                f"median {median:.3f} s prediction_error {error}"
            )


if __name__ == "__main__":
    main()
