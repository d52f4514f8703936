"""The ODE's own parts (dlncli.dln.ode): the slack maps against the face coordinates' independent
evaluation of x(theta), the analytic Jacobian against finite differences, the Radau IIA
integrator against the exact solution of a linear system, the flow at scales (kappa = 1e-120)
where the face coordinates' a_hat is ~1/kappa, and single-threaded BLAS."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from dlncli.arrays import LN10
from dlncli.dln.flow import integrate_flow
from dlncli.dln.limit import MirrorCoordinates, bp_anchor, flow_limit, mirror_coordinates
from dlncli.dln.ode import Radau5, SlackMaps
from dlncli.problem_io import load_sample

FloatArray = NDArray[np.float64]

CASES = [  # (sample, depth, log10 alpha^p): p > 2 and p = 2, unique and non-unique faces
    ("random3x5", 3.0, -9.0),
    ("plane", 2.5, -6.0),
    ("line", 4.0, -12.0),
    ("random3x5", 2.0, -6.0),
    ("plane", 2.0, -12.0),
]


def _setup(name: str, depth: float, log10_alpha_p: float) -> tuple[MirrorCoordinates, SlackMaps]:
    p = load_sample(name)
    anchor = bp_anchor(p.A, p.y)
    coords = mirror_coordinates(anchor, depth=depth, log_alpha=log10_alpha_p / depth * LN10)
    return coords, SlackMaps(coords, coords.zero_state())


def _walk(maps: SlackMaps, steps: int) -> list[FloatArray]:
    """Advance the maps along the flow's first steps; the states visited."""
    atol = np.full(maps.state.size, 1e-13)
    solver = Radau5(
        maps, maps.state, 1e300, rtol=1e-9, atol=atol, cheap_jacobian=True, x_floor=1e-3
    )
    states = []
    for _ in range(steps):
        assert solver.step() is None
        states.append(solver.theta.copy())
    return states


@pytest.mark.parametrize(("name", "depth", "level"), CASES)
def test_slack_maps_agree_with_the_face_coordinates(name: str, depth: float, level: float) -> None:
    coords, maps = _setup(name, depth, level)
    x0, _, _ = coords.evaluate(coords.zero_state())
    np.testing.assert_allclose(maps.x, x0, rtol=0, atol=1e-15)  # both x(mu = 0) = 0 to rounding
    states = _walk(maps, 250)
    for phi in (states[10], states[100], states[249]):
        fresh = SlackMaps(coords, maps.basis @ phi)  # the same point, anew
        x, _, _ = coords.evaluate(maps.basis @ phi)
        scale = float(np.max(np.abs(x)))
        np.testing.assert_allclose(fresh.x, x, rtol=0, atol=1e-9 * scale)
        # The rate in the state's variables is basis^-1 times the face coordinates' rate.
        rate = np.linalg.solve(maps.basis, coords.precise_rate(maps.basis @ phi))
        np.testing.assert_allclose(fresh.rate0, rate, rtol=1e-7, atol=1e-9 * np.max(np.abs(rate)))
        # x(phi + D) - x(phi) from the reference, against two evaluations.
        D = 1e-3 * np.abs(phi) * np.linspace(-1.0, 1.0, phi.size)
        x_d, _, _ = coords.evaluate(maps.basis @ (phi + D))
        delta = fresh.deltas(D[None, :])[0]
        tol = 1e-9 * max(scale, float(np.max(np.abs(x_d))))
        np.testing.assert_allclose(delta[np.argsort(fresh.order)], x_d - x, rtol=0, atol=tol)


@pytest.mark.parametrize(("name", "depth", "level"), CASES[:3])
def test_jacobian_matches_finite_differences(name: str, depth: float, level: float) -> None:
    _, maps = _setup(name, depth, level)
    _walk(maps, 40)
    jac = maps.jacobian()
    d = maps.state.size
    phi = np.asarray(maps.theta_ld, dtype=np.float64)
    fd = np.empty((d, d))
    for j in range(d):
        e = np.zeros(d)
        e[j] = 1e-7 * max(abs(phi[j]), 1e-3)
        fd[:, j] = (maps.rates(e[None, :])[0] - maps.rates(-e[None, :])[0]) / (2 * e[j])
    np.testing.assert_allclose(jac, fd, rtol=1e-5, atol=1e-6 * np.max(np.abs(jac)))


