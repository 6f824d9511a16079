"""A loopback stand-in for the vendors: the OpenAI (streamed too) and Anthropic wire formats, and each request's key.

The one fake in these tests, by necessity: the proxy in front of it is the real LiteLLM.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USAGE = {"prompt_tokens": 11, "completion_tokens": 7}


@dataclass(frozen=True)
class Received:
    path: str
    model: str
    key: str
    """The Authorization bearer or the x-api-key, as it arrived."""


@dataclass
class Vendor:
    """Serves until stopped; ``failing`` models answer 500, for retries and fallbacks."""

    received: list[Received] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    record: bool = True

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> Vendor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, body: dict[str, Any], key: str) -> tuple[int, dict[str, Any]]:
        model = str(body.get("model"))
        if self.record:
            self.received.append(Received(path, model, key))
        if model in self.failing:
            return 500, {"error": {"message": "the vendor is down", "type": "server_error"}}
        if path.endswith("/messages"):
            return 200, {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": "hello"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": USAGE["prompt_tokens"], "output_tokens": USAGE["completion_tokens"]},
            }
        return 200, {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
            "usage": {**USAGE, "total_tokens": sum(USAGE.values())},
        }


def _handler(vendor: Vendor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The headers and the body go out as two writes: with Nagle's algorithm on, the body would wait
        # for the proxy's delayed acknowledgement of the headers (40 ms on Linux) on a busy connection.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            key = self.headers.get("x-api-key") or self.headers.get("Authorization", "").removeprefix("Bearer ")
            status, answer = vendor.answer(self.path, body, key)
            streamed = status == 200 and body.get("stream") is True and not self.path.endswith("/messages")
            payload = _events(answer, body) if streamed else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/event-stream" if streamed else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _events(answer: dict[str, Any], body: dict[str, Any]) -> bytes:
    """A chat completion as OpenAI streams it: the text, the finish, the usage when asked for, then [DONE]."""
    head = {key: answer[key] for key in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    chunks = [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hello"}, "finish_reason": None}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**head, "choices": [], "usage": answer["usage"]})
    return b"".join(f"data: {json.dumps(chunk)}\n\n".encode() for chunk in chunks) + b"data: [DONE]\n\n"
