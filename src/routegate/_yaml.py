"""YAML loading that refuses what PyYAML would silently resolve.

A mapping key given twice keeps only its last value in PyYAML: a second
``model_prefix_match`` or a second runtime of the same name would quietly win.
Here every duplicate is reported, so a manifest or template fails closed.
"""

from __future__ import annotations

from typing import Any

import yaml

from routegate.errors import Problem

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):  # type: ignore[misc]
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[Problem] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in first_line:
                    self.duplicates.append(
                        Problem(
                            f"line {line}",
                            f"duplicate key {key!r} (first at line {first_line[key]}); "
                            "YAML would keep only the last one: remove or merge the other",
                        )
                    )
                else:
                    first_line[key] = line
            except TypeError:
                pass  # an unhashable key: the base constructor reports it
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def load(text: str) -> tuple[object, list[Problem]]:
    """Parse one YAML document; return it with every duplicate key found.

    Raises ``yaml.YAMLError`` for text that is not YAML at all.
    """
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data(), loader.duplicates
    finally:
        loader.dispose()
