"""Manifest versions over real HTTP, on SQLite and PostgreSQL: the history, the publish gate
(stranding, billing moved to platform, dry runs, invalid manifests, force), rollbacks, and the
version every workspace and decision records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import text

from routegate.manifest import bundled_manifest_path
from routegate.service import Settings

from .conftest import LiveServer, database_url

BUNDLED = bundled_manifest_path().read_text()
HERMES_BYOK = {"runtime": "hermes", "model": "kimi-coding/kimi-k2"}  # kimi-coding's menu, billed byok
HERMES_ROUTED = {"runtime": "hermes", "model": "openrouter/anthropic/claude-3.5-sonnet"}  # openrouter's pattern
OPENCLAW = {"runtime": "openclaw", "model": "moonshot:kimi-k2.6"}
NEW_MODEL = "moonshot/kimi-k3-preview"

Mutation = Callable[[dict[str, Any]], None]


def variant(*mutations: Mutation) -> str:
    """The bundled manifest with each mutation applied to its document."""
    doc = yaml.safe_load(BUNDLED)
    for mutate in mutations:
        mutate(doc)
    return yaml.safe_dump(doc, sort_keys=False)


def _arms(doc: dict[str, Any], runtime: str) -> list[dict[str, Any]]:
    return doc["runtimes"][runtime]["providers"]  # type: ignore[no-any-return]


def add_platform_model(model: str, runtime: str = "hermes") -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        next(arm for arm in _arms(doc, runtime) if arm["name"] == "platform")["models"].append(model)

    return mutate


def drop_arm(provider: str, runtime: str = "hermes") -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        doc["runtimes"][runtime]["providers"] = [arm for arm in _arms(doc, runtime) if arm["name"] != provider]

    return mutate


def drop_runtime(runtime: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        del doc["runtimes"][runtime]

    return mutate


def unknown_arm(doc: dict[str, Any]) -> None:
    _arms(doc, "hermes").append({"name": "no-such-provider"})


@pytest.fixture(params=["sqlite", "postgres"])
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    for url in database_url(request.param, tmp_path):
        server = LiveServer(Settings(database_url=url)).start()
        try:
            yield server
        finally:
            server.stop()


def versions_table(server: LiveServer) -> list[tuple[int, str, bool]]:
    """(version, fingerprint, active) straight from the database."""
    with server.state.database.engine.connect() as connection:
        rows = connection.execute(text("SELECT version, fingerprint, active FROM manifest_versions ORDER BY version"))
        return [(int(v), str(f), bool(a)) for v, f, a in rows]


def publish(http: httpx.Client, manifest: str, **options: Any) -> httpx.Response:
    return http.post("/registry/versions", json={"manifest": manifest, **options})


def create(http: httpx.Client, name: str, body: dict[str, str]) -> dict[str, Any]:
    created = http.post("/workspaces", json={"name": name, **body})
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


def test_an_empty_database_starts_on_version_one_and_publishing_activates_the_next(live: LiveServer) -> None:
    with live.client() as http:
        first = http.get("/registry/versions").json()
        fingerprint = http.get("/registry").json()["fingerprint"]
        assert [(v["version"], v["fingerprint"], v["active"]) for v in first["items"]] == [(1, fingerprint, True)]
        assert first["next_cursor"] is None and "bundled manifest" in first["items"][0]["note"]
        assert http.get("/healthz").json()["manifest_version"] == 1

        published = publish(http, variant(add_platform_model(NEW_MODEL)), note="kimi k3 preview")
        assert published.status_code == 201, published.text
        body = published.json()
        assert (body["version"], body["active"], body["changed"]) == (2, True, True)
        assert body["impact"]["workspaces"] == {
            "checked": 0,
            "stranded": [],
            "billing_changed": [],
            "provider_changed": [],
            "retiring": [],
            "counts": {
                "stranded": 0,
                "billing_changed": 0,
                "moved_to_platform": 0,
                "provider_changed": 0,
                "retiring": 0,
            },
        }
        # This instance serves it at once; the history lists it first, alone active.
        assert http.get("/registry").json()["fingerprint"] == body["fingerprint"] != fingerprint
        assert create(http, "k3", {"runtime": "hermes", "model": NEW_MODEL})["manifest_version"] == 2
        listed = http.get("/registry/versions").json()["items"]
        assert (listed[0]["version"], listed[0]["active"], listed[0]["note"]) == (2, True, "kimi k3 preview")
        assert [v["active"] for v in listed] == [True, False]
        # The same bytes again change nothing.
        again = publish(http, variant(add_platform_model(NEW_MODEL)))
        assert again.status_code == 200 and again.json()["changed"] is False and again.json()["version"] == 2
        assert len(versions_table(live)) == 2


def test_versions_page_newest_first_by_cursor(live: LiveServer) -> None:
    with live.client() as http:
        for number in range(4):
            assert publish(http, variant(add_platform_model(f"moonshot/page-{number}"))).status_code == 201
        first = http.get("/registry/versions", params={"limit": 2}).json()
        second = http.get("/registry/versions", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        third = http.get("/registry/versions", params={"limit": 2, "cursor": second["next_cursor"]}).json()
        assert [v["version"] for v in first["items"] + second["items"] + third["items"]] == [5, 4, 3, 2, 1]
        assert third["next_cursor"] is None
        assert http.get("/registry/versions", params={"cursor": "x"}).status_code == 400


def test_a_stranding_publish_is_409_names_the_workspace_and_changes_nothing(live: LiveServer) -> None:
    with live.client() as http:
        assert publish(http, variant(add_platform_model(NEW_MODEL))).status_code == 201
        k3 = create(http, "on k3", {"runtime": "hermes", "model": NEW_MODEL})
        create(http, "safe", HERMES_BYOK)
        before_table, before_fingerprint = versions_table(live), http.get("/registry").json()["fingerprint"]

        refused = publish(http, BUNDLED, note="drop k3")
        assert refused.status_code == 409, refused.text
        body = refused.json()
        assert body["code"] == "MANIFEST_WOULD_STRAND" and "strand 1" in body["error"]
        workspaces = body["impact"]["workspaces"]
        assert workspaces["checked"] == 2
        assert [(s["id"], s["name"], s["runtime"], s["model"], s["code"]) for s in workspaces["stranded"]] == [
            (k3["id"], "on k3", "hermes", NEW_MODEL, "UNREGISTERED_MODEL_FOR_RUNTIME")
        ]
        # Rolling back to version 1 (which lacks the model) is the same gate.
        rollback = http.post("/registry/versions/1/activate", json={})
        assert rollback.status_code == 409 and rollback.json()["impact"]["workspaces"]["stranded"][0]["id"] == k3["id"]
        assert versions_table(live) == before_table
        assert http.get("/registry").json()["fingerprint"] == before_fingerprint

        forced = http.post("/registry/versions/1/activate", json={"force": True})
        assert forced.status_code == 200 and forced.json()["version"] == 1 and forced.json()["changed"]
        assert [active for _, _, active in versions_table(live)] == [True, False]
        assert http.get("/healthz").json()["manifest_version"] == 1
        # Roll forward again: nothing stored is stranded by version 2.
        assert http.post("/registry/versions/2/activate").json()["version"] == 2


def test_dry_runs_and_invalid_manifests_change_nothing(live: LiveServer) -> None:
    with live.client() as http:
        k3_manifest = variant(add_platform_model(NEW_MODEL))
        assert publish(http, k3_manifest).status_code == 201
        k3 = create(http, "k3", {"runtime": "hermes", "model": NEW_MODEL})
        table, fingerprint = versions_table(live), http.get("/registry").json()["fingerprint"]

        dry = publish(http, BUNDLED, dry_run=True)
        assert dry.status_code == 200 and dry.json()["dry_run"] is True
        assert dry.json()["impact"]["blocking"] is True  # reported, not refused
        assert dry.json()["impact"]["workspaces"]["stranded"][0]["id"] == k3["id"]
        dry_rollback = http.post("/registry/versions/1/activate", json={"dry_run": True})
        assert dry_rollback.status_code == 200 and dry_rollback.json()["dry_run"] is True
        harmless = publish(http, variant(add_platform_model(NEW_MODEL), add_platform_model("x/y")), dry_run=True)
        assert harmless.status_code == 200 and harmless.json()["impact"]["blocking"] is False

        for invalid in ("schema_version: 2\nproviders: []\n", "not: [valid", variant(unknown_arm)):
            refused = publish(http, invalid)
            assert refused.status_code == 422, (invalid[:40], refused.text)
            assert refused.json()["code"] == "INVALID_MANIFEST" and refused.json()["problems"]
        unknown = http.post("/registry/versions/99/activate")
        assert unknown.status_code == 404 and unknown.json()["code"] == "VERSION_NOT_FOUND"
        for body in ({"manifest": ""}, {"manifest": BUNDLED, "force": "yes"}, {"manifest": BUNDLED, "x": 1}):
            assert http.post("/registry/versions", json=body).status_code == 400, body
        assert versions_table(live) == table
        assert http.get("/registry").json()["fingerprint"] == fingerprint


def test_moving_a_workspace_to_platform_billing_is_refused_unless_forced(live: LiveServer) -> None:
    with live.client() as http:
        byok = create(http, "byok", HERMES_BYOK)
        assert byok["billing_mode"] == "byok"
        to_platform = variant(drop_arm("kimi-coding"), add_platform_model(HERMES_BYOK["model"]))
        refused = publish(http, to_platform)
        assert refused.status_code == 409 and refused.json()["code"] == "MANIFEST_WOULD_STRAND"
        workspaces = refused.json()["impact"]["workspaces"]
        assert workspaces["stranded"] == [] and workspaces["counts"]["moved_to_platform"] == 1
        moved = workspaces["billing_changed"][0]
        assert (moved["id"], moved["previous_billing_mode"], moved["billing_mode"], moved["provider"]) == (
            byok["id"],
            "byok",
            "platform_managed",
            "platform",
        )
        assert len(versions_table(live)) == 1
        forced = publish(http, to_platform, force=True, note="kimi on the platform")
        assert forced.status_code == 201 and forced.json()["impact"]["workspaces"]["counts"]["moved_to_platform"] == 1


def test_a_provider_change_is_reported_without_blocking(live: LiveServer) -> None:
    with live.client() as http:
        routed = create(http, "routed", HERMES_ROUTED)
        assert routed["provider"] == "openrouter"

        def openrouter_pattern_to_custom(doc: dict[str, Any]) -> None:
            # openrouter leaves hermes; the routing-only 'custom' arm must take its ids, still BYOK.
            drop_arm("openrouter")(doc)
            custom = next(p for p in doc["providers"] if p["name"] == "custom")
            custom["model_prefix_match"] = "^openrouter/"

        dry = publish(http, variant(openrouter_pattern_to_custom), dry_run=True)
        assert dry.status_code == 200, dry.text
        workspaces = dry.json()["impact"]["workspaces"]
        assert workspaces["stranded"] == [] and workspaces["billing_changed"] == []
        assert [(c["id"], c["previous_provider"], c["provider"]) for c in workspaces["provider_changed"]] == [
            (routed["id"], "openrouter", "custom")
        ]


def test_a_workspace_whose_runtime_left_is_stranded_and_never_decided_fail_open(live: LiveServer) -> None:
    with live.client() as http:
        claw = create(http, "claw", OPENCLAW)
        without = variant(drop_runtime("openclaw"))
        refused = publish(http, without)
        assert refused.status_code == 409
        stranded = refused.json()["impact"]["workspaces"]["stranded"]
        assert [(s["id"], s["code"]) for s in stranded] == [(claw["id"], "RUNTIME_UNSUPPORTED")]

        assert publish(http, without, force=True).status_code == 201
        decisions_before = live.count("decisions")
        for model in (OPENCLAW["model"], "anything/at-all", "platform/anything"):
            changed = http.put(f"/workspaces/{claw['id']}/model", json={"model": model})
            assert changed.status_code == 422, changed.text
            assert changed.json()["code"] == "RUNTIME_UNSUPPORTED" and changed.json()["runtime"] == "openclaw"
        assert http.get(f"/workspaces/{claw['id']}").json()["model"] == OPENCLAW["model"]
        logged = http.get("/decisions", params={"workspace_id": claw["id"]}).json()["items"]
        assert live.count("decisions") == decisions_before + 3
        assert [(d["code"], d["manifest_version"]) for d in logged[-3:]] == [("RUNTIME_UNSUPPORTED", 2)] * 3


def test_workspaces_and_decisions_record_the_version_they_were_decided_under(live: LiveServer) -> None:
    with live.client() as http:
        first = create(http, "v1", HERMES_BYOK)
        assert publish(http, variant(add_platform_model(NEW_MODEL))).status_code == 201
        changed = http.put(f"/workspaces/{first['id']}/model", json={"model": NEW_MODEL}).json()
        refused = http.post("/workspaces", json={"name": "no", "runtime": "hermes", "model": "gpt-4o"})
        assert refused.status_code == 422
        assert (first["manifest_version"], changed["manifest_version"]) == (1, 2)
        decisions = http.get("/decisions").json()["items"]
        assert [(d["action"], d["admitted"], d["manifest_version"]) for d in decisions] == [
            ("create", True, 1),
            ("model_change", True, 2),
            ("create", False, 2),
        ]
        assert http.get(f"/workspaces/{first['id']}").json()["manifest_version"] == 2


def test_reload_publishes_the_configured_file_through_the_gate(
    tmp_path: Path, manifest_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'reload.db'}", manifest=manifest_copy)).start()
    try:
        with server.client() as http:
            unchanged = http.post("/registry/reload").json()
            assert (unchanged["changed"], unchanged["version"]) == (False, 1)
            manifest_copy.write_text(variant(add_platform_model(NEW_MODEL)))
            assert http.post("/registry/reload").json()["version"] == 2
            k3 = create(http, "k3", {"runtime": "hermes", "model": NEW_MODEL})
            manifest_copy.write_text(BUNDLED)
            refused = http.post("/registry/reload")
            assert refused.status_code == 409
            assert refused.json()["impact"]["workspaces"]["stranded"][0]["id"] == k3["id"]
            assert "reload refused, the active manifest version is unchanged" in caplog.text  # answered and logged
            assert http.get("/healthz").json()["manifest_version"] == 2
            assert [v["version"] for v in http.get("/registry/versions").json()["items"]] == [2, 1]
    finally:
        server.stop()


def test_writes_need_the_token_reads_do_not(tmp_path: Path) -> None:
    server = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 't.db'}", api_token="t0ken")).start()
    try:
        with server.client() as anonymous, server.client("t0ken") as owner:
            assert anonymous.get("/registry/versions").status_code == 200
            for path, body in (
                ("/registry/versions", {"manifest": BUNDLED, "dry_run": True}),
                ("/registry/versions/1/activate", {}),
            ):
                refused = anonymous.post(path, json=body)
                assert refused.status_code == 401 and refused.json()["code"] == "UNAUTHORIZED", path
            assert owner.post("/registry/versions", json={"manifest": BUNDLED, "dry_run": True}).status_code == 200
    finally:
        server.stop()


def test_a_database_with_an_active_version_is_served_over_a_different_file(
    tmp_path: Path, manifest_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'start.db'}"
    first = LiveServer(Settings(database_url=url)).start()
    with first.client() as http:
        published = publish(http, variant(add_platform_model(NEW_MODEL))).json()
    first.stop()

    manifest_copy.write_text(variant(add_platform_model("moonshot/other")))
    second = LiveServer(Settings(database_url=url, manifest=manifest_copy)).start()
    try:
        with second.client() as http:
            assert http.get("/registry").json()["fingerprint"] == published["fingerprint"]
            assert [v["version"] for v in http.get("/registry/versions").json()["items"]] == [2, 1]
        assert "differs from the database's active manifest version 2" in caplog.text
        assert str(tmp_path) not in caplog.text
    finally:
        second.stop()
