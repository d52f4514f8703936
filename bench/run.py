"""One command for every performance claim: dlncli against the tools users would otherwise use.

    python -m bench.run --quick            # under 2 minutes, for routine use
    python -m bench.run                    # the full suite (about an hour and a half)
    python -m bench.run --only scaling     # one part: comparison (BP, flow) or scaling
    python -m bench.run --write-docs       # also rewrite docs/performance.md's tables for the
                                           # parts run (between its bench:PART markers)

Comparisons need the ``bench`` extra (cvxpy, clarabel, spgl1): pip install -e ".[bench]".
Missing ones are reported as "not installed". Every timing row carries its error against the
reference solution, and every ratio is measured in the same run. Scaling runs N = 200 ... 20000
at m = N/4 with a time cap per measurement; what the cap (or the fitted growth) rules out is
listed as not run, with the prediction.
"""

from __future__ import annotations

import argparse
import functools
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
from dlncli.arrays import LN10
from dlncli.bp.verdict import solve_basis_pursuit
from dlncli.dln.flow import integrate_flow, integrate_raw_flow
from dlncli.dln.limit import bp_anchor, flow_limit
from dlncli.errors import TimeLimitError
from dlncli.problem_io import load_sample

PERFORMANCE_DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
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


class Unfinished(Exception):
    """A BP method stopped without a solution (its row says why)."""


# dlncli's own note: the verdict it reports, read off the result (never assumed).
VERDICTS = {True: "certified unique", False: "certified not unique", None: "verdict undecided"}
BpMethod = Callable[[Any, np.ndarray], tuple[np.ndarray, str | None]]


def _bp_methods() -> dict[str, BpMethod | None]:
    """Each method returns x and a note (dlncli's verdict, a solver's inexact status) shown
    before the bench's support check; it raises Unfinished when it stopped without a
    solution."""
    from scipy.optimize import linprog

    def dlncli_bp(A: Any, y: np.ndarray) -> tuple[np.ndarray, str | None]:
        result = solve_basis_pursuit(A, y)
        return result.x, VERDICTS[result.unique]

    def scipy_highs(A: Any, y: np.ndarray) -> tuple[np.ndarray, str | None]:
        n = A.shape[1]
        sparse = sp.issparse(A)
        a_eq = sp.hstack([A, -A], format="csc") if sparse else np.hstack([A, -A])
        res = linprog(np.ones(2 * n), A_eq=a_eq, b_eq=y, method="highs")
        if res.x is None:
            raise Unfinished(f"no solution ({res.message})")
        return np.asarray(res.x[:n] - res.x[n:]), None

    methods: dict[str, BpMethod | None] = {
        "dlncli solve-bp (certified verdict)": dlncli_bp,
        "scipy linprog(highs)": scipy_highs,
    }
    try:
        # Typed as Any: cvxpy is an optional extra and its stubs vary between versions.
        cp: Any = importlib.import_module("cvxpy")

        def cvx(solver: str) -> BpMethod:
            def run(A: Any, y: np.ndarray) -> tuple[np.ndarray, str | None]:
                x = cp.Variable(A.shape[1])
                problem = cp.Problem(cp.Minimize(cp.norm1(x)), [A @ x == y])
                try:
                    problem.solve(solver=solver, time_limit=SOLVER_CAP_S)
                except cp.error.SolverError as exc:
                    raise Unfinished(f"solver error ({exc})") from None
                # A solver stopped by its time limit may still hand back its last iterate
                # (HiGHS does, with status user_limit): that is no solution, whatever its
                # error. "optimal_inaccurate" is the solver's answer and is judged.
                solved = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
                if problem.status not in solved or x.value is None:
                    raise Unfinished(f"status {problem.status} (time limit {SOLVER_CAP_S:g} s)")
                note = None if problem.status == cp.OPTIMAL else problem.status
                return np.asarray(x.value), note

            return run

        methods["cvxpy + Clarabel"] = cvx("CLARABEL")
        methods["cvxpy + HiGHS"] = cvx("HIGHS")
    except ImportError:
        methods["cvxpy + Clarabel"] = methods["cvxpy + HiGHS"] = None
    try:
        from spgl1 import spg_bp

        def spgl1_bp(A: Any, y: np.ndarray) -> tuple[np.ndarray, str | None]:
            x, *_ = spg_bp(A, y, verbosity=0, opt_tol=1e-9, bp_tol=1e-9, iter_lim=20000)
            return np.asarray(x), None

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
            start = time.perf_counter()
            try:
                x, verdict = fn(A, y)
            except Unfinished as exc:
                seconds = time.perf_counter() - start
                rows.append(Row("bp", case, name, None, None, f"stopped at {seconds:.0f} s: {exc}"))
                continue
            seconds = time.perf_counter() - start
            err = float(np.max(np.abs(x - x_true)))
            exact = int(np.sum(np.abs(x) > 1e-12)) == k
            support = "exact support" if exact else "support not exact (x_i ~ 1e-12+ off support)"
            rows.append(
                Row("bp", case, name, seconds, err, f"{verdict}, {support}" if verdict else support)
            )
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

