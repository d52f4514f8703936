"""Frozen, typed reports of the experiments in :mod:`dlncli.api` (docs/api.md).

Each report's ``to_dict()`` is exactly the JSON document of its command (``--json``), before
numpy values are converted by ``report.jsonable``; renderers in ``report.py`` read the fields.
Notation: A is (m, N), x is (N,), p the depth, alpha the initialization scale. Times are in
seconds; ``log10_*`` fields are base-10 logarithms; norms are of float64 vectors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dlncli import __version__
from dlncli.arrays import LN10, FloatArray, IntArray

if TYPE_CHECKING:  # result types of the core, named in the reports' fields
    from dlncli.bp.verdict import BPSolution
    from dlncli.dln.flow import SupportChange

# ln of the largest and smallest positive float64 (about 1.8e308 and 4.9e-324): e^v is a
# nonzero finite float exactly when LOG_TINY < v < LOG_HUGE.
LOG_HUGE = 709.0
LOG_TINY = -745.0
# The raw (u, v) flow and anything else that forms alpha^p in float64 needs
# 1e-300 < alpha^p < 1e300 with room for products: |p ln alpha| < ALPHA_P_LOG_BOUND.
ALPHA_P_LOG_BOUND = 700.0
# GD's stopping rule in a phase sweep (train's defaults, see dlncli.dln.train).
GD_MAX_STEPS = 100_000
GD_LOSS_TOL = 1e-28


def exp_or_none(log_value: float) -> float | None:
    """e^log_value when it is a nonzero finite float64, else None (JSON null)."""
    return math.exp(log_value) if LOG_TINY < log_value < LOG_HUGE else None


def alpha_p_fits_float(depth: float, log_alpha: float) -> bool:
    """Whether alpha^p = e^(p ln alpha) can be formed in float64 with room to spare:
    |p ln alpha| < ALPHA_P_LOG_BOUND (1e-300 < alpha^p < 1e300). The one place this is decided."""
    return -ALPHA_P_LOG_BOUND < depth * log_alpha < ALPHA_P_LOG_BOUND


@dataclass(frozen=True)
class ProblemInfo:
    """The problem a report is about: its ``name`` (file name or sample spec) and A's shape
    (``m`` rows = measurements, ``n`` columns = unknowns N)."""

    name: str
    m: int
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "m": self.m, "n": self.n}


# --------------------------------------------------------------------------- solve-bp


@dataclass(frozen=True)
class BPReport:
    """``solve-bp``: basis pursuit min ||x||_1 s.t. A x = y, certified.

    Attributes
    ----------
    problem : name and shape.
    solution : the solver's result (x (N,), dual lambda (m,), the face of minimizers, the
        verdict and its certificate, counters; see :class:`dlncli.bp.verdict.BPSolution`).
    correlations : (N,) A^T lambda, the dual certificate's correlations (|.| <= 1; = sign x_i
        on the face). Not in the JSON document.
    """

    problem: ProblemInfo
    solution: BPSolution
    correlations: FloatArray

    @property
    def x(self) -> FloatArray:
        """(N,) the minimizer found (a vertex of the face when BP is not unique)."""
        return self.solution.x

    @property
    def unique(self) -> bool | None:
        """True / False when certified; None when the verdict is undecided."""
        return self.solution.unique

    @property
    def message(self) -> str:
        """One line: the verdict in words."""
        sol = self.solution
        if sol.unique is None:
            return f"verdict {sol.certification}; dual margin {sol.margin:.3g}"
        if sol.unique:
            return f"unique minimizer with {sol.support.size} nonzeros"
        return (
            f"minimizers form a {sol.face.dimension}-dimensional face; "
            f"{sol.face.support.size} coordinates are nonzero somewhere on it"
        )

    def to_dict(self) -> dict[str, Any]:
        sol = self.solution
        face = sol.face
        record: dict[str, Any] = {
            "status": sol.status,
            "message": self.message,
            "problem": self.problem.to_dict(),
            "x": sol.x,
            "l1_norm": sol.l1_norm,
            "residual_inf": sol.residual_inf,
            "dual": sol.dual,
            "dual_inf_norm": sol.dual_inf_norm,
            "duality_gap": sol.duality_gap,
            "unique": sol.unique,
            "certified": sol.certified,
            "margin": sol.margin,
            "certification": sol.certification,
            "route": sol.route,
            "route_notes": list(sol.route_notes),
            "face_dimension": face.dimension,
            "support": sol.support,
            "signs": sol.signs,
            "face_support": face.support,
            "face_signs": face.signs,
            "face_interior_point": face.interior_point,
            "solver": sol.solver,
            "lp_solves": sol.lp_solves,
            "iterations": sol.iterations,
            "elapsed_s": sol.elapsed_s,
        }
        if face.ranges is not None:
            record["face_ranges"] = face.ranges
        return record


# --------------------------------------------------------------------------- flow


@dataclass(frozen=True)
class FlowReport:
    """``flow``: the DLN flow x = u^p - v^p from u = v = alpha and its exact limit x_alpha.

    Attributes
    ----------
    problem : name and shape.
    x : (N,) the reported point: the exact limit, the ODE state at t_end, or the raw (u, v)
        state (``x_source`` says which).
    x_source : "exact limit", "ODE state at t_end" or "raw (u, v) state at t_end".
    alpha : alpha as a float, None when it underflows/overflows float64.
    alpha_text : alpha as given (exact decimal text).
    log10_alpha, log10_alpha_p : log10 alpha and log10 alpha^p = p log10 alpha.
    depth : p >= 2.
    loss : 1/2 ||A x - y||^2 (None when not finite).
    residual_inf : ||A x - y||_inf.
    l1_norm : ||x||_1.
    converged : the limit solve (or the ODE) met its tolerance.
    method : "limit" (no ODE run), "ode", "raw" or "raw-lsoda".
    t_end, log10_t_end : the time integrated to (user units); t_end None beyond 1e300;
        both None when no ODE ran.
    limit_agreement : ||x_ode - x_alpha||_inf / (1 + ||x_alpha||_inf), None without an ODE run
        to convergence.
    reference : "bp" (unique minimizer) or "tie-break" (the depth's point on the BP face).
    distance_to_reference : ||x - x*||_inf.
    bp_unique : whether the BP minimizer is unique.
    certified, limit_route, certificate_step, certificate_error_bound (the first-order bound
        on the limit's error that certifies it), certificate_precision, face_correction :
        the exact limit's certificate (docs/limit.md); None for the raw methods, whose JSON
        lacks these keys.
    newton_iterations : Newton iterations of the limit solve.
    raw_steps : accepted integrator steps (raw methods only, else None and no key).
    support_changes : the saddle-to-saddle jumps: at t = 10**log10_t the active set
        {i : |x_i| >= 1% of ||x_end||_inf} became ``support``, with loss 1/2 ||A x - y||^2.
    message : notes joined by "; " (empty when there are none).
    elapsed_s : wall time of the whole computation, seconds.
    notes : lines worth showing on stderr (not in the JSON document).
    trajectory : with ``trajectory=True``: named arrays t (K,), log10_t (K,), loss (K,),
        x (K, N), and u, v, log_u, log_v where representable (not in the JSON document).
    """

    problem: ProblemInfo
    x: FloatArray
    x_source: str
    alpha: float | None
    alpha_text: str
    log10_alpha: float
    log10_alpha_p: float
    depth: float
    loss: float | None
    residual_inf: float
    l1_norm: float
    converged: bool
    method: str
    t_end: float | None
    log10_t_end: float | None
    limit_agreement: float | None
    reference: str
    distance_to_reference: float
    bp_unique: bool | None
    newton_iterations: int
    support_changes: tuple[SupportChange, ...]
    message: str
    elapsed_s: float
    certified: bool | None = None
    limit_route: str | None = None
    certificate_step: float | None = None
    certificate_error_bound: float | None = None
    certificate_precision: str | int | None = None
    face_correction: float | None = None
    raw_steps: int | None = None
    notes: tuple[str, ...] = ()
    trajectory: Mapping[str, FloatArray] | None = None
    init: str | None = None  # flow --init: the start's file name; then log_u0, log_v0 are set
    log_u0: FloatArray | None = None  # (N,) ln u(0) per coordinate
    log_v0: FloatArray | None = None  # (N,) ln v(0) per coordinate
    early_stop: EarlyStop | None = None  # with x_true or a hold-out (docs/noise.md)

    @property
    def is_raw(self) -> bool:
        """Whether x comes from the raw (u, v) integration (``--method raw``/``raw-lsoda``)."""
        return self.method.startswith("raw")

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "status": "ok",
            "problem": self.problem.to_dict(),
            "x": self.x,
            "x_source": self.x_source,
            "alpha": self.alpha,
            "alpha_text": self.alpha_text,
            "log10_alpha": self.log10_alpha,
            "log10_alpha_p": self.log10_alpha_p,
            "depth": self.depth,
            "loss": self.loss,
            "residual_inf": self.residual_inf,
            "l1_norm": self.l1_norm,
            "converged": self.converged,
            "method": self.method,
            "t_end": self.t_end,
            "log10_t_end": self.log10_t_end,
            "limit_agreement": self.limit_agreement,
            "reference": self.reference,
            "distance_to_reference": self.distance_to_reference,
            "bp_unique": self.bp_unique,
            "newton_iterations": self.newton_iterations,
            "support_changes": [
                {"log10_t": c.log10_t, "support": list(c.support), "loss": c.loss}
                for c in self.support_changes
            ],
            "message": self.message,
            "elapsed_s": self.elapsed_s,
        }
        if self.is_raw:
            record["raw_steps"] = self.raw_steps
        else:
            record.update(
                certified=self.certified,
                limit_route=self.limit_route,
                certificate_step=self.certificate_step,
                certificate_error_bound=self.certificate_error_bound,
                certificate_precision=self.certificate_precision,
                face_correction=self.face_correction,
            )
        if self.init is not None:
            record.update(init=self.init, log_u0=self.log_u0, log_v0=self.log_v0)
        if self.early_stop is not None:
            record["early_stopping"] = self.early_stop.to_dict()
        return record


# --------------------------------------------------------------------------- tie-break


@dataclass(frozen=True)
class VerifyRow:
    """``tie-break --verify``: at alpha^p = 10**log10_alpha_p (alpha = 10**log10_alpha) the
    flow's exact limit x_alpha is at ``distance`` = ||x_alpha - x*_p||_inf from the selection."""

    log10_alpha_p: float
    log10_alpha: float
    distance: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "log10_alpha_p": self.log10_alpha_p,
            "log10_alpha": self.log10_alpha,
            "distance": self.distance,
        }


@dataclass(frozen=True)
class TieBreakReport:
    """``tie-break``: the face of BP minimizers and the point x*_p each depth selects.

    Attributes
    ----------
    problem : name and shape.
    labels : the depths as given ("2", "2.5", "inf", ...), the keys of the mappings below.
    depths : the depths as numbers, in the order of ``labels``.
    unique : the BP minimizer is unique (every depth selects it).
    face_dimension : dimension of the face of minimizers (0 when unique).
    l1_norm : min ||x||_1.
    support : (k,) coordinates J nonzero somewhere on the face, sorted.
    signs : (k,) their signs (+1/-1).
    ranges : (k, 2) [min, max] of x_i over the face for i in J.
    selected : label -> (N,) x*_p.
    distances : label -> label -> ||x*_p - x*_q||_inf.
    newton_iterations : label -> Newton iterations of the selection.
    elapsed_s : seconds of the BP solve and the selections (not --verify).
    notes : remarks (also in the JSON document).
    verify : with ``verify=True``: label -> the flow's limits at alpha^p = 1e-2, 1e-4, 1e-8,
        1e-16 against x*_p; None otherwise (no key in the JSON document).
    """

    problem: ProblemInfo
    labels: tuple[str, ...]
    depths: tuple[float, ...]
    unique: bool
    face_dimension: int
    l1_norm: float
    support: IntArray
    signs: FloatArray
    ranges: FloatArray | None
    selected: Mapping[str, FloatArray]
    distances: Mapping[str, Mapping[str, float]]
    newton_iterations: Mapping[str, int]
    elapsed_s: float
    notes: tuple[str, ...] = ()
    verify: Mapping[str, tuple[VerifyRow, ...]] | None = None

    @property
    def x(self) -> Mapping[str, FloatArray]:
        """Depth label -> (N,) the minimizer that depth selects (``selected``)."""
        return self.selected

    @property
    def message(self) -> str:
        """One line: unique, or the face's dimension."""
        if self.unique:
            return "unique minimizer: every depth selects it"
        return f"{self.face_dimension}-dimensional face; one point per depth"

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "status": "ok",
            "message": self.message,
            "problem": self.problem.to_dict(),
            "unique": self.unique,
            "face_dimension": self.face_dimension,
            "l1_norm": self.l1_norm,
            "support": self.support,
            "signs": self.signs,
            "ranges": self.ranges,
            "selected": dict(self.selected),
            "distances": {a: dict(row) for a, row in self.distances.items()},
            "newton_iterations": dict(self.newton_iterations),
            "elapsed_s": self.elapsed_s,
            "notes": list(self.notes),
        }
        if self.verify is not None:
            record["verify"] = {
                label: [row.to_dict() for row in rows] for label, rows in self.verify.items()
            }
        return record


