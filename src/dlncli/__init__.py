"""dlncli: diagonal linear networks vs basis pursuit (see README.md and docs/api.md).

One function per experiment, each returning a frozen report whose ``to_dict()`` is the
matching command's JSON document::

    import dlncli
    report = dlncli.flow(dlncli.load_problem("line"), alpha="1e-6", depth=3)

The public names load lazily (PEP 562), so ``dlncli --help`` does not import numpy.
``dlncli.compare``, ``dlncli.flow``, ``dlncli.path``, ``dlncli.phase`` and ``dlncli.train`` are also
submodules:
they are callable modules, so ``dlncli.flow(...)`` runs the experiment and ``from dlncli.flow
import integrate_flow`` keeps working.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "solve_bp": "dlncli.experiments",
    "tie_break": "dlncli.experiments",
    "BPReport": "dlncli.reports",
    "FlowReport": "dlncli.reports",
    "TieBreakReport": "dlncli.reports",
    "CompareReport": "dlncli.reports",
    "ProblemComparison": "dlncli.reports",
    "CompareRowReport": "dlncli.reports",
    "FitReport": "dlncli.reports",
    "ProblemInfo": "dlncli.reports",
    "VerifyRow": "dlncli.reports",
    "LimitResult": "dlncli.limit",
    "flow_limit": "dlncli.limit",
    "PathReport": "dlncli.path",
    "Saddle": "dlncli.path",
    "PhaseReport": "dlncli.phase",
    "Variant": "dlncli.phase",
    "PotentialCurve": "dlncli.potentials",
    "PotentialsReport": "dlncli.potentials",
    "evaluate_potentials": "dlncli.potentials",
    "log_uv_from_x": "dlncli.potentials",
    "DEFAULT_MAX_INPUT_BYTES": "dlncli.problem_io",
    "Problem": "dlncli.problem_io",
    "load_problem": "dlncli.problem_io",
    "load_sample": "dlncli.problem_io",
    "parse_decimal": "dlncli.problem_io",
    "TheoryReport": "dlncli.theory",
    "weak_threshold": "dlncli.theory",
    "weak_threshold_table": "dlncli.theory",
    "TrainReport": "dlncli.train",
}
# Experiments named like a submodule: the submodule is made callable, running the function.
_CALLABLE_MODULES = {
    "compare": ("dlncli.experiments", "compare"),
    "flow": ("dlncli.experiments", "flow"),
    "path": ("dlncli.experiments", "path"),
    "phase": ("dlncli.phase", "phase"),
    "train": ("dlncli.train", "train"),
}

__all__ = [
    "DEFAULT_MAX_INPUT_BYTES",
    "BPReport",
    "CompareReport",
    "CompareRowReport",
    "FitReport",
    "FlowReport",
    "LimitResult",
    "PathReport",
    "PhaseReport",
    "PotentialCurve",
    "PotentialsReport",
    "Problem",
    "ProblemComparison",
    "ProblemInfo",
    "Saddle",
    "TheoryReport",
    "TieBreakReport",
    "TrainReport",
    "Variant",
    "VerifyRow",
    "__version__",
    "compare",
    "evaluate_potentials",
    "flow",
    "flow_limit",
    "load_problem",
    "load_sample",
    "log_uv_from_x",
    "parse_decimal",
    "path",
    "phase",
    "solve_bp",
    "tie_break",
    "train",
    "weak_threshold",
    "weak_threshold_table",
]


class _CallableModule(types.ModuleType):
    """A submodule that is also its experiment: ``dlncli.flow(...)`` is
    ``dlncli.experiments.flow(...)``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        module, name = _CALLABLE_MODULES[self.__name__.rpartition(".")[2]]
        return getattr(importlib.import_module(module), name)(*args, **kwargs)


class _Package(types.ModuleType):
    # The import system binds each loaded submodule as an attribute of the package: make
    # the three experiment-named ones callable as they are bound.
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CALLABLE_MODULES and type(value) is types.ModuleType:
            value.__class__ = _CallableModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _CALLABLE_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from dlncli.experiments import compare, flow, path, solve_bp, tie_break
    from dlncli.limit import LimitResult, flow_limit
    from dlncli.path import PathReport, Saddle
    from dlncli.phase import PhaseReport, Variant, phase
    from dlncli.potentials import (
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
    from dlncli.reports import (
        BPReport,
        CompareReport,
        CompareRowReport,
        FitReport,
        FlowReport,
        ProblemComparison,
        ProblemInfo,
        TieBreakReport,
        VerifyRow,
    )
    from dlncli.theory import TheoryReport, weak_threshold, weak_threshold_table
    from dlncli.train import TrainReport, train
