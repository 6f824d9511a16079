"""The lifecycle in the console, in real Chromium: from the lifecycle page's counts to the workspace list
filtered to "deprecated or retired model", as an operator moving workspaces on would go.

Its own server: the workspaces are created under the bundled manifest, then a version that dates
one of their models is published (the publish gate warns of the retirement ahead), so the list
holds both sides of the date.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from routegate.lifecycle import today

from ..service.test_versions import BUNDLED
from .conftest import NARROW, WIDE, Server, Tab, _serve, open_tab

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

OLD, NEW = "moonshot/kimi-k2.5", "moonshot/kimi-k2.6"
DEPRECATED_ON, RETIRES_ON = today() - timedelta(days=5), today() + timedelta(days=10)
DATED = (
    f"{BUNDLED}\nlifecycle:\n  - model: {OLD}\n    runtimes: [hermes]\n"
    f"    deprecated_on: {DEPRECATED_ON}\n    retires_on: {RETIRES_ON}\n    successor: {NEW}\n"
)


@pytest.fixture(scope="module")
def dated_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, list[str]]]:
    """A server whose active manifest deprecated hermes' kimi-k2.5 five days ago; the ids of the workspaces
    on it, newest first (others run its successor, or kimi-k2.5 on openclaw, which the entry leaves alone)."""
    folder: Path = tmp_path_factory.mktemp("console-lifecycle")
    for server in _serve(folder, None):
        with server.client() as http:
            dated: list[str] = []
            for number, (runtime, model) in enumerate([("hermes", OLD), ("hermes", NEW), ("openclaw", OLD)] * 3):
                made = http.post("/workspaces", json={"name": f"ws {number}", "runtime": runtime, "model": model})
                assert made.status_code == 201, made.text
                if (runtime, model) == ("hermes", OLD):
                    dated.insert(0, made.json()["id"])
            published = http.post("/registry/versions", json={"manifest": DATED, "note": "kimi-k2.5 dated"})
            assert published.status_code == 201, published.text
            assert published.json()["impact"]["workspaces"]["counts"]["retiring"] == 3  # a warning, not a refusal
        yield server, dated


def _shown(tab: Tab) -> list[str]:
    return list(tab.page.locator("#workspaces-body tr").evaluate_all("rows => rows.map(r => r.dataset.id)"))


@pytest.fixture
def lifecycle_tab(browser: Browser, dated_server: tuple[Server, list[str]]) -> Iterator[Tab]:
    yield from open_tab(browser, dated_server[0].url, WIDE)


def test_the_list_filters_deprecated_or_retired_models(
    lifecycle_tab: Tab, dated_server: tuple[Server, list[str]]
) -> None:
    page, dated = lifecycle_tab.page, dated_server[1]
    lifecycle_tab.goto("/ui/workspaces")
    expect(page.locator("#workspaces-status")).to_contain_text("9 workspaces")
    page.get_by_label("Lifecycle").select_option(label="Deprecated or retired model today")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"lifecycle=dated"))
    expect(page.locator("#workspaces-status")).to_contain_text("3 workspaces match these filters")
    assert _shown(lifecycle_tab) == dated
    expect(page.locator("#workspaces-body")).not_to_contain_text(NEW)

    page.get_by_label("Runtime").select_option("openclaw")  # the filters combine: kimi-k2.5 is dated on hermes only
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#workspaces-status")).to_contain_text("No workspace matches these filters.")
    page.get_by_role("link", name="Clear filters").click()
    expect(page.get_by_label("Lifecycle")).to_have_value("")
    expect(page.locator("#workspaces-body tr")).to_have_count(9)


def test_the_lifecycle_page_counts_each_change_and_links_to_its_workspaces(
    lifecycle_tab: Tab, dated_server: tuple[Server, list[str]]
) -> None:
    page, dated = lifecycle_tab.page, dated_server[1]
    lifecycle_tab.goto("/ui/registry/lifecycle")
    in_force = page.locator('#lifecycle-in-force tr[data-stage="deprecated"]')
    expect(in_force).to_contain_text(str(DEPRECATED_ON))
    expect(in_force.locator(".workspace-count")).to_contain_text("3 workspaces, still working")
    ahead = page.locator('#lifecycle-changes tr[data-stage="retired"]')
    expect(ahead).to_contain_text(str(RETIRES_ON))
    expect(ahead.locator(".workspace-count")).to_contain_text("3 workspaces stranded")

    ahead.get_by_role("link", name="3 workspaces").click()
    expect(page).to_have_url(re.compile(rf"lifecycle=dated.*on={RETIRES_ON}"))
    expect(page.get_by_label("Lifecycle")).to_have_value("dated")
    expect(page.get_by_label("Model (exact id)")).to_have_value(OLD)
    assert _shown(lifecycle_tab) == dated
    expect(page.locator("#filter-lifecycle option:checked")).to_have_text(
        f"Deprecated or retired model on {RETIRES_ON}"
    )

    lifecycle_tab.goto("/ui/registry/lifecycle")
    page.locator("#lifecycle-dated-link").click()
    expect(page.locator("#workspaces-status")).to_contain_text("3 workspaces match these filters")
    assert _shown(lifecycle_tab) == dated


@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["wide", "narrow"])
@pytest.mark.parametrize("path", ["/ui/workspaces?lifecycle=dated", "/ui/registry/lifecycle"])
def test_the_lifecycle_views_pass_axe_and_fit(
    browser: Browser, dated_server: tuple[Server, list[str]], path: str, size: dict[str, int]
) -> None:
    for tab in open_tab(browser, dated_server[0].url, size):  # type: ignore[arg-type]
        tab.goto(path)
        assert tab.accessibility_violations() == []
        overflow = tab.page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"


def test_a_dry_run_publish_warns_of_retirements_and_lists_the_date_changes(
    lifecycle_tab: Tab, dated_server: tuple[Server, list[str]]
) -> None:
    page = lifecycle_tab.page
    later = today() + timedelta(days=20)
    candidate = f"{DATED}  - model: {NEW}\n    runtimes: [hermes]\n    retires_on: {later}\n"
    lifecycle_tab.goto("/ui/registry/versions")
    page.get_by_label("Manifest (providers.yaml)").fill(candidate)
    page.get_by_role("button", name="Dry run").click()
    expect(page.locator("#outcome")).to_contain_text("Dry run: nothing was changed")
    impact = page.locator("#impact")
    expect(impact).to_have_attribute("data-blocking", "no")  # a warning, not a refusal
    expect(impact.locator('[data-count="retiring"]')).to_have_text("6")  # kimi-k2.5's three and kimi-k2.6's three
    retiring = impact.locator('table[data-kind="retiring"] tbody tr')
    expect(retiring).to_have_count(6)
    expect(impact.locator('table[data-kind="retiring"]')).to_contain_text(f"MODEL_RETIRED from {later}")
    expect(impact.locator('table[data-kind="retiring"]')).to_contain_text(f"MODEL_RETIRED from {RETIRES_ON}")
    dated = page.locator('#lifecycle-diff li[data-kind="retired"]')
    expect(dated).to_have_count(1)
    expect(dated).to_contain_text(f"model {NEW} on hermes: undated → retires on {later}")
    assert lifecycle_tab.accessibility_violations() == []
