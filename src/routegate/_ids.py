"""What a name, a model id or an env var name may look like, defined once for every module."""

from __future__ import annotations

import re
import unicodedata
from types import MappingProxyType

__all__ = [
    "ENV_NAME",
    "ENV_NAME_PATTERN",
    "HIDDEN_CATEGORIES",
    "SLUG",
    "SLUG_PATTERN",
    "UNSERVABLE",
    "UPSTREAM_SEPARATORS",
    "hidden_character",
]

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

HIDDEN_CATEGORIES = MappingProxyType(
    {
        "Cc": "a control character",
        "Cf": "a format character",
        "Zl": "a line separator",
        "Zp": "a paragraph separator",
        "Cs": "a lone surrogate",
    }
)
"""Characters that do not show what a text says, refused in every text routegate takes in.

Controls, format characters (bidi overrides such as U+202E, zero-width spaces such
as U+200B), line and paragraph separators, and lone surrogates: with one of them, an id
or a label can look like another one in the console, in a diff or in a log.
"""


def hidden_character(text: str) -> str | None:
    """Why ``text`` does not show what it says (its first hidden character), or None.

    The text itself is not echoed: it may be a pasted secret.
    """
    if text.isprintable():  # every hidden category is unprintable: most text needs no closer look
        return None
    for position, char in enumerate(text):
        kind = HIDDEN_CATEGORIES.get(unicodedata.category(char))
        if kind is not None:
            name = unicodedata.name(char, "")
            shown = f"U+{ord(char):04X}" + (f" {name}" if name else "")
            return (
                f"{shown} at position {position} is {kind}; text fields refuse control and format characters "
                f"(Unicode {', '.join(HIDDEN_CATEGORIES)}): remove it"
            )
    return None
