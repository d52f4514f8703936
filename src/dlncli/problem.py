"""The problem A x = y and the number grammar every input and option uses.

Numbers in text (CSV cells, sample fields, options) are plain ASCII decimals: ``1_000``,
full-width or other non-ASCII digits are refused. Every input is held to one size cap,
``max_bytes`` (default :data:`DEFAULT_MAX_INPUT_BYTES`), checked before it is allocated.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from dlncli.arrays import FloatArray
from dlncli.errors import OptionError, ProblemFormatError

DEFAULT_PROBLEM = "line"
DEFAULT_MAX_INPUT_MB = 256
DEFAULT_MAX_INPUT_BYTES = DEFAULT_MAX_INPUT_MB * 2**20
# alpha enters every computation as ln alpha; beyond this the exact limit's precision (which
# grows with |ln alpha|) is out of reach.
MAX_ABS_LOG10_ALPHA = 1e6


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
    sigma : the noise level, y = A x_true + sigma z with z standard normal, when the source
        knows it (``noisy:`` samples, a file's ``sigma``), else None.
    """

    name: str
    A: FloatArray
    y: FloatArray
    x_true: FloatArray | None = None
    path: Path | None = None
    sigma: float | None = None

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


def parse_alpha(alpha: str | float) -> tuple[str, float]:
    """alpha (a decimal string, any exponent, e.g. "1e-1000"; or a float) -> (its text,
    ln alpha), exact for values far outside float range. ValueError unless alpha > 0."""
    if isinstance(alpha, bool) or not isinstance(alpha, str | int | float):
        raise OptionError("alpha", alpha, "a decimal string or a number > 0")
    if isinstance(alpha, str):
        if DECIMAL.fullmatch(alpha) is None:
            raise OptionError(
                "alpha",
                alpha,
                "e.g. 1e-6",
                f"{alpha!r} is not a plain decimal number; expected e.g. 1e-6",
            )
        try:
            value = Decimal(alpha)
        except ArithmeticError:  # an exponent beyond decimal's range (|exponent| > ~1e18)
            raise OptionError(
                "alpha",
                alpha,
                f"|log10 alpha| <= {MAX_ABS_LOG10_ALPHA:g}",
                f"{alpha!r} is out of range; expected |log10 alpha| <= {MAX_ABS_LOG10_ALPHA:g}",
            ) from None
        text = alpha
    else:
        value = Decimal(float(alpha)) if math.isfinite(alpha) else Decimal(0)
        text = repr(float(alpha))
    if value <= 0:
        raise OptionError(
            "alpha", text, "a finite number > 0", f"{text!r}; expected a finite number > 0"
        )
    try:
        log_alpha = float(value.ln())
    except ArithmeticError:  # an exponent beyond what decimal's context can take
        log_alpha = math.inf
    if abs(log_alpha) > MAX_ABS_LOG10_ALPHA * math.log(10.0):
        raise OptionError(
            "alpha",
            text,
            f"|log10 alpha| <= {MAX_ABS_LOG10_ALPHA:g}",
            f"{text!r} is out of range; expected |log10 alpha| <= {MAX_ABS_LOG10_ALPHA:g}",
        )
    return text, log_alpha
