"""``dlncli phase --noise SIGMA``: noisy instances, lasso-cv and bpdn, MSE/sigma^2 beside M*.

Every number is checked against an independent recomputation: the instances are redrawn here
from their seed with numpy alone (the documented drawing order), solved with
``dlncli.noise.lasso`` directly, and the squared errors summed with math.fsum.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import dlncli
from dlncli.errors import OptionError
from dlncli.noise.lasso import basis_pursuit_denoise, lasso_cv
from dlncli.noise.theory import noise_sensitivity
from dlncli.reports import NoiseTheoryReport
from dlncli.samples import rounded_matvec
from dlncli.transition.store import PhaseStore, StoreError
from dlncli.transition.sweep import (
    LASSO_CV_FOLDS,
    TrialTask,
    Variant,
    draw_instance,
    draw_trial,
    observe,
    phase,
    run_trial,
)
from dlncli.transition.theory import weak_threshold
from tests.helpers import run, run_json


def redraw(
    *, n: int, m: int, k: int, trial: int, seed: int, sigma: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The instance as docs/noise.md describes it, without dlncli's drawing code: A, the
    support, the signs, then z (sigma > 0 only), then the fold seed, from one generator."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, n, m, k, trial]))
    A = rng.standard_normal((m, n)) / math.sqrt(m)
    x = np.zeros(n)
    support = rng.choice(n, size=k, replace=False)
    x[support] = rng.choice(np.array([-1.0, 1.0]), size=k)
    y = rounded_matvec(A[:, support], x[support])
    if sigma > 0:
        y = y + sigma * rng.standard_normal(m)
    return A, x, y, int(rng.integers(0, 2**63))


def squared_error(estimate: np.ndarray, x: np.ndarray) -> float:
    return math.fsum(((estimate - x) ** 2).tolist())


def test_sigma_zero_is_todays_instance_bit_for_bit() -> None:
    for n, m, k, trial, seed in ((40, 20, 5, 3, 7), (60, 30, 1, 0, 0), (200, 100, 30, 9, 2)):
        A, x = draw_instance(n=n, m=m, k=k, trial=trial, seed=seed)
        drawn = draw_trial(n=n, m=m, k=k, trial=trial, seed=seed, noise=0.0)
        assert drawn.A.tobytes() == A.tobytes() and drawn.x.tobytes() == x.tobytes()
        assert drawn.y.tobytes() == observe(A, x).tobytes()
        noisy = draw_trial(n=n, m=m, k=k, trial=trial, seed=seed, noise=0.1)
        assert noisy.A.tobytes() == A.tobytes() and noisy.x.tobytes() == x.tobytes()
        assert not np.array_equal(noisy.y, drawn.y)


def test_sigma_zero_trials_equal_todays_and_store_parameters_are_unchanged(
    tmp_path: Path,
) -> None:
    from dlncli.bp.verdict import solve_basis_pursuit

    task = TrialTask(40, 20, 4, 1, 3, 1e-6, (Variant("bp"),))
    (row,) = run_trial(task)
    A, x = draw_instance(n=40, m=20, k=4, trial=1, seed=3)
    bp = solve_basis_pursuit(A, observe(A, x))
    assert row.error_inf == float(np.max(np.abs(bp.x - x)))
    assert row.sq_error == squared_error(bp.x, x)
    store = tmp_path / "s.db"
    phase(n=40, deltas=[0.5], rhos=[0.2], trials=1, workers=1, store=store)
    with sqlite3.connect(store) as db:
        params = json.loads(db.execute("SELECT value FROM meta WHERE key = 'params'").fetchone()[0])
    # The noiseless instance model is today's text: no sigma enters a noiseless sweep.
    assert params["instance_model"] == (
        "gaussian/sqrt(m), k-sparse +-1, y = A x correctly rounded (v2)"
    )
    assert "noise" not in params


def test_noise_is_the_documented_draw_and_seed_deterministic() -> None:
    for trial in range(3):
        drawn = draw_trial(n=50, m=25, k=4, trial=trial, seed=11, noise=0.3)
        A, x, y, fold_seed = redraw(n=50, m=25, k=4, trial=trial, seed=11, sigma=0.3)
        assert drawn.A.tobytes() == A.tobytes() and drawn.x.tobytes() == x.tobytes()
        assert drawn.y.tobytes() == y.tobytes()
        assert drawn.fold_seed == fold_seed
        again = draw_trial(n=50, m=25, k=4, trial=trial, seed=11, noise=0.3)
        assert again.y.tobytes() == drawn.y.tobytes()
    other = draw_trial(n=50, m=25, k=4, trial=0, seed=12, noise=0.3)
    assert not np.array_equal(other.y, draw_trial(n=50, m=25, k=4, trial=0, seed=11, noise=0.3).y)


NOISY_VARIANTS = (Variant("bp"), Variant("lasso-cv"), Variant("bpdn"))


def test_noisy_trials_do_not_depend_on_workers(tmp_path: Path) -> None:
    rows = {}
    for workers in (1, 2):
        store = tmp_path / f"w{workers}.db"
        report = phase(
            n=30, deltas=[0.5], rhos=[0.2, 0.4], trials=3, variants=NOISY_VARIANTS,
            workers=workers, store=store, noise=0.05, seed=4,
        )  # fmt: skip
        assert report.backend == ("serial" if workers == 1 else "local:2")
        with PhaseStore(store, noise=0.05) as db:
            rows[workers] = {
                key: (t.sq_error, t.error_inf, t.status) for key, t in db.load().items()
            }
    assert len(rows[1]) == 2 * 3 * 3
    assert rows[1] == rows[2]


def test_lasso_cv_and_bpdn_errors_equal_an_independent_recomputation(tmp_path: Path) -> None:
    n, delta, rho, trials, sigma, seed = 100, 0.5, 0.1, 4, 0.1, 2
    m, k = 50, 5
    store = tmp_path / "mse.db"
    report = phase(
        n=n, deltas=[delta], rhos=[rho], trials=trials, variants=NOISY_VARIANTS[1:],
        workers=1, store=store, noise=sigma, seed=seed,
    )  # fmt: skip
    with PhaseStore(store, noise=sigma) as db:
        stored = db.load()
    expected: dict[str, list[float]] = {"lasso-cv": [], "bpdn": []}
    for trial in range(trials):
        A, x, y, fold_seed = redraw(n=n, m=m, k=k, trial=trial, seed=seed, sigma=sigma)
        cv = lasso_cv(A, y, folds=LASSO_CV_FOLDS, seed=fold_seed)
        expected["lasso-cv"].append(squared_error(cv.x, x))
        denoised = basis_pursuit_denoise(A, y, sigma * math.sqrt(m))
        expected["bpdn"].append(squared_error(denoised.x, x))
    for cell in report.cells:
        name = cell.variant.method
        got = [stored[(m, k, i, *cell.variant.key)].sq_error for i in range(trials)]
        assert got == expected[name]
        mse = math.fsum(expected[name]) / (trials * n)
        assert cell.mse == mse and cell.mse_trials == trials
        assert cell.mse_sigma2 == mse / sigma**2
        bound = noise_sensitivity(delta, rho)
        assert cell.minimax_mse == bound
        # rho = 0.1 is far below rho_W(0.5) = 0.386: a finite MSE of the order of M* (a
        # worst case in the limit N -> inf; at N = 100 and 4 trials only its order is firm).
        assert cell.mse_sigma2 is not None and bound / 10 < cell.mse_sigma2 < 10 * bound
    doc = report.to_dict()
    assert doc["noise"] == sigma
    assert {c["mse_sigma2"] for c in doc["cells"]} == {c.mse_sigma2 for c in report.cells}


def test_minimax_is_none_above_rho_w_and_noiseless_cells_have_no_mse_ratio() -> None:
    report = phase(n=40, deltas=[0.5], rhos=[0.5], trials=1, variants=(Variant("bpdn"),),
                   workers=1, noise=0.1)  # fmt: skip
    (cell,) = report.cells
    assert cell.rho > weak_threshold(0.5) and cell.minimax_mse is None
    assert cell.mse_sigma2 is not None and math.isfinite(cell.mse_sigma2)
    quiet = phase(n=40, deltas=[0.5], rhos=[0.2], trials=1, workers=1)
    (plain,) = quiet.cells
    assert plain.mse is not None and plain.mse_sigma2 is None and plain.minimax_mse is None


def test_theory_with_noise_is_noise_sensitivity() -> None:
    table = dlncli.theory("0.25,0.5", rhos="0.05,0.1,0.2,0.3,0.5", noise=0.2)
    assert isinstance(table, NoiseTheoryReport)
    doc = table.to_dict()
    points = doc["noise_sensitivity"]
    assert [(p["delta"], p["rho"]) for p in points] == [
        (d, r) for d in (0.25, 0.5) for r in (0.05, 0.1, 0.2, 0.3, 0.5)
    ]
    for p in points:
        bound = noise_sensitivity(p["delta"], p["rho"])
        assert p["rho_w"] == weak_threshold(p["delta"])
        if math.isinf(bound):
            assert p["minimax_mse"] is None and p["mse"] is None and p["rho"] >= p["rho_w"]
        else:
            assert p["minimax_mse"] == pytest.approx(bound, rel=1e-15, abs=0)
            assert p["mse"] == pytest.approx(0.04 * bound, rel=1e-15, abs=0)
    assert doc["theory"] == [{"delta": d, "rho": weak_threshold(d)} for d in (0.25, 0.5)]
    # Published values (docs/noise.md, 10 digits).
    by_key = {(p["delta"], p["rho"]): p["minimax_mse"] for p in points}
    assert by_key[(0.5, 0.1)] == pytest.approx(0.3443089453, abs=1e-10)
    assert by_key[(0.25, 0.1)] == pytest.approx(0.2426068897, abs=1e-10)
    cli = run_json("phase", "--theory", "--delta", "0.25,0.5", "--rho", "0.05,0.1,0.2,0.3,0.5",
                   "--noise", "0.2")  # fmt: skip
    assert cli["noise_sensitivity"] == points
    text = run("phase", "--theory", "--delta", "0.5", "--rho", "0.1,0.5", "--noise", "0.1")
    assert text.exit_code == 0 and "0.344309" in text.stdout and "∞ (ρ ≥ ρ_W)" in text.stdout
    plain = dlncli.theory("0.5", noise=0)
    assert not isinstance(plain, NoiseTheoryReport)


@pytest.mark.parametrize("bad", ["-0.1", "nan", "inf", "abc", "-inf"])
def test_bad_noise_is_an_option_error_naming_noise(bad: str) -> None:
    with pytest.raises(OptionError) as caught:
        dlncli.phase(n=20, deltas="0.5", rhos="0.2", trials=1, noise=bad, workers=1)
    assert caught.value.option == "noise"
    with pytest.raises(OptionError) as caught:
        dlncli.theory("0.5", noise=bad)
    assert caught.value.option == "noise"
    for args in (
        ("phase", "--n", "20", "--delta", "0.5", "--rho", "0.2", "--trials", "1",
         "--workers", "1", "--noise", bad),
        ("phase", "--theory", "--delta", "0.5", "--noise", bad),
    ):  # fmt: skip
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert "Invalid value for '--noise'" in result.stderr
        assert "Traceback" not in result.output
    with pytest.raises(OptionError) as caught:
        dlncli.phase(n=20, deltas="0.5", rhos="0.2", trials=1, noise=float("nan"), workers=1)
    assert caught.value.option == "noise"


def test_store_without_noise_refuses_a_noise_resume(tmp_path: Path) -> None:
    store = tmp_path / "plain.db"
    base = ("phase", "--n", "20", "--delta", "0.5", "--rho", "0.2", "--trials", "2",
            "--workers", "1", "--quiet", "--method", "bp,bpdn", "--store", str(store))  # fmt: skip
    assert run(*base).exit_code == 0
    noisy = run(*base, "--resume", "--noise", "0.1")
    assert noisy.exit_code == 1
    assert "different sweep (instance_model" in noisy.stderr
    with pytest.raises(StoreError, match="different sweep"):
        phase(n=20, deltas=[0.5], rhos=[0.2], trials=2, variants=(Variant("bp"), Variant("bpdn")),
              workers=1, store=store, resume=True, noise=0.1)  # fmt: skip
    # And the other way round: a store of sigma = 0.1 refuses sigma = 0.2 and no noise.
    other = tmp_path / "noisy.db"
    assert run(*base[:-1], str(other), "--noise", "0.1").exit_code == 0
    for extra in (("--noise", "0.2"), ()):
        result = run(*base[:-1], str(other), "--resume", *extra)
        assert result.exit_code == 1 and "different sweep" in result.stderr
    resumed = run_json(*base[:-1], str(other), "--resume", "--noise", "0.1")
    assert resumed["computed"] == 0 and resumed["reused"] == 4 and resumed["noise"] == 0.1
    with sqlite3.connect(other) as db:
        levels = db.execute("SELECT DISTINCT noise FROM trials").fetchall()
    assert levels == [(0.1,)]


def test_cli_table_and_figures(tmp_path: Path) -> None:
    from dlncli.cli.figures import phase_noise_curves_figure, phase_noise_figure

    args = ("phase", "--n", "40", "--delta", "0.3,0.5", "--rho", "0.1,0.2,0.5", "--trials",
            "2", "--workers", "1", "--quiet", "--method", "bp,lasso-cv,bpdn", "--noise",
            "0.1")  # fmt: skip
    heat, curves = tmp_path / "h.png", tmp_path / "c.png"
    result = run(*args, "--plot", str(heat))
    assert result.exit_code == 0, result.output
    assert "MSE/σ² = mean ‖x̂ − x‖²/(Nσ²), σ = 0.1" in result.stdout
    assert run(*args, "--plot", str(curves), "--plot-kind", "curves").exit_code == 0
    assert heat.read_bytes()[:4] == b"\x89PNG" and curves.read_bytes()[:4] == b"\x89PNG"

    report = phase(n=40, deltas=[0.3, 0.5], rhos=[0.1, 0.2, 0.5], trials=2,
                   variants=NOISY_VARIANTS, workers=1, noise=0.1)  # fmt: skip
    fig = phase_noise_curves_figure(report)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2
    for ax, m in zip(panels, (12, 20), strict=True):
        lines = {line.get_label(): line for line in ax.get_lines()}
        for v in NOISY_VARIANTS:
            cells = sorted(
                (c for c in report.cells if c.variant == v and c.m == m), key=lambda c: c.rho
            )
            assert list(lines[v.label].get_ydata()) == [c.mse_sigma2 for c in cells]
        theory = lines["M*(δ, ρ)"]
        for r, value in zip(theory.get_xdata(), theory.get_ydata(), strict=True):
            assert value == noise_sensitivity(m / 40, float(r))
        assert lines["ρ_W(δ)"].get_xdata()[0] == weak_threshold(m / 40)
    heatmap = phase_noise_figure(report)
    meshes = [c for ax in heatmap.axes if ax.get_title() for c in ax.collections]
    assert len(meshes) == 3 * 2  # a column per delta in each method's panel
    shown = sorted(float(v) for mesh in meshes for v in np.ravel(mesh.get_array()))
    assert shown == sorted(c.mse_sigma2 for c in report.cells if c.mse_sigma2 is not None)
    assert meshes[0].norm.__class__.__name__ == "LogNorm"
