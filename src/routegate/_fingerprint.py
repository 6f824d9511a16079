"""The data fingerprint of a manifest: what identifies it across copies, caches and generated code."""

from __future__ import annotations

import json
from collections.abc import Mapping

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["fingerprint"]


def fingerprint(data: Mapping[str, Any]) -> str:
    """16 hex chars of sha256 over canonical JSON: comments and layout do not count, data does.

    Runtimes are hashed in declared order (as a list), since their order is data:
    it is the order every listing and generated artifact shows.
    """
    import hashlib  # deferred: a one-shot decision never computes a fingerprint

    ordered = {**data, "runtimes": [[name, runtime] for name, runtime in data["runtimes"].items()]}
    canonical = json.dumps(ordered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
