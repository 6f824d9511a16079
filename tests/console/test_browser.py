"""The console in real Chromium against a real server, as an operator uses it: fill, click, read.

Every tab blocks each request that leaves the server (see conftest); each page
is also run through axe-core and photographed at desktop and phone sizes.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.sync_api import expect

from routegate.billing import BillingMode
from routegate.drift import drift
from routegate.registry import Registry
from routegate.templates import TemplateRoot

from .conftest import NARROW, WIDE, Server, Tab, open_tab

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

REGISTRY = Registry.load()
TEMPLATES = TemplateRoot()
LABELS = {BillingMode.PLATFORM_MANAGED.value: "Platform-managed", BillingMode.BYOK.value: "BYOK"}


def _unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def _choose_runtime(tab: Tab, runtime: str) -> None:
    tab.page.get_by_label("Runtime", exact=True).select_option(runtime)
    expect(tab.page.locator(f'[data-menu-for="{runtime}"]')).to_be_visible()


def _create(server: Server, **body: Any) -> dict[str, Any]:
    with server.client() as client:
        response = client.post("/workspaces", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _menu_id(runtime: str, billing: BillingMode, skip: int = 0) -> str:
    """A menu id of ``runtime`` billed ``billing`` (the registry's, not a hard-coded one)."""
    ids = [e.id for e in REGISTRY.menu_entries(runtime) if e.billing_mode is billing]
    return ids[skip]


def _dice(a: str, b: str) -> float:
    """The closeness the console asks of a suggestion: Dice similarity of lower-cased letter pairs."""

    def pairs(text: str) -> set[str]:
        folded = text[:128].lower()
        return {folded[i : i + 2] for i in range(len(folded) - 1)} or {folded}

    pa, pb = pairs(a), pairs(b)
    return 2 * len(pa & pb) / (len(pa) + len(pb))


def _record_states(tab: Tab, selector: str) -> None:
    tab.page.evaluate(
        """(selector) => {
            const node = document.querySelector(selector);
            window.__states = [];
            new MutationObserver(() => window.__states.push(node.getAttribute("data-state")))
                .observe(node, {attributes: true, attributeFilter: ["data-state"]});
        }""",
        selector,
    )


# --- create -----------------------------------------------------------------------------------


def test_create_byok_workspace_on_claude_code_and_see_it_listed_first(tab: Tab, server: Server) -> None:
    page = tab.page
    name = _unique("glm byok")
    expected = REGISTRY.check("claude-code", "GLM-4.6")
    assert expected.allowed and expected.billing_mode is not None and expected.provider is not None

    tab.goto("/")
    page.get_by_label("Name", exact=True).fill(name)
    _choose_runtime(tab, "claude-code")
    page.get_by_label("Model id").press_sequentially("GLM-4.6", delay=40)  # faster than the typing pause

    check = page.locator("#check-result")
    expect(check).to_have_attribute("data-state", "allowed")
    expect(check.get_by_test_id("check-provider")).to_have_text(expected.provider.name)
    expect(check).to_contain_text(LABELS[expected.billing_mode.value])
    for env_name in expected.required_env:
        expect(check).to_contain_text(env_name)
    checks = tab.calls("POST", "/registry/check")
    assert 1 <= len(checks) < len("GLM-4.6") // 2, checks

    page.get_by_role("button", name="Create workspace").click()
    result = page.locator("#create-result")
    expect(result).to_have_attribute("data-state", "created")
    created = result.get_by_test_id("created")
    expect(created).to_contain_text(name)
    expect(created).to_contain_text(expected.provider.name)
    expect(result).to_be_focused()

    page.get_by_role("link", name="All workspaces").click()
    expect(page).to_have_url(re.compile(r"/ui/workspaces$"))
    first = page.locator("#workspaces-body tr").first  # newest first
    expect(first.get_by_role("link", name=name, exact=True)).to_be_visible()
    cells = first.locator("td")
    expect(cells.nth(1)).to_have_text("claude-code")
    expect(cells.nth(2)).to_have_text("GLM-4.6")
    expect(cells.nth(3)).to_have_text(expected.provider.name)
    expect(cells.nth(4)).to_have_text(LABELS[expected.billing_mode.value])

    first.locator("td").nth(3).click()  # anywhere on the row opens it
    expect(page.locator("#workspace-title")).to_have_text(name)
    expect(page.locator("#runtime-env")).to_contain_text(expected.required_env[0])
    decisions = page.locator("#decisions-body tr")
    expect(decisions.first).to_contain_text("admitted")
    expect(decisions.first).to_contain_text(REGISTRY.fingerprint)


def test_after_a_create_the_form_offers_create_another(tab: Tab) -> None:
    page = tab.page
    tab.goto("/")
    page.get_by_label("Name", exact=True).fill(_unique("first"))
    page.get_by_label("Model id").fill("GLM-4.6")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.locator("#create-result")).to_have_attribute("data-state", "created")
    page.get_by_role("button", name="Create another").click()
    expect(page.get_by_label("Name", exact=True)).to_have_value("")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    expect(page.get_by_label("Model id")).to_have_value("")
    expect(page.locator("#check-result")).to_have_attribute("data-state", "idle")
    expect(page.locator("#create-result")).to_be_hidden()


