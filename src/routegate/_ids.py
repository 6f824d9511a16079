"""What a model id or an env var name may look like, defined once for every module."""

from __future__ import annotations

import re

UNSERVABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters and lone surrogates: no provider serves an id holding one."""

ENV_NAME_PATTERN = r"[A-Z_][A-Z0-9_]*"
"""An environment variable NAME (never a value): upper-case letters, digits and _, no leading digit."""

ENV_NAME = re.compile(ENV_NAME_PATTERN)

UPSTREAM_SEPARATORS = ("/", ":")
"""Where the platform's proxy splits a namespaced id into vendor and model, tried in this order."""
