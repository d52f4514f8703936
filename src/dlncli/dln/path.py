"""The alpha -> 0 limit of the DLN flow: an exact saddle-to-saddle path (docs/path.md).

Notation: A is (m, N), y is (m,), p >= 2 the depth. With the rescaled time
tau = 2 t / ln(1/alpha) (p = 2) or tau = p (p - 2) alpha^(p-2) t (p > 2), the flow of
x = u^p - v^p from u = v = alpha converges, as alpha -> 0, to a piecewise-constant path x°(tau)
driven by a dual state q(tau) in [-1, 1]^N:

    q(0) = 0,   dq/dtau = g = A^T (y - A x°)   (zero on the active set E = {|q_i| = 1}),
    x° = argmin 1/2 ||A x - y||^2  s.t.  x_i = 0 off E,  q_i x_i >= 0 on E.

q moves on straight lines between events, so event times are exact: the next event is the
smallest tau at which an inactive q_i reaches +-1. The constrained least-squares problem is a
non-negative least-squares (NNLS) problem in w = s * x (s = q on E), solved by Lawson-Hanson's
active-set method, warm-started from the previous saddle, with a thin QR factorisation of the
passive columns updated by one column at a time (Gram-Schmidt twice to append, Givens rotations
to delete): O(m N + m k) per event. Where the NNLS minimizers form a face of positive dimension
the flow selects the depth's tie-break point of that face (docs/path.md §4), computed with the
BP and tie-break code of lp.py and tiebreak.py.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from dlncli.arrays import LN10, FloatArray, IntArray
from dlncli.errors import InfeasibleError, SolverError, TimeLimitError
from dlncli.reports import PathCheck, PathReport, Saddle

if TYPE_CHECKING:
    from dlncli.bp.verdict import BPSolution
    from dlncli.dln.flow import FlowResult


# Inactive coordinates whose hitting times agree to this relative accuracy join together (a tie).
TIE_RTOL = 1e-12
# |g_i| below GRAD_RTOL * ||A||_col * ||y|| counts as zero (the NNLS optimality tolerance).
GRAD_RTOL = 1e-10
# A column whose component orthogonal to the passive columns is below this fraction of its
# norm is dependent on them (exactly: its NNLS gradient vanishes, so it cannot enter).
DEPENDENT_RTOL = 1e-10
# When the ODE's own convergence test stops it before the last jump, integrate to this
# multiple of the path's last event time instead.
END_FACTOR = 100.0


# --------------------------------------------------------------------------- time scale


def log10_tau_rate(depth: float, log_alpha: float) -> float:
    """log10 of tau / t: 2 / ln(1/alpha) (p = 2) or p (p - 2) alpha^(p-2) (p > 2).

    Needs alpha < 1 for p = 2 (ln(1/alpha) > 0).
    """
    if depth == 2.0:
        if log_alpha >= 0:
            raise ValueError(f"the p = 2 time scale needs alpha < 1, got ln(alpha) = {log_alpha}")
        return math.log10(2.0 / -log_alpha)
    return math.log10(depth * (depth - 2.0)) + (depth - 2.0) * log_alpha / LN10


# --------------------------------------------------------------------------- thin QR


class _ThinQR:
    """B_P = Q R for the passive columns, Q stored as rows (Qt, (k, m)), R (k, k) upper
    triangular; append in O(m k) (classical Gram-Schmidt twice), delete in O(m k) (Givens)."""

    def __init__(self, m: int, capacity: int) -> None:
        self.Qt = np.zeros((capacity, m))
        self.R = np.zeros((capacity, capacity))
        self.k = 0

    def append(self, column: FloatArray) -> bool:
        """Add a column; False (and no change) when it is dependent on the others."""
        k = self.k
        if k == self.Qt.shape[0]:
            return False
        norm = float(np.linalg.norm(column))
        v = column.copy()
        coeffs = np.zeros(k)
        for _ in range(2):
            c = self.Qt[:k] @ v
            v -= self.Qt[:k].T @ c
            coeffs += c
        rho = float(np.linalg.norm(v))
        if norm == 0.0 or rho <= DEPENDENT_RTOL * norm:
            return False
        self.Qt[k] = v / rho
        self.R[:k, k] = coeffs
        self.R[k, :] = 0.0
        self.R[k, k] = rho
        self.k = k + 1
        return True

    def delete(self, j: int) -> None:
        """Remove passive column j; rotations restore the triangle of the shifted R."""
        k = self.k
        R, Qt = self.R, self.Qt
        R[:k, j : k - 1] = R[:k, j + 1 : k]
        R[:k, k - 1] = 0.0
        for i in range(j, k - 1):
            a, b = R[i, i], R[i + 1, i]
            r = math.hypot(a, b)
            if r == 0.0:
                continue
            c, s = a / r, b / r
            rows = R[i : i + 2, i : k - 1]
            R[i : i + 2, i : k - 1] = np.array([[c, s], [-s, c]]) @ rows
            R[i + 1, i] = 0.0
            Qt[i : i + 2] = np.array([[c, s], [-s, c]]) @ Qt[i : i + 2]
        R[k - 1, :] = 0.0
        self.k = k - 1

    def solve(self, rhs: FloatArray) -> FloatArray:
        """argmin ||B_P z - rhs||_2 = R^{-1} Q^T rhs."""
        from scipy.linalg import solve_triangular

        k = self.k
        if k == 0:
            return np.zeros(0)
        return np.asarray(solve_triangular(self.R[:k, :k], self.Qt[:k] @ rhs), dtype=np.float64)


# --------------------------------------------------------------------------- the event loop


@dataclass
class _State:
    """The path's working state (mutable, private)."""

    A: FloatArray
    At: FloatArray  # (N, m) contiguous rows = columns of A
    y: FloatArray
    q: FloatArray  # (N,)
    active: NDArray[np.bool_]  # E
    signs: FloatArray  # s_i on E
    passive: list[int]  # P, in QR column order
    w: FloatArray  # (|P|,) > 0, x_P = s_P w
    qr: _ThinQR
    g: FloatArray  # A^T (y - A x)
    residual: FloatArray
    grad_tol: float

    def x(self) -> FloatArray:
        x = np.zeros(self.A.shape[1])
        if self.passive:
            idx = np.array(self.passive)
            x[idx] = self.signs[idx] * self.w
        return x

    def refresh(self) -> None:
        """residual and g from the current w: O(m k + m N)."""
        if self.passive:
            idx = np.array(self.passive)
            self.residual = self.y - self.At[idx].T @ (self.signs[idx] * self.w)
        else:
            self.residual = self.y.copy()
        self.g = self.At @ self.residual

    def least_squares(self) -> FloatArray:
        """z = argmin ||B_P z - y|| with one step of iterative refinement."""
        z = self.qr.solve(self.y)
        if z.size:
            idx = np.array(self.passive)
            r = self.y - self.At[idx].T @ (self.signs[idx] * z)
            z = z + self.qr.solve(r)
        return z

    def drop(self, positions: list[int]) -> None:
        for pos in sorted(positions, reverse=True):
            self.qr.delete(pos)
            del self.passive[pos]
            self.w = np.delete(self.w, pos)

    def nnls(self, max_iterations: int) -> int:
        """min 1/2 ||B w - y||^2 s.t. w >= 0, B = A_E diag(s_E), by Lawson-Hanson from the
        current (feasible) passive set P; returns the iterations.

        Optimal when d_j = s_j g_j <= grad_tol for every j in E outside P (g = A^T (y - A x)):
        the KKT conditions, with g_P = 0 from the least-squares solve on P.
        """
        blocked: set[int] = set()
        for iteration in range(1, max_iterations + 1):
            d = np.where(self.active, self.signs * self.g, -np.inf)
            if self.passive:
                d[np.array(self.passive)] = -np.inf
            if blocked:
                d[np.array(sorted(blocked))] = -np.inf
            j = int(np.argmax(d))
            if not d[j] > self.grad_tol:
                return iteration
            if not self.qr.append(self.signs[j] * self.At[j]):
                blocked.add(j)
                continue
            self.passive.append(j)
            self.w = np.append(self.w, 0.0)
            z = self.least_squares()
            if z[-1] <= 0.0:  # round-off: j cannot improve the fit
                self.drop([len(self.passive) - 1])
                blocked.add(j)
                continue
            while np.any(z <= 0.0):
                shrink = z <= 0.0
                ratios = self.w[shrink] / (self.w[shrink] - z[shrink])
                step = float(np.min(ratios))
                self.w = self.w + step * (z - self.w)
                gone = np.flatnonzero(shrink)[ratios <= step]
                self.w[gone] = 0.0
                self.drop([int(i) for i in np.flatnonzero(self.w <= 0.0)])
                z = self.least_squares()
            self.w = z
            self.refresh()
        raise SolverError(f"the active-set NNLS did not converge in {max_iterations} iterations")


