"""What the LiteLLM integration asks routegate with: the service over HTTP, or the service's own
call gate in the proxy's process; the usage reports sent on in batches; LiteLLM's error for a refusal."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
from litellm.proxy._types import ProxyException

from routegate.codes import IntegrationCode, RefusalCode

if TYPE_CHECKING:  # the service is imported only by a proxy deciding in process
    from routegate.service.receipts import Usage

__all__ = ["InProcess", "Service", "UsageBatches", "refusal"]

log = logging.getLogger("routegate.integrations.litellm")

_REPORT_RETRY_SECONDS = (0.05, 0.25, 1.0, 5.0)  # then every 5 s: a usage report is never dropped
_REPORT_LINGER_SECONDS = 0.1  # a batch of usage reports over HTTP waits this long for more after its first
_REPORT_FIELDS = ("receipt_id", "prompt_tokens", "completion_tokens", "status")  # a Usage as POST /calls/usage reads it
_REPORTS_PER_BATCH = 200  # within what POST /calls/usage takes in one request


class Service:
    """The routegate service's call routes, over one pooled keep-alive HTTP client (LiteLLM's own aiohttp,
    which costs the proxy's event loop less per request than httpx)."""

    waits_on_a_server = True  # a question asked ahead is answered while LiteLLM works

    def __init__(self, url: str, token: str | None) -> None:
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None
        self._usage = UsageBatches(self._send, linger=_REPORT_LINGER_SECONDS)

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
            raise unreachable(error) from None

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


def unreachable(error: Exception) -> ProxyException:
    return refusal(
        IntegrationCode.ROUTEGATE_UNREACHABLE, f"routegate could not be asked: {type(error).__name__} {error}"
    )


def _retry_delays() -> Iterator[float]:
    """Seconds before each retry of a usage report: growing, then every 5 s for as long as it takes."""
    yield from _REPORT_RETRY_SECONDS
    while True:
        yield _REPORT_RETRY_SECONDS[-1]


class InProcess:
    """The service's own call gate in this process, on its database: no hop to ask (needs the service extra).
    ``loop_busy`` says when other calls keep the event loop busy: a receipt then goes by the writer thread."""

    def __init__(self, database_url: str, loop_busy: Callable[[], bool]) -> None:
        from prometheus_client import CollectorRegistry

        from routegate.service.call_service import CallService, CallSettings
        from routegate.service.settings import Settings
        from routegate.service.state import ServiceState

        self._state = ServiceState(Settings(database_url=database_url))
        self._state.start()
        # Receipts committed on the loop while it is quiet: a writer thread's wake-up would wait behind
        # LiteLLM's own callbacks. With other calls in flight the writer thread commits them together.
        self._calls = CallService(self._state, CallSettings.from_env(), CollectorRegistry(), loop_busy=loop_busy)
        self._calls.start()
        self._usage = UsageBatches(self._calls.report_usages)
        # On PostgreSQL a receipt's commit waits for the server, and a question asked ahead is committed
        # while LiteLLM works; SQLite's commit is this process's own work, with nothing to overlap.
        self.waits_on_a_server = self._state.database.engine.dialect.name == "postgresql"

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


class UsageBatches:
    """Usage reports sent on together: one commit or request per batch, not per call.

    Whatever is reported before the batch's turn on the loop forms it, and with ``linger`` whatever
    comes that many seconds after its first report too. Committed in a worker thread, each batch
    cost a proxy at one connection 11-14% of its calls per second: the thread's every return of the
    interpreter lock made LiteLLM's busy loop hand it over (docs/performance.md); so in process each
    is committed on the loop (on PostgreSQL over an asyncio connection: the loop serves other calls
    while it waits). Over HTTP one request per call cost the proxy and the service more
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


def refusal(code: RefusalCode | str, reason: str, receipt_id: str | None = None, status: int = 0) -> ProxyException:
    """LiteLLM's own error type: the proxy answers the code's status (or ``status``) and code, not a 500."""
    status = status or (code.row.status if isinstance(code, RefusalCode) else 403)
    return ProxyException(
        message=f"{code}: {reason}",
        type=str(code),
        param="model",
        code=status,
        provider_specific_fields={"routegate": {"code": str(code), "error": reason, "receipt_id": receipt_id}},
    )
