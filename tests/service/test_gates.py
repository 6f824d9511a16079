"""The create gates (docs/routing.md, "Creating a workspace") over real HTTP, on SQLite and PostgreSQL:
each gate, its status and code, and what is written.

Every refusal asserts that no workspace was written; a refusal by any gate after
fields (persist's included) adds exactly one decision row (the log of why), a
field-validation refusal none.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx

from routegate.drift import drift
from routegate.registry import Registry
from routegate.templates import TemplateRoot

from .conftest import LiveServer

HERMES = {"runtime": "hermes", "model": "kimi-coding/kimi-k2"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def refuse(
    server: LiveServer, client: httpx.Client, body: Any, status: int, code: str, *, logged: bool = True
) -> dict[str, Any]:
    workspaces, decisions = server.counts()
    if isinstance(body, bytes):  # JSON that Python's encoder will not produce (a lone surrogate)
        response = client.post("/workspaces", content=body, headers={"content-type": "application/json"})
    else:
        response = client.post("/workspaces", json=body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["code"] == code
    assert isinstance(payload["error"], str) and payload["error"]
    assert server.count("workspaces") == workspaces, "a refused create wrote a workspace"
    assert server.count("decisions") == decisions + (1 if logged else 0)
    return payload


def latest_decision(client: httpx.Client) -> dict[str, Any]:
    """The newest row of GET /decisions."""
    page: dict[str, Any] = {"next_cursor": None}
    items: list[dict[str, Any]] = []
    while True:
        params = {"limit": 200, **({"cursor": page["next_cursor"]} if page["next_cursor"] else {})}
        page = client.get("/decisions", params=params).json()
        items = page["items"] or items
        if page["next_cursor"] is None:
            return items[-1]


def admit(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/workspaces", json=body)
    assert response.status_code == 201, response.text
    return response.json()


# --- the seed's cases ------------------------------------------------------------------------


def test_hermes_openrouter_id_is_admitted_as_byok(client: httpx.Client) -> None:
    created = admit(
        client, {"name": unique("seed"), "runtime": "hermes", "model": "openrouter/anthropic/claude-3.5-sonnet"}
    )
    assert created["provider"] == "openrouter"
    assert created["billing_mode"] == "byok"
    assert created["required_env"] == ["OPENROUTER_API_KEY"]
    assert client.get(f"/workspaces/{created['id']}").json() == created


def test_hermes_gpt_4o_is_refused(server: LiveServer, client: httpx.Client) -> None:
    payload = refuse(
        server,
        client,
        {"name": unique("seed"), "runtime": "hermes", "model": "gpt-4o"},
        422,
        "UNREGISTERED_MODEL_FOR_RUNTIME",
    )
    assert payload["model"] == "gpt-4o"
    assert payload["suggestions"]


def test_platform_prefix_is_refused_on_every_runtime(server: LiveServer, client: httpx.Client) -> None:
    for runtime in client.get("/registry").json()["runtimes"]:
        payload = refuse(
            server,
            client,
            {"name": unique("g2"), "runtime": runtime, "model": "platform/anything"},
            422,
            "UNREGISTERED_MODEL_FOR_RUNTIME",
        )
        assert "platform" in payload["error"]


def test_menu_id_is_platform_managed(client: httpx.Client) -> None:
    created = admit(client, {"name": unique("menu"), "runtime": "hermes", "model": "moonshot/kimi-k2.6"})
    assert (created["provider"], created["billing_mode"]) == ("platform", "platform_managed")


# --- fields ------------------------------------------------------------------------------------


def test_invalid_fields_are_400_naming_each_field(server: LiveServer, client: httpx.Client) -> None:
    cases: list[tuple[Any, set[str]]] = [
        ({}, {"name"}),
        ({"name": "   "}, {"name"}),
        ({"name": "a\x07b"}, {"name"}),
        ({"name": "x" * 201}, {"name"}),
        ({"name": "ok", "model": "m\x00"}, {"model"}),
        ({"name": "ok", "model": "m" * 257}, {"model"}),
        ({"name": "ok", "modle": "sonnet"}, {"modle"}),
        ({"name": "ok", "external": "yes"}, {"external"}),
        ({"name": "ok", "auth_env": ["NOT A NAME"]}, {"auth_env.0"}),
        ({"name": "ok", "auth_env": ["K"] * 33}, {"auth_env"}),
        ({"name": "ok", "role": "\u0085"}, {"role"}),
        (b'{"name": "ok", "template": "\\ud800"}', {"template"}),
        ([1, 2], {"body"}),
    ]
    for body, fields in cases:
        payload = refuse(server, client, body, 400, "INVALID_FIELDS", logged=False)
        assert set(payload["fields"]) == fields, (body, payload)
        assert {p["field"] for p in payload["problems"]} == fields


def test_malformed_json_is_400_not_422(server: LiveServer, client: httpx.Client) -> None:
    workspaces, decisions = server.counts()
    response = client.post("/workspaces", content=b'{"name": ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_FIELDS"
    assert server.counts() == (workspaces, decisions)


def test_body_over_64_kib_is_413(server: LiveServer, client: httpx.Client) -> None:
    workspaces, decisions = server.counts()
    big = {"name": "big", "runtime": "hermes", "model": "kimi-coding/kimi-k2", "url": "x" * (65 * 1024)}
    response = client.post("/workspaces", json=big)
    assert response.status_code == 413
    assert response.json()["code"] == "BODY_TOO_LARGE"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap must count what arrives
        yield b'{"name": "big", "url": "'
        for _ in range(70):
            yield b"y" * 1024
        yield b'"}'

    response = client.post("/workspaces", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert server.counts() == (workspaces, decisions)


# --- template ------------------------------------------------------------------------------------


def test_template_supplies_runtime_and_default_model(client: httpx.Client) -> None:
    created = admit(client, {"name": unique("tpl"), "template": "hermes"})
    assert created["runtime"] == "hermes"
    assert created["model"] == "nousresearch/hermes-4-70b"
    assert created["template"] == "hermes"
    assert created["provider"] == "nousresearch"


def test_template_fills_only_what_is_missing(client: httpx.Client) -> None:
    created = admit(client, {"name": unique("tpl"), "template": "codex", "model": "gpt-5.4"})
    assert (created["runtime"], created["model"]) == ("codex", "gpt-5.4")


def test_template_whose_default_does_not_route_is_refused(server: LiveServer, client: httpx.Client) -> None:
    payload = refuse(
        server, client, {"name": unique("tpl"), "template": "openclaw"}, 422, "UNREGISTERED_MODEL_FOR_RUNTIME"
    )
    assert payload["runtime"] == "openclaw"
    row = latest_decision(client)
    assert (row["template"], row["runtime"], row["model"]) == ("openclaw", "openclaw", payload["model"])


def test_template_path_traversal_is_400(server: LiveServer, client: httpx.Client) -> None:
    for name in ("../hermes", "/etc", "hermes/../../..", "..", "a\\b"):
        payload = refuse(server, client, {"name": unique("tpl"), "template": name}, 400, "INVALID_TEMPLATE")
        assert payload["template"] == name
        # Refused even when runtime and model make reading the template unnecessary: never stored.
        refuse(server, client, {"name": unique("tpl"), "template": name, **HERMES}, 400, "INVALID_TEMPLATE")


def test_unknown_template_is_refused_even_with_runtime_and_model(server: LiveServer, client: httpx.Client) -> None:
    payload = refuse(
        server, client, {"name": unique("tpl"), "template": "no-such-template", **HERMES}, 400, "INVALID_TEMPLATE"
    )
    assert payload["template"] == "no-such-template" and "no-such-template" in payload["error"]
    row = latest_decision(client)
    assert (row["code"], row["template"], row["runtime"], row["model"]) == (
        "INVALID_TEMPLATE",
        "no-such-template",
        "hermes",
        "kimi-coding/kimi-k2",
    )


def test_model_required_names_the_template_that_could_not_fill_it(server: LiveServer, client: httpx.Client) -> None:
    payload = refuse(
        server,
        client,
        {"name": unique("tpl"), "template": "no-such-template", "runtime": "hermes"},
        422,
        "MODEL_REQUIRED",
    )
    assert "no-such-template" in payload["error"]
    row = latest_decision(client)
    assert (row["code"], row["template"], row["runtime"], row["model"]) == (
        "MODEL_REQUIRED",
        "no-such-template",
        "hermes",
        None,
    )


# --- runtime resolved: asked for but unresolved ----------------------------------------------------


def test_unknown_template_gives_runtime_unresolved(server: LiveServer, client: httpx.Client) -> None:
    payload = refuse(server, client, {"name": unique("u"), "template": "no-such-template"}, 422, "RUNTIME_UNRESOLVED")
    assert "no-such-template" in payload["error"]


def test_blank_runtime_gives_runtime_unresolved(server: LiveServer, client: httpx.Client) -> None:
    refuse(server, client, {"name": unique("u"), "runtime": "  ", "model": "sonnet"}, 422, "RUNTIME_UNRESOLVED")


# --- runtime resolved: the defaults when none is asked for ------------------------------------------


def test_no_runtime_means_the_default_runtime(client: httpx.Client) -> None:
    created = admit(client, {"name": unique("d"), "model": "sonnet"})
    assert (created["runtime"], created["provider"]) == ("claude-code", "anthropic-oauth")


def test_external_workspace_defaults_to_external_runtime_without_model(client: httpx.Client) -> None:
    created = admit(client, {"name": unique("ext"), "external": True, "url": "https://agent.example/a2a"})
    assert (created["runtime"], created["model"], created["provider"]) == ("external", None, None)
    env = client.get(f"/workspaces/{created['id']}/runtime-env").json()
    assert env["provider"] is None and env["auth_env"] == []


# --- runtime supported -----------------------------------------------------------------------------


def test_unknown_runtime_is_unsupported(server: LiveServer, client: httpx.Client) -> None:
    payload = refuse(server, client, {"name": unique("r"), "runtime": "nope", "model": "x"}, 422, "RUNTIME_UNSUPPORTED")
    assert "hermes" in payload["supported"] and "langgraph" in payload["supported"]


def test_external_kind_and_runtime_must_agree(server: LiveServer, client: httpx.Client) -> None:
    refuse(
        server,
        client,
        {"name": unique("r"), "external": True, "runtime": "hermes", "model": "kimi-coding/kimi-k2"},
        422,
        "RUNTIME_UNSUPPORTED",
    )
    refuse(server, client, {"name": unique("r"), "runtime": "external"}, 422, "RUNTIME_UNSUPPORTED")


def test_foreign_runtime_fails_open(client: httpx.Client) -> None:
    created = admit(client, {"name": unique("lg"), "runtime": "langgraph", "model": "anything/at-all"})
    assert (created["runtime"], created["provider"], created["billing_mode"]) == ("langgraph", None, None)


# --- model present ------------------------------------------------------------------------------------


def test_model_is_required(server: LiveServer, client: httpx.Client) -> None:
    refuse(server, client, {"name": unique("m"), "runtime": "hermes"}, 422, "MODEL_REQUIRED")
    refuse(server, client, {"name": unique("m"), "runtime": "langgraph", "model": " "}, 422, "MODEL_REQUIRED")


# --- persist: names and parents ------------------------------------------------------------------------


def test_taken_names_get_suffixes_per_parent(client: httpx.Client) -> None:
    name = unique("same")
    body = {"name": name, "runtime": "hermes", "model": "kimi-coding/kimi-k2"}
    first, second, third = (admit(client, body) for _ in range(3))
    assert [first["name"], second["name"], third["name"]] == [name, f"{name} (2)", f"{name} (3)"]
    child = admit(client, {**body, "parent_id": first["id"]})
    assert child["name"] == name and child["parent_id"] == first["id"]
    assert admit(client, {**body, "parent_id": first["id"]})["name"] == f"{name} (2)"


def test_names_differing_only_in_surrounding_spaces_are_one_name(client: httpx.Client) -> None:
    name = unique("dup")
    created = [admit(client, {"name": spelled, **HERMES})["name"] for spelled in (name, f"{name} ", f"  {name}")]
    assert created == [name, f"{name} (2)", f"{name} (3)"]


def test_name_past_the_suffix_limit_is_409(server: LiveServer, client: httpx.Client) -> None:
    name = unique("full")
    body = {"name": name, "runtime": "hermes", "model": "kimi-coding/kimi-k2"}
    names = {admit(client, body)["name"] for _ in range(server.settings.name_suffix_limit)}
    assert len(names) == server.settings.name_suffix_limit
    refuse(server, client, body, 409, "NAME_CONFLICT")
    row = latest_decision(client)
    assert (row["action"], row["admitted"], row["code"]) == ("create", False, "NAME_CONFLICT")
    assert (row["runtime"], row["model"], row["provider"]) == ("hermes", "kimi-coding/kimi-k2", None)


def test_unknown_parent_is_refused(server: LiveServer, client: httpx.Client) -> None:
    body = {
        "name": unique("orphan"),
        "runtime": "hermes",
        "model": "kimi-coding/kimi-k2",
        "parent_id": str(uuid.uuid4()),
    }
    payload = refuse(server, client, {**body, "template": "hermes"}, 422, "PARENT_NOT_FOUND")
    assert payload["parent_id"] == body["parent_id"]
    row = latest_decision(client)
    assert (row["action"], row["admitted"], row["code"], row["workspace_id"]) == (
        "create",
        False,
        "PARENT_NOT_FOUND",
        None,
    )
    assert (row["runtime"], row["model"], row["template"]) == ("hermes", "kimi-coding/kimi-k2", "hermes")


# --- model change: runtime supported and the model gates again --------------------------------------------


def test_model_change_runs_the_gates_again(server: LiveServer, client: httpx.Client) -> None:
    created = admit(client, {"name": unique("mc"), "runtime": "hermes", "model": "moonshot/kimi-k2.6"})
    path = f"/workspaces/{created['id']}/model"

    changed = client.put(
        path, json={"model": "openrouter/anthropic/claude-3.5-sonnet", "auth_env": ["OPENROUTER_API_KEY"]}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["provider"], changed.json()["billing_mode"]) == ("openrouter", "byok")
    assert changed.json()["auth_env"] == ["OPENROUTER_API_KEY"]

    decisions = server.count("decisions")
    for model, code in (
        ("gpt-4o", "UNREGISTERED_MODEL_FOR_RUNTIME"),
        ("platform/x", "UNREGISTERED_MODEL_FOR_RUNTIME"),
        ("  ", "MODEL_REQUIRED"),
    ):
        response = client.put(path, json={"model": model})
        assert response.status_code == 422 and response.json()["code"] == code
    assert server.count("decisions") == decisions + 3
    still = client.get(f"/workspaces/{created['id']}").json()
    assert still["model"] == "openrouter/anthropic/claude-3.5-sonnet", "a refused change altered the workspace"

    response = client.put(path, json={"model": "gpt-4o", "bogus": 1})
    assert response.status_code == 400 and response.json()["fields"] == ["bogus"]
    assert client.put(f"/workspaces/{uuid.uuid4()}/model", json={"model": "sonnet"}).status_code == 404


def test_decisions_explain_every_create_and_change(client: httpx.Client) -> None:
    created = admit(client, {"name": unique("log"), "runtime": "claude-code", "model": "moonshot/kimi-k2.6"})
    client.put(f"/workspaces/{created['id']}/model", json={"model": "gpt-4o"})
    items = client.get("/decisions", params={"workspace_id": created["id"]}).json()["items"]
    assert [(d["action"], d["admitted"], d["code"]) for d in items] == [
        ("create", True, None),
        ("model_change", False, "UNREGISTERED_MODEL_FOR_RUNTIME"),
    ]
    fingerprint = client.get("/registry").json()["fingerprint"]
    assert items[0]["billing_mode"] == "platform_managed"
    assert all(d["manifest_fingerprint"] == fingerprint for d in items)


def test_refusals_are_logged_without_a_workspace(client: httpx.Client) -> None:
    model = f"gpt-4o-{uuid.uuid4().hex[:6]}"
    client.post("/workspaces", json={"name": "r", "runtime": "hermes", "model": model})
    everything = []
    cursor = None
    while True:
        page = client.get("/decisions", params={"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
        everything += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    mine = [d for d in everything if d["model"] == model]
    assert len(mine) == 1 and mine[0]["workspace_id"] is None and not mine[0]["admitted"]


# --- reading, runtime env, deleting -------------------------------------------------------------------------


def test_runtime_env_names_never_values(client: httpx.Client) -> None:
    created = admit(client, {"name": unique("env"), "runtime": "claude-code", "model": "claude-sonnet-4-6"})
    env = client.get(f"/workspaces/{created['id']}/runtime-env").json()
    assert env["provider"] == "anthropic-api"
    assert env["protocol"] == "anthropic"
    assert env["base_url_anthropic"] == "https://api.anthropic.com/v1"
    assert env["auth_env"] == ["ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"]
    assert env["auth_token_env"] == "ANTHROPIC_API_KEY"
    assert env["billing_mode"] == "byok"


def test_list_pages_through_every_workspace(server: LiveServer, client: httpx.Client) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/workspaces", params=params).json()
        assert len(page["items"]) <= 7
        seen += [w["id"] for w in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == server.count("workspaces")
    bad = client.get("/workspaces", params={"cursor": "abc", "limit": 0})
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"cursor", "limit"}


def test_delete(server: LiveServer, client: httpx.Client) -> None:
    parent = admit(client, {"name": unique("del"), "runtime": "hermes", "model": "kimi-coding/kimi-k2"})
    child = admit(
        client, {"name": "child", "runtime": "hermes", "model": "kimi-coding/kimi-k2", "parent_id": parent["id"]}
    )
    blocked = client.delete(f"/workspaces/{parent['id']}")
    assert blocked.status_code == 409 and blocked.json()["code"] == "WORKSPACE_HAS_CHILDREN"
    assert client.delete(f"/workspaces/{child['id']}").status_code == 204
    assert client.delete(f"/workspaces/{parent['id']}").status_code == 204
    missing = client.get(f"/workspaces/{parent['id']}")
    assert missing.status_code == 404 and missing.json()["code"] == "WORKSPACE_NOT_FOUND"
    assert client.delete(f"/workspaces/{parent['id']}").status_code == 404
    assert client.get("/workspaces/not-an-id").status_code == 404
    # The decision log outlives the workspace.
    assert client.get("/decisions", params={"workspace_id": parent["id"]}).json()["items"]


# --- the registry endpoints -------------------------------------------------------------------------------


def test_registry_endpoints(client: httpx.Client) -> None:
    summary = client.get("/registry").json()
    assert summary["schema_version"] == 1 and "hermes" in summary["runtimes"]
    hermes = client.get("/registry/runtimes/hermes").json()
    assert hermes["menu"][0] == {
        "id": "kimi-coding/kimi-k2",
        "provider": "kimi-coding",
        "billing_mode": "byok",
        "required_env": list(Registry.load().catalog["kimi-coding"].auth_env),
    }
    assert {p["name"]: p["routing_only"] for p in hermes["providers"]}["openrouter"] is True
    assert client.get("/registry/runtimes/nope").json()["code"] == "UNKNOWN_RUNTIME"
    decision = client.post("/registry/check", json={"runtime": "hermes", "model": "gpt-4o"}).json()
    assert decision["allowed"] is False and decision["code"] == "UNREGISTERED_MODEL_FOR_RUNTIME"


def test_templates_are_annotated_with_their_drift(server: LiveServer, client: httpx.Client) -> None:
    answer = client.get("/templates").json()
    templates = {t["name"]: t for t in answer["templates"]}
    assert answer["problems"] == []
    assert (templates["hermes"]["offered"], templates["hermes"]["routable"]) == (37, 25)
    assert templates["openclaw"]["default_decision"]["allowed"] is False
    assert templates["openclaw"]["default_routable"] is False
    registry = Registry.load()
    for template in TemplateRoot().all():  # section 8's drift, as the core measures it
        report = drift(registry, template)
        shown = templates[template.name]
        assert shown["residual"] == [{"id": r.id, "code": r.code, "reason": r.reason} for r in report.residual]
        codes = {r.id: r.code for r in report.residual}
        assert [(m["id"], m["routable"], m["code"]) for m in shown["models"]] == [
            (offer.id, offer.id not in codes, codes.get(offer.id)) for offer in template.offered
        ]
        # Each offered model also carries who would serve it and who pays: check()'s decision.
        assert [m["decision"] for m in shown["models"]] == [
            registry.check(template.runtime, offer.id).to_dict() for offer in template.offered
        ]
    glm = next(m for m in templates["claude-code"]["models"] if m["id"] == "GLM-4.6")
    assert (glm["decision"]["provider"], glm["decision"]["billing_mode"]) == ("zai", "byok")


def test_healthz(client: httpx.Client) -> None:
    health = client.get("/healthz")
    registry = client.get("/registry").json()
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "manifest_fingerprint": registry["fingerprint"],
        "manifest_version": registry["manifest_version"],
        "database": "ok",
        "call_tokens": "ok",
    }
