"""Recovery phase diagrams: ensembles of random sparse problems solved by BP and the DLN limit.

Notation (docs/phase.md): N unknowns, delta = m / N, rho = k / m. A cell (m, k) holds T
instances; instance i is A with i.i.d. N(0, 1/m) entries, x with k entries +-1 (random support
and signs) and y = A x (correctly rounded, samples.rounded_matvec), drawn from a generator
seeded by (seed, N, m, k, i) alone, so a trial's outcome never depends on scheduling, on the
number of workers or on the CPU's BLAS. With noise sigma > 0 (``phase --noise``), y = A x
(correctly rounded) + sigma z, z ~ N(0, I_m) drawn from the same generator after x, so that
sigma = 0 is the noiseless instance bit for bit. A method variant (method, depth p, alpha, step
size lr) succeeds on an instance when

    ||x_hat - x||_inf <= success_tol * ||x||_inf,

and every trial also records its squared error ||x_hat - x||_2^2, from which a cell's mean
squared error per coordinate, in units of sigma^2, is exact (docs/noise.md).

GD's step size is either eta = lr or, with ``lr_relative``, eta = lr * 2 / lambda_max, the
stability bound of the Hessian of L(u, v) at the start u = v = alpha of that instance
(train.hessian_lambda_max). A GD run that diverges is no success; one that stops at its step
budget is judged on its last iterate; both are counted separately.

Methods live in one registry (:data:`METHODS`): a method is a name, the parameters it takes
and a solve function.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from dlncli import __version__
from dlncli.arrays import FloatArray
from dlncli.blas import single_threaded_blas
from dlncli.errors import DlnError
from dlncli.problem import parse_alpha
from dlncli.reports import (
    GD_LOSS_TOL,
    GD_MAX_STEPS,
    CellSummary,
    GdBudget,
    PhaseReport,
    Transition,
    Variant,
)
from dlncli.samples import rounded_matvec
from dlncli.transition.store import PhaseStore, StoredTrial, TrialKey
from dlncli.transition.theory import weak_threshold

__all__ = [
    "METHODS",
    "CellSummary",
    "GdBudget",
    "MethodSpec",
    "PhaseReport",
    "Transition",
    "Variant",
    "cell_grid",
    "draw_instance",
    "draw_trial",
    "instance_model",
    "observe",
    "parse_grid",
    "phase",
    "run_trial",
    "transition_point",
    "variants_for",
]

# The depths and alphas of limit and gd when none are given (dlncli.phase and the CLI).
DEFAULT_DEPTHS = (3.0,)
DEFAULT_ALPHAS = ("1e-3",)
INSTANCE_MODEL = "gaussian/sqrt(m), k-sparse +-1, y = A x correctly rounded (v2)"
# lasso-cv's K: at K = 5 a fold's own rho K / (K - 1) crosses rho_W near the transition (at
# delta = 0.5, rho = 0.3 the training rows sit above their threshold); 10 keeps them below.
LASSO_CV_FOLDS = 10
# GD's budget by default: train's (tests/test_phase.py checks that they agree).


CONNECT_TIMEOUT_S = 10.0


class SchedulerError(DlnError):
    """The --scheduler address does not answer."""


# --------------------------------------------------------------------------- grids


def parse_grid(text: str, *, geometric: bool = False) -> tuple[str, ...]:
    """``a,b,c`` or ``start:stop:count`` -> the values as decimal strings, in order.

    ``start:stop:count`` gives ``count`` evenly spaced values from start to stop inclusive
    (log-spaced when ``geometric``, for alpha). Values are returned as text so that an alpha
    like 1e-400 survives; callers convert. Raises ValueError with what was expected.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty list; expected a,b,c or start:stop:count")
    if ":" not in text:
        items = [t.strip() for t in text.split(",")]
        for item in items:
            _decimal(item)
        return tuple(items)
    parts = [t.strip() for t in text.split(":")]
    if len(parts) != 3:
        raise ValueError(f"{text!r}; expected start:stop:count")
    start, stop = _decimal(parts[0]), _decimal(parts[1])
    try:
        count = int(parts[2])
    except ValueError:
        raise ValueError(f"count {parts[2]!r} in {text!r}; expected an integer >= 1") from None
    if count < 1:
        raise ValueError(f"count {count} in {text!r}; expected an integer >= 1")
    if count == 1:
        return (parts[0],)
    if geometric:
        if start <= 0 or stop <= 0:
            raise ValueError(f"{text!r}; expected start and stop > 0 for a log-spaced range")
        lo, hi = float(start.log10()), float(stop.log10())
        return tuple(_pow10_text(v) for v in np.linspace(lo, hi, count))
    # 12 digits: 0.1:0.9:9 gives 0.3, not linspace's 0.30000000000000004.
    return tuple(f"{v:.12g}" for v in np.linspace(float(start), float(stop), count))


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r}; expected a finite number")
    return value


