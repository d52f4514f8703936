"""One command for every performance claim: dlncli against the tools users would otherwise use.

    python -m bench.run --quick            # under 2 minutes, for routine use
    python -m bench.run                    # the full suite (tens of minutes)
    python -m bench.run --write-readme     # also rewrite the README's measured-ratios table

Comparisons need the ``bench`` extra (cvxpy, clarabel, spgl1): pip install -e ".[bench]".
Missing ones are reported as "not installed". Every timing row carries its error against the
reference solution, and every ratio is measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib
import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from bench.common import machine
from dlncli.errors import TimeLimitError
from dlncli.flow import integrate_flow, integrate_raw_flow
from dlncli.limit import LN10, bp_anchor, flow_limit
from dlncli.lp import solve_basis_pursuit
from dlncli.problem_io import load_sample

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- bench:run:start -->", "<!-- bench:run:end -->"
SOLVER_CAP_S = 300.0  # time limit passed to the CVXPY solvers


@dataclass
class Row:
    """One measurement; printed to stderr as soon as it exists (long runs stay readable)."""

    section: str
    case: str
    method: str
    seconds: float | None  # None: did not finish / not available
    error: float | None
    note: str = ""

    def __post_init__(self) -> None:
        t = "—" if self.seconds is None else f"{self.seconds:.3f} s"
        print(
            f"  {self.section} | {self.case} | {self.method} | {t} | {self.note}",
            file=sys.stderr,
            flush=True,
        )


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return time.perf_counter() - start, value


# --------------------------------------------------------------------------- basis pursuit


def _bp_methods() -> dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray | None] | None]:
    from scipy.optimize import linprog

    def dlncli_bp(A: np.ndarray, y: np.ndarray) -> np.ndarray:
        return solve_basis_pursuit(A, y).x

    def scipy_highs(A: Any, y: np.ndarray) -> np.ndarray:
        n = A.shape[1]
        sparse = sp.issparse(A)
        a_eq = sp.hstack([A, -A], format="csc") if sparse else np.hstack([A, -A])
        res = linprog(np.ones(2 * n), A_eq=a_eq, b_eq=y, method="highs")
        assert res.x is not None
        return np.asarray(res.x[:n] - res.x[n:])

    methods: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray | None] | None] = {
        "dlncli solve-bp (LP + exact verdict)": dlncli_bp,
        "scipy linprog(highs)": scipy_highs,
    }
    try:
        # Typed as Any: cvxpy is an optional extra and its stubs vary between versions.
        cp: Any = importlib.import_module("cvxpy")

        def cvx(solver: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray | None]:
            def run(A: np.ndarray, y: np.ndarray) -> np.ndarray | None:
                x = cp.Variable(A.shape[1])
                try:
                    cp.Problem(cp.Minimize(cp.norm1(x)), [A @ x == y]).solve(
                        solver=solver, time_limit=SOLVER_CAP_S
                    )
                except cp.error.SolverError:
                    return None
                return None if x.value is None else np.asarray(x.value)

            return run

        methods["cvxpy + Clarabel"] = cvx("CLARABEL")
        methods["cvxpy + HiGHS"] = cvx("HIGHS")
    except ImportError:
        methods["cvxpy + Clarabel"] = methods["cvxpy + HiGHS"] = None
    try:
        from spgl1 import spg_bp

        def spgl1_bp(A: np.ndarray, y: np.ndarray) -> np.ndarray:
            x, *_ = spg_bp(A, y, verbosity=0, opt_tol=1e-9, bp_tol=1e-9, iter_lim=20000)
            return np.asarray(x)

        methods["SPGL1 spg_bp"] = spgl1_bp
    except ImportError:
        methods["SPGL1 spg_bp"] = None
    return methods


def _sparse_problem(m: int, n: int, k: int, density: float) -> tuple[Any, Any, Any]:
    rng = np.random.default_rng(0)
    A: Any = sp.random(
        m, n, density=density, random_state=1, data_rvs=rng.standard_normal, format="csc"
    )
    x_true = np.zeros(n)
    x_true[rng.choice(n, k, replace=False)] = rng.standard_normal(k)
    return A, A @ x_true, x_true


def bench_bp(sizes: list[tuple[int, int, int]], sparse: bool = False) -> list[Row]:
    rows = []
    methods = _bp_methods()
    cases = [(f"Gaussian {m}x{n}, {k}-sparse", (m, n, k)) for m, n, k in sizes]
    if sparse:
        cases.append(("sparse 2000x20000 (1%), 100-sparse", (2000, 20000, 100)))
    for case, (m, n, k) in cases:
        if case.startswith("sparse"):
            A, y, x_true = _sparse_problem(m, n, k, 0.01)
        else:
            problem = load_sample(f"gauss:{m}:{n}:{k}:0")
            A, y, x_true = problem.A, problem.y, problem.x_true
        for name, fn in methods.items():
            if fn is None:
                rows.append(Row("bp", case, name, None, None, "not installed"))
                continue
            seconds, x = _timed(fn, A, y)
            if x is None:
                rows.append(
                    Row("bp", case, name, None, None, f"did not finish in {SOLVER_CAP_S:g} s")
                )
                continue
            err = float(np.max(np.abs(x - x_true)))
            exact = int(np.sum(np.abs(x) > 1e-12)) == k
            note = (
                "unique verdict"
                if name.startswith("dlncli")
                else ("exact support" if exact else "support not exact (x_i ~ 1e-12+ off support)")
            )
            rows.append(Row("bp", case, name, seconds, err, note))
    return rows


# --------------------------------------------------------------------------- flow


def bench_flow(
    cases: list[str], depths: list[float], levels: list[float], cap: float, baselines: bool
) -> list[Row]:
    rows = []
    for spec in cases:
        problem = load_sample(spec)
        A, y = problem.A, problem.y
        anchor = bp_anchor(A, y)
        for depth in depths:
            for level in levels:  # log10 alpha^p
                log_alpha = level / depth * LN10
                case = f"{spec} p={depth:g} a^p=1e{level:g}"
                seconds, limit = _timed(
                    flow_limit, A, y, depth=depth, log_alpha=log_alpha, anchor=anchor
                )
                scale = float(np.max(np.abs(limit.x)))
                rows.append(Row("flow", case, "dlncli exact limit", seconds, 0.0, "reference"))
                if not baselines:
                    continue
                try:
                    seconds, run = _timed(
                        integrate_flow,
                        A,
                        y,
                        depth=depth,
                        log_alpha=log_alpha,
                        anchor=anchor,
                        time_limit=cap,
                    )
                    rows.append(
                        Row(
                            "flow",
                            case,
                            "dlncli ODE",
                            seconds,
                            float(np.max(np.abs(run.x - limit.x))) / scale,
                            "converged" if run.converged else "not converged",
                        )
                    )
                except TimeLimitError:
                    rows.append(
                        Row("flow", case, "dlncli ODE", None, None, f"did not finish in {cap:g} s")
                    )
                alpha = math.exp(log_alpha)
                for method in ("Radau", "LSODA"):
                    raw = integrate_raw_flow(
                        A,
                        y,
                        depth=depth,
                        alpha=alpha,
                        time_limit=cap,
                        method=method,
                        rtol=2.5e-14 if method == "Radau" else 1e-12,
                    )
                    err = float(np.max(np.abs(raw.x - limit.x))) / scale
                    if raw.success:
                        rows.append(Row("flow", case, f"{method} on (u, v)", raw.elapsed_s, err))
                    else:
                        rows.append(
                            Row(
                                "flow",
                                case,
                                f"{method} on (u, v)",
                                None,
                                err,
                                f"did not finish in {cap:g} s (t={raw.t_end:.2g})",
                            )
                        )
    return rows


# --------------------------------------------------------------------------- scaling


def bench_scaling(ns: list[int], ode_ns: list[int]) -> tuple[list[Row], dict[str, float]]:
    rows = []
    times: dict[str, list[tuple[int, float]]] = {"solve-bp": [], "exact limit": [], "ODE": []}
    for n in sorted(set(ns) | set(ode_ns)):
        m = n // 4
        problem = load_sample(f"gauss:{m}:{n}:{max(m // 5, 1)}:0")
        A, y = problem.A, problem.y
        anchor = bp_anchor(A, y)
        if n in ns:
            seconds, bp = _timed(solve_basis_pursuit, A, y)
            times["solve-bp"].append((n, seconds))
            rows.append(
                Row(
                    "scaling",
                    f"N={n}, m={m}",
                    "solve-bp",
                    seconds,
                    bp.residual_inf,
                    "error: residual",
                )
            )
            seconds, limit = _timed(
                flow_limit, A, y, depth=3.0, log_alpha=-6 * LN10 / 3, anchor=anchor
            )
            times["exact limit"].append((n, seconds))
            rows.append(
                Row(
                    "scaling",
                    f"N={n}, m={m}",
                    "exact limit p=3 a^p=1e-6",
                    seconds,
                    limit.residual_inf,
                    "error: residual",
                )
            )
        if n in ode_ns:
            seconds, run = _timed(
                integrate_flow, A, y, depth=3.0, log_alpha=-3 * LN10 / 3, anchor=anchor
            )
            ref = flow_limit(A, y, depth=3.0, log_alpha=-3 * LN10 / 3, anchor=anchor)
            times["ODE"].append((n, seconds))
            rows.append(
                Row(
                    "scaling",
                    f"N={n}, m={m}",
                    "ODE p=3 a^p=1e-3",
                    seconds,
                    float(np.max(np.abs(run.x - ref.x))),
                    "error: vs exact limit",
                )
            )
    exponents = {}
    for name, pts in times.items():
        if len(pts) >= 2:
            x = np.log([p[0] for p in pts])
            t = np.log([max(p[1], 1e-6) for p in pts])
            exponents[name] = float(np.polyfit(x, t, 1)[0])
    return rows, exponents


# --------------------------------------------------------------------------- output


def _fmt(v: float | None, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def table(rows: list[Row], exponents: dict[str, float]) -> str:
    lines = [
        "| section | case | method | time (s) | ratio to dlncli's | error | note |",
        "|---|---|---|---|---|---|---|",
    ]
    # The base of each ratio: dlncli's ODE for flow cases (none if it did not finish), else the
    # first dlncli row of the case.
    ours: dict[tuple[str, str], float] = {}
    for r in rows:
        if r.method == "dlncli ODE" and r.seconds is not None:
            ours[(r.section, r.case)] = r.seconds
    for r in rows:
        if r.section != "flow" and r.method.startswith("dlncli") and r.seconds is not None:
            ours.setdefault((r.section, r.case), r.seconds)
    for r in rows:
        base = ours.get((r.section, r.case))
        ratio = (
            f"{r.seconds / base:.1f}x"
            if r.seconds is not None and base
            else (
                f">= {float(re.findall(r'[0-9.]+', r.note)[0]) / base:.0f}x"
                if r.note.startswith("did not finish") and base
                else "—"
            )
        )
        lines.append(
            f"| {r.section} | {r.case} | {r.method} | {_fmt(r.seconds, '.3f')} | "
            f"{ratio} | {_fmt(r.error, '.1e')} | {r.note} |"
        )
    if exponents:
        lines.append("")
        lines.append(
            "Fitted time exponents (time ~ N^k at m = N/4): "
            + ", ".join(f"{k} {v:.2f}" for k, v in exponents.items())
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.quick:
        rows = bench_bp([(100, 400, 20), (200, 800, 40)])
        rows += bench_flow(["random3x5", "gauss:10:30:4:2"], [2.0, 3.0], [-3.0], 5.0, True)
        rows += bench_flow(["gauss:200:1000:40:0"], [2.0, 3.0], [-3.0, -9.0], 5.0, False)
        scaling, exponents = bench_scaling([200, 400, 800, 1600], ode_ns=[100, 200])
    else:
        rows = bench_bp([(100, 400, 20), (500, 2000, 50), (1000, 5000, 100)], sparse=True)
        # Baselines (and our ODE) are capped at 30 s each: "did not finish in 30 s" rows.
        rows += bench_flow(
            ["random3x5", "gauss:10:30:4:2", "gauss:50:200:10:1", "gauss:200:1000:40:0"],
            [2.0, 3.0, 4.0],
            [-3.0, -9.0],
            30.0,
            True,
        )
        scaling, exponents = bench_scaling([200, 400, 800, 1600, 3200], ode_ns=[100, 200, 400])
    rows += scaling
    text = table(rows, exponents)
    header = (
        f"Measured by `python -m bench.run{' --quick' if args.quick else ''}` on "
        f"{machine()} in {time.perf_counter() - start:.0f} s."
    )
    print(header)
    print(text)
    if args.write_readme:
        readme = README.read_text()
        block = f"{START}\n{header}\n\n{text}\n{END}"
        if START in readme:
            readme = re.sub(
                re.escape(START) + ".*?" + re.escape(END), lambda _: block, readme, flags=re.S
            )
        else:
            readme = readme.replace("## Development", f"{block}\n\n## Development")
        README.write_text(readme)


if __name__ == "__main__":
    main()
