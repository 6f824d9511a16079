"""The manifest: providers (the catalog) and each runtime's native arms.

Loading parses and validates everything up front and fails closed with
:class:`InvalidManifest` listing every problem. What comes out is immutable.
The schema (:mod:`routegate._schema`, pydantic) is imported only when a
document is validated: a manifest-cache hit builds the value objects from
authenticated canonical data without it.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from routegate._fingerprint import fingerprint
from routegate.billing import PLATFORM, is_platform_keyed, platform_disguise
from routegate.errors import InvalidManifest, Problem, UnreadableManifest

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from os import PathLike
    from pathlib import Path
    from typing import Any

    from routegate.lifecycle import LifecycleEntry

__all__ = [
    "Arm",
    "Manifest",
    "Provider",
    "Runtime",
    "bundled_manifest_path",
    "fingerprint",
    "load_manifest",
    "parse_manifest",
]


@dataclass(frozen=True, slots=True)
class Provider:
    """One catalog entry: how to reach a model vendor and how to authenticate."""

    name: str
    display_name: str
    protocol: str
    auth_mode: str
    auth_env: tuple[str, ...]
    model_prefix_match: str
    vendor_logo: str | None = None
    base_url_template: str | None = None
    base_url_anthropic: str | None = None
    auth_token_env: str | None = None
    model_aliases: tuple[str, ...] = ()
    deprecated: bool = False
    upstream_vendor: str | None = None
    declared_platform_keyed: bool = False
    platform_keyed_by_effect: bool = False
    """Set by the manifest: it shares the ``platform`` provider's own credential or base URL."""

    @property
    def platform_keyed(self) -> bool:
        """The platform holds this provider's key (see :func:`billing.is_platform_keyed`)."""
        return is_platform_keyed(
            self.name, self.upstream_vendor, self.declared_platform_keyed, by_effect=self.platform_keyed_by_effect
        )

    def accepts_auth(self, auth_env: frozenset[str]) -> bool:
        """Any one of the provider's auth env names suffices."""
        return not auth_env.isdisjoint(self.auth_env)


@dataclass(frozen=True, slots=True)
class Arm:
    """A provider as one runtime uses it: with exact model ids (a menu arm) or none (routing-only)."""

    provider: Provider
    models: tuple[str, ...] = ()

    @property
    def routing_only(self) -> bool:
        return not self.models


@dataclass(frozen=True, slots=True)
class Runtime:
    name: str
    arms: tuple[Arm, ...]
    menu: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        # The menu: every arm's ids in declared order, first occurrence kept.
        object.__setattr__(self, "menu", tuple(dict.fromkeys(m for arm in self.arms for m in arm.models)))


@dataclass(frozen=True, slots=True)
class Manifest:
    """A validated manifest. ``fingerprint`` hashes its data, so layout and comments do not count."""

    schema_version: int
    providers: Mapping[str, Provider]
    runtimes: Mapping[str, Runtime]
    source: str = "manifest"
    lifecycle: tuple[LifecycleEntry, ...] = ()
    """The dated facts (see :mod:`routegate.lifecycle`), in declared order."""
    _fingerprint: str = field(init=False, default="", repr=False, compare=False)

    @property
    def fingerprint(self) -> str:
        """16 hex chars of the data; computed when first asked for, as a one-shot decision never asks."""
        if not self._fingerprint:
            object.__setattr__(self, "_fingerprint", fingerprint(self.to_data()))
        return self._fingerprint

    @classmethod
    def _from_data(
        cls, data: Mapping[str, Any], source: str = "manifest", *, keyed_by_effect: Collection[str] | None = None
    ) -> Manifest:
        """Build from canonical data (see :meth:`to_data`) that was validated before.

        Private: it skips validation. Only :func:`parse_manifest` and an authenticated
        manifest-cache hit (:mod:`routegate._cache`) call it; the cache entry also
        carries ``keyed_by_effect`` (see :func:`_keyed_by_effect`), which would
        otherwise be worked out again from every provider's URLs.
        """
        if keyed_by_effect is None:
            keyed_by_effect = _keyed_by_effect(data)
        providers = {p["name"]: _provider(p, p["name"] in keyed_by_effect) for p in data["providers"]}
        runtimes = {
            name: Runtime(name, tuple(Arm(providers[a["name"]], tuple(a["models"] or ())) for a in r["providers"]))
            for name, r in data["runtimes"].items()
        }
        lifecycle = _lifecycle(data)
        return cls(data["schema_version"], MappingProxyType(providers), MappingProxyType(runtimes), source, lifecycle)

    def to_data(self) -> dict[str, Any]:
        """The manifest as plain JSON-able data, in canonical form (defaults filled in)."""
        from routegate._schema import PROVIDER_FIELDS  # deferred: the schema imports pydantic

        data: dict[str, Any] = {
            "schema_version": self.schema_version,
            "providers": [
                {name: _plain(getattr(p, _ATTRIBUTES.get(name, name))) for name in PROVIDER_FIELDS}
                for p in self.providers.values()
            ],
            "runtimes": {
                r.name: {
                    "providers": [{"name": arm.provider.name, "models": list(arm.models) or None} for arm in r.arms]
                }
                for r in self.runtimes.values()
            },
        }
        if self.lifecycle:  # left out when empty, so a manifest without dates keeps its fingerprint
            data["lifecycle"] = [entry.to_data() for entry in self.lifecycle]
        return data


