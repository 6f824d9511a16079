"""The OpenAPI document tells the truth: every answer a route really gives (status and body) is one it
declares, operations have short stable ids, and the patterns it declares for text fields accept
exactly what the server's validators accept."""

from __future__ import annotations

import re
import sys
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from routegate.errors import UnsafeTemplateName
from routegate.service import Settings
from routegate.service.app import MAX_BODY_BYTES
from routegate.service.schemas import CheckModel, CreateWorkspace
from routegate.templates import TemplateRoot

from .conftest import LiveServer
from .test_versions import HERMES_BYOK, NEW_MODEL, add_platform_model, drop_runtime, variant

TOKEN = "contract-token-3f1c"
OPERATION_IDS = {
    ("post", "/workspaces"): "createWorkspace",
    ("get", "/workspaces"): "listWorkspaces",
    ("get", "/workspaces/{workspace_id}"): "getWorkspace",
    ("delete", "/workspaces/{workspace_id}"): "deleteWorkspace",
    ("put", "/workspaces/{workspace_id}/model"): "changeModel",
    ("get", "/workspaces/{workspace_id}/runtime-env"): "getRuntimeEnv",
    ("get", "/decisions"): "listDecisions",
    ("get", "/registry"): "getRegistry",
    ("get", "/registry/runtimes/{runtime}"): "getRuntime",
    ("get", "/registry/lifecycle"): "getLifecycle",
    ("post", "/registry/check"): "checkModel",
    ("post", "/registry/reload"): "reloadManifest",
    ("get", "/templates"): "listTemplates",
    ("get", "/healthz"): "getHealth",
    ("get", "/registry/versions"): "listVersions",
    ("get", "/registry/versions/progress"): "getPublishProgress",
    ("post", "/registry/versions"): "publishVersion",
    ("post", "/registry/versions/{version}/activate"): "activateVersion",
    # The call gate's (issue 21).
    ("post", "/workspaces/{workspace_id}/call-tokens"): "issueCallToken",
    ("get", "/workspaces/{workspace_id}/call-tokens"): "listCallTokens",
    ("delete", "/workspaces/{workspace_id}/call-tokens/{token_id}"): "revokeCallToken",
    ("post", "/calls/authorize"): "authorizeCall",
    ("post", "/calls/receipts/{receipt_id}/usage"): "reportCallUsage",
    ("post", "/calls/usage"): "reportCallsUsage",
    ("get", "/calls/receipts"): "listCallReceipts",
    ("get", "/calls/summary"): "summarizeCalls",
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder: Path = tmp_path_factory.mktemp("contract")
    server = LiveServer(Settings(database_url=f"sqlite:///{folder / 'routegate.db'}", api_token=TOKEN)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def spec(live: LiveServer) -> dict[str, Any]:
    with live.client() as http:
        return http.get("/openapi.json").json()  # type: ignore[no-any-return]


class Declared:
    """Checks answers against what the document declares for their operation, and keeps score."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.seen: dict[tuple[str, str], set[int]] = {}

    def check(self, method: str, template: str, answer: httpx.Response) -> httpx.Response:
        operation = self.spec["paths"][template][method]
        declared = operation["responses"].get(str(answer.status_code))
        assert declared is not None, (method, template, answer.status_code, answer.text[:300])
        self.seen.setdefault((method, template), set()).add(answer.status_code)
        content = declared.get("content")
        if content is None:
            assert answer.content == b"", (method, template, answer.status_code)
            return answer
        schema = {**content["application/json"]["schema"], "components": self.spec["components"]}
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(answer.json())]
        assert errors == [], (method, template, answer.status_code, errors[:3])
        return answer


def test_every_operation_has_its_short_stable_id(spec: dict[str, Any]) -> None:
    found = {(m, path): op.get("operationId") for path, ops in spec["paths"].items() for m, op in ops.items()}
    assert found == OPERATION_IDS


def test_every_operation_declares_the_413_and_every_refusal_its_body(live: LiveServer, spec: dict[str, Any]) -> None:
    declared = Declared(spec)
    with live.client(TOKEN) as http:
        for method, template in OPERATION_IDS:
            path = template.replace("{workspace_id}", "w").replace("{runtime}", "r").replace("{version}", "1")
            path = path.replace("{token_id}", "t").replace("{receipt_id}", "r")
            answer = http.request(
                method, path, content=b"x" * (MAX_BODY_BYTES + 1), headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == 413
            declared.check(method, template, answer)
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
                    assert response["description"], (method, path, status)


def test_every_route_answers_only_what_it_declares(live: LiveServer, spec: dict[str, Any]) -> None:
    d = Declared(spec)
    with live.client(TOKEN) as http, live.client() as anonymous:
        d.check("get", "/healthz", http.get("/healthz"))
        d.check("get", "/registry", http.get("/registry"))
        d.check("get", "/registry/runtimes/{runtime}", http.get("/registry/runtimes/hermes"))
        d.check("get", "/registry/runtimes/{runtime}", http.get("/registry/runtimes/nope"))
        d.check("post", "/registry/check", http.post("/registry/check", json=HERMES_BYOK))
        d.check("post", "/registry/check", http.post("/registry/check", json={"runtime": "hermes"}))
        d.check(
            "post", "/registry/check", http.post("/registry/check", content="x", headers={"Content-Type": "text/plain"})
        )
        d.check("get", "/templates", http.get("/templates"))
        d.check("get", "/registry/lifecycle", http.get("/registry/lifecycle"))
        d.check("get", "/registry/lifecycle", http.get("/registry/lifecycle?on=someday"))
        d.check("post", "/registry/reload", http.post("/registry/reload"))
        d.check("post", "/registry/reload", anonymous.post("/registry/reload"))

        name = f"contract-{uuid.uuid4().hex[:6]}"
        key = {"Idempotency-Key": uuid.uuid4().hex}
        created = d.check(
            "post", "/workspaces", http.post("/workspaces", json={"name": name, **HERMES_BYOK}, headers=key)
        )
        workspace = created.json()["id"]
        d.check("post", "/workspaces", http.post("/workspaces", json={"name": name, **HERMES_BYOK}, headers=key))
        d.check(
            "post", "/workspaces", http.post("/workspaces", json={"name": "x", "runtime": "hermes", "model": "no/such"})
        )
        d.check("post", "/workspaces", http.post("/workspaces", json={"name": ""}))
        d.check("post", "/workspaces", anonymous.post("/workspaces", json={"name": "x"}))
        d.check(
            "post",
            "/workspaces",
            http.post("/workspaces", json={"name": "x"}, headers={"Origin": "http://evil.example"}),
        )
        d.check("post", "/workspaces", http.post("/workspaces", content="{}", headers={"Content-Type": "text/plain"}))
        d.check("get", "/workspaces", http.get("/workspaces"))
        d.check("get", "/workspaces", http.get("/workspaces", params={"limit": 0}))
        d.check("get", "/workspaces/{workspace_id}", http.get(f"/workspaces/{workspace}"))
        d.check("get", "/workspaces/{workspace_id}", http.get("/workspaces/nope"))
        d.check(
            "put",
            "/workspaces/{workspace_id}/model",
            http.put(f"/workspaces/{workspace}/model", json={"model": HERMES_BYOK["model"]}),
        )
        d.check(
            "put",
            "/workspaces/{workspace_id}/model",
            http.put(f"/workspaces/{workspace}/model", json={"model": "no/such"}),
        )
        d.check("put", "/workspaces/{workspace_id}/model", http.put(f"/workspaces/{workspace}/model", json={}))
        d.check("get", "/workspaces/{workspace_id}/runtime-env", http.get(f"/workspaces/{workspace}/runtime-env"))
        d.check("get", "/decisions", http.get("/decisions", params={"workspace_id": workspace}))
        d.check("get", "/decisions", http.get("/decisions"))

        manifest = variant(add_platform_model(NEW_MODEL))
        d.check("get", "/registry/versions", http.get("/registry/versions"))
        d.check("get", "/registry/versions", http.get("/registry/versions", params={"cursor": "x"}))
        d.check("get", "/registry/versions/progress", anonymous.get("/registry/versions/progress"))
        publish = "/registry/versions"
        d.check("post", publish, http.post(publish, json={"manifest": manifest, "dry_run": True}))
        d.check("post", publish, http.post(publish, json={"manifest": manifest}))
        d.check("post", publish, http.post(publish, json={"manifest": manifest}))
        d.check("post", publish, http.post(publish, json={"manifest": "- not a manifest"}))
        d.check("post", publish, http.post(publish, json={"manifest": variant(drop_runtime("hermes"))}))
        d.check("post", publish, http.post(publish, json={}))
        d.check("post", publish, anonymous.post(publish, json={"manifest": manifest}))
        activate = "/registry/versions/{version}/activate"
        d.check("post", activate, http.post("/registry/versions/1/activate"))
        d.check("post", activate, http.post("/registry/versions/1/activate", json={"dry_run": True}))
        d.check("post", activate, http.post("/registry/versions/99/activate"))

        _check_call_routes(d, http, workspace)  # issue 21
        d.check("delete", "/workspaces/{workspace_id}", http.delete(f"/workspaces/{workspace}"))
        d.check("delete", "/workspaces/{workspace_id}", http.delete(f"/workspaces/{workspace}"))

    assert set(d.seen) == set(OPERATION_IDS)  # every route was asked
    assert d.seen[("post", "/registry/versions")] == {200, 201, 400, 401, 409, 422}
    assert d.seen[("post", "/workspaces")] == {201, 400, 401, 403, 415, 422}


def _check_call_routes(d: Declared, http: httpx.Client, workspace: str) -> None:
    """The call gate's routes (issue 21), each answer checked against what it declares."""
    tokens = "/workspaces/{workspace_id}/call-tokens"
    issued = d.check("post", tokens, http.post(f"/workspaces/{workspace}/call-tokens", json={"note": "gateway"}))
    d.check("post", tokens, http.post("/workspaces/0000/call-tokens", json={}))
    d.check("post", tokens, http.post(f"/workspaces/{workspace}/call-tokens", json={"expires_in_s": 0}))
    d.check("get", tokens, http.get(f"/workspaces/{workspace}/call-tokens"))
    d.check("get", tokens, http.get("/workspaces/0000/call-tokens"))
    authorize, token = "/calls/authorize", issued.json()["token"]
    allowed = d.check("post", authorize, http.post(authorize, json={"token": token, "model": HERMES_BYOK["model"]}))
    d.check("post", authorize, http.post(authorize, json={"token": token, "model": "anthropic/claude-opus-4-1"}))
    d.check("post", authorize, http.post(authorize, json={"token": "rgc_unknown", "model": "x"}))
    d.check("post", authorize, http.post(authorize, json={"token": token}))
    usage, receipt = "/calls/receipts/{receipt_id}/usage", allowed.json()["receipt_id"]
    report = {"prompt_tokens": 10, "completion_tokens": 2, "status": "ok"}
    d.check("post", usage, http.post(f"/calls/receipts/{receipt}/usage", json=report))
    d.check("post", usage, http.post(f"/calls/receipts/{receipt}/usage", json=report))
    d.check("post", usage, http.post(f"/calls/receipts/{receipt[:24]}000000000000/usage", json=report))
    reports = [{"receipt_id": receipt, **report}, {"receipt_id": f"{receipt[:24]}000000000000", **report}]
    d.check("post", "/calls/usage", http.post("/calls/usage", json={"reports": reports}))
    d.check("post", "/calls/usage", http.post("/calls/usage", json={"reports": []}))
    d.check("get", "/calls/receipts", http.get("/calls/receipts", params={"workspace_id": workspace, "limit": 1}))
    d.check("get", "/calls/receipts", http.get("/calls/receipts", params={"limit": 0}))
    d.check("get", "/calls/summary", http.get("/calls/summary", params={"workspace_id": workspace}))
    revoke = f"/workspaces/{workspace}/call-tokens/{issued.json()['id']}"
    d.check("delete", tokens + "/{token_id}", http.delete(revoke))
    d.check("delete", tokens + "/{token_id}", http.delete(f"/workspaces/{workspace}/call-tokens/0000"))


# --- the declared text patterns are the validators' rules -------------------------------------------


def _pattern(spec: dict[str, Any], model: str, field: str) -> re.Pattern[str]:
    schema = spec["components"]["schemas"][model]["properties"][field]
    strings = [s for s in schema.get("anyOf", [schema]) if s.get("type") == "string"]
    return re.compile(strings[0]["pattern"])


def _accepted(validate: Any) -> bool:
    try:
        validate()
    except ValidationError:
        return False
    return True


def test_the_visible_text_pattern_is_the_validators_rule_for_every_character(spec: dict[str, Any]) -> None:
    """Every code point inside text: the declared pattern matches exactly when the server accepts. Lone
    surrogates, which the server refuses too, are the one exception: no UTF-8 text holds one, and the
    pattern cannot name them for engines that work on code points (see ``hidden_class``)."""
    visible = _pattern(spec, "CheckModel", "runtime")
    assert visible.pattern == _pattern(spec, "CreateWorkspace", "model").pattern
    disagreements = []
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        text = f"a{chr(code)}b"
        declared = visible.fullmatch(text) is not None
        if declared != _accepted(lambda text=text: CheckModel(runtime=text, model="m")):
            disagreements.append(f"U+{code:04X} {unicodedata.category(chr(code))}")
    assert disagreements == []


_NAME_ALPHABET = st.sampled_from(["a", "é", "1", " ", "\u00a0", "\u3000", "\t", "\u200b", "\u202e", "-", "."])


@settings(max_examples=300, deadline=None, database=None)
@given(name=st.text(_NAME_ALPHABET, min_size=0, max_size=6))
def test_the_name_pattern_is_the_validators_rule(spec: dict[str, Any], name: str) -> None:
    """Not blank once stripped, nothing hidden: the declared pattern and the validators agree."""
    declared = _pattern(spec, "CreateWorkspace", "name").fullmatch(name) is not None
    assert declared == _accepted(lambda: CreateWorkspace(name=name)), repr(name)


_TEMPLATE_ALPHABET = st.sampled_from([".", "/", "\\", "a", "é", " ", "\u200b", "\x00", "-"])


@settings(max_examples=500, deadline=None, database=None)
@given(name=st.text(_TEMPLATE_ALPHABET, min_size=0, max_size=8))
def test_the_template_name_pattern_is_the_servers_rule(spec: dict[str, Any], tmp_path_factory: Any, name: str) -> None:
    """A name the pattern allows passes validation and the templates root's name rule; one it refuses, does not."""
    root = TemplateRoot(tmp_path_factory.getbasetemp())

    def server_accepts() -> bool:
        try:
            template = CreateWorkspace(name="x", template=name).template
        except ValidationError:
            return False
        try:
            root.resolve(str(template))
        except UnsafeTemplateName:
            return False
        except LookupError:  # TemplateNotFound: a safe name that names no template here
            return True
        return True

    declared = _pattern(spec, "CreateWorkspace", "template").fullmatch(name) is not None
    assert declared == server_accepts(), repr(name)
