"""dlncli: diagonal linear networks vs basis pursuit (see README.md and docs/)."""

from __future__ import annotations

__version__ = "0.1.0"

from dlncli.limit import LimitResult, flow_limit
from dlncli.path import PathReport, Saddle, path

# Phase diagrams (docs/phase.md). Imported eagerly on purpose: binding the function after the
# submodule loads is what keeps `dlncli.phase` the function rather than the module dlncli.phase.
from dlncli.phase import PhaseReport, Variant, phase
from dlncli.potentials import (  # after __version__, which cli.py imports
    PotentialCurve,
    PotentialsReport,
    evaluate_potentials,
    log_uv_from_x,
)
from dlncli.problem_io import (
    DEFAULT_MAX_INPUT_BYTES,
    Problem,
    load_problem,
    load_sample,
    parse_decimal,
)
from dlncli.theory import TheoryReport, weak_threshold, weak_threshold_table

# GD / SGD with a real step size (docs/train.md); the function shadows the submodule name.
from dlncli.train import TrainReport, train

__all__ = [
    "DEFAULT_MAX_INPUT_BYTES",
    "LimitResult",
    "PathReport",
    "PhaseReport",
    "PotentialCurve",
    "PotentialsReport",
    "Problem",
    "Saddle",
    "TheoryReport",
    "TrainReport",
    "Variant",
    "__version__",
    "evaluate_potentials",
    "flow_limit",
    "load_problem",
    "load_sample",
    "log_uv_from_x",
    "parse_decimal",
    "path",
    "phase",
    "train",
    "weak_threshold",
    "weak_threshold_table",
]
