"""Logging for ``routegate serve``: text for people, or ``--log-format json`` for log pipelines.

In JSON every record is one line: ``time`` (UTC, ISO 8601), ``level``,
``logger``, ``message``, ``exception`` when there is one, and for uvicorn's
access log the request's ``client``, ``method``, ``path``, ``http_version``
and ``status`` as fields of their own.

uvicorn's access log has a line per request, except for a call the gateway asked about
and got an answer with a receipt (``POST /calls/authorize`` answered 200 or 403): the
receipt records that call, and the line cost the worker a quarter of its time on that
path (see docs/performance.md). Its other answers (401, 400, ...) are logged.
``serve --no-access-log`` leaves out every line.
"""

from __future__ import annotations

import enum
import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "LogFormat", "configure", "leave_out_receipted_calls", "uvicorn_config"]

_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")
_TEXT_FORMAT = "%(levelname)s:     %(name)s: %(message)s"
_RECEIPTED = ("POST", "/calls/authorize")


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            entry.update(zip(_ACCESS_FIELDS, record.args, strict=True))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def uvicorn_config(log_format: LogFormat) -> dict[str, Any] | None:
    """The ``log_config`` for uvicorn (applied in every worker), or None for text: uvicorn's own."""
    if log_format is LogFormat.TEXT:
        return None
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            name: {"handlers": ["default"], "level": "INFO", "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "routegate")
        },
    }


def configure(log_format: LogFormat) -> None:
    """The serving process's own logging, before uvicorn starts."""
    config = uvicorn_config(log_format)
    if config is None:
        logging.basicConfig(level=logging.INFO, format=_TEXT_FORMAT)
    else:
        logging.config.dictConfig(config)
    logging.getLogger("alembic").setLevel(logging.WARNING)


class _Receipted(logging.Filter):
    """Drops uvicorn's access line of a call decided with a receipt (see the module's docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) != len(_ACCESS_FIELDS):
            return True
        return (args[1], args[2]) != _RECEIPTED or args[4] not in (200, 403)


def leave_out_receipted_calls() -> None:
    """Install :class:`_Receipted` on uvicorn's access logger (once) in this process."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, _Receipted) for existing in access.filters):
        access.addFilter(_Receipted())