@pytest.mark.parametrize(("model", "result_state"), [("GLM-4.6", "created"), ("gpt-4o", "error")])
def test_a_create_sent_before_the_typing_pause_shows_its_result_under_a_settled_check(
    tab: Tab, model: str, result_state: str
) -> None:
    """The check box sits above the result: had it settled later, it would push the result's buttons away."""
    page = tab.page
    tab.goto("/")
    runtime = page.get_by_label("Runtime", exact=True).input_value()
    allowed = REGISTRY.check(runtime, model).allowed
    assert allowed == (result_state == "created")
    expected = "allowed" if allowed else "refused"
    if not allowed:
        tab.expect_console_error("422")
    page.evaluate(
        """() => {
            const result = document.querySelector("#create-result");
            window.__checkWhenShown = [];
            new MutationObserver(() => window.__checkWhenShown.push(
                document.querySelector("#check-result").getAttribute("data-state")
            )).observe(result, {attributes: true, attributeFilter: ["data-state"]});
        }"""
    )
    page.get_by_label("Name", exact=True).fill(_unique("early"))
    page.get_by_label("Model id").fill(model)  # the check waits for a pause that the click below cuts short
    page.get_by_role("button", name="Create workspace").click()
    expect(page.locator("#create-result")).to_have_attribute("data-state", result_state)
    assert page.evaluate("window.__checkWhenShown") == [expected]
    expect(page.locator("#check-result")).to_have_attribute("data-state", expected)


@pytest.mark.parametrize(
    ("runtime", "model"), [("hermes", "moonshot/kimi-k2.6"), ("claude-code", "anthropic:claude-sonnet-4-6")]
)
def test_typing_shows_pending_never_a_refusal_of_a_half_typed_id(tab: Tab, runtime: str, model: str) -> None:
    page = tab.page
    # Every prefix of these ids is refused on its own: a check per keystroke would flash "Refused".
    assert all(not REGISTRY.check(runtime, model[:n]).allowed for n in range(1, len(model)))
    tab.goto("/")
    _choose_runtime(tab, runtime)
    _record_states(tab, "#check-result")
    page.get_by_label("Model id").press_sequentially(model, delay=60)
    expect(page.locator("#check-result")).to_have_attribute("data-state", "allowed")
    states = page.evaluate("window.__states")
    assert "pending" in states and "refused" not in states, states


