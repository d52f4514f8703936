"""The two safeguards every damped Newton in dlncli shares: fraction to the boundary, then
backtracking (docs/limit.md, "The pieces in the code").

The flow limit's Newton in the BP-face coordinates (limit.py), the face-free Newton on the
full dual (dual_check.py) and the tie-break's Newton on the face (tiebreak.py) all move
inside an open domain given by slacks that must stay positive, and all accept a step only
when their merit function agrees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

# Stop this fraction of the way to the nearest slack's zero: a step that lands on the
# boundary leaves the domain (x = inf) in the next evaluation.
FRACTION_TO_BOUNDARY = 0.99


def step_to_boundary(
    pairs: Iterable[tuple[Any, Any]], *, to_float: Callable[[Any], Any] | None = None
) -> float:
    """The largest t in [0, 1] with every slack + t * (-rate) kept positive, shortened by
    FRACTION_TO_BOUNDARY: min(1, 0.99 min_i slack_i / rate_i over rate_i > 0).

    pairs : (slack, rate) arrays of one shape each; a slack shrinks at ``rate`` per unit t.
    to_float : for slacks in another precision (long double, mpmath objects), the ratio is
        formed in that precision and only then rounded by ``to_float`` (slacks of 1e-600 keep
        their digits). The rates' signs are read in that precision too: a rate of 1e-600
        against a slack of 1e-600 binds, though both round to 0 in float64.
    """
    bound = 1.0
    for slack, rate in pairs:
        moving = np.asarray(rate > 0, dtype=bool)
        if not np.any(moving):
            continue
        with np.errstate(over="ignore"):  # tiny rates: no bound from them
            ratios = slack[moving] / rate[moving]
        if to_float is not None:
            ratios = to_float(ratios)
        bound = min(bound, FRACTION_TO_BOUNDARY * float(np.min(ratios)))
    return max(bound, 0.0)


def backtrack(
    accept: Callable[[float], bool], step: float, *, min_step: float
) -> tuple[float, bool]:
    """Halve ``step`` until ``accept(step)`` or ``step <= min_step``.

    Returns (the last step tried or accepted, whether it was accepted). ``accept`` evaluates
    the merit at the trial point and rejects points outside the domain.
    """
    while step > min_step:
        if accept(step):
            return step, True
        step *= 0.5
    return step, False
