"""routegate's call gate inside the LiteLLM proxy: its ``custom_auth`` and its call hooks.

Load it from the config ``routegate gen --target litellm`` writes. The workspace sends its call
token as the bearer key; :func:`custom_auth` asks routegate (``POST /calls/authorize`` at
``ROUTEGATE_URL``, with ``ROUTEGATE_API_TOKEN``) before LiteLLM routes anything, and a refusal never
reaches a vendor. On a chat completion or a message, over HTTP or in process on PostgreSQL, the
question goes out in ``custom_auth`` and its answer is awaited in the pre-call hook, before routing:
the service decides, or the receipt is committed, while LiteLLM prepares the request (about 3 ms of
its own work on a slow machine), which would otherwise wait behind the round trip. :data:`call_gate`
then decides again for every deployment LiteLLM actually tries -- a retry, a fallback, a router's
change of model: an attempt on another id than the one admitted gets routegate's decision for that
id, with its own receipt, under the same call token, and goes on only when admitted and
platform-paid -- and completes each receipt with usage.

Deciding in process (``ROUTEGATE_DATABASE_URL``), the receipt of an admitted call is committed
before the call goes on, on LiteLLM's event loop itself while no other call is in flight (on
PostgreSQL over an asyncio connection, which leaves the loop free while the server works): a writer
thread's wake-up would wait behind LiteLLM's own callbacks, which costs a call more than the commit.
With other calls in flight a writer thread commits their receipts together while the loop serves
them (:class:`routegate.service.loop_receipts.AdaptiveReceipts` says why). The usage reports after
the call are committed on the loop too, together in batches, off the answer's path; over HTTP
they go together as one ``POST /calls/usage`` per tenth of a second. Each post-call hook returns
only once its report is taken. Every answer's ``Server-Timing`` names
routegate's time on its path (``routegate;dur=``, milliseconds).

Once the proxy has finished its first call, what it holds is left out of the collector's full
passes (``ROUTEGATE_FREEZE_HEAP=0``: not), each of which held LiteLLM's event loop about 400 ms.

This proxy forwards platform-paid calls only: a call the tenant pays for is refused
(``CALL_PAID_BY_TENANT``), so no tenant key and no platform key is ever swapped for the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import hmac
import logging
import os
import time
import weakref
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import LitellmUserRoles, ProxyException, UserAPIKeyAuth
from litellm.proxy.common_utils.http_parsing_utils import _read_request_body

from routegate.codes import Code, IntegrationCode

from ._gates import InProcess, Service, refusal

__all__ = ["CallGateHooks", "call_gate", "custom_auth"]

log = logging.getLogger("routegate.integrations.litellm")

_GATE = "routegate"  # the key of routegate's decision in the auth object's and the request's metadata
_DECISION = ("workspace_id", "model", "payer", "manifest_version", "receipt_id")
_FREEZE_HEAP = "ROUTEGATE_FREEZE_HEAP"  # "0" leaves the proxy's collector as LiteLLM set it
_CLIENT_CREDENTIALS = ("api_key", "api_base", "base_url", "user_config", "aws_access_key_id", "vertex_credentials")
_ASKED_AHEAD = frozenset({"/v1/chat/completions", "/v1/messages"})
"""Routes whose handler runs the pre-call hook before it routes (tests/integrations prove both): their
decision is awaited there, when routegate waits on a server to decide (over HTTP, or in process on
PostgreSQL). Any other route, or in process on SQLite, waits for its decision in custom_auth."""
# Turns of the event loop that put the question on its way: aiohttp's request written on a kept
# connection takes two; in process on PostgreSQL the receipt's statement is sent within the first.
_TURNS_TO_SEND = 2


_gate: Service | InProcess | None = None


def _routegate() -> Service | InProcess:
    """The gate this proxy asks: in process with ``ROUTEGATE_DATABASE_URL``, else the service at ``ROUTEGATE_URL``."""
    global _gate
    if _gate is None:
        database_url, url = os.environ.get("ROUTEGATE_DATABASE_URL"), os.environ.get("ROUTEGATE_URL")
        if database_url:
            _gate = InProcess(database_url, _loop_busy)
        elif url:
            _gate = Service(url, os.environ.get("ROUTEGATE_API_TOKEN"))
        else:
            reason = "the proxy has neither ROUTEGATE_URL nor ROUTEGATE_DATABASE_URL: it admits no call"
            raise refusal(IntegrationCode.ROUTEGATE_UNCONFIGURED, reason)
    return _gate


@dataclass(slots=True, weakref_slot=True, eq=False)
class _Call:
    """One request's call token, routegate's decision for each id LiteLLM tried for it (the admitted
    one, or the refusal: a retry of a refused id is refused again without another receipt), the
    seconds routegate's hooks have taken on the request's path so far, whether it is answered, the
    first decision while it is on its way from the service (asked in custom_auth, awaited before
    routing), and whether the request passed the pre-call hook on to LiteLLM's router."""

    token: str
    decided: dict[str, dict[str, Any] | ProxyException] = field(default_factory=dict)
    seconds: float = 0.0
    answered: bool = False
    asked: asyncio.Task[dict[str, Any]] | None = None
    routed: bool = False


