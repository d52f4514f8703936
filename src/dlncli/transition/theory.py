"""The asymptotic weak threshold rho_W(delta) of basis pursuit for signed sparse vectors.

Notation (docs/phase.md): A is an m x N Gaussian matrix, delta = m / N, rho = k / m for a
k-sparse x. The threshold comes from the statistical dimension of the descent cone of the
l1 norm at a k-sparse point, which (as N -> infinity with k / N = eps) equals N * psi(eps),

    psi(eps) = min_{tau >= 0}  eps (1 + tau^2) + (1 - eps) g(tau),
    g(tau)   = E[(|Z| - tau)_+^2] = 2 [(1 + tau^2) Phi(-tau) - tau phi(tau)],

and BP recovers x with high probability exactly when m exceeds it: rho_W(delta) solves
delta = psi(rho delta). Note that the argument of psi is k / N, not k / m.
"""

from __future__ import annotations

import math

import numpy as np

from dlncli.reports import TheoryReport

__all__ = ["TheoryReport", "weak_threshold", "weak_threshold_table"]

# The root in tau is bracketed in [TAU_MIN, TAU_MAX]: tau -> 0 is eps -> 1 (delta -> 1),
# tau = 38 is eps ~ 1e-316, below any delta a float can show.
TAU_MIN = 1e-12
TAU_MAX = 38.0


def _mean_excess(tau: float) -> float:
    """h(tau) = E[(|Z| - tau)_+] = 2 (phi(tau) - tau Phi(-tau)), through the scaled erfc
    so that the tail keeps its relative precision."""
    import scipy.special

    phi = math.exp(-0.5 * tau * tau) / math.sqrt(2.0 * math.pi)
    mills = math.sqrt(math.pi / 2.0) * float(scipy.special.erfcx(tau / math.sqrt(2.0)))
    return 2.0 * phi * (1.0 - tau * mills)


def _sparsity_at(tau: float) -> float:
    """The eps whose minimizer in psi(eps) is tau: d/dtau = 0 gives eps tau = (1 - eps) h(tau)."""
    h = _mean_excess(tau)
    return h / (tau + h)


def _psi_at(tau: float) -> float:
    """psi(eps(tau)) = eps (1 + tau^2) + (1 - eps) g(tau) with eps = eps(tau)."""
    import scipy.special

    eps = _sparsity_at(tau)
    tail = 0.5 * float(scipy.special.erfc(tau / math.sqrt(2.0)))  # Phi(-tau)
    phi = math.exp(-0.5 * tau * tau) / math.sqrt(2.0 * math.pi)
    g = 2.0 * ((1.0 + tau * tau) * tail - tau * phi)
    return eps * (1.0 + tau * tau) + (1.0 - eps) * g


def weak_threshold(delta: float) -> float:
    """rho_W(delta): the asymptotic BP phase transition for signed k-sparse vectors.

    Solves ``delta = psi(rho * delta)`` (module docstring) for rho. psi is parametrized by
    the minimizing tau, where eps(tau) = h(tau) / (tau + h(tau)) is explicit, so a single
    bracketed root find in tau does both the inner minimization and the outer equation.

    Parameters
    ----------
    delta : m / N, in (0, 1].

    Returns
    -------
    rho_W = k / m at the transition, in (0, 1]; 1.0 at delta = 1.

    Raises
    ------
    ValueError : delta outside (0, 1].
    """
    if not (0.0 < delta <= 1.0) or math.isnan(delta):
        raise ValueError(f"delta = {delta!r}; expected 0 < delta <= 1")
    if delta == 1.0:
        return 1.0
    import scipy.optimize

    # psi(eps(tau)) decreases from 1 (tau -> 0) to 0 (tau -> inf).
    if _psi_at(TAU_MIN) <= delta:
        return 1.0
    tau = scipy.optimize.brentq(
        lambda t: _psi_at(t) - delta, TAU_MIN, TAU_MAX, xtol=1e-15, rtol=1e-15, maxiter=200
    )
    return min(_sparsity_at(float(tau)) / delta, 1.0)


def weak_threshold_table(deltas: np.typing.ArrayLike) -> TheoryReport:
    """rho_W(delta) for each delta (see :func:`weak_threshold`)."""
    values = tuple(float(d) for d in np.atleast_1d(np.asarray(deltas, dtype=np.float64)))
    return TheoryReport(values, tuple(weak_threshold(d) for d in values))
