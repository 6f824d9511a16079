"""Exceptions: one type per way routegate can fail, all in one tree.

Every exception routegate raises on purpose is a :class:`RoutegateError`, so
one ``except RoutegateError`` catches them all, and :mod:`routegate` exports
each one (but the prover's, which never leave :mod:`routegate.proof`: its
questions report them as *unproven*). Most are defined here; one that carries
a concept's own values is defined beside the concept (its module at the right).
A second base in brackets lets ``except ValueError`` and the like catch it too::

    RoutegateError
    ├── InvalidManifest (ValueError)
    │   └── UnreadableManifest
    ├── InvalidTemplate (ValueError)
    │   └── UnsafeTemplateName
    ├── TemplateNotFound (LookupError)
    ├── DeriveError (LookupError)
    │   ├── UnknownRuntime
    │   ├── EmptyModel (ValueError)
    │   ├── Unroutable
    │   └── AmbiguousModel
    ├── NotNamespaced (LookupError)
    ├── GenerationError (ValueError)
    ├── InvalidPackageName (ValueError)
    ├── InvalidLifecycleEntry (ValueError)      lifecycle
    ├── GateRefusal                             gate
    ├── ManifestWouldStrand                     publishing
    ├── UnknownManifestVersion (LookupError)    publishing
    ├── UnreadableCopy (OSError)                sync
    ├── CatalogUnavailable (OSError)            catalog
    ├── UnpatchableManifest (ValueError)        catalog
    └── NotProven                               proof._budget
        ├── OverBudget                          proof._budget
        └── BeyondProver                        proof._automata

Each carries what a caller needs to act on it (the problems of a manifest,
the candidates of an ambiguous id, a refusal's code) as attributes, not only
in the message. ``tests/core/test_exceptions.py`` holds this drawing to the classes.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AmbiguousModel",
    "DeriveError",
    "EmptyModel",
    "GenerationError",
    "InvalidManifest",
    "InvalidPackageName",
    "InvalidTemplate",
    "NotNamespaced",
    "Problem",
    "RoutegateError",
    "TemplateNotFound",
    "UnknownRuntime",
    "UnreadableManifest",
    "Unroutable",
    "UnsafeTemplateName",
]


class RoutegateError(Exception):
    """Base of every error routegate raises on purpose (the tree is drawn above)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a document, and where: ``providers[3].protocol``."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class InvalidManifest(RoutegateError, ValueError):
    """The manifest breaks a load rule. ``problems`` lists every one, not the first."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...], source: str = "manifest") -> None:
        self.problems = tuple(problems)
        self.source = source
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} {noun}\n{lines}")


class UnreadableManifest(InvalidManifest):
    """The manifest file cannot be read at all (missing, unreadable, not UTF-8)."""


class InvalidTemplate(RoutegateError, ValueError):
    """A template's ``config.yaml`` cannot be read or is not the expected shape."""


class UnsafeTemplateName(InvalidTemplate):
    """A template name that would resolve outside the templates root (``..``, absolute, symlink out)."""


class TemplateNotFound(RoutegateError, LookupError):
    """No template of that name under the templates root."""


class DeriveError(RoutegateError, LookupError):
    """derive() could not name one provider."""

    def __init__(self, message: str, *, candidates: tuple[str, ...] = ()) -> None:
        self.candidates = candidates
        super().__init__(message)


class UnknownRuntime(DeriveError):
    """A runtime the registry does not describe; ``nearest`` names the closest runtimes it knows."""

    def __init__(self, message: str, *, nearest: tuple[str, ...] = ()) -> None:
        self.nearest = nearest
        super().__init__(message)


class EmptyModel(DeriveError, ValueError):
    """The model id is empty, or only white space."""


class Unroutable(DeriveError):
    """No provider serves the model id."""


class AmbiguousModel(DeriveError):
    """Several providers serve the model id and nothing settles which; ``candidates`` names them."""


class NotNamespaced(RoutegateError, LookupError):
    """upstream(): the id does not start with any provider's upstream vendor."""


class GenerationError(RoutegateError, ValueError):
    """``routegate gen``: the manifest cannot be expressed faithfully in the target (a pattern it reads otherwise)."""

    def __init__(self, message: str, *, provider: str | None = None, pattern: str | None = None) -> None:
        self.provider = provider
        self.pattern = pattern
        super().__init__(message)


class InvalidPackageName(RoutegateError, ValueError):
    """``routegate gen --target go --package NAME``: NAME is not a name Go accepts in a package clause."""
