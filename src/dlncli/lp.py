"""Basis pursuit min ||x||_1 s.t. A x = y with HiGHS; the only module that imports highspy.

Notation: A is (m, N), y is (m,), lambda (``dual``) is a BP dual certificate:
||A^T lambda||_inf <= 1 and y^T lambda = min ||x||_1.

The set S of BP minimizers is described exactly by any certificate: with
E = {i : |a_i^T lambda| = 1} and s = sign(A^T lambda),
S = {x : A x = y, x_i = 0 off E, s_i x_i >= 0 on E}. Its relative interior support J
(the coordinates nonzero somewhere on S) comes from one homogenized LP, and
dim S = |J| - rank(A_J). So the verdict takes one LP in the generic case (A_E has full
column rank) and two otherwise.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import highspy
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from dlncli.errors import InfeasibleError, SolverError, TimeLimitError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
# Basis pursuit also takes scipy.sparse input (e.g. 2000 x 20000 at 1% density).
Matrix = Any

SOLVERS = ("choose", "simplex", "ipm", "pdlp")
# |a_i^T lambda| >= 1 - EQUICORRELATION_TOL counts as active. HiGHS's dual feasibility
# tolerance is 1e-7 on the scaled LP; a looser set E is safe because the face LP re-checks.
EQUICORRELATION_TOL = 1e-7
# Entries below this fraction of ||x||_inf are LP round-off (feasibility tolerance 1e-7 on
# the scaled problem, usually far better); they are zeroed before the exact re-solve.
SUPPORT_TOL = 1e-9


@dataclass(frozen=True)
class Face:
    """The set S of BP minimizers.

    support : (k,) coordinates nonzero somewhere on S (J), sorted.
    signs : (k,) their signs (+1/-1).
    dimension : dim S = |J| - rank(A_J); 0 means the minimizer is unique.
    interior_point : (N,) a point of S with s_i x_i > 0 for every i in J.
    ranges : (k, 2) [min, max] of x_i over S, or None unless requested.
    """

    support: IntArray
    signs: FloatArray
    dimension: int
    interior_point: FloatArray
    ranges: FloatArray | None


@dataclass(frozen=True)
class BPSolution:
    """Result of :func:`solve_basis_pursuit`. Vectors are (N,) unless stated."""

    status: str
    x: FloatArray
    l1_norm: float
    residual_inf: float
    dual: FloatArray  # (m,)
    dual_inf_norm: float  # ||A^T dual||_inf, <= 1 up to tolerance
    duality_gap: float  # ||x||_1 - y^T dual
    support: IntArray  # of the reported x
    signs: FloatArray  # of x on its support
    unique: bool
    face: Face
    solver: str
    lp_solves: int
    iterations: int
    elapsed_s: float

    @property
    def face_dimension(self) -> int:
        return self.face.dimension


# --------------------------------------------------------------------------- HiGHS plumbing


@contextlib.contextmanager
def _redirect_stdout(target: str = "stderr") -> Iterator[None]:
    """Point file descriptor 1 elsewhere while HiGHS runs: it prints from C++ to fd 1 (its
    banner on construction, anything else on solves), and stdout carries only our result."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no fd 1 at all (rare daemons): nothing to protect
        yield
        return
    try:
        if target == "devnull":
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.close(devnull)
        else:
            os.dup2(2, 1)
        yield
    finally:
        with contextlib.suppress(Exception):
            ctypes.CDLL(None).fflush(None)
        os.dup2(saved, 1)
        os.close(saved)


