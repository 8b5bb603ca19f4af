"""The package has no import cycle between its modules (ADR 0017).

What counts as an edge A → B: an ``import`` / ``from … import`` of B at the top of module A —
at module level, inside a module-level ``if``, ``try`` or ``with`` — *including* the
``if TYPE_CHECKING:`` block: a name A needs only for its types is still a dependency of the
design (the app-state cycle of issue 17 ran through such an import), and ``mypy`` follows it.
Imports inside functions and methods are not counted: they run on demand, on purpose (the hook
path loads the engine only when it evaluates; the app factory assembles its routers).
``from package import name`` is an edge to ``package.name`` when that is one of our modules,
else to ``package``; relative imports are resolved. A package's ``__init__`` that Python runs on
the way to a submodule is not an edge of its own: it counts where it is named.

Run it alone: ``.venv/bin/python -m pytest -q tests/test_import_cycles.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from pathlib import Path

import jirahooks

ROOT = Path(jirahooks.__file__).parent


def module_names() -> dict[str, Path]:
    names: dict[str, Path] = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _import_time_nodes(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            # both branches, ``if TYPE_CHECKING:`` too (see the module docstring)
            found += _import_time_nodes(node.body)
            found += _import_time_nodes(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                found += _import_time_nodes(block)
            for handler in node.handlers:
                found += _import_time_nodes(handler.body)
        elif isinstance(node, ast.With):
            found += _import_time_nodes(node.body)
    return found


def targets(
    name: str, is_package: bool, node: ast.Import | ast.ImportFrom, modules: Collection[str]
) -> set[str]:
    """The modules of ours that one import statement of module ``name`` names."""
    if isinstance(node, ast.Import):
        found = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = name.split(".")
            if not is_package:
                anchor = anchor[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        found = [
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
            for alias in node.names
        ]
    return {t for t in found if t in modules and t != name}


def import_graph() -> dict[str, set[str]]:
    """module → the modules of ours it imports at its top (the module docstring)."""
    modules = module_names()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in _import_time_nodes(tree.body):
            graph[name] |= targets(name, path.name == "__init__.py", node, modules)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_sees_the_package() -> None:
    graph = import_graph()
    assert "jirahooks.server.app" in graph
    # an import at module level, one under TYPE_CHECKING, one inside a function
    assert "jirahooks.server.settings" in graph["jirahooks.server.app"]
    assert "jirahooks.server.state" in graph["jirahooks.server.metrics"]
    assert "jirahooks.server.jira_webhooks" not in graph["jirahooks.server.app"]


def test_relative_and_package_imports_are_resolved() -> None:
    modules = {"p", "p.a", "p.b", "p.q", "p.q.c", "p.q.d"}
    source = """
import p.a
from p import b, not_a_module
from . import d
from .. import a as x
from .c import name
import os
if TYPE_CHECKING:
    from p.q import c
def later():
    from p import b as hidden
"""
    nodes = _import_time_nodes(ast.parse(source).body)
    found = set().union(*(targets("p.q.c", False, n, modules) for n in nodes))
    assert found == {"p.a", "p.b", "p", "p.q.d"}  # itself (``.c``, ``p.q.c``) is no edge
    package = set().union(*(targets("p.q", True, n, modules) for n in nodes))
    assert {"p.q.c", "p.q.d"} <= package  # in a package's __init__, "." is the package
    assert len(nodes) == 7  # the function's import is not among them


def test_the_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_jirahooks() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles: " + "; ".join(" ↔ ".join(c) for c in found)
