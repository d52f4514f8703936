"""solve_basis_pursuit against closed forms, KKT checks and a second LP formulation."""

from __future__ import annotations

import signal
import threading
from typing import Any

import numpy as np
import pytest
from scipy.optimize import linprog

from dlncli.bp.lp import LpModel, _Lp
from dlncli.bp.verdict import max_margin_certificate, solve_basis_pursuit
from dlncli.deadline import Deadline
from dlncli.errors import InfeasibleError
from dlncli.problem_io import load_sample


def _kkt_ok(A: np.ndarray, y: np.ndarray, x: np.ndarray, dual: np.ndarray) -> None:
    scale = max(1.0, float(np.abs(x).sum()))
    assert np.max(np.abs(A @ x - y)) <= 1e-9 * max(1.0, float(np.abs(y).max()))
    assert np.max(np.abs(A.T @ dual)) <= 1 + 1e-9
    assert abs(np.abs(x).sum() - y @ dual) <= 1e-9 * scale


def test_random3x5_matches_published_minimizer() -> None:
    p = load_sample("random3x5")
    sol = solve_basis_pursuit(p.A, p.y)
    np.testing.assert_allclose(sol.x, [0, 0, -0.27822, -0.949197, -0.536551], atol=5e-6)
    assert sol.unique and sol.face_dimension == 0
    assert sol.l1_norm == pytest.approx(1.76397, abs=1e-5)
    assert sol.lp_solves <= 1  # generic case: the verdict costs no extra LP (homotopy: none)
    _kkt_ok(p.A, p.y, sol.x, sol.dual)


def test_line_face_is_the_segment() -> None:
    p = load_sample("line")
    sol = solve_basis_pursuit(p.A, p.y, ranges=True)
    assert not sol.unique and sol.face_dimension == 1
    assert sol.face.support.tolist() == [0, 1, 2]
    assert sol.face.signs.tolist() == [1, 1, 1]
    # S = {(1-t, 2(1-t), 3t)}: ranges [0,1], [0,2], [0,3].
    assert sol.face.ranges is not None
    np.testing.assert_allclose(sol.face.ranges, [[0, 1], [0, 2], [0, 3]], atol=1e-9)
    t = sol.face.interior_point[2] / 3
    np.testing.assert_allclose(sol.face.interior_point, [1 - t, 2 * (1 - t), 3 * t], atol=1e-9)
    assert 0 < t < 1
    assert sol.l1_norm == pytest.approx(3.0)
    _kkt_ok(p.A, p.y, sol.x, sol.dual)


def test_kink_unique_and_degenerate() -> None:
    p = load_sample("kink:0.1")
    sol = solve_basis_pursuit(p.A, p.y)
    assert sol.unique
    np.testing.assert_allclose(sol.x, [1.0, 0.0], atol=1e-12)
    p0 = load_sample("kink:0")
    sol0 = solve_basis_pursuit(p0.A, p0.y)
    assert not sol0.unique and sol0.face_dimension == 1


def test_two_dimensional_face_simplex() -> None:
    p = load_sample("simplex")
    sol = solve_basis_pursuit(p.A, p.y, ranges=True)
    assert sol.face_dimension == 2
    assert sol.face.support.tolist() == [0, 1, 2]
    assert sol.face.ranges is not None
    np.testing.assert_allclose(sol.face.ranges, [[0, 1]] * 3, atol=1e-9)


@pytest.mark.parametrize("name", ["face2d", "signs"])
def test_two_dimensional_faces_with_signs(name: str) -> None:
    # v >= 0, v1+v2+v3+v4 = 1, v2 + 2 v3 + 3 v4 = 1.
    # Vertices: (2/3, 0, 0, 1/3), (0, 1, 0, 0), (1/2, 0, 1/2, 0).
    p = load_sample(name)
    sol = solve_basis_pursuit(p.A, p.y, ranges=True)
    signs = [1, 1, 1, 1] if name == "face2d" else [1, -1, 1, -1]
    assert sol.face_dimension == 2
    assert sol.face.support.tolist() == [0, 1, 2, 3]
    assert sol.face.signs.tolist() == signs
    assert sol.face.ranges is not None
    hi = np.array([2 / 3, 1, 1 / 2, 1 / 3])
    expected = np.column_stack([np.minimum(0, signs * hi), np.maximum(0, signs * hi)])
    np.testing.assert_allclose(sol.face.ranges, expected, atol=1e-9)
    assert sol.lp_solves <= 2 + 2 * 4  # verdict + face LP, then two range LPs per coordinate


def test_face_with_duplicate_opposite_and_zero_columns() -> None:
    # Columns 0, 1 are equal and 2 is its negative; 3 is zero: S = {x0 + x1 - x2 = 1, ...}.
    A = np.array([[1.0, 1.0, -1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0, 1.0]])
    y = np.array([1.0, 0.0])
    sol = solve_basis_pursuit(A, y)
    assert sol.face_dimension == 2
    assert sol.face.support.tolist() == [0, 1, 2]
    assert sol.l1_norm == pytest.approx(1.0)


def test_agrees_with_scipy_linprog_on_random_problems() -> None:
    rng = np.random.default_rng(7)
    for _ in range(5):
        m, n = rng.integers(3, 15), rng.integers(15, 40)
        A = rng.standard_normal((m, n))
        y = rng.standard_normal(m)
        sol = solve_basis_pursuit(A, y)
        ref = linprog(np.ones(2 * n), A_eq=np.hstack([A, -A]), b_eq=y, method="highs-ipm")
        assert sol.l1_norm == pytest.approx(ref.fun, rel=1e-7, abs=0)
        assert sol.unique  # generic data: unique with probability one
        assert sol.support.size == m
        _kkt_ok(A, y, sol.x, sol.dual)