class _Linear:
    """d phi / d tau = M phi, as an OdeMaps."""

    def __init__(self, M: FloatArray, phi: FloatArray) -> None:
        self.M, self.phi = M, phi.copy()
        self.Gt = np.zeros((phi.size, 1))
        self.dx = np.zeros(1)
        self.x_max = 1.0

    @property
    def rate0(self) -> FloatArray:
        return np.asarray(self.M @ self.phi)

    def rates(self, D: FloatArray) -> FloatArray:
        return np.asarray((self.phi + D) @ self.M.T)

    def jacobian(self) -> FloatArray:
        return self.M

    def advance(self, D: FloatArray) -> bool:
        self.phi = self.phi + D
        return True


def test_radau5_solves_a_stiff_linear_system_to_its_tolerance() -> None:
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    M = Q @ np.diag([-1.0, -3.0, -1e3, -1e6]) @ Q.T  # stiffness ratio 1e6
    phi0 = np.array([1.0, -2.0, 0.5, 3.0])
    values, vectors = np.linalg.eigh(M)
    for rtol, steps_max in ((1e-6, 150), (1e-10, 1000)):
        maps = _Linear(M, phi0)
        solver = Radau5(maps, phi0, 2.0, rtol=rtol, atol=np.full(4, rtol), cheap_jacobian=False)
        steps = 0
        while solver.status == "running":
            assert solver.step() is None
            steps += 1
        exact = vectors @ (np.exp(2.0 * values) * (vectors.T @ phi0))
        assert solver.tau == 2.0 and steps <= steps_max
        assert np.max(np.abs(maps.phi - exact)) <= 10 * rtol * np.max(np.abs(phi0))


@pytest.mark.parametrize(
    ("name", "depth", "level"),
    [("random3x5", 4.0, -100.0), ("line", 5.0, -200.0), ("plane", 3.0, -45.0)],
)
def test_flow_reaches_the_limit_where_a_hat_is_huge(name: str, depth: float, level: float) -> None:
    # kappa = alpha^(p-2) = 1e-50, 1e-120, 1e-15: a face slack of an active coordinate is
    # ~1 while a_hat is ~1/kappa (the coordinates activate one by one).
    p = load_sample(name)
    anchor = bp_anchor(p.A, p.y)
    log_alpha = level / depth * LN10
    run = integrate_flow(p.A, p.y, depth=depth, log_alpha=log_alpha, anchor=anchor)
    limit = flow_limit(p.A, p.y, depth=depth, log_alpha=log_alpha, anchor=anchor)
    assert run.converged and run.steps < 3000
    assert np.max(np.abs(run.x - limit.x)) <= 1e-8 * np.max(np.abs(limit.x))


def test_flow_near_depth_two_converges() -> None:
    # p = 2.00001: q = p / (p - 2) = 200001, x = slack^-q; the old long-double right-hand
    # side could not settle (converged: false).
    p = load_sample("line")
    anchor = bp_anchor(p.A, p.y)
    log_alpha = -30 * LN10
    run = integrate_flow(p.A, p.y, depth=2.00001, log_alpha=log_alpha, anchor=anchor)
    limit = flow_limit(p.A, p.y, depth=2.00001, log_alpha=log_alpha, anchor=anchor)
    assert run.converged
    assert np.max(np.abs(run.x - limit.x)) <= 1e-8 * np.max(np.abs(limit.x))


def test_convergence_is_not_declared_on_a_plateau() -> None:
    # p = 2, alpha = 1e-60: on the last saddles the linearised Newton step is tiny (the
    # coordinates still to activate have dx/dz ~ 1e-120) although x has far to go.
    p = load_sample("gauss:10:30:3:0")
    anchor = bp_anchor(p.A, p.y)
    log_alpha = -60 * LN10
    run = integrate_flow(p.A, p.y, depth=2.0, log_alpha=log_alpha, anchor=anchor)
    limit = flow_limit(p.A, p.y, depth=2.0, log_alpha=log_alpha, anchor=anchor)
    assert run.converged
    assert np.max(np.abs(run.x - limit.x)) <= 1e-8 * np.max(np.abs(limit.x))
    support = tuple(int(i) for i in np.flatnonzero(np.abs(limit.x) >= 1e-2 * np.max(limit.x)))
    assert run.support_changes[-1].support == support
