"""Serving the app: start-up checks, then uvicorn, with one worker or several.

``routegate serve`` (in :mod:`routegate.cli.fleet`) reads the flags into :class:`Settings`
and calls :func:`serve`; a refusal to start is :class:`CannotServe`, for the caller to report.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from typing import TYPE_CHECKING, Any

from routegate._environment import ENV_API_TOKEN

from . import logs
from .logs import LogFormat
from .settings import Settings, SettingsError, is_loopback

if TYPE_CHECKING:
    from fastapi import FastAPI
    from uvicorn import Config
    from uvicorn.supervisors.multiprocess import Multiprocess

__all__ = ["CannotServe", "listening_socket", "serve"]

log = logging.getLogger("routegate.service")


class CannotServe(Exception):
    """:func:`serve` did not serve; the message says why.

    ``misconfigured``: the settings or the manifest are at fault and will fail again as they
    are; otherwise the machine is (a database it cannot reach, a port it cannot take).
    """

    def __init__(self, message: str, *, misconfigured: bool) -> None:
        super().__init__(message)
        self.misconfigured = misconfigured


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


def serve(settings: Settings, log_format: LogFormat = LogFormat.TEXT, *, access_log: bool = True) -> None:
    """Check the configuration, migrate, and serve until interrupted (Ctrl-C is a clean stop).

    ``access_log``: uvicorn's line per request (but a call's that has its receipt, see :mod:`.logs`).
    Raises :class:`CannotServe` when it refuses to start or cannot.
    """
    try:
        _serve(settings, log_format, access_log)
    except KeyboardInterrupt:  # Ctrl-C before uvicorn took over SIGINT, or re-raised by it after a clean stop
        return


def _serve_in_this_process(app: FastAPI, listener: socket.socket, common: dict[str, Any]) -> None:
    """One worker: this process serves, and SIGHUP asks its watcher thread to publish the file again."""
    import uvicorn

    state = app.state.routegate
    signal.signal(signal.SIGHUP, lambda *_: state.request_reload())  # uvicorn captures only SIGINT and SIGTERM
    server = uvicorn.Server(uvicorn.Config(app, **common))
    server.run(sockets=[listener])
    if not server.started:
        raise CannotServe("the server did not start; its log above says why", misconfigured=False)


def _uvicorn_options(settings: Settings, log_format: LogFormat, access_log: bool) -> dict[str, Any]:
    """What every worker's uvicorn.Config gets, besides the app."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "server_header": False,
        "log_level": "info",
        "access_log": access_log,
    }
    if log_format is LogFormat.JSON:  # otherwise uvicorn's own logging config, in every worker
        options["log_config"] = logs.uvicorn_config(log_format)
    return options


def _serve(settings: Settings, log_format: LogFormat, access_log: bool) -> None:
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from routegate.errors import InvalidManifest

    from . import metrics
    from .app import create_app

    if settings.api_token is None and not is_loopback(settings.host):
        raise CannotServe(
            f"refusing to listen on {settings.host}: without {ENV_API_TOKEN} anyone who can reach it could "
            f"create workspaces. Set {ENV_API_TOKEN}, or listen on 127.0.0.1 (the default).",
            misconfigured=True,
        )
    logs.configure(log_format)
    logs.leave_out_receipted_calls()
    try:
        app = create_app(settings, settle_heap=True)
    except InvalidManifest as error:
        raise CannotServe(f"the manifest is invalid, not starting:\n{error}", misconfigured=True) from None
    except SettingsError as error:
        raise CannotServe(str(error), misconfigured=True) from None
    except SQLAlchemyError as error:
        message = f"cannot open or migrate the database: {str(error).splitlines()[0]}"
        raise CannotServe(message, misconfigured=False) from None

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
        message = f"cannot listen on {settings.host}:{settings.port}: {error.strerror or error}"
        raise CannotServe(message, misconfigured=False) from None
    common = _uvicorn_options(settings, log_format, access_log)
    if settings.workers == 1:
        _serve_in_this_process(app, listener, common)
        return
    # Several workers: each builds its own app from the environment and follows the database's
    # active manifest version by itself; this process supervises them and publishes on SIGHUP.
    state.close()
    os.environ.update(settings.to_env())
    with metrics.multiprocess_dir() as samples:  # every worker's metrics, merged by whichever answers /metrics
        log.info("metrics of %d workers kept in %s", settings.workers, samples)
        config = uvicorn.Config("routegate.service.app:app_from_env", factory=True, workers=settings.workers, **common)
        _supervisor(config, listener, settings).run()
