"""routegate: can this runtime run this model, which provider serves it, and who pays.

The public API is what this module exports; everything in ``_modules`` is private.
"""

from typing import TYPE_CHECKING, Any

from routegate.billing import PLATFORM, BillingMode
from routegate.decision import Code, Decision, DecisionPath
from routegate.errors import (
    AmbiguousModel,
    DeriveError,
    EmptyModel,
    InvalidManifest,
    InvalidTemplate,
    NotNamespaced,
    Problem,
    RoutegateError,
    TemplateNotFound,
    UnknownRuntime,
    UnreadableManifest,
    Unroutable,
    UnsafeTemplateName,
)
from routegate.manifest import Arm, Manifest, Provider, Runtime
from routegate.registry import Explanation, MenuEntry, Registry
from routegate.resolution import Derivation, Upstream

if TYPE_CHECKING:
    from routegate.proof._budget import Budget
    from routegate.proof.diff import ChangeKind, ManifestDiff, diff

_PROOF = frozenset({"ChangeKind", "ManifestDiff", "diff"})


def __getattr__(name: str) -> Any:
    """Read on first use, so a one-shot ``routegate check`` loads none of them: the prover's
    ``diff``, ``ManifestDiff``, ``ChangeKind`` and ``Budget`` (the automata), and ``__version__``
    (the package metadata, see :mod:`routegate._version`)."""
    if name in _PROOF:
        from routegate.proof import diff as module

        return getattr(module, name)
    if name == "Budget":
        from routegate.proof._budget import Budget

        return Budget
    if name == "__version__":
        from routegate._version import version

        return version()
    raise AttributeError(f"module 'routegate' has no attribute {name!r}")


__all__ = [
    "PLATFORM",
    "AmbiguousModel",
    "Arm",
    "BillingMode",
    "Budget",
    "ChangeKind",
    "Code",
    "Decision",
    "DecisionPath",
    "Derivation",
    "DeriveError",
    "EmptyModel",
    "Explanation",
    "InvalidManifest",
    "InvalidTemplate",
    "Manifest",
    "ManifestDiff",
    "MenuEntry",
    "NotNamespaced",
    "Problem",
    "Provider",
    "Registry",
    "RoutegateError",
    "Runtime",
    "TemplateNotFound",
    "UnknownRuntime",
    "UnreadableManifest",
    "Unroutable",
    "UnsafeTemplateName",
    "Upstream",
    "diff",
]