@dataclass(frozen=True)
class _RawSaddle:
    tau: float
    vertex: FloatArray
    loss: float
    hit: tuple[int, ...]
    stationary: IntArray  # coordinates of E with g_i = 0: where NNLS minimizers may be nonzero
    nnls_iterations: int


def _trace(
    A: FloatArray, y: FloatArray, *, max_events: int, deadline: float | None
) -> tuple[list[_RawSaddle], FloatArray]:
    """The exact event sequence with active-set vertices; returns (saddles, lambda)."""
    m, n = A.shape
    At = np.ascontiguousarray(A.T)
    col_norm = float(np.max(np.linalg.norm(A, axis=0), initial=0.0))
    grad_tol = GRAD_RTOL * max(col_norm * float(np.linalg.norm(y)), np.finfo(float).tiny)
    state = _State(
        A=A,
        At=At,
        y=y,
        q=np.zeros(n),
        active=np.zeros(n, dtype=bool),
        signs=np.zeros(n),
        passive=[],
        w=np.zeros(0),
        qr=_ThinQR(m, min(m, n)),
        g=At @ y,
        residual=y.copy(),
        grad_tol=grad_tol,
    )
    lam = np.zeros(m)
    tau = 0.0
    saddles = [_RawSaddle(0.0, np.zeros(n), 0.5 * float(y @ y), (), np.zeros(0, np.int64), 0)]
    while True:
        free = ~state.active
        moving = free & (np.abs(state.g) > grad_tol)
        if not np.any(moving):
            break
        if len(saddles) > max_events:
            raise SolverError(f"the path did not end within {max_events} events")
        if deadline is not None and time.perf_counter() > deadline:
            raise TimeLimitError(
                f"the time limit was hit at tau = {tau:.6g}, after {len(saddles) - 1} events"
            )
        idx = np.flatnonzero(moving)
        gm = state.g[idx]
        steps = np.maximum((np.sign(gm) - state.q[idx]) / gm, 0.0)
        dtau = float(np.min(steps))
        hit = idx[steps <= dtau + TIE_RTOL * (tau + dtau)]
        state.q[free] += dtau * state.g[free]
        lam += dtau * state.residual
        tau += dtau
        sign_hit = np.sign(state.g[hit])
        state.q[hit] = sign_hit
        state.active[hit] = True
        state.signs[hit] = sign_hit
        iterations = state.nnls(max_iterations=10 * n + 10)
        # Zero coordinates of E whose gradient points inward leave E: q_i moves inside.
        inward = state.active & (state.signs * state.g < -grad_tol)
        if state.passive:
            inward[np.array(state.passive)] = False
        state.active[inward] = False
        state.signs[inward] = 0.0
        saddles.append(
            _RawSaddle(
                tau,
                state.x(),
                0.5 * float(state.residual @ state.residual),
                tuple(int(i) for i in hit),
                np.flatnonzero(state.active & (np.abs(state.g) <= grad_tol)).astype(np.int64),
                iterations,
            )
        )
    return saddles, lam


