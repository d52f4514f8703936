"""The command-line interface: the Typer app (app.py), terminal and process plumbing
(terminal.py), tables (render.py) and figures (figures.py)."""

from dlncli.cli.app import app

__all__ = ["app"]
