"""The console's manifest versions in real Chromium and over plain HTTP, each test on its own server
(publishing changes the fleet's manifest, which the shared console servers must not see); on a
server holding a large fleet, how far a long publish is while the page waits for it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

from routegate.registry import Registry
from routegate.service import Settings

from ..service.conftest import LiveServer
from ..service.fleets import HeldReads, fill
from ..service.test_lifecycle import _with_extra_hermes_model
from ..service.test_versions import BUNDLED, NEW_MODEL
from .conftest import API_TOKEN, WIDE, Server, Tab, _serve, open_tab

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

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


# --- how far a long publish is --------------------------------------------------------------------

FLEET = 20_000
PATIENCE_MS = 180_000


@pytest.fixture(scope="module")
def fleet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own, in this process (so a test can hold its replay), holding FLEET workspaces."""
    folder = tmp_path_factory.mktemp("console-fleet")
    live = LiveServer(Settings(database_url=f"sqlite:///{folder / 'console.db'}")).start()
    try:
        fill(live.state.database, FLEET)
        yield live
    finally:
        live.stop()


@pytest.fixture
def fleet_tab(browser: Browser, fleet_server: LiveServer) -> Iterator[Tab]:
    yield from open_tab(browser, fleet_server.url, WIDE)


def _in_flight(server: LiveServer) -> list[dict[str, object]]:
    with server.client() as http:
        return list(http.get("/registry/versions/progress").json()["items"])


def _held_midway(monkeypatch: pytest.MonkeyPatch) -> HeldReads:
    """Each replay's read of the fleet held once it has read some of it, until the test lets it go."""
    return HeldReads(monkeypatch, holds=lambda read, total: 0 < read < total)


@pytest.mark.browser
def test_the_versions_page_shows_a_publish_in_flight_elsewhere(
    fleet_tab: Tab, fleet_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = fleet_tab.page
    held = _held_midway(monkeypatch)
    with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=fleet_server.url, timeout=PATIENCE_MS / 1000) as http:
        dry_run = pool.submit(http.post, "/registry/versions", json={"manifest": K3, "dry_run": True})
        release = held.next_inside()
        fleet_tab.goto("/ui/registry/versions")
        replays = page.locator("#replays")
        expect(replays).to_be_visible()
        expect(replays.locator('li[data-kind="publish"]')).to_contain_text("Dry run of a publish")
        expect(replays).to_contain_text(re.compile(rf"[1-9][\d,]* of {FLEET:,} stored workspaces decided again"))
        assert fleet_tab.accessibility_violations() == []
        fleet_tab.shot("versions-replaying")
        release.set()
        assert dry_run.result().status_code == 200
    expect(replays).to_contain_text("Nothing is replaying now", timeout=PATIENCE_MS)
    assert page.locator("#replays progress").count() == 0


def _record_texts(tab: Tab, *selectors: str) -> list[tuple[str, str]]:
    """(selector, text) each time one of these elements changes, shown or hidden, as the page shows them:
    reported out of the page as they happen, so they are kept when a form's answer replaces it."""
    seen: list[tuple[str, str]] = []
    tab.page.expose_function("recordText", lambda selector, text: seen.append((selector, text)))
    tab.page.evaluate(
        """(selectors) => selectors.forEach((selector) => {
            const node = document.querySelector(selector);
            new MutationObserver(() => window.recordText(selector, node.hidden ? "" : node.textContent.trim()))
                .observe(node, {attributes: true, childList: true, subtree: true, characterData: true});
        })""",
        list(selectors),
    )
    return seen


def _serving_the_page_until(page: Page, done: Callable[[], bool]) -> None:
    """Wait for ``done`` while serving the page's events (the tab routes its requests through this
    thread, and a page whose form is pending has no document for a locator to wait on)."""
    deadline = time.monotonic() + PATIENCE_MS / 1000
    while not done():
        assert time.monotonic() < deadline, "not done in time"
        page.wait_for_timeout(20)


@pytest.mark.browser
def test_a_long_publish_shows_its_progress_while_pending_then_its_version(
    fleet_tab: Tab, fleet_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = fleet_tab.page
    held = _held_midway(monkeypatch)
    fleet_tab.goto("/ui/registry/versions")
    expect(page.locator("#replays")).to_be_hidden()
    expect(page.locator("#publish-progress")).to_be_hidden()
    seen = _record_texts(fleet_tab, "#publish-progress", "#replays")

    page.get_by_label("Manifest (providers.yaml)").fill(K3)
    page.get_by_role("button", name="Publish").click(no_wait_after=True)  # the answer comes after the replay
    _serving_the_page_until(page, lambda: not held.arrived.empty())
    release = held.next_inside()
    count = re.compile(rf"([\d,]+) of {FLEET:,} stored workspaces decided again \(\d+%\)")
    _serving_the_page_until(page, lambda: any(count.fullmatch(text) for selector, text in seen))
    release.set()
    expect(page).to_have_url(re.compile(r"/ui/registry/versions/2$"), timeout=PATIENCE_MS)
    expect(page.get_by_role("heading", level=1)).to_contain_text("active")

    own = [text for selector, text in seen if selector == "#publish-progress"]
    assert own and own[0] == "Waiting for the replay to begin…", own[:3]  # shown at once on submit
    counts = [i for i, text in enumerate(own) if count.fullmatch(text)]
    assert counts, f"no count from the API was shown: {own}"
    counted = [int(own[i].split(" of ")[0].replace(",", "")) for i in counts]
    assert counted == sorted(counted), own
    after = set(own[counts[0] :]) - {own[i] for i in counts}
    assert after <= {"Replayed; waiting for the answer…"}, own  # never back to waiting for a start
    listed = [text for selector, text in seen if selector == "#replays" and text]
    assert any(text.startswith("Replaying now on this instance") and "Publish" in text for text in listed), listed
    assert fleet_tab.calls("GET", "/registry/versions/progress"), "the page followed the replay through the API"
    assert _in_flight(fleet_server) == []