# --------------------------------------------------------------------------- faces of saddles


def _face_selection(A: FloatArray, raw: _RawSaddle, depth: float) -> tuple[FloatArray, int]:
    """The point the flow selects on the set of NNLS minimizers, and that set's dimension.

    The minimizers are {x supported on E with signs s : A_E x = b}, b = A x_vertex; they form
    the BP face of (A_E, b) (docs/path.md §4). Unique unless the zero-gradient columns of E are
    dependent; then the flow's point is the depth's tie-break point of that face.
    """
    candidates = raw.stationary
    support = np.flatnonzero(raw.vertex)
    if candidates.size <= support.size:
        return raw.vertex, 0
    sing = np.asarray(np.linalg.svd(A[:, candidates], compute_uv=False), dtype=np.float64)
    from dlncli.dln.geometry import numerical_rank

    if numerical_rank(sing, (A.shape[0], candidates.size)) == candidates.size:
        return raw.vertex, 0
    from dlncli.bp.verdict import solve_basis_pursuit
    from dlncli.dln.tiebreak import select_minimizer

    A_e = A[:, candidates]
    b = A @ raw.vertex
    sub = solve_basis_pursuit(A_e, b)
    if sub.face.dimension == 0:
        return raw.vertex, 0
    chosen = select_minimizer(A_e, b, sub, [depth]).selections[0].x
    x = np.zeros(A.shape[1])
    x[candidates] = chosen
    return x, sub.face.dimension


