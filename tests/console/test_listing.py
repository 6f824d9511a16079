"""The workspaces list over HTTP on real SQLite and PostgreSQL: newest first, counted, searched, filtered, paged
by the links each page carries (keyset cursors), forwards from the newest page and backwards from the oldest.

Each backend gets a fresh service (uvicorn on a real port), so every row is one
these tests made; the expected list is computed from the API's own records.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from routegate.service import Settings
from routegate.service.store import Store
from tests.service.conftest import BACKENDS, LiveServer, database_url

PAGE_SIZE = 20
SEARCH_MIN = Store.SEARCH_MIN

# Names that probe the search: LIKE's wildcards and escape, case, spaces, non-ASCII.
NAMES = [
    "50% off", "5000 off", "under_score", "underXscore", "back\\slash", "backslash",
    "Mixed Case", "mixed case (2)", "ünïcode", "plain", "a_b", "a-b", "a%b",
]  # fmt: skip
PROBES = ["%", "_", "\\", "case", "CASE", "a_b", "50%", "ünï", "zzz", "off", " "]
MODELS = [("hermes", "kimi-coding/kimi-k2"), ("hermes", "moonshot/kimi-k2.6"), ("claude-code", "GLM-4.6")]


@pytest.fixture(scope="module", params=BACKENDS)
def listed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[httpx.Client, list[dict[str, Any]]]]:
    """A fresh service holding 45 workspaces (NAMES, then numbered ones), and their records in creation order."""
    folder: Path = tmp_path_factory.mktemp(request.param)
    for url in database_url(request.param, folder):
        live = LiveServer(Settings(database_url=url)).start()
        try:
            with live.client() as client:
                made = []
                names = NAMES + [f"bulk {i:02}" for i in range(45 - len(NAMES))]
                for name, (runtime, model) in zip(names, itertools.cycle(MODELS), strict=False):
                    response = client.post("/workspaces", json={"name": name, "runtime": runtime, "model": model})
                    assert response.status_code == 201, response.text
                    made.append(response.json())
                yield client, made
        finally:
            live.stop()


def _page(client: httpx.Client, url: str = "/ui/workspaces", **params: str) -> tuple[list[str], int, str]:
    """The rows of one page, the total it states and its HTML (for its links)."""
    response = client.get(url, params=params or None)  # httpx drops a link's own query for any params given
    assert response.status_code == 200, response.text
    total = re.search(r'data-total="(\d+)"', response.text)
    assert total, "the page states its total"
    return re.findall(r'<tr data-id="([0-9a-f-]{36})"', response.text), int(total.group(1)), response.text


def _link(page: str, label: str) -> str | None:
    found = re.search(rf'href="(/ui/workspaces\?[^"]*)">{label}</a>', page)
    return None if found is None else found.group(1).replace("&amp;", "&")


def _everything(client: httpx.Client, **params: str) -> tuple[list[str], int]:
    """Every page of a filtered view, followed by its "Next page" links to the end."""
    ids, total, page = _page(client, **params)
    while (following := _link(page, "Next page")) is not None:
        rows, total, page = _page(client, following)
        assert len(rows) == PAGE_SIZE or _link(page, "Next page") is None, "only the last page is short"
        ids += rows
    return ids, total


def _backwards(client: httpx.Client, **params: str) -> list[str]:
    """Every page of a view from its oldest page, by "Previous page" links: newest first again."""
    _, _, first = _page(client, **params)
    oldest = _link(first, "Oldest")
    if oldest is None:
        return _page(client, **params)[0]
    pages = []
    page: str | None = oldest
    while page is not None:
        rows, _, html = _page(client, page)
        pages.append(rows)
        page = _link(html, "Previous page")
    return [row for rows in reversed(pages) for row in rows]


def test_newest_first_with_a_total_over_every_page(listed: tuple[httpx.Client, list[dict[str, Any]]]) -> None:
    client, made = listed
    ids, total = _everything(client)
    assert total == len(made)
    assert ids == [w["id"] for w in reversed(made)]


def test_previous_links_from_the_oldest_page_reach_every_row(
    listed: tuple[httpx.Client, list[dict[str, Any]]],
) -> None:
    """The oldest page holds the oldest PAGE_SIZE rows; pages before it overlap nothing and miss nothing."""
    client, made = listed
    ids = _backwards(client)
    assert ids[-PAGE_SIZE:] == [w["id"] for w in reversed(made[:PAGE_SIZE])]
    assert sorted(ids) == sorted(w["id"] for w in made) and len(set(ids)) == len(ids)
    assert ids == [w["id"] for w in reversed(made)]


@pytest.mark.parametrize("probe", [p for p in PROBES if len(p.strip()) >= SEARCH_MIN])
def test_search_is_a_literal_case_insensitive_substring(
    listed: tuple[httpx.Client, list[dict[str, Any]]], probe: str
) -> None:
    client, made = listed
    # Surrounding spaces are dropped, as the form's field would; letters fold case.
    wanted = probe.strip().lower()
    expected = [w["id"] for w in reversed(made) if wanted in w["name"].lower()]
    assert _everything(client, q=probe) == (expected, len(expected))
    assert _backwards(client, q=probe) == expected


@pytest.mark.parametrize("probe", [p for p in PROBES if 0 < len(p.strip()) < SEARCH_MIN])
def test_a_search_too_short_for_the_index_says_so_and_lists_everything(
    listed: tuple[httpx.Client, list[dict[str, Any]]], probe: str
) -> None:
    client, made = listed
    ids, total, page = _page(client, q=probe)
    assert f"Name searches need at least {SEARCH_MIN} characters" in page
    assert total == len(made) and ids == [w["id"] for w in reversed(made)][:PAGE_SIZE]
    assert 'id="filter-q" name="q" type="search" value=""' in page, "the dropped search is not shown as applied"


@pytest.mark.parametrize(
    ("runtime", "provider", "billing"),
    list(
        itertools.product(
            ["", "hermes", "claude-code", "codex"], ["", "platform", "kimi-coding"], ["", "byok", "platform_managed"]
        )
    ),
)
def test_filters_combine(
    listed: tuple[httpx.Client, list[dict[str, Any]]], runtime: str, provider: str, billing: str
) -> None:
    client, made = listed
    expected = [
        w["id"]
        for w in reversed(made)
        if (not runtime or w["runtime"] == runtime)
        and (not provider or w["provider"] == provider)
        and (not billing or w["billing_mode"] == billing)
    ]
    params = {k: v for k, v in {"runtime": runtime, "provider": provider, "billing": billing}.items() if v}
    assert _everything(client, **params) == (expected, len(expected))


def test_pages_past_the_end_and_bad_parameters_say_so(listed: tuple[httpx.Client, list[dict[str, Any]]]) -> None:
    client, made = listed
    past, _, page = _page(client, older_than="1")  # nothing is older than the first row
    assert past == [] and "No workspace is on this page any more" in page
    assert 'href="/ui/workspaces?">go to the first page' in page
    for params, notice in [
        ({"billing": "free"}, "is not a billing mode"),
        ({"older_than": "two"}, "is not a page cursor"),
        ({"newer_than": "-1"}, "is not a page cursor"),
        ({"older_than": "9" * 19}, "is not a page cursor"),
        ({"older_than": "5", "newer_than": "5"}, "not both"),
        ({"q": "x" * 201}, "longer than 200 characters"),
        ({"q": "ab\x00c"}, "control or format character"),
        ({"runtime": "hermes\x00"}, "control or format character"),
    ]:
        rows, total, page = _page(client, **params)
        assert notice in page, params
        assert total == len(made) and rows == [w["id"] for w in reversed(made)][:PAGE_SIZE], (
            "an unusable parameter is dropped, not guessed at"
        )
