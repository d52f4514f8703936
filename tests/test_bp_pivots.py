"""Dense simplex pivots from the homotopy's end (dlncli.bp.pivots) and their use when the
path ends at a basis that is not optimal; every answer is checked against HiGHS."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dlncli.arrays import FloatArray, IntArray
from dlncli.bp import pivots, verdict as verdict_module
from dlncli.bp.homotopy import HomotopyPath
from dlncli.bp.verdict import solve_basis_pursuit
from dlncli.problem_io import load_sample


def _feasible_start(A: FloatArray, y: FloatArray, basis: IntArray) -> FloatArray:
    """σ_B = sign(A_B⁻¹ y): any nonsingular B with these signs is primal feasible."""
    return np.where(np.linalg.solve(A[:, basis], y) < 0, -1.0, 1.0)


@pytest.mark.parametrize("seed", range(4))
def test_random_feasible_starts_reach_the_lp_minimizer(seed: int) -> None:
    # rho = 0.7: above the weak threshold the minimizer is a vertex with m nonzeros (no
    # degenerate bases; far starts on degenerate ones can stall, which the cap reports)
    p = load_sample(f"gauss:40:120:{28 + seed}:{seed}")
    basis = np.random.default_rng(seed).choice(120, 40, replace=False)
    end = pivots.pivot_to_optimum(
        p.A, p.y, basis, _feasible_start(p.A, p.y, basis), max_pivots=3000
    )
    assert isinstance(end, pivots.PivotEnd), end
    reference = solve_basis_pursuit(p.A, p.y, solver="simplex")  # HiGHS + exact rationals
    assert reference.certified and reference.unique
    np.testing.assert_allclose(end.x, reference.x, rtol=0, atol=1e-9)
    assert np.max(np.abs(p.A.T @ end.dual)) <= 1 + 1e-9  # an optimal basis's dual
    np.testing.assert_allclose(p.A @ end.x, p.y, rtol=0, atol=1e-12)


def test_a_start_one_swap_from_optimal_needs_few_pivots() -> None:
    p = load_sample("gauss:60:200:42:5")
    reference = solve_basis_pursuit(p.A, p.y, solver="simplex")
    basis = np.random.default_rng(1).choice(200, 60, replace=False)
    optimal = pivots.pivot_to_optimum(
        p.A, p.y, basis, _feasible_start(p.A, p.y, basis), max_pivots=3000
    )
    assert isinstance(optimal, pivots.PivotEnd)
    # swap the basic column with the largest value for a non-basic one
    swapped = optimal.basis.copy()
    outside = np.setdiff1d(np.arange(200), swapped)
    swapped[int(np.argmin(np.abs(optimal.x[swapped])))] = outside[0]
    end = pivots.pivot_to_optimum(p.A, p.y, swapped, _feasible_start(p.A, p.y, swapped))
    assert isinstance(end, pivots.PivotEnd) and 1 <= end.pivots <= 10
    np.testing.assert_allclose(end.x, reference.x, rtol=0, atol=1e-9)


def test_the_pivot_cap_is_reported() -> None:
    p = load_sample("gauss:40:120:8:0")
    basis = np.arange(40)
    end = pivots.pivot_to_optimum(p.A, p.y, basis, _feasible_start(p.A, p.y, basis), max_pivots=0)
    assert end == "no optimum within 0 pivots"


def _fake_path(monkeypatch: pytest.MonkeyPatch, support: IntArray, signs: FloatArray) -> None:
    """The homotopy 'ends' at ``support`` with ``signs`` (its min-norm certificate)."""

    def fake(A: Any, y: FloatArray, **options: Any) -> HomotopyPath:
        A_K = np.asarray(A)[:, support]
        x = np.zeros(A.shape[1])
        x[support] = np.linalg.lstsq(A_K, y, rcond=None)[0]
        certificate = A_K @ np.linalg.solve(A_K.T @ A_K, signs)
        return HomotopyPath(x, support, signs, certificate, steps=len(support))

    monkeypatch.setattr(verdict_module, "follow_homotopy", fake)


def test_a_square_end_that_is_not_optimal_is_pivoted_not_sent_to_the_lp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As gauss:1000:5000:300:8 (rho above the weak threshold): the path ends at a square
    # active set one pivot from the optimal basis.
    p = load_sample("gauss:60:200:42:2")
    reference = solve_basis_pursuit(p.A, p.y, solver="simplex")
    assert reference.unique and reference.support.size == 60
    basis = reference.support.copy()
    outside = np.setdiff1d(np.arange(200), basis)
    basis[int(np.argmin(np.abs(reference.x[basis])))] = outside[7]
    basis = np.sort(basis)
    _fake_path(monkeypatch, basis, _feasible_start(p.A, p.y, basis))
    sol = solve_basis_pursuit(p.A, p.y)
    assert sol.route == "homotopy-pivots" and sol.certified and sol.unique is True
    assert sol.lp_solves == 0 and "dense simplex pivots" in sol.route_notes[0]
    np.testing.assert_allclose(sol.x, reference.x, rtol=0, atol=1e-9)


def test_a_short_end_that_is_not_optimal_goes_to_the_lp(monkeypatch: pytest.MonkeyPatch) -> None:
    # K = the planted support and 10 more columns with random signs: |K| < m, and K's
    # certificate is not a BP certificate. Not pivoted (degenerate): the warm LP answers.
    p = load_sample("gauss:60:200:10:4")
    reference = solve_basis_pursuit(p.A, p.y, solver="simplex")
    assert reference.unique
    rng = np.random.default_rng(0)
    extra = rng.choice(np.setdiff1d(np.arange(200), reference.support), 10, replace=False)
    support = np.sort(np.concatenate([reference.support, extra]))
    planted = ~np.isin(support, extra)
    signs = np.where(planted, np.sign(reference.x[support]), rng.choice([-1.0, 1.0], 20))
    _fake_path(monkeypatch, support, signs)
    sol = solve_basis_pursuit(p.A, p.y)
    assert sol.certified and sol.unique is True and sol.route.startswith("lp")
    assert "its active set is not square (20 columns, m = 60)" in sol.route_notes[0]
    np.testing.assert_allclose(sol.x, reference.x, rtol=0, atol=1e-9)


def _first_path_declined(monkeypatch: pytest.MonkeyPatch, second_too: bool = False) -> list[Any]:
    """The first path is declined; the second (and later) run the real homotopy."""
    from dlncli.bp.homotopy import Declined, follow_homotopy

    seen: list[Any] = []

    def flaky(A: Any, y: FloatArray, **options: Any) -> Any:
        seen.append(np.array(A))
        if len(seen) == 1 or second_too:
            return Declined("a test's refusal")
        return follow_homotopy(A, y, **options)

    monkeypatch.setattr(verdict_module, "follow_homotopy", flaky)
    return seen


def test_a_declined_path_is_followed_again_on_reweighted_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = load_sample("gauss:60:200:12:7")
    reference = solve_basis_pursuit(p.A, p.y, solver="simplex")
    seen = _first_path_declined(monkeypatch)
    sol = solve_basis_pursuit(p.A, p.y)
    assert sol.route == "homotopy-reweighted" and sol.certified and sol.unique is True
    assert sol.lp_solves == 0 and "a test's refusal" in sol.route_notes[0]
    np.testing.assert_allclose(sol.x, reference.x, rtol=0, atol=1e-9)
    # the second path ran on diag(2^e) A with e not constant: a different lasso path
    ratio = seen[1] / seen[0]
    assert np.all(ratio == ratio[:, :1]) and np.unique(ratio[:, 0]).size > 1
    assert np.all(np.frexp(ratio[:, 0])[0] == 0.5)  # powers of two


def test_two_declined_paths_go_to_the_lp(monkeypatch: pytest.MonkeyPatch) -> None:
    p = load_sample("gauss:60:200:12:7")
    seen = _first_path_declined(monkeypatch, second_too=True)
    sol = solve_basis_pursuit(p.A, p.y)
    assert len(seen) == 2 and sol.route.startswith("lp") and sol.certified
    assert "on reweighted rows: the path stopped: a test's refusal" in sol.route_notes[0]


def test_rows_of_one_scale_are_reweighted_alternately() -> None:
    A = np.ones((5, 3))
    np.testing.assert_array_equal(verdict_module._path_reweighting(A), [0, -1, 0, -1, 0])
    A[1] = 0.25  # row maxima 1 and 0.25: brought to one scale (the big rows scaled down)
    np.testing.assert_array_equal(verdict_module._path_reweighting(A), [-2, 0, -2, -2, -2])
