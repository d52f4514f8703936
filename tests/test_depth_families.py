"""The pieces of the flow limit (docs/limit.md, "The pieces in the code"): the depth families'
potentials against mpmath closed forms and finite differences, the face geometry's
identities, the Newton step against a finite-difference Jacobian, and the shared
fraction-to-boundary and backtracking rules worked by hand."""

from __future__ import annotations

import math
from typing import Any

import mpmath as mp
import numpy as np
import pytest

from dlncli.dln import dual_check, potentials as P
from dlncli.dln.geometry import face_geometry, numerical_rank
from dlncli.dln.limit import bp_anchor, flow_limit, mirror_coordinates, newton_step, normalize
from dlncli.dln.newton import FRACTION_TO_BOUNDARY, backtrack, step_to_boundary
from dlncli.problem_io import load_sample

mp.mp.dps = 40
POWER_DEPTHS = [2.5, 3.0, 4.0, 7.0]
LOG_ALPHAS = [-0.5, -3.0, -9.0]


def mp_support(u: float, w: float, depth: float, log_alpha: float) -> tuple[Any, Any]:
    """s_J x_J and dx_J/du on J from the docstrings' closed forms, in mpmath."""
    u, w, la = mp.mpf(u), mp.mpf(w), mp.mpf(log_alpha)
    if depth == 2.0:
        L = -2 * la
        c = max(L, mp.mpf(0))
        e1, e2 = mp.exp(-L + c * w + u), mp.exp(-L - c * w - u)
        return e1 - e2, e1 + e2
    p = mp.mpf(depth)
    q, kappa, alpha_p = p / (p - 2), mp.exp((p - 2) * la), mp.exp(p * la)
    other = 2 * w + kappa * u
    x = (-u) ** (-q) - alpha_p * other ** (-q)
    d = q * ((-u) ** (-q - 1) + alpha_p * kappa * other ** (-q - 1))
    return x, d


def mp_off(z: float, depth: float, log_alpha: float) -> tuple[Any, Any]:
    z, la = mp.mpf(z), mp.mpf(log_alpha)
    if depth == 2.0:
        e1, e2 = mp.exp(2 * la + z), mp.exp(2 * la - z)
        return e1 - e2, e1 + e2
    p = mp.mpf(depth)
    q, alpha_p = p / (p - 2), mp.exp(p * la)
    x = alpha_p * ((1 - z) ** (-q) - (1 + z) ** (-q))
    d = q * alpha_p * ((1 - z) ** (-q - 1) + (1 + z) ** (-q - 1))
    return x, d


def relative(got: float, want: Any) -> float:
    return float(abs(mp.mpf(got) - want) / max(abs(want), mp.mpf("1e-300")))


@pytest.mark.parametrize("depth", [2.0, *POWER_DEPTHS])
@pytest.mark.parametrize("log_alpha", LOG_ALPHAS)
def test_face_maps_match_the_closed_forms(depth: float, log_alpha: float) -> None:
    pot = P.depth_potential(depth, log_alpha)
    rng = np.random.default_rng(int(10 * depth) + int(-log_alpha))
    w = 1.0 + 1e-16 * rng.standard_normal(5)
    # u: the scaled slack -u > 0 (p > 2) or any correlation (p = 2); z inside (-1, 1).
    # (and 2 w + kappa u > 0 on the other side).
    top = min(3.0, 1.5 / pot.kappa)
    u = -rng.uniform(0.05, top, 5) if depth > 2.0 else rng.uniform(-3.0, 3.0, 5)
    z = rng.uniform(-0.9, 0.9, 5)
    x_j, d_j = pot.support_map(u, w)
    x_off, d_off = pot.off_map(z)
    for i in range(5):
        want_x, want_d = mp_support(u[i], w[i], depth, log_alpha)
        assert relative(x_j[i], want_x) <= 1e-12
        assert relative(d_j[i], want_d) <= 1e-12
        want_x, want_d = mp_off(z[i], depth, log_alpha)
        assert relative(x_off[i], want_x) <= 1e-12
        assert relative(d_off[i], want_d) <= 1e-12
    # Off the support the flow's x is alpha^p h_p(z): the same function as potentials.h.
    alpha_p = math.exp(depth * log_alpha)
    assert np.allclose(x_off, alpha_p * P.h(z, depth), rtol=1e-12, atol=0)


