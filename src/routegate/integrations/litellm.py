"""routegate's call gate inside the LiteLLM proxy: its ``custom_auth`` and its call hooks.

Load it from the config ``routegate gen --target litellm`` writes. The workspace sends its
call token as the bearer key; :func:`custom_auth` asks routegate (``POST /calls/authorize``
at ``ROUTEGATE_URL``, with ``ROUTEGATE_API_TOKEN``) before LiteLLM routes anything, and a
refusal never reaches a vendor. :data:`call_gate` then holds every deployment LiteLLM
actually tries -- a retry, a fallback, a router's change of model -- to the one id routegate
admitted and to the platform's key for it, and completes the call's receipt with usage.

This proxy forwards platform-paid calls only: a call the tenant pays for is refused
(``CALL_PAID_BY_TENANT``), so no tenant key and no platform key is ever swapped for the other.
"""

from __future__ import annotations

import contextlib
import hmac
import os
from typing import Any

import anyio.to_thread
import httpx
from fastapi import Request
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import LitellmUserRoles, ProxyException, UserAPIKeyAuth
from litellm.proxy.common_utils.http_parsing_utils import _read_request_body

__all__ = ["CallGateHooks", "call_gate", "custom_auth"]

_GATE = "routegate"  # the key of routegate's decision in the auth object's and the request's metadata
_CLIENT_CREDENTIALS = ("api_key", "api_base", "base_url", "user_config", "aws_access_key_id", "vertex_credentials")


class _Service:
    """The routegate service's call routes, over one pooled HTTP client."""

    def __init__(self, url: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        self._client = httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers, timeout=10, limits=limits)

    async def authorize(self, token: str, model: str) -> tuple[int, dict[str, Any]]:
        try:
            answer = await self._client.post("/calls/authorize", json={"token": token, "model": model})
        except httpx.HTTPError as error:
            raise _refusal(503, "ROUTEGATE_UNREACHABLE", f"routegate could not be asked: {error}") from None
        return answer.status_code, answer.json()

    async def report(self, receipt_id: str, prompt_tokens: int, completion_tokens: int, status: str) -> None:
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "status": status}
        await self._client.post(f"/calls/receipts/{receipt_id}/usage", json=usage)


class _InProcess:
    """The service's own call gate in this process, on its database: no hop to ask (needs the service extra)."""

    def __init__(self, database_url: str) -> None:
        from prometheus_client import CollectorRegistry

        from routegate.service.call_service import CallService, CallSettings
        from routegate.service.settings import Settings
        from routegate.service.state import ServiceState

        self._state = ServiceState(Settings(database_url=database_url))
        self._state.start()
        self._calls = CallService(self._state, CallSettings.from_env(), CollectorRegistry())
        self._calls.start()

    async def authorize(self, token: str, model: str) -> tuple[int, dict[str, Any]]:
        from routegate.service.http_errors import STATUS, ServiceError

        try:
            return await self._calls.authorize(token, model)
        except ServiceError as error:
            return STATUS[error.code], {"code": error.code.value, "error": error.message}

    async def report(self, receipt_id: str, prompt_tokens: int, completion_tokens: int, status: str) -> None:
        from routegate.service.http_errors import ServiceError

        with contextlib.suppress(ServiceError):  # reported already: the first report stands, as over HTTP
            await anyio.to_thread.run_sync(
                self._calls.receipts.report_usage, receipt_id, prompt_tokens, completion_tokens, status
            )


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
            raise _refusal(503, "ROUTEGATE_UNCONFIGURED", reason)
    return _gate


def _refusal(status: int, code: str, reason: str, receipt_id: str | None = None) -> ProxyException:
    """LiteLLM's own error type: the proxy answers ``status`` with routegate's code, not a 500."""
    return ProxyException(
        message=f"{code}: {reason}",
        type=code,
        param="model",
        code=status,
        provider_specific_fields={"routegate": {"code": code, "error": reason, "receipt_id": receipt_id}},
    )


