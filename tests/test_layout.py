"""The layout shows the design: packages by concern, imports that run one way, small files.

docs/architecture.md draws the same layers; this keeps the drawing true.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKILL = ROOT / "skill"

LAYERS: dict[str, int] = {
    "base": 0,
    "config": 1,
    "language": 1,
    "hermes": 2,
    "voice": 3,
    "room": 3,
    "care": 3,
    "breathing": 4,
    "routines": 5,
    "site": 6,
    "service": 7,
    "assets": 7,
    "app": 8,
    "demo": 9,
    "cli": 10,
    "__main__": 11,
}
"""Each package (or top-level module) and its layer: a part imports only parts of a lower
layer, and its own package; two parts of one layer know nothing of each other."""

TOP_FILES_MAX = 6
LINES_MAX = 400


@functools.cache
def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(SKILL.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every skill module this one imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "skill")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module.split(".")[0] != "skill":
                continue
            known = _modules()
            for alias in node.names:
                full = f"{module}.{alias.name}"
                yield full if full in known else module


def _part(module: str) -> str:
    """The layer part a module belongs to: its package under skill, or the top module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "skill"


@functools.cache
def _graph() -> dict[str, frozenset[str]]:
    modules = _modules()
    return {
        name: frozenset(dep for dep in _imports(name, path) if dep in modules and dep != name)
        for name, path in modules.items()
    }


def test_every_part_has_a_layer() -> None:
    parts = {_part(name) for name in _modules()} - {"skill"}
    assert parts <= LAYERS.keys(), sorted(parts - LAYERS.keys())


@pytest.mark.parametrize("module", sorted(_modules()))
def test_imports_run_one_way(module: str) -> None:
    """A module imports its own package or a lower layer, never up, never sideways."""
    if module == "skill":
        return
    mine = _part(module)
    wrong = []
    for dep in sorted(_graph()[module]):
        theirs = _part(dep)
        if theirs == mine or theirs == "skill":
            continue
        if LAYERS[theirs] >= LAYERS[mine]:
            wrong.append(f"{dep} (layer {LAYERS[theirs]})")
    assert not wrong, f"{module} (layer {LAYERS[mine]}) imports {', '.join(wrong)}"


def test_config_imports_only_base() -> None:
    """config.yaml's reader knows no domain: each domain reads its settings from it."""
    graph = _graph()
    for module in graph:
        if _part(module) == "config":
            outside = {dep for dep in graph[module] if _part(dep) not in ("config", "base")}
            assert not outside, f"{module} imports {sorted(outside)}"


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_top_of_the_package_is_small() -> None:
    top = sorted(p.name for p in SKILL.glob("*.py"))
    assert len(top) <= TOP_FILES_MAX, top


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_module_is_long(module: str) -> None:
    lines = len(_modules()[module].read_text(encoding="utf-8").splitlines())
    assert lines <= LINES_MAX, f"{module}: {lines} lines"


def test_the_checks_can_fail() -> None:
    """The cycle and layer checks see a real import (not a vacuous pass)."""
    graph = _graph()
    assert "skill.base.errors" in graph["skill.config.loader"]
    assert "skill.site.sites" in graph["skill.service"]
    assert _part("skill.service") == "service"
    assert _part("skill.site.sites") == "site"
