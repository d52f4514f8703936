"""The homotopy loop vs scikit-learn's lars_path on the same lasso path.

Both follow the lasso path of min ½‖Ax − y‖² + l‖x‖₁ from l = ‖Aᵀy‖∞ down to l = 0 on the
same instance (``gauss:M:N:K:SEED``, A Gaussian / sqrt(m), k-sparse x), with one BLAS
thread each: :func:`dlncli.bp.homotopy.follow_homotopy` and
``sklearn.linear_model.lars_path(A, y, method="lasso", alpha_min=0, return_path=False)``
(its docs: alpha_min=0 follows the path to its end; return_path=False keeps only the end
point; max_iter raised from its default 500 to dlncli's own cap, 4 m). Per instance: both
times, their ratio (homotopy / lars_path; target <= 1), the
breakpoints each passed, and max |x_homotopy − x_lars| (the two end points must agree).

Run: python -m bench.bench_bp_path [--sizes 250x1000,500x2000,1000x5000] [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from bench.common import machine
from dlncli.bp.homotopy import MAX_STEPS_PER_ROW, HomotopyPath, follow_homotopy
from dlncli.problem_io import load_sample
from dlncli.transition.theory import weak_threshold


def _lars(A: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, int]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import lars_path

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, _, coef, n_iter = lars_path(
            A,
            y,
            method="lasso",
            alpha_min=0.0,
            max_iter=MAX_STEPS_PER_ROW * A.shape[0],  # its default 500 stops paths early
            return_path=False,
            return_n_iter=True,
        )
    return time.perf_counter() - start, np.asarray(coef, dtype=np.float64), int(n_iter)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="250x1000,500x2000,1000x5000")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rho", type=float, default=None, help="k / m (default 0.8 rho_W)")
    args = parser.parse_args()
    print(f"# {machine()}; {args.seeds} seeds per size, one BLAS thread")
    for m, n in (tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")):
        rho = args.rho if args.rho is not None else 0.8 * weak_threshold(m / n)
        k = max(1, round(rho * m))
        ratios = []
        for seed in range(args.seeds):
            p = load_sample(f"gauss:{m}:{n}:{k}:{seed}")
            with threadpool_limits(1, user_api="blas"):
                start = time.perf_counter()
                path = follow_homotopy(p.A, p.y)
                t_h = time.perf_counter() - start
                t_l, x_l, lars_steps = _lars(p.A, p.y)
            if not isinstance(path, HomotopyPath):
                print(f"  seed {seed}: homotopy declined ({path.reason}); lars {t_l:.2f} s")
                continue
            ratios.append(t_h / t_l)
            print(
                f"  {m}x{n} k={k} seed {seed}: homotopy {t_h:6.2f} s ({path.steps} steps), "
                f"lars_path {t_l:6.2f} s ({lars_steps} steps), ratio {t_h / t_l:5.2f}, "
                f"|dx| {float(np.max(np.abs(path.x - x_l))):.0e}",
                flush=True,
            )
        if ratios:
            print(
                f"{m}x{n} k={k}: homotopy / lars_path median {statistics.median(ratios):.2f}, "
                f"worst {max(ratios):.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