def _pow10_text(log10_value: float) -> str:
    if -300 < log10_value < 300:
        return f"{10.0**log10_value:.6g}"
    return f"1e{log10_value:.6g}"


def log_alpha_of(text: str) -> float:
    """ln(alpha) of an alpha given as decimal text (exact far outside float range; the one
    alpha grammar, :func:`dlncli.problem.parse_alpha`)."""
    return parse_alpha(text)[1]


# --------------------------------------------------------------------------- instances


def instance_model(noise: float) -> str:
    """The instance model recorded in a store's parameters: today's noiseless text at sigma = 0
    (its stores stay valid), with sigma written exactly (repr) otherwise."""
    if noise == 0.0:
        return INSTANCE_MODEL
    return f"{INSTANCE_MODEL} + sigma z, z ~ N(0, I_m) drawn after x, sigma = {noise!r}"


def draw_instance(
    *, n: int, m: int, k: int, trial: int, seed: int
) -> tuple[FloatArray, FloatArray]:
    """Instance ``trial`` of cell (m, k): A (m, n) with N(0, 1/m) entries and the planted x (n,).

    The generator is ``default_rng(SeedSequence([seed, n, m, k, trial]))``: a function of
    these five integers only.
    """
    return _draw(_generator(n=n, m=m, k=k, trial=trial, seed=seed), n, m, k)


def _generator(*, n: int, m: int, k: int, trial: int, seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, n, m, k, trial]))


def _draw(rng: np.random.Generator, n: int, m: int, k: int) -> tuple[FloatArray, FloatArray]:
    A = rng.standard_normal((m, n))
    A /= math.sqrt(m)  # in place: the same quotients as A / sqrt(m), one array fewer
    x = np.zeros(n)
    support = rng.choice(n, size=k, replace=False)
    x[support] = rng.choice(np.array([-1.0, 1.0]), size=k)
    return A, x


@dataclass(frozen=True)
class DrawnTrial:
    """A trial's instance: A (m, N), the planted x (N,), y (m,), and the seed of lasso-cv's
    folds."""

    A: FloatArray
    x: FloatArray
    y: FloatArray
    fold_seed: int


def draw_trial(*, n: int, m: int, k: int, trial: int, seed: int, noise: float = 0.0) -> DrawnTrial:
    """Instance ``trial`` of cell (m, k) at noise level sigma = ``noise``, from one generator
    (:func:`draw_instance`'s) drawing in this order: A, the support and the signs of x, then,
    only when sigma > 0, z ~ N(0, I_m), and last the fold seed of lasso-cv (an integer in
    [0, 2^63)). y = observe(A, x) + sigma z (one multiply and one add per entry, the same on
    every CPU); at sigma = 0 it is observe(A, x) itself, today's y bit for bit."""
    rng = _generator(n=n, m=m, k=k, trial=trial, seed=seed)
    A, x = _draw(rng, n, m, k)
    y = observe(A, x)
    if noise != 0.0:
        y = y + noise * rng.standard_normal(m)
    fold_seed = int(rng.integers(0, 2**63))
    return DrawnTrial(A, x, y, fold_seed)


def observe(A: FloatArray, x: FloatArray) -> FloatArray:
    """y = A x correctly rounded (samples.rounded_matvec over the nonzeros of x, whose zero
    products would not change the exact sum): the same y on every CPU, where BLAS's summation
    order and FMA use differ."""
    support = np.flatnonzero(x)
    if not support.size:
        return np.zeros(A.shape[0])
    return rounded_matvec(A[:, support], x[support])


# --------------------------------------------------------------------------- methods


class _Instance:
    """One problem with the BP solution shared by every method that needs it; ``noise`` is the
    sweep's sigma (BPDN's bound is sigma sqrt(m)), ``fold_seed`` seeds lasso-cv's folds."""

    def __init__(
        self, A: FloatArray, y: FloatArray, *, noise: float = 0.0, fold_seed: int = 0
    ) -> None:
        self.A, self.y = A, y
        self.noise, self.fold_seed = noise, fold_seed
        self._bp: Any = None
        self._anchor: Any = None
        self._bounds: dict[tuple[float, float], float] = {}

    @property
    def bp(self) -> Any:
        if self._bp is None:
            from dlncli.bp.verdict import solve_basis_pursuit

            self._bp = solve_basis_pursuit(self.A, self.y)
        return self._bp

    @property
    def anchor(self) -> Any:
        if self._anchor is None:
            from dlncli.dln.limit import bp_anchor

            self._anchor = bp_anchor(self.A, self.y, bp=self.bp)
        return self._anchor

    def stability_bound(self, depth: float, log_alpha: float) -> float:
        """2 / lambda_max of the Hessian of L(u, v) at u = v = alpha: the bound ``dlncli
        train`` reports as ``stability_bound`` (the same function on the same point)."""
        key = (depth, log_alpha)
        if key not in self._bounds:
            from dlncli.dln.train import hessian_lambda_max

            start = np.full(self.A.shape[1], log_alpha)
            lam = hessian_lambda_max(self.A, self.y, start, start, depth)
            self._bounds[key] = 2.0 / lam if lam > 0 else math.inf
        return self._bounds[key]