# --------------------------------------------------------------------------- public


def path(
    A: FloatArray,
    y: FloatArray,
    *,
    depth: float = 2.0,
    log_alpha: float | None = None,
    check_log_alpha: float | None = None,
    bp: BPSolution | None = None,
    compare_bp: bool = True,
    time_limit: float | None = None,
    max_events: int | None = None,
) -> PathReport:
    """The alpha -> 0 saddle-to-saddle path of the depth-p DLN flow, exactly.

    Parameters
    ----------
    A : (m, N).  y : (m,).
    depth : p >= 2 (real). The event sequence does not depend on p; the time scale and the
        point selected on a face of NNLS minimizers do.
    log_alpha : ln(alpha) (alpha < 1): also give each saddle's physical time
        t_k = tau_k / rate, rate = 2 / ln(1/alpha) (p = 2) or p (p - 2) alpha^(p-2) (p > 2).
    check_log_alpha : ln(alpha) (alpha < 1): integrate the flow at this alpha and report each
        jump's observed rescaled time (the loss crossing the midpoint of consecutive saddle
        losses) and its deviation from tau_k.
    bp : solve-bp's solution for (A, y), if the caller has it.
    compare_bp : solve BP with HiGHS (unless ``bp`` is given) and measure the last saddle
        against its minimizer and against the depth's tie-break point of its face. False skips
        that LP (the slow part on large problems) unless ``check_log_alpha`` needs it.
    time_limit : seconds for the whole computation; TimeLimitError when exceeded.
    max_events : stop with SolverError after this many events (default 20 N + 100).

    Returns
    -------
    PathReport : saddles x_0 = 0 (tau = 0), x_1, ... with tau_1 = 1 / ||A^T y||_inf; the last
        saddle is a BP minimizer (the depth's tie-break point when BP is not unique).

    Raises
    ------
    InfeasibleError : y is not in the range of A (the path would end at a least-squares
        point with A x != y).

    The path is computed on the normalized (2^k A, 2^k y) (k from
    :func:`dlncli.dln.limit.scale_exponent`), whose saddles are the same points: its
    tolerances are relative to max|A| ~ 1, so data scaled by 1e-300 or 1e300 give the same
    path. Times, losses and the certificate are mapped back exactly: tau_k and t_k times 4^k
    (inf beyond float64's range: log10_t stays exact), losses times 4^-k, lambda times 2^k.
    """
    from dlncli.dln.limit import normalize, scale_exponent

    if not (math.isfinite(depth) and depth >= 2.0):
        raise ValueError(f"depth must be a finite real number >= 2, got {depth}")
    for value in (log_alpha, check_log_alpha):
        if value is not None and not value < 0.0:
            raise ValueError(f"alpha must be < 1 (ln alpha < 0), got ln alpha = {value}")
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    k = scale_exponent(A)
    if k and bp is not None:
        bp = dataclasses.replace(bp, dual=np.ldexp(bp.dual, -k))
    A_n, y_n = normalize(A, y, k)
    report = _path_normalized(
        A_n,
        y_n,
        depth=depth,
        log_alpha=log_alpha,
        check_log_alpha=check_log_alpha,
        bp=bp,
        compare_bp=compare_bp,
        time_limit=time_limit,
        max_events=max_events,
    )
    return _to_user_units(report, k) if k else report