# --------------------------------------------------------------------------- compare


@dataclass(frozen=True)
class CompareRowReport:
    """One (problem, depth, alpha) point of ``compare``.

    Attributes
    ----------
    problem : the problem's name.
    depth : p.
    log10_alpha, log10_alpha_p : log10 alpha and p log10 alpha; ``alpha`` is 10**log10_alpha
        (None below 1e-300).
    error_l2, error_inf : ||x - x*||_2 and ||x - x*||_inf, x the limit (or ODE end-point).
    l1_gap : ||x||_1 - min ||x||_1.
    residual_inf : ||A x - y||_inf.
    converged : the solve met its tolerance.
    source : "limit", "ode" (to convergence) or "ode at t_end".
    log10_t_end, t_end : the finite horizon of ``t_end_rule`` (None without one; t_end None
        beyond 1e300).
    limit_error_l2 : with a horizon, the exact limit's ||x_alpha - x*||_2 beside it.
    """

    problem: str
    depth: float
    log10_alpha: float
    log10_alpha_p: float
    error_l2: float
    error_inf: float
    l1_gap: float
    residual_inf: float
    converged: bool
    source: str
    log10_t_end: float | None
    limit_error_l2: float | None

    @property
    def alpha(self) -> float | None:
        return exp_or_none(self.log10_alpha * LN10)

    @property
    def t_end(self) -> float | None:
        return None if self.log10_t_end is None else exp_or_none(self.log10_t_end * LN10)

    def to_dict(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "depth": self.depth,
            "alpha": self.alpha,
            "log10_alpha": self.log10_alpha,
            "log10_alpha_p": self.log10_alpha_p,
            "error_l2": self.error_l2,
            "error_inf": self.error_inf,
            "l1_gap": self.l1_gap,
            "residual_inf": self.residual_inf,
            "converged": self.converged,
            "source": self.source,
            "log10_t_end": self.log10_t_end,
            "t_end": self.t_end,
            "limit_error_l2": self.limit_error_l2,
        }


