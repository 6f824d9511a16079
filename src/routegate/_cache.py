"""An authenticated cache of validated manifests, for one-shot decision commands.

Validation (YAML, the pydantic schema, every runtime's RE2 set) costs more
than everything else a one-shot ``routegate check`` does. A manifest whose
exact bytes were validated before, under the same rules, is rebuilt from what
was stored then: its canonical data and what the manifest module worked out
from it.

No file in the cache folder can change a decision: each entry carries an
HMAC-SHA256 over its data, bound to the manifest's bytes and to the rules
(routegate's validating modules and the libraries they lean on), under a
random per-user key kept *outside* the cache folder
(``$XDG_CONFIG_HOME/routegate/cache.key``, created 0600). An entry copied
from another manifest, edited, or written by anyone without the key fails
verification and is ignored: the manifest is validated again. Without a
usable key the cache is off.

``ROUTEGATE_CACHE_DIR`` picks the folder; set it to ``off`` to disable.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import stat

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

__all__ = ["read", "write"]

_RULES = ("_cache.py", "_schema.py", "manifest.py", "_yaml.py", "_ids.py", "_re2.py", "billing.py", "_fingerprint.py")
"""routegate's modules that decide validity and the data's shape."""

_LIBRARIES = ("pydantic", "pydantic_core", "yaml", "re2")
"""Libraries whose behaviour is part of the rules: a reinstall of any of them retires every entry."""

_KEY_BYTES = 32
_KEEP = 32  # entries kept; the least recently written go first
_TAG = b"routegate manifest cache 1\0"


# Paths are plain strings: a one-shot command's cache hit should not pay for importing pathlib.


def _folder() -> str | None:
    configured = os.environ.get("ROUTEGATE_CACHE_DIR")
    if configured is not None:
        return None if configured in ("", "off") else configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "routegate")


def _key_path(folder: str) -> str | None:
    """Where the key lives; None when that would be inside the cache folder (the key must not sit beside entries)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    path = os.path.join(base, "routegate", "cache.key")
    resolved, within = os.path.realpath(path), os.path.realpath(folder)
    if os.path.commonpath((resolved, within)) == within:
        return None
    return path


def _key(folder: str, *, create: bool) -> bytes | None:
    path = _key_path(folder)
    if path is None:
        return None
    return _read_key(path) or (_create_key(path) if create else None)


def _read_key(path: str) -> bytes | None:
    """The key, if it is a regular file of ours that nobody else can read or write."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None
        key = os.read(fd, _KEY_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return key if len(key) == _KEY_BYTES else None


def _create_key(path: str) -> bytes | None:
    import secrets  # deferred: only the first write ever creates a key

    key = secrets.token_bytes(_KEY_BYTES)
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return _read_key(path)  # another process made it first
    except OSError:
        return None
    with os.fdopen(fd, "wb") as file:
        file.write(key)
    return key


def _rules_digest() -> bytes:
    import importlib.util

    digest = hashlib.sha256()
    here = os.path.dirname(__file__)
    for name in _RULES:
        with open(os.path.join(here, name), "rb") as rule:
            digest.update(rule.read() + b"\0")
    for library in _LIBRARIES:
        spec = importlib.util.find_spec(library)
        origin = spec.origin if spec is not None and spec.origin else ""
        info = os.stat(origin) if origin else None
        digest.update(f"{library}={origin}:{info and info.st_mtime_ns}:{info and info.st_size}\0".encode())
    return digest.digest()


def _binding(raw: bytes) -> bytes:
    """What an entry is valid for: these exact manifest bytes under these rules."""
    return hashlib.sha256(_rules_digest() + raw).digest()


def _mac(key: bytes, binding: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _TAG + binding + payload, hashlib.sha256).hexdigest().encode("ascii")


def read(raw: bytes) -> dict[str, Any] | None:
    """What :func:`write` stored for these exact bytes; None on a miss or a forged entry."""
    folder = _folder()
    key = None if folder is None else _key(folder, create=False)
    if folder is None or key is None:
        return None
    binding = _binding(raw)
    try:
        with open(os.path.join(folder, f"manifest-{binding.hex()}"), "rb") as entry:
            mac, _, payload = entry.read().partition(b"\n")
    except OSError:
        return None
    if not hmac.compare_digest(mac, _mac(key, binding, payload)):
        return None
    data: dict[str, Any] = json.loads(payload)
    return data


def write(raw: bytes, data: dict[str, Any]) -> None:
    """Remember what validating ``raw`` gave; a cache that cannot be written, or has no key, is simply skipped."""
    import tempfile  # deferred: a cache hit never writes

    folder = _folder()
    key = None if folder is None else _key(folder, create=True)
    if folder is None or key is None:
        return
    binding = _binding(raw)
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=folder, delete=False, suffix=".tmp") as tmp:
            tmp.write(_mac(key, binding, payload) + b"\n" + payload)
        os.replace(tmp.name, os.path.join(folder, f"manifest-{binding.hex()}"))
        _prune(folder)
    except OSError:
        pass


def _prune(folder: str) -> None:
    with os.scandir(folder) as found:
        entries = [entry for entry in found if entry.name.startswith("manifest-")]
    entries.sort(key=lambda entry: entry.stat().st_mtime, reverse=True)
    for stale in entries[_KEEP:]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(stale.path)
