"""The package stays readable in pieces: no module over 500 lines, no function over 60.

Every ``.py`` file of ``src/routegate`` is measured, the generated-code
templates under ``gen/templates`` excepted (they are the emitted program, not
routegate's own code). A function counts from its ``def`` line to its last
line, methods and nested functions included; each one too long is named in the
failure, with its place, so the message says what to split.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import routegate

SOURCE = Path(routegate.__file__).parent
GENERATED = SOURCE / "gen" / "templates"
MODULE_LIMIT = 500
FUNCTION_LIMIT = 60

Function = ast.FunctionDef | ast.AsyncFunctionDef


def sources(root: Path, excluded: tuple[Path, ...] = ()) -> list[Path]:
    return [path for path in sorted(root.rglob("*.py")) if not any(path.is_relative_to(skip) for skip in excluded)]


def functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, Function]]:
    """Every function under ``node`` with its qualified name (``Class.method``, ``outer.inner``)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, Function | ast.ClassDef):
            name = f"{prefix}{child.name}"
            if isinstance(child, Function):
                yield name, child
            yield from functions(child, f"{name}.")
        else:
            yield from functions(child, prefix)


def long_modules(root: Path, excluded: tuple[Path, ...] = ()) -> list[str]:
    """``path: N lines`` for each module over :data:`MODULE_LIMIT` lines."""
    found = []
    for path in sources(root, excluded):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MODULE_LIMIT:
            found.append(f"{path.relative_to(root.parent)}: {lines} lines")
    return found


def long_functions(root: Path, excluded: tuple[Path, ...] = ()) -> list[str]:
    """``path:line name: N lines`` for each function over :data:`FUNCTION_LIMIT` lines."""
    found = []
    for path in sources(root, excluded):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, function in functions(tree):
            lines = (function.end_lineno or function.lineno) - function.lineno + 1
            if lines > FUNCTION_LIMIT:
                found.append(f"{path.relative_to(root.parent)}:{function.lineno} {name}: {lines} lines")
    return found


def test_no_module_is_over_500_lines() -> None:
    assert len(sources(SOURCE, (GENERATED,))) > 40
    found = long_modules(SOURCE, (GENERATED,))
    assert not found, f"modules over {MODULE_LIMIT} lines: " + "; ".join(found)


def test_no_function_is_over_60_lines() -> None:
    found = long_functions(SOURCE, (GENERATED,))
    assert not found, f"functions over {FUNCTION_LIMIT} lines: " + "; ".join(found)


def _function(name: str, lines: int, indent: str = "") -> str:
    """A function of exactly ``lines`` lines, counting its ``def``."""
    body = "".join(f"{indent}    x = {n}\n" for n in range(lines - 1))
    return f"{indent}def {name}() -> None:\n{body}"


def test_the_scan_names_each_module_and_function_past_its_limit(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "templates").mkdir()
    (package / "__init__.py").write_text("")
    (package / "sub" / "long.py").write_text("x = 1\n" * (MODULE_LIMIT + 1))
    (package / "sub" / "full.py").write_text("x = 1\n" * MODULE_LIMIT)
    (package / "funcs.py").write_text(
        _function("fits", FUNCTION_LIMIT)
        + _function("sprawls", FUNCTION_LIMIT + 1)
        + "class Box:\n"
        + _function("method", FUNCTION_LIMIT + 1, indent="    ")
        + "if True:\n"
        + "    def outer() -> None:\n"
        + _function("inner", FUNCTION_LIMIT + 1, indent="        ")
    )
    (package / "templates" / "emitted.py").write_text(_function("huge", 2 * FUNCTION_LIMIT) * 10)
    excluded = (package / "templates",)

    assert long_modules(package, excluded) == [f"pkg/sub/long.py: {MODULE_LIMIT + 1} lines"]
    assert long_functions(package, excluded) == [
        f"pkg/funcs.py:{FUNCTION_LIMIT + 1} sprawls: {FUNCTION_LIMIT + 1} lines",
        f"pkg/funcs.py:{2 * FUNCTION_LIMIT + 3} Box.method: {FUNCTION_LIMIT + 1} lines",
        f"pkg/funcs.py:{3 * FUNCTION_LIMIT + 5} outer: {FUNCTION_LIMIT + 2} lines",
        f"pkg/funcs.py:{3 * FUNCTION_LIMIT + 6} outer.inner: {FUNCTION_LIMIT + 1} lines",
    ]
    assert long_modules(package) == [
        f"pkg/sub/long.py: {MODULE_LIMIT + 1} lines",
        f"pkg/templates/emitted.py: {20 * FUNCTION_LIMIT} lines",
    ]