def _lifecycle(data: Mapping[str, Any]) -> tuple[LifecycleEntry, ...]:
    """The dated facts; the lifecycle module loads only for a manifest that dates something."""
    if not data.get("lifecycle"):
        return ()
    from routegate.lifecycle import LifecycleEntry

    return tuple(LifecycleEntry.from_data(entry) for entry in data["lifecycle"])


_ATTRIBUTES = {"platform_keyed": "declared_platform_keyed"}
"""Document field -> :class:`Provider` attribute, where the names differ."""


def _keyed_by_effect(data: Mapping[str, Any]) -> frozenset[str]:
    """The providers that are the ``platform`` entry by effect: its key, or requests sent to its base URL."""
    platform = next((p for p in data["providers"] if p["name"] == PLATFORM), None)
    return frozenset(p["name"] for p in data["providers"] if platform_disguise(p, platform) is not None)


def _provider(record: Mapping[str, Any], keyed_by_effect: bool) -> Provider:
    fields = {_ATTRIBUTES.get(name, name): _frozen(value) for name, value in record.items()}
    return Provider(**fields, platform_keyed_by_effect=keyed_by_effect)


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


_BUNDLED = os.path.join(os.path.dirname(__file__), "data", "providers.yaml")


def bundled_manifest_path() -> Path:
    """The reference registry routegate ships as its default."""
    from pathlib import Path  # deferred: loading the default manifest needs only its name

    return Path(_BUNDLED)


def load_manifest(path: str | PathLike[str] | None = None, *, cached: bool = False) -> Manifest:
    """Read and validate a manifest file (the bundled one when ``path`` is None).

    With ``cached``, bytes validated before under the same rules are rebuilt from
    an authenticated local cache entry (see :mod:`routegate._cache`): for one-shot
    commands, where validation would dominate the run time.
    """
    file = _BUNDLED if path is None else _shown(path)
    try:
        with open(file, "rb") as opened:
            raw = opened.read()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UnreadableManifest([Problem("<file>", f"cannot read {file}: {error}")], source=file) from error
    if not cached:
        return parse_manifest(text, source=file)

    from routegate import _cache

    entry = _cache.read(raw)
    if entry is not None:
        return Manifest._from_data(entry["data"], file, keyed_by_effect=entry["platform_keyed_by_effect"])
    data = _validated(text, source=file)
    keyed_by_effect = _keyed_by_effect(data)
    _cache.write(raw, {"data": data, "platform_keyed_by_effect": sorted(keyed_by_effect)})
    return Manifest._from_data(data, file, keyed_by_effect=keyed_by_effect)


def _shown(path: str | PathLike[str]) -> str:
    """A given path as pathlib spells it, the way every message and ``source`` names the file."""
    from pathlib import Path

    return str(Path(path))


def parse_manifest(text: str, source: str = "manifest") -> Manifest:
    """Validate manifest YAML text; raise :class:`InvalidManifest` with every problem."""
    return Manifest._from_data(_validated(text, source), source=source)


def _validated(text: str, source: str) -> dict[str, Any]:
    """The canonical data of manifest YAML text that passes every load rule."""
    import yaml  # deferred: only validation needs it, and the schema imports pydantic

    from routegate import _schema, _yaml

    try:
        doc, duplicates = _yaml.load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<document>"
        problem = getattr(error, "problem", None) or str(error)
        raise InvalidManifest([Problem(where, f"not valid YAML: {problem}")], source=source) from None

    data, problems = _schema.validate(doc)
    problems = duplicates + problems
    if problems:
        raise InvalidManifest(problems, source=source)
    return data
