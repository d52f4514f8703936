"""The benchmark harness's own logic: scaling fits, caps and skips, the sparse family."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.run import Row, _measure, _Series, _sparse_columns
from dlncli.bp.verdict import solve_basis_pursuit
from dlncli.errors import TimeLimitError


def test_series_fits_a_power_law_and_ignores_overhead_points() -> None:
    s = _Series([(100, 0.001), (200, 0.1), (400, 0.8), (800, 6.4)])  # t ~ N^3 above the floor
    assert s.predict(1600) == pytest.approx(51.2)
    assert s.exponent() == "3.00 (N = 200…800)"
    assert _Series([(100, 0.01), (200, 0.02)]).predict(400) is None  # all below the floor


def test_measure_records_skips_and_stops_at_the_cap() -> None:
    series = {"m": _Series([(100, 1.0), (200, 8.0)])}
    rows: list[Row] = []
    # The fit predicts 64 s at N = 400 > cap 10 s: not run, and never again.
    assert _measure(series, rows, "case", 400, 10.0, "m", lambda: 1) is None
    assert rows[-1].note == "not run: fit predicts 64 s > cap 10 s"
    assert series["m"].stopped.startswith("not run: stopped at N=400 (fit predicts 64 s")
    assert _measure(series, rows, "case", 800, 1e9, "m", lambda: 1) is None

    def too_slow() -> None:
        raise TimeLimitError("cap")

    fresh = {"m": _Series([])}
    assert _measure(fresh, rows, "case", 100, 5.0, "m", too_slow) is None
    assert rows[-1].note == "did not finish in 5 s" and rows[-1].seconds is None
    timed = _measure({"m": _Series([])}, rows, "case", 100, 5.0, "m", math.sqrt, 4.0)
    assert timed is not None and timed[1] == 2.0 and timed[0] >= 0.0


def test_sparse_family_has_fixed_column_counts_and_recovers_x_true() -> None:
    A, y, x_true = _sparse_columns(400)
    assert A.shape == (100, 400)
    assert np.all(np.diff(A.indptr) == 8)
    assert np.count_nonzero(x_true) == 10
    bp = solve_basis_pursuit(A, y)
    assert bp.unique and np.max(np.abs(bp.x - x_true)) <= 1e-12
