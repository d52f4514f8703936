"""The shape targets of the code base, measured: ``python -m tools.shape`` prints them.

- the CLI module (src/dlncli/cli/app.py): its lines, the longest command body, and the
  dlncli modules it imports;
- README.md: bytes and lines;
- import cycles among the dlncli modules (module-level and function-level imports alike).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
CLI = SRC / "dlncli" / "cli" / "app.py"
README = ROOT / "README.md"

CLI_MAX_LINES = 900
COMMAND_MAX_BODY = 25
CLI_MAX_DLNCLI_IMPORTS = 4
README_MAX_BYTES = 15_000
README_MAX_LINES = 250


@dataclass(frozen=True)
class Shape:
    cli_lines: int
    command_bodies: dict[str, int]  # command function -> lines of its body (docstring aside)
    cli_imports: tuple[str, ...]  # dlncli modules imported by the CLI module
    readme_bytes: int
    readme_lines: int
    cycles: tuple[tuple[str, ...], ...]

    def problems(self) -> list[str]:
        out = []
        if self.cli_lines > CLI_MAX_LINES:
            out.append(f"cli has {self.cli_lines} lines > {CLI_MAX_LINES}")
        for name, lines in self.command_bodies.items():
            if lines > COMMAND_MAX_BODY:
                out.append(f"command {name} body has {lines} lines > {COMMAND_MAX_BODY}")
        if len(self.cli_imports) > CLI_MAX_DLNCLI_IMPORTS:
            out.append(f"cli imports {len(self.cli_imports)} dlncli modules: {self.cli_imports}")
        if self.readme_bytes > README_MAX_BYTES or self.readme_lines > README_MAX_LINES:
            out.append(f"README is {self.readme_bytes} bytes, {self.readme_lines} lines")
        out += [f"import cycle: {' -> '.join(c)}" for c in self.cycles]
        return out


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """dlncli modules that ``module`` imports anywhere (``from a import b`` counts a.b when
    b is a module)."""
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("dlncli")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.startswith("dlncli"):
                submodules = {f"{base}.{a.name}" for a in node.names if _exists(f"{base}.{a.name}")}
                found |= submodules
                if len(submodules) < len(node.names):  # names defined in the module itself
                    found.add(base)
    return found


def _exists(module: str) -> bool:
    path = SRC / Path(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (no import at run time)."""
    out: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
                stack.extend(child.orelse)
                continue
            stack.append(child)
    return out


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in (SRC / "dlncli").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = _imports(tree, name, path.name == "__init__.py")
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Every elementary cycle's smallest rotation, found by depth-first search. A package's
    ``__init__`` re-exporting lazily (PEP 562) is not an edge: only real imports are."""
    found: set[tuple[str, ...]] = set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                k = path.index(min(path))
                found.add(tuple(path[k:] + path[:k]))
            elif nxt not in path and nxt > path[0]:
                visit(nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, [start])
    return sorted(found)


def command_bodies(tree: ast.Module) -> dict[str, int]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "command"
            for d in node.decorator_list
        ):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            end = node.end_lineno or node.lineno
            out[node.name] = end - body[0].lineno + 1 if body else 0
    return out


def measure() -> Shape:
    text = CLI.read_text(encoding="utf-8")
    tree = ast.parse(text)
    imported = _imports(tree, "dlncli.cli.app", False)
    modules = {m for m in imported if _exists(m)}
    graph = import_graph()
    # dlncli/__init__ loads its names lazily; its TYPE_CHECKING imports are no runtime edge.
    graph["dlncli"] = set()
    readme = README.read_bytes()
    return Shape(
        cli_lines=len(text.splitlines()),
        command_bodies=command_bodies(tree),
        cli_imports=tuple(sorted(modules)),
        readme_bytes=len(readme),
        readme_lines=len(readme.decode("utf-8").splitlines()),
        cycles=tuple(cycles(graph)),
    )


def main() -> int:
    shape = measure()
    print(f"cli/app.py lines: {shape.cli_lines} (target <= {CLI_MAX_LINES})")
    longest = max(shape.command_bodies.items(), key=lambda kv: kv[1])
    print(f"longest command body: {longest[0]}, {longest[1]} lines (target <= {COMMAND_MAX_BODY})")
    print(f"dlncli modules imported by the CLI: {len(shape.cli_imports)} {list(shape.cli_imports)}")
    print(f"README: {shape.readme_bytes} bytes, {shape.readme_lines} lines")
    print(f"import cycles: {len(shape.cycles)}")
    for problem in shape.problems():
        print(f"  MISSED: {problem}")
    return 1 if shape.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