def _to_user_units(report: PathReport, k: int) -> PathReport:
    """A report on (2^k A, 2^k y) in the units of (A, y) (see :func:`path`)."""
    shift = 2 * k * math.log10(2.0)

    def time_of(tau: float | None) -> float | None:
        return None if tau is None else _ldexp(tau, 2 * k)

    saddles = []
    for saddle in report.saddles:
        log10_t = None if saddle.log10_t is None else saddle.log10_t + shift
        t = saddle.t
        if log10_t is not None and saddle.t is not None and saddle.t > 0:
            t = 10.0**log10_t if log10_t < 300 else None
        saddles.append(
            dataclasses.replace(
                saddle,
                tau=_ldexp(saddle.tau, 2 * k),
                loss=_ldexp(saddle.loss, -2 * k),
                t=t,
                log10_t=log10_t,
                observed_tau=time_of(saddle.observed_tau),
            )
        )
    check = report.check
    if check is not None:
        check = dataclasses.replace(
            check,
            observed_tau=tuple(time_of(tau) for tau in check.observed_tau),
            max_tau_deviation=time_of(check.max_tau_deviation),
            log10_tau=check.log10_tau + shift,
            losses=np.ldexp(check.losses, -2 * k),
        )
    notes = report.notes
    lost = [
        i
        for i, (s, s_n) in enumerate(zip(saddles, report.saddles, strict=True))
        if not math.isfinite(s.tau) or (s.tau == 0.0 and s_n.tau > 0.0)
    ]
    if lost:
        notes = (
            *notes,
            f"the data's scale (max|A| ~ 2^{-k}) puts the rescaled times of saddles "
            f"{lost[0]}..{lost[-1]} beyond float64's range (tau scales as 1/max|A|^2); the "
            "saddles themselves do not depend on the scale",
        )
    with np.errstate(over="ignore"):
        certificate = np.ldexp(report.certificate, k)
    return dataclasses.replace(
        report, saddles=tuple(saddles), certificate=certificate, check=check, notes=notes
    )


def _ldexp(value: float, exponent: int) -> float:
    """value * 2^exponent, +-inf beyond float64's range."""
    try:
        return math.ldexp(value, exponent)
    except OverflowError:
        return math.copysign(math.inf, value)