@dataclass(frozen=True)
class FitReport:
    """The fitted rate of one (problem, depth): log-log ``slope`` of error_l2 against alpha^p
    over ``points`` asymptotic grid points (None below 2), theory's ``predicted_slope``,
    whether they ``agree`` (within 0.1), and ``break_log10_alpha_p``, where the error first
    falls below half its value at the largest alpha (None if never on the grid)."""

    problem: str
    depth: float
    slope: float | None
    predicted_slope: float
    agrees: bool
    points: int
    break_log10_alpha_p: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "problem": self.problem,
            "depth": self.depth,
            "slope": self.slope,
            "predicted_slope": self.predicted_slope,
            "agrees": self.agrees,
            "points": self.points,
            "break_log10_alpha_p": self.break_log10_alpha_p,
        }


@dataclass(frozen=True)
class ProblemComparison:
    """``compare`` for one problem.

    Attributes
    ----------
    problem : name and shape.
    reference : "bp" (unique minimizer) or "tie-break" (each depth's point on the face).
    dual_margin : gamma, the largest dual margin 1 - max_{i not in J} |a_i^T lambda|.
    l1_min : min ||x||_1.
    off_face_coordinates : N - |J|, coordinates outside the BP face.
    rows, fits : the grid's errors and each depth's fitted rate.
    elapsed_s : seconds for this problem.
    t_end_rule : the horizon rule's text, or None.
    """

    problem: ProblemInfo
    reference: str
    dual_margin: float
    l1_min: float
    off_face_coordinates: int
    rows: tuple[CompareRowReport, ...]
    fits: tuple[FitReport, ...]
    elapsed_s: float
    t_end_rule: str | None

    def to_dict(self) -> dict[str, Any]:
        """This problem's entry of the document's ``problems`` list (rows and fits apart)."""
        return {
            "problem": self.problem.to_dict(),
            "reference": self.reference,
            "dual_margin": self.dual_margin,
            "l1_min": self.l1_min,
            "off_face_coordinates": self.off_face_coordinates,
            "elapsed_s": self.elapsed_s,
            "t_end_rule": self.t_end_rule,
        }


