"""The console's manifest versions in real Chromium and over plain HTTP, each test on its own server
(publishing changes the fleet's manifest, which the shared console servers must not see).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

from routegate.registry import Registry

from ..service.test_lifecycle import _with_extra_hermes_model
from ..service.test_versions import BUNDLED, NEW_MODEL
from .conftest import API_TOKEN, WIDE, Server, Tab, _serve, open_tab

if TYPE_CHECKING:
    from playwright.sync_api import Browser

K3 = _with_extra_hermes_model(BUNDLED, NEW_MODEL)  # one line more, so the text diff is that line


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    yield from _serve(tmp_path, None)


@pytest.fixture
def own_token_server(tmp_path: Path) -> Iterator[Server]:
    yield from _serve(tmp_path, API_TOKEN)


@pytest.fixture
def own_tab(browser: Browser, own_server: Server) -> Iterator[Tab]:
    yield from open_tab(browser, own_server.url, WIDE)


def _versions(server: Server) -> list[tuple[int, bool]]:
    with server.client() as http:
        return [(v["version"], v["active"]) for v in http.get("/registry/versions").json()["items"]]


@pytest.mark.browser
def test_dry_run_publish_and_a_forced_rollback_from_the_console(own_tab: Tab, own_server: Server) -> None:
    page = own_tab.page
    own_tab.goto("/ui/registry")
    page.locator("#versions-link").click()
    expect(page.locator("#active-version")).to_have_text("1")
    expect(page.locator('#versions tr[data-version="1"]')).to_contain_text("active")

    page.get_by_label("Manifest (providers.yaml)").fill(K3)
    page.get_by_label("Note").fill("kimi k3 preview")
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("#outcome")).to_contain_text("Dry run: nothing was changed")
    expect(page.locator("#impact")).to_have_attribute("data-blocking", "no")
    assert _versions(own_server) == [(1, True)]

    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(re.compile(r"/ui/registry/versions/2$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("active")
    expect(page.locator("#version-note")).to_have_text("kimi k3 preview")
    expect(page.locator("#text-diff")).to_contain_text(f"+          - {NEW_MODEL}")
    assert _versions(own_server) == [(2, True), (1, False)]

    with own_server.client() as http:
        created = http.post("/workspaces", json={"name": "on k3", "runtime": "hermes", "model": NEW_MODEL}).json()
    own_tab.goto("/ui/registry/versions/1")
    expect(page.locator("#impact")).to_have_attribute("data-blocking", "yes")
    expect(page.locator(f'#impact tr[data-workspace="{created["id"]}"]')).to_contain_text(
        "UNREGISTERED_MODEL_FOR_RUNTIME"
    )
    own_tab.expect_console_error("409 (Conflict)")  # the refusal page comes with its status
    page.get_by_role("button", name="Activate this version").click()
    expect(page.locator("#outcome")).to_contain_text("would strand 1")
    assert _versions(own_server) == [(2, True), (1, False)]

    page.get_by_role("checkbox", name=re.compile("force")).check()
    page.get_by_role("button", name="Activate this version").click()
    expect(page).to_have_url(re.compile(r"/ui/registry/versions/1$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("active")
    assert _versions(own_server) == [(2, False), (1, True)]
    with own_server.client() as http:
        assert http.get("/registry").json()["fingerprint"] == Registry.from_yaml(BUNDLED).fingerprint


def test_console_forms_refuse_other_sites_and_missing_csrf_tokens(own_token_server: Server) -> None:
    server = own_token_server
    form = {"manifest": K3, "action": "publish"}
    with server.client() as anonymous:
        assert anonymous.get("/ui/registry/versions").status_code == 200
        assert "Sign in" in anonymous.get("/ui/registry/versions").text
        to_login = anonymous.post("/ui/registry/versions", data=form)
        assert to_login.status_code == 303 and to_login.headers["location"].startswith("/ui/login")
    with server.client() as signed_in:
        assert signed_in.post("/ui/login", data={"token": API_TOKEN, "next": "/"}).status_code == 303
        page = signed_in.get("/ui/registry/versions").text
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
        assert csrf is not None
        assert signed_in.post("/ui/registry/versions", data=form).status_code == 403  # no CSRF token
        assert signed_in.post("/ui/registry/versions", data={**form, "csrf_token": "0" * 64}).status_code == 403
        cross = signed_in.post(
            "/ui/registry/versions", data={**form, "csrf_token": csrf.group(1)}, headers={"Origin": "http://evil.test"}
        )
        assert cross.status_code == 403
        fetched = signed_in.post(
            "/ui/registry/versions/1/activate",
            data={"action": "activate", "csrf_token": csrf.group(1)},
            headers={"Sec-Fetch-Site": "cross-site"},
        )
        assert fetched.status_code == 403
        assert _versions(server) == [(1, True)]
        published = signed_in.post("/ui/registry/versions", data={**form, "csrf_token": csrf.group(1)})
        assert published.status_code == 303 and published.headers["location"] == "/ui/registry/versions/2"
        assert _versions(server) == [(2, True), (1, False)]
        invalid = signed_in.post(
            "/ui/registry/versions", data={"manifest": "not: [valid", "action": "publish", "csrf_token": csrf.group(1)}
        )
        assert invalid.status_code == 422 and "The manifest is invalid" in invalid.text
    assert httpx.get(f"{server.url}/ui/registry/versions/999").status_code == 404
    assert httpx.get(f"{server.url}/ui/registry/versions/x").status_code == 404
