"""The one progress display of the CLI: a bar on stderr for a person watching a long step."""

from __future__ import annotations

import sys

__all__ = ["TerminalProgress"]


class TerminalProgress:
    """A bar on one stderr line, rewritten in place as ``(done, total)`` arrive, and erased at the end
    of the ``with`` block (also when it raises, before the error is reported).

    Drawn only when stderr is a terminal and ``total`` reaches ``start_from``: redirected output
    never sees it, a short step nobody waits for stays quiet, and a terminal is left clean.
    """

    WIDTH = 30

    def __init__(self, label: str, start_from: int) -> None:
        self.label = label
        self.start_from = max(1, start_from)
        self._terminal = sys.stderr.isatty()
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self._terminal or total < self.start_from:
            return
        filled = self.WIDTH * done // total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {100 * done // total:3d}% {done}/{total}")
        sys.stderr.flush()
        self._drawn = True

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, *raised: object) -> None:
        if self._drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._drawn = False
