"""The proxy's heap, settled once its first call is done: what LiteLLM built by then is left out of the
collector's full passes (each held the proxy's event loop for hundreds of milliseconds), unless
``ROUTEGATE_FREEZE_HEAP`` says no."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # offline: LiteLLM's bundled cost map, no fetch

from routegate.integrations import litellm as integration
from routegate.integrations.litellm import call_gate
from tests import event_loops
from tests.service.test_heap import walked

Hook = Callable[..., Coroutine[Any, Any, None]]
COMPLETIONS = {"success": call_gate.async_log_success_event, "failure": call_gate.async_log_failure_event}


@pytest.fixture
def unsettled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A proxy that has finished no call yet, its collector as LiteLLM set it; nothing left frozen
    after the test (a frozen cycle in this process is never freed)."""
    monkeypatch.setattr(integration, "_heap_settled", False)
    monkeypatch.delenv("ROUTEGATE_FREEZE_HEAP", raising=False)
    gc.unfreeze()
    yield
    gc.unfreeze()


def complete(hook: Hook) -> None:
    """LiteLLM's logging after a call: no receipt named, so nothing is reported."""
    event_loops.run(hook({}, None, None, None))


@pytest.mark.parametrize("hook", COMPLETIONS.values(), ids=COMPLETIONS.keys())
@pytest.mark.parametrize("setting", [None, "1", "yes", "true"])
def test_what_the_proxy_holds_when_its_first_call_ends_is_frozen_and_nothing_later(
    unsettled: None, monkeypatch: pytest.MonkeyPatch, hook: Hook, setting: str | None
) -> None:
    if setting is not None:
        monkeypatch.setenv("ROUTEGATE_FREEZE_HEAP", setting)
    built_at_start_up = ["the proxy's model cost map"]
    assert walked(built_at_start_up)

    complete(hook)
    assert gc.get_freeze_count() > 0
    assert not walked(built_at_start_up)

    made_by_a_later_call = ["a later call's objects"]
    complete(COMPLETIONS["success"])
    complete(COMPLETIONS["failure"])
    assert walked(made_by_a_later_call)


@pytest.mark.parametrize("setting", ["0", "false", " No ", "FALSE"])
def test_routegate_freeze_heap_off_leaves_the_collector_as_litellm_set_it(
    unsettled: None, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    monkeypatch.setenv("ROUTEGATE_FREEZE_HEAP", setting)
    built_at_start_up = ["the proxy's model cost map"]

    complete(COMPLETIONS["success"])
    assert gc.get_freeze_count() == 0
    assert walked(built_at_start_up)
