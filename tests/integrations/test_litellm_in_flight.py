"""Which calls keep the in-process gate's event loop busy: admitted, not yet answered, and still
held by their request. Two or more of them send a receipt to the writer thread."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import os
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # offline: LiteLLM's bundled cost map, no fetch

from litellm.proxy._types import UserAPIKeyAuth

from routegate.integrations.litellm import _admit_in_this_request, _admitted, _Call, _loop_busy, call_gate


def _request(token: str) -> contextvars.Context:
    """A request's context, with its admitted call in it: the only reference the call has."""
    context = contextvars.copy_context()
    context.run(_admit_in_this_request, _Call(token))
    return context


def _answer(request: contextvars.Context) -> None:
    """LiteLLM asks routegate's hooks for the answer's headers, in the request's context, as it answers."""
    hook = call_gate.async_post_call_response_headers_hook({}, UserAPIKeyAuth(), None)
    with ThreadPoolExecutor(1) as pool:  # a thread with no event loop running (tests.event_loops says why)
        headers = pool.submit(request.run, asyncio.run, hook).result()
    assert headers is not None and headers["server-timing"].startswith("routegate;dur=")


def test_the_loop_is_busy_while_two_admitted_calls_are_unanswered_and_their_requests_hold_them() -> None:
    gc.collect()
    assert not _loop_busy() and len(_admitted) == 0
    requests = {token: _request(token) for token in ("a", "b", "c")}
    assert len(_admitted) == 3 and _loop_busy()

    _answer(requests["a"])
    assert _loop_busy(), "two calls still in flight"
    _answer(requests["b"])
    assert not _loop_busy(), "one call in flight is the loop's usual work"

    logging_copy = requests["c"].copy()  # a task LiteLLM's logging started from the request
    del requests["c"]
    requests["d"] = _request("d")
    assert _loop_busy(), "a request's call lives on in the copies of its context"
    del logging_copy
    assert not _loop_busy() and {call.token for call in _admitted} == {"a", "b", "d"}

    requests.clear()
    assert len(_admitted) == 0, "a request that never reached its answer's hook leaves when it ends"
