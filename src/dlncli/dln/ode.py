"""The reduced mirror flow as a stiff ODE: maps that keep their digits in float64, and a
Radau IIA (order 5) integrator written for them.

The flow's state is theta in R^d (the face coordinates of docs/model.md §3, d = rank A), and
d theta / d tau = S (U^T y - K^T x(theta)) with K = A^T U and S = 1/kappa on a_hat, 1 on b.
Each coordinate x_i is a difference of two terms in its two slacks (p > 2) or exponents
(p = 2), which are affine in theta: first_i = base+_i + g_i . theta, second_i = base-_i +
tau_i g_i . theta (the rows g_i form ``G``, (N, d)). Around a reference point theta_ref, with
delta = G (theta - theta_ref):

    p > 2:  x_i = sgn_i (P_i (1 + delta_i / first_i)^(-q) - Q_i (1 + tau_i delta_i / second_i)^(-q))
    p = 2:  x_i = sgn_i (P_i exp(delta_i) - Q_i exp(-delta_i))

(q = p / (p - 2); P, Q, first, second at theta_ref; on the face first = -u, second = 2w +
kappa u; off it first = 1 - z, second = 1 + z). Evaluated with log1p and expm1 this gives
x(theta_ref + D) - x_ref, and so the rate, accurate relative to the motion rather than to x:
within a step the right-hand side is smooth to rounding of the motion, which is what lets an
implicit method take the long steps of the flow's tail (in float64 the plain x(theta) is noisy
at eps |x| / kappa, and the tail's steps multiply that noise). The reference is moved to each
accepted point (:meth:`SlackMaps.advance`).

:class:`Radau5` is the 3-stage Radau IIA collocation method with the embedded order-3 error
estimate, step-size control and simplified Newton iteration of Hairer & Wanner (Solving ODEs
II, §IV.8); the three stage values of an iteration are evaluated as one batch.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

import numpy as np
import scipy.linalg
from numpy.typing import NDArray
from scipy.linalg.lapack import dgetrf, dgetrs, zgetrf, zgetrs

from dlncli.arrays import FloatArray, IntArray

if TYPE_CHECKING:
    from dlncli.dln.limit import MirrorCoordinates

ComplexArray = NDArray[np.complex128]

EPS = float(np.finfo(float).eps)
# Plain ufunc reductions: the numpy.max/sum wrappers cost more than the work at these sizes.
_max = np.maximum.reduce
_sum = np.add.reduce
# Below this kappa the face slacks' increments within a step are formed in long double.
PRECISE_KAPPA = 1e-4
LD_EPS = float(np.finfo(np.longdouble).eps)
FORMED_PRECISION = 1e-16  # a face slack formed from theta is used when this precise (relative)


class SlackMaps:
    """x, the rate and its Jacobian around a reference point that moves with the state.

    Internally the coordinates are ordered face first (J, then the rest); ``x`` is in the
    problem's order.
    """

    def __init__(self, coords: MirrorCoordinates, theta: FloatArray) -> None:
        """``theta`` (d,): the initial point in the face coordinates ``coords``. The state is
        phi, theta = basis phi; :attr:`state` is its initial value."""
        geom, pot = coords.geometry, coords.potential
        J, off = geom.support, geom.off
        r, d = geom.rank_j, geom.K.shape[1]
        nj, n = J.size, geom.K.shape[0]
        self.power = pot.depth != 2.0
        big_l = -2.0 * pot.log_alpha  # L = ln(1 / alpha^2), used for p = 2 only
        self.q = pot.depth / (pot.depth - 2.0) if self.power else math.inf
        self.minus_q = -self.q
        # The state phi: for p > 2, r face slacks replace a_hat (phi = (-u_R, b), R = r
        # coordinates of J with independent rows). a_hat is ~1/kappa while the face coordinates
        # activate one by one, and the slack of an active one (~1) would be a difference of
        # such terms; as a state variable it keeps its digits, and the error control (relative
        # to |phi|) and the Jacobian see it directly. For p = 2, kappa = 1 and phi = theta.
        rows = np.arange(r)
        if self.power and nj > r:  # a non-unique face: its best-conditioned r rows
            M = -geom.signs[:, None] * geom.M_j
            rows = np.sort(scipy.linalg.qr(M.T, pivoting=True, mode="economic")[2][:r])
        face_order = np.concatenate([rows, np.setdiff1d(np.arange(nj), rows)]).astype(np.int64)
        J = J[face_order]
        signs, M_j, w = geom.signs[face_order], geom.M_j[face_order], geom.w[face_order]
        self.order = np.concatenate([J, off]).astype(np.int64)
        K = geom.K[self.order]
        S = np.ones(d)
        S[:r] = 1.0 / pot.kappa
        K_off_scaled = geom.K_off.copy()
        K_off_scaled[:, :r] *= pot.kappa
        self.sgn = np.ones(n)
        self.sgn[:nj] = signs
        # The two slacks (p > 2) or exponents (p = 2) of each coordinate are affine in theta:
        # first = base_plus + G theta, second = base_minus + tau G theta.
        G = np.zeros((n, d))
        tau = np.full(n, -1.0)
        base_plus, base_minus = np.empty(n), np.empty(n)
        if self.power:
            # On J: -u = -s_J M_j a_hat and 2w + kappa u; off J: 1 - z and 1 + z.
            G[:nj, :r] = -signs[:, None] * M_j
            G[nj:] = -K_off_scaled
            tau[:nj] = -pot.kappa
            base_plus[:nj], base_minus[:nj] = 0.0, 2.0 * w
            base_plus[nj:] = 1.0 - pot.c * geom.corr_off
            base_minus[nj:] = 1.0 + pot.c * geom.corr_off
            # x_i = sgn_i (e^(log_p0_i) first^-q - alpha^p second^-q)
            self.log_p0 = np.zeros(n)
            self.log_p0[nj:] = pot.p_log_alpha
            self.pla = pot.p_log_alpha
        else:
            # On J: -L + c w + u and -L - c w - u; off J: -L + z and -L - z.
            G[:nj, :r] = signs[:, None] * M_j
            G[nj:] = K_off_scaled
            base_plus[:nj] = -big_l + pot.c * w
            base_minus[:nj] = -big_l - pot.c * w
            base_plus[nj:] = -big_l + pot.c * geom.corr_off
            base_minus[nj:] = -big_l - pot.c * geom.corr_off
        basis, basis_inv = np.eye(d), np.eye(d)
        self.state = theta.astype(np.float64)
        slacks = self.power and nj > 0 and r > 0
        if slacks:
            basis_inv[:r, :r] = G[:r, :r]
            basis[:r, :r] = np.linalg.inv(G[:r, :r])
            self.state[:r] = G[:r, :r] @ theta[:r]
            G = G @ basis
            G[:r, :r] = np.eye(r)  # exactly: rounding here times a_hat ~ 1/kappa is noise
        self.basis = basis
        # rate = basis^-1 S (U^T y - K^T x): uy - K^T x in the state's variables
        self.K = np.ascontiguousarray((K * S) @ basis_inv.T)
        self.uy = basis_inv @ (S * (geom.U.T @ geom.y))
        self.tau = tau
        self.G = np.ascontiguousarray(G)
        self.Gt = np.ascontiguousarray(G.T)
        self._n, self._nj, self._r = n, nj, r
        self._base = (base_plus, base_minus)
        self._kappa = pot.kappa
        # Face rows beyond R (a non-unique face) are combinations of the R slacks, which can
        # be ~1/kappa times larger: they are carried by relative increments and their
        # increments within a step formed in extended precision (module docstring).
        self._carry = slacks and nj > r
        if self._carry:
            self._W_ld = G[r:nj, :r].astype(np.longdouble)
            self._abs_W_ld = np.abs(self._W_ld)
            self._two_w_ld = (2.0 * w[r:]).astype(np.longdouble)
            self._precise_steps = pot.kappa < PRECISE_KAPPA
        self._x = np.empty(n)
        theta_ld = self.state.astype(np.longdouble)
        carried = self._W_ld @ theta_ld[:r] if self._carry else None
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            if not self._commit(theta_ld, carried):
                raise ValueError("the initial state is outside the domain of the maps")

    @property
    def x(self) -> FloatArray:
        """x at the reference point, (N,) in the problem's order."""
        return self._x

    def advance(self, D: FloatArray) -> bool:
        """Move the reference to phi_ref + D (d,). Returns False (and changes nothing) when
        that point is outside the domain: a slack <= 0, or x not finite. Call under
        np.errstate(all="ignore").

        phi is carried in extended precision. On a non-unique face a slack beyond the R
        slacks is formed from them with the absolute error LD_EPS |w_i| . |phi_R|, which
        loses its digits when it is much smaller than they are; it is instead carried from
        step to step by the relative factors of its increments, which keep its digits, and
        formed from phi again once that is precise (by the end of the flow all face slacks are
        O(1)): phi is the state, so the carried slacks' drift is not kept.
        """
        theta = self.theta_ld + D
        if not self._carry:
            return self._commit(theta, None)
        r = self._r
        step = self._W_ld @ D[:r].astype(np.longdouble)
        carried = self._carried_ld * (1 + step / self._carried_ld)
        formed = self._W_ld @ theta[:r]
        error = LD_EPS * (self._abs_W_ld @ np.abs(theta[:r]))
        return self._commit(
            theta, np.where(error <= FORMED_PRECISION * np.abs(formed), formed, carried)
        )

    def _commit(
        self, theta: NDArray[np.longdouble], carried: NDArray[np.longdouble] | None
    ) -> bool:
        # The rows of G for the R slacks are exactly the unit vectors, so G phi gives them
        # exactly; carried slacks (a non-unique face) replace their rows.
        E = self.G @ theta.astype(np.float64)
        first = self._base[0] + E
        E *= self.tau
        second = self._base[1] + E
        if carried is not None:
            r, nj = self._r, self._nj
            first[r:nj] = carried
            second[r:nj] = self._two_w_ld - self._kappa * carried
        if self.power:
            if not (first.min() > 0 and second.min() > 0):
                return False
            sP = np.log(first)
            sP *= self.minus_q
            sP += self.log_p0
            np.exp(sP, out=sP)
            sQ = np.log(second)
            sQ *= self.minus_q
            sQ += self.pla
            np.exp(sQ, out=sQ)
        else:
            sP, sQ = np.exp(first), np.exp(second)
        sP *= self.sgn
        sQ *= self.sgn
        x = sP - sQ
        if not math.isfinite(float(_sum(x))):
            return False
        self.theta_ld = theta
        if carried is not None:
            self._carried_ld = carried
            if self._precise_steps:
                self._inv_carried_ld = 1 / carried
        self.first, self.second = first, second
        if self.power:
            self.inv_plus = 1.0 / first
            self.tau_minus = self.tau / second
            dx = sP * self.inv_plus
            dx -= sQ * self.tau_minus
            dx *= self.minus_q
        else:
            dx = sP + sQ
        self.sP, self.sQ = sP, sQ
        self._x[self.order] = x
        self.x_max = float(_max(np.abs(x)))
        self.dx = dx  # d x_i / d delta_i, face coordinates first
        self.g = self.uy - x @ self.K
        self.rate0 = self.g
        return True

    def deltas(self, D: FloatArray) -> FloatArray:
        """x(phi_ref + D) - x_ref for a batch D (k, d): (k, N), face coordinates first."""
        E = D @ self.Gt
        if self.power:
            first = E * self.inv_plus
            if self._carry and self._precise_steps:
                r, nj = self._r, self._nj
                carried = D[:, :r].astype(np.longdouble) @ self._W_ld.T
                first[:, r:nj] = carried * self._inv_carried_ld
            np.log1p(first, out=first)
            first *= self.minus_q
            np.expm1(first, out=first)
            first *= self.sP
            E *= self.tau_minus
            np.log1p(E, out=E)
            E *= self.minus_q
            np.expm1(E, out=E)
            E *= self.sQ
            first -= E
            return first
        first = np.expm1(E)
        first *= self.sP
        np.negative(E, out=E)
        np.expm1(E, out=E)
        E *= self.sQ
        first -= E
        return first

    def rates(self, D: FloatArray) -> FloatArray:
        """d theta / d tau at theta_ref + D, for a batch D (k, d): (k, d). Non-finite outside
        the domain (a slack <= 0) or where x overflows."""
        out = self.deltas(D) @ self.K
        np.subtract(self.g, out, out=out)
        return out

    def jacobian(self) -> FloatArray:
        """d rate / d theta at the reference, (d, d); non-finite entries (overflow) as 0."""
        with np.errstate(over="ignore", invalid="ignore"):
            jac = (self.K * self.dx[:, None]).T @ self.G
            np.negative(jac, out=jac)
        if not np.all(np.isfinite(jac)):
            jac = np.nan_to_num(jac)
        return np.asarray(jac)

    def newton_motion(self, jac: FloatArray) -> float:
        """max |x(theta + delta) - x(theta)| / max |x| for the Newton step delta = -jac^-1 rate
        towards A x = y: the predicted remaining motion of x (inf when the full step leaves the
        domain, as on a plateau before a coordinate activates)."""
        scale = self.x_max
        if not scale > 0:
            return math.inf
        with np.errstate(all="ignore"):  # the full step may leave the domain: inf/nan
            try:
                delta = np.asarray(np.linalg.solve(jac, -self.rate0), dtype=np.float64)
            except np.linalg.LinAlgError:
                return math.inf
            motion = float(_max(np.abs(self.deltas(delta[None, :])), axis=None))
        return motion / scale if math.isfinite(motion) else math.inf


