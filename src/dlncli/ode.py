"""The reduced mirror flow as a stiff ODE in float64: slack maps that keep their digits, and a
Radau IIA (order 5) integrator written for them.

The flow's state is theta in R^d (the face coordinates of docs/model.md §3; d = rank A). Each
coordinate x_i of x(theta) is a difference of two terms in one affine function of theta,
delta_i = g_i . (theta - theta_ref) (the rows g_i form ``G``, (N, d)):

    p > 2:  x_i = sgn_i (P_i (1 + delta_i / s+_i)^(-q) - Q_i (1 + tau_i delta_i / s-_i)^(-q))
    p = 2:  x_i = sgn_i (P_i exp(delta_i) - Q_i exp(-delta_i))

with q = p / (p - 2). For p > 2, s+_i and s-_i are the two slacks of coordinate i at the
reference point theta_ref (for a face coordinate the scaled slack -u and 2w + kappa u, for an
off-face one 1 - z and 1 + z), P_i = e^(b_i) (s+_i)^(-q) and Q_i = e^(p ln alpha) (s-_i)^(-q)
(b_i = 0 on the face, p ln alpha off it); for p = 2, P_i and Q_i are the two exponentials.
Writing x(theta_ref + D) = x_ref + dx(D) with dx evaluated by log1p and expm1 makes the
right-hand side

    F(D) = S (U^T y - K^T x_ref - K^T dx(D)),   K = A^T U,   S = (1/kappa on a_hat, 1 on b),

accurate relative to the motion dx rather than to x itself. The reference is moved to the
accepted point after every step (``SlackMaps.advance``): the slacks are updated by adding their
increments (the slacks are the state, so a slack that shrinks by decades keeps its relative
precision, which theta in float64 would not give), and within a step F is smooth to rounding of
dx. That smoothness is what lets an implicit method take the long steps of the flow's tail; the
previous implementation bought it with long-double arithmetic on x.

:class:`Radau5` is the 3-stage Radau IIA collocation method with the embedded order-3 error
estimate and step-size control of Hairer & Wanner (Solving ODEs II, §IV.8), simplified Newton
with the transformed real/complex systems, the stage values of each step evaluated as one batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.linalg.lapack import dgetrf, dgetrs, zgetrf, zgetrs

FloatArray = NDArray[np.float64]
ComplexArray = NDArray[np.complex128]
IntArray = NDArray[np.int64]

EPS = float(np.finfo(float).eps)


# --------------------------------------------------------------------------- the maps


@dataclass(frozen=True)
class FaceGeometry:
    """The face coordinates of one problem, depth and alpha, as plain arrays.

    theta = (a_hat, b), a_hat the first ``rank_j`` entries. On the face support J:
    u = signs * (M_j @ a_hat); off it: z = c * corr_off + K_off[:, r:] @ b + kappa K_off[:, :r]
    @ a_hat; x = (see the module docstring); rate = S (uy - K^T x).
    """

    support: IntArray  # (|J|,)
    off: IntArray  # (N - |J|,)
    signs: FloatArray  # (|J|,)
    w: FloatArray  # (|J|,) s_J a_J^T lambda (1 up to rounding)
    M_j: FloatArray  # (|J|, rank_j)
    K_off: FloatArray  # (N - |J|, d)
    corr_off: FloatArray  # (N - |J|,) a_i^T lambda off the face
    K: FloatArray  # (N, d) = A^T U
    uy: FloatArray  # (d,) = U^T y
    rank_j: int
    depth: float
    p_log_alpha: float  # ln alpha^p
    kappa: float  # alpha^(p - 2), or 1 for p = 2
    c: float  # 1 for p > 2, ln(1 / alpha^2) for p = 2
    L: float  # ln(1 / alpha^2) (p = 2 only)


class SlackMaps:
    """x, the rate and its Jacobian around a reference point that moves with the state."""

    def __init__(self, geom: FaceGeometry, theta: FloatArray) -> None:
        n, d = geom.K.shape
        r = geom.rank_j
        J, off = geom.support, geom.off
        self.power = geom.depth != 2.0
        self.q = geom.depth / (geom.depth - 2.0) if self.power else math.inf
        self.minus_q = -self.q
        self.K = np.ascontiguousarray(geom.K)
        self.uy = geom.uy
        self.S = np.ones(d)
        self.S[:r] = 1.0 / geom.kappa
        self.minus_S = -self.S
        K_off_scaled = geom.K_off.copy()
        K_off_scaled[:, :r] *= geom.kappa
        self.sgn = np.ones(n)
        self.sgn[J] = geom.signs
        # The two slacks (p > 2) or exponents (p = 2) of every coordinate are affine in theta:
        # first = base_plus + G theta, second = base_minus + tau G theta.
        G = np.zeros((n, d))
        self.tau = np.full(n, -1.0)
        self.base_plus, self.base_minus = np.empty(n), np.empty(n)
        if self.power:
            # On J: -u = -s_J M_j a_hat and 2w + kappa u; off J: 1 - z and 1 + z.
            G[J, :r] = -geom.signs[:, None] * geom.M_j
            G[off] = -K_off_scaled
            self.tau[J] = -geom.kappa
            self.base_plus[J], self.base_minus[J] = 0.0, 2.0 * geom.w
            self.base_plus[off] = 1.0 - geom.c * geom.corr_off
            self.base_minus[off] = 1.0 + geom.c * geom.corr_off
            # x_i = sgn_i (e^(log_p0) first^-q - alpha^p second^-q)
            self.log_p0 = np.zeros(n)
            self.log_p0[off] = geom.p_log_alpha
            self.pla = geom.p_log_alpha
        else:
            # On J: -L + c w + u and -L - c w - u; off J: -L + z and -L - z.
            G[J, :r] = geom.signs[:, None] * geom.M_j
            G[off] = K_off_scaled
            self.base_plus[J] = -geom.L + geom.c * geom.w
            self.base_minus[J] = -geom.L - geom.c * geom.w
            self.base_plus[off] = -geom.L + geom.c * geom.corr_off
            self.base_minus[off] = -geom.L - geom.c * geom.corr_off
        self.G = np.ascontiguousarray(G)
        self.Gt = np.ascontiguousarray(G.T)
        self._G_ld = G.astype(np.longdouble)
        self._base_plus_ld = self.base_plus.astype(np.longdouble)
        self._base_minus_ld = self.base_minus.astype(np.longdouble)
        self._tau_ld = self.tau.astype(np.longdouble)
        self.set_reference(theta.astype(np.longdouble))

    def set_reference(self, theta: NDArray[np.longdouble]) -> None:
        """Make theta (d,) the reference: its slacks, P, Q, x and rate.

        The slacks are formed from theta in extended precision: on J they are differences of
        terms as large as 1/kappa while the flow activates coordinates one by one (theta holds
        the slacks of the coordinates not yet active). The rest is float64.
        """
        self.theta_ld = theta
        E = self._G_ld @ theta
        first = np.asarray(self._base_plus_ld + E, dtype=np.float64)
        second = np.asarray(self._base_minus_ld + self._tau_ld * E, dtype=np.float64)
        self.first, self.second = first, second
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            if self.power:
                self.inv_plus = 1.0 / first
                self.tau_minus = self.tau / second
                P = np.exp(self.log_p0 - self.q * np.log(first))
                Q = np.exp(self.pla - self.q * np.log(second))
            else:
                P, Q = np.exp(first), np.exp(second)
            self.sP, self.sQ = self.sgn * P, self.sgn * Q
            self.x = self.sP - self.sQ
            self.g = self.uy - self.x @ self.K
            self.rate0 = self.S * self.g

    def deltas(self, D: FloatArray) -> FloatArray:
        """dx for a batch of displacements D (k, d) of theta from the reference: (k, N)."""
        E = D @ self.Gt
        if self.power:
            first = E * self.inv_plus
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
        out *= self.S
        return out

    def admissible(self, D: FloatArray) -> bool:
        """theta_ref + D (d,) is inside the domain (every slack > 0) and x is finite there."""
        E = self.G @ D
        first = self.first + E
        second = self.second + self.tau * E
        if self.power:
            return bool(np.all(first > 0) and np.all(second > 0))
        return bool(np.all(np.isfinite(np.exp(first) + np.exp(second))))

    def x_derivative(self) -> FloatArray:
        """d x_i / d delta_i at the reference, (N,)."""
        if self.power:
            return np.asarray(self.minus_q * (self.sP * self.inv_plus - self.sQ * self.tau_minus))
        return np.asarray(self.sP + self.sQ)

    def jacobian(self) -> FloatArray:
        """d rate / d theta at the reference, (d, d); non-finite entries (overflow) as 0."""
        jac = (self.K * self.x_derivative()[:, None]).T @ self.G
        jac *= self.minus_S[:, None]
        if not np.all(np.isfinite(jac)):
            jac = np.nan_to_num(jac)
        return np.asarray(jac)

    def newton_motion(self, jac: FloatArray) -> float:
        """max |x(theta + delta) - x(theta)| / max |x| for the Newton step delta = -jac^-1 rate
        towards A x = y: the predicted remaining motion of x (inf when the full step leaves the
        domain, as on a plateau before a coordinate activates)."""
        scale = float(np.max(np.abs(self.x)))
        if not scale > 0:
            return math.inf
        with np.errstate(all="ignore"):  # the full step may leave the domain: inf/nan
            try:
                delta = np.asarray(np.linalg.solve(jac, -self.rate0), dtype=np.float64)
            except np.linalg.LinAlgError:
                return math.inf
            motion = float(np.max(np.abs(self.deltas(delta[None, :]))))
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
POLY: FloatArray = np.asarray(_TABLES["poly"])

NEWTON_MAXITER = 7
SAFETY = 0.9
MAX_GROWTH = 8.0
MAX_SHRINK = 5.0
KEEP_H = 1.2  # h_new / h in [1, KEEP_H]: keep h and its LU factors
JAC_REUSE_RATE = 1e-3  # Newton contracting faster than this: the Jacobian is still good


class Radau5:
    """Radau IIA of order 5 on d theta / d tau = maps.rates for tau in [0, tau_end].

    Parameters
    ----------
    maps : the right-hand side around a reference that :meth:`step` moves to each accepted point.
    theta0 : (d,) the initial state (for the error scale; the maps hold the reference).
    tau_end : end of the integration.
    rtol, atol : error tolerances on theta, scale = atol + rtol |theta| (atol (d,)).
    fresh_jacobian : recompute the Jacobian after every step (cheap when N d^2 is small);
        otherwise only when Newton contracts slowly (Hairer & Wanner's rule).
    """

    def __init__(
        self,
        maps: SlackMaps,
        theta0: FloatArray,
        tau_end: float,
        *,
        rtol: float,
        atol: FloatArray,
        fresh_jacobian: bool,
    ) -> None:
        self.maps = maps
        self.theta = theta0.astype(np.float64)
        self.d = theta0.size
        self.tau = 0.0
        self.tau_end = float(tau_end)
        self.rtol = rtol
        self.atol = atol
        self.fresh_jacobian = fresh_jacobian
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
        self._dW = np.empty((3, self.d))
        self._Z_prev: FloatArray | None = None
        self._h_prev = math.nan
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

    def _newton(self, h: float, Z: FloatArray, scale: FloatArray) -> tuple[bool, int, float]:
        """Simplified Newton on the collocation system; Z (3, d) is updated in place.
        Returns (converged, iterations, the factor for h on failure)."""
        W = TI_MAT @ Z
        gh, ah = GAMMA / h, ALPHA_C / h
        lu_r, piv_r = self._lu_real
        lu_c, piv_c = self._lu_cplx
        dW = self._dW
        inv_scale = 1.0 / scale
        faccon = max(self._faccon, EPS) ** 0.8
        norm_old = thq_old = rate = math.nan
        for k in range(NEWTON_MAXITER):
            F = self.maps.rates(Z)
            self.n_rhs += 3
            Gs = TI_MAT @ F
            Gs -= gh * W  # the real row; the complex pair is redone below
            dW[0] = dgetrs(lu_r, piv_r, Gs[0])[0]
            Gs += gh * W
            cplx = dgetrs_complex(lu_c, piv_c, Gs, W, ah)
            dW[1], dW[2] = cplx.real, cplx.imag
            scaled = (dW * inv_scale).ravel()
            norm = math.sqrt(float(scaled @ scaled) / scaled.size)
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
        s = 1.0 + C_NODES * (h / self._h_prev)
        powers = np.empty((3, 3))
        powers[:, 0] = s
        powers[:, 1] = s * s
        powers[:, 2] = powers[:, 1] * s
        guess = (powers @ POLY) @ self._Z_prev
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
        scale = self.atol + self.rtol * abs_theta
        while True:
            if not (h > 16.0 * EPS * abs(self.tau) and h > 0 and math.isfinite(h)):
                self.status = "failed"
                return f"step size {h:.3g} too small at tau = {self.tau:.6g}"
            last = self.tau + h >= self.tau_end
            if last:
                h = self.tau_end - self.tau
            if h != self._lu_h and not self._factor(h):
                h *= 0.5
                self._rejected = True
                continue
            Z = self._guess(h)
            converged, iterations, shrink = self._newton(h, Z, scale)
            if converged and not self.maps.admissible(Z[2]):
                converged, shrink = False, 0.5
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
            err_norm = _rms(err / err_scale)
            if err_norm > 1.0 and (self._first or self._rejected):
                f_err = self.maps.rates(err[None, :])[0]
                self.n_rhs += 1
                if np.all(np.isfinite(f_err)):
                    err = dgetrs(self._lu_real[0], self._lu_real[1], f_err + ze)[0]
                    err_norm = _rms(err / err_scale)
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
            break
        if not self._first:  # Gustafsson's predictive controller
            gus = (self._h_acc / h) * (max(err_norm, 1e-10) ** 2 / self._err_acc) ** 0.25
            quot = max(quot, max(1.0 / MAX_GROWTH, min(MAX_SHRINK, gus / SAFETY)))
        self._h_acc, self._err_acc = h, max(1e-2, err_norm)
        h_new = h / quot
        if 1.0 <= h_new / h <= KEEP_H:
            h_new = h
        self.theta = theta_new
        self.maps.set_reference(self.maps.theta_ld + Z[2])
        self.tau = self.tau_end if last else self.tau + h
        self._Z_prev, self._h_prev = Z, h
        self._first = self._rejected = False
        if self.tau >= self.tau_end:
            self.status = "finished"
        self.h = h_new
        if self.fresh_jacobian or self.last_rate > JAC_REUSE_RATE:
            self.jac = self._jacobian()
        else:
            self.jac_current = False
        return None


def _rms(v: FloatArray) -> float:
    flat = v.ravel()
    return math.sqrt(float(flat @ flat) / flat.size)


def dgetrs_complex(
    lu: ComplexArray, piv: IntArray, Gs: FloatArray, W: FloatArray, ah: complex
) -> ComplexArray:
    """Solve (ah - J) dV = (Gs[1] + i Gs[2]) - ah (W[1] + i W[2]) with the complex LU."""
    rhs = Gs[1] + 1j * Gs[2]
    rhs -= ah * (W[1] + 1j * W[2])
    return np.asarray(zgetrs(lu, piv, rhs)[0])
