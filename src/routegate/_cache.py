"""A cache of validated manifests, keyed by the manifest file's exact bytes.

Validation (YAML parsing plus pydantic) costs more than everything else a
one-shot ``routegate check`` does. A manifest whose bytes were validated
before is rebuilt from its cached canonical data instead. The entry stores
the data's fingerprint and is discarded when it no longer matches, so a
damaged entry is revalidated, never trusted.

``ROUTEGATE_CACHE_DIR`` picks the folder; set it to ``off`` to disable.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

_VERSION = "1"  # bump when the canonical data's shape changes
_KEEP = 32  # entries kept; the least recently written go first


def _folder() -> Path | None:
    configured = os.environ.get("ROUTEGATE_CACHE_DIR")
    if configured is not None:
        return None if configured in ("", "off") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "routegate"


def _entry(raw: bytes) -> Path | None:
    folder = _folder()
    if folder is None:
        return None
    digest = hashlib.sha256(_VERSION.encode() + b"\0" + raw).hexdigest()
    return folder / f"manifest-{digest}.json"


def read(raw: bytes) -> dict[str, Any] | None:
    """The canonical data validated earlier for these exact bytes, or None."""
    from routegate.manifest import fingerprint

    entry = _entry(raw)
    if entry is None:
        return None
    try:
        stored = json.loads(entry.read_text(encoding="utf-8"))
        data = stored["data"]
        if fingerprint(data) != stored["fingerprint"]:
            return None
        return data
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write(raw: bytes, data: dict[str, Any], manifest_fingerprint: str) -> None:
    """Remember validated data; a cache that cannot be written is simply skipped."""
    import tempfile  # deferred: a cache hit never writes

    entry = _entry(raw)
    if entry is None:
        return
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=entry.parent, delete=False, suffix=".tmp", encoding="utf-8") as tmp:
            json.dump({"fingerprint": manifest_fingerprint, "data": data}, tmp)
        os.replace(tmp.name, entry)
        _prune(entry.parent)
    except OSError:
        pass


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("manifest-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in entries[_KEEP:]:
        stale.unlink(missing_ok=True)
