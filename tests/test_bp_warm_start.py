"""The homotopy loop's BLAS kernels and the LP's warm start after a declined path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dlncli.bp import homotopy, verdict
from dlncli.bp.homotopy import Declined, HomotopyPath, _Cholesky, follow_homotopy
from dlncli.bp.lp import equilibrate
from dlncli.bp.verdict import (
    _qr_solver,
    _refined_lstsq,
    _residual_dot2,
    _warm_basis,
    solve_basis_pursuit,
)
from dlncli.problem_io import load_sample


def test_cholesky_updates_match_a_factor_from_scratch() -> None:
    # 300 random joins and leaves (BLAS drot / dtrsv on a compact Fortran array) against the
    # definition R^T R = A_K^T A_K and a direct solve.
    rng = np.random.default_rng(7)
    A = rng.standard_normal((30, 40))
    chol, active = _Cholesky(), list[int]()
    for _ in range(300):
        if active and (rng.random() < 0.4 or len(active) >= 25):
            position = int(rng.integers(len(active)))
            chol.remove(position)
            del active[position]
        else:
            j = int(rng.choice([c for c in range(40) if c not in active]))
            assert chol.add(A[:, active].T @ A[:, j], float(A[:, j] @ A[:, j]))
            active.append(j)
        gram = A[:, active].T @ A[:, active]
        np.testing.assert_allclose(chol.R.T @ chol.R, gram, rtol=0, atol=1e-10)
        assert np.array_equal(np.triu(chol.R), chol.R)
        if active:
            rhs = rng.standard_normal((len(active), 2))
            np.testing.assert_allclose(chol.solve(rhs), np.linalg.solve(gram, rhs), atol=1e-9)


def test_cholesky_refuses_a_dependent_column() -> None:
    A = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    chol = _Cholesky()
    assert chol.add(np.zeros(0), 1.0) and chol.add(A[:, :1].T @ A[:, 1], 1.0)
    assert not chol.add(A[:, :2].T @ A[:, 2], 2.0)  # a_2 = a_0 + a_1


def test_a_declined_path_hands_its_active_set_to_the_lp() -> None:
    p = load_sample("gauss:60:200:12:3")
    full = follow_homotopy(p.A, p.y)
    assert isinstance(full, HomotopyPath) and full.steps > 4
    stopped = follow_homotopy(p.A, p.y, max_steps=full.steps // 2)
    assert isinstance(stopped, Declined) and "steps" in stopped.reason
    # The active set where the path stopped: signs are those of the correlations there.
    assert stopped.support.size >= 1 and np.all(np.diff(stopped.support) > 0)
    residual = (
        p.y - p.A[:, stopped.support] @ np.linalg.lstsq(p.A[:, stopped.support], p.y, rcond=None)[0]
    )
    assert np.linalg.matrix_rank(p.A[:, stopped.support]) == stopped.support.size
    assert np.all(np.abs(stopped.signs) == 1.0)
    assert np.all(np.isfinite(residual))


def test_warm_basis_is_a_nonsingular_basis_of_the_lp() -> None:
    p = load_sample("gauss:60:200:12:3")
    stopped = follow_homotopy(p.A, p.y, max_steps=6)
    assert isinstance(stopped, Declined)
    As, _ = equilibrate(p.A, p.y).apply(p.A, p.y)
    basic = _warm_basis(As, stopped.support, stopped.signs)
    m, n = As.shape
    assert len(basic) == m == len(set(basic))
    lp_matrix = np.hstack([As, -As, np.eye(m)])  # structural columns, then row logicals
    assert np.linalg.matrix_rank(lp_matrix[:, basic]) == m
    # the path's columns are basic with their signs (x+ for s > 0, x- for s < 0)
    for j, s in zip(stopped.support, stopped.signs, strict=True):
        assert (int(j) if s > 0 else int(j) + n) in basic


@pytest.mark.parametrize("fraction", [0.3, 0.9])
def test_lp_after_a_forced_decline_is_warm_and_gives_the_cold_answer(
    monkeypatch: pytest.MonkeyPatch, fraction: float
) -> None:
    p = load_sample("gauss:60:200:12:3")
    paths: list[HomotopyPath | Declined] = []

    def recorded(*args: Any, **kwargs: Any) -> HomotopyPath | Declined:
        paths.append(homotopy.follow_homotopy(*args, **kwargs))
        return paths[-1]

    monkeypatch.setattr(verdict, "follow_homotopy", recorded)
    full = solve_basis_pursuit(p.A, p.y)  # the path as the verdict runs it (unit-scaled data)
    assert full.route == "homotopy" and isinstance(paths[0], HomotopyPath)
    steps = min(paths[0].steps - 1, max(1, int(fraction * paths[0].steps)))
    calls: list[int] = []

    def capped(*args: Any, **kwargs: Any) -> HomotopyPath | Declined:
        # the first path stops after `steps`; the second (on reweighted rows) at once
        calls.append(1)
        cap = steps if len(calls) == 1 else 1
        return homotopy.follow_homotopy(*args, **kwargs, max_steps=cap)

    monkeypatch.setattr(verdict, "follow_homotopy", capped)
    warm = solve_basis_pursuit(p.A, p.y)
    assert len(calls) == 2
    assert warm.route.startswith("lp") and warm.certified and warm.unique is True
    assert warm.route_notes[0].startswith(
        f"homotopy declined: the path stopped: no end within {steps}"
    )
    assert any(note.startswith("LP warm-started from the path's") for note in warm.route_notes)
    monkeypatch.undo()
    cold = solve_basis_pursuit(p.A, p.y, solver="simplex")  # second method: no path at all
    assert not any("warm" in note for note in cold.route_notes)
    scale = float(np.max(np.abs(cold.x)))
    np.testing.assert_allclose(warm.x, cold.x, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(warm.x, full.x, rtol=0, atol=1e-12 * scale)


def test_path_with_rare_refreshes_ends_at_the_exact_answer_near_the_threshold() -> None:
    # gauss:200:800:55:0 (rho = 0.275, near rho_W(1/4)) passes 339 breakpoints: the
    # correlations are refreshed from the residual only every REFRESH_EVERY steps (or on drift
    # of the active ones), and the end point must still be BP's minimizer.
    p = load_sample("gauss:200:800:55:0")
    path = follow_homotopy(p.A, p.y)
    assert isinstance(path, HomotopyPath) and path.steps > 4 * homotopy.REFRESH_EVERY
    # Second method: the LP, certified by exact rationals or the float bound (m = 200).
    cold = solve_basis_pursuit(p.A, p.y, solver="simplex")
    assert cold.route in ("lp-exact", "lp-float-bound") and cold.unique is True
    scale = float(np.max(np.abs(cold.x)))
    np.testing.assert_allclose(path.x, cold.x, rtol=0, atol=1e-11 * scale)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dot2_residual_is_within_its_error_bound_of_the_exact_one(seed: int) -> None:
    # y = fl(M x): the residual y - M x is pure cancellation (~1e-15 of terms ~1). Reference:
    # the exact rational residual by mpmath at 300 bits (products of doubles are exact there).
    import mpmath

    rng = np.random.default_rng(seed)
    M = rng.standard_normal((40, 25)) * np.exp(rng.uniform(-5, 5, size=(1, 25)))
    x = rng.standard_normal(25)
    y = M @ x
    residual = _residual_dot2(M, x, y)
    u = 2.0**-53
    n = 2 * M.shape[1] + 1
    gamma = n * u / (1 - n * u)
    with mpmath.workprec(300):
        for i in range(M.shape[0]):
            terms = [mpmath.mpf(float(y[i]))] + [
                -mpmath.mpf(float(M[i, j])) * mpmath.mpf(float(x[j])) for j in range(25)
            ]
            exact = mpmath.fsum(terms)
            magnitude = float(mpmath.fsum(abs(t) for t in terms))
            bound = u * abs(float(exact)) + gamma**2 * magnitude + 1e-300
            assert abs(float(mpmath.mpf(float(residual[i])) - exact)) <= bound


def test_refined_least_squares_recovers_an_exact_solution_of_an_ill_conditioned_system() -> None:
    # Integer M (two nearly parallel columns: cond ~ 1e7) and integer x: y = M x is exact,
    # so x is the closed-form answer. One QR, reused by the two refinement steps.
    rng = np.random.default_rng(5)
    M = rng.integers(-1000, 1000, size=(60, 12)).astype(np.float64)
    M[:, 0] = rng.integers(-(10**6), 10**6, size=60)
    M[:, 1] = M[:, 0]
    M[7, 1] += 1.0  # columns 0 and 1 differ in one entry by 1 in 1e6
    x_true = rng.integers(-50, 50, size=12).astype(np.float64)
    y = M @ x_true  # exact: integers far below 2^53
    assert np.linalg.cond(M) > 1e5
    x = _refined_lstsq(M, y)
    np.testing.assert_allclose(x, x_true, rtol=0, atol=1e-10)
    plain = np.linalg.lstsq(M, y, rcond=None)[0]
    assert np.max(np.abs(x - x_true)) <= np.max(np.abs(plain - x_true))
    assert _qr_solver(M) is not None
    assert _qr_solver(M[:, [0, 0, 2]]) is None  # a repeated column: no clear full rank


def test_nested_one_blas_thread_keeps_the_limit_until_the_outermost_exit() -> None:
    # An entry point (the limit) holds the policy around solve_basis_pursuit, which takes it
    # again: the inner exit must not restore the threads under the outer one.
    import scipy.linalg  # noqa: F401  (its OpenBLAS too)
    from threadpoolctl import threadpool_info

    from dlncli.blas import one_blas_thread

    def threads() -> set[int]:
        return {int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"}

    before = threads()
    with one_blas_thread():
        assert threads() == {1}
        with one_blas_thread():
            assert threads() == {1}
        assert threads() == {1}
        solve_basis_pursuit(np.array([[1.0, 2.0, 0.5]]), np.array([1.0]))
        assert threads() == {1}
    assert threads() == before