_call: ContextVar[_Call | None] = ContextVar("routegate_call", default=None)
"""The request's call, from custom_auth to each attempt: kept in the request's context, never in
LiteLLM's metadata, which its spend logs keep."""
_admitted: weakref.WeakSet[_Call] = weakref.WeakSet()
"""The admitted requests' calls, each for as long as its request's context (or a copy LiteLLM's
logging took of it) holds it: a request that ends before its answer hook still leaves."""
_BUSY_FROM = 2  # other calls in flight, admitted and not yet answered, that make the event loop busy


def _admit_in_this_request(call: _Call) -> None:
    _call.set(call)
    _admitted.add(call)


def _loop_busy() -> bool:
    """Whether other calls keep the event loop busy. One at a time it is not, and a receipt is
    committed on the loop."""
    return sum(not call.answered for call in _admitted) >= _BUSY_FROM


async def _admit(token: str, model: str) -> dict[str, Any]:
    """routegate's decision for ``model``, admitted and platform-paid; raises the refusal otherwise."""
    status, answer = await _routegate().authorize(token, model)
    if status != 200 or not answer.get("allowed"):
        code, reason = answer.get("code", "CALL_REFUSED"), answer.get("error") or answer.get("message", "refused")
        raise refusal(code, reason, answer.get("receipt_id"), status if 400 <= status < 500 else 503)
    if answer.get("payer") != "platform":
        await _routegate().report(answer["receipt_id"], 0, 0, "not_forwarded", wait=False)
        reason = f"'{answer['model']}' is paid with the tenant's own key: call its vendor directly, not this proxy"
        raise refusal(Code.CALL_PAID_BY_TENANT, reason, answer["receipt_id"])
    return {key: answer[key] for key in _DECISION}


async def custom_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    """The call token is the bearer key; the call goes on only when routegate admits it and the platform pays."""
    started = time.perf_counter()
    body = await _read_request_body(request)
    model = body.get("model") if isinstance(body, dict) else None
    model = model if isinstance(model, str) else ""
    token = api_key.removeprefix("Bearer ").strip()
    if not token:
        raise refusal("CALL_TOKEN_INVALID", "send the workspace's call token as the bearer key", status=401)
    if _is_master_key(token):
        # The operator's key opens LiteLLM's own routes (model list, health); the hooks below still
        # refuse every model call it makes, since routegate admitted none.
        return UserAPIKeyAuth(api_key=token, user_role=LitellmUserRoles.PROXY_ADMIN)
    if request.url.path in _ASKED_AHEAD and _routegate().waits_on_a_server:
        call = _Call(token, asked=await _ask_ahead(token, model))
        held: dict[str, Any] = {}  # filled in place by the pre-call hook: LiteLLM logs a shallow copy of the metadata
    else:
        held = await _admit(token, model)
        call = _Call(token, {held["model"]: held})
    call.seconds = time.perf_counter() - started
    _admit_in_this_request(call)
    return UserAPIKeyAuth(api_key=_logged_key(token), metadata={_GATE: held})


def _logged_key(token: str) -> str:
    """The name LiteLLM's spend logs give the caller: the call token's, never the token itself."""
    return f"routegate-call-token-{hashlib.sha256(token.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


