"""routegate: can this runtime run this model, which provider serves it, and who pays.

The stable API is what this module exports (``__all__``): the registry, its
value objects and decisions, ``diff``, and every exception routegate raises.
The modules beneath, one per concept (:mod:`routegate.gate`,
:mod:`routegate.publishing`, ...), are importable and documented by their own
``__all__`` for tools built like routegate's CLI and service, and may change
with the package's structure; everything in ``_modules`` is private.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

    from routegate.billing import PLATFORM, BillingMode
    from routegate.catalog import CatalogUnavailable, UnpatchableManifest
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
    from routegate.proof._budget import Budget
    from routegate.proof.diff import ChangeKind, ManifestDiff, diff
    from routegate.publishing import ManifestWouldStrand, UnknownManifestVersion
    from routegate.registry import Explanation, MenuEntry, Registry
    from routegate.resolution import Derivation, Upstream
    from routegate.sync import UnreadableCopy

_HOMES = {
    "routegate.billing": ("PLATFORM", "BillingMode"),
    "routegate.catalog": ("CatalogUnavailable", "UnpatchableManifest"),
    "routegate.codes": ("Code",),
    "routegate.decision": ("Decision", "DecisionPath"),
    "routegate.errors": (
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
    ),
    "routegate.gate": ("GateRefusal",),
    "routegate.lifecycle": ("InvalidLifecycleEntry", "LifecycleEntry", "Stage"),
    "routegate.manifest": ("Arm", "Manifest", "Provider", "Runtime"),
    "routegate.proof._budget": ("Budget",),
    "routegate.proof.diff": ("ChangeKind", "ManifestDiff", "diff"),
    "routegate.publishing": ("ManifestWouldStrand", "UnknownManifestVersion"),
    "routegate.registry": ("Explanation", "MenuEntry", "Registry"),
    "routegate.resolution": ("Derivation", "Upstream"),
    "routegate.sync": ("UnreadableCopy",),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}
"""Where each export is defined. Each is read on first use, so ``import routegate`` loads none of
these modules and a one-shot ``routegate check`` loads only those its decision needs."""


def __getattr__(name: str) -> Any:
    """An export, imported from its module on first use and kept; or ``__version__`` (the package
    metadata, see :mod:`routegate._version`)."""
    module = _HOME.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    if name == "__version__":
        from routegate._version import version

        return version()
    raise AttributeError(f"module 'routegate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
