"""Basis pursuit robustness: the homotopy near the phase transition, the route report,
rigorous bounds at any size, scale-aware consistency, extreme scales, and threads."""

from __future__ import annotations

import numpy as np

from dlncli.bp.homotopy import HomotopyPath, follow_homotopy
from dlncli.bp.verdict import solve_basis_pursuit
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
    assert sol.route_notes[0] == (
        "homotopy declined: the path stopped: two columns start the path together "
        "(|Aᵀy| ties at its maximum)"
    )
