"""The workspaces list over HTTP on real SQLite and PostgreSQL: newest first, counted, searched, filtered, paged.

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
from tests.service.conftest import BACKENDS, LiveServer, database_url

PAGE_SIZE = 20

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


def _page(client: httpx.Client, **params: str | int) -> tuple[list[str], int]:
    response = client.get("/ui/workspaces", params=params)
    assert response.status_code == 200, response.text
    total = re.search(r'data-total="(\d+)"', response.text)
    assert total, "the page states its total"
    return re.findall(r'<tr data-id="([0-9a-f-]{36})"', response.text), int(total.group(1))


def _everything(client: httpx.Client, **params: str) -> tuple[list[str], int]:
    """Every page of a filtered view, followed by page number until one is short."""
    ids, page = [], 1
    while True:
        rows, total = _page(client, **params, page=page)
        ids += rows
        if len(rows) < PAGE_SIZE:
            return ids, total
        page += 1


def test_newest_first_with_a_total_over_every_page(listed: tuple[httpx.Client, list[dict[str, Any]]]) -> None:
    client, made = listed
    ids, total = _everything(client)
    assert total == len(made)
    assert ids == [w["id"] for w in reversed(made)]


@pytest.mark.parametrize("probe", PROBES)
def test_search_is_a_literal_case_insensitive_substring(
    listed: tuple[httpx.Client, list[dict[str, Any]]], probe: str
) -> None:
    client, made = listed
    # Surrounding spaces are dropped, as the form's field would; ASCII letters fold case.
    wanted = probe.strip().lower()
    expected = [w["id"] for w in reversed(made) if wanted in w["name"].lower()]
    assert _everything(client, q=probe) == (expected, len(expected))


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
    past = client.get("/ui/workspaces", params={"page": 99})
    assert past.status_code == 200 and "There is no page 99" in past.text
    for params, notice in [
        ({"billing": "free"}, "is not a billing mode"),
        ({"page": "two"}, "is not a page number"),
        ({"q": "x" * 201}, "longer than 200 characters"),
    ]:
        response = client.get("/ui/workspaces", params=params)
        assert response.status_code == 200 and notice in response.text, params
        _, total = _page(client, **params)
        assert total == len(made), "an unusable filter is dropped, not guessed at"