class _Lp:
    """A reusable HiGHS instance for one LP (rows r_lo <= M z <= r_hi, bounds, cost)."""

    def __init__(self, *, solver: str = "choose", time_limit: float | None = None) -> None:
        with _redirect_stdout("devnull"):  # the licence banner is noise, even on stderr
            self.highs = highspy.Highs()  # type: ignore[no-untyped-call]
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("solver", solver)
        if time_limit is not None:
            self.highs.setOptionValue("time_limit", float(time_limit))
        self.solves = 0
        self.iterations = 0

    def load(
        self,
        cost: FloatArray,
        lower: FloatArray,
        upper: FloatArray,
        matrix: sp.csc_matrix,
        row_lower: FloatArray,
        row_upper: FloatArray,
        *,
        maximize: bool = False,
    ) -> None:
        lp = highspy.HighsLp()
        lp.num_col_ = matrix.shape[1]
        lp.num_row_ = matrix.shape[0]
        lp.col_cost_ = np.asarray(cost, dtype=np.float64)
        lp.col_lower_ = _inf(lower)
        lp.col_upper_ = _inf(upper)
        lp.row_lower_ = _inf(row_lower)
        lp.row_upper_ = _inf(row_upper)
        lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_ = matrix.shape[1]
        lp.a_matrix_.num_row_ = matrix.shape[0]
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data.astype(np.float64)
        self.highs.passModel(lp)

    def run(self) -> str:
        with _redirect_stdout():
            self.highs.run()
        self.solves += 1
        info = self.highs.getInfo()
        self.iterations += (
            int(info.simplex_iteration_count)
            + max(int(info.ipm_iteration_count), 0)
            + max(int(info.pdlp_iteration_count), 0)
        )
        status = self.highs.getModelStatus()
        return str(self.highs.modelStatusToString(status))

    def solution(self) -> tuple[FloatArray, FloatArray]:
        sol = self.highs.getSolution()
        return np.array(sol.col_value, dtype=np.float64), np.array(sol.row_dual, dtype=np.float64)

    def set_cost(self, cost: FloatArray, *, maximize: bool) -> None:
        n = len(cost)
        self.highs.changeColsCost(n, np.arange(n, dtype=np.int32), np.asarray(cost, np.float64))
        sense = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
        self.highs.changeObjectiveSense(sense)


def _inf(values: FloatArray) -> FloatArray:
    out = np.asarray(values, dtype=np.float64).copy()
    out[out == np.inf] = highspy.kHighsInf
    out[out == -np.inf] = -highspy.kHighsInf
    return out


# --------------------------------------------------------------------------- basis pursuit


def solve_basis_pursuit(
    A: Matrix,
    y: FloatArray,
    *,
    solver: str = "choose",
    time_limit: float | None = None,
    ranges: bool = False,
) -> BPSolution:
    """Solve min ||x||_1 s.t. A x = y and describe the set of minimizers exactly.

    Parameters
    ----------
    A : (m, N) array or scipy.sparse matrix.  y : (m,) array.
    solver : HiGHS solver for the main LP ("choose", "simplex", "ipm", "pdlp").
    time_limit : seconds for each LP, or None.
    ranges : also compute [min, max] of every coordinate over the face (2 LPs each).

    Raises
    ------
    InfeasibleError : y is not in the range of A.
    SolverError : HiGHS stopped without an optimal solution (e.g. time limit).
    """
    start = time.perf_counter()
    m, n = A.shape
    # Global scaling keeps data like 1e-120 away from HiGHS's tiny-value cut-offs.
    scale_a = float(abs(A).max()) or 1.0
    scale_y = float(np.max(np.abs(y)))
    if scale_y == 0.0:
        return _zero_solution(A, n, m, start, ranges=ranges)
    As: Matrix = A / scale_a
    ys = y / scale_y
    lp = _Lp(solver=solver, time_limit=time_limit)
    # Presolve finds nothing to remove in [A, -A] but costs ~40% of the solve on dense data
    # (Gaussian 500x2000: 2.9 s without, 4.8 s with; same 677 simplex iterations).
    lp.highs.setOptionValue("presolve", "off")
    sparse = sp.issparse(As)
    matrix = sp.csc_matrix(sp.hstack([As, -As]) if sparse else np.hstack([As, -As]))
    lp.load(np.ones(2 * n), np.zeros(2 * n), np.full(2 * n, np.inf), matrix, ys, ys)
    status = lp.run()
    if status == "Infeasible":
        raise InfeasibleError(
            "y is not in the range of A: A x = y has no solution "
            f"(least-squares residual {_lstsq_residual(A, y):.3g}); expected a consistent system"
        )
    if status == "Time limit reached":
        raise TimeLimitError(f"HiGHS hit the time limit of {time_limit:g} s before an optimum")
    if status != "Optimal":
        raise SolverError(f"HiGHS stopped with status {status!r}; expected 'Optimal'")
    z, dual_s = lp.solution()
    x_s = z[:n] - z[n:]
    corr = np.asarray(As.T @ dual_s, dtype=np.float64)

    face = _face(As, ys, x_s, corr, lp_time_limit=time_limit, ranges=ranges, counter=lp)
    x_s = _polish(As, ys, x_s, face)

    # Undo the scaling: x = x_s * scale_y / scale_a, lambda = lambda_s / scale_a.
    unscale = scale_y / scale_a
    x = x_s * unscale
    dual = dual_s / scale_a  # so that A^T dual = As^T dual_s
    face = Face(
        face.support,
        face.signs,
        face.dimension,
        face.interior_point * unscale,
        None if face.ranges is None else face.ranges * unscale,
    )
    l1 = float(np.sum(np.abs(x)))
    support = np.flatnonzero(x).astype(np.int64)
    return BPSolution(
        status="optimal",
        x=x,
        l1_norm=l1,
        residual_inf=float(np.max(np.abs(np.asarray(A @ x) - y))),
        dual=dual,
        dual_inf_norm=float(np.max(np.abs(corr))),
        duality_gap=l1 - float(y @ dual),
        support=support,
        signs=np.sign(x[support]),
        unique=face.dimension == 0,
        face=face,
        solver=solver,
        lp_solves=lp.solves,
        iterations=lp.iterations,
        elapsed_s=time.perf_counter() - start,
    )


