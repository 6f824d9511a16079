"""The console in real Chromium against a real server: create, list, refuse live, registry, drift."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from routegate.drift import drift
from routegate.registry import Registry
from routegate.templates import TemplateRoot

from .conftest import Server, Tab

pytestmark = pytest.mark.browser

REGISTRY = Registry.load()
TEMPLATES = TemplateRoot()


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def _choose_runtime(tab: Tab, runtime: str) -> None:
    tab.page.get_by_label("Runtime", exact=True).select_option(runtime)
    expect(tab.page.locator(f'[data-menu-for="{runtime}"]')).to_be_visible()


def test_create_byok_workspace_on_claude_code_and_see_it_listed(tab: Tab, server: Server) -> None:
    page = tab.page
    name = _unique("glm byok")
    expected = REGISTRY.check("claude-code", "GLM-4.6")
    assert expected.allowed and expected.billing_mode is not None and expected.provider is not None

    tab.goto("/")
    page.get_by_label("Name", exact=True).fill(name)
    _choose_runtime(tab, "claude-code")
    model = page.get_by_label("Model id")
    model.press_sequentially("GLM-4.6", delay=40)  # typed faster than the debounce

    check = page.locator("#check-result")
    expect(check).to_have_attribute("data-state", "allowed")
    expect(check.get_by_test_id("check-provider")).to_have_text(expected.provider.name)
    expect(check).to_contain_text("BYOK")
    for env_name in expected.required_env:
        expect(check).to_contain_text(env_name)
    # Debounced: a burst of keystrokes is checked once, not once per character.
    checks = tab.calls("POST", "/registry/check")
    assert 1 <= len(checks) < len("GLM-4.6") // 2, checks
    tab.shot("create-allowed-wide")

    page.get_by_role("button", name="Create workspace").click()
    result = page.locator("#create-result")
    expect(result).to_have_attribute("data-state", "created")
    created = result.get_by_test_id("created")
    expect(created).to_contain_text(name)
    expect(created).to_contain_text(expected.provider.name)
    expect(created).to_contain_text("BYOK")
    expect(result).to_be_focused()
    tab.shot("create-created-wide")

    with server.client() as client:
        items = client.get("/workspaces", params={"limit": 100}).json()["items"]
    stored = [item for item in items if item["name"] == name]
    assert len(stored) == 1 and stored[0]["billing_mode"] == expected.billing_mode.value

    page.get_by_role("link", name="All workspaces").click()
    expect(page).to_have_url(re.compile(r"/ui/workspaces$"))
    row = page.locator("#workspaces-body tr", has=page.get_by_role("link", name=name, exact=True))
    expect(row).to_have_count(1)
    cells = row.locator("td")
    expect(cells.nth(1)).to_have_text("claude-code")
    expect(cells.nth(2)).to_have_text("GLM-4.6")
    expect(cells.nth(3)).to_have_text(expected.provider.name)
    expect(cells.nth(4)).to_have_text("BYOK")
    tab.shot("workspaces-wide")

    row.get_by_role("link", name=name, exact=True).click()
    expect(page.locator("#workspace-title")).to_have_text(name)
    env = page.locator("#runtime-env")
    expect(env).to_contain_text(expected.required_env[0])
    decisions = page.locator("#decisions-body tr")
    expect(decisions.first).to_contain_text("admitted")
    expect(decisions.first).to_contain_text(REGISTRY.fingerprint)
    tab.shot("workspace-detail-wide")


def test_gpt_4o_on_hermes_is_refused_with_suggestions_before_submitting(
    tab: Tab, narrow_tab: Tab, server: Server
) -> None:
    page = tab.page
    expected = REGISTRY.check("hermes", "gpt-4o")
    assert not expected.allowed and expected.suggestions and expected.code is not None

    tab.goto("/")
    _choose_runtime(tab, "hermes")
    page.get_by_label("Model id").press_sequentially("gpt-4o", delay=40)

    check = page.locator("#check-result")
    expect(check).to_have_attribute("aria-live", "polite")
    expect(check).to_have_attribute("data-state", "refused")
    expect(check.get_by_test_id("check-code")).to_have_text(expected.code.value)
    expect(check).to_contain_text("gpt-4o")
    suggestions = check.locator(".chip")
    expect(suggestions).to_have_text(list(expected.suggestions))
    assert tab.calls("POST", "/workspaces") == [], "the refusal must come from the live check, not a create"
    tab.shot("create-refused-wide")

    # Submitting anyway shows the gate's own refusal in place and creates nothing.
    tab.expect_console_error("status of 422")
    name = _unique("refused")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create workspace").click()
    result = page.locator("#create-result")
    expect(result).to_have_attribute("data-state", "error")
    expect(result.get_by_test_id("error-code")).to_have_text(expected.code.value)
    expect(result).to_contain_text("HTTP 422")
    with server.client() as client:
        names = [item["name"] for item in client.get("/workspaces", params={"limit": 100}).json()["items"]]
    assert name not in names

    # A suggestion is one click away, and it routes.
    suggestions.first.click()
    expect(page.get_by_label("Model id")).to_have_value(expected.suggestions[0])
    expect(check).to_have_attribute("data-state", "allowed")

    narrow_tab.goto("/")
    _choose_runtime(narrow_tab, "hermes")
    narrow_tab.page.get_by_label("Model id").fill("gpt-4o")
    expect(narrow_tab.page.locator("#check-result .chip")).to_have_count(len(expected.suggestions))
    narrow_tab.shot("create-refused-narrow")


def test_template_fills_runtime_and_default_model(tab: Tab) -> None:
    page = tab.page
    template = TEMPLATES.get("openclaw")
    assert template.runtime and template.default_model
    tab.goto("/")
    page.get_by_label("Template").select_option("openclaw")
    expect(page.get_by_label("Runtime", exact=True)).to_have_value(template.runtime)
    expect(page.get_by_label("Model id")).to_have_value(template.default_model)
    expect(page.locator(f'[data-menu-for="{template.runtime}"]')).to_be_visible()
    expected = REGISTRY.check(template.runtime, template.default_model)
    expect(page.locator("#check-result")).to_have_attribute("data-state", "allowed" if expected.allowed else "refused")


def test_menu_groups_by_provider_with_billing_and_env(tab: Tab) -> None:
    page = tab.page
    tab.goto("/")
    _choose_runtime(tab, "codex")
    menu = page.locator('[data-menu-for="codex"]')
    for arm in REGISTRY.arms("codex"):
        if arm.routing_only:
            continue
        group = menu.get_by_role("region", name=arm.provider.display_name)
        expect(group.locator(".chip")).to_have_text(list(arm.models))
        expect(group).to_contain_text("platform-managed" if arm.provider.name == "platform" else "BYOK")
        expect(group).to_contain_text(arm.provider.auth_env[0])
    expect(page.locator('[data-menu-for="claude-code"]')).to_be_hidden()
    # Choosing a menu id fills the model and checks it.
    first = REGISTRY.menu("codex")[0]
    menu.locator(".chip", has_text=re.compile(f"^{re.escape(first)}$")).first.click()
    expect(page.get_by_label("Model id")).to_have_value(first)
    expect(page.locator("#check-result")).to_have_attribute("data-state", "allowed")


def test_keyboard_alone_reaches_a_suggestion(tab: Tab) -> None:
    page = tab.page
    tab.goto("/")
    page.get_by_label("Runtime", exact=True).focus()
    page.keyboard.press("End")  # the last runtime in the list
    runtime = REGISTRY.runtimes[-1]
    expect(page.get_by_label("Runtime", exact=True)).to_have_value(runtime)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Model id")).to_be_focused()
    page.keyboard.type("zzz-not-a-model")
    expected = REGISTRY.check(runtime, "zzz-not-a-model")
    assert expected.suggestions
    expect(page.locator("#check-result")).to_have_attribute("data-state", "refused")
    page.keyboard.press("Tab")
    chip = page.locator("#check-result .chip").first
    expect(chip).to_be_focused()
    outline = chip.evaluate("node => getComputedStyle(node).outlineStyle")
    assert outline != "none", "a focused control must show a focus ring"
    page.keyboard.press("Enter")
    expect(page.get_by_label("Model id")).to_have_value(expected.suggestions[0])
    expect(page.get_by_label("Model id")).to_be_focused()


def test_drift_page_shows_hermes_25_of_37_and_flags_openclaw_default(tab: Tab, narrow_tab: Tab) -> None:
    page = tab.page
    tab.goto("/ui/drift")
    hermes = page.locator('[data-template="hermes"]')
    expect(hermes.get_by_test_id("routable")).to_have_text("25")
    expect(hermes.get_by_test_id("offered")).to_have_text("37")
    ok_width = float(hermes.locator(".bar__ok").get_attribute("width") or "nan")
    assert ok_width == pytest.approx(25 / 37 * 100, abs=0.01)
    expect(hermes.locator(".residual__id")).to_have_count(12)

    openclaw = page.locator('[data-template="openclaw"]')
    expect(openclaw.get_by_test_id("default-flag")).to_have_text("does not route")
    default = TEMPLATES.get("openclaw").default_model
    expect(openclaw.locator(".drift__default code")).to_have_text(default or "")
    expect(openclaw.locator(".residual__list li", has_text="default")).to_contain_text(default or "")

    # Every template agrees with the core's drift(), and only non-routing defaults are flagged.
    for template in TEMPLATES.all():
        measured = drift(REGISTRY, template)
        card = page.locator(f'[data-template="{template.name}"]')
        expect(card.get_by_test_id("routable")).to_have_text(str(measured.routable))
        expect(card.get_by_test_id("default-flag")).to_have_count(0 if measured.default_routable else 1)
    tab.shot("drift-wide")
    narrow_tab.goto("/ui/drift")
    narrow_tab.shot("drift-narrow")


def test_registry_page_shows_matrix_and_fingerprint(tab: Tab, server: Server) -> None:
    page = tab.page
    tab.goto("/ui/registry")
    with server.client() as client:
        served = client.get("/registry").json()["fingerprint"]
    expect(page.locator("#fingerprint")).to_have_text(served)
    assert served == REGISTRY.fingerprint

    rows = page.locator("#matrix tbody tr")
    expect(rows).to_have_count(len(REGISTRY.catalog))
    for runtime in REGISTRY.runtimes:
        arms = {arm.provider.name: arm for arm in REGISTRY.arms(runtime)}
        for provider in REGISTRY.catalog:
            arm = arms.get(provider)
            kind = "none" if arm is None else "routing" if arm.routing_only else "menu"
            cell = page.locator(f'#matrix tr[data-provider="{provider}"] td[data-runtime="{runtime}"]')
            expect(cell).to_have_attribute("data-arm", kind)
    details = page.locator("#providers tbody tr")
    expect(details).to_have_count(len(REGISTRY.catalog))
    for provider in REGISTRY.catalog.values():
        row = page.locator(f'#providers tr[data-provider="{provider.name}"]')
        expect(row.locator(".pattern")).to_have_text(provider.model_prefix_match)
        expect(row.locator(".env")).to_have_text(list(provider.auth_env))
        expect(row.locator("td[data-platform-keyed]")).to_have_text("yes" if provider.platform_keyed else "no")
        if provider.upstream_vendor:
            expect(row).to_contain_text(provider.upstream_vendor)
    tab.shot("registry-wide")


@pytest.mark.parametrize("path", ["/", "/ui/workspaces", "/ui/registry", "/ui/drift"])
def test_pages_fit_a_narrow_screen(narrow_tab: Tab, path: str) -> None:
    page = narrow_tab.page
    narrow_tab.goto(path)
    page.wait_for_load_state("networkidle")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a {page.viewport_size['width']}px screen"
    label = {"/": "create", "/ui/workspaces": "workspaces", "/ui/registry": "registry", "/ui/drift": "drift"}[path]
    narrow_tab.shot(f"{label}-narrow")


def test_every_form_control_has_a_label(tab: Tab) -> None:
    page = tab.page
    tab.goto("/")
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select'))
                 .filter(node => !(node.labels && node.labels.length) && !node.getAttribute('aria-label'))
                 .map(node => node.id || node.name)"""
    )
    assert unlabelled == []


