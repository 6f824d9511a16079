"""LiteLLM's extension points with nothing behind them, for bench/litellm_proxy.py's ``hooks-only`` proxy.

The same places routegate's integration plugs into (a custom_auth, and a callback with the same
hooks), each admitting the call at once and changing nothing: a proxy on them pays what LiteLLM
itself spends on a proxy with a custom auth and callbacks, and none of routegate's own work on a
call. Its heap is settled after the first call as routegate's integration settles it, so what a
gated proxy spends beyond this one is routegate's work on each call. The proxy imports this module
by name (the bench puts this folder on its ``PYTHONPATH``).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth
from litellm.proxy.common_utils.http_parsing_utils import _read_request_body

from routegate.integrations.litellm import _settle_heap


async def custom_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    """Admits every call; reads the body as routegate's does (LiteLLM keeps it for its own read)."""
    await _read_request_body(request)
    return UserAPIKeyAuth(api_key="hooks-only", metadata={"hooks_only": True})


class Hooks(CustomLogger):
    """Each hook routegate's ``CallGateHooks`` defines, doing nothing."""

    async def async_pre_call_hook(
        self, user_api_key_dict: UserAPIKeyAuth, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        return data

    async def async_pre_call_deployment_hook(self, kwargs: dict[str, Any], call_type: Any) -> dict[str, Any] | None:
        return None

    async def async_post_call_response_headers_hook(self, *args: Any, **kwargs: Any) -> dict[str, str] | None:
        return None

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        _settle_heap()

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        return None


hooks = Hooks()
"""The instance the hooks-only config's ``litellm_settings.callbacks`` names."""
