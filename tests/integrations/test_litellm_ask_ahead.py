"""custom_auth's question to routegate is under way before custom_auth returns: over HTTP its request
is on the wire; in process on PostgreSQL the receipt's statement has reached the server.

LiteLLM does not yield to its event loop again between custom_auth and the pre-call hook, which
awaits the decision: a request or a statement still unsent then would leave the round trip on the
call's path again. The event loop is held (blocking sleeps) once ``_ask_ahead`` returns, so whatever
the service reads, or the server stores, meanwhile was sent before it returned.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # offline: LiteLLM's bundled cost map, no fetch

from routegate.integrations import litellm as integration
from routegate.integrations._gates import InProcess, Service
from routegate.service import Settings
from tests.event_loops import run
from tests.service.conftest import LiveServer, database_url
from tests.service.test_calls import issue, workspace

MODEL = "openai/gpt-5.4"
DECISION = {
    "allowed": True,
    "workspace_id": "w1",
    "model": "openai/gpt-5.4",
    "payer": "platform",
    "manifest_version": 3,
    "receipt_id": "r1",
}


class Authorizer:
    """A stand-in for routegate's ``POST /calls/authorize`` that records each request body it has read."""

    def __init__(self) -> None:
        self.read: list[dict[str, Any]] = []
        seen = self.read

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                seen.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                answer = json.dumps(DECISION).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def authorizer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Authorizer]:
    served = Authorizer()
    monkeypatch.setattr(integration, "_gate", Service(served.url, None))
    yield served
    served.server.shutdown()
    served.server.server_close()


async def _read_before_return(
    authorizer: Authorizer, tokens: list[str], hold: float
) -> list[tuple[list[dict[str, Any]], str]]:
    """For each token: what the service read while the loop was held after ``_ask_ahead`` returned
    (until a request is read, at most ``hold`` seconds), and the decision's receipt, all on one event
    loop as in a proxy."""
    gate = integration._routegate()
    assert isinstance(gate, Service)
    await integration._admit("rgc_warm", "openai/gpt-5.4")  # a pooled connection, as after a proxy's first call
    seen = []
    for token in tokens:
        authorizer.read.clear()
        asked = await integration._ask_ahead(token, "openai/gpt-5.4")
        held_until = time.monotonic() + hold
        while not authorizer.read and time.monotonic() < held_until:
            time.sleep(0.01)  # the event loop held: nothing more is written meanwhile
        read = list(authorizer.read)
        seen.append((read, (await asked)["receipt_id"]))
        if not read:  # written late: the rounds after it would only wait as long
            break
    await gate._client().close()
    return seen


def test_the_question_is_written_before_custom_auth_returns(authorizer: Authorizer) -> None:
    tokens = [f"rgc_round-{number}" for number in range(20)]
    seen = run(_read_before_return(authorizer, tokens, hold=10))
    assert seen == [([{"token": token, "model": "openai/gpt-5.4"}], "r1") for token in tokens]


def test_without_turns_of_the_loop_the_question_waits_for_the_pre_call_hook(
    authorizer: Authorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the turns are for: with none, nothing is written until the loop runs again."""
    monkeypatch.setattr(integration, "_TURNS_TO_SEND", 0)
    assert run(_read_before_return(authorizer, ["rgc_no-turns"], hold=0.3)) == [([], "r1")]


@pytest.fixture
def in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """The gate deciding in this process on a fresh PostgreSQL database; the database as libpq names it,
    and a call token of a codex workspace on it."""
    for url in database_url("postgres", tmp_path):
        server = LiveServer(Settings(database_url=url)).start()
        try:
            with server.client() as http:
                token = issue(http, workspace(http, "ask-ahead", "codex", MODEL)["id"])["token"]
        finally:
            server.stop()
        monkeypatch.setattr(integration, "_gate", InProcess(url, lambda: False))
        yield make_url(url).set(drivername="postgresql").render_as_string(hide_password=False), token


async def _stored_before_return(libpq: str, token: str, rounds: int, hold: float) -> list[tuple[int, str]]:
    """For each round: the receipts the server had stored while the loop was held after ``_ask_ahead``
    returned (until one more is there, at most ``hold`` seconds), and the decision's receipt."""
    await integration._admit(token, MODEL)  # the receipts' connection made, as after a proxy's first call
    seen = []
    with psycopg.connect(libpq, autocommit=True) as reader:
        for _ in range(rounds):
            before = _receipts(reader)
            asked = await integration._ask_ahead(token, MODEL)
            held_until = time.monotonic() + hold
            while _receipts(reader) == before and time.monotonic() < held_until:
                time.sleep(0.01)  # the event loop held: nothing more is sent meanwhile
            stored = _receipts(reader) - before
            seen.append((stored, (await asked)["receipt_id"]))
            if not stored:
                break
    return seen


def _receipts(reader: psycopg.Connection[Any]) -> int:
    counted = reader.execute("SELECT count(*) FROM call_receipts").fetchone()
    assert counted is not None
    return int(counted[0])


def test_in_process_on_postgresql_the_receipt_is_stored_before_custom_auth_returns(
    in_process: tuple[str, str],
) -> None:
    seen = run(_stored_before_return(*in_process, rounds=20, hold=10))
    assert [stored for stored, _ in seen] == [1] * 20
    assert len({receipt for _, receipt in seen}) == 20


def test_in_process_without_turns_of_the_loop_the_receipt_waits_for_the_pre_call_hook(
    in_process: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(integration, "_TURNS_TO_SEND", 0)
    assert [stored for stored, _ in run(_stored_before_return(*in_process, rounds=1, hold=0.3))] == [0]
