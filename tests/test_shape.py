"""The code base keeps its shape (python -m tools.shape): a thin CLI of at most 900 lines,
command bodies of at most 25 lines, at most 4 dlncli modules imported by the CLI, a README a
newcomer reads in two minutes, and no import cycle among dlncli's modules."""

from __future__ import annotations

from tools.shape import COMMAND_MAX_BODY, cycles, measure


def test_the_shape_targets_hold() -> None:
    shape = measure()
    assert shape.problems() == []
    assert set(shape.command_bodies) == {
        "samples", "solve_bp", "flow", "tie_break", "compare", "potentials", "path_command",
        "phase_command", "train_command", "recover",
    }  # fmt: skip
    assert max(shape.command_bodies.values()) <= COMMAND_MAX_BODY


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [("a", "b", "c")]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_help_reads_well() -> None:
    """One-sentence command summaries on one line each, option help of at most two lines (the
    rest is in docs/cli.md), no <bool> metavar on flags, the exit codes in the epilog."""
    from typer.main import get_command

    from dlncli.cli import app

    command = get_command(app)
    for name, sub in command.commands.items():  # type: ignore[attr-defined]
        summary = sub.help or ""
        assert "\n" not in summary and summary.endswith("."), name
        for param in sub.params:
            assert len(getattr(param, "help", None) or "") <= 150, (name, param.name)
            if getattr(param, "is_flag", False) and param.name != "help":
                assert param.metavar == "", (name, param.name)
        assert "5 training diverged" in (sub.epilog or "5 training diverged"), name
    assert "5 training diverged" in (command.epilog or "")
