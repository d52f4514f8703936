"""One time budget shared by every stage of a command."""

from __future__ import annotations

import time

from dlncli.errors import TimeLimitError


class Deadline:
    """One time budget shared by every LP of a command (``None`` = no limit)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.end = None if seconds is None else time.perf_counter() + seconds

    def remaining(self, what: str) -> float | None:
        """Seconds left; raises TimeLimitError when the budget is spent."""
        if self.end is None:
            return None
        left = self.end - time.perf_counter()
        if left <= 0:
            raise TimeLimitError(f"the time limit of {self.seconds:g} s was reached in {what}")
        return left