async def custom_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    """The call token is the bearer key; the call goes on only when routegate admits it and the platform pays."""
    body = await _read_request_body(request)
    model = body.get("model") if isinstance(body, dict) else None
    token = api_key.removeprefix("Bearer ").strip()
    if not token:
        raise _refusal(401, "CALL_TOKEN_INVALID", "send the workspace's call token as the bearer key")
    if _is_master_key(token):
        # The operator's key opens LiteLLM's own routes (model list, health); the hooks below still
        # refuse every model call it makes, since routegate admitted none.
        return UserAPIKeyAuth(api_key=token, user_role=LitellmUserRoles.PROXY_ADMIN)
    status, answer = await _routegate().authorize(token, model if isinstance(model, str) else "")
    code, reason = answer.get("code", "CALL_REFUSED"), answer.get("error") or answer.get("message", "refused")
    if status != 200 or not answer.get("allowed"):
        raise _refusal(status if 400 <= status < 500 else 503, code, reason, answer.get("receipt_id"))
    if answer.get("payer") != "platform":
        await _routegate().report(answer["receipt_id"], 0, 0, "not_forwarded")
        reason = f"'{answer['model']}' is paid with the tenant's own key: call its vendor directly, not this proxy"
        raise _refusal(403, "CALL_PAID_BY_TENANT", reason, answer["receipt_id"])
    decision = {key: answer[key] for key in ("workspace_id", "model", "payer", "manifest_version", "receipt_id")}
    return UserAPIKeyAuth(api_key=f"routegate-workspace-{answer['workspace_id']}", metadata={_GATE: decision})


def _is_master_key(token: str) -> bool:
    master = os.environ.get("LITELLM_MASTER_KEY")
    return bool(master) and hmac.compare_digest(token.encode(), str(master).encode())


class CallGateHooks(CustomLogger):
    """Holds each attempt to the admitted id and the platform's key; completes the receipt after."""

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        """Before routing: the body asks for the admitted id and brings no credentials of its own."""
        decision = (user_api_key_dict.metadata or {}).get(_GATE)
        if decision is None:
            raise _refusal(401, "CALL_TOKEN_INVALID", "the call was not authorized by routegate")
        if data.get("model") != decision["model"]:
            raise _refusal(403, "CALL_MODEL_CHANGED", "the request names another id than the one routegate admitted")
        brought = [name for name in _CLIENT_CREDENTIALS if name in data]
        if brought:
            reason = f"the request brings its own {', '.join(brought)}: this proxy forwards on the platform's key only"
            raise _refusal(403, "CALL_PAID_BY_TENANT", reason, decision["receipt_id"])
        metadata = data.setdefault("metadata", {})
        metadata.update({f"routegate_{key}": value for key, value in decision.items()})
        return data

    async def async_pre_call_deployment_hook(self, kwargs: dict[str, Any], call_type: Any) -> dict[str, Any] | None:
        """Before each attempt (retries and fallbacks too): the deployment serves the admitted, platform-paid id."""
        metadata = _metadata(kwargs)
        admitted = metadata.get("routegate_model")
        if admitted is None:
            raise _refusal(403, "CALL_NOT_AUTHORIZED", "routegate admitted no call for this request")
        serving = metadata.get("model_group")
        if serving != admitted:
            reason = f"LiteLLM tried '{serving}' for a call routegate admitted for '{admitted}' only"
            raise _refusal(403, "CALL_REROUTED", reason, metadata.get("routegate_receipt_id"))
        if metadata.get("routegate_payer") != "platform":
            raise _refusal(403, "CALL_PAID_BY_TENANT", "only platform-paid calls are forwarded")
        return None

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
        metadata = _metadata(kwargs.get("litellm_params") or {})
        # On the /v1/messages route the logged metadata keeps the auth object's, not the request's additions.
        admitted = (metadata.get("user_api_key_auth_metadata") or {}).get(_GATE) or {}
        receipt_id = metadata.get("routegate_receipt_id") or admitted.get("receipt_id")
        if receipt_id is not None:
            await _routegate().report(receipt_id, prompt_tokens, completion_tokens, status[:32])


def _metadata(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The request's metadata: LiteLLM keeps it under ``metadata`` on chat completions and partly under
    ``litellm_metadata`` on its Anthropic ``/v1/messages`` route."""
    return {**(kwargs.get("litellm_metadata") or {}), **(kwargs.get("metadata") or {})}


call_gate = CallGateHooks()
"""The instance the generated config's ``litellm_settings.callbacks`` names."""