# --------------------------------------------------------------------------- Radau IIA


def _radau_tables() -> dict[str, FloatArray | float]:
    s6 = math.sqrt(6.0)
    c = np.array([(4.0 - s6) / 10.0, (4.0 + s6) / 10.0, 1.0])
    a = np.array(
        [
            [(88.0 - 7.0 * s6) / 360.0, (296.0 - 169.0 * s6) / 1800.0, (-2.0 + 3.0 * s6) / 225.0],
            [(296.0 + 169.0 * s6) / 1800.0, (88.0 + 7.0 * s6) / 360.0, (-2.0 - 3.0 * s6) / 225.0],
            [(16.0 - s6) / 36.0, (16.0 + s6) / 36.0, 1.0 / 9.0],
        ]
    )
    # A^-1 = T diag(gamma, [[alpha, -beta], [beta, alpha]]) T^-1: one real eigenvalue and a
    # conjugate pair; the Newton systems decouple into one real and one complex d x d system.
    values, vectors = np.linalg.eig(np.linalg.inv(a))
    real = int(np.argmin(np.abs(values.imag)))
    pair = int(np.argmin(values.imag))  # alpha - i beta, eigenvector v_r + i v_i
    T = np.column_stack([vectors[:, real].real, vectors[:, pair].real, vectors[:, pair].imag])
    gamma = float(values[real].real)
    alpha, beta = float(values[pair].real), float(-values[pair].imag)
    # The embedded order-3 solution y0 + gamma0 h f(y0) + sum b_hat_i h f(Y_i), gamma0 = 1/gamma,
    # fixed by sum b_hat c^(k-1) + gamma0 0^(k-1) = 1/k (k = 1, 2, 3); its difference from the
    # Radau solution is gamma0 h f(y0) + e . Z with e = A^-T (b_hat - b), b = last row of A.
    gamma0 = 1.0 / gamma
    vander = np.vstack([np.ones(3), c, c**2])
    b_hat = np.linalg.solve(vander, np.array([1.0 - gamma0, 0.5, 1.0 / 3.0]))
    e = np.linalg.solve(a.T, b_hat - a[2])
    # The collocation polynomial u(s) = sum_k coef_k s^k through u(0) = 0, u(c_i) = Z_i.
    powers = np.column_stack([c, c**2, c**3])
    return {
        "c": c,
        "T": T,
        "TI": np.linalg.inv(T),
        "gamma": gamma,
        "alpha": alpha,
        "beta": beta,
        "e_over_gamma0": e / gamma0,  # the error is (gamma/h - J)^-1 (f0 + (e/gamma0) . Z / h)
        "poly": np.linalg.inv(powers),
    }


