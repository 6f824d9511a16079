"""``GET /metrics`` for operators, in Prometheus' text format (``prometheus-client``).

What is measured:

* ``routegate_decisions_total{runtime, outcome}``: every create-gate decision on a
  create or a model change; ``outcome`` is ``admitted`` or the refusal code. A
  runtime neither in the registry nor foreign is counted as ``other``, so a client
  cannot mint label values.
* ``routegate_create_seconds``: the latency of ``POST /workspaces``, whatever it answered.
* ``routegate_manifest_info{version, fingerprint, schema_version}``: 1 for the manifest version in use
  (under several workers, 1 for each version some live worker serves: one, once they converge).
* ``routegate_database_errors_total{kind}``: errors from the database driver, by
  SQLAlchemy's exception class (``OperationalError``, ``ProgrammingError``, ...); the
  unique-name conflicts the store retries on are not errors.

Under ``serve --workers N`` each worker writes its samples to files in a
per-server ``PROMETHEUS_MULTIPROC_DIR`` (:func:`multiprocess_dir` makes it and
removes it), and whichever worker answers ``/metrics`` merges them all.
``prometheus_client`` reads that variable when it is first imported, so it is
imported here only once a :class:`Metrics` is built, after ``serve`` has set it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request, Response
from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Receive, Scope, Send

from .state import Served, ServiceState, service_state

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "ADMITTED",
    "ENV_MULTIPROC_DIR",
    "OTHER_RUNTIME",
    "Metrics",
    "install",
    "instrumented",
    "multiprocess_dir",
    "record_decision",
]

ENV_MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
ADMITTED = "admitted"
OTHER_RUNTIME = "other"
_CREATE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

router = APIRouter()


class Metrics:
    """One process's metrics: the app's own registry, or the shared files under several workers."""

    __slots__ = ("_exposition", "_manifest_labels", "create_seconds", "database_errors", "decisions", "manifest")

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        registry = CollectorRegistry(auto_describe=True)  # per app: several apps may share a process in tests
        self.decisions: Counter = Counter(
            "routegate_decisions",
            "Create-gate decisions on creates and model changes, by runtime and outcome (admitted or the code)",
            ("runtime", "outcome"),
            registry=registry,
        )
        self.create_seconds: Histogram = Histogram(
            "routegate_create_seconds", "Latency of POST /workspaces", registry=registry, buckets=_CREATE_BUCKETS
        )
        self.manifest: Gauge = Gauge(
            "routegate_manifest_info",
            "1 for the manifest version in use, by version number, fingerprint and schema version",
            ("version", "fingerprint", "schema_version"),
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.database_errors: Counter = Counter(
            "routegate_database_errors",
            "Errors from the database driver, by exception class",
            ("kind",),
            registry=registry,
        )
        self._manifest_labels: tuple[str, str, str] | None = None
        self._exposition = registry

    @property
    def registry(self) -> CollectorRegistry:
        """This app's collector registry, where other modules register their metrics (the call gate's)."""
        return self._exposition

    def show_manifest(self, version: int, fingerprint: str, schema_version: int) -> None:
        """Mark the manifest version in use (and the one before it as no longer in use)."""
        labels = (str(version), fingerprint, str(schema_version))
        if labels == self._manifest_labels:
            return
        if self._manifest_labels is not None:
            self.manifest.labels(*self._manifest_labels).set(0)
        self.manifest.labels(*labels).set(1)
        self._manifest_labels = labels

    def exposition(self) -> bytes:
        """The text format: this app's registry, or every worker's samples merged."""
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess

        folder = os.environ.get(ENV_MULTIPROC_DIR)
        if not folder:
            return generate_latest(self._exposition)
        _forget_dead_workers(Path(folder))
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=folder)  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    def database_error(self, context: ExceptionContext) -> None:
        """The engine's ``handle_error`` event: labelled by SQLAlchemy's class, the same on every backend."""
        error = context.sqlalchemy_exception
        if not isinstance(error, IntegrityError):
            self.database_errors.labels(type(error or context.original_exception).__name__).inc()


def _forget_dead_workers(folder: Path) -> None:
    """Drop the manifest gauge of workers that have exited (a reload restarts them all)."""
    from prometheus_client import multiprocess

    for path in folder.glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(folder))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Instrument:
    """ASGI middleware: times POST /workspaces and keeps the manifest gauge on the manifest in use."""

    def __init__(self, app: ASGIApp, metrics: Metrics, state: ServiceState) -> None:
        self.app, self.metrics, self.state = app, metrics, state
        self._shown = state.served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        served = self.state.served  # replaced, never changed, when another version is served
        if served is not self._shown:
            _show_served(self.metrics, served)
            self._shown = served
        if scope["method"] != "POST" or scope["path"] != "/workspaces":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.metrics.create_seconds.observe(time.perf_counter() - started)


def _show_served(metrics: Metrics, served: Served) -> None:
    metrics.show_manifest(served.version, served.registry.fingerprint, served.registry.schema_version)


def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


@router.get("/metrics", include_in_schema=False)
def metrics_endpoint(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(_metrics(request).exposition(), media_type=CONTENT_TYPE_LATEST)


def record_decision(request: Request, runtime: str | None, outcome: str) -> None:
    """Count one gate decision; ``outcome`` is :data:`ADMITTED` or the refusal code."""
    known = runtime is not None and service_state(request).registry.supports(runtime)
    _metrics(request).decisions.labels(runtime if known else OTHER_RUNTIME, str(outcome)).inc()


def install(app: FastAPI, state: ServiceState) -> None:
    """Serve /metrics and feed it: the request middleware, and the database engine's error events."""
    metrics = Metrics()
    app.state.metrics = metrics
    _show_served(metrics, state.served)
    event.listen(state.database.engine, "handle_error", metrics.database_error)
    app.add_middleware(_Instrument, metrics=metrics, state=state)
    app.include_router(router)


def instrumented(app: FastAPI, lane: ASGIApp) -> ASGIApp:
    """``lane`` fed to the metrics as the middleware feeds them the router's requests (see :func:`install`)."""
    return _Instrument(lane, app.state.metrics, app.state.routegate)


@contextmanager
def multiprocess_dir() -> Iterator[Path]:
    """A fresh PROMETHEUS_MULTIPROC_DIR for one server's workers, removed when it stops."""
    folder = Path(tempfile.mkdtemp(prefix="routegate-metrics-"))
    previous = os.environ.get(ENV_MULTIPROC_DIR)
    os.environ[ENV_MULTIPROC_DIR] = str(folder)
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop(ENV_MULTIPROC_DIR, None)
        else:
            os.environ[ENV_MULTIPROC_DIR] = previous
        shutil.rmtree(folder, ignore_errors=True)
