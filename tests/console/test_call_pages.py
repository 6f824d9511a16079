"""The call gate in the console (issue 21): a workspace's tokens and recent calls, and the calls page."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from .conftest import Server, Tab


def _workspace(server: Server) -> dict[str, Any]:
    with server.client() as client:
        created = client.post(
            "/workspaces",
            json={"name": f"calls {uuid.uuid4().hex[:8]}", "runtime": "hermes", "model": "moonshot/kimi-k2.6"},
        )
    assert created.status_code == 201, created.text
    return dict(created.json())


def _call(server: Server, token: str, model: str) -> httpx.Response:
    with server.client() as client:
        return client.post("/calls/authorize", json={"token": token, "model": model})


@pytest.mark.browser
def test_a_token_issued_on_the_workspace_page_is_shown_once_works_and_is_revoked_there(
    tab: Tab, server: Server
) -> None:
    workspace = _workspace(server)
    page = tab.page
    tab.goto(f"/ui/workspaces/{workspace['id']}")
    expect(page.locator("#workspace-detail")).to_be_visible()
    expect(page.locator("#call-tokens-body")).to_contain_text("No call tokens.")
    page.get_by_role("button", name="Issue a token").click()
    token = page.locator("#issued-token-value")
    expect(token).to_contain_text("rgc_")
    secret = token.inner_text()
    assert _call(server, secret, "moonshot/kimi-k2.6").status_code == 200
    assert _call(server, secret, "anthropic/claude-opus-4-1").status_code == 403
    tab.goto(f"/ui/workspaces/{workspace['id']}")
    expect(page.locator("#calls-body tr")).to_have_count(2)
    expect(page.locator("#calls-body")).to_contain_text("UNREGISTERED_MODEL_FOR_RUNTIME")
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("#call-tokens-body")).to_contain_text("revoked")
    assert _call(server, secret, "moonshot/kimi-k2.6").status_code == 401


def test_the_calls_page_lists_receipts_with_sums_and_says_which_filters_it_ignored(server: Server) -> None:
    workspace = _workspace(server)
    with server.client() as client:
        token = client.post(f"/workspaces/{workspace['id']}/call-tokens", json={}).json()["token"]
    for model in ("moonshot/kimi-k2.6", "openrouter/x", "gpt-4o"):
        _call(server, token, model)
    with server.client() as client:
        page = client.get("/ui/calls", params={"workspace_id": workspace["id"]})
        odd = client.get("/ui/calls", params={"payer": "nobody", "cursor": "x"})
    assert page.status_code == 200
    assert page.text.count("data-receipt=") == 3 and "openrouter" in page.text
    assert 'Refused calls: <span id="calls-refused">1</span>' in page.text
    assert odd.status_code == 200 and "is not a payer" in odd.text and "is not a page cursor" in odd.text