def _path_normalized(
    A: FloatArray,
    y: FloatArray,
    *,
    depth: float,
    log_alpha: float | None,
    check_log_alpha: float | None,
    bp: BPSolution | None,
    compare_bp: bool,
    time_limit: float | None,
    max_events: int | None,
) -> PathReport:
    """:func:`path` on data with max|A| ~ 1."""
    start = time.perf_counter()
    from dlncli.bp.verdict import solve_basis_pursuit
    from dlncli.dln.tiebreak import select_minimizer

    bp_start = time.perf_counter()
    if bp is None and (compare_bp or check_log_alpha is not None):
        bp = solve_basis_pursuit(A, y, time_limit=time_limit)
    bp_elapsed = time.perf_counter() - bp_start
    deadline = None if time_limit is None else start + time_limit
    n = A.shape[1]
    raw, lam = _trace(A, y, max_events=max_events or 20 * n + 100, deadline=deadline)
    notes: list[str] = []
    saddles: list[Saddle] = []
    previous: tuple[int, ...] = ()
    rate = None if log_alpha is None else log10_tau_rate(depth, log_alpha)
    for k, r in enumerate(raw):
        x, dim = _face_selection(A, r, depth) if k else (r.vertex, 0)
        support = tuple(int(i) for i in np.flatnonzero(x))
        vertex_distance = float(np.max(np.abs(x - r.vertex), initial=0.0))
        if dim:
            notes.append(
                f"saddle {k}: the NNLS minimizers form a {dim}-dimensional face; x is the "
                f"depth-{depth:g} tie-break point of that face (the point the flow selects), "
                f"{vertex_distance:.3g} from the active-set vertex"
            )
        if len(r.hit) > 1:
            notes.append(f"saddle {k}: tie, coordinates {list(r.hit)} reach |q| = 1 together")
        t = log10_t = None
        if rate is not None:
            if r.tau > 0:
                log10_t = math.log10(r.tau) - rate
                t = 10.0**log10_t if log10_t < 300 else None
            else:
                t = 0.0
        saddles.append(
            Saddle(
                tau=r.tau,
                x=x,
                loss=r.loss,
                support=support,
                entered=tuple(sorted(set(support) - set(previous))),
                left=tuple(sorted(set(previous) - set(support))),
                hit=r.hit,
                face_dimension=dim,
                selection="tie-break" if dim else "nnls",
                vertex_distance=vertex_distance,
                nnls_iterations=r.nnls_iterations,
                t=t,
                log10_t=log10_t,
            )
        )
        previous = support
    x_end = saddles[-1].x
    misfit = float(np.linalg.norm(A @ x_end - y))
    if misfit > 1e-8 * max(float(np.linalg.norm(y)), np.finfo(float).tiny):
        raise InfeasibleError(
            f"y is not in the range of A: the path ends at a least-squares point with residual "
            f"{misfit:.3g}; expected a consistent system"
        )
    last_dimension = saddles[-1].face_dimension
    if bp is not None and bp.face.dimension != last_dimension:
        notes.append(
            f"solve-bp reports a {bp.face.dimension}-dimensional face of minimizers (HiGHS "
            f"tolerances); the path's last saddle has a {last_dimension}-dimensional one (its "
            "event times separate columns that the LP's tolerances do not)"
        )
    if last_dimension:
        notes.append(
            f"BP has a {last_dimension}-dimensional face of minimizers: the path ends at the "
            f"depth-{depth:g} tie-break point, {saddles[-1].vertex_distance:.3g} from the "
            "active-set vertex where the papers' algorithm stops"
        )
    tiebreak_x = x_end if bp is None else select_minimizer(A, y, bp, [depth]).selections[0].x
    check = None
    if check_log_alpha is not None and bp is not None:
        check = _check(A, y, bp, saddles, depth, check_log_alpha, deadline)
        saddles = [
            _with_observed(s, tau) for s, tau in zip(saddles, check.observed_tau, strict=True)
        ]
        if check.message:
            notes.append(check.message)
    return PathReport(
        depth=float(depth),
        saddles=tuple(saddles),
        certificate=lam,
        bp_x=None if bp is None else bp.x,
        bp_unique=last_dimension == 0,
        bp_distance=None if bp is None else _distance(x_end, bp.x),
        tiebreak_x=tiebreak_x,
        tiebreak_distance=None if bp is None else _distance(x_end, tiebreak_x),
        end_vertex_distance=_distance(raw[-1].vertex, tiebreak_x),
        log10_alpha=None if log_alpha is None else log_alpha / LN10,
        check=check,
        notes=tuple(notes),
        bp_elapsed_s=bp_elapsed,
        elapsed_s=time.perf_counter() - start,
    )


