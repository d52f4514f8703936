"""dlncli: diagonal linear networks, their gradient flow and basis pursuit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from dlncli.limit import LimitResult, flow_limit

__all__ = ["LimitResult", "__version__", "flow_limit"]

# Imported on first use: `dlncli --help` must not pay for numpy/scipy/mpmath.
_LAZY = {"flow_limit": "dlncli.limit", "LimitResult": "dlncli.limit"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dlncli' has no attribute {name!r}")