@dataclass(frozen=True)
class CompareReport:
    """``compare``: the flow's limit against BP across alpha and depth, for 1+ problems.

    Attributes
    ----------
    problems : one comparison per problem, in order.
    method : "limit", "ode" (to convergence) or "horizon" (a ``t_end_rule``).
    t_end_rule : the horizon rule's text, or None.
    fail_above : the gate's tolerance on error_l2 at each depth's smallest alpha, or None.
    failures : one line per gate failure (empty: passed or no gate).
    """

    problems: tuple[ProblemComparison, ...]
    method: str
    t_end_rule: str | None
    fail_above: float | None
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """The gate passed (always True without ``fail_above``)."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        single = len(self.problems) == 1
        first = self.problems[0]
        return {
            "status": "ok" if self.passed else "failed",
            "message": "; ".join(self.failures) if self.failures else "all checks passed",
            "method": self.method,
            "t_end_rule": self.t_end_rule,
            "reference": first.reference
            if single
            else {c.problem.name: c.reference for c in self.problems},
            "dual_margin": first.dual_margin
            if single
            else {c.problem.name: c.dual_margin for c in self.problems},
            "rows": [row.to_dict() for c in self.problems for row in c.rows],
            "fits": [fit.to_dict() for c in self.problems for fit in c.fits],
            "problems": [c.to_dict() for c in self.problems],
            "fail_above": self.fail_above,
        }


# --------------------------------------------------------------------------- path


@dataclass(frozen=True)
class Saddle:
    """One saddle of the path: x° on the interval [tau, next tau).

    x : (N,) the saddle.  support : coordinates with x_i != 0.  entered / left : support
    changes against the previous saddle.  hit : coordinates whose |q_i| reached 1 at tau
    (several: a tie).  face_dimension : dimension of the set of NNLS minimizers (0: unique);
    when positive, x is the depth's tie-break point of that face (``selection``).
    t / log10_t : physical time for a given alpha.  observed_tau : the ODE's rescaled jump time.
    """

    tau: float
    x: FloatArray
    loss: float
    support: tuple[int, ...]
    entered: tuple[int, ...]
    left: tuple[int, ...]
    hit: tuple[int, ...]
    face_dimension: int
    selection: str
    vertex_distance: float  # ||x - active-set vertex||_inf (0 unless face_dimension > 0)
    nnls_iterations: int  # Lawson-Hanson iterations at this event (warm start: about |hit| + 1)
    t: float | None = None
    log10_t: float | None = None
    observed_tau: float | None = None

    def to_dict(self, *, timed: bool, checked: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tau": self.tau,
            "x": self.x.tolist(),
            "loss": self.loss,
            "support": list(self.support),
            "entered": list(self.entered),
            "left": list(self.left),
            "hit": list(self.hit),
            "face_dimension": self.face_dimension,
            "selection": self.selection,
            "vertex_distance": self.vertex_distance,
            "nnls_iterations": self.nnls_iterations,
        }
        if timed:
            out["t"] = self.t
            out["log10_t"] = self.log10_t
        if checked:
            out["observed_tau"] = self.observed_tau
        return out


@dataclass(frozen=True)
class PathCheck:
    """The ODE at one alpha against the path: rescaled trajectory and observed jump times."""

    log10_alpha: float
    reachable: bool
    converged: bool
    observed_tau: tuple[float | None, ...]  # one per saddle; None for saddle 0 or no crossing
    max_tau_deviation: float | None
    end_distance: float | None  # ||x_ODE(end) - last saddle||_inf
    log10_tau: FloatArray = field(repr=False)  # (K,) recorded rescaled times
    xs: FloatArray = field(repr=False)  # (K, N)
    losses: FloatArray = field(repr=False)  # (K,)
    message: str = ""


@dataclass(frozen=True)
class PathReport:
    """Result of :func:`path`; ``to_dict()`` is the ``dlncli path --json`` document."""

    depth: float
    saddles: tuple[Saddle, ...]
    certificate: FloatArray  # (m,) lambda(tau_end) = int r dtau; q = A^T lambda
    bp_x: FloatArray | None  # (N,) solve-bp's minimizer (None: compare_bp=False)
    bp_unique: bool
    bp_distance: float | None  # ||x_end - bp_x||_inf
    tiebreak_x: FloatArray  # (N,) the depth's tie-break point of the BP face (lp + tiebreak)
    tiebreak_distance: float | None  # ||x_end - tiebreak_x||_inf
    end_vertex_distance: float  # ||active-set vertex at the end - tiebreak_x||_inf
    log10_alpha: float | None
    check: PathCheck | None
    notes: tuple[str, ...]
    bp_elapsed_s: float  # of elapsed_s, the time spent in solve-bp (0 when ``bp`` was given)
    elapsed_s: float
    problem: ProblemInfo | None = None  # set by dlncli.path

    def arrays(self) -> dict[str, FloatArray]:
        """``path --output FILE.npz/.csv``: the saddles' tau (K,), loss (K,) and x (K, N)."""
        return {
            "tau": np.array([s.tau for s in self.saddles]),
            "loss": np.array([s.loss for s in self.saddles]),
            "x": np.array([s.x for s in self.saddles]),
        }

    @property
    def x(self) -> FloatArray:
        return self.saddles[-1].x

    @property
    def max_tau_deviation(self) -> float | None:
        return None if self.check is None else self.check.max_tau_deviation

    def to_dict(self) -> dict[str, Any]:
        timed = self.log10_alpha is not None
        checked = self.check is not None
        out: dict[str, Any] = {
            "status": "ok",
            "message": f"{len(self.saddles) - 1} jumps; the last saddle is a BP minimizer",
            "depth": self.depth,
            "saddles": [s.to_dict(timed=timed, checked=checked) for s in self.saddles],
            "events": len(self.saddles) - 1,
            "tau_end": self.saddles[-1].tau,
            "certificate": self.certificate.tolist(),
            "bp_unique": self.bp_unique,
            "bp_distance": self.bp_distance,
            "tiebreak_distance": self.tiebreak_distance,
            "end_vertex_distance": self.end_vertex_distance,
            "notes": list(self.notes),
            **({} if self.problem is None else {"problem": self.problem.to_dict()}),
            "bp_elapsed_s": self.bp_elapsed_s,
            "elapsed_s": self.elapsed_s,
        }
        if timed:
            out["log10_alpha"] = self.log10_alpha
        if self.check is not None:
            out["check_log10_alpha"] = self.check.log10_alpha
            out["max_tau_deviation"] = self.check.max_tau_deviation
            out["check_end_distance"] = self.check.end_distance
            out["check_converged"] = self.check.converged
        return out


