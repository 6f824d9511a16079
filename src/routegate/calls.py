"""The call decision: may this workspace's call for this id go through, and who pays for it.

The create gate decides once; the platform pays at every call its LLM proxy
forwards. :func:`decide_call` decides one call against the calling workspace:
``check(runtime, id, auth_env)`` under the manifest in force (refused there,
refused here with the same code), then the scope, then the payer. A platform-paid
call needs :meth:`Registry.upstream` to name the vendor; a tenant-paid call names
the env vars the tenant's own key comes from and never a platform upstream. Nothing
here moves a call to the platform's key: there is no fallback.

:class:`CallGate` is the same function behind a bounded cache, for the service's hot path.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from routegate.billing import BillingMode
from routegate.decision import Code, Decision
from routegate.errors import NotNamespaced
from routegate.lifecycle import today
from routegate.manifest import Provider
from routegate.registry import Registry
from routegate.resolution import Upstream, display_id

__all__ = ["CallDecision", "CallGate", "Payer", "Scope", "decide_call"]

_CACHEABLE_LENGTH = 256  # as Registry.check: longer ids are decided afresh, never kept


class Payer(enum.StrEnum):
    """Whose key a call is forwarded on."""

    PLATFORM = "platform"
    TENANT = "tenant"


class Scope(enum.StrEnum):
    """Which ids a workspace's calls may ask for."""

    MENU = "menu"
    """Any id the workspace's runtime admits (the default)."""
    MODEL = "model"
    """Only the workspace's own model."""


@dataclass(frozen=True, slots=True)
class CallDecision:
    """The answer for one call: allowed or not, why, who pays, and where the platform sends it.

    Invariants, checked at construction: a refusal has a code and neither payer nor
    upstream; an allowed call has a payer; a platform-paid call has an upstream and a
    tenant-paid call has none.
    """

    runtime: str
    model: str
    """The requested id as decided: trimmed."""
    allowed: bool
    code: Code | None
    decision: Decision
    """The create gate's decision for the same (runtime, id, auth_env)."""
    payer: Payer | None = None
    required_env: tuple[str, ...] = ()
    """For a tenant-paid call, the env var names the tenant's key comes from."""
    upstream: Upstream | None = None
    refusal: str | None = None
    """Why a refusal the create gate did not make was made here."""

    def __post_init__(self) -> None:
        if self.allowed:
            if self.code is not None or self.payer is None:
                raise ValueError("an allowed call has a payer and no code")
            if (self.payer is Payer.PLATFORM) != (self.upstream is not None):
                raise ValueError("a call has a platform upstream exactly when the platform pays")
        elif self.code is None or self.payer is not None or self.upstream is not None:
            raise ValueError("a refused call has a code, and neither payer nor upstream")

    @property
    def provider(self) -> Provider | None:
        """The provider the create gate's decision derived (None for a foreign runtime or a refusal)."""
        return self.decision.provider if self.allowed else None

    @property
    def reason(self) -> str:
        """Why, in words a person can act on."""
        return self.refusal if self.refusal is not None else self.decision.reason


def decide_call(
    registry: Registry,
    runtime: str,
    workspace_model: str | None,
    auth_env: Iterable[str],
    model: str,
    scope: Scope = Scope.MENU,
    on: date | None = None,
) -> CallDecision:
    """Decide a workspace's call for ``model`` on the UTC date ``on`` (default today). Never raises for any id.

    ``runtime``, ``workspace_model`` and ``auth_env`` are the calling workspace's. A deprecated id
    is still called (only new workspaces are refused it); a retired one is refused like any other.
    """
    decision = registry.check(runtime, model, auth_env, on=on)
    asked = decision.model
    if not decision.admits_existing:
        return CallDecision(runtime, asked, False, decision.code, decision)
    if not asked:
        return _refused(decision, Code.MODEL_REQUIRED, "the call names no model; send the model id to call")
    if scope is Scope.MODEL and asked != (workspace_model or "").strip():
        own = "has no model of its own" if not workspace_model else f"may call only '{display_id(workspace_model)}'"
        return _refused(
            decision,
            Code.CALL_OUTSIDE_WORKSPACE_MODEL,
            f"this workspace {own} (call scope 'model'), not '{display_id(asked)}'; "
            "call the workspace's model, or change the workspace's model first",
        )
    if decision.billing_mode is not BillingMode.PLATFORM_MANAGED:
        return CallDecision(runtime, asked, True, None, decision, Payer.TENANT, decision.required_env)
    try:
        upstream = registry.upstream(asked)
    except NotNamespaced:
        return _refused(
            decision,
            Code.NO_PLATFORM_UPSTREAM,
            f"'{display_id(asked)}' would be billed to the platform, but no upstream vendor serves it "
            "(the id must start with a vendor and '/' or ':'); ask for a namespaced menu id",
        )
    return CallDecision(runtime, asked, True, None, decision, Payer.PLATFORM, (), upstream)


def _refused(decision: Decision, code: Code, why: str) -> CallDecision:
    return CallDecision(decision.runtime, decision.model, False, code, decision, refusal=why)


class CallGate:
    """:func:`decide_call` under one registry, its answers kept in a bounded cache.

    Build one per registry (a new manifest version, a new gate): the cache is only
    valid for the registry it was filled from. Ids longer than 256 characters and
    long env name sets are decided afresh every time, so hostile input cannot fill it.
    """

    __slots__ = ("_cached", "_dated", "registry")

    def __init__(self, registry: Registry, *, cache_size: int = 65536) -> None:
        self.registry = registry
        self._dated = bool(registry.lifecycle)
        """The manifest dates ids: the day is part of each cached answer's key."""

        def decide(
            runtime: str,
            workspace_model: str | None,
            auth_env: frozenset[str],
            model: str,
            scope: Scope,
            on: date | None = None,
        ) -> CallDecision:
            return decide_call(registry, runtime, workspace_model, auth_env, model, scope, on)

        self._cached = lru_cache(maxsize=cache_size)(decide)

    def decide(
        self,
        runtime: str,
        workspace_model: str | None,
        auth_env: frozenset[str],
        model: str,
        scope: Scope = Scope.MENU,
        on: date | None = None,
    ) -> CallDecision:
        """The same answer as :func:`decide_call`."""
        if self._dated and on is None:
            on = today()
        if len(model) > _CACHEABLE_LENGTH or len(auth_env) > 16:
            return decide_call(self.registry, runtime, workspace_model, auth_env, model, scope, on)
        if on is None:
            return self._cached(runtime, workspace_model, auth_env, model, scope)
        return self._cached(runtime, workspace_model, auth_env, model, scope, on)