def test_refused_id_shows_code_and_reason_and_only_close_suggestions(tab: Tab, narrow_tab: Tab, server: Server) -> None:
    page = tab.page
    tab.goto("/")
    _choose_runtime(tab, "hermes")
    check = page.locator("#check-result")
    model = page.get_by_label("Model id")

    far = REGISTRY.check("hermes", "gpt-4o")
    assert not far.allowed and far.code is not None
    assert all(_dice("gpt-4o", s) < 0.5 for s in far.suggestions)
    model.fill("gpt-4o")
    expect(check).to_have_attribute("data-state", "refused")
    expect(check.get_by_test_id("check-code")).to_have_text(far.code.value)
    expect(check).to_contain_text("gpt-4o")
    expect(check.locator(".chip")).to_have_count(0)

    near = REGISTRY.check("hermes", "moonshot/kimi-k2.7")
    close = [s for s in near.suggestions if _dice("moonshot/kimi-k2.7", s) >= 0.5]
    assert not near.allowed and close and len(close) < len(near.suggestions)
    model.fill("moonshot/kimi-k2.7")
    expect(check.locator(".chip")).to_have_text(close)
    assert tab.calls("POST", "/workspaces") == [], "the refusal came from the live check, not a create"

    # Submitting anyway shows the gate's own refusal in place and creates nothing.
    tab.expect_console_error("status of 422")
    name = _unique("refused")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Create workspace").click()
    result = page.locator("#create-result")
    expect(result).to_have_attribute("data-state", "error")
    expect(result.get_by_test_id("error-code")).to_have_text(near.code.value if near.code else "")
    expect(result).to_contain_text("HTTP 422")
    with server.client() as client:
        names = [item["name"] for item in client.get("/workspaces", params={"limit": 200}).json()["items"]]
    assert name not in names

    # A close id is one click away, and it routes.
    check.locator(".chip").first.click()
    expect(model).to_have_value(close[0])
    expect(check).to_have_attribute("data-state", "allowed")

    narrow_tab.goto("/")
    _choose_runtime(narrow_tab, "hermes")
    narrow_tab.page.get_by_label("Model id").fill("moonshot/kimi-k2.7")
    expect(narrow_tab.page.locator("#check-result .chip")).to_have_count(len(close))


def test_an_allowed_choice_among_candidates_explains_which_env_picks_each(tab: Tab) -> None:
    page = tab.page
    decision = REGISTRY.check("codex", "gpt-5.5")
    assert decision.allowed and len(decision.candidates) > 1 and decision.provider is not None
    tab.goto("/")
    _choose_runtime(tab, "codex")
    page.get_by_label("Model id").fill("gpt-5.5")
    candidates = page.locator("#check-result").get_by_test_id("candidates")
    expect(candidates.locator("li")).to_have_count(len(decision.candidates))
    for name in decision.candidates:
        others = {e for other in decision.candidates if other != name for e in REGISTRY.catalog[other].auth_env}
        own = [e for e in REGISTRY.catalog[name].auth_env if e not in others]
        item = candidates.locator(f'li[data-provider="{name}"]')
        expect(item.locator(".env")).to_have_text(own)
    expect(candidates.locator(f'li[data-provider="{decision.provider.name}"]')).to_contain_text("(chosen)")

    # Naming the other candidate's env name changes the choice, as the explanation says.
    other = next(name for name in decision.candidates if name != decision.provider.name)
    chooser = candidates.locator(f'li[data-provider="{other}"] .env').first.inner_text()
    page.get_by_label("Auth env names").fill(chooser)
    expect(page.locator("#check-result").get_by_test_id("check-provider")).to_have_text(other)


def test_template_labels_say_when_the_default_does_not_route(tab: Tab) -> None:
    tab.goto("/")
    options = tab.page.locator("#template option[value]:not([value=''])")
    for template in TEMPLATES.all():
        routes = drift(REGISTRY, template).default_routable
        option = tab.page.locator(f'#template option[value="{template.name}"]')
        if routes is False:
            expect(option).to_contain_text("default model does not route")
        else:
            expect(option).not_to_contain_text("does not route")
    assert options.count() == len(TEMPLATES.all())


def test_a_template_fills_the_model_but_never_overwrites_a_typed_one(tab: Tab) -> None:
    page = tab.page
    openclaw, codex = TEMPLATES.get("openclaw"), TEMPLATES.get("codex")
    assert openclaw.runtime and openclaw.default_model and codex.runtime and codex.default_model
    model = page.get_by_label("Model id")
    tab.goto("/")

    page.get_by_label("Template").select_option("openclaw")
    expect(page.get_by_label("Runtime", exact=True)).to_have_value(openclaw.runtime)
    expect(model).to_have_value(openclaw.default_model)
    expected = REGISTRY.check(openclaw.runtime, openclaw.default_model)
    expect(page.locator("#check-result")).to_have_attribute("data-state", "allowed" if expected.allowed else "refused")
    page.get_by_label("Template").select_option("codex")  # a template's own fill may be replaced
    expect(model).to_have_value(codex.default_model)

    model.fill("my-own-model-id")
    page.get_by_label("Template").select_option("openclaw")
    expect(page.get_by_label("Runtime", exact=True)).to_have_value(openclaw.runtime)
    expect(model).to_have_value("my-own-model-id")
    expect(page.locator("#template-note")).to_contain_text(openclaw.default_model)


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
        expect(group).to_contain_text("Platform-managed" if arm.provider.name == "platform" else "BYOK")
        expect(group).to_contain_text(arm.provider.auth_env[0])
    expect(page.locator('[data-menu-for="claude-code"]')).to_be_hidden()
    first = REGISTRY.menu("codex")[0]
    menu.locator(".chip", has_text=re.compile(f"^{re.escape(first)}$")).first.click()
    expect(page.get_by_label("Model id")).to_have_value(first)
    expect(page.locator("#check-result")).to_have_attribute("data-state", "allowed")


