"""The flow ODE against the paper authors' Radau on (u, v) in their gradient form (issue 16,
goal 2), every ratio measured in this one run.

Run: python -m bench.bench_ode_speed [--repeats 5] [--raw-repeats 3] [--skip-large]

(a) In the process, random3x5, p = 3, alpha^p = 1e-9: dlncli's ODE (the BP anchor it needs
    plus integrate_flow to convergence) against integrate_raw_flow, the authors' form: Radau
    on the 2N-dimensional (u, v) system with G = p A^T (y - A x), their dense Jacobian, rtol
    2.5e-14, atol 0, to t = 1e9 alpha^(2 - p). Target: >= 20x.
(b) The whole command, each in a fresh process (as the environment is, and with a bytecode
    cache for both sides, as an installed package has): ``dlncli flow random3x5 --depth 3 --alpha
    1e-3 --json`` (BP anchor, certified exact limit, ODE, tie-break reference, JSON) against a
    ``python -c`` script doing what the authors' script does (import numpy and scipy,
    solve_ivp(method="Radau") with the same right-hand side, Jacobian and tolerances, print
    x). Target: >= 8x.
(c) Gaussian 200 x 1000 (gauss:200:1000:40:0), p = 3, alpha^p = 1e-9: integrate_flow to
    convergence, and its distance to the certified exact limit. Target: < 60 s.

The machine may be shared: every measurement is repeated, runs of the two sides are
interleaved, and ranges (min-max) are printed; each ratio is median over median, with the
range of min/max and max/min beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from bench.common import machine
from dlncli.dln.flow import integrate_flow, integrate_raw_flow
from dlncli.dln.limit import bp_anchor, flow_limit
from dlncli.problem_io import load_sample

DEPTH = 3.0
LOG10_ALPHA_P = -9.0
ALPHA = 10.0 ** (LOG10_ALPHA_P / DEPTH)  # 1e-3
ALPHA_TEXT = "1e-3"

# What the authors' script does, written out: their right-hand side and dense Jacobian for
# u' = p u^(p-1) G, v' = -p v^(p-1) G, G = A^T (y - A x) (the residual formed first), with
# scipy's solve_ivp Radau at rtol 2.5e-14, atol 0, to t = 1e9 alpha^(2-p).
AUTHORS_SCRIPT = """
import sys
import numpy as np
from scipy.integrate import solve_ivp
A = np.array({A})
y = np.array({y})
p, alpha = {p!r}, {alpha!r}
n = A.shape[1]
def rhs(t, s):
    u, v = s[:n], s[n:]
    g = p * (A.T @ (y - A @ (u**p - v**p)))
    return np.concatenate([u ** (p - 1) * g, -(v ** (p - 1)) * g])
def jac(t, s):
    u, v = s[:n], s[n:]
    g = p * (A.T @ (y - A @ (u**p - v**p)))
    P = np.concatenate([A * u ** (p - 1), -A * v ** (p - 1)], axis=1)
    out = -(p**2) * (P.T @ P)
    out[np.arange(n), np.arange(n)] += (p - 1) * u ** (p - 2) * g
    out[np.arange(n, 2 * n), np.arange(n, 2 * n)] -= (p - 1) * v ** (p - 2) * g
    return out
s0 = np.full(2 * n, alpha)
sol = solve_ivp(rhs, (0.0, 1e9 * alpha ** (2.0 - p)), s0, method="Radau",
                rtol=2.5e-14, atol=0.0, jac=jac)