@pytest.mark.parametrize("depth", [2.0, *POWER_DEPTHS])
def test_face_map_derivatives_are_finite_differences_of_the_maps(depth: float) -> None:
    pot = P.depth_potential(depth, -2.0)
    rng = np.random.default_rng(3)
    w = np.ones(4)
    u = -rng.uniform(0.2, 2.0, 4) if depth > 2.0 else rng.uniform(-2.0, 2.0, 4)
    z = rng.uniform(-0.8, 0.8, 4)
    h = 1e-6
    fd_j = (pot.support_map(u + h, w)[0] - pot.support_map(u - h, w)[0]) / (2 * h)
    fd_off = (pot.off_map(z + h)[0] - pot.off_map(z - h)[0]) / (2 * h)
    assert np.allclose(pot.support_map(u, w)[1], fd_j, rtol=1e-7, atol=0)
    assert np.allclose(pot.off_map(z)[1], fd_off, rtol=1e-7, atol=0)


def test_depth_potential_picks_the_family_and_refuses_shallow_depths() -> None:
    assert isinstance(P.depth_potential(2.0, -1.0), P.EntropicPotential)
    power = P.depth_potential(3.0, -1.0)
    assert isinstance(power, P.PowerPotential)
    assert power.q == 3.0 and power.kappa == pytest.approx(math.exp(-1.0), rel=1e-15, abs=0)
    entropic = P.EntropicPotential(-4.0)
    assert P.depth_potential(2.0, -4.0) == entropic
    assert entropic.L == 8.0 and entropic.c == 8.0 and entropic.kappa == 1.0
    assert P.depth_potential(2.0, 3.0).c == 0.0  # alpha > 1: c = max(L, 0)
    for bad in (1.5, math.nan, math.inf):
        with pytest.raises(ValueError, match="expected a finite real number >= 2"):
            P.depth_potential(bad, -1.0)


def test_power_domain_and_slack_pairs() -> None:
    pot = P.PowerPotential(3.0, -1.0)
    w = np.ones(2)
    assert pot.face_in_domain(np.array([-0.5, -1.0]), w, np.array([0.2]))
    assert not pot.face_in_domain(np.array([0.1, -1.0]), w, np.array([0.2]))  # -u <= 0
    assert not pot.face_in_domain(np.array([-0.5, -1.0]), w, np.array([1.0]))  # |z| = 1
    # 2 w + kappa u <= 0: u = -2 / kappa puts the other side's slack at 0.
    assert not pot.face_in_domain(np.array([-2.0 / pot.kappa, -1.0]), w, np.array([0.0]))
    # Step to boundary from the pairs: -u = 0.5 shrinking at 1 per unit -> 0.99 * 0.5.
    pairs = pot.face_slack_pairs(
        np.array([-0.5]), np.array([1.0]), np.ones(1), np.array([0.0]), np.array([0.0])
    )
    assert step_to_boundary(pairs) == FRACTION_TO_BOUNDARY * 0.5
    assert P.EntropicPotential(-1.0).face_slack_pairs(*(np.ones(1),) * 5) == []
    # The entropic domain is where the maps are finite.
    ent = P.EntropicPotential(-1.0)
    assert ent.face_in_domain(np.array([3.0]), np.ones(1), np.array([700.0]))
    assert not ent.face_in_domain(np.array([3.0]), np.ones(1), np.array([800.0]))


def mp_dual_terms(z: Any, lu: Any, lv: Any, depth: float, la: float) -> tuple[Any, Any, Any]:
    """x_i, dx_i/dz, Phi_i of the full dual from (u0, v0), straight from the docstrings."""
    lu, lv, la, z = mp.mpf(lu), mp.mpf(lv), mp.mpf(la), mp.mpf(z)
    if depth == 2.0:
        e1, e2 = mp.exp(2 * lu + z), mp.exp(2 * lv - z)
        return e1 - e2, e1 + e2, e1 + e2
    p = mp.mpf(depth)
    q = p / (p - 2)
    ru, rv = mp.exp((p - 2) * (lu - la)), mp.exp((p - 2) * (lv - la))
    up, vp = mp.exp(p * lu), mp.exp(p * lv)
    x = up * (1 - ru * z) ** (-q) - vp * (1 + rv * z) ** (-q)
    d = q * (up * ru * (1 - ru * z) ** (-q - 1) + vp * rv * (1 + rv * z) ** (-q - 1))
    phi = (p - 2) / 2 * (up / ru * (1 - ru * z) ** (1 - q) + vp / rv * (1 + rv * z) ** (1 - q))
    return x, d, phi


