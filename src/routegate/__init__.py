"""routegate: can this runtime run this model, which provider serves it, and who pays.

The stable API is what this module exports (``__all__``): the registry, its
value objects and decisions, ``diff``, and every exception routegate raises.
The modules beneath, one per concept (:mod:`routegate.gate`,
:mod:`routegate.publishing`, ...), are importable and documented by their own
``__all__`` for tools built like routegate's CLI and service, and may change
with the package's structure; everything in ``_modules`` is private.
"""

import importlib
from typing import TYPE_CHECKING, Any

from routegate.billing import PLATFORM, BillingMode
from routegate.codes import Code
from routegate.decision import Decision, DecisionPath
from routegate.errors import (
    AmbiguousModel,
    DeriveError,
    EmptyModel,
    GenerationError,
    InvalidManifest,
    InvalidPackageName,
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
from routegate.gate import GateRefusal
from routegate.lifecycle import InvalidLifecycleEntry, LifecycleEntry, Stage
from routegate.manifest import Arm, Manifest, Provider, Runtime
from routegate.registry import Explanation, MenuEntry, Registry
from routegate.resolution import Derivation, Upstream

if TYPE_CHECKING:
    from routegate.catalog import CatalogUnavailable, UnpatchableManifest
    from routegate.proof._budget import Budget
    from routegate.proof.diff import ChangeKind, ManifestDiff, diff
    from routegate.publishing import ManifestWouldStrand, UnknownManifestVersion
    from routegate.sync import UnreadableCopy

_LAZY = {
    "diff": "routegate.proof.diff",
    "ManifestDiff": "routegate.proof.diff",
    "ChangeKind": "routegate.proof.diff",
    "Budget": "routegate.proof._budget",
    "ManifestWouldStrand": "routegate.publishing",
    "UnknownManifestVersion": "routegate.publishing",
    "UnreadableCopy": "routegate.sync",
    "CatalogUnavailable": "routegate.catalog",
    "UnpatchableManifest": "routegate.catalog",
}
"""Exports read on first use, so a one-shot ``routegate check`` loads none of their modules:
the prover (its automata, the publish gate built on its diff) and the copy checker."""


def __getattr__(name: str) -> Any:
    """The :data:`_LAZY` exports, and ``__version__`` (the package metadata, see :mod:`routegate._version`)."""
    module = _LAZY.get(name)
    if module is not None:
        return getattr(importlib.import_module(module), name)
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
    "CatalogUnavailable",
    "ChangeKind",
    "Code",
    "Decision",
    "DecisionPath",
    "Derivation",
    "DeriveError",
    "EmptyModel",
    "Explanation",
    "GateRefusal",
    "GenerationError",
    "InvalidLifecycleEntry",
    "InvalidManifest",
    "InvalidPackageName",
    "InvalidTemplate",
    "LifecycleEntry",
    "Manifest",
    "ManifestDiff",
    "ManifestWouldStrand",
    "MenuEntry",
    "NotNamespaced",
    "Problem",
    "Provider",
    "Registry",
    "RoutegateError",
    "Runtime",
    "Stage",
    "TemplateNotFound",
    "UnknownManifestVersion",
    "UnknownRuntime",
    "UnpatchableManifest",
    "UnreadableCopy",
    "UnreadableManifest",
    "Unroutable",
    "UnsafeTemplateName",
    "Upstream",
    "diff",
]
