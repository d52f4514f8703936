"""Mutation check: do the tests fail when the code is made wrong in ways that matter?

Each mutation replaces one short, exact snippet of the source (a tolerance loosened, a check
skipped, a sign flipped) in a scratch copy of the repository and runs only the tests that
should catch it. A mutation whose tests still pass *survives*: a hole in the suite.

Run from the repo root:

    python tools/mutate.py                 # every mutation
    python tools/mutate.py gamma newton    # the mutations whose names contain these words
    python tools/mutate.py --list          # names, files and why
    python tools/mutate.py --baseline      # first run every selection on the unmutated copy

Exit status: 1 if any mutation survived (or a baseline selection failed), else 0. A snippet
that is not in the file (the code moved on) is reported as "not found", not a crash: update
its text here. docs/testing.md lists the expected outcome.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("src", "tests", "tools", "bench", "sample_problems", "pyproject.toml")
TIMEOUT_S = 1200
NO_TESTS_COLLECTED = 5  # pytest's exit status


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    why: str
    tests: tuple[str, ...]  # pytest arguments: files, optionally "-k" and an expression


MUTATIONS = (
    Mutation(
        "compare-slope-tolerance-x100",
        "src/dlncli/dln/compare.py",
        "agrees = abs(slope - predicted) <= SLOPE_TOLERANCE",
        "agrees = abs(slope - predicted) <= SLOPE_TOLERANCE * 100",
        "a rate verdict that agrees with any slope (kink:0.01's plateau slope 0.06 vs 1)",
        ("tests/test_compare.py",),
    ),
    Mutation(
        "compare-predicted-slope-ignores-margin",
        "src/dlncli/dln/compare.py",
        "return margin if off_face else 2.0",
        "return 2.0",
        "theory's p = 2 slope is the dual margin when coordinates are off the face",
        ("tests/test_compare.py",),
    ),
    Mutation(
        "certify-gamma-over-1e3",
        "src/dlncli/bp/certify.py",
        "ROUNDING_ALLOWANCE = 1.0",
        "ROUNDING_ALLOWANCE = 1e-3",
        "the float margin bound's dot-product error allowance, too small to be rigorous",
        ("tests/test_certify.py", "tests/test_bp_robust.py"),
    ),
    Mutation(
        "verdict-always-certified",
        "src/dlncli/bp/verdict.py",
        "certified=v.certified,",
        "certified=True,",
        "every BP verdict reported as certified, undecided ones included",
        ("tests/test_certify.py",),
    ),
    Mutation(
        "p2-off-face-sign-flip",
        "src/dlncli/dln/potentials.py",
        "return f1 - f2, f1 + f2",
        "return f2 - f1, f1 + f2",
        "the p = 2 off-face map's sign: the face-free check silently takes over",
        ("tests/test_limit.py", "-k", "60_digit"),
    ),
    Mutation(
        "newton-step-tolerance-x100",
        "src/dlncli/dln/limit.py",
        "REL_STEP_TOL = 1e-13",
        "REL_STEP_TOL = 1e-11",
        "Newton declares convergence after a larger last step",
        ("tests/test_limit.py", "-k", "newton"),
    ),
    Mutation(
        "ode-x-tol-x100",
        "src/dlncli/dln/ode.py",
        "X_TOL = 1000.0",
        "X_TOL = 100000.0",
        "the ODE's x-part error norm, which keeps transient coordinates accurate",
        ("tests/test_flow.py", "-k", "raw_uv or between_saddles"),
    ),
    Mutation(
        "path-check-ode-rtol-x100",
        "src/dlncli/dln/path.py",
        "                log10_t_end=log10_t_end,\n                time_limit=remaining,",
        "                log10_t_end=log10_t_end,\n                rtol=1e-7,\n"
        "                time_limit=remaining,",
        "--check-alpha's ODE 100x less accurate: its crossing times drift",
        ("tests/test_path.py", "-k", "check_alpha or jump_times"),
    ),
    Mutation(
        "path-crossing-not-interpolated",
        "src/dlncli/dln/path.py",
        "frac = (l0 - level) / (l0 - l1) if l0 != l1 else 1.0",
        "frac = 1.0",
        "--check-alpha's crossing taken at the first recorded step below the level",
        ("tests/test_path.py", "-k", "check_alpha or jump_times"),
    ),
    Mutation(
        "lp-signals-not-held-at-start",
        "src/dlncli/bp/lp.py",
        "if threading.current_thread() is threading.main_thread():",
        "if False:",
        "a Ctrl-C inside highspy's startSolve leaves the LP running",
        ("tests/test_lp.py", "-k", "ctrl_c"),
    ),
    Mutation(
        "lp-interrupt-not-cancelled",
        "src/dlncli/bp/lp.py",
        "                if thread is not None:\n                    stop(thread)",
        "                pass",
        "Ctrl-C during the solve leaves HiGHS running",
        ("tests/test_lp.py", "-k", "ctrl_c"),
    ),
)


def _copy_repo(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".ruff_cache")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, dest / name)


def _env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy / "src"), str(copy)])
    env["OPENBLAS_NUM_THREADS"] = env.get("OPENBLAS_NUM_THREADS", "1")
    return env


def _check_import_path(copy: Path) -> None:
    """The scratch copy's dlncli must be the one imported (not an installed one)."""
    out = subprocess.run(
        [sys.executable, "-c", "import dlncli; print(dlncli.__file__)"],
        cwd=copy,
        env=_env(copy),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(out).resolve().is_relative_to(copy.resolve()):
        sys.exit(f"mutate: the scratch copy is not what Python imports ({out})")


def _pytest(copy: Path, tests: tuple[str, ...]) -> tuple[int | None, float, str]:
    """(pytest's exit status or None on timeout, seconds, the failed test or the summary)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", *tests, "-x", "-q", "-rf", "-p", "no:cacheprovider"],
            cwd=copy,
            env=_env(copy),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - start, f"timed out after {TIMEOUT_S} s"
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    failed = [ln.split(" - ")[0] for ln in lines if ln.startswith(("FAILED", "ERROR"))]
    summary = failed[0] if failed else (lines[-1] if lines else "")
    return proc.returncode, time.perf_counter() - start, summary


def _apply(copy: Path, mutation: Mutation) -> str | None:
    """Mutate the copy in place; None, or why the mutation cannot be applied."""
    path = copy / mutation.path
    if not path.exists():
        return f"not found: {mutation.path} does not exist"
    text = path.read_text()
    count = text.count(mutation.old)
    if count == 0:
        return f"not found: the snippet is not in {mutation.path}"
    if count > 1:
        return f"ambiguous: the snippet occurs {count} times in {mutation.path}"
    path.write_text(text.replace(mutation.old, mutation.new))
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("words", nargs="*", help="run the mutations whose names contain these")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--baseline", action="store_true", help="run each selection unmutated")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.words or any(w in m.name for w in args.words)]
    if args.list:
        for m in chosen:
            print(f"{m.name}\n    {m.path}: {m.why}\n    tests: {' '.join(m.tests)}")
        return 0
    if not chosen:
        print("mutate: no mutation matches", file=sys.stderr)
        return 2
    failed_baseline = False
    survivors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dlncli-mutate-") as scratch:
        pristine = Path(scratch) / "pristine"
        _copy_repo(pristine)
        _check_import_path(pristine)
        if args.baseline:
            for tests in dict.fromkeys(m.tests for m in chosen):
                status, seconds, last = _pytest(pristine, tests)
                ok = status == 0
                failed_baseline |= not ok
                print(f"baseline  {'pass' if ok else 'FAIL':8} {seconds:6.1f} s  {' '.join(tests)}")
                if not ok:
                    print(f"          {last}")
        for index, mutation in enumerate(chosen):
            copy = Path(scratch) / f"m{index}"
            shutil.copytree(pristine, copy)
            problem = _apply(copy, mutation)
            if problem is not None:
                print(f"{mutation.name:40} {problem}")
                continue
            status, seconds, last = _pytest(copy, mutation.tests)
            if status == 0:
                outcome = "SURVIVED"
                survivors.append(mutation.name)
            elif status == NO_TESTS_COLLECTED:
                outcome = "NO TESTS"  # a selection that matches nothing catches nothing
                survivors.append(mutation.name)
            elif status is None:
                outcome = "timeout"
            else:
                outcome = "killed"
            print(f"{mutation.name:40} {outcome:8} {seconds:6.1f} s  {last}", flush=True)
            shutil.rmtree(copy)
    print(f"survivors: {', '.join(survivors) if survivors else 'none'}")
    return 1 if survivors or failed_baseline else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
