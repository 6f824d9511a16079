"""schemathesis over the live OpenAPI: whatever a client sends, the service never answers 5xx,
answers only what the document declares (status, content type, body), and never refuses data the
document says is valid as invalid fields.

Runs against a real server on a SQLite file with a token set, generating
valid and invalid requests for every operation, with and without the token.
Example counts stay modest to keep the suite within minutes on two cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from routegate.service import Settings

from .conftest import LiveServer

TOKEN = "fuzz-token-6a1d"
EXAMPLES = 50
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _refused_as_invalid(response: Any) -> str | None:
    """Why a refusal says the request broke the document's rules (a field, or a template name's), if it does.

    Schema-valid data may still be refused for what it means (a model the gates refuse, 422;
    a manifest that is not one, 422; a template name that names no template, 400), but never
    for its shape: that would be a rule the document does not declare.
    """
    if response.status_code != 400:
        return None
    body = response.json()
    if body.get("code") == "INVALID_FIELDS":
        return f"fields {body.get('fields')}: {body.get('problems')}"
    if body.get("code") == "INVALID_TEMPLATE" and "is not allowed" in body.get("error", ""):
        return str(body["error"])
    return None


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("fuzz")
    live = LiveServer(Settings(database_url=f"sqlite:///{folder / 'fuzz.db'}", api_token=TOKEN)).start()
    yield live
    live.stop()


def _operations(server: LiveServer) -> list[schemathesis.APIOperation[Any, Any, Any, Any]]:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_is_exercised(fuzz_server: LiveServer) -> None:
    labels = {operation.label for operation in _operations(fuzz_server)}
    assert {
        "POST /workspaces",
        "PUT /workspaces/{workspace_id}/model",
        "POST /registry/check",
        "GET /healthz",
    } <= labels


@pytest.mark.parametrize("authorised", [True, False], ids=["with-token", "without-token"])
def test_no_server_errors(fuzz_server: LiveServer, authorised: bool) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"} if authorised else {}
    statuses: dict[str, list[int]] = {}
    for operation in _operations(fuzz_server):
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE).map(lambda case: (case, True)),
            operation.as_strategy(GenerationMode.NEGATIVE).map(lambda case: (case, False)),
        )

        @given(drawn=strategy)
        @settings(
            max_examples=EXAMPLES if authorised else EXAMPLES // 3,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def call(drawn: tuple[schemathesis.Case[Any], bool]) -> None:
            case, positive = drawn
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses.setdefault(case.operation.label, []).append(response.status_code)
            if positive and authorised:
                assert _refused_as_invalid(response) is None, (case.operation.label, case.body, response.text[:500])
            protected = case.path.startswith(("/workspaces", "/decisions")) or case.path == "/registry/reload"
            if protected and not authorised:
                # 401, unless the body is not even JSON: FastAPI parses it before any dependency runs.
                unparsed = response.status_code == 400 and all(f.startswith("body") for f in response.json()["fields"])
                assert response.status_code == 401 or unparsed, (case.operation.label, response.status_code)

        call()
    # Every operation was called, and the generator reached beyond the refusals.
    assert len(statuses["POST /workspaces"]) >= 10, {k: len(v) for k, v in statuses.items()}
    assert len(statuses) == len(_operations(fuzz_server))
    if authorised:
        assert any(code < 300 for codes in statuses.values() for code in codes)
        assert 422 in statuses["POST /workspaces"], "no generated create got past field validation to the gates"
