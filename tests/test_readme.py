"""The README is a short front door whose examples are true: its size, its command table, its
Python block, its links, its console examples (run and compared with what they print), and no
development-history wording in it or in docs/."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.core import TyperGroup
from typer.main import get_command

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_BYTES = 15_000
MAX_LINES = 250
# The width the README's console examples were rendered at (rich reads COLUMNS when stdout is
# not a terminal); the test renders at the same width.
COLUMNS = "100"


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    """The body of the level-2 section ``heading``, up to the next level-2 heading."""
    assert f"\n{heading}\n" in text, f"README has no {heading!r} section"
    return text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]


def _fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def test_readme_is_short() -> None:
    data = README.read_bytes()
    assert len(data) <= MAX_BYTES, f"README.md has {len(data)} bytes; at most {MAX_BYTES}"
    lines = len(data.decode("utf-8").splitlines())
    assert lines <= MAX_LINES, f"README.md has {lines} lines; at most {MAX_LINES}"


def test_readme_starts_with_the_two_setup_commands() -> None:
    first = _fenced(_readme(), "bash")[0].splitlines()
    assert first == [
        "pip install -e . && dlncli flow --alpha 1e-6 --depth 3",
        'pip install -e ".[dev]" && pytest',
    ]


def test_command_table_names_every_command() -> None:
    from dlncli.cli import app

    group = get_command(app)
    assert isinstance(group, TyperGroup)
    names = sorted(group.commands)
    assert names, "the Typer app registers no commands"
    table = "\n".join(
        line for line in _section(_readme(), "## Commands").splitlines() if line.startswith("|")
    )
    missing = [name for name in names if f"dlncli {name}`" not in table]
    assert not missing, f"README's command table lacks {missing}"
    unlinked = [name for name in names if f"(docs/cli.md#dlncli-{name})" not in table]
    assert not unlinked, f"README's command table does not link {unlinked} to docs/cli.md"


def test_use_from_python_block_runs() -> None:
    blocks = _fenced(_section(_readme(), "## Use from Python"), "python")
    assert len(blocks) == 1, f"expected one python block in 'Use from Python', found {len(blocks)}"
    # Padded to its place in the README, so that a traceback names README's own line numbers.
    offset = _readme().count("\n", 0, _readme().index(blocks[0]))
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile("\n" * offset + blocks[0], str(README), "exec"), namespace)
    assert "fl" in namespace, "the block binds no flow report named fl"
    x = namespace["fl"].x
    assert isinstance(x, np.ndarray) and x.size > 0
    assert np.all(np.isfinite(x))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```$", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {_slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE)}


def _check_links(page: Path) -> list[str]:
    """Broken relative links of ``page``: a missing file, or a missing heading anchor."""
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        if not path.is_file():
            broken.append(f"{target}: no file {path}")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no heading with anchor #{anchor} in {path.name}")
    return broken


def test_readme_links_point_to_existing_files() -> None:
    text = _readme()
    links = re.findall(r"\]\((docs/[^)\s#]+)", text)
    assert links, "README links to nothing in docs/"
    for required in ("cli.md", "api.md", "model.md", "performance.md", "paper.md"):
        assert f"docs/{required}" in links, f"README does not link docs/{required}"
    assert not _check_links(README)


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_docs_links_point_to_existing_files(page: Path) -> None:
    assert not _check_links(page)


HISTORY = re.compile(r"\b(stop|issue) \d+\b", flags=re.IGNORECASE)


@pytest.mark.parametrize(
    "page", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_development_history_wording(page: Path) -> None:
    hits = [
        f"{page.name}:{number}: {line.strip()}"
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1)
        if HISTORY.search(line)
    ]
    assert not hits, "\n".join(hits)


def _console_examples() -> list[tuple[str, list[str]]]:
    """(command, printed lines) for each ```console block that starts with `$ dlncli`."""
    examples = []
    for block in _fenced(_readme(), "console"):
        first, *output = block.splitlines()
        if first.startswith("$ dlncli "):
            examples.append((first[2:], output))
    return examples


_TIMING = re.compile(r"\b\d+(?:\.\d+)?(?:e[-+]?\d+)?\s?(?:ms|µs|s)\b")
_ELAPSED = re.compile(r'("\w*elapsed\w*"\s*:\s*)[-+0-9.eE]+')
# Round-off-level values (1e-10 and below, e.g. a residual of 2e-16) depend on the BLAS build and
# the CPU, not on dlncli; they are compared as "tiny".
_ROUND_OFF = re.compile(r"\b\d\.\d+e-(?:[1-9]\d|\d{3,})\b")


def _normalised(lines: list[str]) -> list[str]:
    """Lines with timings and round-off values replaced, and column padding (spaces, box rules)
    collapsed, so a cell whose width changes with a timing does not change the comparison."""
    out = []
    for line in lines:
        line = _ELAPSED.sub(r"\1<elapsed>", line)
        line = _TIMING.sub("<time>", line)
        line = _ROUND_OFF.sub("<tiny>", line)
        line = re.sub(r"─+", "─", re.sub(r"━+", "━", line))
        line = re.sub(r"\s+", " ", line).strip()
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return out


def _run_example(command: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "LINES"}
    }
    env["COLUMNS"] = COLUMNS
    if "|" in command:  # a pipeline: a shell, with dlncli as this interpreter's module
        if "jq " in command and shutil.which("jq") is None:
            pytest.skip("jq is not installed")
        env["DLNCLI_PYTHON"] = sys.executable
        script = 'set -o pipefail\ndlncli() { "$DLNCLI_PYTHON" -m dlncli "$@"; }\n' + command
        argv = ["bash", "-c", script]
    else:
        argv = [sys.executable, "-m", "dlncli", *shlex.split(command)[1:]]
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=300)


def test_readme_has_three_console_examples() -> None:
    assert len(_console_examples()) >= 3


@pytest.mark.parametrize(("command", "printed"), _console_examples(), ids=lambda v: str(v)[:40])
def test_console_example_prints_what_the_readme_shows(command: str, printed: list[str]) -> None:
    proc = _run_example(command)
    assert proc.returncode == 0, proc.stderr
    assert _normalised(proc.stdout.splitlines()) == _normalised(printed)


def test_performance_doc_keeps_the_bench_markers(tmp_path: Path) -> None:
    from bench.run import PERFORMANCE_DOC, _write_docs_block

    text = PERFORMANCE_DOC.read_text(encoding="utf-8")
    for part in ("comparison", "scaling"):
        assert text.count(f"<!-- bench:{part}:start -->") == 1
        assert text.count(f"<!-- bench:{part}:end -->") == 1
    copy = tmp_path / "performance.md"
    copy.write_text(text, encoding="utf-8")
    _write_docs_block("scaling", "Measured (scaling) by test.", "| a |\n|---|", copy)
    rewritten = copy.read_text(encoding="utf-8")
    assert "Measured (scaling) by test.\n\n| a |\n|---|\n<!-- bench:scaling:end -->" in rewritten
    assert (
        rewritten.split("<!-- bench:scaling:start -->")[0]
        == text.split("<!-- bench:scaling:start -->")[0]
    )
