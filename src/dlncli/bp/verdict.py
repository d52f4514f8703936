"""Basis pursuit min ||x||_1 s.t. A x = y: the verdict chain.

homotopy -> float bound -> exact rationals -> LP (HiGHS, :mod:`dlncli.bp.lp`).

Notation: A is (m, N), y is (m,), lambda (``dual``) is a BP dual certificate:
||A^T lambda||_inf <= 1 and y^T lambda = min ||x||_1.

The set S of BP minimizers is described exactly by any certificate: with
E = {i : |a_i^T lambda| = 1} and s = sign(A^T lambda),
S = {x : A x = y, x_i = 0 off E, s_i x_i >= 0 on E}. Its relative interior support J
(the coordinates nonzero somewhere on S) comes from one homogenized LP, and
dim S = |J| - rank(A_J) (docs/certification.md).

Pipeline (validate -> equilibrate -> solve -> certify -> undo): the LP runs on a power-of-two
equilibrated copy (exact, so nothing is lost), then the float answer is certified: exactly
(python-flint, :mod:`dlncli.bp.certify`) when the problem fits, or by a rigorous float bound;
a verdict that neither proves is reported as undecided.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from dlncli.arrays import UNIT_ROUNDOFF, FloatArray, IntArray
from dlncli.blas import one_blas_thread
from dlncli.bp import certify
from dlncli.bp.certify import issparse
from dlncli.bp.homotopy import Declined, HomotopyPath, follow_homotopy
from dlncli.bp.lp import Equilibration, LpModel, _Lp, equilibrate
from dlncli.deadline import Deadline
from dlncli.errors import InfeasibleError, SolverError

if TYPE_CHECKING:
    pass
# highspy and scipy.sparse are imported where an LP is built: the homotopy decides most small
# problems with no LP at all, and a command should not pay their import for nothing.

# Basis pursuit also takes scipy.sparse input (e.g. 2000 x 20000 at 1% density).
Matrix = Any

# Float route only: |a_i^T lambda| >= 1 - EQUICORRELATION_TOL counts as active. HiGHS's dual
# feasibility tolerance is 1e-7 on the scaled LP; a looser set E is safe because the face LP
# re-checks, and a verdict it cannot prove is reported as undecided.
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
    """Result of :func:`solve_basis_pursuit`. Vectors are (N,) unless stated.

    unique : True / False when ``certified``; None when the verdict is undecided.
    certified : the verdict (and face) passed a check that could have failed.
    margin : dual margin 1 - max_{i not in E} |a_i^T lambda| of the certificate (a rigorous
        lower bound on the float route; 1.0 when every coordinate is equicorrelated).
    certification : how the verdict was proved, or why it is undecided.
    route : the route that produced the verdict: "zero" (y = 0), "homotopy" (the lasso path
        and the float bound, no LP), "lp-float-bound" (LP, then the float bound), "lp-exact"
        (LP, then exact rationals), "lp-float" (LP, float face; undecided unless proved) or
        "homotopy-pivots" (the path's end was not proved optimal: dense simplex pivots from
        its active set, then the float bound, no LP) or "homotopy-reweighted" (the path was
        declined; a second one on rows reweighted by powers of two was accepted).
    route_notes : why each faster route was declined, in the order they were tried.
    """

    status: str
    x: FloatArray
    l1_norm: float
    residual_inf: float
    dual: FloatArray  # (m,)
    dual_inf_norm: float  # ||A^T dual||_inf, <= 1 up to tolerance
    duality_gap: float  # ||x||_1 - y^T dual
    support: IntArray  # of the reported x
    signs: FloatArray  # of x on its support
    unique: bool | None
    certified: bool
    margin: float
    certification: str
    face: Face
    solver: str
    lp_solves: int
    iterations: int
    elapsed_s: float
    route: str = "lp-float"
    route_notes: tuple[str, ...] = ()

    @property
    def face_dimension(self) -> int:
        return self.face.dimension


# --------------------------------------------------------------------------- basis pursuit


def solve_basis_pursuit(
    A: Matrix,
    y: FloatArray,
    *,
    solver: str = "choose",
    time_limit: float | None = None,
    ranges: bool = False,
    deadline: Deadline | None = None,
) -> BPSolution:
    """Solve min ||x||_1 s.t. A x = y and describe the set of minimizers, certified.

    Parameters
    ----------
    A : (m, N) array or scipy.sparse matrix.  y : (m,) array.
    solver : HiGHS solver for the main LP ("choose", "simplex", "ipm", "pdlp").
    time_limit : seconds for the whole call (every LP), or None.
    ranges : also compute [min, max] of every coordinate over the face (2 LPs each).
    deadline : a budget shared with the caller's other work (overrides ``time_limit``).

    Raises
    ------
    InfeasibleError : y is not in the range of A.
    TimeLimitError : the time budget ran out.
    SolverError : HiGHS stopped without an answer.
    """
    # One BLAS thread: the homotopy and the certificates make thousands of small products,
    # which OpenBLAS's second thread slows down 2-5x on this 2-core machine
    # (python -m bench.bench_bp_ensemble --threads).
    with _one_blas_thread():
        prescale = _RowPrescale.of(A, y)
        As, ys = prescale.apply(A, y)
        scaled = _solve_basis_pursuit(
            As, ys, solver=solver, time_limit=time_limit, ranges=ranges, deadline=deadline
        )
        return prescale.undo(scaled, A, y)


# The BLAS policy (a name of this module, so that benches can swap it for a comparison).
_one_blas_thread = one_blas_thread


# Rows whose largest entries are within 2**ROW_SPREAD of the largest row's are not rescaled
# relative to it (see _RowPrescale.of).
ROW_SPREAD = 4


@dataclass(frozen=True)
class _RowPrescale:
    """Ã = 2^row_exp A (each row's largest entry in [0.5, 2), or in [2^-ROW_SPREAD/2, 2)
    for rows that keep the largest row's exponent) and ỹ = 2^(row_exp − y_exp) y
    (largest entry in [0.5, 2)), by ldexp: exact unless an entry falls below the normal
    range, in which case no row scaling is done.

    BP on (Ã, ỹ) has the minimizers x̃ = x / 2^y_exp and the certificates λ̃ = λ / 2^row_exp;
    verdicts, supports, signs and margins are the same. Every check downstream (consistency,
    float bound, face tolerances) then sees rows of one scale: rows of 1e150 and 1e-150 no
    longer make the small one negligible, and data at 1e-310 becomes normal numbers.
    """

    row_exp: IntArray  # (m,)
    y_exp: int

    @staticmethod
    def of(A: Matrix, y: FloatArray) -> _RowPrescale:
        m = A.shape[0]
        sparse = issparse(A)
        if sparse:
            row_max = np.asarray(abs(A).max(axis=1).toarray(), dtype=np.float64).ravel()
        else:  # from max and min: no |A| copy
            row_max = np.maximum(
                np.max(A, axis=1, initial=0.0), -np.min(A, axis=1, initial=0.0)
            ).astype(np.float64)
        row_exp = np.zeros(m, dtype=np.int64)
        positive = row_max > 0
        row_exp[positive] = -np.frexp(row_max[positive])[1] + 1
        if np.any(positive):
            # Rows within ROW_SPREAD powers of two of the largest share its exponent: the
            # scaling is a row weighting of the homotopy's least squares, and weights of 1
            # or 2 drawn at random (row maxima of a Gaussian A straddle a power of two) made
            # its path longer near the weak threshold (gauss:1000:5000:243:0: 2327
            # breakpoints instead of 1881), while only rows far apart in scale need it.
            top = int(np.min(row_exp[positive]))
            row_exp[positive & (row_exp <= top + ROW_SPREAD)] = top
        # Scaling up is exact (row maxima land in [0.5, 2): no overflow); scaling down can
        # round entries that fall below the normal range, so those rows are checked.
        down = row_exp < 0
        if sparse:
            data = A.data
            scaled = np.ldexp(data, _entry_exponents(A, row_exp))
            exact = np.array_equal(np.ldexp(scaled, -_entry_exponents(A, row_exp)), data)
        elif np.any(down):
            rows, exps = A[down], row_exp[down][:, None]
            exact = np.array_equal(np.ldexp(np.ldexp(rows, exps), -exps), rows)
        else:
            exact = True
        if not exact:
            row_exp[:] = 0  # an entry would leave the normal range: keep the rows as given
        y_max_exp = np.frexp(np.max(np.abs(y)))[1] if np.any(y) else 1
        shifted = np.frexp(np.where(y != 0, y, 1.0))[1] + row_exp
        y_exp = int(np.max(shifted[y != 0]) - 1) if np.any(y) else int(y_max_exp - 1)
        return _RowPrescale(row_exp, y_exp)

    def apply(self, A: Matrix, y: FloatArray) -> tuple[Matrix, FloatArray]:
        ys = np.ldexp(y, self.row_exp - self.y_exp)
        if not np.any(self.row_exp):
            return A, ys
        exps = _entry_exponents(A, self.row_exp)
        if issparse(A):
            scaled = A.copy()
            scaled.data = np.ldexp(scaled.data, exps)
            return scaled, ys
        return np.ldexp(A, exps), ys

    def undo(self, sol: BPSolution, A: Matrix, y: FloatArray) -> BPSolution:
        """The solution of the scaled problem in the original units."""
        if not np.any(self.row_exp) and self.y_exp == 0:
            return sol
        with np.errstate(over="ignore", invalid="ignore"):
            x = np.ldexp(sol.x, self.y_exp)
            if not np.all(np.isfinite(x)):
                raise SolverError(
                    "the minimizer has entries beyond float64's range (|x| > 1.8e308); "
                    "expected data whose solution is representable (rescale A or y)"
                )
            dual = np.ldexp(sol.dual, self.row_exp)
            notes = sol.route_notes
            if not np.all(np.isfinite(dual)):
                notes += ("the certificate λ overflows float64 in the original units",)
            residual = float(np.max(np.abs(np.asarray(A @ x).ravel() - y), initial=0.0))
        face = sol.face
        ranges = None if face.ranges is None else np.ldexp(face.ranges, self.y_exp)
        face = Face(
            face.support,
            face.signs,
            face.dimension,
            np.ldexp(face.interior_point, self.y_exp),
            ranges,
        )
        return replace(
            sol,
            x=x,
            l1_norm=float(np.ldexp(sol.l1_norm, self.y_exp)),
            residual_inf=residual,
            dual=dual,
            duality_gap=float(np.ldexp(sol.duality_gap, self.y_exp)),
            face=face,
            route_notes=notes,
        )


def _entry_exponents(A: Matrix, row_exp: IntArray) -> IntArray:
    """The row exponent of every stored entry (A dense: an (m, 1) column that broadcasts)."""
    if issparse(A):
        coo_rows = (
            A.tocoo().row
            if A.format != "csr"
            else np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
        )
        return np.asarray(row_exp[coo_rows], dtype=np.int64)
    return row_exp[:, None]


def _solve_basis_pursuit(
    A: Matrix,
    y: FloatArray,
    *,
    solver: str,
    time_limit: float | None,
    ranges: bool,
    deadline: Deadline | None,
) -> BPSolution:
    start = time.perf_counter()
    budget = deadline if deadline is not None else Deadline(time_limit)
    m, n = A.shape
    if float(np.max(np.abs(y), initial=0.0)) == 0.0:
        return _zero_solution(n, m, start, ranges=ranges)
    notes: list[str] = []
    warm: _HomotopyDeclined | None = None
    if solver == "choose":
        # The homotopy path from the sparse side: about k steps of O(mN) for a k-sparse
        # minimizer, no LP at all when its certificate is proved strict.
        quick = _homotopy_verdict(A, y, budget, ranges=ranges)
        if isinstance(quick, _Verdict):
            return _finish(A, y, quick, "homotopy", _Provenance("homotopy", None, start, notes))
        if isinstance(quick, _Rerouted):
            notes.append(quick.note)
            return _finish(
                A, y, quick.verdict, quick.route, _Provenance("homotopy", None, start, notes)
            )
        notes.append(f"homotopy declined: {quick.reason}")
        warm = quick
    else:
        notes.append(f"homotopy not tried: solver={solver!r} was requested")
    import scipy.sparse as sp

    scaling = equilibrate(A, y)
    As, ys = scaling.apply(A, y)
    lp = _Lp(budget, solver=solver)
    scaled = _ScaledLp(As, ys, scaling, lp, ranges)
    ran = _Provenance(solver, lp, start, notes)
    # Presolve finds nothing to remove in [A, -A] but costs ~40% of the solve on dense data
    # (Gaussian 500x2000: 2.9 s without, 4.8 s with; same 677 simplex iterations).
    lp.highs.setOptionValue("presolve", "off")
    sparse = issparse(As)
    matrix = sp.csc_matrix(sp.hstack([As, -As]) if sparse else np.hstack([As, -As]))
    weights = np.concatenate([scaling.cols, scaling.cols])
    lp.load(LpModel(weights, np.zeros(2 * n), np.full(2 * n, np.inf), matrix, ys, ys))
    # Never an LP from zero after a declined path: its active set (independent columns,
    # signed) completed by unit rows is the simplex's first basis.
    if (
        warm is not None
        and warm.support.size
        and lp.set_basis(_warm_basis(As, warm.support, warm.signs))
    ):
        notes.append(f"LP warm-started from the path's {warm.support.size} active columns")
    status = lp.run("the basis pursuit LP")
    exact = certify.fits_exact((m, n))
    dense = _dense(A) if exact else None
    if status == "failed" and dense is None:
        raise SolverError("HiGHS could not solve the basis pursuit LP; try another --solver")
    if status == "optimal":
        z, dual_s = lp.solution()
        x_s = z[:n] - z[n:]
        basis = lp.basis() if solver != "pdlp" else None
    else:
        # HiGHS found no optimum (infeasible, or it gave up, e.g. on costs spanning 1e300
        # after equilibration). Small problems get a second, exact opinion from a column
        # basis of A, when y is in its range up to round-off.
        if dense is None:
            raise _infeasible(A, y)
        x_s = np.asarray(np.linalg.lstsq(_dense(As), ys, rcond=None)[0], dtype=np.float64)
        if not certify.consistent_to_roundoff(dense, y, scaling.primal(x_s)):
            raise _infeasible(A, y)
        dual_s, basis = np.zeros(m), None
    point_face = None
    if status == "optimal":
        # The cheap proof first: a strict certificate with a rigorous float error bound.
        active, _ = _active_set(As, dual_s, scaling)
        point_face = _float_point(scaled, x_s, active)
        bound = (
            "the LP's active set is not of full column rank"
            if point_face is None
            else _bound_verdict(A, y, point_face, scaling.dual(dual_s))
        )
        if isinstance(bound, _Verdict):
            return _finish(A, y, bound, "lp-float-bound", ran)
        notes.append(f"float bound declined: {bound}")
    else:
        notes.append(f"float bound not tried: the LP ended {status}")
    exact_failure = ""
    if dense is not None:
        x_float = scaling.primal(_polish(As, ys, x_s))
        x_float[np.abs(x_float) <= SUPPORT_TOL * np.max(np.abs(x_float), initial=0.0)] = 0.0
        certified = _certify_exact(dense, y, basis, x_float, scaled)
        if isinstance(certified, _Verdict):
            return _finish(A, y, certified, "lp-exact", ran)
        if status != "optimal":
            raise SolverError(f"HiGHS found no optimum and exact arithmetic failed: {certified}")
        exact_failure = certified
        notes.append(f"exact arithmetic declined: {certified}")
    else:
        notes.append(
            f"exact arithmetic not tried: {m}x{n} exceeds m <= {certify.EXACT_MAX_ROWS}, "
            f"m*N <= {certify.EXACT_MAX_ENTRIES}"
        )
    x_s = _polish(As, ys, x_s)
    verdict = _certify_float(A, y, scaled, _LpPoint(x_s, dual_s), exact_failure, point_face)
    return _finish(A, y, verdict, "lp-float", ran)


@dataclass(frozen=True)
class _Verdict:
    x: FloatArray
    dual: FloatArray
    face: Face
    unique: bool | None
    certified: bool
    margin: float
    certification: str


@dataclass(frozen=True)
class _ScaledLp:
    """The equilibrated problem every LP runs on (As = R A D, ys, by ``scaling``), the LP
    counter that holds the time budget, and whether coordinate ranges were requested."""

    As: Matrix
    ys: FloatArray
    scaling: Equilibration
    lp: _Lp
    ranges: bool


@dataclass(frozen=True)
class _LpPoint:
    """The basis pursuit LP's primal x and dual lambda, on the scaled data."""

    x: FloatArray
    dual: FloatArray


@dataclass(frozen=True)
class _Provenance:
    """How a verdict was reached: HiGHS's solver, the LP counter (None: no LP ran), the
    call's start time, and why faster routes were declined."""

    solver: str
    lp: _Lp | None
    start: float
    notes: list[str]


def _finish(A: Matrix, y: FloatArray, v: _Verdict, route: str, ran: _Provenance) -> BPSolution:
    x = v.x + 0.0  # no -0.0
    l1 = float(np.sum(np.abs(x)))
    support = np.flatnonzero(x).astype(np.int64)
    corr = np.asarray(A.T @ v.dual, dtype=np.float64).ravel()
    return BPSolution(
        status="optimal",
        x=x,
        l1_norm=l1,
        residual_inf=float(np.max(np.abs(np.asarray(A @ x).ravel() - y))),
        dual=v.dual,
        dual_inf_norm=float(np.max(np.abs(corr), initial=0.0)),
        duality_gap=l1 - float(y @ v.dual),
        support=support,
        signs=np.sign(x[support]),
        unique=v.unique,
        certified=v.certified,
        margin=v.margin,
        certification=v.certification,
        face=v.face,
        solver=ran.solver,
        lp_solves=0 if ran.lp is None else ran.lp.solves,
        iterations=0 if ran.lp is None else ran.lp.iterations,
        elapsed_s=time.perf_counter() - ran.start,
        route=route,
        route_notes=tuple(ran.notes),
    )


@dataclass(frozen=True)
class _HomotopyDeclined:
    """Why the homotopy route was declined, and the active set where the path stopped
    (support sorted, signs s_K): the LP's warm start."""

    reason: str
    support: IntArray
    signs: FloatArray


def _warm_basis(As: Matrix, support: IntArray, signs: FloatArray) -> list[int]:
    """The basis of the LP over z = [x+; x-] (numbering of :meth:`_Lp.basis`) made of the
    columns ``support`` with ``signs`` (x+_j for s_j > 0, x-_j otherwise), completed to m
    basic variables by unit rows."""
    n = As.shape[1]
    basic = [int(j) if s > 0 else int(j) + n for j, s in zip(support, signs, strict=True)]
    return basic + _complete_rows(_columns(As, support), 2 * n)


def _homotopy_verdict(
    A: Matrix, y: FloatArray, budget: Deadline, *, ranges: bool
) -> _Verdict | _Rerouted | _HomotopyDeclined:
    """BP by :func:`homotopy.follow_homotopy`, accepted only with a proof: x re-solved on the
    support with the path's signs (least squares with iterative refinement), and a strict
    certificate by the float bound. Returns the verdict, or why the route was declined. The
    path runs on A and y divided by powers of two near their largest entries (exact; column
    scaling would weight BP, and row equilibration costs passes over A that the LP needs,
    not the path).

    A declined dense path is followed once more on rows reweighted by powers of two: the same
    BP (its minimizers and verdict do not change), another lasso path. Near the end of a long
    path (l ~ 1e-6 of its start, |K| ~ m) the breakpoints are decided at the edge of float64,
    and a path that goes astray there (gauss:1000:5000:243:0: an end 364 signs away from a
    basis of the minimizer) rarely does so on a reweighted copy; a second path costs about
    the first's time, where the LP took 15 s to 250 s at 1000 x 5000."""
    first = _homotopy_attempt(A, y, budget, ranges=ranges, row_exp=None)
    if not isinstance(first, _HomotopyDeclined) or issparse(A):
        return first
    row_exp = _path_reweighting(A)
    second = _homotopy_attempt(A, y, budget, ranges=ranges, row_exp=row_exp)
    if isinstance(second, _HomotopyDeclined):
        return _HomotopyDeclined(
            f"{first.reason}; on reweighted rows: {second.reason}", first.support, first.signs
        )
    verdict = second.verdict if isinstance(second, _Rerouted) else second
    note = f"the first path was declined ({first.reason}); a second, on rows reweighted by "
    note += "powers of two, finished"
    if isinstance(second, _Rerouted):
        note += f" after {second.note}"
    return _Rerouted(verdict, "homotopy-reweighted", note)


def _path_reweighting(A: FloatArray) -> IntArray:
    """Row exponents e for the second path on diag(2^e) A: each row's largest entry brought
    to [0.5, 2) (the rows of a Gaussian A then get weights 1 and 2 at random), or, when
    that changes nothing, weights 1 and 2 on alternate rows."""
    row_max = np.maximum(np.max(A, axis=1, initial=0.0), -np.min(A, axis=1, initial=0.0))
    exps = np.zeros(A.shape[0], dtype=np.int64)
    positive = row_max > 0
    exps[positive] = -np.frexp(row_max[positive])[1] + 1
    exps -= int(np.max(exps[positive], initial=0))  # scale down only: nothing overflows
    if np.all(exps == exps[0]):
        exps = -(np.arange(A.shape[0]) % 2)
    return exps


def _homotopy_attempt(
    A: Matrix, y: FloatArray, budget: Deadline, *, ranges: bool, row_exp: IntArray | None
) -> _Verdict | _Rerouted | _HomotopyDeclined:
    """One path (on diag(2^row_exp) A when given) and the proof of its end point."""
    if row_exp is not None:
        # Scaling down by powers of two is exact unless an entry leaves the normal range.
        weighted = np.ldexp(A, row_exp[:, None])
        if not np.array_equal(np.ldexp(weighted, -row_exp[:, None]), A):
            return _HomotopyDeclined(
                "the reweighted rows are not exact", np.zeros(0, np.int64), np.zeros(0)
            )
        path_A, path_y = weighted, np.ldexp(y, row_exp)
    else:
        path_A, path_y = A, y
    largest = certify.max_abs(path_A)
    # After the row prescale max |A| is in [0.5, 2): no division (a copy of A) is needed.
    a_unit = (
        1.0 if 0.0625 <= largest <= 16.0 else float(certify.power_of_two(np.array([largest]))[0])
    )
    y_unit = float(certify.power_of_two(np.array([float(np.max(np.abs(path_y)))]))[0])
    unit_scaled: Matrix = path_A if a_unit == 1.0 else path_A / a_unit

    def check_budget() -> None:
        budget.remaining("the homotopy path")

    path = follow_homotopy(unit_scaled, path_y / y_unit, on_step=check_budget)
    if isinstance(path, Declined):
        return _HomotopyDeclined(f"the path stopped: {path.reason}", path.support, path.signs)

    def declined(reason: str) -> _HomotopyDeclined:
        return _HomotopyDeclined(reason, path.support, path.signs)

    A_K = _columns(A, path.support)
    x_K = _refined_lstsq(A_K, y)
    keep = np.abs(x_K) > SUPPORT_TOL * np.max(np.abs(x_K), initial=0.0)
    if np.any(np.sign(x_K[keep]) != path.signs[keep]):
        why = "the end point's least-squares re-solve changed a sign"
        if issparse(A):
            return declined(why)
        # A square K is still a basis, primal feasible with the re-solve's signs.
        basis_signs = np.where(keep, np.sign(x_K), path.signs)
        return _pivoted_or_declined(A, y, path, basis_signs, why, ranges, check_budget)
    support = path.support[keep]
    x = np.zeros(A.shape[1])
    if support.size:  # the same system again unless coordinates were dropped
        x[support] = x_K if keep.all() else _refined_lstsq(_columns(A, support), y)
    rng = np.column_stack([x[support], x[support]]) if ranges else None
    face = Face(support, np.sign(x[support]), 0, x, rng)
    dual = path.certificate / a_unit
    if row_exp is not None:
        dual = np.ldexp(dual, row_exp)  # Ãᵀλ̃ = Aᵀ (W λ̃): the certificate of A is W λ̃
    verdict = _bound_verdict(A, y, face, dual, path.support, path.signs)
    if isinstance(verdict, str):
        ties = f" ({path.ties} ties resolved lexicographically)" if path.ties else ""
        why = f"{verdict}{ties}"
        if issparse(A):
            return declined(why)
        return _pivoted_or_declined(A, y, path, path.signs, why, ranges, check_budget)
    return verdict


def _pivoted_or_declined(
    A: FloatArray,
    y: FloatArray,
    path: HomotopyPath,
    signs: FloatArray,
    why: str,
    ranges: bool,
    check_budget: Callable[[], None],
) -> _Rerouted | _HomotopyDeclined:
    """Dense pivots from the path's end (basis K with ``signs``), or the declined route."""
    pivoted = _pivot_from_path(A, y, path.support, signs, ranges=ranges, on_pivot=check_budget)
    if isinstance(pivoted, str):
        reason = f"{why}; dense pivots from its end: {pivoted}"
        return _HomotopyDeclined(reason, path.support, path.signs)
    return _Rerouted(
        pivoted[0],
        "homotopy-pivots",
        f"the path's end was not proved optimal ({why}); "
        f"{pivoted[1]} dense simplex pivots from its active set finished it",
    )


@dataclass(frozen=True)
class _Rerouted:
    """A verdict reached past the plain path (``route``), and the note that says how."""

    verdict: _Verdict
    route: str
    note: str


def _pivot_from_path(
    A: FloatArray,
    y: FloatArray,
    support: IntArray,
    signs: FloatArray,
    *,
    ranges: bool,
    on_pivot: Callable[[], None],
) -> tuple[_Verdict, int] | str:
    """Dense simplex pivots (:mod:`dlncli.bp.pivots`) from the path's square active set K
    with its signs (its basis); the optimum is accepted only with the
    same proof as the path's end: x re-solved on the basis (least squares with iterative
    refinement), λ re-solved from A_Bᵀλ = σ_B the same way, and the rigorous float bound."""
    from dlncli.bp import pivots

    if support.size != A.shape[0]:
        return f"its active set is not square ({support.size} columns, m = {A.shape[0]})"
    end = pivots.pivot_to_optimum(A, y, support, signs, on_pivot=on_pivot)
    if isinstance(end, str):
        return end
    order = np.argsort(end.basis)
    basis, sigma = end.basis[order], end.signs[order]
    A_B = _columns(A, basis)
    x_B = _refined_lstsq(A_B, y)
    keep = np.abs(x_B) > SUPPORT_TOL * np.max(np.abs(x_B), initial=0.0)
    if np.any(np.sign(x_B[keep]) != sigma[keep]):
        return "the optimal basis's least-squares re-solve changed a sign"
    x = np.zeros(A.shape[1])
    x[basis[keep]] = x_B[keep]
    support_x = basis[keep]
    rng = np.column_stack([x[support_x], x[support_x]]) if ranges else None
    face = Face(support_x, np.sign(x[support_x]), 0, x, rng)
    certificate = _refined_lstsq(np.ascontiguousarray(A_B.T), sigma)
    verdict = _bound_verdict(A, y, face, certificate, basis, sigma)
    if isinstance(verdict, str):
        return f"{verdict} after {end.pivots} pivots"
    return verdict, end.pivots


REFINEMENT_STEPS = 2


def _refined_lstsq(M: FloatArray, y: FloatArray) -> FloatArray:
    """Least squares M x = y, then REFINEMENT_STEPS steps of iterative refinement with the
    residual y - M x computed in twice the working precision (:func:`_residual_dot2`): on a
    consistent system each step gains the digits the first solve lost to conditioning."""
    solve = _qr_solver(M)
    if solve is None:  # not of clearly full column rank: the SVD's minimum-norm solution

        def solve(rhs: FloatArray) -> FloatArray:
            return np.asarray(np.linalg.lstsq(M, rhs, rcond=None)[0], dtype=np.float64)

    x = solve(y)
    for _ in range(REFINEMENT_STEPS):
        residual = _residual_dot2(M, x, y)
        if not np.all(np.isfinite(residual)):
            break  # products out of the TwoProduct range: keep the plain solve
        correction = solve(residual)
        x = x + correction
        if float(np.max(np.abs(correction), initial=0.0)) <= UNIT_ROUNDOFF * float(
            np.max(np.abs(x), initial=0.0)
        ):
            break  # below half an ulp of the largest entry: a further step changes nothing
    return x


def _qr_solver(M: FloatArray) -> Callable[[FloatArray], FloatArray] | None:
    """Least squares by one Householder QR of M, reused for every right-hand side (the
    refinement's residuals): O(m k) per solve after the O(m k²) factor, where numpy's lstsq
    (an SVD, gelsd) costs O(m k²) each time. None when R's diagonal is below k u |R_11|,
    i.e. M is not clearly of full column rank."""
    import scipy.linalg

    m, k = M.shape
    if k == 0 or k > m:
        return None
    q, r = scipy.linalg.qr(M, mode="economic", check_finite=False)
    diagonal = np.abs(np.diag(r))
    if not np.all(np.isfinite(r)) or diagonal.min() <= k * UNIT_ROUNDOFF * diagonal.max():
        return None

    def solve(rhs: FloatArray) -> FloatArray:
        return np.asarray(
            scipy.linalg.solve_triangular(r, q.T @ rhs, check_finite=False), dtype=np.float64
        )

    return solve


def _residual_dot2(M: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """y − M x as if computed in twice the working precision, then rounded (Ogita, Rump and
    Oishi's Dot2, with the sums in a pairwise tree): every product is split exactly by
    TwoProduct (Dekker, Veltkamp's splitting), every addition by TwoSum (Knuth), and the
    errors are summed in float; error <= u |r| + O(n u²) Σ|terms|, what refinement needs.
    Whole-matrix numpy operations, log2(k) levels: at 2000 x 250 it takes ~10 ms where the
    correctly rounded residual (math.fsum per row, :func:`samples.rounded_matvec`) took
    0.5 s, and at 100 x 30 it is no slower than that."""
    split = 134217729.0  # 2^27 + 1
    a = np.asarray(M, dtype=np.float64)
    b = -np.asarray(x, dtype=np.float64)[None, :]
    products = a * b
    a_big, b_big = split * a, split * b
    a_hi = a_big - (a_big - a)
    b_hi = b_big - (b_big - b)
    a_lo, b_lo = a - a_hi, b - b_hi
    error = (((a_hi * b_hi - products) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo).sum(axis=1)
    terms = np.column_stack([np.asarray(y, dtype=np.float64), products])
    while terms.shape[1] > 1:
        if terms.shape[1] % 2:
            terms = np.column_stack([terms, np.zeros(terms.shape[0])])
        left, right = terms[:, 0::2], terms[:, 1::2]
        total = left + right
        virtual = total - left
        error += ((left - (total - virtual)) + (right - virtual)).sum(axis=1)
        terms = total
    return np.asarray(terms[:, 0] + error, dtype=np.float64)


def _dense(A: Matrix) -> FloatArray:
    sparse = issparse(A)
    return np.asarray(A.toarray() if sparse else A, dtype=np.float64)


def _infeasible(A: Matrix, y: FloatArray) -> InfeasibleError:
    return InfeasibleError(
        "y is not in the range of A: A x = y has no solution "
        f"(least-squares residual {_lstsq_residual(A, y):.3g}); expected a consistent system"
    )


def _start_basis(A: FloatArray, y: FloatArray) -> list[int]:
    """A primal-feasible basis from scratch: a column basis R of A with the signs of the
    solution of A_R x_R = y, completed by artificial rows."""
    n = A.shape[1]
    cols = certify.exact_column_basis(A) or []
    x_r = np.linalg.lstsq(A[:, cols], y, rcond=None)[0] if cols else np.zeros(0)
    basis = [j if x_r[k] >= 0 else j + n for k, j in enumerate(cols)]
    return basis + _complete_rows(A[:, cols], 2 * n)


def _complete_rows(columns: FloatArray, offset: int) -> list[int]:
    """Unit rows e_r (numbered offset + r) that complete ``columns`` to a basis of R^m."""
    import scipy.linalg

    m, k = columns.shape
    if k >= m:
        return []
    q, _ = np.linalg.qr(columns, mode="complete") if k else (np.eye(m), None)
    complement = q[:, k:]
    _, _, pivots = scipy.linalg.qr(complement.T, pivoting=True)
    return [offset + int(r) for r in pivots[: m - k]]


def _certify_exact(
    A: FloatArray, y: FloatArray, basis: list[int] | None, x_float: FloatArray, scaled: _ScaledLp
) -> _Verdict | str:
    """Exact optimum, E, signs, verdict and face, or why exact arithmetic failed."""
    m, n = A.shape
    if basis is None or len(basis) != m:
        basis = _start_basis(A, y)
    optimum = certify.exact_simplex(A, y, basis, x_float)
    if isinstance(optimum, str):
        if "infeasible" in optimum:
            raise _infeasible(A, y)
        return optimum
    x = certify.to_float(optimum.x)
    dual = certify.to_float(optimum.dual)
    corr = optimum.correlations
    on_face = [i for i, c in enumerate(corr) if abs(c) == 1]
    off_face = [abs(c) for i, c in enumerate(corr) if abs(c) != 1]
    margin = 1.0 if not off_face else _round_down(1 - max(off_face))
    E = np.array(on_face, dtype=np.int64)
    signs_all = np.zeros(n)
    signs_all[E] = [1.0 if corr[i] > 0 else -1.0 for i in on_face]
    how = (
        f"exact rational arithmetic ({optimum.pivots} exact pivots); backward error "
        f"‖y* − y‖∞ = {optimum.backward_error:.2g}"
    )
    if certify.exact_rank(A[:, E]) == E.size:
        support = np.flatnonzero(x).astype(np.int64)
        rng = np.column_stack([x[support], x[support]]) if scaled.ranges else None
        face = Face(support, np.sign(x[support]), 0, x, rng)
        return _Verdict(x, dual, face, True, True, margin, how)
    candidate = _face_lp(scaled, E, signs_all[E])
    if candidate is None:
        support = np.flatnonzero(x).astype(np.int64)
        face = Face(support, np.sign(x[support]), 0, x, None)
        why = "undecided: the face LP found no relative-interior point"
        return _Verdict(x, dual, face, None, False, margin, why)
    support, point = candidate
    proof = certify.certify_face(A, optimum.rhs, signs_all, support, E, point)
    if isinstance(proof, str) or not proof.maximal:
        # Two exact points would still show non-uniqueness, but the face is not proved:
        # report the exact optimum with an undecided verdict.
        why = proof if isinstance(proof, str) else "the face's support is not proved maximal"
        face = Face(support, signs_all[support], support.size, point, None)
        return _Verdict(x, dual, face, None, False, margin, f"undecided: {why}")
    rng = None
    if scaled.ranges:
        rng = _face_ranges(scaled, proof.support, signs_all[proof.support])
    face = Face(proof.support, signs_all[proof.support], proof.dimension, proof.interior_point, rng)
    return _Verdict(x, dual, face, proof.dimension == 0, True, margin, how)


def _round_down(value: Any) -> float:
    """A float <= the exact rational ``value`` (for margins reported as lower bounds)."""
    nearest = float(certify.to_float([value])[0])
    return float(np.nextafter(nearest, -np.inf)) if nearest > 0 else nearest


def _certify_float(
    A: Matrix,
    y: FloatArray,
    scaled: _ScaledLp,
    answer: _LpPoint,
    exact_failure: str,
    point_face: Face | None,
) -> _Verdict:
    """The float route (problems too large for exact arithmetic, or where it failed): a unique
    verdict is certified by :func:`certify.float_uniqueness_bound`; anything else is
    undecided."""
    x = scaled.scaling.primal(answer.x)
    dual = scaled.scaling.dual(answer.dual)
    # HiGHS accepts A x = y to its feasibility tolerance (1e-7 on the scaled LP); the verdict
    # needs it to round-off. Least squares on all of A decides whether y is in the range of A
    # at all (dense only: one O(m^2 N) solve, on this rare path).
    if (
        not issparse(A)
        and not certify.consistent_to_roundoff(A, y, x)
        and not certify.consistent_to_roundoff(A, y, _lstsq(A, y))
    ):
        raise _infeasible(A, y)
    # A point face was already tried by the quick route (its bound failed): no second try.
    face = point_face or _float_face(scaled, answer)
    corr = np.asarray(A.T @ dual, dtype=np.float64).ravel()
    if face.dimension == 0:
        if point_face is None:
            proved = _bound_verdict(A, y, face, dual)
            if isinstance(proved, _Verdict):
                return proved
        x = face.interior_point
    off = np.abs(corr[np.abs(corr) < 1.0 - EQUICORRELATION_TOL])
    margin = float(1.0 - off.max()) if off.size else 1.0
    if exact_failure:
        route = f"exact arithmetic failed ({exact_failure})"
    else:
        route = (
            f"the problem ({A.shape[0]}x{A.shape[1]}) exceeds the exact-arithmetic limit "
            f"(m <= {certify.EXACT_MAX_ROWS}, m*N <= {certify.EXACT_MAX_ENTRIES})"
        )
    why = f"undecided: {route} and the float error bound does not prove the verdict"
    return _Verdict(x, dual, face, None, False, margin, why)


def _zero_solution(n: int, m: int, start: float, *, ranges: bool) -> BPSolution:
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
        unique=True,  # ||x||_1 = 0 only at x = 0
        certified=True,
        margin=1.0,
        certification="y = 0: x = 0 is the only point with ||x||_1 = 0",
        face=face,
        solver="none (y = 0)",
        lp_solves=0,
        iterations=0,
        elapsed_s=time.perf_counter() - start,
        route="zero",
    )


def _lstsq(A: FloatArray, y: FloatArray) -> FloatArray:
    return np.asarray(np.linalg.lstsq(A, y, rcond=None)[0], dtype=np.float64)


def _lstsq_residual(A: Matrix, y: FloatArray) -> float:
    sparse = issparse(A)
    if sparse:
        from scipy.sparse.linalg import lsqr

        x = np.asarray(lsqr(A, y, atol=1e-14, btol=1e-14)[0], dtype=np.float64)
    else:
        x = np.asarray(np.linalg.lstsq(A, y, rcond=None)[0], dtype=np.float64)
    return float(np.max(np.abs(np.asarray(A @ x) - y)))


def _columns(A: Matrix, idx: IntArray) -> FloatArray:
    """Dense copy of the columns ``idx`` (A may be a scipy.sparse matrix)."""
    cols = A[:, idx]
    sparse = issparse(cols)
    return np.asarray(cols.toarray() if sparse else cols, dtype=np.float64)


def _full_column_rank(M: FloatArray) -> bool:
    return M.shape[1] == 0 or bool(
        M.shape[1] <= M.shape[0] and int(np.linalg.matrix_rank(M)) == M.shape[1]
    )


def _significant(x: FloatArray) -> IntArray:
    """Coordinates above the LP's noise level (relative 1e-9 of the largest entry)."""
    biggest = float(np.max(np.abs(x), initial=0.0))
    return np.flatnonzero(np.abs(x) > SUPPORT_TOL * biggest).astype(np.int64)


def _active_set(
    As: Matrix, dual_s: FloatArray, scaling: Equilibration
) -> tuple[IntArray, FloatArray]:
    """E = {i : |a_i^T lambda| >= 1 - EQUICORRELATION_TOL} and its signs, from the scaled
    certificate (|a_i^T lambda| = |ã_i^T lambda~| / d_i)."""
    corr = np.asarray(As.T @ dual_s, dtype=np.float64).ravel() / scaling.cols
    active = np.flatnonzero(np.abs(corr) >= 1.0 - EQUICORRELATION_TOL).astype(np.int64)
    return active, np.sign(corr[active])


def _float_point(scaled: _ScaledLp, x_s: FloatArray, active: IntArray) -> Face | None:
    """The single point of S when the float active set has full column rank, else None."""
    As, ys = scaled.As, scaled.ys
    A_active = _columns(As, active)
    # Every minimizer lives on `active` with these signs; if A_active has full column rank,
    # that system has one solution, so S is a single point. No further LP needed.
    if not _full_column_rank(A_active):
        return None
    point_s = np.zeros_like(x_s)
    if active.size:
        point_s[active] = np.linalg.lstsq(A_active, ys, rcond=None)[0]
    support = _significant(point_s)
    point_s[np.setdiff1d(active, support)] = 0.0
    if support.size:
        point_s[support] = np.linalg.lstsq(_columns(As, support), ys, rcond=None)[0]
    point = scaled.scaling.primal(point_s)
    rng = np.column_stack([point[support], point[support]]) if scaled.ranges else None
    return Face(support.astype(np.int64), np.sign(point[support]), 0, point, rng)


def _bound_verdict(
    A: Matrix,
    y: FloatArray,
    face: Face,
    dual: FloatArray,
    equicorrelated: IntArray | None = None,
    signs: FloatArray | None = None,
) -> _Verdict | str:
    """A unique verdict proved by :func:`certify.float_uniqueness_bound` for a point that
    solves A x = y up to round-off, or None. The certificate is checked on
    ``equicorrelated`` (default: the point's support) with ``signs``."""
    if not certify.consistent_to_roundoff(A, y, face.interior_point):
        return "the point solves A x = y only beyond round-off"
    support = face.support if equicorrelated is None else equicorrelated
    if signs is None:
        signs = np.sign(face.interior_point[support])
    bound = certify.float_uniqueness_bound(A, dual, support, signs)
    if not bound.margin_lower > 0:  # NaN (an overflowed certificate) proves nothing
        return f"the certificate is not proved strict (margin bound {bound.margin_lower:.3g})"
    how = "a rigorous float error bound on a strict certificate"
    return _Verdict(face.interior_point, dual, face, True, True, bound.margin_lower, how)


def _float_face(scaled: _ScaledLp, answer: _LpPoint) -> Face:
    """The face from float correlations (scaled data; returned in original units)."""
    As = scaled.As
    active, signs = _active_set(As, answer.dual, scaled.scaling)
    point_face = _float_point(scaled, answer.x, active)
    if point_face is not None:
        return point_face
    candidate = _face_lp(scaled, active, signs)
    if candidate is None:
        raise _infeasible_near(As, scaled.ys)
    support, point = candidate
    A_j = _columns(As, support)
    dimension = int(support.size - (np.linalg.matrix_rank(A_j) if support.size else 0))
    all_signs = np.zeros(As.shape[1])
    all_signs[active] = signs
    rng = None
    if scaled.ranges:
        rng = _face_ranges(scaled, support, all_signs[support])
    return Face(support.astype(np.int64), all_signs[support], dimension, point, rng)


def _infeasible_near(As: Matrix, ys: FloatArray) -> InfeasibleError:
    return InfeasibleError(
        "y is at the edge of the range of A: the system A x = y is consistent only up to "
        f"round-off (least-squares residual of the scaled system {_lstsq_residual(As, ys):.3g}); "
        "expected a consistent system"
    )


def _face_lp(
    scaled: _ScaledLp, active: IntArray, signs: FloatArray
) -> tuple[IntArray, FloatArray] | None:
    """Support J and a relative-interior point (original units) of S, on scaled data.

    Homogenized LP: max sum t  s.t. signed v = tau y, t <= v, 0 <= t <= 1, tau >= 1
    (columns v (k), t (k), tau). At the optimum t_i = 1 exactly for the coordinates that
    can be nonzero on S (scale a relative-interior point up), and v / tau is such a point.
    None when the LP finds S empty (y only numerically in the cone).
    """
    import scipy.sparse as sp

    As, ys, counter = scaled.As, scaled.ys, scaled.lp
    k = active.size
    signed = _columns(As, active) * signs
    eq = sp.hstack(
        [sp.csc_matrix(signed), sp.csc_matrix((ys.size, k)), sp.csc_matrix(-ys[:, None])]
    )
    link = sp.hstack([-sp.identity(k), sp.identity(k), sp.csc_matrix((k, 1))])
    matrix = sp.csc_matrix(sp.vstack([eq, link]))
    face_lp = _Lp(counter.deadline)
    face_lp.load(
        LpModel(
            np.concatenate([np.zeros(k), np.ones(k), [0.0]]),
            np.concatenate([np.zeros(k), np.zeros(k), [1.0]]),
            np.concatenate([np.full(k, np.inf), np.ones(k), [np.inf]]),
            matrix,
            np.concatenate([np.zeros(ys.size), np.full(k, -np.inf)]),
            np.concatenate([np.zeros(ys.size), np.zeros(k)]),
            maximize=True,
        )
    )
    status = face_lp.run("the face LP")
    counter.absorb(face_lp)
    if status != "optimal":
        return None
    sol, _ = face_lp.solution()
    v, t, tau = sol[:k], sol[k : 2 * k], sol[2 * k]
    in_j = t > 0.5
    point_s = np.zeros(As.shape[1])
    point_s[active[in_j]] = signs[in_j] * np.maximum(v[in_j], 0.0) / tau
    return active[in_j].astype(np.int64), scaled.scaling.primal(point_s)


def _face_ranges(scaled: _ScaledLp, support: IntArray, signs: FloatArray) -> FloatArray:
    """[min, max] of x_i over S = {v >= 0 : signed v = y}, x = signs * v: 2 LPs per coordinate."""
    import scipy.sparse as sp

    As, ys, counter = scaled.As, scaled.ys, scaled.lp
    k = support.size
    signed = _columns(As, support) * signs
    lp = _Lp(counter.deadline, solver="simplex")
    lp.load(LpModel(np.zeros(k), np.zeros(k), np.full(k, np.inf), sp.csc_matrix(signed), ys, ys))
    out = np.zeros((k, 2))
    for i in range(k):
        for j, maximize in enumerate((False, True)):
            cost = np.zeros(k)
            cost[i] = 1.0
            lp.set_cost(cost, maximize=maximize)
            if lp.run(f"the range LP of coordinate {int(support[i])}") != "optimal":
                raise _infeasible_near(As, ys)
            out[i, j] = lp.solution()[0][i]
    counter.absorb(lp)
    unit = scaled.scaling.y_scale * scaled.scaling.cols[support] * signs
    lo, hi = unit * out[:, 0], unit * out[:, 1]
    return np.column_stack([np.minimum(lo, hi), np.maximum(lo, hi)]) + 0.0  # no -0.0


def _polish(As: Matrix, ys: FloatArray, x_s: FloatArray) -> FloatArray:
    """Re-solve A_K x_K = y on the support K of x (scaled data).

    Kept only when it lowers the residual and keeps the signs: the LP's x is feasible to
    ~1e-9, the least-squares re-solve usually to ~1e-16.
    """
    support = _significant(x_s)
    if not _full_column_rank(_columns(As, support)):
        return x_s
    candidate = np.zeros_like(x_s)
    if support.size:
        candidate[support] = np.linalg.lstsq(_columns(As, support), ys, rcond=None)[0]
    if np.any(np.sign(candidate[support]) != np.sign(x_s[support])):
        return x_s
    before = float(np.max(np.abs(As @ x_s - ys)))
    after = float(np.max(np.abs(As @ candidate - ys)))
    return candidate if after <= before else x_s


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
    A: FloatArray,
    support: IntArray,
    signs: FloatArray,
    *,
    time_limit: float | None = None,
    deadline: Deadline | None = None,
) -> MarginCertificate:
    """The certificate that maximizes gamma = 1 - max_{i not in J} |a_i^T lambda|.

    One LP in (lambda, gamma): a_J^T lambda = s_J, |a_i^T lambda| + gamma <= 1 off J.
    """
    import scipy.sparse as sp

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
    lp = _Lp(deadline if deadline is not None else Deadline(time_limit))
    lp.load(
        LpModel(
            np.concatenate([np.zeros(m), [1.0]]),
            np.concatenate([np.full(m, -np.inf), [-np.inf]]),
            np.concatenate([np.full(m, np.inf), [1.0]]),
            matrix,
            np.concatenate([signs, np.full(off.size, -np.inf), np.full(off.size, -1.0)]),
            np.concatenate([signs, np.ones(off.size), np.full(off.size, np.inf)]),
            maximize=True,
        )
    )
    if lp.run("the dual-margin LP") != "optimal":
        raise SolverError("the dual-margin LP found no certificate; expected a BP face")
    sol, _ = lp.solution()
    dual = sol[:m]
    margin = 1.0 - float(np.max(np.abs(As[:, off].T @ dual)))
    return MarginCertificate(dual / scale, margin)
