"""Which BP minimizer the flow selects as alpha -> 0, for each depth (docs/model.md §4).

On the face S of BP minimizers (support J, signs s_J; v = s_J * x_J >= 0 and
B v = y with B = A_J diag(s_J)) the selected point x*_p

- p = 2 minimizes   sum v log v         (maximum entropy),
- 2 < p < inf maximizes sum v^(2/p) (minimizes -sum (v^(2/p) - v) / (1 - 2/p), the same
  on S and continuous as p -> 2+),
- p = inf maximizes sum log v.

Each is strictly convex (or concave) on S, so x*_p is unique and lies in the relative
interior of S. We solve it by Newton's method in the null space of B: v = v0 + N c with
c in R^d, d = dim S, starting from a relative-interior point of S, with fraction-to-boundary
damping and backtracking. It converges quadratically; the tolerance is 1e-13 relative.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dlncli.arrays import FloatArray, IntArray
from dlncli.bp.verdict import BPSolution
from dlncli.dln.geometry import numerical_rank
from dlncli.dln.newton import backtrack, step_to_boundary
from dlncli.dln.potentials import tie_break_penalty
from dlncli.errors import SolverError

STEP_TOL = 1e-13
MAX_NEWTON = 200


@dataclass(frozen=True)
class Selection:
    """x*_p for one depth (full (N,) vector) and how it was found."""

    depth: float
    x: FloatArray
    iterations: int
    optimality: float  # ||N^T grad f(v)||_inf / (1 + ||grad f||_inf) at the end


@dataclass(frozen=True)
class TieBreak:
    """The face of BP minimizers and each depth's selected point."""

    unique: bool
    face_dimension: int
    l1_norm: float
    support: IntArray  # J
    signs: FloatArray
    selections: tuple[Selection, ...]
    elapsed_s: float


def select_minimizer(
    A: FloatArray, y: FloatArray, bp: BPSolution, depths: Sequence[float]
) -> TieBreak:
    """x*_p for each depth p in ``depths`` (2 <= p <= inf) on the BP face of ``bp``.

    Raises SolverError if Newton does not reach the tolerance (should not happen for a
    face given by :func:`dlncli.bp.verdict.solve_basis_pursuit`).
    """
    start = time.perf_counter()
    n = A.shape[1]
    face = bp.face
    support, signs = face.support, face.signs
    if face.dimension == 0 or support.size == 0:
        selections = tuple(Selection(float(p), bp.x.copy(), 0, 0.0) for p in depths)
        return TieBreak(
            True, 0, bp.l1_norm, support, signs, selections, time.perf_counter() - start
        )
    B = A[:, support] * signs
    _, sing, vt = np.linalg.svd(B, full_matrices=True)
    rank = numerical_rank(sing, B.shape)
    null = vt[rank:].T  # (|J|, d)
    v0 = signs * face.interior_point[support]
    # Re-project onto B v = y (the LP point is feasible to ~1e-9) while staying positive.
    correction = np.linalg.lstsq(B, y - B @ v0, rcond=None)[0]
    if np.all(v0 + correction > 0):
        v0 = v0 + correction
    chosen: list[Selection] = []
    for depth in depths:
        v, iterations, optimality = _newton_on_face(float(depth), v0, null)
        x = np.zeros(n)
        x[support] = signs * v
        chosen.append(Selection(float(depth), x, iterations, optimality))
    l1 = float(np.sum(np.abs(chosen[0].x)))
    return TieBreak(
        False, face.dimension, l1, support, signs, tuple(chosen), time.perf_counter() - start
    )


def _newton_on_face(
    depth: float, v0: FloatArray, null: FloatArray
) -> tuple[FloatArray, int, float]:
    v = v0.copy()
    optimality = math.inf
    for iteration in range(1, MAX_NEWTON + 1):
        f, grad, hess = tie_break_penalty(depth, v)
        g = null.T @ grad
        H = null.T @ (hess[:, None] * null)
        step_c = -np.linalg.solve(H, g)
        dv = null @ step_c
        optimality = float(np.max(np.abs(g))) / (1.0 + float(np.max(np.abs(grad))))
        slope = float(g @ step_c)

        def accept(t: float) -> bool:
            trial = v + t * dv  # noqa: B023 -- used at once, inside this iteration
            # The tolerance 1e-15 |f|: rounding in f must not stop a descent step.
            bound = f + 1e-4 * t * slope + 1e-15 * abs(f)  # noqa: B023
            return bool(np.all(trial > 0)) and tie_break_penalty(depth, trial)[0] <= bound

        t, _ = backtrack(accept, step_to_boundary([(v, -dv)]), min_step=1e-16)
        v = v + t * dv
        # A full Newton step this small is converged even when rounding in f made the line
        # search halve it (which happens for p near 2, where f is flat to ~1e-16).
        if float(np.max(np.abs(dv))) <= STEP_TOL * float(np.max(v)):
            return v, iteration, optimality
        if t <= 1e-16:
            break
    if float(np.max(np.abs(dv))) <= 1e-9 * float(np.max(v)):
        return v, MAX_NEWTON, optimality
    raise SolverError(f"tie-break Newton for depth {depth:g} did not converge")