async def _ask_ahead(token: str, model: str) -> asyncio.Task[dict[str, Any]]:
    """:func:`_admit` under way, its request written on a pooled connection when this returns, so the
    service decides while LiteLLM prepares the request: LiteLLM does not yield to the event loop again
    before its pre-call hook, which awaits the decision."""
    asked = asyncio.ensure_future(_admit(token, model))
    asked.add_done_callback(_retrieved)
    for _ in range(_TURNS_TO_SEND):
        await asyncio.sleep(0)
    return asked


def _retrieved(asked: asyncio.Task[dict[str, Any]]) -> None:
    """A decision a request never awaited (it ended first) leaves no "exception never retrieved" warning."""
    if not asked.cancelled():
        asked.exception()


async def _decision(user_api_key_dict: UserAPIKeyAuth) -> dict[str, Any]:
    """The decision custom_auth made or asked for; raises the refusal when routegate refused."""
    held = (user_api_key_dict.metadata or {}).get(_GATE)
    call = _call.get()
    if held is not None and call is not None and call.asked is not None:
        asked, call.asked = call.asked, None
        decision = await asked
        call.decided[decision["model"]] = decision
        held.update(decision)
    if not held:
        raise refusal("CALL_TOKEN_INVALID", "the call was not authorized by routegate", status=401)
    return dict(held)


def _is_master_key(token: str) -> bool:
    master = os.environ.get("LITELLM_MASTER_KEY")
    return bool(master) and hmac.compare_digest(token.encode(), str(master).encode())


class CallGateHooks(CustomLogger):
    """Decides each attempt LiteLLM makes before it leaves; completes each attempt's receipt after."""

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        """Before routing: routegate admitted the call, the body asks for the admitted id and brings no
        credentials of its own."""
        with _on_the_path():
            data = self._admitted_request(await _decision(user_api_key_dict), data)
        call = _call.get()
        if call is not None:
            call.routed = True
        return data

    def _admitted_request(self, decision: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        if data.get("model") != decision["model"]:
            reason = "the request names another id than the one routegate admitted"
            raise refusal(IntegrationCode.CALL_MODEL_CHANGED, reason, decision["receipt_id"])
        brought = [name for name in _CLIENT_CREDENTIALS if name in data]
        if brought:
            reason = f"the request brings its own {', '.join(brought)}: this proxy forwards on the platform's key only"
            raise refusal(Code.CALL_PAID_BY_TENANT, reason, decision["receipt_id"])
        _stamp(data.setdefault("metadata", {}), decision)
        return data

    async def async_pre_call_deployment_hook(self, kwargs: dict[str, Any], call_type: Any) -> dict[str, Any] | None:
        """Before each attempt (retries and fallbacks too): routegate admitted this very id, paid by the platform.

        An attempt on another id than the request's -- a fallback, a router's change of model -- is
        decided anew under the same call token, with its own receipt, which this attempt's usage completes.
        """
        with _on_the_path():
            return await self._admitted_attempt(kwargs)

    async def _admitted_attempt(self, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        metadata = _metadata(kwargs)
        serving, admitted = metadata.get("model_group"), metadata.get("routegate_model")
        if admitted is None or not isinstance(serving, str):
            raise refusal(IntegrationCode.CALL_NOT_AUTHORIZED, "routegate admitted no call for this request")
        if serving == admitted:  # the first attempt, or a retry of it
            if metadata.get("routegate_payer") != "platform":
                raise refusal(Code.CALL_PAID_BY_TENANT, "only platform-paid calls are forwarded")
            return None
        call = _call.get()
        if call is None:
            reason = f"LiteLLM tried '{serving}' for a call admitted for '{admitted}', and routegate cannot be asked"
            raise refusal(IntegrationCode.CALL_NOT_AUTHORIZED, reason, metadata.get("routegate_receipt_id"))
        decision = call.decided.get(serving)
        if decision is None:
            try:
                decision = call.decided[serving] = await _admit(call.token, serving)
            except ProxyException as refused:
                call.decided[serving] = refused
                raise
        if isinstance(decision, ProxyException):
            raise decision
        for key in ("metadata", "litellm_metadata"):
            if isinstance(kwargs.get(key), dict):
                _stamp(kwargs[key], decision)
        return kwargs

    async def async_post_call_response_headers_hook(
        self,
        data: dict[Any, Any],
        user_api_key_dict: UserAPIKeyAuth,
        response: object,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, object] | None = None,
    ) -> dict[str, str] | None:
        """The answer's ``Server-Timing`` names the time routegate took on its path (``routegate;dur=`` ms):
        the decisions and receipts before the call left, not the usage report after it. LiteLLM asks
        for an answer's headers, success or failure, as it answers: the call is no longer in flight."""
        call = _call.get()
        if call is None:
            return None
        call.answered = True
        return {"server-timing": f"routegate;dur={call.seconds * 1000:.3f}"}

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: UserAPIKeyAuth,
        traceback_str: str | None = None,
    ) -> None:
        """A request that ended before LiteLLM's router (a body LiteLLM rejects, a refusal of the
        pre-call hook): its admitted call's receipt says it was not forwarded."""
        call = _call.get()
        if call is None or call.routed:
            return
        admitted = [decision for decision in call.decided.values() if isinstance(decision, dict)]
        if call.asked is not None:
            asked, call.asked = call.asked, None
            with contextlib.suppress(ProxyException):  # refused: its receipt says so already
                admitted.append(await asked)
        for decision in admitted:
            await _routegate().report(decision["receipt_id"], 0, 0, "not_forwarded", wait=False)

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        usage = getattr(response_obj, "usage", None)
        await self._complete(
            kwargs, getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0, "ok"
        )

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        error = kwargs.get("exception")
        await self._complete(kwargs, 0, 0, f"error:{type(error).__name__}" if error is not None else "error")

    async def _complete(self, kwargs: dict[str, Any], prompt_tokens: int, completion_tokens: int, status: str) -> None:
        _settle_heap()
        metadata = _metadata(kwargs.get("litellm_params") or {})
        # On the /v1/messages route the logged metadata keeps the auth object's, not the request's additions.
        admitted = (metadata.get("user_api_key_auth_metadata") or {}).get(_GATE) or {}
        receipt_id = metadata.get("routegate_receipt_id") or admitted.get("receipt_id")
        call = _call.get()
        if call is not None and not call.routed:  # ended before LiteLLM's router: the failure hook reports it
            return
        if receipt_id is not None:
            await _routegate().report(receipt_id, prompt_tokens, completion_tokens, status[:32])


