"""``routegate serve`` and ``routegate db upgrade``: start-up checks, then uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any

from . import logs
from .logs import LogFormat
from .settings import Settings, SettingsError, is_loopback

if TYPE_CHECKING:
    from uvicorn import Config
    from uvicorn.supervisors.multiprocess import Multiprocess

__all__ = ["db_upgrade_command", "listening_socket", "serve", "serve_command"]

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
        "template_max_bytes": getattr(args, "template_max_bytes", None),
        "template_max_models": getattr(args, "template_max_models", None),
    }
    return Settings.from_sources(flags)


def listening_socket(host: str, port: int) -> socket.socket:
    """The socket every worker accepts on, made here rather than by uvicorn.

    uvicorn's own listener for ``--workers`` is created without the TCP protocol number, so
    asyncio never sets TCP_NODELAY on its connections and each keep-alive response waits
    about 40 ms for a delayed ACK. This one says IPPROTO_TCP, and sets TCP_NODELAY on the
    listener, which Linux hands down to every connection it accepts. Raises OSError.
    """
    bare = host.strip("[]")  # "[::1]" as in a URL, or "::1"
    family, kind, proto, _, address = socket.getaddrinfo(
        bare, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind(address)
        listener.listen(2048)
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


def _supervisor(config: Config, listener: socket.socket, settings: Settings) -> Multiprocess:
    """uvicorn's worker supervisor, except that SIGHUP publishes the configured manifest once
    (the workers follow the database) instead of restarting every worker."""
    from uvicorn.supervisors.multiprocess import Multiprocess

    from .db import Database
    from .publication import VersionStore
    from .state import reload_and_log

    class Supervisor(Multiprocess):
        def handle_hup(self) -> None:
            # uvicorn's signal handler only queued the signal; this runs in its supervising loop.
            database = Database(settings.database_url)
            try:
                reload_and_log(VersionStore(database, foreign_runtimes=settings.foreign_runtimes), settings)
            except Exception:  # a failed reload must not stop the supervisor
                log.exception("reload failed; the active manifest version is unchanged")
            finally:
                database.dispose()

    return Supervisor(config, sockets=[listener])


def serve(settings: Settings, log_format: LogFormat = LogFormat.TEXT) -> int:
    """Check the configuration, migrate, and serve until interrupted (Ctrl-C exits 0)."""
    try:
        return _serve(settings, log_format)
    except KeyboardInterrupt:  # Ctrl-C before uvicorn took over SIGINT, or re-raised by it after a clean stop
        return EXIT_OK


def _serve(settings: Settings, log_format: LogFormat) -> int:
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
        "routegate on %s  database %s  manifest version %d (%s), configured %s  templates %s",
        settings.base_url,
        state.database.engine.url.render_as_string(hide_password=True),
        state.manifest_version,
        state.registry.fingerprint,
        settings.manifest or "bundled",
        state.templates.path,
    )
    try:
        listener = listening_socket(settings.host, settings.port)
    except OSError as error:
        state.close()
        return _fail(f"cannot listen on {settings.host}:{settings.port}: {error.strerror or error}", EXIT_FAILED)
    common: dict[str, Any] = {"host": settings.host, "port": settings.port, "server_header": False, "log_level": "info"}
    if log_format is LogFormat.JSON:  # otherwise uvicorn's own logging config, in every worker
        common["log_config"] = logs.uvicorn_config(log_format)
    if settings.workers == 1:
        # SIGHUP asks the watcher thread to publish the file again; uvicorn captures only SIGINT and SIGTERM.
        signal.signal(signal.SIGHUP, lambda *_: state.request_reload())
        server = uvicorn.Server(uvicorn.Config(app, **common))
        server.run(sockets=[listener])
        return EXIT_OK if server.started else EXIT_FAILED
    # Several workers: each builds its own app from the environment and follows the database's
    # active manifest version by itself; this process supervises them and publishes on SIGHUP.
    state.close()
    os.environ.update(settings.to_env())
    with metrics.multiprocess_dir() as samples:  # every worker's metrics, merged by whichever answers /metrics
        log.info("metrics of %d workers kept in %s", settings.workers, samples)
        config = uvicorn.Config("routegate.service.app:app_from_env", factory=True, workers=settings.workers, **common)
        _supervisor(config, listener, settings).run()
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