def test_keyboard_alone_reaches_a_close_suggestion(tab: Tab) -> None:
    page = tab.page
    tab.goto("/")
    page.get_by_label("Runtime", exact=True).focus()
    page.keyboard.press("End")
    runtime = REGISTRY.runtimes[-1]
    expect(page.get_by_label("Runtime", exact=True)).to_have_value(runtime)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Model id")).to_be_focused()
    typo = REGISTRY.menu(runtime)[0] + "x"
    expected = [s for s in REGISTRY.check(runtime, typo).suggestions if _dice(typo, s) >= 0.5]
    assert expected
    page.keyboard.type(typo)
    expect(page.locator("#check-result")).to_have_attribute("data-state", "refused")
    page.keyboard.press("Tab")
    chip = page.locator("#check-result .chip").first
    expect(chip).to_be_focused()
    assert chip.evaluate("node => getComputedStyle(node).outlineStyle") != "none", "a focus ring shows"
    page.keyboard.press("Enter")
    expect(page.get_by_label("Model id")).to_have_value(expected[0])
    expect(page.get_by_label("Model id")).to_be_focused()


# --- one workspace: change the model, delete ------------------------------------------------


def test_model_change_previews_and_needs_confirmation_when_billing_changes(tab: Tab, server: Server) -> None:
    page = tab.page
    byok, platform = _menu_id("hermes", BillingMode.BYOK), _menu_id("hermes", BillingMode.PLATFORM_MANAGED)
    other_platform = _menu_id("hermes", BillingMode.PLATFORM_MANAGED, skip=1)
    workspace = _create(server, name=_unique("billing"), runtime="hermes", model=byok)
    to_platform = REGISTRY.check("hermes", platform)
    assert workspace["billing_mode"] == "byok" and to_platform.provider is not None

    tab.goto(f"/ui/workspaces/{workspace['id']}")
    expect(page.locator("#workspace-title")).to_have_text(workspace["name"])
    page.get_by_label("Model", exact=True).press_sequentially(platform, delay=20)
    preview = page.locator("#change-preview")
    expect(preview).to_be_visible()
    expect(preview.locator('tr[data-field="billing"]')).to_have_attribute("data-changed", "yes")
    expect(preview.locator('tr[data-field="billing"] td').nth(0)).to_have_text("BYOK")
    expect(preview.locator('tr[data-field="billing"] td').nth(1)).to_have_text("Platform-managed")
    expect(preview.locator('tr[data-field="provider"] td').nth(1)).to_have_text(to_platform.provider.name)
    for env_name in to_platform.required_env:
        expect(preview.locator('tr[data-field="env names"] td').nth(1)).to_contain_text(env_name)
    tab.shot("workspace-billing-preview-wide")

    # Without the explicit confirmation nothing is sent.
    page.get_by_role("button", name="Change model").click()
    expect(page.locator("#change-result")).to_contain_text("Confirm the billing change")
    assert tab.calls("PUT", f"/workspaces/{workspace['id']}/model") == []
    page.get_by_label("I confirm billing changes from BYOK to Platform-managed").check()
    page.get_by_role("button", name="Change model").click()
    expect(page.locator("#change-result")).to_have_attribute("data-state", "changed")
    expect(page.locator("#workspace-facts")).to_contain_text("Platform-managed")
    with server.client() as client:
        stored = client.get(f"/workspaces/{workspace['id']}").json()
    assert (stored["model"], stored["billing_mode"]) == (platform, "platform_managed")
    expect(page.locator("#decisions-body tr").first).to_contain_text("model change")

    # Same billing: no confirmation asked, straight through.
    page.get_by_label("Model", exact=True).fill(other_platform)
    expect(page.locator('#change-preview tr[data-field="billing"]')).to_have_attribute("data-changed", "no")
    expect(page.locator("#billing-confirm")).to_be_hidden()
    page.get_by_role("button", name="Change model").click()
    expect(page.locator("#change-result")).to_have_attribute("data-state", "changed")
    expect(page.locator("#workspace-facts")).to_contain_text(other_platform)

    # And back to BYOK needs the confirmation again, naming that direction.
    page.get_by_label("Model", exact=True).fill(byok)
    expect(page.locator("#billing-confirm")).to_contain_text("from Platform-managed to BYOK")
    page.get_by_label("I confirm billing changes from Platform-managed to BYOK").check()
    page.get_by_role("button", name="Change model").click()
    expect(page.locator("#change-result")).to_have_attribute("data-state", "changed")
    with server.client() as client:
        assert client.get(f"/workspaces/{workspace['id']}").json()["billing_mode"] == "byok"


