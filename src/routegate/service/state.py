"""What a running service holds: ``app.state.routegate`` is a :class:`ServiceState`.

Contract for code that plugs into the app (routers, the console):

* ``.served`` -- the :class:`Served` manifest: the :class:`routegate.Registry` and the
  database version it came from. Read it once per request and use that object
  throughout: a switch replaces the attribute atomically, so a request never sees
  half of two manifests, nor one manifest under another's version number.
* ``.registry`` / ``.manifest_version`` -- shorthands for ``.served.registry`` / ``.served.version``.
* ``.templates`` -- the :class:`routegate.templates.TemplateRoot` templates resolve in.
* ``.scan_templates()`` -- (templates, problems) under that root, never raising;
  messages name the root ``TEMPLATES_LABEL`` (``<templates>``), not its real path.
* ``.settings`` -- the :class:`Settings` the service started with.
* ``.database`` -- the :class:`Database` (its ``.engine`` for direct SQL).
* ``.store`` -- the workspace rows (:class:`Store`).
* ``.decisions`` -- the decision log (:class:`DecisionLog`).
* ``.keys`` -- the stored idempotency keys (:class:`IdempotencyKeys`).
* ``.versions`` -- the manifest versions (:class:`VersionStore`).
* ``.publish()`` / ``.activate()`` / ``.reload()`` -- change the fleet's active version through
  the publish gate, then serve it here at once.
* ``.replays`` -- the publishes, activations and reloads replaying the fleet now, in this
  process or any other on the database (:class:`Replays`), each listed from its start to
  its end, however it ends.

:func:`service_state` is how a route reaches it.

The database's active manifest version is the truth for every process that shares
it: each process follows it with a :class:`ManifestWatcher` (see :mod:`.propagation`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass

from fastapi import Request

from routegate.errors import InvalidManifest, Problem, UnreadableManifest
from routegate.manifest import bundled_manifest_path
from routegate.publishing import ManifestWouldStrand
from routegate.registry import Registry
from routegate.templates import TEMPLATES_LABEL, Template, TemplateProblem, TemplateRoot, scan_templates

from .db import Database
from .decision_log import DecisionLog
from .engines import wal_checkpoints
from .idempotency import IdempotencyKeys
from .in_flight import ReplayKind, Replays
from .name_index import name_indexer
from .propagation import ManifestWatcher
from .publication import Candidate, PublishResult, ReplayProgress, VersionStore, candidate
from .settings import Settings, SettingsError
from .store import Store

__all__ = ["Served", "ServiceState", "configured_manifest", "reload_configured", "service_state"]

log = logging.getLogger("routegate.service")


@dataclass(frozen=True, slots=True)
class Served:
    """The manifest a process decides with, and the database version it came from."""

    registry: Registry
    version: int


def _label(settings: Settings) -> str:
    """The configured manifest as logs and notes name it: the file name, never the server's path."""
    return "the bundled manifest" if settings.manifest is None else settings.manifest.name


def configured_manifest(settings: Settings) -> Candidate:
    """The configured manifest file (or the bundled one), validated. Raises InvalidManifest."""
    path = settings.manifest or bundled_manifest_path()
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UnreadableManifest(
            [Problem("<file>", f"cannot read {_label(settings)}: {error.strerror}")], source=_label(settings)
        ) from None
    return candidate(raw, _label(settings), settings.foreign_runtimes)


def reload_configured(
    versions: VersionStore, settings: Settings, progress: ReplayProgress | None = None
) -> PublishResult:
    """Re-read the configured file and publish it through the gate; the active bytes again change nothing.

    Every outcome is logged, a refusal too; raises InvalidManifest or ManifestWouldStrand.
    """
    try:
        outcome = versions.publish(
            configured_manifest(settings),
            note=f"reload of {_label(settings)}",
            dry_run=False,
            force=False,
            progress=progress,
        )
    except (InvalidManifest, ManifestWouldStrand) as refusal:
        log.error("reload refused, the active manifest version is unchanged: %s", refusal)
        raise
    if outcome.changed:
        log.info("reload published manifest version %s (%s)", outcome.version, outcome.fingerprint)
    else:
        log.info("reload: %s is the active version already; nothing to do", _label(settings))
    return outcome


def reload_and_log(versions: VersionStore, settings: Settings, progress: ReplayProgress | None = None) -> None:
    """A reload nobody waits for (SIGHUP): the log is its only answer."""
    with contextlib.suppress(InvalidManifest, ManifestWouldStrand):
        reload_configured(versions, settings, progress)


