"""The package's layers: imports point down only (lsp → features → core → workspace/providers/builtin → base)."""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "server" / "byok"
RANK = {
    "base": 0,
    "providers": 1,
    "builtin": 1,
    "workspace": 1,
    "core": 2,
    "features": 3,
    "lsp": 4,
    "acp": 4,
    "cli": 5,
}
"""Each layer may import its own layer and lower ones; the three rank-1 siblings never import each other."""
NO_LSP_LIBRARIES = {"base", "providers", "builtin", "core", "acp"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, TYPE_CHECKING and function-local imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules} for name, path in modules.items()}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def test_imports_point_down_only() -> None:
    upward = []
    for module, imported in _graph().items():
        source = _layer(module)
        for target in imported:
            destination = _layer(target)
            if source is None or destination is None or source == destination:
                continue
            if RANK[destination] > RANK[source] or RANK[destination] == RANK[source]:
                upward.append(f"{module} imports {target}")
    assert not upward, "\n".join(sorted(upward))


def test_lower_layers_never_import_pygls_or_lsprotocol() -> None:
    offending = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        if _layer(module) in NO_LSP_LIBRARIES:
            offending += [
                f"{module} imports {m}" for m in _imports(path) if m.split(".")[0] in ("pygls", "lsprotocol")
            ]
    assert not offending, "\n".join(sorted(offending))


def test_no_import_cycles_between_modules() -> None:
    graph = {module: {m for m in imported if m != module} for module, imported in _graph().items()}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None


def test_the_cli_works_without_the_lsp_layer() -> None:
    probe = "import sys, byok.cli; print(sorted(m for m in sys.modules if m.split('.')[0] in ('pygls', 'lsprotocol') or m.startswith('byok.lsp')))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]", loaded


MAX_MODULE_LINES = 550


def test_every_module_is_small_and_says_its_job() -> None:
    too_long, undocumented = [], []
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        if source.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{_module_name(path)}: {source.count(chr(10))} lines")
        if path.name != "__main__.py" and not ast.get_docstring(ast.parse(source)):
            undocumented.append(_module_name(path))
    assert not too_long, "\n".join(sorted(too_long))
    assert not undocumented, "modules without a docstring: " + ", ".join(sorted(undocumented))