def test_a_refused_model_change_shows_code_and_reason(tab: Tab, server: Server) -> None:
    page = tab.page
    workspace = _create(
        server, name=_unique("refuse change"), runtime="hermes", model=_menu_id("hermes", BillingMode.BYOK)
    )
    refused = REGISTRY.check("hermes", "gpt-4o")
    assert refused.code is not None
    tab.expect_console_error("status of 422")
    tab.goto(f"/ui/workspaces/{workspace['id']}")
    page.get_by_label("Model", exact=True).fill("gpt-4o")
    expect(page.locator("#change-check")).to_have_attribute("data-state", "refused")
    page.get_by_role("button", name="Change model").click()
    result = page.locator("#change-result")
    expect(result.get_by_test_id("error-code")).to_have_text(refused.code.value)
    expect(result).to_contain_text("HTTP 422")
    expect(result.get_by_test_id("error-message")).to_contain_text("gpt-4o")
    expect(page.locator("#decisions-body tr").first).to_contain_text(refused.code.value)
    with server.client() as client:
        assert client.get(f"/workspaces/{workspace['id']}").json()["model"] == workspace["model"]


def test_delete_asks_first_and_a_refusal_shows_its_code(tab: Tab, server: Server) -> None:
    page = tab.page
    parent = _create(server, name=_unique("parent"), runtime="claude-code", model="GLM-4.6")
    child = _create(server, name=_unique("child"), runtime="claude-code", model="GLM-4.6", parent_id=parent["id"])

    tab.expect_console_error("status of 409")
    tab.goto(f"/ui/workspaces/{parent['id']}")
    expect(page.locator("#workspace-title")).to_have_text(parent["name"])
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator("#delete-confirm")).to_contain_text(f"Delete {parent['name']}?")
    assert tab.calls("DELETE", f"/workspaces/{parent['id']}") == [], "nothing is deleted before the confirmation"
    page.get_by_role("button", name="Delete permanently").click()
    expect(page.locator("#delete-result").get_by_test_id("error-code")).to_have_text("WORKSPACE_HAS_CHILDREN")
    expect(page.locator("#delete-result")).to_contain_text("HTTP 409")

    tab.goto(f"/ui/workspaces/{child['id']}")
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#delete-confirm")).to_be_hidden()
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Delete permanently").click()
    expect(page.locator("#workspace-status")).to_contain_text(f"Workspace {child['name']} was deleted")
    with server.client() as client:
        assert client.get(f"/workspaces/{child['id']}").status_code == 404
        assert client.get(f"/workspaces/{parent['id']}").status_code == 200


# --- the list -----------------------------------------------------------------------------


