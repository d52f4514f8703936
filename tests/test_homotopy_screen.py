"""The homotopy's float32 screening of event times (bp/homotopy.py, _Screen): its error bound
against float64 products, and paths equal breakpoint for breakpoint to the unscreened path
and to scikit-learn's lars_path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dlncli.arrays import FloatArray
from dlncli.bp import homotopy
from dlncli.bp.homotopy import HomotopyPath, follow_homotopy
from dlncli.problem_io import load_sample


def _breakpoints(
    A: FloatArray, y: FloatArray
) -> tuple[HomotopyPath, list[tuple[float, list[int]]]]:
    seen: list[tuple[float, list[int]]] = []

    def record(lam: float, active: list[int], x_active: FloatArray) -> None:
        seen.append((lam, sorted(active)))

    path = follow_homotopy(A, y, on_breakpoint=record)
    assert isinstance(path, HomotopyPath)
    return path, seen


@pytest.mark.parametrize(
    "spec",
    ["gauss:100:400:27:11", "gauss:200:800:55:0", "gauss:250:1000:67:1", "gauss:120:300:50:2"],
)
def test_screened_path_equals_the_unscreened_path(
    spec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # near and past the weak threshold: hundreds of breakpoints, leaves and rejoins
    p = load_sample(spec)
    monkeypatch.setattr(homotopy, "SCREEN_MIN_ENTRIES", 10**12)
    plain, plain_points = _breakpoints(p.A, p.y)
    monkeypatch.setattr(homotopy, "SCREEN_MIN_ENTRIES", 0)
    screened, screened_points = _breakpoints(p.A, p.y)
    assert len(plain_points) == len(screened_points) > 50
    assert [k for _, k in plain_points] == [k for _, k in screened_points]
    # The breakpoints agree to the tolerance of the comparison with lars_path (1e-9 of the
    # start): late on a long path both carry the normal equations' rounding (correlations are
    # refreshed from x_K at other steps: with screening a_K = s_K, so the drift of c_K never
    # triggers a refresh), and differ there by ~1e-10 of the start.
    start = plain_points[0][0]
    lams = np.array([lam for lam, _ in plain_points])
    np.testing.assert_allclose([lam for lam, _ in screened_points], lams, rtol=0, atol=1e-9 * start)
    np.testing.assert_allclose(screened.x, plain.x, rtol=0, atol=1e-9 * np.abs(plain.x).max())


@pytest.mark.parametrize("seed", range(4))
def test_screened_path_equals_sklearn_lars(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    linear_model: Any = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(seed)
    m, n = 40, 120
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    x = np.zeros(n)
    x[rng.choice(n, 8, replace=False)] = rng.standard_normal(8)
    y = A @ x + 0.05 * rng.standard_normal(m)  # noisy: the path ends at least squares
    monkeypatch.setattr(homotopy, "SCREEN_MIN_ENTRIES", 0)
    seen: list[tuple[float, FloatArray]] = []

    def record(lam: float, active: list[int], x_active: FloatArray) -> None:
        point = np.zeros(n)
        point[active] = x_active
        seen.append((lam, point))

    follow_homotopy(A, y, on_breakpoint=record)
    alphas, _, coefs = linear_model.lars_path(A, y, method="lasso")
    lams = np.array([lam for lam, _ in seen])
    assert lams.size == alphas.size - 1  # lars_path also lists the start, x = 0
    np.testing.assert_allclose(lams, m * alphas[1:], rtol=0, atol=1e-9 * m * alphas[0])
    ours = np.array([point for _, point in seen])
    np.testing.assert_allclose(ours, coefs.T[1:], rtol=0, atol=1e-9 * np.abs(coefs).max())


@pytest.mark.parametrize("seed", range(6))
def test_the_float32_product_is_within_its_bound(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n = 300, 700
    # columns of very different norms and a v with a wide dynamic range
    A = rng.standard_normal((m, n)) * np.exp(rng.uniform(-6, 6, n))
    v = rng.standard_normal(m) * np.exp(rng.uniform(-8, 8, m))
    screen = homotopy._Screen(A, A.T)
    product = screen.product(v)
    assert product is not None
    a32, err = product
    reference = A.T @ v  # float64: error ~1e-16 |A|^T|v|, far below the float32 bound
    assert np.all(np.abs(a32 - reference) <= err)
    # and the bound is not vacuous: within 1000x of the actual error's scale
    assert np.median(err / (np.abs(A).T @ np.abs(v))) < 1000 * 2.0**-24 * np.sqrt(m)


def test_screening_is_only_for_large_dense_problems() -> None:
    import scipy.sparse as sp

    A = np.ones((10, 20))
    assert not homotopy._Screen.usable(A, sparse=False)  # below SCREEN_MIN_ENTRIES
    big = np.ones((1000, 1000))
    assert homotopy._Screen.usable(big, sparse=False)
    assert not homotopy._Screen.usable(sp.csc_matrix(big), sparse=True)
