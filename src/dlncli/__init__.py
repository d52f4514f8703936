"""dlncli: diagonal linear networks, their gradient flow and basis pursuit."""

__version__ = "0.1.0"
