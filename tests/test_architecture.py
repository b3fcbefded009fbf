"""The package's layering: stages import only the stages below them, and no import cycles.

The graph counts every import of a prefspace module, function-local ones included, so a lazy
import cannot hide a cycle. Lazy imports of third-party libraries (torch, lightgbm) are fine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "prefspace"

# The stages in order; a module may import its own stage and any stage with a lower number.
# "base" is the shared foundation (exceptions, input checks, atomic writes, threads, version,
# the JSON-safe encoder and reader, the output-path guard, the process-alive check, progress events,
# the registries' name tables, the HTTP plumbing of both servers, how a message names an option);
# the package root and ``python -m prefspace`` sit on top (the root re-exports names lazily).
FOUNDATION = {
    "_version",
    "exceptions",
    "_validation",
    "_atomic",
    "_threads",
    "_jsonsafe",
    "_jsonread",
    "_paths",
    "_process",
    "_progress",
    "_estimators",
    "_names",
    "_http",
    "_surface",
}
LAYERS = {
    "base": 0,
    "data": 1,
    "embed": 2,
    "evaluate": 3,
    "models": 4,
    "synth": 5,
    "select": 5,
    "workflows": 6,
    "experiments": 6,
    "serve": 6,
    "studio": 6,
    "integrations": 7,
    "cli": 8,
    "__main__": 9,
    "__init__": 9,
}
HEAVY = ("numpy", "torch", "scipy")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, name: str | None = None) -> list[tuple[str, int]]:
    """(imported module or name, line) for every import in the file, at any depth."""
    name = name or _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((mod, node.lineno))
            out += [(f"{mod}.{a.name}", node.lineno) for a in node.names]
    return out


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for mod, path in files.items():
        for target, _ in _imports(path):
            while target and target not in files:
                target = target.rsplit(".", 1)[0] if "." in target else ""
            if target and target != mod and target != "prefspace":
                graph[mod].add(target)
    return graph


def _stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return "base" if parts[1] in FOUNDATION else parts[1]


def test_every_stage_has_a_layer():
    stages = {_stage(m) for m in _graph()}
    assert stages <= set(LAYERS), f"add these stages to LAYERS: {sorted(stages - set(LAYERS))}"


def test_stages_import_only_downwards():
    bad = []
    for mod, targets in _graph().items():
        for t in targets:
            a, b = _stage(mod), _stage(t)
            if a != b and LAYERS[b] >= LAYERS[a]:
                bad.append(f"{mod} -> {t}")
    assert not bad, "imports that point up or sideways between stages:\n" + "\n".join(sorted(bad))


def test_no_import_cycle_between_files():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("path", sorted((SRC / "cli").glob("*.py")), ids=lambda p: p.name)
def test_cli_modules_do_not_import_numeric_libraries(path: Path):
    heavy = [(t, line) for t, line in _imports(path) if t.split(".")[0] in HEAVY]
    assert not heavy, (
        f"{path.name} imports {heavy}: that code belongs in the library, below the CLI"
    )


def test_checker_sees_function_local_and_relative_imports(tmp_path: Path):
    """A lazy import inside a function must count, or it could hide a cycle."""
    src = tmp_path / "cells.py"
    src.write_text("def f():\n    from ..models import BradleyTerryLinear\n    import torch\n")
    found = [t for t, _ in _imports(src, name="prefspace.experiments.cells")]
    assert "prefspace.models.BradleyTerryLinear" in found and "torch" in found


MAX_FUNCTION_LINES = 100


def _long_functions(root: Path) -> list[str]:
    """'file:line name (N lines)' for each function longer than MAX_FUNCTION_LINES, counted from
    its first decorator to its last line (signature, docstring and body)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                n_lines = node.end_lineno - first + 1
                if n_lines > MAX_FUNCTION_LINES:
                    rel = path.relative_to(root.parent)
                    found.append(f"{rel}:{node.lineno} {node.name} ({n_lines} lines)")
    return found


def test_no_function_over_100_lines():
    assert _long_functions(SRC) == []


def test_function_length_check_sees_decorators_and_nested_functions(tmp_path: Path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 2))
    (pkg / "ok.py").write_text(f"def f():\n{body}\n    return x0\n")
    (pkg / "long.py").write_text(
        f"def outer():\n    @staticmethod\n    def inner():\n{body.replace('    ', '        ')}\n"
        "        return 1\n    return inner\n"
    )
    found = _long_functions(pkg)
    assert [f.split(" ")[1] for f in found] == ["outer", "inner"]
