"""A request body over the limit is answered 413 BODY_TOO_LARGE in the usual problem shape, which the
client can read whatever the body's size and framing, and which is sent before the rest is read."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from routegate.service import Settings
from routegate.service.app import MAX_BODY_BYTES

from .conftest import LiveServer

PATHS = ["/workspaces", "/registry/versions", "/registry/check", "/no/such/path"]
SIZES = [MAX_BODY_BYTES + 1, 2 * 1024 * 1024, 24 * 1024 * 1024]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder: Path = tmp_path_factory.mktemp("body")
    server = LiveServer(Settings(database_url=f"sqlite:///{folder / 'routegate.db'}")).start()
    yield server
    server.stop()


def _assert_refused(answer: httpx.Response) -> None:
    assert answer.status_code == 413, answer.text
    body = answer.json()
    assert body["code"] == "BODY_TOO_LARGE" and body["limit"] == MAX_BODY_BYTES
    assert f"{MAX_BODY_BYTES} bytes" in body["error"] and "send" in body["error"]


def _chunks(size: int) -> Iterator[bytes]:
    piece = b"x" * 65536
    while size > 0:
        yield piece[:size]
        size -= len(piece)


@pytest.mark.parametrize("size", SIZES, ids=["one-over", "2MiB", "24MiB"])
@pytest.mark.parametrize("path", PATHS)
def test_an_oversized_body_with_its_length_is_refused_readably(live: LiveServer, path: str, size: int) -> None:
    with live.client() as http:
        answer = http.post(path, content=b"x" * size, headers={"Content-Type": "application/json"})
        _assert_refused(answer)
        assert http.get("/healthz").status_code == 200  # and the connection is still good for the next request


@pytest.mark.parametrize("size", SIZES, ids=["one-over", "2MiB", "24MiB"])
def test_an_oversized_chunked_body_is_refused_readably(live: LiveServer, size: int) -> None:
    with live.client() as http:
        answer = http.post("/workspaces", content=_chunks(size), headers={"Content-Type": "application/json"})
    _assert_refused(answer)


def test_the_refusal_comes_before_the_rest_of_the_body_is_read(live: LiveServer) -> None:
    """A client that announced 1 GiB and sent a little is answered without the server waiting for the rest."""
    with socket.create_connection(("127.0.0.1", live.port), timeout=60) as sock:
        sock.sendall(
            b"POST /workspaces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1073741824\r\n\r\n" + b"x" * 4096
        )
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
    assert received.startswith(b"HTTP/1.1 413 "), received


@pytest.mark.parametrize("size", SIZES, ids=["one-over", "2MiB", "24MiB"])
def test_a_client_that_sends_everything_before_reading_gets_the_refusal(live: LiveServer, size: int) -> None:
    """As urllib and most simple clients do: the whole body first, then read. No reset on the way."""
    with socket.create_connection(("127.0.0.1", live.port), timeout=60) as sock:
        sock.sendall(
            b"POST /workspaces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {size}\r\n\r\n".encode()
            + b"x" * size
        )
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    refusal, _, rest = received.partition(b"\r\n\r\n")
    assert refusal.startswith(b"HTTP/1.1 413 "), received[:200]
    assert b'"code":"BODY_TOO_LARGE"' in rest
    assert b"HTTP/1.1 200 " in rest  # the connection outlived the refused body
