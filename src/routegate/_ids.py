"""What a name, a model id or an env var name may look like, defined once for every module."""

from __future__ import annotations

import re

__all__ = ["ENV_NAME", "ENV_NAME_PATTERN", "SLUG", "SLUG_PATTERN", "UNSERVABLE", "UPSTREAM_SEPARATORS"]

UNSERVABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters and lone surrogates: no provider serves an id holding one."""

ENV_NAME_PATTERN = r"[A-Z_][A-Z0-9_]*"
"""An environment variable NAME (never a value): upper-case letters, digits and _, no leading digit."""

ENV_NAME = re.compile(ENV_NAME_PATTERN)

SLUG_PATTERN = r"[a-z0-9][a-z0-9._-]*"
"""A provider or runtime name: ASCII lower-case letters, digits, ``.``, ``_`` and ``-``.

It starts with a letter or digit, so a name is never mistaken for a command-line option.
Plain ASCII means a look-alike (``pl\\u0430tform``, with a Cyrillic a) or padding cannot pose as a real name.
"""

SLUG = re.compile(SLUG_PATTERN)

UPSTREAM_SEPARATORS = ("/", ":")
"""Where the platform's proxy splits a namespaced id into vendor and model, tried in this order."""
