"""The lasso path, cross-validation and BPDN (noise/lasso.py) against independent solvers:
scikit-learn's LARS (lars_path, whose alpha is lam / m) and coordinate descent (Lasso),
scipy's SLSQP and HiGHS (linprog), and the KKT conditions of each problem."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.optimize

from dlncli.arrays import FloatArray
from dlncli.errors import InfeasibleError, OptionError, ProblemFormatError, SolverError
from dlncli.noise.lasso import basis_pursuit_denoise, lasso_cv, lasso_path

sklearn_linear_model: Any = pytest.importorskip("sklearn.linear_model")

SHAPES = [(20, 50), (30, 10), (15, 15), (40, 100), (8, 30), (60, 20)]


def _noisy_problem(
    seed: int, m: int, n: int, k: int = 3, sigma: float = 0.1
) -> tuple[FloatArray, FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    x = np.zeros(n)
    x[rng.choice(n, size=min(k, n), replace=False)] = rng.standard_normal(min(k, n))
    return A, A @ x + sigma * rng.standard_normal(m), x


def _kkt_violation(A: FloatArray, y: FloatArray, lam: float, x: FloatArray) -> float:
    """max over the lasso's optimality conditions at lam: c_i = lam sign(x_i) where x_i != 0,
    |c_j| <= lam elsewhere, with c = A^T (y - A x)."""
    c = A.T @ (y - A @ x)
    support = x != 0
    on = np.abs(c[support] - lam * np.sign(x[support]))
    off = np.abs(c[~support]) - lam
    return float(max(np.max(on, initial=0.0), np.max(off, initial=0.0)))


@pytest.mark.parametrize("seed", range(12))
def test_path_equals_sklearn_lars(seed: int) -> None:
    m, n = SHAPES[seed % len(SHAPES)]
    A, y, _ = _noisy_problem(seed, m, n)
    alphas, _, coefs = sklearn_linear_model.lars_path(A, y, method="lasso")
    path = lasso_path(A, y)
    assert path.lambdas.shape == alphas.shape
    scale = float(path.lambdas[0])
    np.testing.assert_allclose(path.lambdas, m * alphas, rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(
        path.coefs, coefs.T, rtol=0, atol=1e-9 * float(np.max(np.abs(coefs)))
    )
    assert path.lambdas[-1] == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_path_is_optimal_at_breakpoints_and_between(seed: int) -> None:
    m, n = SHAPES[seed % len(SHAPES)]
    A, y, _ = _noisy_problem(100 + seed, m, n)
    path = lasso_path(A, y)
    lam_0 = float(path.lambdas[0])
    assert lam_0 == pytest.approx(float(np.max(np.abs(A.T @ y))), rel=1e-15, abs=0)
    assert np.all(np.diff(path.lambdas) <= 0)
    middles = 0.5 * (path.lambdas[1:] + path.lambdas[:-1])
    for lam in np.concatenate([path.lambdas, middles, [2 * lam_0]]):
        assert _kkt_violation(A, y, float(lam), path.at(float(lam))) <= 1e-10 * lam_0


def test_at_takes_scalars_and_arrays_and_refuses_lambdas_below_the_end() -> None:
    A, y, _ = _noisy_problem(7, 20, 40)
    path = lasso_path(A, y, lambda_min=0.05)
    assert path.lambdas[-1] == 0.05
    grid = np.array([10.0, 0.3, 0.1, 0.05])
    stacked = path.at(grid)
    assert stacked.shape == (4, 40)
    for row, lam in zip(stacked, grid, strict=True):
        np.testing.assert_array_equal(row, path.at(float(lam)))
    np.testing.assert_array_equal(path.at(10.0), np.zeros(40))
    # Stopping early is a prefix of the full path.
    full = lasso_path(A, y)
    np.testing.assert_allclose(path.lambdas[:-1], full.lambdas[: len(path.lambdas) - 1])
    np.testing.assert_allclose(path.coefs[-1], full.at(0.05), rtol=0, atol=1e-12)
    with pytest.raises(OptionError):
        path.at(0.01)
    with pytest.raises(OptionError):
        path.at(float("nan"))


def test_zero_correlation_gives_the_zero_path() -> None:
    A = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    y = np.array([0.0, 0.0, 1.0])
    path = lasso_path(A, y)
    np.testing.assert_array_equal(path.lambdas, [0.0])
    np.testing.assert_array_equal(path.at(0.0), [0.0, 0.0])


def test_bad_input_is_reported() -> None:
    with pytest.raises(ProblemFormatError, match="shape"):
        lasso_path(np.ones((3, 4)), np.ones(2))
    with pytest.raises(ProblemFormatError, match="non-finite"):
        lasso_path(np.full((2, 2), np.nan), np.ones(2))
    with pytest.raises(OptionError):
        lasso_path(np.eye(2), np.ones(2), lambda_min=-1.0)
    with pytest.raises(OptionError):
        lasso_cv(np.eye(3), np.ones(3), folds=4)
    with pytest.raises(OptionError):
        lasso_cv(np.eye(3), np.ones(3), lambda_ratio=0.0)
    with pytest.raises(OptionError):
        basis_pursuit_denoise(np.eye(2), np.ones(2), -0.5)


def test_cv_is_reproducible_with_a_seed() -> None:
    A, y, _ = _noisy_problem(3, 60, 120, k=6, sigma=0.2)
    first = lasso_cv(A, y, seed=11)
    again = lasso_cv(A, y, seed=11)
    assert first.lam == again.lam
    np.testing.assert_array_equal(first.cv_error, again.cv_error)
    np.testing.assert_array_equal(first.fold_of_row, again.fold_of_row)
    np.testing.assert_array_equal(first.x, again.x)
    assignments = {tuple(lasso_cv(A, y, seed=s).fold_of_row) for s in range(4)}
    assert len(assignments) == 4
    assert np.bincount(first.fold_of_row).tolist() == [12] * 5


def test_cv_errors_and_refit_match_coordinate_descent() -> None:
    # Each fold's lasso at lam * m_train / m is scikit-learn's Lasso at alpha = lam / m
    # (its loss is 1/(2 m_train) ||.||^2): solved independently by coordinate descent.
    A, y, _ = _noisy_problem(5, 40, 80, k=5, sigma=0.1)
    m = A.shape[0]
    cv = lasso_cv(A, y, folds=4, seed=2, n_lambdas=20, lambda_ratio=1e-2)
    for index in (0, 5, 12, 19):
        lam = float(cv.lambdas[index])
        per_fold = []
        for fold in range(4):
            held = cv.fold_of_row == fold
            model = sklearn_linear_model.Lasso(
                alpha=lam / m, fit_intercept=False, tol=1e-14, max_iter=1_000_000
            ).fit(A[~held], y[~held])
            per_fold.append(np.mean((A[held] @ model.coef_ - y[held]) ** 2))
        assert cv.cv_error[index] == pytest.approx(np.mean(per_fold), rel=1e-6, abs=0)
    assert cv.best_index == int(np.argmin(cv.cv_error))
    assert cv.lam == cv.lambdas[cv.best_index]
    refit = sklearn_linear_model.Lasso(
        alpha=cv.lam / m, fit_intercept=False, tol=1e-14, max_iter=1_000_000
    ).fit(A, y)
    np.testing.assert_allclose(cv.x, refit.coef_, rtol=0, atol=1e-7)


def _bpdn_slsqp(A: FloatArray, y: FloatArray, sigma: float, start: FloatArray) -> FloatArray:
    """min sum(u + v) s.t. ||A (u - v) - y||^2 <= sigma^2, u, v >= 0 by SLSQP."""
    n = A.shape[1]

    def constraint(w: FloatArray) -> float:
        r = A @ (w[:n] - w[n:]) - y
        return float(sigma**2 - r @ r)

    def constraint_grad(w: FloatArray) -> FloatArray:
        g = -2.0 * A.T @ (A @ (w[:n] - w[n:]) - y)
        return np.concatenate([g, -g])

    def objective(w: FloatArray) -> float:
        return float(np.sum(w))

    def objective_grad(w: FloatArray) -> FloatArray:
        return np.ones_like(w)

    w0 = np.concatenate([np.maximum(start, 0), np.maximum(-start, 0)])
    constraints: Any = [{"type": "ineq", "fun": constraint, "jac": constraint_grad}]
    result = scipy.optimize.minimize(
        objective,
        w0,
        jac=objective_grad,
        method="SLSQP",
        bounds=[(0, None)] * (2 * n),
        constraints=constraints,
        options={"ftol": 1e-12, "maxiter": 2000},
    )
    assert result.success, result.message
    return np.asarray(result.x[:n] - result.x[n:], dtype=np.float64)


@pytest.mark.parametrize("seed", range(6))
def test_bpdn_matches_slsqp_and_its_kkt_conditions(seed: int) -> None:
    m, n = [(8, 16), (12, 30), (20, 10)][seed % 3]
    A, y, x_true = _noisy_problem(200 + seed, m, n, k=3, sigma=0.1)
    sigma = 0.1 * np.sqrt(m)
    solution = basis_pursuit_denoise(A, y, sigma)
    x = solution.x
    assert np.linalg.norm(A @ x - y) == pytest.approx(sigma, rel=1e-10, abs=0)
    assert solution.residual_norm == pytest.approx(sigma, rel=1e-10, abs=0)
    assert _kkt_violation(A, y, solution.lam, x) <= 1e-10 * float(np.max(np.abs(A.T @ y)))
    reference = _bpdn_slsqp(A, y, sigma, x_true)
    np.testing.assert_allclose(x, reference, rtol=0, atol=1e-6)
    assert np.sum(np.abs(x)) <= np.sum(np.abs(reference)) + 1e-9


def test_bpdn_at_zero_sigma_is_basis_pursuit() -> None:
    A, y, _ = _noisy_problem(9, 10, 25, k=2, sigma=0.0)
    solution = basis_pursuit_denoise(A, y, 0.0)
    n = A.shape[1]
    lp = scipy.optimize.linprog(
        np.ones(2 * n), A_eq=np.hstack([A, -A]), b_eq=y, bounds=(0, None), method="highs"
    )
    assert lp.status == 0 and lp.x is not None
    np.testing.assert_allclose(solution.x, lp.x[:n] - lp.x[n:], rtol=0, atol=1e-9)


def test_bpdn_ends() -> None:
    A, y, _ = _noisy_problem(4, 30, 10, k=3, sigma=0.3)
    y_norm = float(np.linalg.norm(y))
    zero = basis_pursuit_denoise(A, y, y_norm * 1.01)
    np.testing.assert_array_equal(zero.x, np.zeros(10))
    assert zero.lam == pytest.approx(float(np.max(np.abs(A.T @ y))), rel=1e-15, abs=0)
    least_squares = np.linalg.lstsq(A, y, rcond=None)[0]
    floor = float(np.linalg.norm(A @ least_squares - y))
    with pytest.raises(InfeasibleError, match="least-squares residual"):
        basis_pursuit_denoise(A, y, 0.99 * floor)
    at_floor = basis_pursuit_denoise(A, y, floor)
    np.testing.assert_allclose(at_floor.x, least_squares, rtol=0, atol=1e-9)


def test_cv_flags_a_choice_at_the_grid_end() -> None:
    # Noiseless and well inside the recovery region: the smaller lam, the better the fit, so
    # a coarse grid ends above the best lam.
    A, y, _ = _noisy_problem(8, 40, 60, k=3, sigma=0.0)
    coarse = lasso_cv(A, y, lambda_ratio=1e-1, n_lambdas=10)
    assert coarse.best_index == 9 and coarse.at_grid_end
    noisy = _noisy_problem(8, 40, 60, k=3, sigma=0.5)
    assert not lasso_cv(noisy[0], noisy[1], lambda_ratio=1e-4).at_grid_end


@pytest.mark.parametrize("seed", range(3))
def test_long_paths_with_leaves_equal_sklearn_lars(seed: int) -> None:
    """Paths of hundreds of breakpoints, columns leaving and rejoining (noise above the
    signal's transition): the same breakpoints and end as LARS-lasso."""
    A, y, _ = _noisy_problem(200 + seed, 80, 240, k=30, sigma=0.3)
    alphas, _, coefs = sklearn_linear_model.lars_path(A, y, method="lasso")
    path = lasso_path(A, y)
    widths = np.count_nonzero(path.coefs, axis=1)
    assert np.any(np.diff(widths) < 0), "the test needs a path on which a column leaves"
    assert path.lambdas.shape == alphas.shape
    np.testing.assert_allclose(path.lambdas, 80 * alphas, rtol=0, atol=1e-9 * path.lambdas[0])
    np.testing.assert_allclose(path.coefs, coefs.T, rtol=0, atol=1e-8 * np.max(np.abs(coefs)))


def test_a_path_float64_cannot_follow_is_refused_not_returned() -> None:
    """With noise the path to lam = 0 ends with ~m active columns; on this instance (m = 500,
    N = 1000) x_K loses the accuracy the events need near lam = 1e-4 lam_0 (unchecked, the
    breakpoints past it violated the lasso's conditions by up to 50 lam_0): the homotopy's
    refreshed correlations reveal it and the path is refused; stopped at 1e-3 lam_0 it is
    exact."""
    rng = np.random.default_rng([1, 100, 0])
    m, n = 500, 1000
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    x = np.zeros(n)
    support = rng.choice(n, size=50, replace=False)
    x[support] = rng.choice([-1.0, 1.0], 50)
    y = A @ x + 0.1 * rng.standard_normal(m)
    with pytest.raises(SolverError, match="lost accuracy"):
        lasso_path(A, y)
    lam_0 = float(np.max(np.abs(A.T @ y)))
    path = lasso_path(A, y, lambda_min=1e-3 * lam_0)
    for i in range(0, len(path.lambdas), 7):
        assert _kkt_violation(A, y, float(path.lambdas[i]), path.coefs[i]) <= 1e-10 * lam_0