def test_list_filters_count_and_pages_as_a_user_sets_them(tab: Tab, server: Server) -> None:
    page = tab.page
    batch = _unique("fleet")
    platform = _menu_id("hermes", BillingMode.PLATFORM_MANAGED)
    made = [
        _create(server, name=f"{batch} #{i:02}", runtime="hermes", model=platform if i % 3 else "kimi-coding/kimi-k2")
        for i in range(25)
    ]
    tab.goto("/ui/workspaces")
    page.get_by_label("Name contains").fill(batch.upper())  # the search ignores case
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#workspaces-status")).to_contain_text("25 workspaces match")

    page.get_by_label("Billing").select_option(label="Platform-managed")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"billing=platform_managed"))
    wanted = [w["id"] for w in reversed(made) if w["billing_mode"] == "platform_managed"]
    expect(page.locator("#workspaces-status")).to_contain_text(f"{len(wanted)} workspaces match")
    seen = page.locator("#workspaces-body tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    expect(page.locator("#workspaces-body")).not_to_contain_text("platform_managed")
    if len(wanted) > 20:
        page.get_by_role("link", name="Next page").click()
        seen += page.locator("#workspaces-body tr").evaluate_all("rows => rows.map(r => r.dataset.id)")
    assert seen == wanted, "newest first, only the filtered ones, each once"

    # The filtered view is a link; its pages keep the filters.
    tab.goto("/ui/workspaces?" + str(httpx.QueryParams({"q": batch, "billing": "byok", "runtime": "hermes"})))
    byok = [w["id"] for w in reversed(made) if w["billing_mode"] == "byok"]
    expect(page.locator("#workspaces-body tr")).to_have_count(len(byok))
    expect(page.get_by_label("Billing")).to_have_value("byok")
    expect(page.get_by_label("Runtime")).to_have_value("hermes")

    # Pages follow the cursors their links carry, both ways, and keep the search.
    tab.goto("/ui/workspaces?" + str(httpx.QueryParams({"q": batch})))
    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile(r"older_than=\d+"))
    expect(page.locator("#workspaces-body tr")).to_have_count(5)
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    page.get_by_role("link", name="Previous page").click()
    expect(page).to_have_url(re.compile(r"newer_than=\d+"))
    expect(page.locator("#workspaces-body tr")).to_have_count(20)
    expect(page.locator("#workspaces-body tr").first).to_contain_text(made[-1]["name"])
    page.get_by_role("link", name="Oldest").click()
    expect(page.locator("#workspaces-body tr").last).to_contain_text(made[0]["name"])
    expect(page.get_by_label("Name contains")).to_have_value(batch)

    # A search shorter than a trigram is refused in words, and the list is not filtered by it.
    page.get_by_label("Name contains").fill("fl")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("alert")).to_contain_text("Name searches need at least 3 characters")
    expect(page.get_by_label("Name contains")).to_have_value("")


# --- lookup, registry, drift ----------------------------------------------------------------


@pytest.mark.parametrize("model", ["gpt-5.5", "moonshot/kimi-k2.6", "GLM-4.6", "platform/anything"])
def test_lookup_shows_every_runtimes_decision(tab: Tab, model: str) -> None:
    page = tab.page
    tab.goto("/ui/registry")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Model lookup").click()
    page.get_by_label("Model id").fill(model)
    page.get_by_role("button", name="Look up").click()
    rows = page.locator("#lookup tbody tr")
    expect(rows).to_have_count(len(REGISTRY.runtimes))
    for runtime in REGISTRY.runtimes:
        decision = REGISTRY.check(runtime, model)
        row = page.locator(f'#lookup tr[data-runtime="{runtime}"]')
        expect(row).to_have_attribute("data-allowed", "yes" if decision.allowed else "no")
        if decision.allowed and decision.provider is not None and decision.billing_mode is not None:
            expect(row.locator('[data-field="provider"]')).to_have_text(decision.provider.name)
            expect(row.locator('[data-field="billing"]')).to_have_text(LABELS[decision.billing_mode.value])
            expect(row.locator('[data-field="env"] .env')).to_have_text(list(decision.required_env))
        else:
            assert decision.code is not None
            expect(row.locator('[data-field="code"]')).to_have_text(decision.code.value)
            expect(row).to_contain_text(decision.reason)


