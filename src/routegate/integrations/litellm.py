"""routegate's call gate inside the LiteLLM proxy: its ``custom_auth`` and its call hooks.

Load it from the config ``routegate gen --target litellm`` writes. The workspace sends its
call token as the bearer key; :func:`custom_auth` asks routegate (``POST /calls/authorize``
at ``ROUTEGATE_URL``, with ``ROUTEGATE_API_TOKEN``) before LiteLLM routes anything, and a
refusal never reaches a vendor. :data:`call_gate` then decides again for every deployment
LiteLLM actually tries -- a retry, a fallback, a router's change of model: an attempt on
another id than the one admitted gets routegate's decision for that id, with its own receipt,
under the same call token, and goes on only when admitted and platform-paid -- and completes
each receipt with usage.

Deciding in process (``ROUTEGATE_DATABASE_URL``), the receipt of an admitted call is committed
before the call goes on, on LiteLLM's event loop itself while no other call is in flight: a writer
thread's wake-up would wait behind LiteLLM's own callbacks, which costs a call more than the commit.
With other calls in flight a writer thread commits their receipts together while the loop serves
them (:class:`routegate.service.receipts.AdaptiveReceipts` says why). The usage reports after
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
import hmac
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from fastapi import Request
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import LitellmUserRoles, ProxyException, UserAPIKeyAuth
from litellm.proxy.common_utils.http_parsing_utils import _read_request_body

from routegate.codes import Code, IntegrationCode, RefusalCode

if TYPE_CHECKING:  # the service is imported only by a proxy deciding in process
    from routegate.service.receipts import Usage

__all__ = ["CallGateHooks", "call_gate", "custom_auth"]

log = logging.getLogger("routegate.integrations.litellm")

_GATE = "routegate"  # the key of routegate's decision in the auth object's and the request's metadata
_DECISION = ("workspace_id", "model", "payer", "manifest_version", "receipt_id")
_REPORT_RETRY_SECONDS = (0.05, 0.25, 1.0, 5.0)  # then every 5 s: a usage report is never dropped
_REPORT_LINGER_SECONDS = 0.1  # a batch of usage reports over HTTP waits this long for more after its first
_REPORT_FIELDS = ("receipt_id", "prompt_tokens", "completion_tokens", "status")  # a Usage as POST /calls/usage reads it
_REPORTS_PER_BATCH = 200  # within what POST /calls/usage takes in one request
_FREEZE_HEAP = "ROUTEGATE_FREEZE_HEAP"  # "0" leaves the proxy's collector as LiteLLM set it
_CLIENT_CREDENTIALS = ("api_key", "api_base", "base_url", "user_config", "aws_access_key_id", "vertex_credentials")


class _Service:
    """The routegate service's call routes, over one pooled keep-alive HTTP client (LiteLLM's own aiohttp,
    which costs the proxy's event loop less per request than httpx)."""

    def __init__(self, url: str, token: str | None) -> None:
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None
        self._usage = _UsageBatches(self._send, linger=_REPORT_LINGER_SECONDS)

    def _client(self) -> aiohttp.ClientSession:
        """Made on first use, on the proxy's event loop. An idle connection is let go before the server's
        own keep-alive timeout (uvicorn's 5 s) ends it, so a call is never sent on a closing connection."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=2.0)
            timeout = aiohttp.ClientTimeout(total=10)
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers, timeout=timeout)
        return self._session

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with self._client().post(f"{self._url}{path}", json=body) as answer:
            try:
                content = await answer.json(content_type=None)
            except ValueError:  # not JSON (a proxy's error page): the status speaks alone
                content = None
            return answer.status, content if isinstance(content, dict) else {}  # routegate answers objects

    async def authorize(self, token: str, model: str) -> tuple[int, dict[str, Any]]:
        body = {"token": token, "model": model}
        try:
            try:
                return await self._post("/calls/authorize", body)
            except (aiohttp.ClientConnectionError, aiohttp.ServerDisconnectedError):  # no answer came: once more
                return await self._post("/calls/authorize", body)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise _unreachable(error) from None

    async def report(
        self, receipt_id: str, prompt_tokens: int, completion_tokens: int, status: str, *, wait: bool = True
    ) -> None:
        await self._usage.report((receipt_id, prompt_tokens, completion_tokens, status), wait=wait)

    async def _send(self, batch: Sequence[Usage]) -> None:
        """One ``POST /calls/usage``; raises unless the service answered, so that the batch is sent again."""
        body = [dict(zip(_REPORT_FIELDS, usage, strict=True)) for usage in batch]
        status, answer = await self._post("/calls/usage", {"reports": body})
        if status >= 500 or status == 429:
            raise ConnectionError(f"routegate answered {status} {str(answer)[:200]}")
        if status != 200:  # never to be taken: sending it again would change nothing
            log.error("routegate: %d usage reports refused: %d %s", len(batch), status, str(answer)[:200])
        elif answer.get("not_found"):
            log.warning("routegate: usage reported for receipts it does not have: %s", answer["not_found"][:20])


def _unreachable(error: Exception) -> ProxyException:
    return _refusal(
        IntegrationCode.ROUTEGATE_UNREACHABLE, f"routegate could not be asked: {type(error).__name__} {error}"
    )


def _retry_delays() -> Iterator[float]:
    """Seconds before each retry of a usage report: growing, then every 5 s for as long as it takes."""
    yield from _REPORT_RETRY_SECONDS
    while True:
        yield _REPORT_RETRY_SECONDS[-1]


class _InProcess:
    """The service's own call gate in this process, on its database: no hop to ask (needs the service extra)."""

    def __init__(self, database_url: str) -> None:
        from prometheus_client import CollectorRegistry

        from routegate.service.call_service import CallService, CallSettings
        from routegate.service.settings import Settings
        from routegate.service.state import ServiceState

        self._state = ServiceState(Settings(database_url=database_url))
        self._state.start()
        # Receipts committed on the loop while it is quiet: a writer thread's wake-up would wait behind
        # LiteLLM's own callbacks. With other calls in flight the writer thread commits them together.
        self._calls = CallService(self._state, CallSettings.from_env(), CollectorRegistry(), loop_busy=_loop_busy)
        self._calls.start()
        self._usage = _UsageBatches(self._commit)

    async def authorize(self, token: str, model: str) -> tuple[int, dict[str, Any]]:
        """Decided on the in-memory view; returns once the receipt's group commit is done."""
        from routegate.service.http_errors import STATUS, ServiceError

        try:
            return await self._calls.authorize(token, model)
        except ServiceError as error:
            return STATUS[error.code], {"code": error.code.value, "error": error.message}

    async def report(
        self, receipt_id: str, prompt_tokens: int, completion_tokens: int, status: str, *, wait: bool = True
    ) -> None:
        await self._usage.report((receipt_id, prompt_tokens, completion_tokens, status), wait=wait)

    async def _commit(self, batch: Sequence[Usage]) -> None:
        self._calls.report_usages(batch)  # on the loop, as the receipts are: about a tenth of a millisecond


