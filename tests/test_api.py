"""The Python API: every README command's JSON document is reproduced by its function's
report; one calling convention; the lazy package surface."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse

import dlncli
from dlncli.errors import InfeasibleError, TimeLimitError
from dlncli.reports import jsonable
from dlncli.transition.sweep import variants_for as phase_variants
from tests.helpers import run, run_json


def _same(cli: Any, api: Any, path: str = "") -> None:
    """Equal documents, timings aside (they are measured per run)."""
    if isinstance(cli, dict):
        assert isinstance(api, dict) and set(cli) == set(api), (path, set(cli) ^ set(api))
        for key in cli:
            if not key.endswith("_s"):  # seconds: timings differ per run
                _same(cli[key], api[key], f"{path}.{key}")
    elif isinstance(cli, list):
        assert isinstance(api, list) and len(cli) == len(api), path
        for k, (a, b) in enumerate(zip(cli, api, strict=True)):
            _same(a, b, f"{path}[{k}]")
    else:
        assert cli == api, (path, cli, api)


def _api_document(report: Any) -> Any:
    return json.loads(json.dumps(jsonable(report.to_dict()), allow_nan=False))


# (README command, the same through the API); the limit and LP are deterministic, so the
# numbers agree to the last bit.
CASES: list[tuple[list[str], Any]] = [
    (["flow", "--alpha", "1e-6", "--depth", "3"], lambda: dlncli.flow("line", alpha="1e-6")),
    (
        ["flow", "random3x5", "--alpha", "1e-1000", "--depth", "2", "--limit-only"],
        lambda: dlncli.flow("random3x5", alpha="1e-1000", depth=2, limit_only=True),
    ),
    (
        ["flow", "line", "--alpha", "0.1", "--method", "raw", "--t-end", "100"],
        lambda: dlncli.flow("line", alpha="0.1", method="raw", t_end=100.0),
    ),
    (
        ["flow", "line", "--alpha", "1e-2", "--t-end", "1000"],
        lambda: dlncli.flow("line", alpha="1e-2", t_end=1000.0),
    ),
    (["solve-bp", "random3x5"], lambda: dlncli.solve_bp("random3x5")),
    (["solve-bp", "line", "--ranges"], lambda: dlncli.solve_bp("line", ranges=True)),
    (["tie-break", "line"], lambda: dlncli.tie_break("line")),
    # The README's examples, as a notebook user types them.
    (
        ["tie-break", "line", "--depth", "2", "--depth", "3", "--depth", "inf"],
        lambda: dlncli.tie_break("line", depths=["2", "3", "inf"]),
    ),
    (["solve-bp", "line"], lambda: dlncli.solve_bp("line")),
    (["samples"], lambda: dlncli.sample_list()),
    (
        ["tie-break", "line", "--depth", "3", "--depth", "inf", "--verify"],
        lambda: dlncli.tie_break("line", depths=["3", "inf"], verify=True),
    ),
    (
        ["compare", "random3x5", "--depth", "2", "--depth", "3"],
        lambda: dlncli.compare("random3x5", depths=["2", "3"]),
    ),
    (
        ["compare", "kink:0.1", "line", "--depth", "3", "--alpha-p-range", "1", "1e-4", "3"],
        lambda: dlncli.compare(["kink:0.1", "line"], depths=[3.0], log10_alpha_p=[0.0, -2.0, -4.0]),
    ),
    (
        ["compare", "kink:0.1", "--depth", "3", "--alpha-p-range", "1", "1e-2", "2", "--ode"],
        lambda: dlncli.compare("kink:0.1", depths=[3], log10_alpha_p=[0, -2], use_ode=True),
    ),
    (
        ["compare", "line", "--depth", "2.5", "--alpha", "0.1", "--t-end-rule", "1e9*alpha^(2-p)"],
        lambda: dlncli.compare(
            "line", depths=["2.5"], log10_alphas=[-1.0], t_end_rule="1e9*alpha^(2-p)"
        ),
    ),
    (
        ["path", "random3x5", "--depth", "3", "--alpha", "1e-6"],
        lambda: dlncli.path("random3x5", depth=3.0, alpha="1e-6"),
    ),
    (
        [
            "phase",
            "--n",
            "10",
            "--delta",
            "0.5",
            "--rho",
            "0.2,0.4",
            "--trials",
            "2",
            "--workers",
            "1",
        ],
        lambda: dlncli.phase(n=10, deltas=[0.5], rhos=[0.2, 0.4], trials=2, workers=1),
    ),
    (
        [
            *("phase", "--n", "20", "--delta", "0.5", "--rho", "0.2,0.4", "--trials", "2"),
            *("--workers", "1", "--method", "gd", "--depth", "2", "--alpha", "1e-4"),
            *("--lr", "0.2,0.45", "--lr-relative", "--max-steps", "300", "--loss-tol", "1e-8"),
        ],
        lambda: dlncli.phase(
            n=20,
            deltas=[0.5],
            rhos=[0.2, 0.4],
            trials=2,
            workers=1,
            variants=phase_variants(
                ["gd"], depths=[2.0], alphas=["1e-4"], lr=[0.2, 0.45], lr_relative=True
            ),
            max_steps=300,
            loss_tol=1e-8,
        ),
    ),
    (
        ["potentials", "--depth", "2,3", "--z", "0,0.5"],
        lambda: dlncli.potentials(["2", "3"], z=[0.0, 0.5]),
    ),
    (
        ["phase", "--theory", "--delta", "0.1,0.25,0.5,0.75"],
        lambda: dlncli.theory([0.1, 0.25, 0.5, 0.75]),
    ),
]


@pytest.mark.parametrize(("args", "call"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_api_reproduces_the_commands_json(args: list[str], call: Any) -> None:
    cli = run_json(*args)
    api = _api_document(call())
    _same(cli, api)


def test_problem_arguments_arrays_sparse_and_names_agree() -> None:
    problem = dlncli.load_problem("random3x5")
    by_problem = dlncli.tie_break(problem, depths=[3.0])
    by_arrays = dlncli.tie_break(problem.A, problem.y, depths=[3.0])
    by_sparse = dlncli.tie_break(scipy.sparse.csr_matrix(problem.A), problem.y, depths=[3.0])
    for other in (by_arrays, by_sparse):
        np.testing.assert_array_equal(other.selected["3"], by_problem.selected["3"])
        assert other.problem.name == "arrays" and other.problem.m == 3
    sparse_bp = dlncli.solve_bp(scipy.sparse.csc_matrix(problem.A), problem.y)
    np.testing.assert_allclose(sparse_bp.solution.x, dlncli.solve_bp(problem).solution.x)
    assert by_problem.labels == ("3",) and by_problem.depths == (3.0,)


def test_reports_are_frozen() -> None:
    report = dlncli.solve_bp("line")
    with pytest.raises(AttributeError):
        report.problem = report.problem  # type: ignore[misc]


def test_bad_options_raise_value_error_and_bad_problems_dln_errors() -> None:
    with pytest.raises(ValueError, match="expected a finite number > 0"):
        dlncli.flow("line", alpha="-1")
    with pytest.raises(ValueError, match="expected a real number >= 2"):
        dlncli.flow("line", depth=1.5)
    with pytest.raises(ValueError, match="1e-300 < alpha"):
        dlncli.flow("line", alpha="1e-200", depth=3, method="raw")
    with pytest.raises(ValueError, match="given twice"):
        dlncli.tie_break("line", depths=["3", "3.0"])
    with pytest.raises(ValueError, match="expected"):
        dlncli.solve_bp(np.ones((2, 3)), np.ones(3))
    with pytest.raises(InfeasibleError):
        dlncli.solve_bp(np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([1.0, 2.0]))


def test_time_limit_is_one_budget_for_the_whole_call() -> None:
    with pytest.raises(TimeLimitError):
        dlncli.tie_break("gauss:40:120:8:0", verify=True, time_limit=0.0)
    with pytest.raises(TimeLimitError):
        dlncli.compare(["line", "plane"], depths=[3.0], time_limit=0.0)


def test_compare_gate_matches_the_cli_exit_3() -> None:
    report = dlncli.compare("kink:0.1", depths=[3.0], fail_above=1e-12)
    assert not report.passed and report.to_dict()["status"] == "failed"
    result = run("compare", "kink:0.1", "--depth", "3", "--fail-above", "1e-12", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["message"] == report.to_dict()["message"]


def test_commands_are_plain_functions_with_one_convention() -> None:
    import inspect
    import types

    import dlncli.dln.flow as flow_module
    from dlncli.dln.flow import integrate_flow

    assert flow_module.integrate_flow is integrate_flow
    for name in ("solve_bp", "flow", "tie_break", "path", "train"):
        function = getattr(dlncli, name)
        assert isinstance(function, types.FunctionType), name
        params = list(inspect.signature(function).parameters.values())
        assert [p.name for p in params[:2]] == ["problem", "y"], name
        assert all(p.kind is p.KEYWORD_ONLY for p in params[2:]), name
        assert "time_limit" in inspect.signature(function).parameters, name
        assert function.__doc__ and function.__module__ == "dlncli.api", name
    for name in ("compare", "potentials", "theory", "phase"):
        assert isinstance(getattr(dlncli, name), types.FunctionType), name
    report = dlncli.flow("line", alpha="1e-3", depth=2.5, limit_only=True)
    assert report.method == "limit" and report.depth == 2.5
    problem = dlncli.load_problem("face2d")
    by_arrays = _api_document(dlncli.path(problem.A, problem.y, depth=2.5))
    by_problem = _api_document(dlncli.path(problem, depth=2.5))
    assert by_arrays.pop("problem")["name"] == "arrays"
    assert by_problem.pop("problem")["name"] == "face2d"
    _same(by_arrays, by_problem)


def test_public_names() -> None:
    expected = {
        "solve_bp",
        "flow",
        "tie_break",
        "compare",
        "path",
        "phase",
        "potentials",
        "theory",
        "train",
        "load_problem",
        "load_sample",
        "BPReport",
        "FlowReport",
        "TieBreakReport",
        "CompareReport",
        "PathReport",
        "PhaseReport",
        "PotentialsReport",
    }
    assert expected <= set(dlncli.__all__)
    for name in dlncli.__all__:
        assert getattr(dlncli, name) is not None
    assert (Path(dlncli.__file__).parent / "py.typed").is_file()


def test_import_and_help_load_no_numpy() -> None:
    code = (
        "import sys, dlncli, dlncli.cli; "
        "print(sorted(m for m in ('numpy', 'scipy', 'highspy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_all_lists_every_export() -> None:
    from dlncli import _EXPORTS

    assert sorted(dlncli.__all__) == sorted([*_EXPORTS, "__version__"])


def test_flow_trajectory_is_what_the_cli_writes(tmp_path: Path) -> None:
    out = tmp_path / "traj.npz"
    assert run("flow", "line", "--alpha", "1e-2", "--trajectory", str(out)).exit_code == 0
    report = dlncli.flow("line", alpha="1e-2", trajectory=True)
    assert report.trajectory is not None and report.to_dict().keys().isdisjoint({"trajectory"})
    with np.load(out) as saved:
        assert set(saved.files) == set(report.trajectory)
        for key in saved.files:
            np.testing.assert_array_equal(saved[key], report.trajectory[key])
    # x(t) ends at the reported limit, and loss(t) is 1/2 ||A x(t) - y||^2 row by row.
    problem = dlncli.load_problem("line")
    xs = report.trajectory["x"]
    np.testing.assert_allclose(xs[-1], report.x, atol=1e-8)
    residual = xs @ problem.A.T - problem.y
    np.testing.assert_allclose(report.trajectory["loss"], 0.5 * np.sum(residual**2, axis=1))