def test_registry_cells_open_the_runtimes_menu_and_platform_keyed_is_explained(tab: Tab, server: Server) -> None:
    page = tab.page
    tab.goto("/ui/registry")
    with server.client() as client:
        assert client.get("/registry").json()["fingerprint"] == REGISTRY.fingerprint
    expect(page.locator("#fingerprint")).to_have_text(REGISTRY.fingerprint)
    expect(page.locator("#matrix tbody tr")).to_have_count(len(REGISTRY.catalog))
    for runtime in REGISTRY.runtimes:
        arms = {arm.provider.name: arm for arm in REGISTRY.arms(runtime)}
        for provider in REGISTRY.catalog:
            arm = arms.get(provider)
            kind = "none" if arm is None else "routing" if arm.routing_only else "menu"
            cell = page.locator(f'#matrix tr[data-provider="{provider}"] td[data-runtime="{runtime}"]')
            expect(cell).to_have_attribute("data-arm", kind)
            expect(cell.locator("a")).to_have_count(0 if arm is None else 1)
    for provider in REGISTRY.catalog.values():
        row = page.locator(f'#providers tr[data-provider="{provider.name}"]')
        expect(row.locator(".pattern")).to_have_text(provider.model_prefix_match)
        expect(row.locator("td[data-platform-keyed]")).to_have_text("yes" if provider.platform_keyed else "no")
    help_id = page.locator("#providers th", has_text="Platform-keyed").get_attribute("aria-describedby")
    expect(page.locator(f"#{help_id}")).to_contain_text("the platform holds the provider's key")

    arm = next(a for a in REGISTRY.arms("codex") if not a.routing_only)
    page.locator(f'#matrix tr[data-provider="{arm.provider.name}"] td[data-runtime="codex"] a').click()
    expect(page).to_have_url(re.compile(f"/ui/runtimes/codex#arm-codex-{arm.provider.name}$"))
    group = page.locator(f"#arm-codex-{arm.provider.name}")
    expect(group.locator(".chip")).to_have_text(list(arm.models))
    group.locator(".chip").first.click()  # an id opens its lookup
    expect(page.locator('#lookup tr[data-runtime="codex"]')).to_have_attribute("data-allowed", "yes")


def test_drift_puts_broken_templates_first_with_a_summary_and_each_reason_once(tab: Tab) -> None:
    page = tab.page
    tab.goto("/ui/drift")
    reports = {t.name: drift(REGISTRY, t) for t in TEMPLATES.all()}
    broken = {name for name, r in reports.items() if r.residual or r.default_routable is False}
    order = page.locator("[data-template]").evaluate_all("cards => cards.map(c => c.dataset.template)")
    assert set(order[: len(broken)]) == broken and sorted(order) == sorted(reports)
    summary = page.locator("#drift-summary")
    expect(summary).to_contain_text(f"{len(broken)} of {len(reports)}")
    expect(summary).to_contain_text(f"{sum(len(r.residual) for r in reports.values())} residual ids")

    for name, report in reports.items():
        card = page.locator(f'[data-template="{name}"]')
        expect(card.get_by_test_id("routable")).to_have_text(str(report.routable))
        expect(card.get_by_test_id("offered")).to_have_text(str(report.offered))
        expect(card.locator(".residual__id")).to_have_count(len(report.residual))
        expect(card.get_by_test_id("default-flag")).to_have_count(0 if report.default_routable else 1)
        reasons = card.locator(".residual__reason").all_inner_texts()
        assert len(reasons) == len(set(reasons)) == len({r.code for r in report.residual}), reasons
    hermes = page.locator('[data-template="hermes"]')
    ok_width = float(hermes.locator(".bar__ok").get_attribute("width") or "nan")
    assert ok_width == pytest.approx(reports["hermes"].routable / reports["hermes"].offered * 100, abs=0.01)


# --- API docs offline -----------------------------------------------------------------------


def test_swagger_ui_and_redoc_render_with_the_network_blocked(tab: Tab) -> None:
    page = tab.page
    tab.goto("/")
    page.get_by_role("link", name="API docs").click()
    expect(page).to_have_url(re.compile(r"/docs$"))
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("routegate")
    expect(page.locator(".opblock-summary-path", has_text="/workspaces").first).to_be_visible()
    page.locator(".opblock-summary-path", has_text="/registry/check").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    tab.shot("docs-wide")

    # ReDoc's footer asks cdn.redoc.ly for a logo; blocked, it hides it. Nothing else may leave.
    tab.tolerate_outside("https://cdn.redoc.ly/redoc/logo-mini.svg")
    tab.expect_console_error("net::ERR_FAILED")
    tab.goto("/redoc")
    expect(page.locator("h1").first).to_contain_text("routegate")
    expect(page.get_by_text("/registry/check").first).to_be_attached()
    expect(page.locator("[role=menuitem]", has_text="Create Workspace").first).to_be_visible()
    tab.shot("redoc-wide")


# --- every page: accessible, fits a phone, photographed -------------------------------------