@pytest.mark.parametrize("depth", [2.0, 2.5, 3.0, 5.0])
def test_full_dual_from_an_unbalanced_start_matches_mpmath_and_phi_integrates_x(
    depth: float,
) -> None:
    rng = np.random.default_rng(int(depth * 10))
    n = 4
    A = rng.standard_normal((2, n))
    lu, lv, la = -2.0 + 0.4 * rng.standard_normal(n), -2.0 + 0.4 * rng.standard_normal(n), -2.0
    pot = P.depth_potential(depth, la)
    problem = dual_check.DualProblem(
        A, A @ np.ones(n), pot, dual_check.FLOAT64, log_u0=lu, log_v0=lv
    )
    z = 0.2 * rng.uniform(-1, 1, n)
    x, d, phi = pot.dual_terms(z, problem, dual_check.FLOAT64)
    want_phi = mp.mpf(0)
    for i in range(n):
        want_x, want_d, want_phi_i = mp_dual_terms(z[i], lu[i], lv[i], depth, la)
        assert relative(x[i], want_x) <= 1e-12
        assert relative(d[i], want_d) <= 1e-12
        want_phi += want_phi_i
    assert relative(float(phi), want_phi) <= 1e-12
    # x = dPhi/dz coordinate by coordinate, and d = dx/dz (central differences).
    h = 1e-6
    for i in range(n):
        step = np.zeros(n)
        step[i] = h
        up = pot.dual_terms(z + step, problem, dual_check.FLOAT64)
        down = pot.dual_terms(z - step, problem, dual_check.FLOAT64)
        assert (up[2] - down[2]) / (2 * h) == pytest.approx(x[i], rel=1e-7, abs=0)
        assert (up[0][i] - down[0][i]) / (2 * h) == pytest.approx(d[i], rel=1e-7, abs=0)


@pytest.mark.parametrize("depth", [2.0, 3.0])
def test_balanced_start_is_the_unbalanced_formula_at_u0_v0_alpha_bit_for_bit(depth: float) -> None:
    p = load_sample("random3x5")
    la = -4.0
    pot = P.depth_potential(depth, la)
    for arith in (dual_check.FLOAT64, dual_check.LONGDOUBLE):
        balanced = dual_check.DualProblem(p.A, p.y, pot, arith)
        same = dual_check.DualProblem(
            p.A, p.y, pot, arith, log_u0=np.full(5, la), log_v0=np.full(5, la)
        )
        mu = arith.array(np.array([0.1, -0.2, 0.05]))
        for got, want in zip(balanced.evaluate(mu), same.evaluate(mu), strict=True):
            assert np.array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("depth", [2.0, 2.5, 4.0])
def test_tie_break_penalty_derivatives_and_the_limit_p_to_two(depth: float) -> None:
    v = np.array([0.3, 1.2, 2.5])
    _, grad, hess = P.tie_break_penalty(depth, v)
    h = 1e-6
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        f_up, g_up, _ = P.tie_break_penalty(depth, v + e)
        f_down, g_down, _ = P.tie_break_penalty(depth, v - e)
        assert (f_up - f_down) / (2 * h) == pytest.approx(grad[i], rel=1e-7, abs=0)
        assert (g_up[i] - g_down[i]) / (2 * h) == pytest.approx(hess[i], rel=1e-6, abs=0)
    near, _, _ = P.tie_break_penalty(2.0 + 1e-9, v)
    entropy, _, _ = P.tie_break_penalty(2.0, v)
    assert near == pytest.approx(entropy, abs=1e-8)  # continuous as p -> 2+


def test_face_geometry_identities_and_dependent_rows() -> None:
    p = load_sample("face2d")
    A = np.vstack([p.A, 2.0 * p.A[0]])  # a dependent row: the geometry drops it
    y = np.append(p.y, 2.0 * p.y[0])
    anchor = bp_anchor(A, y)
    A_n, y_n = normalize(A, y, anchor.scale_exp)
    geo = face_geometry(
        A_n, y_n, anchor.normalized_dual, anchor.bp.face.support, anchor.bp.face.signs
    )
    assert (
        geo.dim
        == numerical_rank(np.linalg.svd(A_n, compute_uv=False).astype(np.float64), A_n.shape)
        == 2
    )
    assert np.allclose(geo.U.T @ geo.U, np.eye(geo.dim), atol=1e-14)
    assert np.allclose(geo.basis @ geo.A, A_n, atol=1e-14)  # range(A) is kept whole
    K_direct = geo.A.T @ geo.U
    assert np.allclose(geo.K, K_direct, atol=1e-14)
    assert np.all(geo.K[np.ix_(geo.support, np.arange(geo.rank_j, geo.dim))] == 0.0)
    assert np.allclose(geo.w, 1.0, atol=1e-14)  # s_J a_J^T lam = 1
    assert np.all(np.abs(geo.corr_off) <= 1.0 + 1e-14)
    assert np.array_equal(np.sort(np.concatenate([geo.support, geo.off])), np.arange(A.shape[1]))
    # The anchor's geometry is the one every depth and alpha uses.
    first = mirror_coordinates(anchor, depth=3.0, log_alpha=-5.0)
    second = mirror_coordinates(anchor, depth=2.0, log_alpha=-50.0)
    assert first.geometry is second.geometry is anchor.geometry
    assert first.geometry.float64 is first.geometry.float64  # made once


