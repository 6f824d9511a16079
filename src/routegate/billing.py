"""Who pays for a routed model: the platform's key or the tenant's (BYOK).

The money rule lives here so that every caller asks the same question the
same way: only the ``platform`` provider is platform-managed; any other
derived provider is billed to the tenant's own key.
"""

from __future__ import annotations

import enum

__all__ = ["PLATFORM", "BillingMode", "billing_mode_for", "is_platform_keyed"]

PLATFORM = "platform"
"""The reserved provider name whose use the platform meters and pays for."""


class BillingMode(enum.StrEnum):
    PLATFORM_MANAGED = "platform_managed"
    BYOK = "byok"


def billing_mode_for(provider_name: str) -> BillingMode:
    """The billing mode of a workspace whose model derived to ``provider_name``."""
    return BillingMode.PLATFORM_MANAGED if provider_name == PLATFORM else BillingMode.BYOK


def is_platform_keyed(name: str, upstream_vendor: str | None, declared: bool) -> bool:
    """Whether the platform holds this provider's upstream key.

    Such a provider must never be reachable by prefix alone (guardrail G1):
    a BYOK id matched by its pattern would be served on the platform's key.
    """
    return name == PLATFORM or upstream_vendor is not None or declared