# --------------------------------------------------------------------------- potentials


@dataclass(frozen=True)
class PotentialCurve:
    """One depth's functions: h on the z grid, and q, g on the grid w = h_p(z)."""

    depth: float
    z: FloatArray = field(repr=False)  # (K,)
    h: FloatArray = field(repr=False)  # (K,) h_p(z)
    w: FloatArray = field(repr=False)  # (K,) where q and g are evaluated
    q: FloatArray = field(repr=False)  # (K,) q_p(w)
    g: FloatArray = field(repr=False)  # (K,) g_p(w)

    def to_dict(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "z": self.z.tolist(),
            "h": self.h.tolist(),
            "w": self.w.tolist(),
            "q": self.q.tolist(),
            "g": self.g.tolist(),
        }


@dataclass(frozen=True)
class PotentialsReport:
    """The potentials command's result; ``to_dict()`` is its JSON document."""

    curves: tuple[PotentialCurve, ...]
    elapsed_s: float
    # The paper's figure 3 (potentials(figure=True)): h on a fine z grid, q and g on a w grid.
    figure_h: tuple[PotentialCurve, ...] = field(default=(), repr=False)
    figure_w: tuple[PotentialCurve, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "message": f"h_p, q_p and g_p for {len(self.curves)} depth(s)",
            "curves": [c.to_dict() for c in self.curves],
            "elapsed_s": self.elapsed_s,
        }


# --------------------------------------------------------------------------- theory


@dataclass(frozen=True)
class TheoryReport:
    """rho_W at each requested delta (``dlncli phase --theory``)."""

    deltas: tuple[float, ...]
    rhos: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "message": "asymptotic weak threshold of basis pursuit, signed vectors",
            "theory": [{"delta": d, "rho": r} for d, r in zip(self.deltas, self.rhos, strict=True)],
        }


@dataclass(frozen=True)
class NoiseTheoryReport:
    """``dlncli phase --theory --noise SIGMA``: the lasso's minimax noise sensitivity
    M*(delta, rho) on the (delta, rho) grid with rho_W(delta) (``table`` is a
    noise.theory.NoiseSensitivityReport); sigma^2 M* is the MSE per coordinate at this sigma."""

    noise: float
    table: Any  # dlncli.noise.theory.NoiseSensitivityReport

    def to_dict(self) -> dict[str, Any]:
        sigma2 = self.noise * self.noise
        points = []
        for point in self.table.points:
            entry = point.to_dict()
            bound = entry["minimax_mse"]
            entry["mse"] = None if bound is None else sigma2 * bound
            points.append(entry)
        rho_w = {p.delta: p.rho_w for p in self.table.points}
        return {
            "status": "ok",
            "message": (
                "lasso minimax noise sensitivity: MSE per coordinate = sigma^2 minimax_mse "
                "(null at and above rho_W)"
            ),
            "noise": self.noise,
            "theory": [{"delta": d, "rho": r} for d, r in rho_w.items()],
            "noise_sensitivity": points,
        }


# --------------------------------------------------------------------------- train


