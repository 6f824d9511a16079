"""routegate: can this runtime run this model, which provider serves it, and who pays.

The public API is what this module exports; everything in ``_modules`` is private.
"""

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


def __getattr__(name: str) -> str:
    """``__version__`` from the package metadata, read on first use (see :mod:`routegate._version`)."""
    if name == "__version__":
        from routegate._version import version

        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PLATFORM",
    "AmbiguousModel",
    "Arm",
    "BillingMode",
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
]