@dataclass(frozen=True)
class Solved:
    """What a method returns on one instance: x_hat (None when it diverged) and how it ended
    (phase_store.STATUSES); GD adds the step size used, its steps and eta lambda_max at the
    end."""

    x: FloatArray | None
    status: str = "ok"
    lr_used: float | None = None
    steps: int | None = None
    sharpness: float | None = None


def _solve_bp(inst: _Instance, variant: Variant, budget: GdBudget) -> Solved:
    return Solved(inst.bp.x)


def _solve_limit(inst: _Instance, variant: Variant, budget: GdBudget) -> Solved:
    from dlncli.dln.limit import flow_limit

    assert variant.depth is not None and variant.log_alpha is not None
    result = flow_limit(
        inst.A, inst.y, depth=variant.depth, log_alpha=variant.log_alpha, anchor=inst.anchor
    )
    return Solved(result.x)


def _solve_gd(inst: _Instance, variant: Variant, budget: GdBudget) -> Solved:
    from dlncli.dln.train import train
    from dlncli.errors import SolverError

    assert variant.depth is not None and variant.log_alpha is not None and variant.lr is not None
    lr = variant.lr
    if variant.lr_relative:
        bound = inst.stability_bound(variant.depth, variant.log_alpha)
        if not math.isfinite(bound):
            raise SolverError("lambda_max at the start is 0: no stability bound to scale lr by")
        lr *= bound
    run = train(
        inst.A,
        inst.y,
        depth=variant.depth,
        log_alpha=variant.log_alpha,
        lr=lr,
        max_steps=budget.max_steps,
        tol=budget.loss_tol,
        predict=False,
    )
    status = {"converged": "ok", "max-steps": "max-steps", "diverged": "diverged"}[run.status]
    return Solved(
        None if run.diverged else run.x,
        status=status,
        lr_used=lr,
        steps=run.steps,
        sharpness=run.sharpness,
    )


def _solve_lasso_cv(inst: _Instance, variant: Variant, budget: GdBudget) -> Solved:
    from dlncli.noise.lasso import lasso_cv

    folds = min(LASSO_CV_FOLDS, inst.A.shape[0])  # m < 2 raises OptionError: "failed"
    return Solved(lasso_cv(inst.A, inst.y, folds=folds, seed=inst.fold_seed).x)


def _solve_bpdn(inst: _Instance, variant: Variant, budget: GdBudget) -> Solved:
    from dlncli.noise.lasso import basis_pursuit_denoise

    bound = inst.noise * math.sqrt(inst.A.shape[0])
    return Solved(basis_pursuit_denoise(inst.A, inst.y, bound).x)


@dataclass(frozen=True)
class MethodSpec:
    """A method of the sweep: its parameters and its solver (None: not available yet)."""

    name: str
    params: tuple[str, ...]  # from ("depth", "alpha", "lr")
    description: str
    solve: Callable[[_Instance, Variant, GdBudget], Solved] | None = None
    unavailable: str = ""


METHODS: dict[str, MethodSpec] = {
    "bp": MethodSpec("bp", (), "basis pursuit (HiGHS)", _solve_bp),
    "limit": MethodSpec(
        "limit", ("depth", "alpha"), "exact t -> inf limit of the DLN flow", _solve_limit
    ),
    "gd": MethodSpec(
        "gd", ("depth", "alpha", "lr"), "gradient descent at step size lr (train)", _solve_gd
    ),
    "lasso-cv": MethodSpec(
        "lasso-cv",
        (),
        f"the lasso at the lam of {LASSO_CV_FOLDS}-fold cross-validation on its exact path",
        _solve_lasso_cv,
    ),
    "bpdn": MethodSpec(
        "bpdn", (), "basis pursuit denoising, ||A x - y|| <= sigma sqrt(m)", _solve_bpdn
    ),
}


# --------------------------------------------------------------------------- one trial


