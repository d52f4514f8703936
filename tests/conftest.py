from __future__ import annotations

import typer.rich_utils

# Rich must not colour or wrap differently on CI machines that set FORCE_COLOR or wide TTYs.
typer.rich_utils.FORCE_TERMINAL = False
typer.rich_utils.MAX_WIDTH = 100
