"""The package's shape (docs/architecture.md): no import cycle between modules of ``sim``
(imports inside functions included), no module over 600 lines, no private name imported
across modules, and the layers import only downwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parent.parent / "sim"
MAX_LINES = 600

# lower layers first; a module may import only from its own layer or a lower one. A
# module belongs to the layer of the longest prefix that names it.
LAYERS = [
    ["sim.errors", "sim.version"],
    # pure model math (no config): price models and their registry, OU, the perpetual's margin algebra
    ["sim.market.registry", "sim.market.gbm", "sim.market.merton", "sim.market.kou", "sim.market.bootstrap",
     "sim.market.ou",
     "sim.instruments", "sim.policies"],
    ["sim.config"],
    # input adapters: market-data files -> UTC-indexed series
    ["sim.data.load", "sim.data.layouts", "sim.data.table", "sim.data.times"],
    ["sim.market"],
    ["sim.kernel"],
    ["sim.engine"],
    ["sim.results"],
    ["sim.analysis"],
    ["sim.data"],
    ["sim.report"],
    ["sim.distributed"],
    ["sim.api", "sim.cli", "sim.__main__", "sim"],
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SIM.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in SIM.rglob("*.py")}


def _imports(name: str, path: Path) -> set[str]:
    """Modules of ``sim`` imported anywhere in the file, resolved to the deepest module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):  # imports for type checkers only are never executed
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    is_pkg = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_no_import_cycle():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(GRAPH[n]):
            if state.get(m) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(GRAPH):
        if n not in state:
            visit(n)


def _layer(name: str) -> int:
    best, where = -1, None
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, where = len(prefix), i
    assert where is not None, f"{name}: not in any layer of docs/architecture.md"
    return where


def test_layers_import_downwards():
    bad = [f"{n} -> {m}" for n, deps in GRAPH.items() for m in deps if _layer(m) > _layer(n)]
    assert not bad, "imports that reach back up: " + "; ".join(sorted(bad))


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_size(name):
    n = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{name}: {n} lines (at most {MAX_LINES})"


def test_no_private_names_across_modules():
    bad = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sim"):
                bad += [f"{name}: from {node.module} import {a.name}" for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
    assert not bad, "; ".join(bad)
