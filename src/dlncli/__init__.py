"""dlncli: diagonal linear networks, their gradient flow and basis pursuit."""

__version__ = "0.1.0"

# potentials (issue 17): h_p, q_p, g_p and the flow's u, v from x; see docs/potentials.md.
from dlncli.potentials import (
    PotentialCurve,
    PotentialsReport,
    evaluate_potentials,
    log_uv_from_x,
)

__all__ = [
    "PotentialCurve",
    "PotentialsReport",
    "__version__",
    "evaluate_potentials",
    "log_uv_from_x",
]
