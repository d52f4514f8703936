"""HiGHS plumbing: the only module that imports highspy.

An :class:`LpModel` is loaded into a reusable :class:`_Lp` (one HiGHS instance per call, its
C-level stdout redirected, its statuses mapped by one table, Ctrl-C and the time budget
honoured while it runs), and :func:`equilibrate` gives the exact power-of-two scaling that
every LP runs on. What the LPs mean for basis pursuit is :mod:`dlncli.bp.verdict`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from dlncli.arrays import FloatArray
from dlncli.bp import certify
from dlncli.bp.certify import issparse
from dlncli.deadline import Deadline
from dlncli.errors import TimeLimitError

if TYPE_CHECKING:
    import scipy.sparse as sp
# highspy and scipy.sparse are imported where an LP is built: the homotopy decides most small
# problems with no LP at all, and a command should not pay their import for nothing.

# Basis pursuit also takes scipy.sparse input (e.g. 2000 x 20000 at 1% density).
Matrix = Any

# HiGHS's LP solvers (its "solver" option), the choices of solve_basis_pursuit(solver=...).
SOLVERS = ("choose", "simplex", "ipm", "pdlp")
# HiGHS drops matrix entries below small_matrix_value (default 1e-9); equilibration brings
# every row and column maximum near 1, and this keeps the rest (1e-12 is the smallest allowed).
SMALL_MATRIX_VALUE = 1e-12
EQUILIBRATION_PASSES = 8


# --------------------------------------------------------------------------- HiGHS plumbing


# fd 1 is process-wide: concurrent solves (threads) share one redirect. The first user saves
# fd 1 and points it elsewhere, the last one restores it; the lock makes the count and the
# dup2 calls one step, so no thread restores fd 1 while another HiGHS still prints.
_REDIRECT_LOCK = threading.Lock()
_redirect_users = 0
_saved_stdout = -1


@contextlib.contextmanager
def _redirect_stdout(target: str = "stderr") -> Iterator[None]:
    """Point file descriptor 1 elsewhere while HiGHS runs: it prints from C++ to fd 1 (its
    banner on construction, anything else on solves), and stdout carries only our result.

    Reference counted under a process-wide lock: nested and concurrent users redirect once
    and restore once (the first user's ``target`` holds until the last one leaves)."""
    global _redirect_users, _saved_stdout
    with _REDIRECT_LOCK:
        if _redirect_users == 0:
            sys.stdout.flush()
            try:
                _saved_stdout = os.dup(1)
            except OSError:  # no fd 1 at all (rare daemons): nothing to protect
                _saved_stdout = -1
            if _saved_stdout >= 0:
                if target == "devnull":
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, 1)
                    os.close(devnull)
                else:
                    os.dup2(2, 1)
        _redirect_users += 1
    try:
        yield
    finally:
        with _REDIRECT_LOCK:
            _redirect_users -= 1
            if _redirect_users == 0 and _saved_stdout >= 0:
                with contextlib.suppress(Exception):
                    ctypes.CDLL(None).fflush(None)
                os.dup2(_saved_stdout, 1)
                os.close(_saved_stdout)
                _saved_stdout = -1


@dataclass(frozen=True)
class LpModel:
    """rows: row_lower <= matrix z <= row_upper; columns: col_lower <= z <= col_upper."""

    cost: FloatArray
    col_lower: FloatArray
    col_upper: FloatArray
    matrix: sp.csc_matrix
    row_lower: FloatArray
    row_upper: FloatArray
    maximize: bool = False


@cache
def _status_table() -> dict[Any, str | type[BaseException]]:
    """Every HiGHS model status maps to "optimal", "infeasible", or an exception class."""
    import highspy

    return {
        highspy.HighsModelStatus.kOptimal: "optimal",
        highspy.HighsModelStatus.kInfeasible: "infeasible",
        highspy.HighsModelStatus.kTimeLimit: TimeLimitError,
        highspy.HighsModelStatus.kInterrupt: KeyboardInterrupt,
    }


