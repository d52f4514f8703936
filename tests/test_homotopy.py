"""The homotopy (LARS-lasso) route to BP against the LP and the exact route."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from dlncli.bp.homotopy import homotopy_bp
from dlncli.bp.verdict import solve_basis_pursuit
from dlncli.problem_io import load_sample


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 100_000), sparse_fraction=st.floats(0.05, 0.6))
def test_homotopy_answer_equals_the_lp_answer(seed: int, sparse_fraction: float) -> None:
    rng = np.random.default_rng(seed)
    m = int(rng.integers(3, 30))
    n = int(rng.integers(m + 1, 3 * m + 2))
    A = rng.standard_normal((m, n))
    x_true = np.where(rng.random(n) < sparse_fraction, rng.standard_normal(n), 0.0)
    x_true[int(rng.integers(n))] = 1.0
    y = A @ x_true
    fast = solve_basis_pursuit(A, y)
    lp = solve_basis_pursuit(A, y, solver="simplex")
    assert lp.solver == "simplex" and lp.lp_solves >= 1
    if fast.solver == "homotopy":
        assert fast.unique is True and fast.certified and fast.lp_solves == 0
        assert lp.unique is True
        scale = float(np.abs(lp.x).max())
        np.testing.assert_allclose(fast.x, lp.x, atol=1e-9 * scale)
        assert fast.l1_norm == pytest.approx(lp.l1_norm, rel=1e-12, abs=0)


def test_path_end_point_and_certificate_on_random3x5() -> None:
    p = load_sample("random3x5")
    path = homotopy_bp(p.A, p.y)
    assert path is not None
    assert path.support.tolist() == [2, 3, 4]
    np.testing.assert_allclose(p.A[:, path.support].T @ path.certificate, path.signs, atol=1e-14)
    np.testing.assert_allclose(path.x, [0, 0, -0.2782195, -0.9491969, -0.5365510], atol=1e-7)
    # The certificate's margin is the published 0.745 (a second method: the max-margin LP
    # gives 0.7449; the path's certificate is the min-norm one, which here is the same face).
    off = np.abs(p.A[:, [0, 1]].T @ path.certificate)
    assert 1 - off.max() == pytest.approx(0.7449, abs=1e-3)


def test_orthogonal_design_closed_form() -> None:
    # A = I: the lasso solution is soft thresholding, x(l) = sign(y) max(|y| - l, 0); the
    # path starts with column 0 at l = 3, adds column 1 at l = 1 and column 2 at l = 0.5,
    # and ends at x = y after those 2 breakpoints.
    y = np.array([3.0, -1.0, 0.5, 0.0])
    path = homotopy_bp(np.eye(4), y)
    assert path is not None
    np.testing.assert_allclose(path.x, y, atol=1e-15)
    assert path.steps == 2 and path.support.tolist() == [0, 1, 2]


def test_tie_or_rank_deficiency_falls_back_to_the_lp() -> None:
    # Two identical columns: the path would need both at once; the LP (exact route) decides.
    A = np.array([[1.0, 1.0, 0.3], [0.0, 0.0, 1.0]])
    assert homotopy_bp(A, np.array([1.0, 0.0])) is None
    sol = solve_basis_pursuit(A, np.array([1.0, 0.0]))
    assert sol.solver != "homotopy" and sol.unique is False and sol.face_dimension == 1


def test_sparse_input_uses_the_path_too() -> None:
    import scipy.sparse as sp

    p = load_sample("gauss:40:160:6:2")
    dense = solve_basis_pursuit(p.A, p.y)
    sparse = solve_basis_pursuit(sp.csr_matrix(p.A), p.y)
    assert dense.solver == sparse.solver == "homotopy"
    np.testing.assert_allclose(sparse.x, dense.x, atol=1e-12)