_TABLES = _radau_tables()
C_NODES: FloatArray = np.asarray(_TABLES["c"])
T_MAT: FloatArray = np.asarray(_TABLES["T"])
TI_MAT: FloatArray = np.asarray(_TABLES["TI"])
GAMMA = float(_TABLES["gamma"])
ALPHA_C = complex(float(_TABLES["alpha"]), float(_TABLES["beta"]))
E_ERR: FloatArray = np.asarray(_TABLES["e_over_gamma0"])
TI_REAL: FloatArray = TI_MAT[0].copy()
TI_CPLX: ComplexArray = TI_MAT[1] + 1j * TI_MAT[2]  # W[1] + i W[2] = TI_CPLX . Z
POLY: FloatArray = np.asarray(_TABLES["poly"])

NEWTON_MAXITER = 7
SAFETY = 0.9
MAX_GROWTH = 8.0
MAX_SHRINK = 5.0
KEEP_H = 1.2  # h_new / h in [1, KEEP_H]: keep h and its LU factors
# Newton contracting faster than this: the Jacobian is still good. Hairer & Wanner's 1e-3
# suits cheap Jacobians; forming an expensive one (N d^2) pays only when Newton is slow.
JAC_REUSE_RATE = 1e-3
JAC_REUSE_RATE_EXPENSIVE = 0.1
X_TOL = 1000.0  # the x part of the error norm allows X_TOL rtol max |x|
MAX_ATTEMPTS = 60  # tries (smaller h, new Jacobian) for one step before giving up