class _Lp:
    """A reusable HiGHS instance for one LP, counting its solves and iterations."""

    def __init__(self, deadline: Deadline, *, solver: str = "choose") -> None:
        import highspy

        with _redirect_stdout("devnull"):  # the licence banner is noise, even on stderr
            self.highs = highspy.Highs()  # type: ignore[no-untyped-call]
        # highspy (1.16) keeps startSolve's "solver running" locks as class attributes, shared
        # by every Highs: two threads solving at once get "Solver is already running". Each
        # instance gets its own pair (the name-mangled attributes startSolve reads).
        self.highs._Highs__solver_stopped = threading.RLock()  # type: ignore[attr-defined]
        self.highs._Highs__solver_started = threading.Lock()  # type: ignore[attr-defined]
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("solver", solver)
        self.highs.setOptionValue("small_matrix_value", SMALL_MATRIX_VALUE)
        # Lets cancelSolve stop a running solve, so Ctrl-C takes effect within ~0.1 s.
        self.highs.HandleKeyboardInterrupt = True
        self.deadline = deadline
        self.solves = 0
        self.iterations = 0

    def load(self, model: LpModel) -> None:
        import highspy

        matrix = model.matrix
        lp = highspy.HighsLp()
        lp.num_col_ = matrix.shape[1]
        lp.num_row_ = matrix.shape[0]
        lp.col_cost_ = np.asarray(model.cost, dtype=np.float64)
        lp.col_lower_ = _inf(model.col_lower)
        lp.col_upper_ = _inf(model.col_upper)
        lp.row_lower_ = _inf(model.row_lower)
        lp.row_upper_ = _inf(model.row_upper)
        lp.sense_ = highspy.ObjSense.kMaximize if model.maximize else highspy.ObjSense.kMinimize
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_ = matrix.shape[1]
        lp.a_matrix_.num_row_ = matrix.shape[0]
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data.astype(np.float64)
        self.highs.passModel(lp)

    def run(self, what: str) -> str:
        """Solve; return "optimal", "infeasible" or "failed"; raise on time limit / Ctrl-C."""
        import signal
        import threading
        import time

        left = self.deadline.remaining(what)
        self.highs.setOptionValue("time_limit", np.inf if left is None else float(left))

        def stop(thread: threading.Thread) -> None:
            """Cancel the solve and wait for its thread: HiGHS polls the flag from its interrupt
            callbacks. More Ctrl-Cs meanwhile are absorbed (the first is re-raised); after 5 s
            the thread is left to the process exit (a phase with no callback)."""
            give_up = time.monotonic() + 5.0
            while thread.is_alive() and time.monotonic() < give_up:
                self.highs.cancelSolve()  # type: ignore[no-untyped-call]
                with contextlib.suppress(KeyboardInterrupt):
                    thread.join(0.05)

        held: list[int] = []
        previous: dict[int, Any] = {}
        thread: threading.Thread | None = None
        with _redirect_stdout():
            try:
                # A signal landing inside startSolve, once its thread runs but before `thread`
                # is set, would leave the solve running uncancelled (it then outlives Ctrl-C
                # and keeps the process from exiting). Hold the signals that have Python
                # handlers until `thread` is set; deliver them below, where they cancel it.
                if threading.current_thread() is threading.main_thread():
                    for name in ("SIGTERM", "SIGHUP", "SIGINT"):  # SIGINT restored last
                        signum = getattr(signal, name, None)
                        if signum is not None and callable(signal.getsignal(signum)):
                            previous[signum] = signal.signal(
                                signum, lambda received, _frame: held.append(received)
                            )
                try:
                    thread = self.highs.startSolve()
                finally:
                    for signum, handler in previous.items():
                        signal.signal(signum, handler)
                for signum in held:
                    signal.raise_signal(signum)
                # Thread.join, not Highs.wait: an interrupt inside wait() after it took
                # highspy's (class-wide) lock would keep the lock and hang the next solve.
                while thread.is_alive():
                    thread.join(0.1)
            except KeyboardInterrupt:
                if thread is not None:
                    stop(thread)
                raise
        self.solves += 1
        info = self.highs.getInfo()
        self.iterations += (
            int(info.simplex_iteration_count)
            + max(int(info.ipm_iteration_count), 0)
            + max(int(info.pdlp_iteration_count), 0)
        )
        status = self.highs.getModelStatus()
        outcome = _status_table().get(status)
        if isinstance(outcome, str):
            return outcome
        if outcome is TimeLimitError:
            raise TimeLimitError(
                f"the time limit of {self.deadline.seconds:g} s was reached in {what}"
            )
        if outcome is KeyboardInterrupt:
            raise KeyboardInterrupt
        return "failed"  # any other status: no answer, the caller has a fallback or refuses

    def solution(self) -> tuple[FloatArray, FloatArray]:
        sol = self.highs.getSolution()
        return np.array(sol.col_value, dtype=np.float64), np.array(sol.row_dual, dtype=np.float64)

    def basis(self) -> list[int] | None:
        """Basic variables in certify's numbering: columns, then rows (2N + r)."""
        import highspy

        basis = self.highs.getBasis()
        if not basis.valid:
            return None
        basic = highspy.HighsBasisStatus.kBasic
        cols = [j for j, st in enumerate(basis.col_status) if st == basic]
        n_cols = len(basis.col_status)
        rows = [n_cols + r for r, st in enumerate(basis.row_status) if st == basic]
        return cols + rows

    def set_basis(self, basic: list[int]) -> bool:
        """Start the next solve from the basis whose basic variables are ``basic`` (numbered
        as :meth:`basis` returns them; one per row), every other variable at its lower
        bound. False when HiGHS refuses it (the solve then starts from its own crash)."""
        import highspy

        lp = self.highs.getLp()
        n_cols, n_rows = int(lp.num_col_), int(lp.num_row_)
        if len(basic) != n_rows:
            return False
        lower, is_basic = highspy.HighsBasisStatus.kLower, highspy.HighsBasisStatus.kBasic
        col_status = [lower] * n_cols
        row_status = [lower] * n_rows
        for index in basic:
            if index < n_cols:
                col_status[index] = is_basic
            else:
                row_status[index - n_cols] = is_basic
        basis = highspy.HighsBasis()
        basis.col_status = col_status
        basis.row_status = row_status
        basis.valid = True
        return bool(self.highs.setBasis(basis) == highspy.HighsStatus.kOk)

    def set_cost(self, cost: FloatArray, *, maximize: bool) -> None:
        import highspy

        n = len(cost)
        self.highs.changeColsCost(n, np.arange(n, dtype=np.int32), np.asarray(cost, np.float64))
        sense = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
        self.highs.changeObjectiveSense(sense)

    def absorb(self, other: _Lp) -> None:
        self.solves += other.solves
        self.iterations += other.iterations