def test_token_flow_asks_once_and_refuses_unsafe_requests_without_csrf(token_tab: Tab, token_server: Server) -> None:
    from routegate.console import session

    from .conftest import API_TOKEN

    page = token_tab.page
    token_tab.expect_console_error("status of 401")  # the wrong token's answer, and the API before sign-in
    token_tab.expect_console_error("status of 403")  # the forged requests below
    token_tab.goto("/")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2F$"))
    token_tab.shot("login-wide")

    page.get_by_label("API token").fill(API_TOKEN + "-wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not the service")
    assert [c for c in page.context.cookies() if c["name"] == session.COOKIE_NAME] == []

    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(token_server.url + "/")
    (cookie,) = [c for c in page.context.cookies() if c["name"] == session.COOKIE_NAME]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert API_TOKEN not in cookie["value"]
    assert session.COOKIE_NAME not in page.evaluate("document.cookie"), "scripts must not read the session"

    # Asked once: the other pages open without asking again.
    token_tab.goto("/ui/workspaces")
    expect(page).to_have_url(re.compile(r"/ui/workspaces$"))
    expect(page.locator("#workspaces-status")).not_to_have_text(re.compile("Loading|Could not"))

    # The console's own create carries the CSRF token and succeeds.
    name = _unique("with token")
    token_tab.goto("/")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Model id").fill("GLM-4.6")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.locator("#create-result")).to_have_attribute("data-state", "created")

    # The same cookie without the CSRF header (what a forged cross-site request would send) is refused.
    probe = _unique("no csrf")
    attempt = """async ([name, header]) => {
        const headers = {"Content-Type": "application/json"};
        if (header) headers["X-CSRF-Token"] = header;
        const r = await fetch("/workspaces", {method: "POST", headers,
            body: JSON.stringify({name, runtime: "claude-code", model: "GLM-4.6"})});
        return [r.status, (await r.json()).code];
    }"""
    assert page.evaluate(attempt, [probe, ""]) == [403, "CSRF_TOKEN_INVALID"]
    assert page.evaluate(attempt, [probe, "f" * 64]) == [403, "CSRF_TOKEN_INVALID"]
    assert page.evaluate("async () => (await fetch('/workspaces')).status") == 200, "safe requests need no CSRF token"
    with token_server.client(headers=token_server.bearer()) as client:
        names = [w["name"] for w in client.get("/workspaces", params={"limit": 200}).json()["items"]]
    assert name in names and probe not in names

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/ui/login"))
    assert page.evaluate("async () => (await fetch('/workspaces')).status") == 401


