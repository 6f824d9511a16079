"""The call gate inside the real LiteLLM proxy: routegate's service, the proxy and a loopback vendor, as processes.

The proxy runs on the config ``routegate gen --target litellm`` writes, with a retry and
fallbacks added the way an operator would: what reaches the vendor is what routegate admitted,
each id with its own decision, on the platform's key for that vendor, and nothing else. Each
case runs on SQLite and on PostgreSQL, with the proxy asking the service over HTTP and deciding
in its own process: one proxy per backend and mode.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import yaml

from routegate.gen.litellm import render
from routegate.manifest import load_manifest
from routegate.registry import Registry
from routegate.service import Settings
from tests.gates.test_gen_litellm import billed_to_the_platform
from tests.service.conftest import BACKENDS, LiveServer, database_url
from tests.service.test_calls import issue, workspace

from .proxy import MASTER_KEY, PLATFORM_KEYS, Proxy
from .vendor import USAGE, Vendor

VENDORS = ("anthropic", "openai", "moonshot", "minimax")
FALLBACKS = [
    {"openai/gpt-5.4": ["openai/gpt-5.4-mini"]},  # codex's menu holds both: admitted, on its own receipt
    {"moonshot/kimi-k2.6": ["anthropic/claude-opus-4-7"]},  # claude-code's, never hermes'
]


@pytest.fixture(scope="module")
def vendor() -> Iterator[Vendor]:
    served = Vendor().start()
    yield served
    served.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def routegate(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    for url in database_url(request.param, tmp_path_factory.mktemp("routegate")):
        live = LiveServer(Settings(database_url=url)).start()
        yield live
        live.stop()


@pytest.fixture(scope="module", params=["service", "in-process"])
def proxy(
    request: pytest.FixtureRequest, vendor: Vendor, routegate: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    """The proxy asks routegate's service over HTTP, or decides in its own process on the service's database."""
    folder = tmp_path_factory.mktemp("litellm")
    env = {"ROUTEGATE_DATABASE_URL": routegate.settings.database_url} if request.param == "in-process" else {}
    bases = {name: f"{vendor.url}/v1" for name in VENDORS}
    config = yaml.safe_load(render(load_manifest(), routegate_url=routegate.url, api_bases=bases))
    config["litellm_settings"]["num_retries"] = 1
    config["router_settings"]["fallbacks"] = FALLBACKS
    (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    running = Proxy(folder / "config.yaml", folder / "proxy.log", **env).wait()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def tokens(routegate: LiveServer) -> dict[str, str]:
    """One call token per workspace: codex, claude-code and hermes with a platform-paid model."""
    with routegate.client() as http:
        made = {
            runtime: workspace(http, f"proxy-{runtime}", runtime, model)
            for runtime, model in (
                ("codex", "openai/gpt-5.4"),
                ("claude-code", "anthropic/claude-opus-4-7"),
                ("hermes", "moonshot/kimi-k2.6"),
            )
        }
        return {runtime: issue(http, created["id"])["token"] for runtime, created in made.items()}


def call(proxy: Proxy, token: str, model: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{proxy.url}/v1/chat/completions", json=body, headers=headers, timeout=60)


def receipt(routegate: LiveServer, receipt_id: str, reported: bool = True) -> dict[str, Any]:
    """The receipt, once the proxy's post-call hook has reported its usage (the hook runs after the answer)."""
    deadline = time.monotonic() + 10
    with routegate.client() as http:
        while True:
            items = http.get("/calls/receipts", params={"limit": 500}).json()["items"]
            found: dict[str, Any] = next(item for item in items if item["id"] == receipt_id)
            if found["status"] is not None or not reported or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def refused(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["type"] == code and code in error["message"], error
    return error


@pytest.mark.parametrize(
    ("runtime", "model", "vendor_model", "path"),
    [
        ("claude-code", "anthropic/claude-opus-4-7", "claude-opus-4-7", "/v1/messages"),
        ("codex", "openai/gpt-5.4", "gpt-5.4", "/v1/chat/completions"),
        ("hermes", "moonshot/kimi-k2.6", "kimi-k2.6", "/v1/chat/completions"),
    ],
)
def test_a_platform_menu_id_is_forwarded_once_on_the_platforms_key_and_the_receipt_gets_the_usage(
    proxy: Proxy,
    vendor: Vendor,
    routegate: LiveServer,
    tokens: dict[str, str],
    runtime: str,
    model: str,
    vendor_model: str,
    path: str,
) -> None:
    vendor.received.clear()
    answer = call(proxy, tokens[runtime], model)
    assert answer.status_code == 200, answer.text + proxy.output()
    assert answer.json()["choices"][0]["message"]["content"] == "hello"
    timing = re.fullmatch(r"routegate;dur=(\d+\.\d{3})", answer.headers.get("server-timing", ""))
    assert timing is not None and float(timing[1]) > 0, answer.headers  # routegate's time on the call's path
    (received,) = vendor.received
    platform_key = PLATFORM_KEYS[f"{model.split('/')[0].upper()}_API_KEY"]
    assert (received.path, received.model, received.key) == (path, vendor_model, platform_key)

    with routegate.client() as http:
        newest = http.get("/calls/receipts", params={"limit": 1}).json()["items"][0]
    done = receipt(routegate, newest["id"])
    assert (done["model"], done["payer"], done["allowed"]) == (model, "platform", True)
    assert done["usage"] is not None and done["status"] == "ok", done
    assert (done["usage"]["prompt_tokens"], done["usage"]["completion_tokens"]) == (
        USAGE["prompt_tokens"],
        USAGE["completion_tokens"],
    )


@pytest.mark.parametrize("extra", [{}, {"stream_options": {"include_usage": True}}])
def test_a_streamed_call_is_forwarded_once_and_its_receipt_gets_the_usage(
    proxy: Proxy, vendor: Vendor, routegate: LiveServer, tokens: dict[str, str], extra: dict[str, Any]
) -> None:
    """The vendor streams its answer; the receipt is completed once the stream has ended."""
    before = newest_receipt(routegate)
    vendor.received.clear()
    answer = call(proxy, tokens["codex"], "openai/gpt-5.4", stream=True, **extra)
    assert answer.status_code == 200, answer.text
    assert '"content": "hello"' in answer.text.replace('":"', '": "') and "data: [DONE]" in answer.text, answer.text
    assert [(seen.model, seen.key) for seen in vendor.received] == [("gpt-5.4", PLATFORM_KEYS["OPENAI_API_KEY"])]
    (made,) = receipts_after(routegate, before)
    assert (made["allowed"], made["status"], made["usage"]) == (True, "ok", USAGE), made


@pytest.mark.parametrize(
    ("runtime", "model", "status", "code"),
    [
        ("hermes", "openai/gpt-5.4", 403, "UNREGISTERED_MODEL_FOR_RUNTIME"),  # another runtime's menu id
        ("hermes", "anthropic/claude-opus-4-1", 403, "UNREGISTERED_MODEL_FOR_RUNTIME"),  # hermes' residual drift
        ("hermes", "platform/kimi-k2.6", 403, "UNREGISTERED_MODEL_FOR_RUNTIME"),
        ("codex", "gpt-5.4", 403, "CALL_PAID_BY_TENANT"),  # BYOK: the tenant's key, never this proxy's
        ("codex", "anthropic/claude-opus-4-7", 403, "UNREGISTERED_MODEL_FOR_RUNTIME"),  # platform-paid, but not codex's
        (None, "openai/gpt-5.4", 401, "CALL_TOKEN_INVALID"),
    ],
)
def test_a_refused_call_reaches_no_vendor_and_answers_routegates_code(
    proxy: Proxy, vendor: Vendor, tokens: dict[str, str], runtime: str | None, model: str, status: int, code: str
) -> None:
    vendor.received.clear()
    token = tokens[runtime] if runtime else "rgc_not-a-token-routegate-issued"
    refused(call(proxy, token, model), status, code)
    assert vendor.received == []


def test_revoked_and_deleted_workspaces_tokens_are_401_and_reach_no_vendor(
    proxy: Proxy, vendor: Vendor, routegate: LiveServer
) -> None:
    vendor.received.clear()
    with routegate.client() as http:
        revoked_in = workspace(http, "proxy-revoked", "codex", "openai/gpt-5.4")
        revoked = issue(http, revoked_in["id"])
        assert http.delete(f"/workspaces/{revoked_in['id']}/call-tokens/{revoked['id']}").status_code == 204
        deleted_in = workspace(http, "proxy-deleted", "codex", "openai/gpt-5.4")
        deleted = issue(http, deleted_in["id"])
        assert http.delete(f"/workspaces/{deleted_in['id']}").status_code in (200, 204)
    time.sleep(1.2)  # every instance refuses a revoked token within a second
    for token in (revoked["token"], deleted["token"]):
        refused(call(proxy, token, "openai/gpt-5.4"), 401, "CALL_TOKEN_INVALID")
    assert vendor.received == []


def newest_receipt(routegate: LiveServer) -> str | None:
    with routegate.client() as http:
        items = http.get("/calls/receipts", params={"limit": 1}).json()["items"]
    return items[0]["id"] if items else None


def receipts_after(routegate: LiveServer, before: str | None) -> list[dict[str, Any]]:
    """The receipts made since ``before`` (a receipt id), oldest first, each once its usage is reported."""
    with routegate.client() as http:
        items = http.get("/calls/receipts", params={"limit": 500}).json()["items"]
    made = [item for item in reversed(items) if before is None or item["id"] > before]
    return [receipt(routegate, item["id"], reported=item["allowed"]) for item in made]


def test_a_retry_stays_on_the_admitted_id_and_a_fallback_to_an_admitted_id_is_decided_and_forwarded_once(
    proxy: Proxy, vendor: Vendor, routegate: LiveServer, tokens: dict[str, str]
) -> None:
    before = newest_receipt(routegate)
    vendor.received.clear()
    vendor.failing.add("gpt-5.4")
    try:
        answer = call(proxy, tokens["codex"], "openai/gpt-5.4")
    finally:
        vendor.failing.discard("gpt-5.4")
    assert answer.status_code == 200, answer.text + proxy.output()
    platform_key = PLATFORM_KEYS["OPENAI_API_KEY"]
    assert [(seen.model, seen.key) for seen in vendor.received] == [
        ("gpt-5.4", platform_key),
        ("gpt-5.4", platform_key),  # the retry, on the admitted id
        ("gpt-5.4-mini", platform_key),  # the fallback, once
    ]
    first, fallback = receipts_after(routegate, before)
    assert (first["model"], first["allowed"]) == ("openai/gpt-5.4", True)
    assert first["status"].startswith("error"), first
    assert (fallback["model"], fallback["allowed"], fallback["payer"]) == ("openai/gpt-5.4-mini", True, "platform")
    assert fallback["status"] == "ok" and fallback["usage"] == USAGE, fallback
    assert fallback["workspace_id"] == first["workspace_id"] and fallback["token_id"] == first["token_id"]


def test_a_fallback_to_an_id_routegate_refuses_reaches_no_vendor_and_leaves_a_refused_receipt(
    proxy: Proxy, vendor: Vendor, routegate: LiveServer, tokens: dict[str, str]
) -> None:
    before = newest_receipt(routegate)
    vendor.received.clear()
    vendor.failing.add("kimi-k2.6")
    try:
        answer = call(proxy, tokens["hermes"], "moonshot/kimi-k2.6")
    finally:
        vendor.failing.discard("kimi-k2.6")
    assert answer.status_code != 200, answer.text
    assert "UNREGISTERED_MODEL_FOR_RUNTIME" in answer.text, "the answer names the fallback's refusal"
    assert {seen.model for seen in vendor.received} == {"kimi-k2.6"}, "claude-opus-4-7 was never sent"
    assert {seen.key for seen in vendor.received} == {PLATFORM_KEYS["MOONSHOT_API_KEY"]}
    first, fallback = receipts_after(routegate, before)
    assert (first["model"], first["allowed"]) == ("moonshot/kimi-k2.6", True)
    assert (fallback["model"], fallback["allowed"], fallback["code"]) == (
        "anthropic/claude-opus-4-7",
        False,
        "UNREGISTERED_MODEL_FOR_RUNTIME",
    )
    assert fallback["token_id"] == first["token_id"]


def test_calls_at_once_are_each_forwarded_once_and_each_leaves_one_receipt_with_its_outcome(
    proxy: Proxy, vendor: Vendor, routegate: LiveServer, tokens: dict[str, str]
) -> None:
    """Admitted and refused calls from three workspaces, in rounds of 2, 16 and 4 at a time: the
    in-process gate's receipts then go by its writer thread as well as on the loop (while it is quiet,
    on PostgreSQL, over an asyncio connection), and no call loses or shares one."""
    admitted = [
        ("codex", "openai/gpt-5.4"),
        ("claude-code", "anthropic/claude-opus-4-7"),
        ("hermes", "moonshot/kimi-k2.6"),
    ]
    for round_, at_once in enumerate([2, 16, 4, 16, 2, 4]):
        calls = [*admitted * 8, *[("hermes", "openai/gpt-5.4")] * 8]
        random.Random(round_).shuffle(calls)
        before = newest_receipt(routegate)
        vendor.received.clear()
        with ThreadPoolExecutor(at_once) as pool:
            answers = list(pool.map(lambda sent: call(proxy, tokens[sent[0]], sent[1]).status_code, calls))
        assert answers == [403 if sent == ("hermes", "openai/gpt-5.4") else 200 for sent in calls], proxy.output()
        forwarded = Counter(seen.model for seen in vendor.received)
        assert forwarded == {"gpt-5.4": 8, "claude-opus-4-7": 8, "kimi-k2.6": 8}, round_
        made = receipts_after(routegate, before)
        assert Counter((item["model"], item["allowed"]) for item in made) == Counter(
            (model, (runtime, model) in admitted) for runtime, model in calls
        ), round_
        assert all(item["status"] == "ok" and item["usage"] == USAGE for item in made if item["allowed"]), made
        assert len({item["id"] for item in made}) == len(calls), round_


def test_a_tenants_own_key_in_the_request_never_becomes_a_platform_key_call(
    proxy: Proxy, vendor: Vendor, tokens: dict[str, str]
) -> None:
    vendor.received.clear()
    refused(call(proxy, tokens["codex"], "openai/gpt-5.4", api_key="tenant-key"), 403, "CALL_PAID_BY_TENANT")
    refused(call(proxy, tokens["codex"], "gpt-5.4", api_key="tenant-key"), 403, "CALL_PAID_BY_TENANT")
    assert vendor.received == []


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ({"litellm_metadata": 3}, 400),  # LiteLLM rejects it after custom_auth, before its pre-call hook
        ({"api_key": "tenant-key"}, 403),  # the pre-call hook refuses it: CALL_PAID_BY_TENANT
    ],
)
def test_an_admitted_call_that_never_reaches_the_router_leaves_a_not_forwarded_receipt(
    proxy: Proxy, vendor: Vendor, routegate: LiveServer, tokens: dict[str, str], extra: dict[str, Any], status: int
) -> None:
    """Its decision was asked in custom_auth, before LiteLLM read the rest of the body: the receipt is
    completed as not forwarded, not left open like a call whose usage was lost."""
    before = newest_receipt(routegate)
    vendor.received.clear()
    answer = call(proxy, tokens["codex"], "openai/gpt-5.4", **extra)
    assert answer.status_code == status, answer.text
    assert vendor.received == []
    (made,) = receipts_after(routegate, before)
    assert (made["model"], made["allowed"], made["status"]) == ("openai/gpt-5.4", True, "not_forwarded"), made


