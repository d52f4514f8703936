"""Basis pursuit robustness: the homotopy near the phase transition, the route report,
rigorous bounds at any size, scale-aware consistency, extreme scales, and threads."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dlncli.arrays import FloatArray, IntArray
from dlncli.bp import certify, verdict as verdict_module
from dlncli.bp.homotopy import HomotopyPath, follow_homotopy
from dlncli.bp.lp import _redirect_stdout
from dlncli.bp.verdict import solve_basis_pursuit
from dlncli.errors import InfeasibleError, SolverError
from dlncli.problem_io import load_sample


def test_phase_transition_instance_finishes_on_the_homotopy() -> None:
    # gauss:100:400:27:11 (rho = 0.27 = rho_W(1/4)): the path's last breakpoints come within
    # 1e-9 of its end; the former end test (relative to the current l) took them for a tie.
    p = load_sample("gauss:100:400:27:11")
    path = follow_homotopy(p.A, p.y)
    assert isinstance(path, HomotopyPath)
    fast = solve_basis_pursuit(p.A, p.y)
    assert fast.route == "homotopy" and fast.certified and fast.unique is True
    assert fast.route_notes == () and fast.lp_solves == 0
    # Second method: the LP with the exact-rational route (m = 100 <= 200).
    exact = solve_basis_pursuit(p.A, p.y, solver="simplex")
    assert exact.route in ("lp-exact", "lp-float-bound") and exact.unique is True
    assert exact.route_notes[0].startswith("homotopy not tried")
    np.testing.assert_allclose(fast.x, exact.x, rtol=0, atol=1e-12)


def test_route_notes_say_why_the_homotopy_was_declined() -> None:
    # Two identical columns tie at the start of the path; the LP and exact route decide.
    A = np.array([[1.0, 1.0, 0.3], [0.0, 0.0, 1.0]])
    sol = solve_basis_pursuit(A, np.array([1.0, 0.0]))
    assert sol.route == "lp-exact" and sol.certified and sol.face_dimension == 1
    why = "the path stopped: two columns start the path together (|Aᵀy| ties at its maximum)"
    # identical columns tie on reweighted rows too: the second path stops the same way
    assert sol.route_notes[0] == f"homotopy declined: {why}; on reweighted rows: {why}"


def test_inconsistency_far_beyond_round_off_is_infeasible() -> None:
    # Rank one, and y off its range by 1e-9 relative: ~1e7 ulps, not round-off.
    A = np.array([[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(InfeasibleError):
        solve_basis_pursuit(A, np.array([1.0, 1.0 + 1e-9]))
    # The same above the exact-arithmetic size (the float route decides alone).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(certify, "EXACT_MAX_ROWS", 0)
        with pytest.raises(InfeasibleError):
            solve_basis_pursuit(A, np.array([1.0, 1.0 + 1e-9]))
    # A few ulps off is round-off: certified, with x within those ulps of the answer.
    sol = solve_basis_pursuit(A, np.array([1.0, 1.0 + 4 * 2.0**-52]))
    assert sol.certified and sol.l1_norm == pytest.approx(1.0, rel=0, abs=1e-14)


def _planted(seed: int) -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((12, 30))
    x = np.zeros(30)
    x[[3, 17, 22]] = [1.5, -0.5, 2.0]
    return A, A @ x


@pytest.mark.parametrize("scale", [1e-310, 1e300])
def test_extreme_data_scales_give_the_same_answer(scale: float) -> None:
    # Subnormal data once crashed certify.to_float with OverflowError. 1e-310 keeps ~45 bits
    # of each entry (a nearby problem) and 1e300 rounds: x is compared to round-off.
    A, y = _planted(1)
    base = solve_basis_pursuit(A, y)
    sol = solve_basis_pursuit(A * scale, y * scale)
    assert sol.certified and sol.unique is True
    assert sol.support.tolist() == base.support.tolist() == [3, 17, 22]
    np.testing.assert_allclose(sol.x, base.x, rtol=0, atol=1e-12)


def test_power_of_two_scales_give_exactly_the_same_answer() -> None:
    # Scaling rows by powers of two is undone exactly before solving: identical answers.
    A, y = _planted(3)
    base = solve_basis_pursuit(A, y)
    rows = np.ldexp(1.0, np.arange(-600, 600, 100))
    sol = solve_basis_pursuit(rows[:, None] * A * 2.0**-40, rows * y)
    assert sol.route == base.route and sol.certified and sol.unique is True
    np.testing.assert_array_equal(sol.x, base.x * 2.0**40)


def test_subnormal_columns_with_normal_y_refuse_an_unrepresentable_minimizer() -> None:
    A, y = _planted(2)
    with pytest.raises(SolverError, match="beyond float64's range"):
        solve_basis_pursuit(A * 1e-310, y)


@pytest.mark.parametrize("exact_rows", [200, 0])
@pytest.mark.parametrize("rows", [(1.0, 1.0), (1e150, 1e-150), (1e-150, 1e150)])
def test_row_scaling_does_not_change_the_verdict(
    rows: tuple[float, float], exact_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # S = {(t, 1 - 2t... )}: A = [[1, 2, 3], [1, 1, 1]], y = (2, 1) has the minimizers
    # x = (1/2, 0, 1/2) + s (1, -2, 1) with ||x||_1 = 1 for s in [-1/4 ... 0] x (0, 1/4]
    # ... a face of dimension 1 (columns 0, 1, 2 all equicorrelated with lambda = (0, 1)).
    monkeypatch.setattr(certify, "EXACT_MAX_ROWS", exact_rows)
    D = np.array(rows)
    A = D[:, None] * np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    sol = solve_basis_pursuit(A, D * np.array([2.0, 1.0]))
    assert sol.face_dimension == 1 and sol.unique is not True
    assert sol.l1_norm == pytest.approx(1.0, rel=1e-12, abs=0)
    if exact_rows:
        assert sol.certified and sol.unique is False


def _thread_instances() -> list[tuple[FloatArray, FloatArray, str]]:
    """A mix of routes: homotopy, LP + float bound / exact rationals, and a face."""
    out: list[tuple[FloatArray, FloatArray, str]] = []
    for seed in range(4):
        p = load_sample(f"gauss:30:90:{4 + seed}:{seed}")
        out.append((p.A, p.y, "choose"))
        out.append((p.A, p.y, "simplex"))
    out.append((np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]), np.array([2.0, 1.0]), "choose"))
    return out


def test_six_threads_give_the_serial_answers() -> None:
    # Each call owns its HiGHS instance; fd 1's redirect and the BLAS thread limit are
    # reference counted. Run everything from 6 threads at once, twice, in a fresh
    # interpreter (so the lazy imports of scipy.sparse, highspy and flint happen under
    # threads), and compare with serial runs.
    script = textwrap.dedent(
        """
        import os, sys, threading
        from concurrent.futures import ThreadPoolExecutor
        import numpy as np
        from tests.test_bp_robust import _thread_instances
        from dlncli.bp.verdict import solve_basis_pursuit
        from threadpoolctl import threadpool_info
        before_fd = os.fstat(1).st_ino
        before_blas = {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
        cases = _thread_instances() * 2
        def run(case):
            A, y, solver = case
            s = solve_basis_pursuit(A, y, solver=solver)
            return s.x, s.route, s.certified, s.face_dimension
        with ThreadPoolExecutor(6) as pool:
            parallel = list(pool.map(run, cases))
        serial = [run(c) for c in cases]
        for (xp, rp, cp, dp), (xs, rs, cs, ds) in zip(parallel, serial):
            assert rp == rs and cp == cs and dp == ds, (rp, rs)
            assert np.array_equal(xp, xs)
        assert os.fstat(1).st_ino == before_fd
        # Every BLAS loaded since (scipy's own copy) is back at the default thread count.
        after_blas = {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
        assert after_blas == before_blas, (after_blas, before_blas, threadpool_info())
        print("threads-ok", len(cases))
        """
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root / 'src'}{os.pathsep}{root}"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "threads-ok 18"


def test_nested_and_concurrent_redirects_restore_fd1_once(
    capfd: pytest.CaptureFixture[str],
) -> None:
    before = os.fstat(1).st_ino
    barrier = threading.Barrier(4)
    seen: list[int] = []

    def user() -> None:
        with _redirect_stdout():
            barrier.wait()
            with _redirect_stdout("devnull"):
                seen.append(os.fstat(1).st_ino)
            barrier.wait()

    threads = [threading.Thread(target=user) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Inside, fd 1 was stderr for everyone (the first user's target); after, it is back.
    assert set(seen) == {os.fstat(2).st_ino} and before != os.fstat(2).st_ino
    assert os.fstat(1).st_ino == before
    os.write(1, b"still stdout\n")
    assert "still stdout" in capfd.readouterr().out


def _q(value: float) -> Any:
    """The exact rational value of a float."""
    from flint import fmpq

    return fmpq(*value.as_integer_ratio())


def _exact_correlations(A: FloatArray, dual: FloatArray, K: IntArray, s: FloatArray) -> list[Any]:
    """|a_j^T lambda*| in exact rationals for lambda* = lambda - A_K (A_K^T A_K)^-1 r,
    r = A_K^T lambda - s_K: the exact certificate that float_uniqueness_bound bounds."""
    lam = certify.rational_column(dual)
    if K.size:
        A_K = certify.rational_matrix(A[:, K])
        r = A_K.transpose() * lam - certify.rational_column(s)
        lam = lam - A_K * (A_K.transpose() * A_K).solve(r)
    corr = certify.rational_matrix(A.T) * lam
    return [abs(corr[j, 0]) for j in range(A.shape[1])]


@pytest.mark.parametrize("seed", range(4))
def test_float_bound_is_below_the_exact_margin_and_close_to_it(seed: int) -> None:
    # m = 60 >= 50: the homotopy's certificate, its float bound, and the exact margin of the
    # exact certificate it bounds (flint fmpq). Per column: every upper bound holds.
    p = load_sample(f"gauss:60:180:{6 + seed}:{seed}")
    path = follow_homotopy(p.A, p.y)
    assert isinstance(path, HomotopyPath)
    bound = certify.float_uniqueness_bound(p.A, path.certificate, path.support, path.signs)
    exact = _exact_correlations(p.A, path.certificate, path.support, path.signs)
    off = np.setdiff1d(np.arange(p.A.shape[1]), path.support)
    assert bound.correlation_upper is not None
    for j in off.tolist():
        assert _q(float(bound.correlation_upper[j])) >= exact[j]
    exact_margin = 1 - max(exact[j] for j in off.tolist())
    assert bound.margin_lower > 0 and _q(bound.margin_lower) <= exact_margin
    assert float(exact_margin) - bound.margin_lower < 1e-11


@pytest.mark.parametrize("seed", range(3))
def test_float_bound_per_column_on_a_certificate_without_support(seed: int) -> None:
    # K empty: no correction, only the rounding of a_j^T lambda is bounded; with 400
    # columns, about half are rounded down and need the allowance (dividing it by 1e3
    # makes this fail, checked by hand).
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((80, 400))
    dual = rng.standard_normal(80)
    dual *= 0.9 / float(np.max(np.abs(A.T @ dual)))
    bound = certify.float_uniqueness_bound(A, dual, np.zeros(0, np.int64), np.zeros(0))
    exact = _exact_correlations(A, dual, np.zeros(0, np.int64), np.zeros(0))
    assert bound.correlation_upper is not None
    assert all(_q(float(bound.correlation_upper[j])) >= exact[j] for j in range(400))
    assert float(1 - max(exact)) - bound.margin_lower < 1e-12


def _mpmath_bp_reference(A: FloatArray, y: FloatArray, support: IntArray) -> list[Any]:
    """x on ``support`` solving A_S x = y in exact rationals (fmpq normal equations): the
    BP minimizer once the support is known, independent of the float solvers."""
    A_S = certify.rational_matrix(A[:, support])
    y_q = certify.rational_column(y)
    solved = (A_S.transpose() * A_S).solve(A_S.transpose() * y_q)
    return [solved[i, 0] for i in range(support.size)]


@pytest.mark.parametrize("spec", [f"gauss:40:120:{k}:{s}" for k, s in ((4, 0), (8, 1), (11, 2))])
@pytest.mark.parametrize("solver", ["choose", "simplex"])
def test_every_answer_is_within_1e_9_of_the_exact_reference(spec: str, solver: str) -> None:
    p = load_sample(spec)
    sol = solve_basis_pursuit(p.A, p.y, solver=solver)
    assert sol.certified and sol.unique is True
    exact = _mpmath_bp_reference(p.A, p.y, sol.support)
    # The reference solves A_S x = y exactly: y must be in that span (up to round-off) and
    # its l1 norm the minimum (a second, LP-free check: the exact certificate's margin > 0).
    reference = np.zeros(p.A.shape[1])
    reference[sol.support] = certify.to_float(exact)
    np.testing.assert_allclose(sol.x, reference, rtol=0, atol=1e-9)
    np.testing.assert_allclose(p.A @ reference, p.y, rtol=0, atol=1e-12)


def _path_matrix(A: FloatArray, y: FloatArray, monkeypatch: pytest.MonkeyPatch) -> FloatArray:
    """The matrix solve_basis_pursuit hands to the homotopy."""
    seen: list[FloatArray] = []
    real = follow_homotopy  # the name verdict.py calls, patched there below

    def spy(M: Any, v: FloatArray, **options: Any) -> Any:
        seen.append(np.array(M))
        return real(M, v, **options)

    monkeypatch.setattr(verdict_module, "follow_homotopy", spy)
    sol = solve_basis_pursuit(A, y)
    assert sol.route == "homotopy" and sol.certified
    return seen[0]


def test_rows_of_one_scale_are_not_reweighted(monkeypatch: pytest.MonkeyPatch) -> None:
    # The row prescale weights the homotopy's least squares; Gaussian rows whose maxima
    # straddle a power of two must not get random weights 1 and 2 (a longer path).
    p = load_sample("gauss:60:200:8:3")
    straddle = np.frexp(np.max(np.abs(p.A), axis=1))[1]
    assert np.unique(straddle).size > 1  # the instance does straddle
    ratio = _path_matrix(p.A, p.y, monkeypatch) / p.A
    assert np.unique(ratio).size == 1 and np.frexp(ratio[0, 0])[0] == 0.5  # one power of 2


def test_rows_far_apart_in_scale_are_still_equilibrated(monkeypatch: pytest.MonkeyPatch) -> None:
    p = load_sample("gauss:60:200:8:3")
    D = np.ones(60)
    D[:5] = 2.0**-30
    M = _path_matrix(D[:, None] * p.A, D * p.y, monkeypatch)
    ratio = M / (D[:, None] * p.A)
    assert np.all(ratio == ratio[:, :1])  # a power-of-two factor per row
    assert np.unique(ratio[5:, 0]).size == 1  # one factor for the rows of one scale
    # the small rows are brought back to the others' scale: every row's largest entry
    # within a factor 2^(ROW_SPREAD + 2) of the largest one, which is in [0.5, 2)
    row_max = np.max(np.abs(M), axis=1)
    assert 0.5 <= row_max.max() < 2.0
    assert row_max.min() >= 2.0 ** -(verdict_module.ROW_SPREAD + 1)
