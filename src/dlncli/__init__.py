"""dlncli: diagonal linear networks, their gradient flow and basis pursuit."""

__version__ = "0.1.0"

from dlncli.problem_io import (  # after __version__, which cli.py imports
    DEFAULT_MAX_INPUT_BYTES,
    Problem,
    load_problem,
    load_sample,
    parse_decimal,
)

__all__ = [
    "DEFAULT_MAX_INPUT_BYTES",
    "Problem",
    "__version__",
    "load_problem",
    "load_sample",
    "parse_decimal",
]
