"""Service settings: command-line flags first, then ``ROUTEGATE_*`` environment, then defaults.

Settings are immutable and fully resolved (absolute paths, a normalised
database URL), so several workers started from the same environment agree.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from routegate._environment import (
    ENV_API_TOKEN,
    ENV_DATABASE_READERS,
    ENV_DATABASE_URL,
    ENV_DATABASE_WRITERS,
    ENV_DEFAULT_RUNTIME,
    ENV_FOREIGN_RUNTIMES,
    ENV_MANIFEST,
    ENV_MANIFEST_POLL_SECONDS,
    ENV_TEMPLATE_MAX_BYTES,
    ENV_TEMPLATE_MAX_MODELS,
    ENV_TEMPLATES,
)
from routegate.decision import FOREIGN_RUNTIMES
from routegate.gate import DEFAULT_RUNTIME
from routegate.templates import TemplateLimits

from .db import DEFAULT_READERS, DEFAULT_WRITERS, MOST_READERS, MOST_WRITERS

__all__ = ["Settings", "SettingsError", "is_loopback", "normalise_database_url"]


DEFAULT_DATABASE_FILE = "routegate.db"


class SettingsError(ValueError):
    """A setting that cannot work; the message says which and what to do."""


def default_database_url() -> str:
    """A SQLite file in the working folder."""
    return f"sqlite:///{Path.cwd() / DEFAULT_DATABASE_FILE}"


def normalise_database_url(url: str) -> str:
    """SQLite file URLs made absolute; ``postgres(ql)://`` given the psycopg 3 driver."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError(
            f"database URL {url!r} is not a URL; use sqlite:///path/to/file.db or postgresql://user:pass@host/db"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise SettingsError(
                "an in-memory SQLite database cannot be shared between connections or workers; "
                "give a file: sqlite:///path/to/routegate.db"
            )
        return parsed.set(drivername="sqlite", database=str(Path(database).expanduser().resolve())).render_as_string(
            hide_password=False
        )
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise SettingsError(
        f"unsupported database {parsed.drivername!r}: routegate speaks SQLite (sqlite:///file.db) "
        "and PostgreSQL through psycopg 3 (postgresql:// or postgresql+psycopg://)"
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bare_host(host: str) -> str:
    """An address as sockets take it: ``[::1]`` (the URL spelling) is ``::1``."""
    host = host.strip()
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None or value == "" else Path(value).expanduser().resolve()


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service needs to start. ``manifest``/``templates`` None mean the bundled ones."""

    host: str = "127.0.0.1"  # stored bare: "[::1]" is kept as "::1"
    port: int = 8080
    database_url: str = field(default_factory=default_database_url)
    database_readers: int = DEFAULT_READERS  # threads a process reads the database in at once
    database_writers: int = DEFAULT_WRITERS  # PostgreSQL write transactions a process runs at once
    manifest: Path | None = None
    templates: Path | None = None
    api_token: str | None = None
    workers: int = 1
    foreign_runtimes: tuple[str, ...] = FOREIGN_RUNTIMES
    default_runtime: str = DEFAULT_RUNTIME
    name_suffix_limit: int = 1000
    manifest_poll_seconds: float = 0.5  # how often each process checks the active manifest version
    template_max_bytes: int = TemplateLimits().max_bytes  # a larger config.yaml is a problem, never parsed
    template_max_models: int = TemplateLimits().max_models

    def __post_init__(self) -> None:
        object.__setattr__(self, "host", _bare_host(self.host))
        object.__setattr__(self, "database_url", normalise_database_url(self.database_url))
        object.__setattr__(self, "manifest", _path(self.manifest))
        object.__setattr__(self, "templates", _path(self.templates))
        if not self.api_token:  # an empty token would protect nothing
            object.__setattr__(self, "api_token", None)
        if not 0 < self.port < 65536:
            raise SettingsError(f"port {self.port} is out of range 1-65535")
        if self.workers < 1:
            raise SettingsError(f"--workers must be at least 1, not {self.workers}")
        if not 1 <= self.database_readers <= MOST_READERS:
            raise SettingsError(
                f"--database-readers ({ENV_DATABASE_READERS}) must be between 1 and {MOST_READERS},"
                f" not {self.database_readers}"
            )
        if not 1 <= self.database_writers <= MOST_WRITERS:
            raise SettingsError(
                f"--database-writers ({ENV_DATABASE_WRITERS}) must be between 1 and {MOST_WRITERS},"
                f" not {self.database_writers}"
            )
        if self.name_suffix_limit < 2:
            raise SettingsError("name_suffix_limit must be at least 2")
        if not 0.01 <= self.manifest_poll_seconds <= 60:
            raise SettingsError(
                f"{ENV_MANIFEST_POLL_SECONDS} must be between 0.01 and 60 seconds, not {self.manifest_poll_seconds}"
            )
        if self.template_max_bytes < 1:
            raise SettingsError(f"--template-max-bytes must be at least 1, not {self.template_max_bytes}")
        if self.template_max_models < 1:
            raise SettingsError(f"--template-max-models must be at least 1, not {self.template_max_models}")

    @property
    def template_limits(self) -> TemplateLimits:
        return TemplateLimits(max_bytes=self.template_max_bytes, max_models=self.template_max_models)

    @property
    def base_url(self) -> str:
        """Where the service answers, an IPv6 address in brackets: ``http://[::1]:8080``."""
        return f"http://{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}"

    @classmethod
    def from_sources(cls, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Flags that are not None win over the environment, which wins over defaults."""
        env = os.environ if environ is None else environ
        given = {key: value for key, value in (flags or {}).items() if value is not None}
        from_env: dict[str, Any] = {
            "database_url": env.get(ENV_DATABASE_URL) or None,
            "manifest": env.get(ENV_MANIFEST) or None,
            "templates": env.get(ENV_TEMPLATES) or None,
            "api_token": env.get(ENV_API_TOKEN) or None,
            "default_runtime": env.get(ENV_DEFAULT_RUNTIME) or None,
        }
        if env.get(ENV_MANIFEST_POLL_SECONDS):
            try:
                from_env["manifest_poll_seconds"] = float(env[ENV_MANIFEST_POLL_SECONDS])
            except ValueError:
                raise SettingsError(f"{ENV_MANIFEST_POLL_SECONDS} must be a number of seconds, such as 0.5") from None
        for variable, key in (
            (ENV_DATABASE_READERS, "database_readers"),
            (ENV_DATABASE_WRITERS, "database_writers"),
            (ENV_TEMPLATE_MAX_BYTES, "template_max_bytes"),
            (ENV_TEMPLATE_MAX_MODELS, "template_max_models"),
        ):
            if env.get(variable):
                try:
                    from_env[key] = int(env[variable])
                except ValueError:
                    example = next(each.default for each in fields(cls) if each.name == key)  # the default fits
                    raise SettingsError(
                        f"{variable} must be a whole number, such as {example}, not {env[variable]!r}"
                    ) from None
        if env.get(ENV_FOREIGN_RUNTIMES):
            from_env["foreign_runtimes"] = tuple(n.strip() for n in env[ENV_FOREIGN_RUNTIMES].split(",") if n.strip())
        merged = {key: value for key, value in from_env.items() if value is not None} | given
        if "foreign_runtimes" in merged:
            merged["foreign_runtimes"] = tuple(merged["foreign_runtimes"])
        return cls(**merged)

    def to_env(self) -> dict[str, str]:
        """The environment that makes :meth:`from_sources` rebuild these settings in a worker process."""
        env = {
            ENV_DATABASE_URL: self.database_url,
            ENV_DATABASE_READERS: str(self.database_readers),
            ENV_DATABASE_WRITERS: str(self.database_writers),
            ENV_FOREIGN_RUNTIMES: ",".join(self.foreign_runtimes),
            ENV_DEFAULT_RUNTIME: self.default_runtime,
            ENV_MANIFEST_POLL_SECONDS: repr(self.manifest_poll_seconds),
            ENV_TEMPLATE_MAX_BYTES: str(self.template_max_bytes),
            ENV_TEMPLATE_MAX_MODELS: str(self.template_max_models),
        }
        if self.manifest is not None:
            env[ENV_MANIFEST] = str(self.manifest)
        if self.templates is not None:
            env[ENV_TEMPLATES] = str(self.templates)
        if self.api_token is not None:
            env[ENV_API_TOKEN] = self.api_token
        return env