@pytest.mark.parametrize("depth", [2.0, 3.0, 4.0])
def test_newton_step_solves_the_linearization_and_vanishes_at_the_limit(depth: float) -> None:
    p = load_sample("random3x5")
    anchor = bp_anchor(p.A, p.y)
    log_alpha = -3.0
    coords = mirror_coordinates(anchor, depth=depth, log_alpha=log_alpha)
    theta = coords.face_state(anchor.point)
    assert theta is not None
    step = newton_step(coords, theta)

    def residual(t: np.ndarray) -> np.ndarray:
        return np.asarray(coords.residual(coords.evaluate(t)[0]))

    # J delta = g with J = d(U^T A x)/dtheta by central differences (the residual is g = U^T y
    # - U^T A x, so the step satisfies residual(theta + delta) ~ 0 to first order).
    h = 1e-7
    jac = np.empty((theta.size, theta.size))
    for i in range(theta.size):
        e = np.zeros(theta.size)
        e[i] = h * max(1.0, abs(theta[i]))
        jac[:, i] = -(residual(theta + e) - residual(theta - e)) / (2 * e[i])
    assert np.allclose(
        jac @ step.delta, step.residual, rtol=1e-5, atol=1e-8 * np.max(np.abs(step.residual))
    )
    assert np.allclose(step.dx, coords.jacobian_x(*coords.evaluate(theta)[1:]) @ step.delta)
    # At the limit the step is (numerically) zero and x is the certified limit.
    limit = flow_limit(p.A, p.y, depth=depth, log_alpha=log_alpha, anchor=anchor)
    assert limit.certified
    x_face = limit.x
    solved = coords.face_state(x_face)
    assert solved is not None
    for _ in range(30):
        step = newton_step(coords, solved)
        solved = solved + step.delta
    final = newton_step(coords, solved)
    assert np.max(np.abs(final.dx)) <= 1e-12 * np.max(np.abs(final.x))
    assert np.allclose(final.x, limit.x, rtol=1e-10, atol=1e-14)


def test_step_to_boundary_by_hand_and_in_extended_precision() -> None:
    slack, rate = np.array([1.0, 2.0, 3.0]), np.array([2.0, -1.0, 1.0])
    assert step_to_boundary([(slack, rate)]) == FRACTION_TO_BOUNDARY * 0.5
    assert step_to_boundary([(slack, -np.abs(rate))]) == 1.0  # nothing shrinks
    assert step_to_boundary([]) == 1.0
    assert step_to_boundary([(np.array([0.0]), np.array([1.0]))]) == 0.0
    # Slacks of 1e-600 (mpmath) keep their digits: the ratio is formed before rounding.
    with mp.workdps(30):
        arith = dual_check.Arithmetic("mpmath", 30)
        tiny = np.array([mp.mpf("1e-600")], dtype=object)
        shrink = np.array([mp.mpf("2e-600")], dtype=object)
        assert step_to_boundary([(tiny, shrink)], to_float=arith.to_float) == pytest.approx(
            FRACTION_TO_BOUNDARY * 0.5, rel=1e-15, abs=0
        )


def test_backtrack_halves_until_accepted_or_below_the_floor() -> None:
    tried: list[float] = []

    def accept(t: float) -> bool:
        tried.append(t)
        return t <= 0.25

    assert backtrack(accept, 1.0, min_step=1e-3) == (0.25, True)
    assert tried == [1.0, 0.5, 0.25]
    tried.clear()

    def never(t: float) -> bool:
        tried.append(t)
        return False

    step, ok = backtrack(never, 1.0, min_step=0.1)
    assert not ok and step == 0.0625 and tried == [1.0, 0.5, 0.25, 0.125]
