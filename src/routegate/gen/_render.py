"""The Jinja environment for the code targets' templates (package data beside this module)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

DERIVE_FAILURE_KINDS = ("unknown_runtime", "empty_model", "unroutable", "ambiguous")
"""derive()'s failures as every generated target names them (Go's ``Kind*``, TypeScript's ``DeriveErrorKind``)."""


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def render(template: str, **values: object) -> str:
    return environment().get_template(template).render(**values)