SCALING_NS = [200, 400, 800, 1600, 3200, 6400, 12800, 20000]
SCALING_CAP_S = 600.0  # per measurement in the full run
SCALING_FLOOR_S = 0.05  # fits and predictions use only times above this


def _sparse_columns(n: int, per_column: int = 8, seed: int = 0) -> tuple[Any, Any, Any]:
    """m = N/4 rows, ``per_column`` N(0, 1/per_column) entries in random rows of each column
    (the sparse sensing matrices of streaming/expander-based compressed sensing), m/10-sparse
    x: inside that family's recovery region, so BP is unique and equals x_true."""
    m = n // 4
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.choice(m, per_column, replace=False) for _ in range(n)])
    cols = np.repeat(np.arange(n), per_column)
    values = rng.standard_normal(n * per_column) / math.sqrt(per_column)
    A = sp.csc_matrix((values, (rows, cols)), shape=(m, n))
    x_true = np.zeros(n)
    k = max(m // 10, 1)
    x_true[rng.choice(n, k, replace=False)] = rng.standard_normal(k)
    return A, A @ x_true, x_true


def _dense_gaussian(n: int) -> tuple[Any, Any, Any]:
    m = n // 4
    problem = load_sample(f"gauss:{m}:{n}:{max(m // 5, 1)}:0")
    return problem.A, problem.y, problem.x_true


SCALING_FAMILIES: dict[str, Callable[[int], tuple[Any, Any, Any]]] = {
    "dense Gaussian, K = m/5": _dense_gaussian,
    "sparse, 8 entries per column, K = m/10": _sparse_columns,
}
# p = 3: log_alpha = -2 ln 10 is alpha^p = 1e-6, -ln 10 is alpha^p = 1e-3.
SCALING_METHODS = ("solve-bp", "BP anchor", "exact limit p=3 a^p=1e-6", "ODE p=3 a^p=1e-3")


@dataclass
class _Series:
    """One method on one family: the measured (N, seconds), and why it stopped, if it did."""

    points: list[tuple[int, float]]
    stopped: str = ""

    def predict(self, n: int) -> float | None:
        """Power-law extrapolation from the last two points, if both are above the floor."""
        pts = self._timed_points()
        if len(pts) < 2:
            return None
        (n0, t0), (n1, t1) = pts[-2:]
        return float(t1 * (n / n1) ** (math.log(t1 / t0) / math.log(n1 / n0)))

    def exponent(self) -> str | None:
        """Least-squares exponent over the points above the floor."""
        pts = self._timed_points()
        if len(pts) < 2:
            return None
        slope = np.polyfit(np.log([n for n, _ in pts]), np.log([t for _, t in pts]), 1)[0]
        return f"{slope:.2f} (N = {pts[0][0]}…{pts[-1][0]})"

    def _timed_points(self) -> list[tuple[int, float]]:
        # Below SCALING_FLOOR_S fixed overheads (imports, allocation) hide the growth.
        return [(n, t) for n, t in self.points if t >= SCALING_FLOOR_S]


def _measure(
    series: dict[str, _Series],
    rows: list[Row],
    case: str,
    n: int,
    cap: float,
    name: str,
    fn: Callable[..., Any],
    *args: Any,
    **kwargs: Any,
) -> tuple[float, Any] | None:
    """fn(*args, **kwargs) timed into ``series[name]``; None, with a row saying why, when it
    is skipped (stopped earlier, or the fit predicts more than ``cap``) or hits the cap."""
    s = series[name]
    reason = s.stopped
    guess = s.predict(n)
    if not reason and guess is not None and guess > cap:
        reason = f"not run: fit predicts {guess:.3g} s > cap {cap:g} s"
    if not reason:
        try:
            seconds, value = _timed(fn, *args, **kwargs)
        except TimeLimitError:
            reason = f"did not finish in {cap:g} s"
        else:
            s.points.append((n, seconds))
            return seconds, value
    s.stopped = s.stopped or f"not run: stopped at N={n} ({reason.removeprefix('not run: ')})"
    rows.append(Row("scaling", case, name, None, None, reason))
    return None


def bench_scaling(
    ns: list[int], cap: float, families: dict[str, Callable[[int], tuple[Any, Any, Any]]]
) -> tuple[list[Row], list[str]]:
    """Time vs N at m = N/4 for solve-bp, the BP anchor (certificate), the exact limit and
    the ODE. Each measurement gets ``cap`` seconds; a method that hit the cap, or whose fit
    predicts more than the cap, is not run at larger N, and its rows say why. The limit and
    the ODE work on dense arrays: sparse A is densified for them (outside the timing)."""
    rows: list[Row] = []
    summary: list[str] = []
    limit_name, ode_name = SCALING_METHODS[2:]
    for family, make in families.items():
        series = {name: _Series([]) for name in SCALING_METHODS}
        for n in ns:
            case = f"{family}: N={n}, m={n // 4}"
            if series["solve-bp"].stopped:  # nothing else can run without BP
                rows.append(Row("scaling", case, "all", None, None, series["solve-bp"].stopped))
                continue
            A, y, x_true = make(n)
            measure = functools.partial(_measure, series, rows, case, n, cap)
            if (bp_run := measure("solve-bp", solve_basis_pursuit, A, y, time_limit=cap)) is None:
                continue
            seconds, bp = bp_run
            verdict = "unique" if bp.unique else f"face dim {bp.face_dimension}"
            err = float(np.max(np.abs(bp.x - x_true)))
            rows.append(Row("scaling", case, "solve-bp", seconds, err, f"vs x_true; {verdict}"))
            # Densified only now: when the anchor is not run, a 5000 x 20000 copy is not needed.
            is_sparse = sp.issparse(A)  # a plain bool: mypy would narrow Any to SparseABC
            dense = A.toarray() if is_sparse else A
            # The strict certificate the limit and the ODE need (the LP is already solved).
            if (anchor_run := measure("BP anchor", bp_anchor, dense, y, bp=bp)) is None:
                continue
            seconds, anchor = anchor_run
            face = anchor.bp.face
            violation = float(np.max(np.abs(dense[:, face.support].T @ anchor.dual - face.signs)))
            note = f"error: max abs(A_J^T lambda - s_J); margin {anchor.margin:.2g}"
            rows.append(Row("scaling", case, "BP anchor", seconds, violation, note))
            flow = {"depth": 3.0, "anchor": anchor}
            if limit_run := measure(limit_name, flow_limit, dense, y, log_alpha=-2 * LN10, **flow):
                seconds, limit = limit_run
                rows.append(
                    Row("scaling", case, limit_name, seconds, limit.residual_inf, "error: residual")
                )
            ode_run = measure(
                ode_name, integrate_flow, dense, y, log_alpha=-LN10, time_limit=cap, **flow
            )
            if ode_run:
                seconds, run = ode_run
                ref = flow_limit(dense, y, log_alpha=-LN10, **flow)
                err = float(np.max(np.abs(run.x - ref.x)))
                rows.append(Row("scaling", case, ode_name, seconds, err, "error: vs exact limit"))
        fits = [f"{name} {fit}" for name, s in series.items() if (fit := s.exponent())]
        summary.append(
            f"{family}: " + (", ".join(fits) or f"too few points above {SCALING_FLOOR_S:g} s")
        )
    return rows, summary


# --------------------------------------------------------------------------- output


def _fmt(v: float | None, spec: str) -> str:
    return "—" if v is None else format(v, spec)


def table(rows: list[Row], footer: list[str]) -> str:
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
    if footer:
        lines.append("")
        lines.extend(footer)
    return "\n".join(lines)


def _write_docs_block(name: str, header: str, text: str, doc: Path = PERFORMANCE_DOC) -> None:
    """Replace the text between ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``
    in ``doc`` with ``header`` and ``text``; without those markers, append the block."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    page = doc.read_text(encoding="utf-8")
    block = f"{start}\n{header}\n\n{text}\n{end}"
    if start in page:
        page = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, page, flags=re.S)
    else:
        page = page.rstrip("\n") + f"\n\n{block}\n"
    doc.write_text(page, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only",
        choices=("comparison", "scaling"),
        help="run one part: BP and flow against the alternatives, or time vs N",
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="rewrite the tables of the parts run in docs/performance.md",
    )
    parser.add_argument(
        "--scaling-cap",
        type=float,
        default=SCALING_CAP_S,
        help=f"seconds per scaling measurement (default {SCALING_CAP_S:g})",
    )
    args = parser.parse_args()
    parts = [args.only] if args.only else ["comparison", "scaling"]
    for part in parts:
        start = time.perf_counter()
        footer: list[str] = []
        if part == "comparison" and args.quick:
            rows = bench_bp([(100, 400, 20), (200, 800, 40)])
            rows += bench_flow(["random3x5", "gauss:10:30:4:2"], [2.0, 3.0], [-3.0], 5.0, True)
            rows += bench_flow(["gauss:200:1000:40:0"], [2.0, 3.0], [-3.0, -9.0], 5.0, False)
        elif part == "comparison":
            rows = bench_bp([(100, 400, 20), (500, 2000, 50), (1000, 5000, 100)], sparse=True)
            # Baselines (and our ODE) are capped at 30 s each: "did not finish in 30 s" rows.
            rows += bench_flow(
                ["random3x5", "gauss:10:30:4:2", "gauss:50:200:10:1", "gauss:200:1000:40:0"],
                [2.0, 3.0, 4.0],
                [-3.0, -9.0],
                30.0,
                True,
            )
        else:
            ns, cap = (SCALING_NS[:4], 5.0) if args.quick else (SCALING_NS, args.scaling_cap)
            rows, fits = bench_scaling(ns, cap, SCALING_FAMILIES)
            footer = [
                "Fitted time exponents (time ~ N^k at m = N/4, "
                f"points above {SCALING_FLOOR_S:g} s):",
                "",
            ]
            footer += [f"- {line}" for line in fits]
        text = table(rows, footer)
        command = "python -m bench.run" + (" --quick" if args.quick else "")
        command += f" --only {part}" if args.only else ""
        if part == "scaling" and not args.quick and args.scaling_cap != SCALING_CAP_S:
            command += f" --scaling-cap {args.scaling_cap:g}"
        header = (
            f"Measured ({part}) by `{command}` on {machine()} "
            f"in {time.perf_counter() - start:.0f} s."
        )
        print(header)
        print(text)
        print()
        if args.write_docs:
            _write_docs_block(part, header, text)


if __name__ == "__main__":
    main()
