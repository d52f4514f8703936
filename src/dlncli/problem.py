"""The problem A x = y and the number grammar every input and option uses.

Numbers in text (CSV cells, sample fields, options) are plain ASCII decimals: ``1_000``,
full-width or other non-ASCII digits are refused. Every input is held to one size cap,
``max_bytes`` (default :data:`DEFAULT_MAX_INPUT_BYTES`), checked before it is allocated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dlncli.arrays import FloatArray
from dlncli.errors import ProblemFormatError

DEFAULT_PROBLEM = "line"
DEFAULT_MAX_INPUT_MB = 256
DEFAULT_MAX_INPUT_BYTES = DEFAULT_MAX_INPUT_MB * 2**20


@dataclass(frozen=True)
class Problem:
    """A basis-pursuit / DLN problem A x = y.

    Attributes
    ----------
    name : where it came from (file name or sample spec), for messages and reports.
    A : (m, N) float64 matrix.
    y : (m,) float64 right-hand side.
    x_true : (N,) ground truth when the source provides one, else None.
    path : the resolved input file, or None for samples and stdin.
    """

    name: str
    A: FloatArray
    y: FloatArray
    x_true: FloatArray | None = None
    path: Path | None = None

    @property
    def shape(self) -> tuple[int, int]:
        m, n = self.A.shape
        return int(m), int(n)


# Plain ASCII decimals only: float() and int() also take "1_000" and non-ASCII digits ("１").
DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.ASCII | re.IGNORECASE)


def parse_decimal(text: str) -> float:
    """A plain ASCII decimal (``-1.5``, ``2e-3``) as float64; ``inf``/``nan`` words also parse.

    Raises
    ------
    ValueError
        For anything else, including ``1_000``, surrounding blanks and non-ASCII digits,
        which Python's ``float`` would accept.
    """
    if not (DECIMAL.fullmatch(text) or _NON_FINITE.fullmatch(text)):
        raise ValueError(f"not a plain decimal number: {text!r}")
    return float(text)


def format_bytes(n: int) -> str:
    """``n`` bytes in MiB/GiB for messages."""
    return f"{n / 2**30:.3g} GiB" if n >= 2**30 else f"{n / 2**20:.3g} MiB"


def check_size(name: str, what: str, nbytes: int, max_bytes: int | None) -> None:
    if max_bytes is not None and nbytes > max_bytes:
        raise ProblemFormatError(
            f"{name}: {what} is {format_bytes(nbytes)}, more than the input cap of "
            f"{format_bytes(max_bytes)}; expected a smaller input (raise the cap with "
            "--max-input-mb)"
        )
