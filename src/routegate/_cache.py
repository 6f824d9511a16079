"""A cache of validated manifests, for one-shot decision commands.

Validation (YAML parsing plus pydantic) costs more than everything else a
one-shot ``routegate check`` does. A manifest whose bytes were validated
before, under the same load rules, is rebuilt from its cached canonical data.
The key covers the file's bytes and the source of the modules that define the
rules and the data's shape, so a routegate with other rules never reuses an
entry. An entry whose data no longer matches its stored fingerprint (a
damaged file) is revalidated. The cache is a speed-up, not a trust boundary:
whoever can write the folder can also edit the manifest. The CI gates
(lint, drift, gen) always validate.

``ROUTEGATE_CACHE_DIR`` picks the folder; set it to ``off`` to disable.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from routegate._fingerprint import fingerprint

_RULES = ("_schema.py", "manifest.py", "_yaml.py", "_ids.py", "_fingerprint.py")  # what decides validity and data shape
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
    key = hashlib.sha256()
    here = Path(__file__).parent
    for name in _RULES:
        key.update((here / name).read_bytes())
        key.update(b"\0")
    key.update(raw)
    return folder / f"manifest-{key.hexdigest()}.json"


def read(raw: bytes) -> dict[str, Any] | None:
    """The canonical data validated earlier for these exact bytes, or None."""
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