class _UsageBatches:
    """Usage reports sent on together: one commit or request per batch, not per call.

    Whatever is reported before the batch's turn on the loop forms it, and with ``linger`` whatever
    comes that many seconds after its first report too. Committed in a worker thread, each batch
    cost a proxy at one connection 11-14% of its calls per second: the thread's every return of the
    interpreter lock made LiteLLM's busy loop hand it over (docs/performance.md); so in process each
    is committed on the loop. Over HTTP one request per call cost the proxy and the service more
    than the report itself, hence the linger. A batch the database or the service refuses is sent
    again until it is taken, the loop free between tries; each report's caller waits for its batch.
    """

    def __init__(self, commit: Callable[[Sequence[Usage]], Awaitable[None]], *, linger: float = 0.0) -> None:
        self._commit = commit
        self._linger = linger
        self._queued: list[tuple[Usage, asyncio.Future[None]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def report(self, usage: Usage, *, wait: bool = True) -> None:
        """Queue ``usage``; with ``wait``, return once it is taken."""
        done = asyncio.get_running_loop().create_future()
        self._queued.append((usage, done))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write())
        if wait:
            await asyncio.shield(done)

    async def _write(self) -> None:
        if self._linger:
            await asyncio.sleep(self._linger)
        while self._queued:
            batch, self._queued = self._queued[:_REPORTS_PER_BATCH], self._queued[_REPORTS_PER_BATCH:]
            await self._commit_with_retries([usage for usage, _ in batch])
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _commit_with_retries(self, batch: list[Usage]) -> None:
        for delay in _retry_delays():
            try:
                await self._commit(batch)
                return
            except Exception as error:  # the database or the service is away: wait and send the batch again
                log.warning("routegate: %d usage reports not taken (%s); retrying in %g s", len(batch), error, delay)
                await asyncio.sleep(delay)


_gate: _Service | _InProcess | None = None


def _routegate() -> _Service | _InProcess:
    """The gate this proxy asks: in process with ``ROUTEGATE_DATABASE_URL``, else the service at ``ROUTEGATE_URL``."""
    global _gate
    if _gate is None:
        database_url, url = os.environ.get("ROUTEGATE_DATABASE_URL"), os.environ.get("ROUTEGATE_URL")
        if database_url:
            _gate = _InProcess(database_url)
        elif url:
            _gate = _Service(url, os.environ.get("ROUTEGATE_API_TOKEN"))
        else:
            reason = "the proxy has neither ROUTEGATE_URL nor ROUTEGATE_DATABASE_URL: it admits no call"
            raise _refusal(IntegrationCode.ROUTEGATE_UNCONFIGURED, reason)
    return _gate


def _refusal(code: RefusalCode | str, reason: str, receipt_id: str | None = None, status: int = 0) -> ProxyException:
    """LiteLLM's own error type: the proxy answers the code's status (or ``status``) and code, not a 500."""
    status = status or (code.row.status if isinstance(code, RefusalCode) else 403)
    return ProxyException(
        message=f"{code}: {reason}",
        type=str(code),
        param="model",
        code=status,
        provider_specific_fields={"routegate": {"code": str(code), "error": reason, "receipt_id": receipt_id}},
    )


@dataclass(slots=True, weakref_slot=True, eq=False)
class _Call:
    """One request's call token, routegate's decision for each id LiteLLM tried for it (the admitted
    one, or the refusal: a retry of a refused id is refused again without another receipt), the
    seconds routegate's hooks have taken on the request's path so far, and whether it is answered."""

    token: str
    decided: dict[str, dict[str, Any] | ProxyException] = field(default_factory=dict)
    seconds: float = 0.0
    answered: bool = False


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
        raise _refusal(code, reason, answer.get("receipt_id"), status if 400 <= status < 500 else 503)
    if answer.get("payer") != "platform":
        await _routegate().report(answer["receipt_id"], 0, 0, "not_forwarded", wait=False)
        reason = f"'{answer['model']}' is paid with the tenant's own key: call its vendor directly, not this proxy"
        raise _refusal(Code.CALL_PAID_BY_TENANT, reason, answer["receipt_id"])
    return {key: answer[key] for key in _DECISION}


async def custom_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    """The call token is the bearer key; the call goes on only when routegate admits it and the platform pays."""
    started = time.perf_counter()
    body = await _read_request_body(request)
    model = body.get("model") if isinstance(body, dict) else None
    token = api_key.removeprefix("Bearer ").strip()
    if not token:
        raise _refusal("CALL_TOKEN_INVALID", "send the workspace's call token as the bearer key", status=401)
    if _is_master_key(token):
        # The operator's key opens LiteLLM's own routes (model list, health); the hooks below still
        # refuse every model call it makes, since routegate admitted none.
        return UserAPIKeyAuth(api_key=token, user_role=LitellmUserRoles.PROXY_ADMIN)
    decision = await _admit(token, model if isinstance(model, str) else "")
    _admit_in_this_request(_Call(token, {decision["model"]: decision}, time.perf_counter() - started))
    return UserAPIKeyAuth(api_key=f"routegate-workspace-{decision['workspace_id']}", metadata={_GATE: decision})


def _is_master_key(token: str) -> bool:
    master = os.environ.get("LITELLM_MASTER_KEY")
    return bool(master) and hmac.compare_digest(token.encode(), str(master).encode())


class CallGateHooks(CustomLogger):
    """Decides each attempt LiteLLM makes before it leaves; completes each attempt's receipt after."""

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        """Before routing: the body asks for the admitted id and brings no credentials of its own."""
        with _on_the_path():
            return self._admitted_request(user_api_key_dict, data)

    def _admitted_request(self, user_api_key_dict: UserAPIKeyAuth, data: dict[str, Any]) -> dict[str, Any]:
        decision = (user_api_key_dict.metadata or {}).get(_GATE)
        if decision is None:
            raise _refusal("CALL_TOKEN_INVALID", "the call was not authorized by routegate", status=401)
        if data.get("model") != decision["model"]:
            reason = "the request names another id than the one routegate admitted"
            raise _refusal(IntegrationCode.CALL_MODEL_CHANGED, reason, decision["receipt_id"])
        brought = [name for name in _CLIENT_CREDENTIALS if name in data]
        if brought:
            reason = f"the request brings its own {', '.join(brought)}: this proxy forwards on the platform's key only"
            raise _refusal(Code.CALL_PAID_BY_TENANT, reason, decision["receipt_id"])
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
            raise _refusal(IntegrationCode.CALL_NOT_AUTHORIZED, "routegate admitted no call for this request")
        if serving == admitted:  # the first attempt, or a retry of it
            if metadata.get("routegate_payer") != "platform":
                raise _refusal(Code.CALL_PAID_BY_TENANT, "only platform-paid calls are forwarded")
            return None
        call = _call.get()
        if call is None:
            reason = f"LiteLLM tried '{serving}' for a call admitted for '{admitted}', and routegate cannot be asked"
            raise _refusal(IntegrationCode.CALL_NOT_AUTHORIZED, reason, metadata.get("routegate_receipt_id"))
        decision = call.decided.get(serving)
        if decision is None:
            try:
                decision = call.decided[serving] = await _admit(call.token, serving)
            except ProxyException as refusal:
                call.decided[serving] = refusal
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
