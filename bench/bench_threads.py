"""BLAS threads at the entry points: the exact limit and the BP anchor with 1 vs 2 threads.

Measures, on the same instance in one process (default gauss:1000:5000:100:0):
- ``dlncli.flow(A, y, alpha="1e-6", depth=3, limit_only=True)`` (the BP anchor, then the
  exact limit), and
- ``dlncli.dln.limit.bp_anchor(A, y)`` alone,
under three thread settings: "1" (every BLAS call on one thread), "2, BP pinned" (two
threads everywhere except inside solve_basis_pursuit, which pins itself to one) and "2"
(two threads everywhere, BP's own pin disabled). Each setting runs --repeats times; the
median and the range are printed (the first call of the first setting includes imports).

Run: python -m bench.bench_threads [--spec gauss:1000:5000:100:0] [--repeats 3] [--only bp_anchor]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

from threadpoolctl import threadpool_limits

from bench.common import machine
from dlncli.bp import verdict
from dlncli.problem_io import load_sample

SETTINGS = ("1", "2, BP pinned", "2")


@contextlib.contextmanager
def _threads(setting: str) -> Iterator[None]:
    saved = verdict._one_blas_thread
    if setting == "2":
        verdict._one_blas_thread = contextlib.nullcontext  # type: ignore[assignment]
    try:
        with threadpool_limits(1 if setting == "1" else 2, user_api="blas"):
            yield
    finally:
        verdict._one_blas_thread = saved


def _entry_points(spec: str) -> dict[str, Callable[[], object]]:
    import dlncli
    from dlncli.dln import limit

    p = load_sample(spec)
    return {
        "flow limit_only": lambda: dlncli.flow(p.A, p.y, alpha="1e-6", depth=3, limit_only=True),
        "bp_anchor": lambda: limit.bp_anchor(p.A, p.y),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default="gauss:1000:5000:100:0")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default=None, help="flow or bp_anchor (default: both)")
    args = parser.parse_args()
    print(f"# {machine()}; {args.spec}, {args.repeats} repeats per setting, interleaved")
    calls = _entry_points(args.spec)
    for name, call in calls.items():
        if args.only is not None and not name.startswith(args.only):
            continue
        times: dict[str, list[float]] = {s: [] for s in SETTINGS}
        for _ in range(args.repeats):
            for setting in SETTINGS:  # interleaved, so that load drifts hit every setting
                with _threads(setting):
                    start = time.perf_counter()
                    call()
                    times[setting].append(time.perf_counter() - start)
                print(f"  {name} [{setting}]: {times[setting][-1]:.2f} s", flush=True)
        for setting in SETTINGS:
            t = times[setting]
            print(
                f"{name:16s} BLAS threads {setting:13s}: median {statistics.median(t):6.2f} s "
                f"(range {min(t):.2f}-{max(t):.2f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
