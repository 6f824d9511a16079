"""routegate: can this runtime run this model, which provider serves it, and who pays.

The public API is what this module exports; everything in ``_modules`` is private.
"""

from routegate.billing import PLATFORM, BillingMode
from routegate.decision import Code, Decision, DecisionPath
from routegate.diff import ChangeKind, ManifestDiff, diff
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

__version__ = "0.1.0"

__all__ = [
    "PLATFORM",
    "AmbiguousModel",
    "Arm",
    "BillingMode",
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