u, v = sol.y[:n, -1], sol.y[n:, -1]
print(" ".join(repr(float(xi)) for xi in u**p - v**p), sol.status, sol.t.size - 1)
"""


def _spread(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.3f} s "
        f"(range {min(values):.3f}-{max(values):.3f} s, {len(values)} runs)"
    )


def _ratio(slow: list[float], fast: list[float]) -> str:
    mid = statistics.median(slow) / statistics.median(fast)
    low, high = min(slow) / max(fast), max(slow) / min(fast)
    return f"{mid:.1f}x (range {low:.1f}-{high:.1f}x)"


def in_process(repeats: int, raw_repeats: int) -> None:
    problem = load_sample("random3x5")
    A, y = problem.A, problem.y
    log_alpha = math.log(ALPHA)
    ours_total: list[float] = []
    ours_ode: list[float] = []
    raw_times: list[float] = []
    run = raw = None
    for k in range(max(repeats, raw_repeats)):
        if k < repeats:
            start = time.perf_counter()
            anchor = bp_anchor(A, y)
            mid = time.perf_counter()
            run = integrate_flow(A, y, depth=DEPTH, log_alpha=log_alpha, anchor=anchor)
            end = time.perf_counter()
            ours_total.append(end - start)
            ours_ode.append(end - mid)
        if k < raw_repeats:
            raw = integrate_raw_flow(A, y, depth=DEPTH, alpha=ALPHA, method="Radau")
            raw_times.append(raw.elapsed_s)
    assert run is not None and raw is not None
    limit = flow_limit(A, y, depth=DEPTH, log_alpha=log_alpha)
    scale = float(np.max(np.abs(limit.x)))
    print(f"(a) in process: random3x5, p = {DEPTH:g}, alpha^p = 1e{LOG10_ALPHA_P:g}")
    print(
        f"    dlncli ODE (BP anchor + integrate_flow): {_spread(ours_total)}; ODE alone "
        f"{_spread(ours_ode)}; {run.steps} steps, converged={run.converged}, "
        f"t_end = 1e{run.log10_t_end:.4f}, |x - exact limit|/|x| = "
        f"{np.max(np.abs(run.x - limit.x)) / scale:.1e}"
    )
    print(
        f"    authors' Radau on (u, v): {_spread(raw_times)}; {raw.steps} steps, "
        f"{raw.status}, |x - exact limit|/|x| = {np.max(np.abs(raw.x - limit.x)) / scale:.1e}"
    )
    print(f"    ratio (authors / dlncli, anchor included): {_ratio(raw_times, ours_total)}")
    print(f"    ratio (authors / dlncli ODE alone):        {_ratio(raw_times, ours_ode)}")


def _wall(args: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=env)
    return time.perf_counter() - start, out.stdout


def whole_command(repeats: int, raw_repeats: int, env: dict[str, str] | None, label: str) -> None:
    problem = load_sample("random3x5")
    script = AUTHORS_SCRIPT.format(A=problem.A.tolist(), y=problem.y.tolist(), p=DEPTH, alpha=ALPHA)
    ours_args = [
        sys.executable,
        "-m",
        "dlncli",
        "flow",
        "random3x5",
        "--depth",
        f"{DEPTH:g}",
        "--alpha",
        ALPHA_TEXT,
        "--json",
    ]
    authors_args = [sys.executable, "-c", script]
    ours: list[float] = []
    theirs: list[float] = []
    data: dict[str, object] = {}
    authors_out = ""
    if env is not None:  # fill the bytecode cache first, as an installed package has it
        _wall(ours_args, env)
        _wall([sys.executable, "-c", "import numpy, scipy.integrate"], env)
    for k in range(max(repeats, raw_repeats)):
        if k < repeats:
            seconds, out = _wall(ours_args, env)
            ours.append(seconds)
            data = json.loads(out)
        if k < raw_repeats:
            seconds, authors_out = _wall(authors_args, env)
            theirs.append(seconds)
    fields = authors_out.split()
    x_authors = np.array([float(v) for v in fields[:-2]])
    x_ours = np.array(data["x"], dtype=float)
    print(f"(b) whole command, fresh process each, {label}: {' '.join(ours_args[1:])}")
    print(
        f"    dlncli flow: {_spread(ours)}; method {data['method']}, converged "
        f"{data['converged']}, limit_agreement {data['limit_agreement']:.1e}, "
        f"elapsed_s (inside) {data['elapsed_s']:.3f}"
    )
    print(
        f"    authors' script (python -c, numpy + scipy solve_ivp Radau): {_spread(theirs)}; "
        f"status {fields[-2]}, {fields[-1]} steps, |x_dlncli - x_authors|/|x| = "
        f"{np.max(np.abs(x_ours - x_authors)) / np.max(np.abs(x_ours)):.1e}"
    )
    print(f"    ratio (authors / dlncli): {_ratio(theirs, ours)}")


def large(repeats: int) -> None:
    spec = "gauss:200:1000:40:0"
    problem = load_sample(spec)
    log_alpha = LOG10_ALPHA_P / DEPTH * math.log(10.0)
    anchor = bp_anchor(problem.A, problem.y)
    limit = flow_limit(problem.A, problem.y, depth=DEPTH, log_alpha=log_alpha, anchor=anchor)
    scale = float(np.max(np.abs(limit.x)))
    times: list[float] = []
    run = None
    for _ in range(repeats):
        run = integrate_flow(problem.A, problem.y, depth=DEPTH, log_alpha=log_alpha, anchor=anchor)
        times.append(run.elapsed_s)
    assert run is not None
    print(f"(c) {spec}, p = {DEPTH:g}, alpha^p = 1e{LOG10_ALPHA_P:g}: the ODE to convergence")
    print(
        f"    {_spread(times)}; {run.steps} steps, converged={run.converged}, "
        f"{len(run.support_changes)} support changes, t_end = 1e{run.log10_t_end:.4f}, "
        f"|x - exact limit|/|x| = {np.max(np.abs(run.x - limit.x)) / scale:.1e} "
        f"(target < 60 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--raw-repeats", type=int, default=3)
    parser.add_argument("--large-repeats", type=int, default=1)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"machine: {machine()}")
    in_process(args.repeats, args.raw_repeats)
    whole_command(args.repeats, args.raw_repeats, None, "this environment")
    # PYTHONDONTWRITEBYTECODE (set here) makes every run compile dlncli's sources; an installed
    # package has its bytecode. Both sides, same environment, cache in a temporary directory.
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        whole_command(args.repeats, args.raw_repeats, env, "with a bytecode cache")
    if not args.skip_large:
        large(args.large_repeats)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