class OdeMaps(Protocol):
    """What :class:`Radau5` needs of a right-hand side given around a movable reference
    point (:class:`SlackMaps` is the one the flow uses)."""

    Gt: FloatArray  # (d, N): first-order change of the monitored quantities per unit phi
    dx: FloatArray  # (N,): their weights (d x_i / d delta_i)
    x_max: float  # their scale

    @property
    def rate0(self) -> FloatArray:
        """The rate at the reference, (d,)."""

    def rates(self, D: FloatArray) -> FloatArray:
        """Rates at reference + D for a batch D (k, d): (k, d)."""

    def jacobian(self) -> FloatArray:
        """d rate / d phi at the reference, (d, d)."""

    def advance(self, D: FloatArray) -> bool:
        """Move the reference by D (d,); False (and no change) outside the domain."""


class Radau5:
    """Radau IIA of order 5 on d theta / d tau = maps.rates for tau in [0, tau_end].

    Parameters
    ----------
    maps : the right-hand side around a reference that :meth:`step` moves to each accepted point.
    theta0 : (d,) the initial state (for the error scale; the maps hold the reference).
    tau_end : end of the integration.
    rtol, atol : error tolerances on theta, scale = atol + rtol |theta| (atol (d,)).
    cheap_jacobian : the Jacobian is re-formed after a step whose Newton iteration contracted
        slower than 1e-3 (Hairer & Wanner's rule) when it is cheap to form, 0.1 otherwise.
    x_floor : the x part of the error norm is relative to max(max |x|, x_floor) (x starts at 0).
    """

    def __init__(
        self,
        maps: OdeMaps,
        theta0: FloatArray,
        tau_end: float,
        *,
        rtol: float,
        atol: FloatArray,
        cheap_jacobian: bool,
        x_floor: float = 0.0,
    ) -> None:
        self.maps = maps
        self.x_floor = x_floor
        self.theta = theta0.astype(np.float64)
        self.d = theta0.size
        self.tau = 0.0
        self._tau_low = 0.0
        self.tau_end = float(tau_end)
        self.rtol = rtol
        self.atol = atol
        self.jac_reuse_rate = JAC_REUSE_RATE if cheap_jacobian else JAC_REUSE_RATE_EXPENSIVE
        self.keep_h = KEEP_H
        self.newton_tol = max(10.0 * EPS / rtol, min(0.03, rtol**0.5))
        self.status = "running"
        self.n_rhs = 1  # batched stage evaluations count as 3
        self.n_jac = 0
        self.n_lu = 0
        self.n_rejected = 0
        self._eye = np.eye(self.d)
        self._lu_h = math.nan
        self._lu_real: tuple[FloatArray, IntArray] = (self._eye, np.zeros(self.d, np.int32))
        self._lu_cplx: tuple[ComplexArray, IntArray] = (
            self._eye.astype(np.complex128),
            np.zeros(self.d, np.int32),
        )
        self._Z_prev: FloatArray | None = None
        self._h_prev = math.nan
        self._guess_ratio = math.nan
        self._guess_matrix = np.eye(3)
        self._faccon = 1.0
        self._h_acc = math.nan
        self._err_acc = math.nan
        self._first = True
        self._rejected = False
        self.last_rate = math.nan  # Newton's contraction in the last accepted step
        with np.errstate(all="ignore"):
            self.jac = self._jacobian()
            self.h = self._initial_step()

    # ------------------------------------------------------------------ helpers

    def _jacobian(self) -> FloatArray:
        self.n_jac += 1
        self.jac_current = True
        self._lu_h = math.nan
        return self.maps.jacobian()

    def refresh_jacobian(self) -> None:
        """Re-form the Jacobian at the current point unless it is already current."""
        if not self.jac_current:
            self.jac = self._jacobian()

    def _initial_step(self) -> float:
        """The starting step of Hairer, Norsett & Wanner (Solving ODEs I, §II.4)."""
        f0 = self.maps.rate0
        scale = self.atol + self.rtol * np.abs(self.theta)
        d0, d1 = _rms(self.theta / scale), _rms(f0 / scale)
        h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 or not math.isfinite(d1) else 0.01 * d0 / d1
        h0 = min(h0, self.tau_end)
        f1 = self.maps.rates((h0 * f0)[None, :])[0]
        self.n_rhs += 1
        d2 = _rms((f1 - f0) / scale) / h0
        if not math.isfinite(d2):
            return h0 * 1e-3
        h1 = 1e-6 * max(h0, 1e-3) if max(d1, d2) <= 1e-15 else (0.01 / max(d1, d2)) ** (1 / 6)
        return min(100.0 * h0, h1, self.tau_end)

    def _factor(self, h: float) -> bool:
        real, piv_r, info_r = dgetrf(GAMMA / h * self._eye - self.jac)
        cplx, piv_c, info_c = zgetrf(ALPHA_C / h * self._eye - self.jac)
        self.n_lu += 1
        if info_r != 0 or info_c != 0:
            self._lu_h = math.nan
            return False
        self._lu_real, self._lu_cplx = (real, piv_r), (cplx, piv_c)
        self._lu_h = h
        return True

    def _x_weights(self) -> FloatArray:
        """|dx_i / d delta_i| / (X_TOL rtol max(max |x|, x_floor)): the x part of the error
        norm per unit change of delta."""
        scale = X_TOL * self.rtol * max(self.maps.x_max, self.x_floor, 1e-300)
        return np.abs(self.maps.dx) * (1.0 / scale)

    def _norm(self, v: FloatArray, inv_scale: FloatArray) -> float:
        """The error norm of changes v ((d,) or (k, d)) of phi: the larger of the RMS of
        v / scale and of max_i |dx_i| / (X_TOL rtol max |x|), dx the change of x they cause
        (to first order).

        The phi part controls each face slack relative to its size, but an off-face slack near
        1 - |z| = 0 (a coordinate active during the transient) only absolutely; the x part is a
        safeguard for that, loose enough not to set the step otherwise.
        """
        scaled = v * inv_scale
        phi_part = float(np.vdot(scaled, scaled)) / scaled.size
        x_part = float(_max(np.abs(v @ self.maps.Gt) * self._wx, axis=None))
        return max(math.sqrt(phi_part), x_part)

    def _newton(self, h: float, Z: FloatArray, inv_scale: FloatArray) -> tuple[bool, int, float]:
        """Simplified Newton on the collocation system; Z (3, d) is updated in place.
        Returns (converged, iterations, the factor for h on failure).

        In the variables W = T^-1 Z the iteration matrix splits into (gamma/h - J) for W0
        and ((alpha + i beta)/h - J) for W1 + i W2 (the eigenvalues of the Radau matrix^-1).
        """
        W = TI_MAT @ Z
        w_cplx = W[1] + 1j * W[2]
        dW = np.empty_like(W)
        gh, ah = GAMMA / h, ALPHA_C / h
        lu_r, piv_r = self._lu_real
        lu_c, piv_c = self._lu_cplx
        faccon = max(self._faccon, EPS) ** 0.8
        norm_old = thq_old = rate = math.nan
        for k in range(NEWTON_MAXITER):
            F = self.maps.rates(Z)
            self.n_rhs += 3
            rhs_r = TI_REAL @ F
            rhs_r -= gh * W[0]
            rhs_c = TI_CPLX @ F
            rhs_c -= ah * w_cplx
            dW[0] = dgetrs(lu_r, piv_r, rhs_r, overwrite_b=1)[0]
            dw_cplx = zgetrs(lu_c, piv_c, rhs_c, overwrite_b=1)[0]
            dW[1] = dw_cplx.real
            dW[2] = dw_cplx.imag
            norm = self._norm(dW, inv_scale)
            if not math.isfinite(norm):
                return False, k + 1, 0.5
            if k > 0:
                thq = norm / norm_old if norm_old > 0 else 0.0
                rate = thq if k == 1 else math.sqrt(thq * thq_old)
                thq_old = thq
                if rate >= 0.99:
                    return False, k + 1, 0.5
                faccon = rate / (1.0 - rate)
                remaining = NEWTON_MAXITER - 1 - k
                predicted = faccon * norm * rate**remaining / self.newton_tol
                if predicted >= 1.0:
                    qnewt = max(1e-4, min(20.0, predicted))
                    return False, k + 1, 0.8 * qnewt ** (-1.0 / (4.0 + remaining))
            norm_old = norm
            W += dW
            w_cplx += dw_cplx
            np.matmul(T_MAT, W, out=Z)
            if faccon * norm <= self.newton_tol:
                self._faccon = faccon
                self.last_rate = rate if math.isfinite(rate) else 0.0
                return True, k + 1, 1.0
        return False, NEWTON_MAXITER, 0.5

    def _guess(self, h: float) -> FloatArray:
        """Stage increments predicted by the last step's collocation polynomial."""
        if self._Z_prev is None or self._rejected:
            return np.zeros((3, self.d))
        ratio = h / self._h_prev
        if ratio != self._guess_ratio:
            s = 1.0 + C_NODES * ratio
            self._guess_matrix = np.column_stack([s, s * s, s * s * s]) @ POLY
            self._guess_ratio = ratio
        guess = self._guess_matrix @ self._Z_prev
        guess -= self._Z_prev[2]
        return np.asarray(guess)

    # ------------------------------------------------------------------ one step

    def step(self) -> str | None:
        """Advance by one accepted step; returns None, or a message when the step failed."""
        if self.status != "running":
            return "the integration has ended"
        with np.errstate(all="ignore"):  # trial stages outside the domain are rejected by value
            return self._step()

    def _step(self) -> str | None:
        h = self.h
        abs_theta = np.abs(self.theta)
        inv_scale = 1.0 / (self.atol + self.rtol * abs_theta)
        self._wx = self._x_weights()
        attempts = 0
        while True:
            # The flow is autonomous: a step far below the resolution of tau itself is fine
            # (for tiny kappa a face coordinate activates within ~kappa), tau is summed with
            # compensation. A step that fails this often at ever smaller h does not converge.
            attempts += 1
            if attempts > MAX_ATTEMPTS or not (h > 0 and math.isfinite(h)):
                self.status = "failed"
                return (
                    f"no step converged ({attempts - 1} tries, h = {h:.3g}) at tau = {self.tau:.6g}"
                )
            last = self.tau + h >= self.tau_end
            if last:
                h = self.tau_end - self.tau
            if h != self._lu_h and not self._factor(h):
                h *= 0.5
                self._rejected = True
                continue
            Z = self._guess(h)
            converged, iterations, shrink = self._newton(h, Z, inv_scale)
            if not converged:
                if not self.jac_current:
                    self.jac = self._jacobian()
                else:
                    h *= shrink
                self._rejected = True
                continue
            ze = E_ERR @ Z
            ze /= h
            err = dgetrs(self._lu_real[0], self._lu_real[1], self.maps.rate0 + ze)[0]
            theta_new = self.theta + Z[2]
            err_scale = self.atol + self.rtol * np.maximum(abs_theta, np.abs(theta_new))
            err_norm = self._norm(err, 1.0 / err_scale)
            if err_norm > 1.0 and (self._first or self._rejected):
                f_err = self.maps.rates(err[None, :])[0]
                self.n_rhs += 1
                if np.all(np.isfinite(f_err)):
                    err = dgetrs(self._lu_real[0], self._lu_real[1], f_err + ze)[0]
                    err_norm = self._norm(err, 1.0 / err_scale)
            if not math.isfinite(err_norm):
                h *= 0.5
                self._rejected = True
                continue
            fac = min(SAFETY, SAFETY * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + iterations))
            quot = max(1.0 / MAX_GROWTH, min(MAX_SHRINK, max(err_norm, 1e-10) ** 0.25 / fac))
            if err_norm > 1.0:
                self.n_rejected += 1
                h = h * 0.1 if self._first else h / quot
                self._rejected = True
                continue
            if not self.maps.advance(Z[2]):
                h *= 0.5  # Newton converged to a point outside the domain
                self._rejected = True
                continue
            break
        if not self._first:  # Gustafsson's predictive controller
            gus = (self._h_acc / h) * (max(err_norm, 1e-10) ** 2 / self._err_acc) ** 0.25
            quot = max(quot, max(1.0 / MAX_GROWTH, min(MAX_SHRINK, gus / SAFETY)))
        self._h_acc, self._err_acc = h, max(1e-2, err_norm)
        h_new = h / quot
        if 1.0 <= h_new / h <= self.keep_h:
            h_new = h
        self.theta = theta_new
        if last:
            self.tau, self._tau_low = self.tau_end, 0.0
        else:  # Kahan summation of the steps
            increment = h - self._tau_low
            total = self.tau + increment
            self._tau_low = (total - self.tau) - increment
            self.tau = total
        self._Z_prev, self._h_prev = Z, h
        self._first = self._rejected = False
        if self.tau >= self.tau_end:
            self.status = "finished"
        self.h = h_new
        if self.last_rate > self.jac_reuse_rate:
            self.jac = self._jacobian()
        else:
            self.jac_current = False
        return None


def _rms(v: FloatArray) -> float:
    flat = v.ravel()
    return math.sqrt(float(flat @ flat) / flat.size)