def test_rank_deficient_zero_columns_and_tiny_scale() -> None:
    rng = np.random.default_rng(3)
    # Small integers and power-of-two scales keep row 4 = row 1 + row 2 exact: rows that are
    # dependent only up to round-off are a different (full-rank) problem for exact arithmetic.
    B = rng.integers(-9, 10, size=(3, 8)).astype(np.float64)
    A = np.vstack([B, B[0] + B[1]])  # rank 3 with 4 rows
    A[:, 5] = 0.0
    x0 = np.zeros(8)
    x0[[1, 6]] = [1.5, -2.0]
    y = A @ x0
    for scale in (1.0, 2.0**-400, 2.0**400):
        sol = solve_basis_pursuit(A * scale, y * scale)
        np.testing.assert_allclose(sol.x, x0, atol=1e-9)
        assert sol.unique
        _kkt_ok(A * scale, y * scale, sol.x, sol.dual)


def test_zero_rhs_and_infeasible() -> None:
    A = np.array([[1.0, 2.0], [2.0, 4.0]])
    sol = solve_basis_pursuit(A, np.zeros(2))
    assert sol.unique and np.all(sol.x == 0)
    with pytest.raises(InfeasibleError, match="not in the range"):
        solve_basis_pursuit(A, np.array([1.0, 0.0]))


def test_polish_reaches_round_off_residual() -> None:
    p = load_sample("gauss:50:200:10:1")
    sol = solve_basis_pursuit(p.A, p.y)
    assert p.x_true is not None
    assert sol.unique
    assert sol.residual_inf <= 1e-14
    np.testing.assert_allclose(sol.x, p.x_true, atol=1e-12)


def test_dual_margin_of_reference_instances() -> None:
    for name, gamma in (("random3x5", 0.745), ("plane", 0.5), ("kink:0.1", 0.1)):
        p = load_sample(name)
        sol = solve_basis_pursuit(p.A, p.y)
        cert = max_margin_certificate(p.A, sol.face.support, sol.face.signs)
        assert cert.margin == pytest.approx(gamma, abs=1e-3)
        corr = p.A.T @ cert.dual
        np.testing.assert_allclose(corr[sol.face.support], sol.face.signs, atol=1e-9)


@pytest.mark.parametrize("solver", ["simplex", "ipm", "pdlp"])
def test_every_solver_gives_the_same_verdict(solver: str) -> None:
    p = load_sample("random3x5")
    sol = solve_basis_pursuit(p.A, p.y, solver=solver)
    np.testing.assert_allclose(sol.x, [0, 0, -0.27822, -0.949197, -0.536551], atol=5e-6)
    assert sol.unique


def test_sparse_input_matches_dense() -> None:
    import scipy.sparse as sp

    p = load_sample("gauss:40:160:8:5")
    A_sparse = sp.csc_matrix(np.where(np.abs(p.A) > 0.1, p.A, 0.0))
    y = A_sparse @ (p.x_true if p.x_true is not None else np.zeros(160))
    dense = solve_basis_pursuit(A_sparse.toarray(), y)
    sparse = solve_basis_pursuit(A_sparse, y)
    np.testing.assert_allclose(sparse.x, dense.x, atol=1e-12)
    assert sparse.unique == dense.unique and sparse.face_dimension == dense.face_dimension
    with pytest.raises(InfeasibleError):
        solve_basis_pursuit(sp.csc_matrix(np.array([[1.0, 2.0], [2.0, 4.0]])), np.array([1.0, 0.0]))


def _slow_lp(seed: int = 0) -> _Lp:
    """A dense 300 x 1200 basis pursuit LP ([A, -A] z = y, z >= 0): ~1 s of simplex here."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    A = rng.standard_normal((300, 1200))
    y = A[:, :60] @ rng.standard_normal(60)
    lp = _Lp(Deadline(None), solver="simplex")
    lp.highs.setOptionValue("presolve", "off")
    matrix = sp.csc_matrix(np.hstack([A, -A]))
    lp.load(LpModel(np.ones(2400), np.zeros(2400), np.full(2400, np.inf), matrix, y, y))
    return lp


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals: main thread"
)
def test_ctrl_c_as_the_solver_thread_starts_still_cancels_the_solve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGINT landing inside highspy's startSolve, after its thread started but before _Lp.run
    holds the thread: the solve must still be cancelled and joined, not left running (it then
    kept a Ctrl-C'd CLI alive for the rest of the LP, ignoring further Ctrl-Cs)."""
    import highspy

    start_solve = highspy.Highs.startSolve

    def start_then_ctrl_c(self: Any) -> Any:
        thread = start_solve(self)
        signal.raise_signal(signal.SIGINT)
        return thread

    monkeypatch.setattr(highspy.Highs, "startSolve", start_then_ctrl_c)
    lp = _slow_lp()
    try:
        with pytest.raises(KeyboardInterrupt):
            lp.run("a test LP")
        assert not lp.highs.is_solver_running()
    finally:  # leave no solve running behind a failed assertion
        lp.highs.cancelSolve()  # type: ignore[no-untyped-call]
        lp.highs.wait()
