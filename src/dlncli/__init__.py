"""dlncli: diagonal linear networks, their gradient flow and basis pursuit."""

__version__ = "0.1.0"

from dlncli.path import PathReport, Saddle, path

__all__ = ["PathReport", "Saddle", "path"]
