"""What a running service holds: ``app.state.routegate`` is a :class:`ServiceState`.

Contract for code that plugs into the app (routers, the console):

* ``.registry`` -- the current :class:`routegate.Registry`. Read it once per
  request and use that object throughout: a reload swaps the attribute
  atomically, so a request never sees half of two manifests.
* ``.templates`` -- the :class:`routegate.templates.TemplateRoot` templates resolve in.
* ``.scan_templates()`` -- (templates, problems) under that root, never raising;
  messages name the root ``TEMPLATES_LABEL`` (``<templates>``), not its real path.
* ``.settings`` -- the :class:`Settings` the service started with.
* ``.database`` -- the :class:`Database` (its ``.engine`` for direct SQL).
* ``.store`` -- workspace and decision persistence (:class:`Store`).
* ``.reload()`` -- load the manifest again and swap it in (InvalidManifest keeps the old one).

Nothing here is state other workers need: each process loads the manifest
itself and the database is the only shared truth.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from routegate.errors import InvalidManifest
from routegate.registry import Registry
from routegate.templates import Template, TemplateRoot

from .db import Database
from .settings import ENV_SUPERVISOR_PID, Settings, SettingsError
from .store import Store
from .template_scan import TEMPLATES_LABEL, TemplateProblem, scan_templates

__all__ = ["ServiceState"]

log = logging.getLogger("routegate.service")


class ServiceState:
    TEMPLATES_LABEL = TEMPLATES_LABEL

    __slots__ = ("_reload_lock", "database", "registry", "settings", "store", "templates")

    def __init__(self, settings: Settings) -> None:
        """Load the manifest, check the templates root, open and migrate the database.

        Raises InvalidManifest, SettingsError or a SQLAlchemy error: the service must not start.
        """
        self.settings = settings
        self.registry: Registry = Registry.load(settings.manifest, foreign_runtimes=settings.foreign_runtimes)
        self.templates = TemplateRoot(settings.templates)
        if not self.templates.path.is_dir():
            raise SettingsError(f"templates folder {self.templates.path} does not exist")
        unknown_default = settings.default_runtime not in (*self.registry.runtimes, *settings.foreign_runtimes)
        if unknown_default:
            raise SettingsError(f"default runtime {settings.default_runtime!r} is neither in the manifest nor foreign")
        self.database = Database(settings.database_url)
        self.database.upgrade()
        self.store = Store(self.database, name_suffix_limit=settings.name_suffix_limit)
        self._reload_lock = threading.Lock()

    def template_defaults(self, name: str) -> tuple[str | None, str | None]:
        """The gate's template lookup: (runtime, default model) of a template under the root."""
        template = self.templates.get(name)
        return template.runtime, template.default_model

    def scan_templates(self) -> tuple[list[Template], list[TemplateProblem]]:
        """What ``GET /templates`` and the console show: see :mod:`.template_scan`."""
        return scan_templates(self.templates)

    def reload(self) -> tuple[Registry, Registry]:
        """Load the manifest again and swap it in; returns (previous, current).

        Raises InvalidManifest and keeps the registry in use when the new one is invalid.
        """
        with self._reload_lock:
            fresh = Registry.load(self.settings.manifest, foreign_runtimes=self.settings.foreign_runtimes)
            previous, self.registry = self.registry, fresh
        log.info("registry reloaded: %s -> %s", previous.fingerprint, fresh.fingerprint)
        return previous, fresh

    def reload_all(self) -> tuple[Registry, Registry, bool]:
        """Reload here; under ``serve --workers N`` also have uvicorn's supervisor restart every
        worker gracefully, so each loads the manifest itself. Returns (previous, current, restarting).
        """
        previous, fresh = self.reload()
        supervisor = os.environ.get(ENV_SUPERVISOR_PID, "")
        restarting = supervisor.isdigit() and int(supervisor) == os.getppid()
        if restarting:
            os.kill(os.getppid(), signal.SIGHUP)
        return previous, fresh, restarting

    def reload_quietly(self) -> None:
        """SIGHUP's reload: report a bad manifest in the log instead of raising."""
        try:
            self.reload()
        except InvalidManifest as error:
            log.error("reload refused, keeping fingerprint %s: %s", self.registry.fingerprint, error)

    def close(self) -> None:
        self.database.dispose()