@dataclass(frozen=True)
class TrainReport:
    """The outcome of :func:`train`. Vectors are (N,); distances are max-norms.

    x : the last iterate u^p - v^p.  steps : steps taken.  loss : its loss 1/2 ||A x - y||^2.
    converged : loss <= tol * 1/2 ||y||^2.  diverged : the loss became non-finite or exploded,
    or a step left u, v > 0 (``message`` names the step and 2 / lambda_max at the start).
    effective_log_u, effective_log_v : ln u_eff, ln v_eff (None if diverged).
    predicted_x : the flow limit from (u_eff, v_eff) (None unless converged).
    prediction_error : max |x - predicted_x| (None unless converged).
    flow_limit_distance : max |x - x_alpha| to the balanced flow limit at the nominal alpha.
    bp_distance : max |x - x_BP| to basis pursuit's minimizer; when BP's minimizers form a
        face, to the point of the face the depth's flow selects as alpha -> 0
        (``bp_reference`` "tie-break", docs/model.md §4).
    sharpness : eta lambda_max(Hessian of L in (u, v)) at the last iterate.
    stability_bound : 2 / lambda_max at the start (a step size above it diverges at once).
    loop_s : seconds spent in the steps themselves (``elapsed_s`` adds lambda_max and limits).
    loss_curve : (steps + 1,) the full loss before each step and after the last one.
    """

    x: FloatArray
    steps: int
    loss: float
    converged: bool
    diverged: bool
    lr: float
    batch: int | None
    seed: int | None
    alpha: float
    log_alpha: float
    depth: float
    effective_log_u: FloatArray | None
    effective_log_v: FloatArray | None
    predicted_x: FloatArray | None
    prediction_error: float | None
    flow_limit_distance: float | None
    bp_distance: float | None
    sharpness: float | None
    stability_bound: float
    elapsed_s: float
    message: str = ""
    bp_reference: str = "bp"
    loop_s: float = 0.0
    loss_curve: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    problem: ProblemInfo | None = None  # set by dlncli.train
    alpha_text: str | None = None  # alpha as given to dlncli.train
    early_stop: EarlyStop | None = None  # with x_true or a hold-out (docs/noise.md)

    @property
    def status(self) -> str:
        return "diverged" if self.diverged else "converged" if self.converged else "max-steps"

    def trajectory_arrays(self) -> dict[str, FloatArray]:
        """The ``--trajectory`` file's columns: step (steps + 1,) and loss (steps + 1,)."""
        curve = self.loss_curve
        out = {"step": np.arange(curve.size, dtype=np.float64), "loss": curve}
        if self.early_stop is not None:
            stop = self.early_stop
            out |= {"error": stop.errors} if stop.errors is not None else {}
            out |= {"holdout_loss": stop.holdout_losses} if stop.holdout_losses is not None else {}
        return out

    def to_dict(self) -> dict[str, Any]:
        def vec(v: FloatArray | None) -> list[float] | None:
            return None if v is None else [float(t) for t in v]

        named = {} if self.problem is None else {"problem": self.problem.name}
        given = {} if self.alpha_text is None else {"alpha_text": self.alpha_text}
        return {
            **named,
            **given,
            "status": self.status,
            "message": self.message,
            "x": vec(self.x),
            "steps": self.steps,
            "loss": self.loss,
            "converged": self.converged,
            "diverged": self.diverged,
            "lr": self.lr,
            "batch": self.batch,
            "seed": self.seed,
            "alpha": self.alpha,
            "log_alpha": self.log_alpha,
            "depth": self.depth,
            "effective_log_u": vec(self.effective_log_u),
            "effective_log_v": vec(self.effective_log_v),
            "predicted_x": vec(self.predicted_x),
            "prediction_error": self.prediction_error,
            "flow_limit_distance": self.flow_limit_distance,
            "bp_distance": self.bp_distance,
            "bp_reference": self.bp_reference,
            "sharpness": self.sharpness,
            "stability_bound": self.stability_bound,
            "elapsed_s": self.elapsed_s,
            "loop_elapsed_s": self.loop_s,
            **({} if self.early_stop is None else {"early_stopping": self.early_stop.to_dict()}),
        }


# --------------------------------------------------------------------------- sweep


@dataclass(frozen=True)
class Variant:
    """One method with its parameters; unused parameters are None.

    depth : p >= 2.  log_alpha : ln(alpha).  alpha_text : alpha as the user typed it.
    lr : GD step size eta, or with ``lr_relative`` the fraction of each instance's stability
    bound 2 / lambda_max at the start (eta = lr * 2 / lambda_max).
    """

    method: str
    depth: float | None = None
    log_alpha: float | None = None
    alpha_text: str | None = None
    lr: float | None = None
    lr_relative: bool = False

    @property
    def key(self) -> tuple[str, float, float, float, int]:
        """The store's key part; unused parameters are 0 (see phase_store)."""
        return (
            self.method,
            self.depth or 0.0,
            self.log_alpha or 0.0,
            self.lr or 0.0,
            int(self.lr_relative),
        )

    @property
    def label(self) -> str:
        parts = [self.method]
        if self.depth is not None:
            parts.append(f"p={self.depth:g}")
        if self.alpha_text is not None:
            parts.append(f"α={self.alpha_text}")
        if self.lr is not None:
            parts.append(f"η={self.lr:g}·η_max" if self.lr_relative else f"η={self.lr:g}")
        return " ".join(parts)


@dataclass(frozen=True)
class GdBudget:
    """GD's stopping rule in a sweep: at most ``max_steps`` steps, converged when the loss is
    <= ``loss_tol`` * 1/2 ||y||^2 (train's ``max_steps`` and ``tol``)."""

    max_steps: int = GD_MAX_STEPS
    loss_tol: float = GD_LOSS_TOL