PAGES = {
    "create": "/",
    "workspaces": "/ui/workspaces",
    "workspace": "/ui/workspaces/{id}",
    "lookup": "/ui/lookup?model=gpt-5.5",
    "registry": "/ui/registry",
    "runtime": "/ui/runtimes/codex",
    "drift": "/ui/drift",
    "calls": "/ui/calls",
    "lifecycle": "/ui/registry/lifecycle?within=365",
}


@pytest.mark.parametrize("size", ["wide", "narrow"])
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_passes_axe_and_fits(browser: Browser, server: Server, name: str, size: str) -> None:
    workspace = _create(server, name=_unique("axe"), runtime="codex", model="gpt-5.5")
    for tab in open_tab(browser, server.url, WIDE if size == "wide" else NARROW):
        tab.goto(PAGES[name].format(id=workspace["id"]))
        tab.page.wait_for_load_state("networkidle")
        if name == "workspace":
            expect(tab.page.locator("#workspace-detail")).to_be_visible()
        assert tab.accessibility_violations() == []
        overflow = tab.page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px"
        tab.shot(f"{name}-{size}")


@pytest.mark.parametrize("size", ["wide", "narrow"])
def test_sign_in_page_passes_axe(browser: Browser, token_server: Server, size: str) -> None:
    for tab in open_tab(browser, token_server.url, WIDE if size == "wide" else NARROW):
        tab.goto("/ui/login")
        assert tab.accessibility_violations() == []
        tab.shot(f"login-{size}")


def test_wide_tables_scroll_inside_their_frame_on_a_phone(narrow_tab: Tab) -> None:
    page = narrow_tab.page
    narrow_tab.goto("/ui/registry")
    frame = page.get_by_role("region", name=re.compile("^Runtimes . providers table$"))
    sizes = frame.evaluate("node => [node.scrollWidth, node.clientWidth, getComputedStyle(node).overflowX]")
    assert sizes[0] > sizes[1] and sizes[2] == "auto", sizes
    expect(page.locator(".scroll-hint").first).to_be_visible()
    frame.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('#matrix').parentElement.scrollLeft > 0")


def test_every_form_control_has_a_label(tab: Tab, server: Server) -> None:
    workspace = _create(server, name=_unique("labels"), runtime="codex", model="gpt-5.5")
    for path in ("/", "/ui/workspaces", f"/ui/workspaces/{workspace['id']}", "/ui/lookup", "/ui/registry"):
        tab.goto(path)
        unlabelled = tab.page.evaluate(
            """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select'))
                     .filter(node => !(node.labels && node.labels.length) && !node.getAttribute('aria-label'))
                     .map(node => node.id || node.name)"""
        )
        assert unlabelled == [], path


# --- with a token -------------------------------------------------------------------------


def test_token_flow_asks_once_and_refuses_unsafe_requests_without_csrf(token_tab: Tab, token_server: Server) -> None:
    from routegate.service.console import session

    from .conftest import API_TOKEN

    page = token_tab.page
    token_tab.expect_console_error("status of 401")
    token_tab.expect_console_error("status of 403")
    token_tab.goto("/")
    expect(page).to_have_url(re.compile(r"/ui/login\?next=%2F$"))

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

    token_tab.goto("/ui/workspaces")
    expect(page).to_have_url(re.compile(r"/ui/workspaces$"))
    expect(page.locator("#workspaces-status")).to_be_visible()

    name = _unique("with token")
    token_tab.goto("/")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Model id").fill("GLM-4.6")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.locator("#create-result")).to_have_attribute("data-state", "created")

    # The workspace page's change and delete carry the CSRF token too.
    page.get_by_role("link", name=f"Open {name}").click()
    page.get_by_label("Model", exact=True).fill("GLM-4.5")
    expect(page.locator("#change-check")).to_have_attribute("data-state", "allowed")
    page.get_by_role("button", name="Change model").click()
    expect(page.locator("#change-result")).to_have_attribute("data-state", "changed")
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Delete permanently").click()
    expect(page.locator("#workspace-status")).to_contain_text("was deleted")

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
    assert page.evaluate("async () => (await fetch('/workspaces')).status") == 200
    with token_server.client(headers=token_server.bearer()) as client:
        names = [w["name"] for w in client.get("/workspaces", params={"limit": 200}).json()["items"]]
    assert probe not in names and name not in names

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/ui/login"))
    assert page.evaluate("async () => (await fetch('/workspaces')).status") == 401
