"""Errors that reach the user as one line on stderr and exit code 1."""


class DlnError(Exception):
    """Base class: a problem with the user's input or problem, not a bug."""


class OptionError(DlnError, ValueError):
    """An option value out of its range or of the wrong form (the CLI: exit 2, naming the flag).

    ``option`` is the Python parameter's name (``alpha``, ``depths``), ``value`` what was given
    and ``expected`` what would have been accepted; ``str()`` is the message without the
    option's name (the CLI prefixes its flag, the API's caller has the name in ``option``).
    """

    def __init__(self, option: str, value: object, expected: str, message: str = "") -> None:
        self.option, self.value, self.expected = option, value, expected
        super().__init__(message or f"{value!r}; expected {expected}")


class ProblemFormatError(DlnError):
    """A problem file or sample spec that cannot be read or is malformed."""


class InfeasibleError(DlnError):
    """y is not in the range of A: basis pursuit has no feasible point."""


class SolverError(DlnError):
    """A solver stopped without an answer (time limit, numerical failure)."""


class TimeLimitError(SolverError):
    """A --time-limit was hit before the computation finished (exit code 4)."""


class OutputError(DlnError):
    """An output file or stdout could not be written (disk full, permissions, closed)."""


class OutputExistsError(OutputError):
    """The output file exists (perhaps created during the run) and --force was not given."""


class RunFailedError(SolverError):
    """An integrator stopped without reaching its end time; ``document`` is the JSON record
    the command prints with --json (status "failed")."""

    def __init__(self, message: str, document: dict[str, str]) -> None:
        super().__init__(message)
        self.document = document
