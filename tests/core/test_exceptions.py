"""One exception tree: the drawing in ``routegate.errors`` is the classes, and ``routegate`` exports them.

Every core module is imported, so each :class:`RoutegateError` subclass is
found wherever it is defined; the drawing then has to name each one with its
parent, its second base and its module, and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass

import routegate
from routegate import RoutegateError, errors

_LINE = re.compile(r"(?P<indent>[ │├└─]*)(?P<name>\w+)(?: \((?P<also>\w+)\))?(?: +(?P<module>[\w.]+))?")


@dataclass(frozen=True)
class Drawn:
    parent: str | None
    also: str | None
    module: str


def drawn_tree() -> dict[str, Drawn]:
    """Each class the docstring's drawing names, with what the drawing says of it."""
    doc = errors.__doc__ or ""
    lines = doc[doc.index("    RoutegateError") :].split("\n\n")[0].splitlines()
    found: dict[str, Drawn] = {}
    path: list[str] = []
    for line in lines:
        match = _LINE.fullmatch(line[4:])
        assert match, f"not a line of the drawing: {line!r}"
        depth = len(match["indent"]) // 4
        path[depth:] = [match["name"]]
        module = f"routegate.{match['module'] or 'errors'}"
        found[match["name"]] = Drawn(path[-2] if depth else None, match["also"], module)
    return found


def actual_tree() -> dict[str, Drawn]:
    """Every RoutegateError subclass in the core, with its parent in the tree and its other base."""
    package = routegate.__path__
    for module in pkgutil.walk_packages(package, prefix="routegate."):
        if not module.name.startswith("routegate.service"):
            importlib.import_module(module.name)
    found: dict[str, Drawn] = {}
    pending: list[type[BaseException]] = [RoutegateError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("routegate.service") or cls.__module__.startswith("tests."):
            continue
        ours = [base.__name__ for base in cls.__bases__ if issubclass(base, RoutegateError)]
        others = [base.__name__ for base in cls.__bases__ if not issubclass(base, RoutegateError)]
        if not ours:  # the root
            assert others == ["Exception"]
            others = []
        assert len(ours) <= 1 and len(others) <= 1, f"{cls.__name__}: draw a tree, not a lattice"
        found[cls.__name__] = Drawn(next(iter(ours), None), next(iter(others), None), cls.__module__)
    return found


def test_the_drawn_tree_is_the_class_tree() -> None:
    assert drawn_tree() == actual_tree()


def test_routegate_exports_every_exception_outside_the_prover() -> None:
    public = {name: drawn for name, drawn in actual_tree().items() if not drawn.module.startswith("routegate.proof")}
    exported = {name for name in routegate.__all__ if isinstance(getattr(routegate, name), type)}
    assert public.keys() <= exported
    for name in public:
        assert getattr(routegate, name).__module__ == public[name].module


def test_every_exception_routegate_exports_is_a_routegate_error() -> None:
    exceptions = [getattr(routegate, name) for name in routegate.__all__]
    exceptions = [cls for cls in exceptions if isinstance(cls, type) and issubclass(cls, BaseException)]
    assert len(exceptions) > 15
    assert all(issubclass(cls, RoutegateError) for cls in exceptions)