def test_the_running_proxys_router_serves_exactly_the_platform_billed_set(proxy: Proxy) -> None:
    """Asked with the master key (routegate admits no listing): LiteLLM's own answer, both ways."""
    listed = httpx.get(f"{proxy.url}/v1/models", headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30)
    assert listed.status_code == 200, listed.text
    assert {model["id"] for model in listed.json()["data"]} == billed_to_the_platform(Registry.load())


def test_the_master_key_opens_litellms_routes_but_makes_no_model_call(proxy: Proxy, vendor: Vendor) -> None:
    vendor.received.clear()
    answer = call(proxy, MASTER_KEY, "openai/gpt-5.4")
    assert answer.status_code == 401 and "CALL_TOKEN_INVALID" in answer.text, answer.text
    assert vendor.received == []


def test_the_anthropic_wire_format_is_gated_the_same_way(
    proxy: Proxy, vendor: Vendor, routegate: LiveServer, tokens: dict[str, str]
) -> None:
    body = {"model": "anthropic/claude-opus-4-7", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    vendor.received.clear()
    headers = {"x-api-key": tokens["claude-code"], "anthropic-version": "2023-06-01"}
    answer = httpx.post(f"{proxy.url}/v1/messages", json=body, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"][0]["text"] == "hello"
    assert [(seen.path, seen.key) for seen in vendor.received] == [("/v1/messages", PLATFORM_KEYS["ANTHROPIC_API_KEY"])]
    with routegate.client() as http:
        newest = http.get("/calls/receipts", params={"limit": 1}).json()["items"][0]
    assert receipt(routegate, newest["id"])["status"] == "ok"

    vendor.received.clear()
    headers["x-api-key"] = tokens["hermes"]
    refusal = httpx.post(f"{proxy.url}/v1/messages", json=body, headers=headers, timeout=60)
    assert refusal.status_code == 403 and "UNREGISTERED_MODEL_FOR_RUNTIME" in refusal.text, refusal.text
    assert vendor.received == []
