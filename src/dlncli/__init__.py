"""dlncli: diagonal linear networks, their gradient flow and basis pursuit."""

__version__ = "0.1.0"

# Phase diagrams (docs/phase.md). Imported eagerly on purpose: binding the function after the
# submodule loads is what keeps `dlncli.phase` the function rather than the module dlncli.phase.
from dlncli.phase import PhaseReport, Variant, phase
from dlncli.theory import TheoryReport, weak_threshold, weak_threshold_table

__all__ = [
    "PhaseReport",
    "TheoryReport",
    "Variant",
    "__version__",
    "phase",
    "weak_threshold",
    "weak_threshold_table",
]
