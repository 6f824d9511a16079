"""The call gate as the service runs it: tokens, the in-memory view, receipts, metrics, authorize.

``app.state.calls`` is the :class:`CallService`. :meth:`CallService.authorize` is the
hot path: a hash and a dict lookup for the token, the core's :class:`~routegate.calls.CallGate`
(cached per manifest version served) for the decision, and one queued receipt whose
commit it waits for. The view follows every instance's token changes with its own
:class:`~.propagation.ManifestWatcher` (NOTIFY on PostgreSQL, and the poll).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from routegate.calls import CallDecision, CallGate

from .async_receipts import AsyncReceipts
from .call_tokens import Caller, CallerView, TokenStore
from .http_errors import ServiceCode, ServiceError
from .loop_receipts import AdaptiveReceipts
from .propagation import ManifestWatcher
from .receipt_days import ReceiptDays
from .receipt_queries import ReceiptQueries
from .receipts import ReceiptWriter, Usage, at_millisecond, receipt_id
from .settings import SettingsError
from .state import Served, ServiceState

if TYPE_CHECKING:
    from fastapi import Request
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ENV_RECEIPT_QUEUE", "ENV_RECEIPT_RETENTION_DAYS", "CallService", "CallSettings", "call_service"]

ENV_RECEIPT_RETENTION_DAYS = "ROUTEGATE_RECEIPT_RETENTION_DAYS"
ENV_RECEIPT_QUEUE = "ROUTEGATE_RECEIPT_QUEUE"
_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)
_NO_PAYER = "none"
LOAD_PATIENCE_S = 30.0
"""How long a call waits for the view's first read (24 s measured at a million tokens) before a 503."""


@dataclass(frozen=True, slots=True)
class CallSettings:
    retention_days: int = 90
    """Receipts older than this many whole UTC days are dropped; 0 keeps them forever."""
    receipt_queue: int = 4096
    """Receipts that may wait for their commit before an authorization waits for room."""

    def __post_init__(self) -> None:
        if self.retention_days < 0:
            raise SettingsError(f"{ENV_RECEIPT_RETENTION_DAYS} must be 0 (keep forever) or a number of days")
        if self.receipt_queue < 1:
            raise SettingsError(f"{ENV_RECEIPT_QUEUE} must be at least 1")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> CallSettings:
        source = os.environ if env is None else env
        values: dict[str, int] = {}
        for name, field in ((ENV_RECEIPT_RETENTION_DAYS, "retention_days"), (ENV_RECEIPT_QUEUE, "receipt_queue")):
            if name in source:
                try:
                    values[field] = int(source[name])
                except ValueError:
                    raise SettingsError(f"{name} must be a whole number, not {source[name]!r}") from None
        return cls(**values)


