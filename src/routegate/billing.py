"""Who pays for a routed model: the platform's key or the tenant's (BYOK).

The money rule lives here so that every caller asks the same question the
same way: only the ``platform`` provider is platform-managed; any other
derived provider is billed to the tenant's own key.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Iterable, Mapping

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "PLATFORM",
    "BillingMode",
    "billing_mode_for",
    "is_platform_keyed",
    "platform_credential_shared",
    "platform_disguise",
]

PLATFORM = "platform"
"""The reserved provider name whose use the platform meters and pays for."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


class BillingMode(enum.StrEnum):
    PLATFORM_MANAGED = "platform_managed"
    BYOK = "byok"


def billing_mode_for(provider_name: str) -> BillingMode:
    """The billing mode of a workspace whose model derived to ``provider_name``."""
    return BillingMode.PLATFORM_MANAGED if provider_name == PLATFORM else BillingMode.BYOK


def is_platform_keyed(name: str, upstream_vendor: str | None, declared: bool, *, by_effect: bool = False) -> bool:
    """Whether the platform holds this provider's upstream key.

    Such a provider must never be reachable by prefix alone (guardrail G1):
    a BYOK id matched by its pattern would be served on the platform's key.
    ``by_effect`` is :func:`platform_credential_shared`'s verdict: the
    platform in disguise, whatever its name.
    """
    return name == PLATFORM or upstream_vendor is not None or declared or by_effect


def platform_credential_shared(
    auth_env: Iterable[str],
    base_urls: Iterable[str | None],
    platform_auth_env: Iterable[str],
    platform_base_urls: Iterable[str | None],
) -> str | None:
    """What makes a provider the platform by effect, in words, or None.

    A provider that authenticates with one of the platform's own ``auth_env``
    names, or sends requests to one of the platform's base URLs, spends the
    platform's key. Sharing a *vendor's* names or URLs is normal BYOK and is
    not asked about here: only the platform's own credential counts.
    """
    shared_env = [name for name in auth_env if name in set(platform_auth_env)]
    if shared_env:
        return f"authenticates with the platform's own credential {shared_env[0]}"
    platform_endpoints = [(url, _endpoint(url)) for url in platform_base_urls if url]
    for url in base_urls:
        if not url:
            continue
        endpoint = _endpoint(url)
        for platform_url, platform_endpoint in platform_endpoints:
            if _reaches(endpoint, platform_endpoint):
                return f"sends requests to the platform's base URL {platform_url}"
    return None


def platform_disguise(provider: Mapping[str, Any], platform: Mapping[str, Any] | None) -> str | None:
    """How a catalog entry (a manifest document's provider record) is the ``platform`` entry by effect, or None."""
    if platform is None or provider["name"] == PLATFORM:
        return None
    return platform_credential_shared(
        provider["auth_env"],
        (provider["base_url_template"], provider["base_url_anthropic"]),
        platform["auth_env"],
        (platform["base_url_template"], platform["base_url_anthropic"]),
    )


def _endpoint(url: str) -> tuple[str, str, int | None, tuple[str, ...]]:
    """(scheme, host, port, path segments), so spelling differences of one URL compare equal."""
    from urllib.parse import unquote, urlsplit  # deferred: a cached manifest carries what this works out

    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    host = (parts.hostname or "").rstrip(".")
    path = posixpath.normpath("/" + unquote(parts.path))
    return scheme, host, port or _DEFAULT_PORTS.get(scheme), tuple(s for s in path.split("/") if s)


def _reaches(
    endpoint: tuple[str, str, int | None, tuple[str, ...]], platform: tuple[str, str, int | None, tuple[str, ...]]
) -> bool:
    """Same origin, and one path lies within the other: every request lands on the platform's endpoints."""
    if endpoint[:3] != platform[:3]:
        return False
    shorter = min(len(endpoint[3]), len(platform[3]))
    return endpoint[3][:shorter] == platform[3][:shorter]
