"""Synced copies of the manifest: byte equality with the canonical file, or a pinned sha256.

A second repository that vendors ``providers.yaml`` must hold the same bytes,
not merely the same data: reviewers read the copy. A check that cannot reach
the canonical file pins its sha256 instead.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from routegate.errors import RoutegateError

__all__ = ["Difference", "SyncResult", "UnreadableCopy", "parse_pin", "sync_check"]

_PIN = re.compile(r"[0-9a-fA-F]{64}")
_SHOWN = 120  # characters of a differing line shown


class UnreadableCopy(RoutegateError, OSError):
    """A file to compare cannot be read."""


@dataclass(frozen=True, slots=True)
class Difference:
    """The first line (1-based) where the copy departs from the canonical; None text means "ended here"."""

    line: int
    canonical: str | None
    copy: str | None


@dataclass(frozen=True, slots=True)
class SyncResult:
    copy: Path
    copy_sha256: str
    canonical: Path | None = None
    canonical_sha256: str | None = None
    pin: str | None = None
    difference: Difference | None = None

    @property
    def equal(self) -> bool | None:
        return None if self.canonical_sha256 is None else self.canonical_sha256 == self.copy_sha256

    @property
    def pin_matches(self) -> bool | None:
        return None if self.pin is None else self.pin == self.copy_sha256

    @property
    def ok(self) -> bool:
        return self.equal is not False and self.pin_matches is not False

    def to_dict(self) -> dict[str, Any]:
        diff = self.difference
        return {
            "ok": self.ok,
            "copy": {"path": str(self.copy), "sha256": self.copy_sha256},
            "canonical": None
            if self.canonical is None
            else {"path": str(self.canonical), "sha256": self.canonical_sha256},
            "pin": self.pin,
            "equal": self.equal,
            "pin_matches": self.pin_matches,
            "first_difference": None
            if diff is None
            else {"line": diff.line, "canonical": diff.canonical, "copy": diff.copy},
        }


def parse_pin(pin: str) -> str:
    """A sha256 pin, lower-cased; ValueError when it is not 64 hex digits."""
    pin = pin.strip()
    if not _PIN.fullmatch(pin):
        raise ValueError(f"--pin must be a sha256: 64 hex digits, got {len(pin)} characters")
    return pin.lower()


def sync_check(
    copy: str | PathLike[str], canonical: str | PathLike[str] | None = None, *, pin: str | None = None
) -> SyncResult:
    """Compare ``copy`` with ``canonical`` byte for byte and/or with a pinned sha256."""
    if canonical is None and pin is None:
        raise ValueError("give the canonical file, a --pin, or both")
    copy_path = Path(copy)
    copy_bytes = _read(copy_path)
    canonical_path = None if canonical is None else Path(canonical)
    canonical_bytes = None if canonical_path is None else _read(canonical_path)
    return SyncResult(
        copy=copy_path,
        copy_sha256=_sha256(copy_bytes),
        canonical=canonical_path,
        canonical_sha256=None if canonical_bytes is None else _sha256(canonical_bytes),
        pin=None if pin is None else parse_pin(pin),
        difference=None if canonical_bytes is None else first_difference(canonical_bytes, copy_bytes),
    )


def first_difference(canonical: bytes, copy: bytes) -> Difference | None:
    if canonical == copy:
        return None
    ours, theirs = canonical.splitlines(keepends=True), copy.splitlines(keepends=True)
    for number, (a, b) in enumerate(zip(ours, theirs, strict=False), 1):
        if a != b:
            return Difference(number, _show(a), _show(b))
    number = min(len(ours), len(theirs)) + 1
    return Difference(
        number,
        _show(ours[number - 1]) if number <= len(ours) else None,
        _show(theirs[number - 1]) if number <= len(theirs) else None,
    )


def _show(line: bytes) -> str:
    # repr shows what eyes miss: trailing spaces, \r, tabs, a missing final newline.
    text = repr(line.decode("utf-8", "replace"))
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise UnreadableCopy(f"cannot read {path}: {error.strerror or error}") from None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
