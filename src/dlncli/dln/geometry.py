"""The geometry of one problem's BP face: what the flow's coordinates need, built once.

docs/limit.md ("The pieces in the code"). For the normalized problem (A, y) and a BP anchor
(face support J, signs s_J, certificate lam with A_J^T lam = s_J), the scaled dual
coordinates theta = (a_hat, b) write mu = c lam + U_R (kappa a_hat) + U_N b. Everything in
that sentence except the depth's constants c and kappa is fixed by the problem and its face,
so it lives here, in one frozen object that every depth and every alpha reuses (the flow
limit, its continuation in alpha, the ODE, and compare's sweeps over alpha and depth).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dlncli.arrays import FloatArray, IntArray


def numerical_rank(singular_values: FloatArray, shape: tuple[int, ...]) -> int:
    """Rank with numpy's matrix_rank tolerance, from singular values already computed."""
    if not singular_values.size:
        return 0
    tol = singular_values[0] * max(shape) * np.finfo(float).eps
    return int(np.sum(singular_values > tol))


@dataclass(frozen=True)
class PrecisionArrays:
    """The matrices the coordinate maps need, in one floating-point precision (``dtype``)."""

    dtype: Any
    M_j: NDArray[Any]
    K_off: NDArray[Any]
    w: NDArray[Any]
    corr_off: NDArray[Any]
    A: NDArray[Any]
    y: NDArray[Any]
    U: NDArray[Any]


@dataclass(frozen=True, eq=False)
class FaceGeometry:
    """The BP face of a (normalized) problem in the reduced rows of A. Shapes: r = rank A,
    r_J = rank A_J, |J| the support size, |off| = N - |J|. Units: those of the normalized
    problem (see :func:`dlncli.dln.limit.normalize`).

    basis : (m, r) orthonormal basis of range(A); dependent rows are dropped through it.
    A : (r, N) basis^T A.   y : (r,) basis^T y.
    lam : (r,) the certificate in the reduced rows (A_J^T lam = s_J to rounding).
    support : (|J|,) J.   signs : (|J|,) s_J.   off : (|off|,) the complement of J.
    rank_j : r_J.
    U : (r, r) orthogonal [U_R | U_N], U_R a basis of range(A_J) (r_J columns).
    K : (N, r) A^T U, with A_J^T U_N set to 0 exactly (it is 0 up to rounding).
    M_j : (|J|, r_J) A_J^T U_R: maps a_hat to the support's correlations.
    K_off : (|off|, r) the off-support rows of K.
    w : (|J|,) s_J a_J^T lam, which is 1 up to rounding: the barrier's unit on J.
    corr_off : (|off|,) a_i^T lam off J (|.| <= 1 - margin).
    """

    basis: FloatArray
    A: FloatArray
    y: FloatArray
    lam: FloatArray
    support: IntArray
    signs: FloatArray
    off: IntArray
    rank_j: int
    U: FloatArray
    K: FloatArray
    M_j: FloatArray
    K_off: FloatArray
    w: FloatArray
    corr_off: FloatArray

    @property
    def dim(self) -> int:
        """r, the number of coordinates theta."""
        return int(self.U.shape[1])

    @property
    def n(self) -> int:
        """N, the number of unknowns."""
        return int(self.A.shape[1])

    @functools.cached_property
    def float64(self) -> PrecisionArrays:
        return self._arrays(np.float64)

    @functools.cached_property
    def long_double(self) -> PrecisionArrays:
        """The matrices in np.longdouble, made on first use (MirrorCoordinates.precise_rate)."""
        return self._arrays(np.longdouble)

    def _arrays(self, dtype: Any) -> PrecisionArrays:
        names = ("M_j", "K_off", "w", "corr_off", "A", "y", "U")
        return PrecisionArrays(dtype, *(getattr(self, name).astype(dtype) for name in names))


def face_geometry(
    A: FloatArray, y: FloatArray, dual: FloatArray, support: IntArray, signs: FloatArray
) -> FaceGeometry:
    """The face geometry of (A, y) for the face (``support``, ``signs``) and the certificate
    ``dual`` ((m,), with A_J^T dual = s_J), all in the normalized problem's units."""
    n = A.shape[1]
    u_full, sing, _ = np.linalg.svd(A, full_matrices=False)
    rank = numerical_rank(sing, A.shape)
    basis = u_full[:, :rank]
    A_red = basis.T @ A
    y_red = basis.T @ y
    lam = basis.T @ dual
    off = np.setdiff1d(np.arange(n), support)
    A_j = A_red[:, support]
    if support.size:
        u_j, s_j, _ = np.linalg.svd(A_j, full_matrices=True)
        rank_j = numerical_rank(s_j, A_j.shape)
    else:
        u_j, rank_j = np.eye(rank), 0
    K = A_red.T @ u_j
    K[np.ix_(support, np.arange(rank_j, rank))] = 0.0  # A_J^T U_N = 0 exactly
    corr = A_red.T @ lam
    return FaceGeometry(
        basis=basis,
        A=A_red,
        y=y_red,
        lam=lam,
        support=support,
        signs=signs,
        off=off,
        rank_j=rank_j,
        U=u_j,
        K=K,
        M_j=K[np.ix_(support, np.arange(rank_j))],
        K_off=K[off],
        w=signs * corr[support],
        corr_off=corr[off],
    )