@dataclass(frozen=True)
class CellSummary:
    """Successes of one variant in one cell (delta = m / N, rho = k / m as realized).

    failed : solver errors; diverged : GD runs that diverged (both no success);
    unconverged : GD runs stopped at the step budget (judged on their last iterate);
    sharpness_median : GD, the median over the trials that did not diverge of eta lambda_max
    at the end (2 is the edge of stability); lr_used_median : GD, the median step size eta.
    noise : the sweep's sigma.  mse : the mean over the ``mse_trials`` trials that returned an
    x_hat (all but failed and diverged ones) of ||x_hat - x||^2 / N.  minimax_mse : with noise,
    the lasso's asymptotic minimax M*(delta, rho) at the realized delta and rho (None without
    noise and where it is infinite, at and above rho_W(delta)).
    """

    delta: float
    rho: float
    m: int
    k: int
    variant: Variant
    trials: int
    successes: int
    failed: int
    diverged: int = 0
    unconverged: int = 0
    sharpness_median: float | None = None
    lr_used_median: float | None = None
    noise: float = 0.0
    mse: float | None = None
    mse_trials: int = 0
    minimax_mse: float | None = None

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else 0.0

    @property
    def mse_sigma2(self) -> float | None:
        """mse / sigma^2, the MSE per coordinate in units of the noise variance (None without
        noise or without a trial that returned an x_hat)."""
        if self.mse is None or self.noise == 0.0:
            return None
        return self.mse / (self.noise * self.noise)

    def to_dict(self) -> dict[str, Any]:
        return {
            "delta": self.delta,
            "rho": self.rho,
            "m": self.m,
            "k": self.k,
            **_variant_dict(self.variant),
            "trials": self.trials,
            "successes": self.successes,
            "failed": self.failed,
            "diverged": self.diverged,
            "unconverged": self.unconverged,
            "sharpness_median": self.sharpness_median,
            "lr_used_median": self.lr_used_median,
            "rate": self.rate,
            "noise": self.noise,
            "mse": self.mse,
            "mse_trials": self.mse_trials,
            "mse_sigma2": self.mse_sigma2,
            "minimax_mse": self.minimax_mse,
        }


@dataclass(frozen=True)
class Transition:
    """The empirical 50 % point of one variant at one delta, beside the theory's rho_W."""

    delta: float
    m: int
    variant: Variant
    rho_50: float | None  # None when the rate never crosses 1/2 on the rho grid
    rho_theory: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "delta": self.delta,
            "m": self.m,
            **_variant_dict(self.variant),
            "rho_50": self.rho_50,
            "rho_theory": self.rho_theory,
        }


def _variant_dict(v: Variant) -> dict[str, Any]:
    alpha = None
    if v.log_alpha is not None and -745.0 < v.log_alpha < 709.0:
        alpha = math.exp(v.log_alpha)
    return {
        "method": v.method,
        "depth": v.depth,
        "alpha": alpha,
        "alpha_text": v.alpha_text,
        "log10_alpha": None if v.log_alpha is None else v.log_alpha / LN10,
        "lr": v.lr,
        "lr_relative": v.lr_relative,
        "label": v.label,
    }


@dataclass(frozen=True)
class PhaseReport:
    """Result of :func:`phase`; ``to_dict()`` is the ``dlncli phase --json`` document."""

    n: int
    seed: int
    trials: int
    success_tol: float
    variants: tuple[Variant, ...]
    cells: tuple[CellSummary, ...]
    transitions: tuple[Transition, ...]
    reused: int
    computed: int
    elapsed_s: float
    solve_s: float  # seconds spent inside solvers for the computed trials (all workers)
    backend: str
    store: str | None
    failed: int = field(default=0)
    delta_grid: tuple[float, ...] = ()  # as requested (cells hold the realized m / N)
    rho_grid: tuple[float, ...] = ()  # as requested (cells hold the realized k / m)
    gd: GdBudget = field(default_factory=GdBudget)
    diverged: int = 0
    unconverged: int = 0
    noise: float = 0.0  # sigma: y = A x + sigma z

    def to_dict(self) -> dict[str, Any]:
        message = f"{self.reused + self.computed} trials ({self.reused} from the store)"
        if self.noise:
            message += f"; noise sigma = {self.noise:g}"
        if self.failed:
            message += f"; {self.failed} solver failures counted as no recovery"
        if self.diverged:
            message += f"; {self.diverged} GD runs diverged (no recovery)"
        if self.unconverged:
            message += (
                f"; {self.unconverged} GD runs stopped at {self.gd.max_steps} steps above the "
                "loss target (judged on their last iterate)"
            )
        return {
            "status": "ok",
            "message": message,
            "n": self.n,
            "seed": self.seed,
            "trials": self.trials,
            "success_tol": self.success_tol,
            "noise": self.noise,
            "delta_grid": list(self.delta_grid),
            "rho_grid": list(self.rho_grid),
            "cells": [c.to_dict() for c in self.cells],
            "transitions": [t.to_dict() for t in self.transitions],
            "reused": self.reused,
            "computed": self.computed,
            "failed": self.failed,
            "diverged": self.diverged,
            "unconverged": self.unconverged,
            "gd_max_steps": self.gd.max_steps,
            "gd_loss_tol": self.gd.loss_tol,
            "elapsed_s": self.elapsed_s,
            "solve_s": self.solve_s,
            "backend": self.backend,
            "store": self.store,
            "dlncli_version": __version__,
        }


# --------------------------------------------------------------------------- JSON


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays (recursively) to JSON-ready Python values.

    Non-finite floats become None so that ``allow_nan=False`` never fails on a result.
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    return value


def dump_json(record: Mapping[str, Any]) -> str:
    return json.dumps(jsonable(record), indent=2, sort_keys=True, allow_nan=False)


# --------------------------------------------------------------------------- compare --method gd


@dataclass(frozen=True)
class CompareGdReport:
    """``compare --method gd``: GD at one alpha, per problem and depth, across step sizes
    (each record's ``sweep`` is a :class:`dlncli.dln.train.StepSweep`)."""

    alpha_text: str
    records: tuple[tuple[ProblemInfo, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "method": "gd",
            "alpha_text": self.alpha_text,
            "records": [
                {"problem": info.to_dict(), "alpha_text": self.alpha_text, **sweep.to_dict()}
                for info, sweep in self.records
            ],
        }


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class SamplesReport:
    """``dlncli samples``: every built-in sample name or pattern with its description."""

    default: str
    descriptions: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"status": "ok", "default": self.default, "samples": dict(self.descriptions)}


