"""The options the commands share, as Typer declarations, and the parsers behind them: a
number option is a plain ASCII decimal (no '1_000', no full-width digits); its range is the
API's to check (OptionError), so a flag and its Python parameter are refused alike."""

from __future__ import annotations

import math
import re
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from dlncli.cli.terminal import DEFAULT_MAX_INPUT_MB

# Plain ASCII decimals (the number grammar of dlncli.problem, without importing numpy here).
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)

__all__ = ["DEFAULT_MAX_INPUT_MB"]


class Solver(str, Enum):
    choose = "choose"
    simplex = "simplex"
    ipm = "ipm"
    pdlp = "pdlp"


ProblemArg = Annotated[
    str | None,
    typer.Argument(
        metavar="PROBLEM",
        help="A .npz/.csv/.mat file, '-' for stdin, or a sample name (see 'dlncli samples'; "
        "a sample name wins over a same-named local file). Default: line.",
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", metavar="", help="Print exactly one JSON document to stdout.")
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Also write the result to FILE (.json, .npz or .csv).",
        dir_okay=False,
    ),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", metavar="", help="Allow --output to replace a file.")
]


class CompareMethod(str, Enum):
    limit = "limit"
    gd = "gd"


CompareMethodOpt = Annotated[
    CompareMethod,
    typer.Option(
        "--method",
        help="limit: the flow's exact limit across α (default). gd: gradient descent at one α "
        "across the step sizes --lr (see 'dlncli train').",
    ),
]
LrListOpt = Annotated[
    list[str] | None,
    typer.Option("--lr", help="GD step size η (repeatable; --method gd).", show_default=False),
]
InitOpt = Annotated[
    Path | None,
    typer.Option(
        "--init",
        help="Start from u(0) = u0, v(0) = v0 of an .npz (u0, v0 or log_u0, log_v0): the exact "
        "limit only.",
        dir_okay=False,
        show_default=False,
    ),
]


def _strict_number(text: str | float, *, minimum: float | None = None) -> float:
    """An option value as a plain ASCII decimal (no '1_000', no full-width digits).

    Typer also passes the declared default (a float) through the parser."""
    if isinstance(text, float | int):
        return float(text)
    if _DECIMAL.fullmatch(text) is None:
        raise typer.BadParameter(f"{text!r} is not a plain decimal number; expected e.g. 2.5")
    value = float(text)
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum:g}"
        raise typer.BadParameter(f"{text!r}; expected a finite number{bound}")
    return value


def _nonnegative(text: str | float) -> float:
    return _strict_number(text, minimum=0.0)


def _positive(text: str | float) -> float:
    value = _strict_number(text)
    if value <= 0:
        raise typer.BadParameter(f"{text!r}; expected a finite number > 0")
    return value


TimeLimitOpt = Annotated[
    float | None,
    typer.Option(
        "--time-limit", parser=_nonnegative, help="Seconds; exit 4 when hit.", show_default=False
    ),
]
MaxInputOpt = Annotated[
    float,
    typer.Option(
        "--max-input-mb",
        parser=_positive,
        help="Refuse a problem larger than this many MiB (bytes read, or A and y as float64), "
        "before allocating it.",
    ),
]


HoldoutOpt = Annotated[
    float | None,
    typer.Option(
        "--holdout",
        parser=_strict_number,
        metavar="FRACTION",
        help="Hold out this fraction of the rows (drawn from --seed) and stop where their loss "
        "is smallest.",
        show_default=False,
    ),
]
EarlyPlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        help="Write the loss and the early-stopping curves against time to FILE (.png, .pdf, "
        ".svg).",
        dir_okay=False,
        show_default=False,
    ),
]


class FlowMethod(str, Enum):
    ode = "ode"
    raw = "raw"
    raw_lsoda = "raw-lsoda"


class PlotLayout(str, Enum):
    problem = "problem"
    depth = "depth"


class AlphaAxis(str, Enum):
    decreasing = "decreasing"
    increasing = "increasing"


def _positive_int(text: str | float) -> int:
    value = _strict_number(text)
    if value != int(value) or value < 1:
        raise typer.BadParameter(f"{text!r}; expected a whole number >= 1")
    return int(value)


DEFAULT_NOISY_PROBLEM = "noisy:100:400:10:0.05:0"
NoisyProblemArg = Annotated[
    str,
    typer.Argument(
        metavar="PROBLEM",
        help="A file with x_true (and optionally sigma), or a sample with one (noisy:..., "
        f"gauss:...). Default: {DEFAULT_NOISY_PROBLEM}.",
        show_default=False,
    ),
]
