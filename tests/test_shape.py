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
        "phase_command", "train_command",
    }  # fmt: skip
    assert max(shape.command_bodies.values()) <= COMMAND_MAX_BODY


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [("a", "b", "c")]
    assert cycles({"a": {"b"}, "b": set()}) == []