@dataclass(frozen=True)
class TrialTask:
    """What a worker needs to run every still-missing variant on one instance."""

    n: int
    m: int
    k: int
    trial: int
    seed: int
    success_tol: float
    variants: tuple[Variant, ...]
    gd: GdBudget = field(default_factory=GdBudget)
    noise: float = 0.0


def run_trial(task: TrialTask) -> tuple[StoredTrial, ...]:
    """Draw instance (m, k, trial) and solve it with each variant. Runs on a worker.

    A solver that raises a DlnError (e.g. Newton not converging) counts as a failure of that
    variant on that instance, recorded with status "failed"; a GD run that diverges has status
    "diverged" and one that used its whole step budget "max-steps" (judged on its last
    iterate). Anything else is a bug and propagates.
    """
    drawn = draw_trial(
        n=task.n, m=task.m, k=task.k, trial=task.trial, seed=task.seed, noise=task.noise
    )
    x = drawn.x
    inst = _Instance(drawn.A, drawn.y, noise=task.noise, fold_seed=drawn.fold_seed)
    scale = float(np.max(np.abs(x))) if task.k else 1.0
    out = []
    for variant in task.variants:
        solve = METHODS[variant.method].solve
        assert solve is not None, variant.method
        start = time.perf_counter()
        try:
            solved = solve(inst, variant, task.gd)
        except DlnError:
            solved = Solved(None, "failed")
        elapsed = time.perf_counter() - start
        error = sq_error = None
        if solved.x is not None:
            difference = solved.x - x
            error = float(np.max(np.abs(difference))) / scale
            sq_error = math.fsum((difference * difference).tolist())  # correctly rounded
        key: TrialKey = (task.m, task.k, task.trial, *variant.key)
        out.append(
            StoredTrial(
                key,
                success=error is not None and error <= task.success_tol,
                status=solved.status,
                error_inf=error,
                solve_s=elapsed,
                lr_used=solved.lr_used,
                steps=solved.steps,
                sharpness=solved.sharpness,
                sq_error=sq_error,
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------- reports


# --------------------------------------------------------------------------- transitions


def transition_point(
    rhos: Sequence[float], rates: Sequence[float], weights: Sequence[int]
) -> float | None:
    """The rho where the success rate falls through 1/2.

    The rates (ordered by rho) are first made non-increasing by weighted isotonic regression
    (pool adjacent violators, weights = trials), which removes sampling wiggles without a
    model; the crossing is then linearly interpolated between the last point with rate >= 1/2
    and the next one. None when no point is >= 1/2 or none is < 1/2.
    """
    order = np.argsort(np.asarray(rhos, dtype=np.float64), kind="stable")
    r = np.asarray(rhos, dtype=np.float64)[order]
    fitted = _decreasing_fit(
        np.asarray(rates, dtype=np.float64)[order], np.asarray(weights, dtype=np.float64)[order]
    )
    below = np.flatnonzero(fitted < 0.5)
    if not below.size or below[0] == 0:
        return None
    j = int(below[0])
    r_a, r_b, f_a, f_b = r[j - 1], r[j], fitted[j - 1], fitted[j]
    return float(r_a + (f_a - 0.5) / (f_a - f_b) * (r_b - r_a))


def _decreasing_fit(values: FloatArray, weights: FloatArray) -> FloatArray:
    """Weighted least-squares non-increasing fit (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, weight, length]
    for v, w in zip(values.tolist(), weights.tolist(), strict=True):
        blocks.append([v, max(w, 1e-12), 1])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return np.concatenate([np.full(int(n), v) for v, _, n in blocks])


# --------------------------------------------------------------------------- the sweep


def cell_grid(n: int, deltas: Sequence[float], rhos: Sequence[float]) -> list[tuple[int, int]]:
    """(m, k) for each (delta, rho): m = round(delta N), k = round(rho m). Raises ValueError
    when a value is out of range or two values give the same m (or k at one m)."""
    cells: list[tuple[int, int]] = []
    ms: dict[int, float] = {}
    for delta in deltas:
        if not 0.0 < delta <= 1.0:
            raise ValueError(f"--delta: {delta:g}; expected 0 < delta <= 1")
        m = round(delta * n)
        if m < 1:
            raise ValueError(f"--delta: {delta:g} gives m = 0 at N = {n}; expected m >= 1")
        if m in ms:
            raise ValueError(f"--delta: {ms[m]:g} and {delta:g} both give m = {m} at N = {n}")
        ms[m] = delta
        ks: dict[int, float] = {}
        for rho in rhos:
            if not 0.0 < rho <= 1.0:
                raise ValueError(f"--rho: {rho:g}; expected 0 < rho <= 1")
            k = round(rho * m)
            if k < 1:
                raise ValueError(f"--rho: {rho:g} gives k = 0 at m = {m}; expected k >= 1")
            if k in ks:
                raise ValueError(
                    f"--rho: {ks[k]:g} and {rho:g} both give k = {k} at m = {m} "
                    f"(delta {delta:g}); expected a coarser rho grid or a larger N"
                )
            ks[k] = rho
            cells.append((m, k))
    return cells


def phase(  # noqa: PLR0913  # one keyword per sweep option, as dlncli.api.phase
    *,
    n: int,
    deltas: Sequence[float],
    rhos: Sequence[float],
    trials: int,
    variants: Sequence[Variant] = (Variant("bp"),),
    seed: int = 0,
    success_tol: float = 1e-6,
    max_steps: int = GD_MAX_STEPS,
    loss_tol: float = GD_LOSS_TOL,
    workers: int | None = None,
    scheduler: str | None = None,
    store: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
    noise: float = 0.0,
) -> PhaseReport:
    """Run a recovery phase diagram: every (delta, rho) cell, ``trials`` instances, each variant.

    Parameters
    ----------
    n : N, the number of unknowns.
    deltas, rhos : delta = m / N in (0, 1] and rho = k / m in (0, 1]; m = round(delta N),
        k = round(rho m).
    trials : T instances per cell.
    variants : method variants (see :data:`METHODS`), e.g. ``Variant("limit", depth=3.0,
        log_alpha=math.log(1e-3), alpha_text="1e-3")`` or ``Variant("gd", depth=2.0,
        log_alpha=math.log(1e-6), lr=0.4, lr_relative=True)`` (eta = 0.4 * 2 / lambda_max at
        the start, per instance); :func:`variants_for` builds them from lists.
    seed : S; instance i of cell (m, k) depends on (S, N, m, k, i) only.
    success_tol : success when ||x_hat - x||_inf <= success_tol ||x||_inf (every method).
    max_steps, loss_tol : GD's budget: at most ``max_steps`` steps, converged when the loss
        is <= loss_tol * 1/2 ||y||^2 (``dlncli train``'s ``--max-steps`` and ``--tol``).
    workers : local worker processes (default: all cores; 1 runs in this process).
    scheduler : address of a Dask distributed scheduler (``tcp://host:port``); then the
        sweep runs there and ``workers`` is ignored.
    store : SQLite file receiving each trial as it finishes; None keeps results in memory.
    resume : reuse the trials already in ``store`` (which must belong to the same sweep).
    progress : called with (done, total) computed instances after each one.
    noise : sigma >= 0; y = A x + sigma z (module docstring). With sigma > 0 each cell also
        reports the mean of ||x_hat - x||^2 / (N sigma^2) beside the lasso's M*(delta, rho).

    Raises
    ------
    ValueError : a bad grid, variant or count (the CLI turns it into a usage error).
    StoreError : ``store`` belongs to another sweep or version, or holds trials without resume.
    KeyboardInterrupt : propagated; finished trials are already in the store.
    """
    start = time.perf_counter()
    if n < 1 or trials < 1:
        raise ValueError(f"n = {n}, trials = {trials}; expected both >= 1")
    if seed < 0:
        raise ValueError(f"seed = {seed}; expected an integer >= 0")
    if not variants:
        raise ValueError("no method variants; expected at least one")
    for v in variants:
        spec = METHODS.get(v.method)
        if spec is None:
            raise ValueError(f"method {v.method!r}; expected one of {', '.join(METHODS)}")
        if spec.solve is None:
            raise ValueError(spec.unavailable)
        absent = [k for k in spec.params if getattr(v, "log_alpha" if k == "alpha" else k) is None]
        if absent:
            raise ValueError(f"method {v.method} needs {', '.join(absent)}; got {v}")
    if len({v.key for v in variants}) != len(variants):
        raise ValueError("a method variant is given twice")
    if not (success_tol > 0 and math.isfinite(success_tol)):
        raise ValueError(f"success_tol = {success_tol}; expected a number > 0")
    for v in variants:
        if v.lr is not None and not (math.isfinite(v.lr) and v.lr > 0):
            raise ValueError(f"lr = {v.lr} in {v.label}; expected a number > 0")
        if v.lr_relative and v.lr is None:
            raise ValueError(f"lr_relative without lr in {v}; expected a fraction lr > 0")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps = {max_steps!r}; expected an integer >= 1")
    if not (loss_tol > 0 and math.isfinite(loss_tol)):
        raise ValueError(f"loss_tol = {loss_tol}; expected a number > 0")
    if not (noise >= 0 and math.isfinite(noise)):
        raise ValueError(f"noise = {noise}; expected a number sigma >= 0")
    noise = float(noise)
    gd = GdBudget(max_steps, float(loss_tol))
    cells = cell_grid(n, deltas, rhos)
    variants = tuple(variants)
    params = {
        "n": n,
        "seed": seed,
        "trials": trials,
        "success_tol": success_tol,
        "gd": {"max_steps": gd.max_steps, "loss_tol": gd.loss_tol},
        "cells": [list(c) for c in cells],
        "variants": [list(v.key) for v in variants],
        "instance_model": instance_model(noise),
    }
    if noise != 0.0:
        params["noise"] = noise
    results: dict[TrialKey, StoredTrial] = {}
    db = PhaseStore(Path(store), noise=noise) if store is not None else None
    try:
        if db is not None:
            db.claim(version=__version__, params=params, resume=resume)
            results.update(db.load())
        reused = len(results)
        # Trial-major order: every cell fills at the same pace (an interrupted sweep leaves
        # an even sample), and the last tasks, which decide when the workers run dry, are
        # not all from the slowest cell.
        tasks = []
        for i in range(trials):
            for m, k in cells:
                missing = tuple(v for v in variants if (m, k, i, *v.key) not in results)
                if missing:
                    tasks.append(TrialTask(n, m, k, i, seed, success_tol, missing, gd, noise))

        def receive(done: tuple[StoredTrial, ...]) -> None:
            if db is not None:
                db.write(done)
            for t in done:
                results[t.key] = t

        backend = _execute(tasks, receive, workers=workers, scheduler=scheduler, progress=progress)
    finally:
        if db is not None:
            db.close()
    computed = len(results) - reused
    summaries = _summaries(n, cells, trials, variants, results, noise)
    return PhaseReport(
        n=n,
        seed=seed,
        trials=trials,
        success_tol=success_tol,
        variants=variants,
        cells=tuple(summaries),
        transitions=tuple(_transitions(n, cells, variants, summaries)),
        reused=reused,
        computed=computed,
        elapsed_s=time.perf_counter() - start,
        solve_s=sum(t.solve_s for t in results.values()),
        backend=backend,
        store=None if store is None else str(store),
        failed=sum(c.failed for c in summaries),
        delta_grid=tuple(float(d) for d in deltas),
        rho_grid=tuple(float(r) for r in rhos),
        gd=gd,
        diverged=sum(c.diverged for c in summaries),
        unconverged=sum(c.unconverged for c in summaries),
        noise=noise,
    )


def _summaries(
    n: int,
    cells: Sequence[tuple[int, int]],
    trials: int,
    variants: Sequence[Variant],
    results: dict[TrialKey, StoredTrial],
    noise: float = 0.0,
) -> list[CellSummary]:
    from dlncli.noise.theory import noise_sensitivity

    minimax: dict[tuple[int, int], float] = {}
    if noise != 0.0:
        minimax = {(m, k): noise_sensitivity(m / n, k / m) for m, k in cells}
    out = []
    for v in variants:
        for m, k in cells:
            rows = [results[(m, k, i, *v.key)] for i in range(trials)]
            squares = [r.sq_error for r in rows if r.sq_error is not None]
            bound = minimax.get((m, k))
            out.append(
                CellSummary(
                    delta=m / n,
                    rho=k / m,
                    m=m,
                    k=k,
                    variant=v,
                    trials=trials,
                    successes=sum(r.success for r in rows),
                    failed=sum(r.status == "failed" for r in rows),
                    diverged=sum(r.status == "diverged" for r in rows),
                    unconverged=sum(r.status == "max-steps" for r in rows),
                    sharpness_median=_median(r.sharpness for r in rows),
                    lr_used_median=_median(r.lr_used for r in rows),
                    noise=noise,
                    mse=math.fsum(squares) / (len(squares) * n) if squares else None,
                    mse_trials=len(squares),
                    minimax_mse=None if bound is None or math.isinf(bound) else bound,
                )
            )
    return out


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.median(present)) if present else None


def _transitions(
    n: int,
    cells: Sequence[tuple[int, int]],
    variants: Sequence[Variant],
    summaries: Sequence[CellSummary],
) -> list[Transition]:
    out = []
    ms = list(dict.fromkeys(m for m, _ in cells))
    for v in variants:
        for m in ms:
            row = [c for c in summaries if c.variant == v and c.m == m]
            rho_50 = transition_point(
                [c.rho for c in row], [c.rate for c in row], [c.trials for c in row]
            )
            out.append(Transition(m / n, m, v, rho_50, weak_threshold(m / n)))
    return out


# --------------------------------------------------------------------------- execution


def _execute(
    tasks: Sequence[TrialTask],
    receive: Callable[[tuple[StoredTrial, ...]], None],
    *,
    workers: int | None,
    scheduler: str | None,
    progress: Callable[[int, int], None] | None,
) -> str:
    """Run the tasks in this process, on a local Dask cluster, or on a given scheduler;
    hand each result to ``receive`` as it arrives. Returns a description of the backend."""
    total = len(tasks)
    if progress is not None:
        progress(0, total)
    local = workers if workers is not None else (os.cpu_count() or 1)
    if scheduler is None and local < 1:
        raise ValueError(f"workers = {local}; expected >= 1")
    if scheduler is None and (local == 1 or total <= 1):
        _run_here(tasks, receive, progress)
        return "serial"
    if not tasks:
        return scheduler if scheduler is not None else f"local:{local}"
    from concurrent.futures import ThreadPoolExecutor

    from distributed import Client

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
        except (OSError, ValueError, TypeError) as exc:
            raise SchedulerError(
                f"cannot reach the Dask scheduler at {scheduler} ({exc}); "
                "expected a running `dask scheduler` address like tcp://host:8786"
            ) from None
        with client:
            _check_workers(client, scheduler)
            _drain(client, tasks, receive, progress)
        return scheduler
    # The cluster starts in a thread (about a second: the worker processes import Dask, then
    # dlncli) while this process runs the first instances itself; the rest go to the workers.
    with _children_ignore_sigint(), ThreadPoolExecutor(1) as starter:
        starting = starter.submit(local_cluster, local)
        try:
            done = _run_here(tasks, receive, progress, until=starting.done)
        except BaseException:
            starting.result().close()
            raise
        cluster = starting.result()
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        if done < total:
            _drain(client, tasks, receive, progress, start=done)
    return f"local:{local}"


def _run_here(
    tasks: Sequence[TrialTask],
    receive: Callable[[tuple[StoredTrial, ...]], None],
    progress: Callable[[int, int], None] | None,
    *,
    until: Callable[[], bool] = lambda: False,
) -> int:
    """Run the tasks in order in this process, OpenBLAS on one thread, until all are done or
    ``until()`` holds before the next one; returns how many were done."""
    done = 0
    with single_threaded_blas():
        while done < len(tasks) and not until():
            receive(run_trial(tasks[done]))
            done += 1
            if progress is not None:
                progress(done, len(tasks))
    return done


# Dask settings for the local cluster this process starts (its nannies pass them on to the
# workers; a --scheduler cluster keeps its own). Measured on BP trials at N = 200 on 2 cores,
# 45 ms per trial in a default worker against 41 ms in a plain process (bench_phase):
# - the worker's statistical profiler samples every thread's stack every 10 ms, and the event
#   loop's 20 ms tick wakes another thread: both take the GIL from the trial (~1 ms each);
# - Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also stops glibc from raising
#   its mmap threshold: every array of A's size (160 kB) is then a fresh mmap with page
#   faults (~1.5 ms);
# - the nannies' memory monitors (in this process, every 100 ms) and every process's system
#   monitor (500 ms) cost 0.44 s of CPU per 10 s of an idle 2-worker cluster, 0.13 s at 1 s
#   and 5 s: time taken from the workers on a machine with as many cores as workers.
LOCAL_WORKER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
}


def local_cluster(workers: int) -> Any:
    """A Dask LocalCluster of ``workers`` single-threaded worker processes with
    LOCAL_WORKER_CONFIG, no dashboard, started with SIGINT ignored in the children. Use as a
    context manager (closing it stops the workers)."""
    import logging

    import dask.config
    from distributed import LocalCluster

    with _children_ignore_sigint(), dask.config.set(LOCAL_WORKER_CONFIG):
        return LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            # No dashboard, and its HTTP server on a free loopback port: with None it would
            # still try 8787 and warn "Port 8787 is already in use" when another cluster runs.
            dashboard_address="127.0.0.1:0",
            scheduler_kwargs={"dashboard": False},
            silence_logs=logging.ERROR,
        )


@contextmanager
def _children_ignore_sigint() -> Iterator[None]:
    """Start worker processes with SIGINT ignored (an ignored signal survives exec, and Python
    then installs no KeyboardInterrupt handler): Ctrl-C on a terminal reaches the whole process
    group, and only this process should react, by shutting the cluster down in order. A Ctrl-C
    during the few seconds of start-up is therefore not seen."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def worker_version() -> str:
    """The dlncli version a worker runs (called on the workers by :func:`_check_workers`)."""
    from dlncli import __version__ as version

    return version


def _check_workers(client: Any, scheduler: str) -> None:
    """Refuse a cluster whose workers run another dlncli version: their trials could differ
    from this one's, and the store records this version. Workers that join later are not
    checked."""
    try:
        versions: dict[str, str] = client.run(worker_version)
    except Exception as exc:  # e.g. ModuleNotFoundError re-raised from a worker without dlncli
        raise SchedulerError(
            f"the workers of {scheduler} cannot run dlncli ({type(exc).__name__}: {exc}); "
            f"expected dlncli {__version__} installed on every worker"
        ) from None
    wrong = {w: v for w, v in versions.items() if v != __version__}
    if wrong:
        worker, version = sorted(wrong.items())[0]
        raise SchedulerError(
            f"worker {worker} of {scheduler} runs dlncli {version}; expected {__version__} "
            f"on every worker ({len(wrong)} of {len(versions)} differ)"
        )


# Trials per Dask task: a BP trial at N = 200 takes 20-50 ms, not much more than what the
# scheduler, the transfer and the client spend per task, and on a small machine they share
# the cores with the workers. A few trials per task amortize that; at most MAX_CHUNK so that a
# Ctrl-C or a lost worker costs little. Chunks shrink as the work left does (guided
# self-scheduling: the work left over CHUNKS_PER_WORKER times the workers), so the sweep ends
# on single trials and no worker idles while another finishes a long chunk.
MAX_CHUNK = 8
CHUNKS_PER_WORKER = 8


def run_trials(chunk: Sequence[TrialTask]) -> tuple[tuple[StoredTrial, ...], ...]:
    """:func:`run_trial` on each task of ``chunk`` (one Dask task; runs on a worker)."""
    return tuple(run_trial(task) for task in chunk)


def chunked(tasks: Sequence[TrialTask], workers: int) -> list[Sequence[TrialTask]]:
    """``tasks`` in consecutive chunks, in order: each chunk holds the tasks left divided by
    CHUNKS_PER_WORKER * workers, at least 1 and at most MAX_CHUNK."""
    share = CHUNKS_PER_WORKER * max(workers, 1)
    out: list[Sequence[TrialTask]] = []
    start = 0
    while start < len(tasks):
        size = max(1, min(MAX_CHUNK, (len(tasks) - start) // share))
        out.append(tasks[start : start + size])
        start += size
    return out


def _drain(
    client: Any,
    tasks: Sequence[TrialTask],
    receive: Callable[[tuple[StoredTrial, ...]], None],
    progress: Callable[[int, int], None] | None,
    *,
    start: int = 0,
) -> None:
    """Run ``tasks[start:]`` on the client's workers (the first ``start`` are done)."""
    from distributed import as_completed

    workers = max(len(client.scheduler_info().get("workers", {})), 1)
    futures = client.map(run_trials, chunked(tasks[start:], workers), pure=False)
    done = start
    try:
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            for trial in future.result():
                receive(trial)
                done += 1
                if progress is not None:
                    progress(done, len(tasks))
            future.release()
    finally:
        client.cancel(futures)


def variants_for(
    methods: Iterable[str],
    *,
    depths: Sequence[float] = DEFAULT_DEPTHS,
    alphas: Sequence[str] = DEFAULT_ALPHAS,
    lr: float | Sequence[float] | None = None,
    lr_relative: bool = False,
) -> tuple[Variant, ...]:
    """Every variant of the given methods over the depth, alpha and step-size lists (each
    method takes only the parameters it declares in :data:`METHODS`). ``lr``: one step size
    or several; with ``lr_relative`` fractions of each instance's stability bound."""
    lrs: tuple[float, ...] = (
        () if lr is None else (lr,) if isinstance(lr, float | int) else tuple(lr)
    )
    out: list[Variant] = []
    for name in methods:
        spec = METHODS.get(name)
        if spec is None:
            raise ValueError(f"method {name!r}; expected one of {', '.join(METHODS)}")
        if spec.solve is None:
            raise ValueError(spec.unavailable)
        if "lr" in spec.params:
            bad = [v for v in lrs if not (math.isfinite(v) and v > 0)]
            if not lrs or bad:
                shown = ", ".join(f"{v:g}" for v in bad) if bad else "missing"
                raise ValueError(f"'--lr': {shown}; method {name} needs a step size eta > 0")
            if len(set(lrs)) != len(lrs):
                raise ValueError(f"'--lr': {', '.join(f'{v:g}' for v in lrs)}; a value is twice")
        ps: Sequence[float | None] = depths if "depth" in spec.params else (None,)
        alist: Sequence[str | None] = alphas if "alpha" in spec.params else (None,)
        etas: Sequence[float | None] = lrs if "lr" in spec.params else (None,)
        for p in ps:
            for a in alist:
                for eta in etas:
                    out.append(
                        Variant(
                            name,
                            depth=p,
                            log_alpha=None if a is None else log_alpha_of(a),
                            alpha_text=a,
                            lr=None if eta is None else float(eta),
                            lr_relative=lr_relative and eta is not None,
                        )
                    )
    return tuple(out)