def test_workspaces_table_pages_through_the_api_cursor(tab: Tab, narrow_tab: Tab, server: Server) -> None:
    page = tab.page
    batch = _unique("paged")
    with server.client() as client:
        for i in range(23):  # more than one console page (20 rows)
            response = client.post(
                "/workspaces", json={"name": f"{batch} #{i}", "runtime": "hermes", "model": "moonshot/kimi-k2.6"}
            )
            assert response.status_code == 201, response.text
        everything = [w["id"] for w in client.get("/workspaces", params={"limit": 200}).json()["items"]]

    tab.goto("/ui/workspaces")
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        expect(page.locator("#workspaces-status")).to_contain_text(f"page {pages}")
        seen += page.locator("#workspaces-body tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
        following = page.get_by_role("link", name="Next page")
        if not following.is_visible():
            break
        following.click()
    assert pages == -(-len(everything) // 20)
    assert seen == everything, "every workspace once, in the API's order"

    # A click anywhere on a row opens the workspace; its decision shows platform billing for a menu id.
    tab.goto("/ui/workspaces")
    row = page.locator("#workspaces-body tr", has_text=f"{batch} #0")
    row.locator("td").nth(4).click()
    expect(page.locator("#workspace-title")).to_have_text(f"{batch} #0")
    expect(page.locator("#workspace-facts")).to_contain_text("platform-managed")
    expect(page.locator("#decisions-body")).to_contain_text("on the 'hermes' menu")
    narrow_tab.goto("/ui/workspaces")
    expect(narrow_tab.page.locator("#workspaces-body tr").first).to_be_visible()
    narrow_tab.shot("workspaces-rows-narrow")
    narrow_tab.goto(page.url.removeprefix(server.url))
    expect(narrow_tab.page.locator("#workspace-detail")).to_be_visible()
    narrow_tab.shot("workspace-detail-narrow")
