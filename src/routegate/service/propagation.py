"""How a process learns that the fleet's active manifest version changed: one watcher thread.

The thread sleeps in ``select()`` on three things and acts on whichever comes first:

* a PostgreSQL ``NOTIFY`` on :data:`~.db.NOTIFY_CHANNEL` (the push, milliseconds);
* a byte in a pipe this process writes to (:meth:`ManifestWatcher.wake`), which is all a
  signal handler does: no lock, no I/O beyond one non-blocking ``write``;
* the poll interval running out (the safety net, and SQLite's only mechanism).

Then it calls ``on_wake(reload_requested)`` on its own thread, never on the event loop.
Wake-ups that arrive while it works collapse into the next round, so overlapping
requests coalesce. An exception is logged and the thread carries on: the caller keeps
serving its last good version.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

from .db import NOTIFY_CHANNEL

__all__ = ["ManifestWatcher"]

log = logging.getLogger("routegate.service")

_RELOAD = b"R"  # re-read the configured manifest file and publish it, then sync
_SYNC = b"S"  # only look at the database now
_STOP = b"X"
_RELISTEN_SECONDS = 5.0  # while PostgreSQL is away, polling carries on and LISTEN is retried this often


class ManifestWatcher:
    """A daemon thread that calls ``on_wake`` on NOTIFY, on :meth:`wake`, or every ``interval`` seconds.

    ``name`` says what it follows, in its thread's name and its log lines (the call tokens' view has one too).
    """

    def __init__(
        self, database_url: str, interval: float, on_wake: Callable[[bool], None], *, name: str = "manifest"
    ) -> None:
        self._name = name
        self._url = make_url(database_url)
        self._interval = interval
        self._on_wake = on_wake
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"routegate-{name}-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self, *, reload: bool = False) -> None:
        """Ask for a round now. Safe in a signal handler: one non-blocking write, no lock."""
        with contextlib.suppress(BlockingIOError):  # a full pipe: the next round serves every wake-up in it
            os.write(self._write, _RELOAD if reload else _SYNC)

    def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        with contextlib.suppress(BlockingIOError):
            os.write(self._write, _STOP)
        if self._thread.is_alive():
            self._thread.join(10)
        os.close(self._read)
        os.close(self._write)

    def _run(self) -> None:
        listener: Any = None
        failing: str | None = None  # the last round's failure, logged once until a round succeeds
        listen_at = 0.0 if self._url.get_backend_name() == "postgresql" else float("inf")
        while not self._stopping:
            if listener is None and time.monotonic() >= listen_at:
                listener = self._listen()
                listen_at = time.monotonic() + _RELISTEN_SECONDS
            waiting = [self._read] + ([listener.fileno()] if listener is not None else [])
            ready, _, _ = select.select(waiting, [], [], self._interval)
            reload = False
            if self._read in ready:
                reload = _RELOAD in os.read(self._read, 4096)
            if listener is not None and listener.fileno() in ready:
                listener = self._drain(listener)
            if self._stopping:
                break
            try:
                self._on_wake(reload)
            except Exception as error:  # the thread must outlive any one failure
                if f"{type(error).__name__}: {error}" != failing:
                    log.exception("%s watcher: a round failed; what it serves is kept (retrying)", self._name)
                failing = f"{type(error).__name__}: {error}"
            else:
                if failing is not None:
                    log.info("%s watcher: following the database again", self._name)
                failing = None
        if listener is not None:
            listener.close()

    def _listen(self) -> Any:
        """A dedicated autocommit connection LISTENing on the channel; None while the database is away."""
        import psycopg

        url = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            connection = psycopg.connect(url, autocommit=True, connect_timeout=5)
            connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except psycopg.Error as error:
            log.warning("%s watcher: cannot LISTEN (polling meanwhile): %s", self._name, str(error).splitlines()[0])
            return None
        return connection

    @staticmethod
    def _drain(listener: Any) -> Any:
        """Consume what NOTIFY sent (the version is read from the database anyway); None if the link broke."""
        import psycopg

        try:
            for _ in listener.notifies(timeout=0):
                pass
        except psycopg.Error:
            listener.close()
            return None
        return listener