def _distance(a: FloatArray, b: FloatArray) -> float:
    return float(np.max(np.abs(a - b), initial=0.0))


def _with_observed(saddle: Saddle, tau: float | None) -> Saddle:
    from dataclasses import replace

    return replace(saddle, observed_tau=tau)


def _check(
    A: FloatArray,
    y: FloatArray,
    bp: BPSolution,
    saddles: list[Saddle],
    depth: float,
    log_alpha: float,
    deadline: float | None,
) -> PathCheck:
    """Integrate the flow at alpha and find where its loss crosses each midpoint level."""
    from dlncli.dln.flow import integrate_flow
    from dlncli.dln.limit import bp_anchor

    anchor = bp_anchor(A, y, bp=bp)
    rate = log10_tau_rate(depth, log_alpha)
    tau_end = saddles[-1].tau
    notes: list[str] = []

    def integrate(log10_t_end: float | None) -> FlowResult:
        remaining = None if deadline is None else max(deadline - time.perf_counter(), 0.0)
        # Radau's rejected trial steps overflow at tiny alpha; accepted steps are finite and
        # the result is checked against the path below.
        with np.errstate(over="ignore", invalid="ignore"):
            return integrate_flow(
                A,
                y,
                depth=depth,
                log_alpha=log_alpha,
                anchor=anchor,
                log10_t_end=log10_t_end,
                time_limit=remaining,
            )

    run = integrate(None)
    if run.reachable and tau_end > 0 and run.log10_t_end + rate < math.log10(tau_end):
        notes.append(
            f"--check-alpha: the flow's convergence test stopped the ODE at tau = "
            f"{10.0 ** (run.log10_t_end + rate):.4g}, before the last jump (tau = {tau_end:.4g}); "
            f"integrated to tau = {END_FACTOR:g} tau_end instead"
        )
        run = integrate(math.log10(END_FACTOR * tau_end) - rate)
    n = A.shape[1]
    if not run.reachable:
        return PathCheck(
            log_alpha / LN10,
            False,
            False,
            tuple(None for _ in saddles),
            None,
            None,
            np.zeros(0),
            np.zeros((0, n)),
            np.zeros(0),
            f"--check-alpha: {run.message}",
        )
    log10_tau = run.log10_t + rate
    observed: list[float | None] = [None]
    for before, after in itertools.pairwise(saddles):
        observed.append(_crossing(log10_tau, run.losses, 0.5 * (before.loss + after.loss)))
    deviations = [
        abs(obs - s.tau) for obs, s in zip(observed, saddles, strict=True) if obs is not None
    ]
    missing = sum(obs is None for obs in observed[1:])
    if missing:
        notes.append(f"--check-alpha: the ODE's loss never crossed {missing} midpoint level(s)")
    return PathCheck(
        log10_alpha=log_alpha / LN10,
        reachable=True,
        converged=run.converged,
        observed_tau=tuple(observed),
        max_tau_deviation=max(deviations) if deviations else None,
        end_distance=float(np.max(np.abs(run.x - saddles[-1].x), initial=0.0)),
        log10_tau=log10_tau,
        xs=run.xs,
        losses=run.losses,
        message="; ".join(notes),
    )


def _crossing(log10_tau: FloatArray, losses: FloatArray, level: float) -> float | None:
    """First tau where the recorded loss falls to ``level``, linear in (log10 tau, loss)."""
    below = np.flatnonzero(losses <= level)
    if below.size == 0:
        return None
    i = int(below[0])
    if i == 0 or not math.isfinite(float(log10_tau[i - 1])):
        return float(10.0 ** log10_tau[i])
    l0, l1 = float(losses[i - 1]), float(losses[i])
    frac = (l0 - level) / (l0 - l1) if l0 != l1 else 1.0
    return float(10.0 ** (log10_tau[i - 1] + frac * (log10_tau[i] - log10_tau[i - 1])))
