"""Independent high-precision reference for the flow limit (used to make limit_refs.json).

Plain Newton on the dual mu in mpmath (no scaled coordinates, no BP anchor): maximize
y^T mu - alpha^p sum Phi_p(a_i^T mu), continuing from alpha^p = 1 (mu = 0) down to the target
in steps of one decade of alpha^p, with backtracking on the dual objective itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import mpmath as mp


def _maps(z: mp.mpf, p: mp.mpf, ap: mp.mpf) -> tuple[mp.mpf, mp.mpf, mp.mpf]:
    """(x, dx/dz, alpha^p Phi) at z."""
    if p == 2:
        return ap * 2 * mp.sinh(z), ap * 2 * mp.cosh(z), ap * 2 * mp.cosh(z)
    q = p / (p - 2)
    sp, sm = 1 - z, 1 + z
    x = ap * (sp ** (-q) - sm ** (-q))
    d = ap * q * (sp ** (-q - 1) + sm ** (-q - 1))
    phi = ap * (p - 2) / 2 * (sp ** (-2 / (p - 2)) + sm ** (-2 / (p - 2)))
    return x, d, phi


def mp_flow_limit(
    A: Sequence[Sequence[float]],
    y: Sequence[float],
    depth: float | str,
    log10_alpha: float | str,
    dps: int = 60,
) -> list[mp.mpf]:
    """x_alpha to 30 significant digits (relative to 1 + max|x|).

    The working precision is ``dps`` plus the digits lost in the slacks 1 - |z|, which are
    ~ (alpha^p)^{(p-2)/p} on the support for p > 2.
    """
    p_f, la_f = float(depth), float(log10_alpha)
    lost = 0 if p_f == 2 else math.ceil(max(0.0, -p_f * la_f) * (p_f - 2) / p_f)
    with mp.workdps(dps + lost):
        Am = mp.matrix([[mp.mpf(v) for v in row] for row in A])
        ym = mp.matrix([mp.mpf(v) for v in y])
        m, n = Am.rows, Am.cols
        p = mp.mpf(depth)
        target = p * mp.mpf(log10_alpha)  # log10 alpha^p
        levels = []
        level = mp.mpf(0) if target < 0 else target
        while True:
            levels.append(level)
            if level <= target:
                break
            # p = 2: the extrapolation below is exact to leading order, so take big strides.
            level = max(level - (10 if p == 2 else 1), target)
        mu = mp.matrix(m, 1)
        prev_mu = None
        # Asymptotically mu ~ L lambda + const (p = 2, L = ln(1/alpha^2)) and
        # mu ~ lambda + C (alpha^p)^{(p-2)/p} (p > 2): extrapolate one decade ahead.
        ratio = mp.mpf(1) if p == 2 else mp.power(10, -(p - 2) / p)
        for level in levels:
            ap = mp.power(10, level)
            start = mu
            if prev_mu is not None:
                guess = mu + ratio * (mu - prev_mu)
                if _objective(Am, ym, guess, p, ap, n) is not None:
                    start = guess
            prev_mu = mu
            mu = _newton(Am, ym, start, p, ap, n, m)
        z = Am.T * mu
        return [_maps(z[i], p, mp.power(10, target))[0] for i in range(n)]


def _objective(Am: Any, ym: Any, mu: Any, p: Any, ap: Any, n: int) -> Any:
    z = Am.T * mu
    if p != 2 and any(abs(z[i]) >= 1 for i in range(n)):
        return None
    return (ym.T * mu)[0] - mp.fsum(_maps(z[i], p, ap)[2] for i in range(n))


def _newton(Am: Any, ym: Any, mu: Any, p: Any, ap: Any, n: int, m: int) -> Any:
    tol = mp.mpf(10) ** -30
    for _ in range(400):
        z = Am.T * mu
        vals = [_maps(z[i], p, ap) for i in range(n)]
        x = mp.matrix([v[0] for v in vals])
        g = ym - Am * x
        H = mp.matrix(m, m)
        for i in range(n):
            d = vals[i][1]
            for r in range(m):
                for c in range(m):
                    H[r, c] += Am[r, i] * d * Am[c, i]
        step = mp.lu_solve(H, g)
        dx = max(abs(vals[i][1] * (Am.T * step)[i]) for i in range(n))
        if dx <= tol * (1 + max(abs(v) for v in x)):
            return mu + step  # at the working-precision floor the objective cannot rank steps
        f0 = _objective(Am, ym, mu, p, ap, n)
        decrement = (g.T * step)[0]
        t = mp.mpf(1)
        # Past the objective's resolution the pure Newton step (if feasible) is right.
        tiny = decrement <= mp.mpf(10) ** (5 - mp.mp.dps) * (1 + abs(f0))
        if tiny and _objective(Am, ym, mu + step, p, ap, n) is not None:
            mu = mu + step
            continue
        while True:
            trial = mu + t * step
            f1 = _objective(Am, ym, trial, p, ap, n)
            if f1 is not None and f1 >= f0 + mp.mpf("1e-4") * t * (g.T * step)[0]:
                break
            t /= 2
            if t < mp.mpf("1e-30"):
                raise RuntimeError("reference Newton line search failed")
        mu = trial
    raise RuntimeError("reference Newton did not converge")