class ServiceState:
    TEMPLATES_LABEL = TEMPLATES_LABEL

    __slots__ = (
        "_checkpoints",
        "_name_indexer",
        "_sync_lock",
        "_watcher",
        "database",
        "decisions",
        "keys",
        "replays",
        "served",
        "settings",
        "store",
        "templates",
        "versions",
    )

    def __init__(self, settings: Settings) -> None:
        """Check the manifest file and templates root, migrate the database, and settle which
        manifest version to serve: the database's active one, or the configured file as version 1.

        Raises InvalidManifest, SettingsError or a SQLAlchemy error: the service must not start.
        """
        self.settings = settings
        configured = configured_manifest(settings)
        self.templates = TemplateRoot(settings.templates, limits=settings.template_limits)
        if not self.templates.path.is_dir():
            raise SettingsError(f"templates folder {self.templates.path} does not exist")
        self.database = Database(
            settings.database_url, readers=settings.database_readers, writers=settings.database_writers
        )
        self.database.upgrade()
        self.store = Store(self.database, name_suffix_limit=settings.name_suffix_limit)
        self.decisions = DecisionLog(self.database)
        self.keys = IdempotencyKeys(self.database)
        self.versions = VersionStore(self.database, foreign_runtimes=settings.foreign_runtimes)
        self.replays = Replays(self.database)
        active = self.versions.bootstrap(configured, note=f"first version, from {_label(settings)}")
        if active.sha256 == configured.sha256:
            registry = configured.registry
        else:
            log.warning(
                "%s (fingerprint %s) differs from the database's active manifest version %d (fingerprint %s); "
                "serving version %d. Publish the file with `routegate publish` or POST /registry/reload.",
                _label(settings),
                configured.registry.fingerprint,
                active.version,
                active.fingerprint,
                active.version,
            )
            registry = candidate(
                self.versions.load(active.version)[1],
                f"manifest version {active.version}",
                self.settings.foreign_runtimes,
            ).registry
        self.served = Served(registry, active.version)
        if not registry.supports(settings.default_runtime):
            raise SettingsError(f"default runtime {settings.default_runtime!r} is neither in the manifest nor foreign")
        self._sync_lock = threading.Lock()
        self._watcher = ManifestWatcher(settings.database_url, settings.manifest_poll_seconds, self._on_wake)
        self._checkpoints = wal_checkpoints(settings.database_url)
        self._name_indexer = name_indexer(self.database)

    @property
    def registry(self) -> Registry:
        return self.served.registry

    @registry.setter
    def registry(self, registry: Registry) -> None:
        """Serve a registry built outside the database (a merged manifest) under the current version."""
        self.served = Served(registry, self.served.version)

    @property
    def manifest_version(self) -> int:
        return self.served.version

    def template_defaults(self, name: str) -> tuple[str | None, str | None]:
        """The gate's template lookup: (runtime, default model) of a template under the root."""
        template = self.templates.get(name)
        return template.runtime, template.default_model

    def scan_templates(self) -> tuple[list[Template], list[TemplateProblem]]:
        """What ``GET /templates`` and the console show: see :func:`routegate.templates.scan_templates`."""
        return scan_templates(self.templates)

    # --- following the database ------------------------------------------------------------------

    def start(self) -> None:
        """Start following the database's active version, and on SQLite checkpointing its WAL and
        indexing queued names in the background (the app's lifespan calls this)."""
        self._watcher.start()
        if self._checkpoints is not None:
            self._checkpoints.start()
        if self._name_indexer is not None:
            self._name_indexer.start()

    def request_reload(self) -> None:
        """SIGHUP's handler: ask the watcher thread to reload the configured file. Takes no lock."""
        self._watcher.wake(reload=True)

    def request_sync(self) -> None:
        """Ask the watcher thread to look at the database now. Takes no lock."""
        self._watcher.wake()

    def sync(self) -> Served:
        """Serve the database's active version. Syncs run one at a time; a later one that finds the
        version already served does nothing, so overlapping requests coalesce. Any exception
        leaves the version in use as it was."""
        with self._sync_lock:
            active = self.versions.active()
            if active is None or active.version == self.served.version:
                return self.served
            info, raw = self.versions.load(active.version)
            fresh = Served(
                candidate(raw, f"manifest version {info.version}", self.settings.foreign_runtimes).registry,
                info.version,
            )
            previous, self.served = self.served, fresh
        log.info(
            "serving manifest version %d (%s), was version %d (%s)",
            fresh.version,
            fresh.registry.fingerprint,
            previous.version,
            previous.registry.fingerprint,
        )
        return fresh

    def _on_wake(self, reload: bool) -> None:
        if reload:
            with self.replays.track(ReplayKind.RELOAD, dry_run=False) as progress:
                reload_and_log(self.versions, self.settings, progress)
        self.sync()

    # --- changing the fleet's version ------------------------------------------------------------

    def publish(self, manifest: bytes | str, *, note: str | None, dry_run: bool, force: bool) -> PublishResult:
        """Validate and publish a manifest through the gate; serve it here at once. See VersionStore.publish."""
        proposed = candidate(manifest, "manifest", self.settings.foreign_runtimes)
        with self.replays.track(ReplayKind.PUBLISH, dry_run=dry_run) as progress:
            outcome = self.versions.publish(proposed, note=note, dry_run=dry_run, force=force, progress=progress)
        if outcome.changed:
            self.sync()
        return outcome

    def activate(self, version: int, *, force: bool, dry_run: bool = False) -> PublishResult:
        """Make a stored version active through the gate; serve it here at once."""
        with self.replays.track(ReplayKind.ACTIVATE, dry_run=dry_run, version=version) as progress:
            outcome = self.versions.activate(version, force=force, dry_run=dry_run, progress=progress)
        if outcome.changed:
            self.sync()
        return outcome

    def reload(self) -> PublishResult:
        """Publish the configured file again (POST /registry/reload); serve it here at once."""
        with self.replays.track(ReplayKind.RELOAD, dry_run=False) as progress:
            outcome = reload_configured(self.versions, self.settings, progress)
        if outcome.changed:
            self.sync()
        return outcome

    def close(self) -> None:
        self._watcher.stop()
        if self._checkpoints is not None:
            self._checkpoints.stop()
        if self._name_indexer is not None:
            self._name_indexer.stop()
        self.database.dispose()


def service_state(request: Request) -> ServiceState:
    """The state of the service a request reached."""
    return request.app.state.routegate  # type: ignore[no-any-return]
