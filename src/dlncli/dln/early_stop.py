"""Early stopping along a run (docs/noise.md): with y = A x_true + z the flow and GD pass near
x_true before they fit the noise, so the error ||x(t) - x_true||_2 has a minimum in t.

Given the recorded times t_0 < t_1 < ... (GD: step counts; the flow: its time) and what was
measured at each:

- the **oracle stop**: the recorded time with the smallest error (x_true known);
- the **window**: the times whose error is within ``WINDOW`` (10 %) of that minimum, from the
  first to the last, each end located between two recorded times by linear interpolation of
  the error in ln t (the error curve is smooth there); ``window_ratio`` = t_hi / t_lo says how
  forgiving the stopping time is (a ratio of 1: one must stop exactly);
- the **hold-out stop**: the recorded time with the smallest loss on rows kept out of the
  training, and the error there (when x_true is known) -- a rule that needs no x_true.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from dlncli.arrays import FloatArray
from dlncli.reports import EarlyStop

WINDOW = 0.1  # the window: error <= (1 + WINDOW) * its minimum


@dataclass(frozen=True)
class Watch:
    """What to measure at every step of a run: the error to ``x_true`` (N,), and the loss
    1/2 ||A_hold x - y_hold||^2 on held-out rows (``rows`` their indices in the problem)."""

    x_true: FloatArray | None = None
    A_hold: FloatArray | None = None
    y_hold: FloatArray | None = None
    rows: tuple[int, ...] = ()
    fraction: float | None = None  # the share of the problem's rows held out
    # End the run once the watched curve (the held-out loss, else the error) has risen to
    # this multiple of its minimum (checked every 1000 steps); None runs to the end.
    stop_factor: float | None = None

    @property
    def active(self) -> bool:
        return self.x_true is not None or self.A_hold is not None


def holdout_rows(m: int, fraction: float, seed: int) -> NDArray[np.bool_]:
    """A mask of the round(fraction m) rows held out, drawn without replacement from ``seed``
    (numpy's default_rng; the same rows for the same m, fraction and seed)."""
    count = round(fraction * m)
    mask = np.zeros(m, dtype=bool)
    mask[np.random.default_rng(seed).permutation(m)[:count]] = True
    return mask


def summarize(
    times: FloatArray,
    errors: FloatArray | None,
    holdout_losses: FloatArray | None,
    *,
    time_unit: str,
    holdout_fraction: float | None = None,
    holdout_rows: tuple[int, ...] = (),
    stop_x: FloatArray | None = None,
) -> EarlyStop:
    """The stops and the window of one run (module docstring). ``times`` (K,) increasing;
    ``errors`` and ``holdout_losses`` (K,) or None; ``stop_x`` the iterate at the hold-out stop
    (with a hold-out) or the oracle stop, when the run kept it."""
    oracle_time = oracle_error = window_lo = window_hi = None
    if errors is not None and errors.size:
        best = int(np.argmin(errors))
        oracle_time, oracle_error = float(times[best]), float(errors[best])
        inside = np.flatnonzero(errors <= (1.0 + WINDOW) * oracle_error)
        level = (1.0 + WINDOW) * oracle_error
        window_lo = _crossing(times, errors, int(inside[0]), -1, level)
        window_hi = _crossing(times, errors, int(inside[-1]), +1, level)
    holdout_time = holdout_error = None
    if holdout_losses is not None and holdout_losses.size:
        stop = int(np.argmin(holdout_losses))
        holdout_time = float(times[stop])
        holdout_error = None if errors is None else float(errors[stop])
    return EarlyStop(
        time_unit=time_unit,
        times=times,
        errors=errors,
        holdout_losses=holdout_losses,
        oracle_time=oracle_time,
        oracle_error=oracle_error,
        window_lo=window_lo,
        window_hi=window_hi,
        holdout_fraction=holdout_fraction,
        holdout_rows=holdout_rows,
        holdout_time=holdout_time,
        holdout_error=holdout_error,
        stop_x=stop_x,
    )


def _crossing(times: FloatArray, errors: FloatArray, k: int, side: int, level: float) -> float:
    """Where the error crosses ``level`` between recorded point k (inside the window) and its
    neighbour on ``side`` (outside), interpolated linearly in ln t (in t when a time is 0);
    the recorded time itself at either end of the run."""
    j = k + side
    if j < 0 or j >= times.size:
        return float(times[k])
    t_in, t_out = float(times[k]), float(times[j])
    e_in, e_out = float(errors[k]), float(errors[j])
    if e_out == e_in:
        return t_in
    share = (level - e_in) / (e_out - e_in)  # in [0, 1]: e_in <= level < e_out
    if t_in > 0 and t_out > 0:
        return math.exp(math.log(t_in) + share * (math.log(t_out) - math.log(t_in)))
    return t_in + share * (t_out - t_in)
