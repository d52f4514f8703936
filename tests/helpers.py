"""Shared test helpers: run the CLI in-process and parse its JSON."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from dlncli.cli import app

runner = CliRunner()


def run(*args: str, input: str | bytes | None = None) -> Any:
    return runner.invoke(app, list(args), input=input)


def run_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data
