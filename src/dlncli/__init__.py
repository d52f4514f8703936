"""dlncli: diagonal linear networks vs basis pursuit (README.md, docs/api.md).

One function per command, all called the same way, each returning a frozen report whose
``to_dict()`` is that command's ``--json`` document::

    import dlncli
    report = dlncli.flow("line", alpha="1e-6", depth=3)
    report.x

The names load on first use (PEP 562), so ``dlncli --help`` does not import numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Every public name, with the module that defines it.
_EXPORTS = {
    **dict.fromkeys(
        (
            "solve_bp",
            "flow",
            "tie_break",
            "compare",
            "path",
            "train",
            "potentials",
            "theory",
            "phase",
            "sample_list",
            "recover",
        ),
        "dlncli.api",
    ),
    **dict.fromkeys(
        (
            "BPReport",
            "CompareReport",
            "CompareRowReport",
            "FitReport",
            "FlowReport",
            "PathReport",
            "PhaseReport",
            "PotentialCurve",
            "PotentialsReport",
            "ProblemComparison",
            "ProblemInfo",
            "Saddle",
            "TheoryReport",
            "TieBreakReport",
            "TrainReport",
            "VerifyRow",
            "Variant",
            "RecoverReport",
            "EarlyStop",
        ),
        "dlncli.reports",
    ),
    **dict.fromkeys(("Problem", "parse_decimal", "DEFAULT_MAX_INPUT_BYTES"), "dlncli.problem"),
    **dict.fromkeys(("load_problem", "load_sample"), "dlncli.problem_io"),
    **dict.fromkeys(("DlnError", "OptionError", "TimeLimitError"), "dlncli.errors"),
    "LimitResult": "dlncli.dln.limit",
    "flow_limit": "dlncli.dln.limit",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from dlncli.api import (
        compare as compare,
        flow as flow,
        path as path,
        phase as phase,
        potentials as potentials,
        recover as recover,
        sample_list as sample_list,
        solve_bp as solve_bp,
        theory as theory,
        tie_break as tie_break,
        train as train,
    )
    from dlncli.dln.limit import (
        LimitResult as LimitResult,
    )
    from dlncli.errors import (
        DlnError as DlnError,
        OptionError as OptionError,
        TimeLimitError as TimeLimitError,
    )
    from dlncli.problem import (
        DEFAULT_MAX_INPUT_BYTES as DEFAULT_MAX_INPUT_BYTES,
        Problem as Problem,
        parse_decimal as parse_decimal,
    )
    from dlncli.problem_io import (
        load_problem as load_problem,
        load_sample as load_sample,
    )
    from dlncli.reports import (
        BPReport as BPReport,
        CompareReport as CompareReport,
        CompareRowReport as CompareRowReport,
        EarlyStop as EarlyStop,
        FitReport as FitReport,
        FlowReport as FlowReport,
        PathReport as PathReport,
        PhaseReport as PhaseReport,
        PotentialCurve as PotentialCurve,
        PotentialsReport as PotentialsReport,
        ProblemComparison as ProblemComparison,
        ProblemInfo as ProblemInfo,
        RecoverReport as RecoverReport,
        Saddle as Saddle,
        TheoryReport as TheoryReport,
        TieBreakReport as TieBreakReport,
        TrainReport as TrainReport,
        Variant as Variant,
        VerifyRow as VerifyRow,
    )
