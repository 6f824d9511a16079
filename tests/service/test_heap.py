"""A serving process leaves what it keeps for good out of the collector's full passes.

A full pass walks every object the collector tracks, holding the event loop meanwhile: 50 to 90
ms for what a server builds at start-up, and about 250 ms more per million call tokens in its
view. ``routegate serve`` freezes what start-up built, then what the tokens' first read built; an
app that shares its process (these tests' other servers, a host embedding it) leaves the
collector alone.
"""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from routegate.service import Settings
from routegate.service.heap import settle

from .conftest import LiveServer
from .test_caller_view import token_from_an_earlier_server

FREEZE_PATIENCE_S = 10.0


@pytest.fixture
def thawed() -> Iterator[None]:
    """Nothing frozen before the test, nor after it: a frozen cycle in this process is never freed."""
    gc.unfreeze()
    yield
    gc.unfreeze()


class Cycle:
    """An object in a reference cycle with itself: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


def walked(thing: object) -> bool:
    """Whether a full pass walks ``thing``: frozen objects are in no generation."""
    return any(tracked is thing for tracked in gc.get_objects())


def test_settle_frees_the_garbage_then_leaves_the_survivors_out(thawed: None) -> None:
    garbage, kept = Cycle(), Cycle()
    freed = weakref.ref(garbage)
    del garbage
    settle(collect=True)
    assert freed() is None
    assert not walked(kept)
    gc.unfreeze()
    assert walked(kept)


def test_settle_without_collecting_keeps_a_cycle_that_was_garbage_already(thawed: None) -> None:
    """The cost named in routegate.service.heap: what is frozen is never collected, garbage or not."""
    gc.disable()  # no automatic pass may free the cycle before it is frozen
    try:
        garbage = Cycle()
        freed = weakref.ref(garbage)
        del garbage
        settle(collect=False)
        gc.collect()
        assert freed() is not None
        gc.unfreeze()
        gc.collect()
        assert freed() is None
    finally:
        gc.enable()


def _until_frozen(thing: object) -> bool:
    """The freeze follows the first read on the watcher's thread, milliseconds after a call can see it."""
    deadline = time.monotonic() + FREEZE_PATIENCE_S
    while walked(thing):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_serving_process_freezes_its_start_up_and_then_its_tokens(fresh_url: str, thawed: None) -> None:
    token = token_from_an_earlier_server(fresh_url)
    gc.unfreeze()
    server = LiveServer(Settings(database_url=fresh_url), settle_heap=True).start()
    try:
        assert not walked(server.state.served.registry)
        with server.client() as http:
            assert http.post("/calls/authorize", json={"token": token, "model": "x"}).status_code == 403
        caller = server.app.state.calls.view.caller(token, time.time())
        assert caller is not None
        assert _until_frozen(caller)
    finally:
        server.stop()


def test_an_app_that_shares_its_process_leaves_the_collector_alone(fresh_url: str, thawed: None) -> None:
    token = token_from_an_earlier_server(fresh_url)
    server = LiveServer(Settings(database_url=fresh_url)).start()
    try:
        with server.client() as http:
            assert http.post("/calls/authorize", json={"token": token, "model": "x"}).status_code == 403
        caller = server.app.state.calls.view.caller(token, time.time())
        assert caller is not None
        assert walked(caller) and walked(server.state.served.registry)
        assert gc.get_freeze_count() == 0
    finally:
        server.stop()