def _inf(values: FloatArray) -> FloatArray:
    import highspy

    out = np.asarray(values, dtype=np.float64).copy()
    out[out == np.inf] = highspy.kHighsInf
    out[out == -np.inf] = -highspy.kHighsInf
    return out


# --------------------------------------------------------------------------- equilibration


@dataclass(frozen=True)
class Equilibration:
    """Ã = R A D and ỹ = R y / sigma with power-of-two diagonals R = diag(rows),
    D = diag(cols) and sigma = y_scale, so every scaling is exact.

    BP on (A, y) is the weighted LP min sum_j d_j |x̃_j| s.t. Ã x̃ = ỹ; its solution maps
    back by x = sigma D x̃ and its certificate by lambda = R lambda~ (|a_j^T lambda| =
    |ã_j^T lambda~| / d_j).
    """

    rows: FloatArray  # (m,)
    cols: FloatArray  # (N,)
    y_scale: float

    def apply(self, A: Matrix, y: FloatArray) -> tuple[Matrix, FloatArray]:
        import scipy.sparse as sp

        sparse = issparse(A)
        if sparse:
            scaled = sp.diags(self.rows) @ A @ sp.diags(self.cols)
            return sp.csc_matrix(scaled), self.rows * y / self.y_scale
        return self.rows[:, None] * A * self.cols[None, :], self.rows * y / self.y_scale

    def primal(self, x_scaled: FloatArray) -> FloatArray:
        return np.asarray(self.y_scale * self.cols * x_scaled, dtype=np.float64)

    def primal_inverse(self, x: FloatArray) -> FloatArray:
        return np.asarray(x / (self.y_scale * self.cols), dtype=np.float64)

    def dual(self, dual_scaled: FloatArray) -> FloatArray:
        return np.asarray(self.rows * dual_scaled, dtype=np.float64)

    def dual_inverse(self, dual: FloatArray) -> FloatArray:
        return np.asarray(dual / self.rows, dtype=np.float64)


def equilibrate(A: Matrix, y: FloatArray) -> Equilibration:
    """Ruiz equilibration (alternate 1/sqrt of row and column maxima), rounded to powers
    of two, then y scaled so that max |ỹ| is about 1."""
    import scipy.sparse as sp

    m, n = A.shape
    rows, cols = np.ones(m), np.ones(n)
    sparse = issparse(A)
    magnitude: Matrix = sp.csr_matrix(abs(A)) if sparse else np.abs(A)
    for _ in range(EQUILIBRATION_PASSES):
        row_max = _scaled_max(magnitude, rows, cols, axis=1, sparse=sparse)
        row_step = certify.power_of_two(1.0 / np.sqrt(np.where(row_max > 0, row_max, 1.0)))
        rows = rows * row_step
        col_max = _scaled_max(magnitude, rows, cols, axis=0, sparse=sparse)
        col_step = certify.power_of_two(1.0 / np.sqrt(np.where(col_max > 0, col_max, 1.0)))
        cols = cols * col_step
        if np.all(row_step == 1.0) and np.all(col_step == 1.0):
            break  # a fixed point: powers of two stop changing after a few passes
    y_max = float(np.max(np.abs(rows * y)))
    y_scale = float(certify.power_of_two(np.array([y_max]))[0]) if y_max > 0 else 1.0
    return Equilibration(rows, cols, y_scale)


def _scaled_max(
    magnitude: Matrix, rows: FloatArray, cols: FloatArray, *, axis: int, sparse: bool
) -> FloatArray:
    """max over ``axis`` of diag(rows) |A| diag(cols)."""
    import scipy.sparse as sp

    if sparse:
        scaled: Matrix = sp.diags(rows) @ magnitude @ sp.diags(cols)
        return np.asarray(scaled.max(axis=axis).toarray(), dtype=np.float64).ravel()
    return np.asarray((rows[:, None] * magnitude * cols[None, :]).max(axis=axis), np.float64)