def _zero_solution(A: Matrix, n: int, m: int, start: float, *, ranges: bool) -> BPSolution:
    empty = np.zeros(0, dtype=np.int64)
    face = Face(empty, np.zeros(0), 0, np.zeros(n), np.zeros((0, 2)) if ranges else None)
    return BPSolution(
        status="optimal",
        x=np.zeros(n),
        l1_norm=0.0,
        residual_inf=0.0,
        dual=np.zeros(m),
        dual_inf_norm=0.0,
        duality_gap=0.0,
        support=empty,
        signs=np.zeros(0),
        unique=True,
        face=face,
        solver="none (y = 0)",
        lp_solves=0,
        iterations=0,
        elapsed_s=time.perf_counter() - start,
    )


def _lstsq_residual(A: Matrix, y: FloatArray) -> float:
    sparse = sp.issparse(A)  # a plain bool: mypy would narrow Any to SparseABC
    if sparse:
        from scipy.sparse.linalg import lsqr

        x = np.asarray(lsqr(A, y, atol=1e-14, btol=1e-14)[0], dtype=np.float64)
    else:
        x = np.asarray(np.linalg.lstsq(A, y, rcond=None)[0], dtype=np.float64)
    return float(np.max(np.abs(np.asarray(A @ x) - y)))


def _columns(A: Matrix, idx: IntArray) -> FloatArray:
    """Dense copy of the columns ``idx`` (A may be a scipy.sparse matrix)."""
    cols = A[:, idx]
    sparse = sp.issparse(cols)
    return np.asarray(cols.toarray() if sparse else cols, dtype=np.float64)


def _full_column_rank(M: FloatArray) -> bool:
    return M.shape[1] == 0 or bool(
        M.shape[1] <= M.shape[0] and int(np.linalg.matrix_rank(M)) == M.shape[1]
    )


def _significant(x: FloatArray) -> IntArray:
    """Coordinates above the LP's noise level (relative 1e-9 of the largest entry)."""
    biggest = float(np.max(np.abs(x), initial=0.0))
    return np.flatnonzero(np.abs(x) > SUPPORT_TOL * biggest).astype(np.int64)