_heap_settled = False


def _settle_heap() -> None:
    """Once the proxy has finished its first call, leave what it holds for good out of the collector's full passes.

    LiteLLM's proxy holds about 790,000 objects once started and through its first call (its model
    cost map, its routes, the libraries). Under load CPython's full pass over them held the proxy's
    event loop about 400 ms every 10 to 30 s: every call in flight waited. ``gc.freeze()`` moves
    them to a generation no pass walks, at no cost now. They are still freed when their last
    reference goes; only a reference cycle among them is never collected.
    """
    global _heap_settled
    if _heap_settled:
        return
    _heap_settled = True
    if os.environ.get(_FREEZE_HEAP, "1").strip().lower() in ("0", "false", "no"):
        return
    gc.freeze()
    log.info(
        "routegate: %d objects of the proxy's heap left out of full collections (%s=0 keeps them in)",
        gc.get_freeze_count(),
        _FREEZE_HEAP,
    )


@contextlib.contextmanager
def _on_the_path() -> Iterator[None]:
    """Counts the time inside towards the request's routegate time."""
    started = time.perf_counter()
    try:
        yield
    finally:
        call = _call.get()
        if call is not None:
            call.seconds += time.perf_counter() - started


def _stamp(metadata: dict[str, Any], decision: dict[str, Any]) -> None:
    """The attempt's decision, where LiteLLM's spend logs and the post-call hooks read it."""
    metadata.update({f"routegate_{key}": value for key, value in decision.items()})


def _metadata(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The request's metadata: LiteLLM keeps it under ``metadata`` on chat completions and partly under
    ``litellm_metadata`` on its Anthropic ``/v1/messages`` route."""
    return {**(kwargs.get("litellm_metadata") or {}), **(kwargs.get("metadata") or {})}


call_gate = CallGateHooks()
"""The instance the generated config's ``litellm_settings.callbacks`` names."""