class CallMetrics:
    """Calls decided by outcome and payer, authorize latency, the receipt queue's depth and waits."""

    __slots__ = ("_outcomes", "decided", "latency", "queue_depth", "waits")

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.decided: Counter = Counter(
            "routegate_calls",
            "Calls decided by POST /calls/authorize, by outcome (admitted or the code) and payer",
            ("outcome", "payer"),
            registry=registry,
        )
        self.latency: Histogram = Histogram(
            "routegate_call_authorize_seconds",
            "Latency of POST /calls/authorize, receipt commit included",
            registry=registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.queue_depth: Gauge = Gauge(
            "routegate_call_receipt_queue_depth",
            "Call receipts queued for their commit",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.waits: Counter = Counter(
            "routegate_call_receipt_waits",
            "Authorizations that waited for room in the full receipt queue",
            registry=registry,
        )
        self._outcomes: dict[tuple[str, str], Counter] = {}

    def count(self, outcome: str, payer: str) -> None:
        """One more call decided so; the labelled counter is looked up once per pair, not per call."""
        counter = self._outcomes.get((outcome, payer))
        if counter is None:
            counter = self._outcomes.setdefault((outcome, payer), self.decided.labels(outcome, payer))
        counter.inc()


class CallService:
    """The call gate of one process: tokens, the callers' view, decisions and their receipts.

    ``loop_busy``, for a process whose event loop serves other work (the LiteLLM proxy deciding in
    process): a receipt is committed on the loop by the call that waits for it while ``loop_busy()``
    is false (on PostgreSQL without holding it), and by a writer thread while it is true
    (:class:`.loop_receipts.AdaptiveReceipts`); usage reports as receipts are while the loop is quiet.
    Without it the writer thread commits every receipt, in batches (the service).
    """

    def __init__(
        self,
        state: ServiceState,
        settings: CallSettings,
        registry: CollectorRegistry,
        *,
        loop_busy: Callable[[], bool] | None = None,
    ) -> None:
        self.state = state
        self.settings = settings
        self.metrics = CallMetrics(registry)
        self.view = CallerView(state.database)
        self.tokens = TokenStore(state.database, self.view)
        self.days = ReceiptDays(state.database, settings.retention_days)
        self.writer: ReceiptWriter | AdaptiveReceipts = (
            ReceiptWriter(state.database, self.days, queue_size=settings.receipt_queue, on_wait=self.metrics.waits.inc)
            if loop_busy is None
            else AdaptiveReceipts(
                state.database, self.days, queue_size=settings.receipt_queue, busy=loop_busy, quiet=self._quiet()
            )
        )
        self.receipts = ReceiptQueries(state.database)
        self._watcher = ManifestWatcher(
            state.settings.database_url, state.settings.manifest_poll_seconds, self._on_wake, name="call-token"
        )
        self._gate: tuple[Served, CallGate] | None = None
        self._when_loaded: Callable[[], None] | None = None

    def start(self, *, when_loaded: Callable[[], None] | None = None) -> None:
        """Starts the receipts' writer and the view's watcher, whose first round reads every live
        token: seconds at a million, so in the background; until then authorize waits for it.
        ``when_loaded`` is called on the watcher's thread once that read is applied."""
        self._when_loaded = when_loaded
        self.writer.start()
        self._watcher.start()
        self._watcher.wake()

    @property
    def tokens_loaded(self) -> bool:
        """Whether the view has read the live tokens once; until then authorize waits (``/healthz`` says so)."""
        return self.view.loaded.is_set()

    def _on_wake(self, _reload: bool) -> None:
        """A token changed on some instance (NOTIFY), or the poll came round: read what changed."""
        first = not self.tokens_loaded
        self.view.refresh()
        if first and self._when_loaded is not None:
            self._when_loaded()

    def close(self) -> None:
        self._watcher.stop()
        self.writer.stop()

    def _quiet(self) -> AsyncReceipts | None:
        """On PostgreSQL, what commits while the loop is quiet without holding it; SQLite commits on the loop."""
        if self.state.database.engine.dialect.name != "postgresql":
            return None
        return AsyncReceipts(self.state.settings.database_url, self.days)

    async def report_usages(self, reports: Sequence[Usage]) -> None:
        """A gateway's usage reports, for a gateway deciding in this process (the service's gateways report
        each over HTTP), committed as its receipts are (:meth:`.AdaptiveReceipts.report_usages`)."""
        if not isinstance(self.writer, AdaptiveReceipts):
            raise TypeError("usage reports are committed in process only by a call service given loop_busy")
        await self.writer.report_usages(reports)

    async def _until_loaded(self) -> None:
        """Wait for the view's first read, a bounded time (:data:`LOAD_PATIENCE_S`); then 503."""
        deadline = time.monotonic() + LOAD_PATIENCE_S
        while not self.tokens_loaded:
            if time.monotonic() >= deadline:
                raise ServiceError(
                    ServiceCode.DATABASE_UNAVAILABLE,
                    "the call tokens are still being read from the database; nothing was decided, retry shortly",
                    headers={"Retry-After": "1"},
                )
            await asyncio.sleep(0.05)

    def _gate_for(self, served: Served) -> CallGate:
        """The gate for the version served now: a new version, a new gate (and cache)."""
        current = self._gate
        if current is not None and current[0] is served:
            return current[1]
        gate = CallGate(served.registry)
        self._gate = (served, gate)
        return gate

    async def authorize(self, token: str, model: str) -> tuple[int, dict[str, Any]]:
        """(status, body) for one call: 200 admitted, 403 refused; raises CALL_TOKEN_INVALID (401)."""
        started = time.perf_counter()
        if not self.tokens_loaded:
            await self._until_loaded()
        now = time.time()
        caller = self.view.caller(token, now)
        if caller is None:
            self.metrics.count(ServiceCode.CALL_TOKEN_INVALID.value, _NO_PAYER)
            raise ServiceError(
                ServiceCode.CALL_TOKEN_INVALID,
                "the call token is unknown, revoked or expired; issue a new one with POST /workspaces/{id}/call-tokens",
            )
        served = self.state.served  # one manifest version for the decision and its receipt
        call = self._gate_for(served).decide(caller.runtime, caller.model, caller.auth_env, model, caller.scope)
        at_ms = int(now * 1000)
        receipt = _receipt(receipt_id(at_ms), at_ms, caller, call, served.version)
        self.metrics.queue_depth.set(self.writer.depth)
        await self.writer.write(receipt)
        self.metrics.count(str(call.code or "admitted"), str(call.payer or _NO_PAYER))
        self.metrics.latency.observe(time.perf_counter() - started)
        return (200 if call.allowed else 403), _answer(receipt["id"], caller, call, served.version)


def call_service(request: Request) -> CallService:
    """The call gate of the service a request reached."""
    return request.app.state.calls  # type: ignore[no-any-return]


def _receipt(receipt: str, at_ms: int, caller: Caller, call: CallDecision, version: int) -> dict[str, Any]:
    provider = call.provider
    return {
        "id": receipt,
        "at": at_millisecond(at_ms),
        "workspace_id": caller.workspace_id,
        "token_id": caller.token_id,
        "model": call.model,
        "allowed": call.allowed,
        "code": None if call.code is None else call.code.value,
        "payer": None if call.payer is None else call.payer.value,
        "provider": None if provider is None else provider.name,
        "upstream_vendor": None if call.upstream is None else call.upstream.vendor,
        "manifest_version": version,
        "prompt_tokens": None,
        "completion_tokens": None,
        "status": None,
        "reported_at": None,
    }


def _answer(receipt: str, caller: Caller, call: CallDecision, version: int) -> dict[str, Any]:
    if not call.allowed:
        decision = call.decision
        return {
            "allowed": False,
            "code": str(call.code),
            "error": call.reason,
            "receipt_id": receipt,
            "workspace_id": caller.workspace_id,
            "runtime": call.runtime,
            "model": call.model,
            "candidates": list(decision.candidates),
            "suggestions": list(decision.suggestions) if call.refusal is None else [],
            "manifest_version": version,
        }
    upstream = call.upstream
    provider = call.provider
    return {
        "allowed": True,
        "workspace_id": caller.workspace_id,
        "runtime": call.runtime,
        "model": call.model,
        "payer": str(call.payer),
        "provider": None if provider is None else provider.name,
        "required_env": list(call.required_env),
        "upstream": None
        if upstream is None
        else {
            "vendor": upstream.vendor,
            "model": upstream.model,
            "base_url": upstream.provider.base_url_template or upstream.provider.base_url_anthropic,
            "provider": upstream.provider.name,
        },
        "manifest_version": version,
        "receipt_id": receipt,
    }
