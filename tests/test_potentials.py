"""h_p, its inverse, q_p and g_p against mpmath (quad, 30-40 digit inverse), finite
differences, the tie-break closed form and the exact limit's optimality conditions."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import mpmath as mp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from dlncli.arrays import LN10
from dlncli.dln import potentials as P
from dlncli.dln.limit import flow_limit
from dlncli.problem_io import load_sample
from tests.helpers import run, run_json

DEPTHS = [2.0, 2.05, 2.5, 3.0, 4.0, 7.0]
EXTREME = [2.0001, 2.001, 1000.0]  # k = 20001, 2001 (h leaves float range at z ~ 0.04, 0.35)


def mp_h(z: Any, p: float) -> Any:
    z = mp.mpf(z)
    if p == 2.0:
        return 2 * mp.sinh(z)
    k = mp.mpf(p) / (mp.mpf(p) - 2)
    return (1 - z) ** (-k) - (1 + z) ** (-k)


def mp_h_inverse(w: Any, p: float) -> Any:
    return mp_inverse_and_slack(w, p)[0]


def mp_inverse_and_slack(w: Any, p: float) -> tuple[Any, Any]:
    """z = h_p^{-1}(w) and 1 - |z|: bisection on [0, 1) then Newton, or for z near 1 a
    Newton solve for ln(1 - z), at the working precision (independent of the code's regimes)."""
    w = mp.mpf(w)
    if p == 2.0:
        return mp.asinh(w / 2), None
    if w == 0:
        return mp.mpf(0), mp.mpf(1)
    sign, w = (1 if w > 0 else -1), abs(w)
    k = mp.mpf(p) / (mp.mpf(p) - 2)
    if mp.log(w) / k > 7:  # 1 - z ~ w^(-1/k) < 1e-3: solve for the slack instead
        slack = mp.exp(mp_log_slack(mp.log(w), p))
        return sign * (1 - slack), slack
    lo, hi = mp.mpf(0), mp.mpf(1)
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if mp_h(mid, p) > w else (mid, hi)
    z = (lo + hi) / 2
    for _ in range(8):
        z -= (mp_h(z, p) - w) / (k * ((1 - z) ** (-k - 1) + (1 + z) ** (-k - 1)))
    return sign * z, 1 - z


def mp_log_slack(log_w: Any, p: float) -> Any:
    """ln(1 - z) for h_p(z) = e^log_w, solved in l = ln(1 - z) at 40 digits."""
    k = mp.mpf(p) / (mp.mpf(p) - 2)

    def f(ell: Any) -> Any:
        return -k * ell + mp.log(1 - (mp.exp(ell) / (2 - mp.exp(ell))) ** k) - log_w

    return mp.findroot(f, -mp.mpf(log_w) / k)


@pytest.mark.parametrize("p", DEPTHS)
def test_h_matches_mpmath(p: float) -> None:
    z = np.array([-0.99, -0.5, -1e-9, 0.0, 1e-300, 1e-12, 0.1, 0.5, 0.75, 0.999])
    with mp.workdps(400):  # 1 - 1e-300 needs 300 digits
        expected = np.array([float(mp_h(v, p)) for v in z])
    np.testing.assert_allclose(P.h(z, p), expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("p", DEPTHS + EXTREME)
def test_h_inverse_matches_mpmath_and_round_trips(p: float) -> None:
    w = np.array([1e-300, 1e-12, 1e-5, 0.01, 0.3, 1.0, 3.0, 10.0, 1e3, 1e8, 1e300])
    w = np.concatenate([w, -w])
    expected = np.empty_like(w)
    for i, v in enumerate(w):
        with mp.workdps(40 + max(0, int(-math.log10(abs(v))))):  # h cancels for tiny z
            expected[i] = float(mp_h_inverse(v, p))
    z = P.h_inverse(w, p)
    np.testing.assert_allclose(z, expected, rtol=3e-15, atol=0)
    # h(z) from the rounded z: relative error ~ k eps / (1 - |z|), so only where 1 - |z| > 1e-3.
    inner = np.abs(z) < 0.999
    np.testing.assert_allclose(P.h(z[inner], p), w[inner], rtol=1e-11)


@pytest.mark.parametrize("p", [2.5, 3.0, 6.0])
@pytest.mark.parametrize("log_w", [2.0, 50.0, 700.0, 5000.0, 1e6])
def test_slack_keeps_its_digits_beyond_float_range(p: float, log_w: float) -> None:
    z_abs, log_slack = P.inverse_slack(np.array([log_w]), p)
    with mp.workdps(40):
        expected = mp_log_slack(log_w, p)
    # ln|w| carries an absolute error of eps*|ln w|; ln s inherits it divided by k.
    assert abs(log_slack[0] - float(expected)) <= 4e-16 * max(abs(float(expected)), 1.0)
    assert z_abs[0] == pytest.approx(-math.expm1(float(expected)), rel=1e-15, abs=0)


@pytest.mark.parametrize("p", [2.0, 2.5, 3.0, 4.0])
def test_q_is_the_integral_of_the_inverse(p: float) -> None:
    """q_p(w) = ∫₀^w h_p^{-1}: mpmath quadrature of a 30-digit inverse."""
    w = np.array([1e-6, 0.2, 1.5, 6.0, -40.0])
    with mp.workdps(30):
        expected = np.array([float(mp.quad(lambda s: mp_h_inverse(s, p), [0, v])) for v in w])
    np.testing.assert_allclose(P.q(w, p), expected, rtol=2e-15, atol=0)


@pytest.mark.parametrize("p", DEPTHS + EXTREME)
def test_q_matches_the_legendre_form_in_high_precision(p: float) -> None:
    """q_p(h(z)) = z h(z) - (Phi(z) - Phi(0)) at 40 digits, over the whole range."""
    w = np.array([1e-300, 1e-100, 1e-12, 1e-6, 1e-3, 0.05, 0.5, 2.0, 30.0, 1e5, 1e12, 1e200])
    expected = []
    for v in w:
        with mp.workdps(60 + 2 * max(0, int(-math.log10(abs(v))))):  # q ~ w^2
            z, slack = mp_inverse_and_slack(v, p)
            if p == 2.0:
                delta_phi = 2 * mp.cosh(z) - 2
            else:
                a = 2 / (mp.mpf(p) - 2)
                delta_phi = (slack ** (-a) + (2 - slack) ** (-a) - 2) / a
            expected.append(float(mp.mpf(v) * z - delta_phi))
    # q is computed from z = h^{-1}(w), whose rounding q amplifies by about k z: 2e-15 for
    # moderate p, 1e-13 for p = 2.0001 (k = 20001).
    rtol = 2e-15 if p in DEPTHS else 1e-13
    np.testing.assert_allclose(P.q(w, p), np.array(expected), rtol=rtol, atol=0)


@pytest.mark.parametrize("p", DEPTHS)
def test_derivatives_by_finite_differences(p: float) -> None:
    # q' = h^{-1} and (h^{-1})' = 1 / h'(h^{-1}): central differences, step 1e-6.
    w = np.array([-7.0, -0.4, 0.3, 2.5, 20.0])
    step = 1e-6
    fd_q = (P.q(w + step, p) - P.q(w - step, p)) / (2 * step)
    np.testing.assert_allclose(fd_q, P.h_inverse(w, p), rtol=1e-8)
    z = np.array([-0.6, -0.1, 0.2, 0.45])
    fd_h = (P.h(z + step, p) - P.h(z - step, p)) / (2 * step)
    if p == 2.0:
        exact = 2 * np.cosh(z)
    else:
        k = p / (p - 2)
        exact = k * ((1 - z) ** (-k - 1) + (1 + z) ** (-k - 1))
    np.testing.assert_allclose(fd_h, exact, rtol=1e-7)
    x = np.array([-3.0, 0.2, 5.0])
    fd_g = (P.g(x + step, p) - P.g(x - step, p)) / (2 * step)
    exact_g = np.sign(x) * (
        np.log(np.abs(x)) + 1 if p == 2.0 else -(2 / p) * np.abs(x) ** (2 / p - 1)
    )
    np.testing.assert_allclose(fd_g, exact_g, rtol=1e-7)


def test_g_values_and_zero() -> None:
    x = np.array([0.0, -math.e, 0.5])
    np.testing.assert_allclose(P.g(x, 2.0), [0.0, math.e, 0.5 * math.log(0.5)], rtol=1e-15)
    np.testing.assert_allclose(P.g(x, 4.0), [0.0, -math.sqrt(math.e), -math.sqrt(0.5)], rtol=1e-15)


@pytest.mark.parametrize("p", [2.0, 2.5, 3.0, 4.0])
def test_g_selects_the_papers_tie_break_point_on_line(p: float) -> None:
    """On line's face S = {(1-t, 2(1-t), 3t)} minimizing sum g_p gives the published t*."""

    def total(t: float) -> float:
        return float(np.sum(P.g(np.array([1 - t, 2 * (1 - t), 3 * t]), p)))

    best = minimize_scalar(
        total, bounds=(1e-12, 1 - 1e-12), method="bounded", options={"xatol": 1e-12}
    ).x
    if p == 2.0:
        expected = 4 ** (1 / 3) / (3 + 4 ** (1 / 3))
    else:
        expected = 1 / (1 + (3 ** (2 / p) / (2 ** (2 / p) + 1)) ** (-p / (p - 2)))
    assert best == pytest.approx(expected, abs=1e-8)


@pytest.mark.parametrize(
    ("name", "p", "log10_alpha_p"),
    [("line", 3.0, -2.0), ("plane", 2.0, -1.0), ("random3x5", 2.5, -1.0)],
)
def test_exact_limit_minimizes_the_potential(name: str, p: float, log10_alpha_p: float) -> None:
    """KKT of min sum alpha^p q_p(x / alpha^p) s.t. Ax = y: h_p^{-1}(x / alpha^p) ∈ range(A^T)."""
    prob = load_sample(name)
    limit = flow_limit(prob.A, prob.y, depth=p, log_alpha=log10_alpha_p / p * LN10)
    z = P.h_inverse(limit.x / 10.0**log10_alpha_p, p)
    mu, *_ = np.linalg.lstsq(prob.A.T, z, rcond=None)
    assert np.max(np.abs(prob.A.T @ mu - z)) < 1e-9 * max(1.0, float(np.max(np.abs(z))))
    assert np.max(np.abs(z)) > 0.05  # a meaningful check: z is not ~0


@pytest.mark.parametrize("p", [2.0, 2.5, 4.0])
def test_log_uv_inverts_x_and_keeps_the_invariant(p: float) -> None:
    log_alpha = -700.0  # alpha^p underflows for every depth here
    x = np.array([-3.0, -1e-200, 0.0, 1e-310, 2.5])
    log_u, log_v = P.log_uv_from_x(x, depth=p, log_alpha=log_alpha)
    with mp.workdps(50):
        for xi, lu, lv in zip(x, log_u, log_v, strict=True):
            u, v = mp.exp(mp.mpf(lu)), mp.exp(mp.mpf(lv))
            got = u**p - v**p
            assert abs(got - xi) <= 1e-12 * abs(xi) + mp.mpf(10) ** -340
            if p > 2.0:  # the flow's invariant u^(2-p) + v^(2-p) = 2 alpha^(2-p)
                inv = u ** (2 - p) + v ** (2 - p)
                assert mp.almosteq(inv, 2 * mp.exp((2 - p) * mp.mpf(log_alpha)), 1e-13)
            else:
                assert abs(lu + lv - 2 * log_alpha) < 1e-12 * abs(log_alpha)


# --------------------------------------------------------------------------- the command


def test_potentials_json_has_the_documented_keys() -> None:
    data = run_json("potentials", "--depth", "2,3", "--z", "0", "--z", "0.5,-0.25")
    assert data["status"] == "ok"
    curves = data["curves"]
    assert [c["depth"] for c in curves] == [2.0, 3.0]
    for c in curves:
        assert set(c) == {"depth", "z", "h", "w", "q", "g"}
        assert c["z"] == [0.0, 0.5, -0.25] and c["w"] == c["h"]
    assert curves[0]["h"][1] == pytest.approx(2 * math.sinh(0.5), rel=1e-15, abs=0)
    assert curves[1]["h"][1] == pytest.approx(2**3 - (2 / 3) ** 3, rel=1e-14, abs=0)
    w = curves[0]["w"][1]
    assert curves[0]["q"][1] == pytest.approx(
        2 - math.sqrt(w * w + 4) + w * math.asinh(w / 2), rel=1e-14, abs=0
    )
    assert curves[1]["g"][2] == pytest.approx(
        -(abs(curves[1]["w"][2]) ** (2 / 3)), rel=1e-15, abs=0
    )


def test_potentials_default_grid_table_and_plot(tmp_path: Path) -> None:
    plot = tmp_path / "figure3.png"
    result = run("potentials", "--plot", str(plot))
    assert result.exit_code == 0, result.stderr
    assert "p = 2.5" in result.stdout and "q_p(w)" in result.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = run_json("potentials")
    assert [c["depth"] for c in data["curves"]] == [2.0, 2.5, 3.0, 4.0]
    assert data["curves"][0]["z"] == list(P.DEFAULT_Z)


def test_potentials_output_file(tmp_path: Path) -> None:
    out = tmp_path / "pot.json"
    assert run("potentials", "--depth", "4", "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text())["curves"][0]["depth"] == 4.0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--z", "1.5"], "-1 < z < 1"),
        (["--z", "abc"], "not a number"),
        (["--z", "nan"], "finite"),
        (["--depth", "1.5"], ">= 2"),
        (["--depth", "inf"], ">= 2"),
        (["--plot", "figure.txt"], "extension"),
    ],
)
def test_potentials_usage_errors(args: list[str], needle: str) -> None:
    result = run("potentials", *args)
    assert result.exit_code == 2
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_p2_accepts_any_real_z() -> None:
    data = run_json("potentials", "--depth", "2", "--z", "3")
    assert data["curves"][0]["h"] == [pytest.approx(2 * math.sinh(3.0), rel=1e-15, abs=0)]


def test_the_package_exports_the_potentials_api() -> None:
    import dlncli

    assert {"potentials", "PotentialsReport"} <= set(dlncli.__all__)
    report = dlncli.potentials([3.0], z=[0.5])
    assert isinstance(report, dlncli.PotentialsReport)
    assert report.to_dict()["curves"][0]["h"] == [
        pytest.approx(2**3 - (2 / 3) ** 3, rel=1e-15, abs=0)
    ]


def test_potentials_json_in_a_subprocess_is_one_clean_document() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "dlncli", "potentials", "--depth", "2.5", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["curves"][0]["depth"] == 2.5 and len(data["curves"][0]["q"]) == 11