def _face(
    A: Matrix,
    y: FloatArray,
    x: FloatArray,
    corr: FloatArray,
    *,
    lp_time_limit: float | None,
    ranges: bool,
    counter: _Lp,
) -> Face:
    """Describe S from a certificate's correlations ``corr = A^T lambda`` (scaled data)."""
    active = np.flatnonzero(np.abs(corr) >= 1.0 - EQUICORRELATION_TOL)
    signs = np.sign(corr[active])
    # Every minimizer lives on `active` with these signs; if A_active has full column rank,
    # that system has one solution, so S is a single point. No further LP needed.
    if _full_column_rank(_columns(A, active)):
        point = np.zeros_like(x)
        if active.size:
            point[active] = np.linalg.lstsq(_columns(A, active), y, rcond=None)[0]
        support = _significant(point)
        point[np.setdiff1d(active, support)] = 0.0
        if support.size:
            point[support] = np.linalg.lstsq(_columns(A, support), y, rcond=None)[0]
        rng = np.column_stack([point[support], point[support]]) if ranges else None
        return Face(support.astype(np.int64), np.sign(point[support]), 0, point, rng)

    l1 = float(np.sum(np.abs(x)))
    signed = _columns(A, active) * signs  # columns s_i a_i, so S = {v >= 0 : signed v = y}
    k = active.size
    # Homogenized LP: max sum t  s.t. signed v = tau y, 1^T v <= l1 tau, t <= v, 0<=t<=1,
    # tau >= 1. At the optimum t_i = 1 exactly for the coordinates that can be nonzero on S
    # (scale a relative-interior point up), and v / tau is such a point.
    # Columns: v (k), t (k), tau (1).
    eq = sp.hstack([sp.csc_matrix(signed), sp.csc_matrix((y.size, k)), sp.csc_matrix(-y[:, None])])
    l1_row = sp.hstack(
        [sp.csc_matrix(np.ones((1, k))), sp.csc_matrix((1, k)), sp.csc_matrix([[-l1 * (1 + 1e-9)]])]
    )
    link = sp.hstack([-sp.identity(k), sp.identity(k), sp.csc_matrix((k, 1))])
    matrix = sp.csc_matrix(sp.vstack([eq, l1_row, link]))
    face_lp = _Lp(solver="choose", time_limit=lp_time_limit)
    face_lp.load(
        np.concatenate([np.zeros(k), np.ones(k), [0.0]]),
        np.concatenate([np.zeros(k), np.zeros(k), [1.0]]),
        np.concatenate([np.full(k, np.inf), np.ones(k), [np.inf]]),
        matrix,
        np.concatenate([np.zeros(y.size), [-np.inf], np.full(k, -np.inf)]),
        np.concatenate([np.zeros(y.size), [0.0], np.zeros(k)]),
        maximize=True,
    )
    status = face_lp.run()
    counter.solves += face_lp.solves
    counter.iterations += face_lp.iterations
    if status != "Optimal":
        raise SolverError(f"face LP stopped with status {status!r}; expected 'Optimal'")
    sol, _ = face_lp.solution()
    v, t, tau = sol[:k], sol[k : 2 * k], sol[2 * k]
    in_j = t > 0.5
    support = active[in_j]
    point = np.zeros_like(x)
    point[active] = signs * np.maximum(v, 0.0) / tau
    point[active[~in_j]] = 0.0
    A_j = _columns(A, support)
    dimension = int(support.size - (np.linalg.matrix_rank(A_j) if support.size else 0))
    rng = None
    if ranges:
        rng = _face_ranges(signed[:, in_j], y, signs[in_j], lp_time_limit, counter)
    return Face(support.astype(np.int64), signs[in_j], dimension, point, rng)