# --------------------------------------------------------------------------- early stopping


@dataclass(frozen=True)
class EarlyStop:
    """Early stopping along one run (``dlncli.dln.early_stop``, docs/noise.md).

    Attributes
    ----------
    time_unit : "step" (GD) or "t" (the flow's time).
    times : (K,) the recorded times; errors : (K,) ||x(t) - x_true||_2, None without x_true;
        holdout_losses : (K,) 1/2 ||A_hold x(t) - y_hold||^2, None without a hold-out.
        The three curves go to --trajectory, not to the JSON document.
    oracle_time, oracle_error : the recorded time of the smallest error, and that error.
    window_lo, window_hi : the times where the error is within 10 % of its minimum (first
        and last, interpolated in ln t); ``window_ratio`` = window_hi / window_lo.
    holdout_fraction, holdout_rows : the share and indices of the rows kept out of training.
    holdout_time, holdout_error : the recorded time of the smallest held-out loss, and the
        error there (None without x_true).
    """

    time_unit: str
    times: FloatArray = field(repr=False)
    errors: FloatArray | None = field(repr=False)
    holdout_losses: FloatArray | None = field(repr=False)
    oracle_time: float | None
    oracle_error: float | None
    window_lo: float | None
    window_hi: float | None
    holdout_fraction: float | None
    holdout_rows: tuple[int, ...]
    holdout_time: float | None
    holdout_error: float | None
    # The iterate at the hold-out stop (with a hold-out), else at the oracle stop (GD keeps it).
    stop_x: FloatArray | None = field(default=None, repr=False)

    @property
    def window_ratio(self) -> float | None:
        if self.window_lo is None or self.window_hi is None or self.window_lo <= 0:
            return None
        return self.window_hi / self.window_lo

    def curves(self) -> dict[str, FloatArray]:
        """The --trajectory columns: the recorded times and what was measured at them."""
        out = {f"es_{self.time_unit}": self.times}
        if self.errors is not None:
            out["es_error"] = self.errors
        if self.holdout_losses is not None:
            out["es_holdout_loss"] = self.holdout_losses
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "time_unit": self.time_unit,
            "oracle_time": self.oracle_time,
            "oracle_error": self.oracle_error,
            "window_lo": self.window_lo,
            "window_hi": self.window_hi,
            "window_ratio": self.window_ratio,
            "holdout_fraction": self.holdout_fraction,
            "holdout_rows": list(self.holdout_rows),
            "holdout_time": self.holdout_time,
            "holdout_error": self.holdout_error,
        }


# --------------------------------------------------------------------------- recover


@dataclass(frozen=True)
class RecoverRow:
    """One estimator of x_true in ``recover``: its error and support recovery.

    method : "dln" (GD on the network, stopped early), "lasso-cv", "bpdn", "ls-oracle".
    depth : p for "dln", else None.  stop : "oracle" / "hold-out" for "dln", else "".
    error_l2 : ||x_hat - x_true||_2;  mse : error_l2^2 / N (per coordinate).
    false_positives, false_negatives : |x_hat_i| > threshold off the support of x_true, and
        <= threshold on it.  detail : how it was chosen (the step, lambda, sigma_est).
    time_s : seconds of this estimator (a DLN row: its run).
    """

    method: str
    depth: float | None
    stop: str
    error_l2: float
    mse: float
    false_positives: int
    false_negatives: int
    detail: str
    time_s: float
    x: FloatArray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "depth": self.depth,
            "stop": self.stop,
            "error_l2": self.error_l2,
            "mse": self.mse,
            "false_positives": self.false_positives,
            "false_negatives": self.false_negatives,
            "detail": self.detail,
            "time_s": self.time_s,
        }


@dataclass(frozen=True)
class RecoverReport:
    """``recover``: early-stopped DLNs against the lasso (lambda by cross-validation), BPDN and
    the least-squares oracle on a problem with a known x_true (docs/noise.md).

    sigma : the noise level used for BPDN (None: not known, no BPDN row).
    threshold : the support threshold of the false positive / negative counts.
    rows : one per estimator.  curves : depth label -> the oracle run's early stop (its
        error curve for --plot).  notes : remarks (a CV choice at its grid's end, ...).
    """

    problem: ProblemInfo
    sigma: float | None
    threshold: float
    support_size: int
    rows: tuple[RecoverRow, ...]
    curves: Mapping[str, EarlyStop] = field(repr=False)
    notes: tuple[str, ...]
    elapsed_s: float

    @property
    def x(self) -> Mapping[str, FloatArray]:
        """Row label -> its estimate x_hat (N,)."""
        return {_row_label(row): row.x for row in self.rows}

    def to_dict(self) -> dict[str, Any]:
        best = min(self.rows, key=lambda row: row.error_l2)
        return {
            "status": "ok",
            "message": f"smallest error: {_row_label(best)} ({best.error_l2:.3g})",
            "problem": self.problem.to_dict(),
            "sigma": self.sigma,
            "threshold": self.threshold,
            "support_size": self.support_size,
            "rows": [row.to_dict() for row in self.rows],
            "notes": list(self.notes),
            "elapsed_s": self.elapsed_s,
        }


def _row_label(row: RecoverRow) -> str:
    if row.method == "dln":
        return f"dln p={row.depth:g} {row.stop}"
    return row.method
