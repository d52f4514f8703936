"""The exact lasso path, K-fold cross-validation along it, and basis pursuit denoising.

Notation: A is (m, N), y is (m,). The lasso x(lam) = argmin 1/2 ||A x - y||^2 + lam ||x||_1 is
piecewise linear in lam (LARS-lasso homotopy; Efron, Hastie, Johnstone, Tibshirani 2004). It is
0 for lam >= lam_0 = ||A^T y||_inf. On a segment, with the active set K, signs s_K, the
correlations c = A^T (y - A x) satisfy c_K = lam s_K and |c_j| <= lam elsewhere, and

    x_K(lam) = (A_K^T A_K)^{-1} (A_K^T y - lam s_K),   d = (A_K^T A_K)^{-1} s_K,   a = A^T A_K d:

lowering lam by g moves x_K by g d and c by -g a. The segment ends at the smallest g at which
an inactive |c_j| reaches lam (j joins with the sign of c_j), an active x_i reaches 0 (i
leaves), or lam reaches the requested end. The path is followed by the basis-pursuit
homotopy (dlncli.bp.homotopy: the same path, there followed to lam = 0), which updates a
Cholesky factor of A_K^T A_K as columns join and leave and solves x_K afresh at every
breakpoint instead of accumulating it. Ties between events (a set of measure zero for
continuous data) are taken one event at a time.

Basis pursuit denoising, min ||x||_1 subject to ||A x - y||_2 <= sigma, is the lasso path at
the lam where ||A x(lam) - y||_2 = sigma: the residual norm is nondecreasing in lam, and on a
segment the residual is affine in lam, so its squared norm is a quadratic in lam, solved in
closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlncli.arrays import FloatArray, IntArray
from dlncli.bp.homotopy import Declined, follow_homotopy
from dlncli.errors import InfeasibleError, OptionError, ProblemFormatError, SolverError

__all__ = [
    "BPDNSolution",
    "LassoCV",
    "LassoPath",
    "basis_pursuit_denoise",
    "lasso_cv",
    "lasso_path",
]

CV_LAMBDA_RATIO = 1e-3  # the CV grid's end relative to lam_0 (lasso_cv's default)
# sigma below the least-squares residual by at most this (relative to ||y||) is round-off
# of a residual that is zero or equal to sigma in exact arithmetic: the path's end is taken.
RESIDUAL_TOL = 1e-10


@dataclass(frozen=True)
class LassoPath:
    """The lasso path from lam_0 = ||A^T y||_inf down to ``lambdas[-1]``.

    lambdas : (K + 1,) breakpoints, nonincreasing; lambdas[0] = lam_0.
    coefs : (K + 1, N) x(lam) at each breakpoint (coefs[0] = 0); x is affine in lam between
        consecutive breakpoints.
    """

    lambdas: FloatArray
    coefs: FloatArray

    def at(self, lambdas: FloatArray | float) -> FloatArray:
        """x(lam) for each lam >= lambdas[-1]: (N,) for a scalar, (len, N) for an array.

        Raises
        ------
        OptionError : a lam below the path's end or not a number.
        """
        lam = np.asarray(lambdas, dtype=np.float64)
        flat = np.atleast_1d(lam)
        end = float(self.lambdas[-1])
        if not np.all(flat >= end):  # also refuses nan
            raise OptionError(
                "lam", float(flat[~(flat >= end)][0]), f"a number >= the path's end {end:g}"
            )
        # Breakpoints ascending: segment i of the reversed path is [rev[i], rev[i + 1]].
        rev = self.lambdas[::-1]
        coefs = self.coefs[::-1]
        right = np.clip(np.searchsorted(rev, flat, side="left"), 1, len(rev) - 1)
        left = right - 1
        if len(rev) == 1:
            out = np.repeat(coefs[:1], len(flat), axis=0)
        else:
            width = rev[right] - rev[left]
            with np.errstate(divide="ignore", invalid="ignore"):
                t = np.where(width > 0, (flat - rev[left]) / width, 1.0)
            t = np.clip(t, 0.0, 1.0)[:, None]
            out = coefs[left] + t * (coefs[right] - coefs[left])
            out[flat >= rev[-1]] = 0.0  # at and above lam_0
        return out[0] if lam.ndim == 0 else out


def _check_problem(A: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if A.ndim != 2 or y.shape != (A.shape[0],):
        raise ProblemFormatError(
            f"A has shape {A.shape} and y has shape {y.shape}; expected A of shape (m, N) "
            "and y of shape (m,)"
        )
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(y))):
        raise ProblemFormatError("A or y has a non-finite entry; expected finite numbers")
    return A, y


def _float64_pair(pair: tuple[Any, Any]) -> tuple[FloatArray, FloatArray]:
    return np.asarray(pair[0], dtype=np.float64), np.asarray(pair[1], dtype=np.float64)


def lasso_path(A: FloatArray, y: FloatArray, *, lambda_min: float = 0.0) -> LassoPath:
    """The exact lasso path of min 1/2 ||A x - y||^2 + lam ||x||_1 (module docstring).

    The path is followed by the basis-pursuit homotopy of :mod:`dlncli.bp.homotopy` (the same
    path, ended at ``lambda_min`` instead of 0), which records every breakpoint here.

    Parameters
    ----------
    A : (m, N).  y : (m,).
    lambda_min : where the path stops (>= 0). At 0 the end is a least-squares solution of
        minimal l1 norm (for m < N and A of full row rank, basis pursuit's minimizer).

    Raises
    ------
    ProblemFormatError : shapes or entries.  OptionError : lambda_min < 0.
    SolverError : the active columns became linearly dependent (the path is not unique), two
        columns start it together, or it did not end within the homotopy's step budget.
    """
    A, y = _check_problem(A, y)
    if not lambda_min >= 0.0:
        raise OptionError("lambda_min", lambda_min, "a number >= 0")
    n = A.shape[1]
    lam_0 = float(np.max(np.abs(A.T @ y))) if n else 0.0
    lambdas = [lam_0]
    coefs = [np.zeros(n)]
    if lam_0 <= lambda_min:
        return LassoPath(np.array(lambdas), np.array(coefs))

    def record(lam: float, active: list[int], x_active: FloatArray) -> None:
        x = np.zeros(n)
        x[active] = x_active
        lambdas.append(lam)
        coefs.append(x)

    path = follow_homotopy(A, y, lambda_min=lambda_min, on_breakpoint=record)
    if isinstance(path, Declined):
        raise SolverError(
            f"lasso path: stopped at lam = {lambdas[-1]:.6g}: {path.reason}; expected a path "
            "float64 can follow to lambda_min (linearly independent, well-conditioned active "
            "columns; a larger lambda_min stops before)"
        )
    return LassoPath(np.array(lambdas), np.array(coefs))


@dataclass(frozen=True)
class LassoCV:
    """The lasso at the lam chosen by K-fold cross-validation (:func:`lasso_cv`).

    lambdas : (L,) the common grid, decreasing, in the units of the full problem.
    cv_error : (L,) held-out mean squared residual per row, averaged over the folds.
    cv_error_std : (L,) its standard deviation over the folds.
    best_index : argmin of cv_error (the largest lam among equal minima).
    lam : lambdas[best_index].  x : (N,) the lasso on all rows at lam.
    fold_of_row : (m,) the fold each row was held out in.  seed : the seed that drew it.
    """

    lambdas: FloatArray
    cv_error: FloatArray
    cv_error_std: FloatArray
    best_index: int
    lam: float
    x: FloatArray
    fold_of_row: IntArray
    seed: int

    @property
    def at_grid_end(self) -> bool:
        """The choice is the grid's smallest lam: the best lam may lie below the grid (for a
        small noise level relative to x, lower ``lambda_ratio``)."""
        return self.best_index == len(self.lambdas) - 1


def lasso_cv(
    A: FloatArray,
    y: FloatArray,
    *,
    folds: int = 5,
    seed: int = 0,
    n_lambdas: int = 100,
    lambda_ratio: float = CV_LAMBDA_RATIO,
    path: LassoPath | None = None,
) -> LassoCV:
    """Choose lam by K-fold cross-validation along the exact lasso path, then refit.

    The rows are dealt to ``folds`` folds at random: the row at position i of
    ``np.random.default_rng(seed).permutation(m)`` goes to fold i mod folds. The common grid
    is ``n_lambdas`` values log-spaced from lam_0 = ||A^T y||_inf down to
    ``lambda_ratio * lam_0``. Because 1/2 ||A x - y||^2 grows with the number of rows, a fold
    trained on m_train rows is evaluated at lam * m_train / m (the same penalty per row, as in
    scikit-learn's alpha = lam / m). The chosen lam minimizes the held-out mean squared
    residual averaged over the folds; x is the lasso on all m rows at that lam.

    Parameters
    ----------
    A : (m, N).  y : (m,).  folds : 2 <= folds <= m.  seed : >= 0.
    n_lambdas : grid size, >= 1.  lambda_ratio : the grid's end relative to lam_0, in (0, 1].
    path : the lasso path of (A, y) when the caller has it (the refit is read from it when it
        reaches the chosen lam; else it is computed).

    Raises
    ------
    ProblemFormatError : shapes or entries.  OptionError : an option out of range.
    SolverError : from :func:`lasso_path`.
    """
    A, y = _check_problem(A, y)
    m = A.shape[0]
    if not 2 <= folds <= m:
        raise OptionError("folds", folds, f"an integer in [2, m = {m}]")
    if seed < 0:
        raise OptionError("seed", seed, "an integer >= 0")
    if n_lambdas < 1:
        raise OptionError("n_lambdas", n_lambdas, "an integer >= 1")
    if not 0.0 < lambda_ratio <= 1.0:
        raise OptionError("lambda_ratio", lambda_ratio, "a number in (0, 1]")
    lam_0 = float(np.max(np.abs(A.T @ y))) if A.shape[1] else 0.0
    if lam_0 == 0.0:
        raise ProblemFormatError(
            "A^T y = 0: the lasso is 0 for every lam; expected y correlated with a column of A"
        )
    grid = lam_0 * np.logspace(0.0, math.log10(lambda_ratio), n_lambdas)
    fold_of_row = np.empty(m, dtype=np.int64)
    fold_of_row[np.random.default_rng(seed).permutation(m)] = np.arange(m) % folds
    errors = np.empty((folds, n_lambdas))
    for fold in range(folds):
        held_out = fold_of_row == fold
        scale = (m - int(held_out.sum())) / m
        fold_path = lasso_path(A[~held_out], y[~held_out], lambda_min=scale * float(grid[-1]))
        # The end of a training path is scale * grid[-1] up to rounding: clip onto it.
        estimates = fold_path.at(np.maximum(scale * grid, fold_path.lambdas[-1]))
        residuals = A[held_out] @ estimates.T - y[held_out, None]
        errors[fold] = np.mean(residuals**2, axis=0)
    cv_error = errors.mean(axis=0)
    best = int(np.argmin(cv_error))
    lam = float(grid[best])
    if path is None or not path.lambdas[-1] <= lam:
        path = lasso_path(A, y, lambda_min=lam)
    x = np.asarray(path.at(lam), dtype=np.float64)
    return LassoCV(grid, cv_error, errors.std(axis=0), best, lam, x, fold_of_row, seed)


@dataclass(frozen=True)
class BPDNSolution:
    """min ||x||_1 s.t. ||A x - y||_2 <= sigma (:func:`basis_pursuit_denoise`).

    x : (N,).  lam : the lasso's lam with x = x(lam) (lam_0 = ||A^T y||_inf when x = 0).
    residual_norm : ||A x - y||_2 (= sigma unless x = 0).  sigma : the bound asked for.
    """

    x: FloatArray
    lam: float
    residual_norm: float
    sigma: float


def basis_pursuit_denoise(
    A: FloatArray, y: FloatArray, sigma: float, *, path: LassoPath | None = None
) -> BPDNSolution:
    """min ||x||_1 subject to ||A x - y||_2 <= sigma, exactly, from the lasso path.

    x = 0 when ||y|| <= sigma. Otherwise the path's residual norm falls from ||y|| at lam_0
    to the least-squares residual at lam = 0; the solution is the path point where it equals
    sigma, found on its segment as the root of a quadratic in lam (module docstring).

    Parameters
    ----------
    A : (m, N).  y : (m,).  sigma : the residual bound, >= 0 (for noise of standard deviation
        s per entry, about s sqrt(m)).
    path : the lasso path of (A, y) when the caller has it (used when it reaches sigma).

    Raises
    ------
    ProblemFormatError : shapes or entries.  OptionError : sigma < 0 or not a number.
    InfeasibleError : sigma below the least-squares residual min_x ||A x - y||.
    SolverError : from :func:`lasso_path`.
    """
    A, y = _check_problem(A, y)
    if not (sigma >= 0.0 and math.isfinite(sigma)):
        raise OptionError("sigma", sigma, "a finite number >= 0")
    y_norm = float(np.linalg.norm(y))
    if y_norm <= sigma:
        lam_0 = float(np.max(np.abs(A.T @ y))) if A.shape[1] else 0.0
        return BPDNSolution(np.zeros(A.shape[1]), lam_0, y_norm, sigma)
    lam_0 = float(np.max(np.abs(A.T @ y), initial=0.0))

    def reaches_sigma(candidate: LassoPath | None) -> bool:
        """The BPDN point lies on this path (its residual norm, monotone along it, ends at or
        below sigma), or the path ends at least squares, below which no sigma is feasible."""
        if candidate is None:
            return False
        end_residual = float(np.linalg.norm(y - A @ candidate.coefs[-1]))
        return candidate.lambdas[-1] == 0.0 or end_residual <= sigma

    # The caller's path, else the path to the CV grid's end (which usually reaches sigma), and
    # only then to 0: with noise the path's last stretch (about m active columns) is the
    # costliest and the least accurate.
    full = path
    for end in (CV_LAMBDA_RATIO, 0.0):
        if reaches_sigma(full):
            break
        full = lasso_path(A, y, lambda_min=end * lam_0)
    assert full is not None

    def residual(i: int) -> FloatArray:
        return np.asarray(y - A @ full.coefs[i], dtype=np.float64)

    end = len(full.lambdas) - 1
    end_norm = float(np.linalg.norm(residual(end)))
    if end_norm > sigma:
        if end_norm - sigma > RESIDUAL_TOL * y_norm:
            raise InfeasibleError(
                f"sigma = {sigma:.6g} is below the least-squares residual "
                f"min ||A x - y|| = {end_norm:.6g}; expected sigma >= {end_norm:.6g}"
            )
        return BPDNSolution(full.coefs[-1], float(full.lambdas[-1]), end_norm, sigma)
    # The residual norm is nonincreasing along the path (in decreasing lam): bisect for the
    # first breakpoint i + 1 with norm <= sigma (breakpoint 0, x = 0, has ||y|| > sigma).
    lo, hi = 0, end
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if float(np.linalg.norm(residual(mid))) <= sigma:
            hi = mid
        else:
            lo = mid
    i = lo
    low, high = residual(i + 1), residual(i)  # at lambdas[i + 1] (t = 0), lambdas[i] (t = 1)
    low_norm = float(np.linalg.norm(low))
    delta = high - low
    # ||low + t delta||^2 = sigma^2: aa t^2 + 2 bb t + cc = 0 with cc <= 0 < aa.
    aa = float(delta @ delta)
    bb = float(low @ delta)
    cc = (low_norm - sigma) * (low_norm + sigma)
    root = math.sqrt(max(bb * bb - aa * cc, 0.0))
    t = -cc / (bb + root) if bb > 0 else (root - bb) / aa
    t = min(max(t, 0.0), 1.0)
    lam = float(full.lambdas[i + 1] + t * (full.lambdas[i] - full.lambdas[i + 1]))
    x = full.coefs[i + 1] + t * (full.coefs[i] - full.coefs[i + 1])
    return BPDNSolution(x, lam, float(np.linalg.norm(A @ x - y)), sigma)