def _face_ranges(
    signed: FloatArray, y: FloatArray, signs: FloatArray, time_limit: float | None, counter: _Lp
) -> FloatArray:
    """[min, max] of x_i over S = {v >= 0 : signed v = y}, x = signs * v: 2 LPs per coordinate."""
    k = signed.shape[1]
    lp = _Lp(solver="simplex", time_limit=time_limit)
    lp.load(np.zeros(k), np.zeros(k), np.full(k, np.inf), sp.csc_matrix(signed), y, y)
    out = np.zeros((k, 2))
    for i in range(k):
        for j, maximize in enumerate((False, True)):
            cost = np.zeros(k)
            cost[i] = 1.0
            lp.set_cost(cost, maximize=maximize)
            status = lp.run()
            if status != "Optimal":
                raise SolverError(f"range LP for coordinate {i} stopped with status {status!r}")
            out[i, j] = lp.solution()[0][i]
    counter.solves += lp.solves
    counter.iterations += lp.iterations
    lo, hi = signs * out[:, 0], signs * out[:, 1]
    return np.column_stack([np.minimum(lo, hi), np.maximum(lo, hi)]) + 0.0  # no -0.0


def _polish(A: Matrix, y: FloatArray, x: FloatArray, face: Face) -> FloatArray:
    """Re-solve A_K x_K = y on the support K of x (or of the unique minimizer).

    Kept only when it lowers the residual and keeps the signs: the LP's x is feasible to
    ~1e-9, the least-squares re-solve usually to ~1e-16.
    """
    if face.dimension == 0:
        candidate = face.interior_point
    else:
        support = _significant(x)
        if not _full_column_rank(_columns(A, support)):
            return x
        candidate = np.zeros_like(x)
        if support.size:
            candidate[support] = np.linalg.lstsq(_columns(A, support), y, rcond=None)[0]
        if np.any(np.sign(candidate[support]) != np.sign(x[support])):
            return x
    before = float(np.max(np.abs(A @ x - y)))
    after = float(np.max(np.abs(A @ candidate - y)))
    return candidate if after <= before else x


# --------------------------------------------------------------------------- dual margin


@dataclass(frozen=True)
class MarginCertificate:
    """A BP certificate in the relative interior of the dual face.

    dual : (m,) lambda with a_i^T lambda = s_i on the face support J and
           |a_i^T lambda| <= 1 - margin elsewhere; margin is the largest such value.
    margin : the dual margin gamma (1.0 when every coordinate is in J).
    """

    dual: FloatArray
    margin: float


def max_margin_certificate(
    A: FloatArray, support: IntArray, signs: FloatArray, *, time_limit: float | None = None
) -> MarginCertificate:
    """The certificate that maximizes gamma = 1 - max_{i not in J} |a_i^T lambda|.

    One LP in (lambda, gamma): a_J^T lambda = s_J, |a_i^T lambda| + gamma <= 1 off J.
    """
    m, n = A.shape
    scale = float(np.max(np.abs(A))) or 1.0
    As = A / scale
    off = np.setdiff1d(np.arange(n), support)
    if off.size == 0:
        dual = np.asarray(np.linalg.lstsq(As[:, support].T, signs, rcond=None)[0], np.float64)
        return MarginCertificate(dual / scale, 1.0)
    on_rows = sp.csc_matrix(np.hstack([As[:, support].T, np.zeros((support.size, 1))]))
    plus = sp.csc_matrix(np.hstack([As[:, off].T, np.ones((off.size, 1))]))
    minus = sp.csc_matrix(np.hstack([As[:, off].T, -np.ones((off.size, 1))]))
    matrix = sp.csc_matrix(sp.vstack([on_rows, plus, minus]))
    lp = _Lp(solver="choose", time_limit=time_limit)
    lp.load(
        np.concatenate([np.zeros(m), [1.0]]),
        np.concatenate([np.full(m, -np.inf), [-np.inf]]),
        np.concatenate([np.full(m, np.inf), [1.0]]),
        matrix,
        np.concatenate([signs, np.full(off.size, -np.inf), np.full(off.size, -1.0)]),
        np.concatenate([signs, np.ones(off.size), np.full(off.size, np.inf)]),
        maximize=True,
    )
    status = lp.run()
    if status != "Optimal":
        raise SolverError(f"dual-margin LP stopped with status {status!r}; expected 'Optimal'")
    sol, _ = lp.solution()
    dual = sol[:m]
    margin = 1.0 - float(np.max(np.abs(As[:, off].T @ dual)))
    return MarginCertificate(dual / scale, margin)
