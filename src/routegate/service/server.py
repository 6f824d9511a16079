"""``routegate serve`` and ``routegate db upgrade``: start-up checks, then uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Any

from . import logs
from .logs import LogFormat
from .settings import ENV_SUPERVISOR_PID, Settings, SettingsError, is_loopback

__all__ = ["db_upgrade_command", "serve", "serve_command"]

log = logging.getLogger("routegate.service")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _fail(message: str, code: int) -> int:
    print(f"routegate: {message}", file=sys.stderr)
    return code


def _settings(args: argparse.Namespace) -> Settings:
    flags: dict[str, Any] = {
        "host": getattr(args, "host", None),
        "port": getattr(args, "port", None),
        "database_url": getattr(args, "database_url", None),
        "manifest": getattr(args, "manifest", None),
        "templates": getattr(args, "templates", None),
        "workers": getattr(args, "workers", None),
        "default_runtime": getattr(args, "default_runtime", None),
        "foreign_runtimes": getattr(args, "foreign_runtime", None) or None,
    }
    return Settings.from_sources(flags)


def serve(settings: Settings, log_format: LogFormat = LogFormat.TEXT) -> int:
    """Check the configuration, migrate, and serve until interrupted."""
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from routegate.errors import InvalidManifest

    from . import metrics
    from .app import create_app

    if settings.api_token is None and not is_loopback(settings.host):
        return _fail(
            f"refusing to listen on {settings.host}: without ROUTEGATE_API_TOKEN anyone who can reach it could "
            "create workspaces. Set ROUTEGATE_API_TOKEN, or listen on 127.0.0.1 (the default).",
            EXIT_USAGE,
        )
    logs.configure(log_format)
    try:
        app = create_app(settings)
    except InvalidManifest as error:
        return _fail(f"the manifest is invalid, not starting:\n{error}", EXIT_USAGE)
    except SettingsError as error:
        return _fail(str(error), EXIT_USAGE)
    except SQLAlchemyError as error:
        return _fail(f"cannot open or migrate the database: {str(error).splitlines()[0]}", EXIT_FAILED)

    state = app.state.routegate
    log.info(
        "routegate on http://%s:%d  database %s  manifest %s (%s)  templates %s",
        settings.host,
        settings.port,
        state.database.engine.url.render_as_string(hide_password=True),
        settings.manifest or "bundled",
        state.registry.fingerprint,
        state.templates.path,
    )
    common: dict[str, Any] = {"host": settings.host, "port": settings.port, "server_header": False, "log_level": "info"}
    if log_format is LogFormat.JSON:  # otherwise uvicorn's own logging config, in every worker
        common["log_config"] = logs.uvicorn_config(log_format)
    if settings.workers == 1:
        # SIGHUP reloads the manifest in place; uvicorn only captures SIGINT and SIGTERM.
        signal.signal(signal.SIGHUP, lambda *_: state.reload_quietly())
        uvicorn.run(app, **common)
        return EXIT_OK
    # Several workers: each builds its own app from the environment. uvicorn's supervisor
    # (this process) answers SIGHUP by restarting the workers gracefully, one at a time, so
    # each loads the manifest again; POST /registry/reload in any worker sends it that SIGHUP.
    state.close()
    os.environ.update(settings.to_env())
    os.environ[ENV_SUPERVISOR_PID] = str(os.getpid())
    with metrics.multiprocess_dir() as samples:  # every worker's metrics, merged by whichever answers /metrics
        log.info("metrics of %d workers kept in %s", settings.workers, samples)
        uvicorn.run("routegate.service.app:app_from_env", factory=True, workers=settings.workers, **common)
    return EXIT_OK


def serve_command(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except SettingsError as error:
        return _fail(str(error), EXIT_USAGE)
    return serve(settings, LogFormat(getattr(args, "log_format", LogFormat.TEXT)))


def db_upgrade_command(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from .db import Database

    try:
        settings = Settings.from_sources({"database_url": args.database_url})
    except SettingsError as error:
        return _fail(str(error), EXIT_USAGE)
    database = Database(settings.database_url)
    try:
        database.upgrade()
    except SQLAlchemyError as error:
        return _fail(f"cannot migrate the database: {str(error).splitlines()[0]}", EXIT_FAILED)
    finally:
        database.dispose()
    print(f"database at head: {database.engine.url.render_as_string(hide_password=True)}")
    return EXIT_OK
