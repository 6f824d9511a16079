"""The package's modules form layers: no import cycle, counting deferred and ``TYPE_CHECKING`` imports.

Every module of ``src/routegate`` is parsed with :mod:`ast` and every import
statement anywhere in it (module level, inside functions, under ``if
TYPE_CHECKING:``) becomes an edge to the routegate module it names. A module
that imports a package's submodule depends on that submodule, not on the
package's ``__init__``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import routegate

SOURCE = Path(routegate.__file__).parent


def modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``) for every ``.py`` under ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def imported(name: str, path: Path, package: bool, known: Mapping[str, object]) -> set[str]:
    """The known modules ``name`` imports, wherever in the file the import statement is."""
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in known:
                    targets.add(submodule)
                elif source in known:
                    targets.add(source)
    targets.discard(name)
    return targets


def import_graph(root: Path) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imported(name, path, package, known) for name, (path, package) in known.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Each strongly connected group of two or more modules, as one import path that closes the loop."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(start: str) -> None:
        # Tarjan's algorithm, iterative so a deep graph cannot hit the recursion limit.
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        order[start] = low[start] = len(order)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in order:
                    order[successor] = low[successor] = len(order)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], order[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == order[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(_loop(graph, set(group)))

    for name in sorted(graph):
        if name not in order:
            visit(name)
    return groups


def _loop(graph: Mapping[str, set[str]], group: set[str]) -> list[str]:
    """A concrete import path inside ``group`` from its first module back to itself."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for successor in sorted(graph[node] & group):
            if successor == start:
                return [*paths[node], start]
            if successor not in paths:
                paths[successor] = [*paths[node], successor]
                frontier.append(successor)
    raise AssertionError("a strongly connected group always closes a loop")


def reaches(graph: Mapping[str, set[str]], source: str, target: str) -> bool:
    seen, frontier = {source}, [source]
    while frontier:
        for successor in graph[frontier.pop()]:
            if successor == target:
                return True
            if successor not in seen:
                seen.add(successor)
                frontier.append(successor)
    return False


def test_no_import_cycle_among_the_package_modules() -> None:
    graph = import_graph(SOURCE)
    assert len(graph) > 40 and "routegate.gen.go" in graph
    found = cycles(graph)
    assert not found, "import cycles: " + "; ".join(" -> ".join(loop) for loop in found)


@pytest.mark.parametrize(
    "lower, upper",
    [
        ("routegate.decision", "routegate.registry"),
        ("routegate.registry", "routegate.gate"),
        ("routegate.resolution", "routegate.decision"),
        ("routegate.manifest", "routegate.resolution"),
        ("routegate.errors", "routegate.manifest"),
    ],
)
def test_each_layer_sits_below_the_next(lower: str, upper: str) -> None:
    graph = import_graph(SOURCE)
    assert reaches(graph, upper, lower), f"{upper} is expected to build on {lower}"
    assert not reaches(graph, lower, upper), f"{lower} must not import {upper}, even deferred"


def test_only_the_edges_reach_the_service() -> None:
    """The core never imports the service; the command line and the gateway integrations may."""
    graph = import_graph(SOURCE)
    web = "routegate.service"
    edges = ("routegate.cli", "routegate.integrations")
    core = [name for name in graph if not name.startswith((web, *edges))]
    leaking = [name for name in core if any(reaches(graph, name, target) for target in graph if target.startswith(web))]
    assert not leaking


# Crafted packages: a cycle closed by each kind of import the test must count.
CLOSERS = {
    "module level": "import pkg.a\n",
    "inside a function": "def f():\n    from pkg import a\n",
    "under TYPE_CHECKING": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import thing\n",
    "relative": "from . import a\n",
    "relative from a package": "from .a import thing\n",
    "submodule by from-import": "from pkg import a as renamed\n",
}


@pytest.mark.parametrize("closer", CLOSERS.values(), ids=CLOSERS.keys())
def test_the_scan_counts_every_kind_of_import(tmp_path: Path, closer: str) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\nthing = 1\n")
    (package / "sub" / "b.py").write_text("from pkg import c\n")
    (package / "c.py").write_text(closer)
    assert cycles(import_graph(package)) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]
    (package / "c.py").write_text("import os\n")
    assert cycles(import_graph(package)) == []
