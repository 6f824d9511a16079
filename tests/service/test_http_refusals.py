"""Requests the service refuses before reading them, over real HTTP on SQLite and PostgreSQL: cross-site
(403), a body that is not JSON (415) and a method the path does not serve (405, naming those it does).
Each refusal writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from .conftest import LiveServer
from .writes import HERMES, everything


def _unsafe_requests(workspace_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("POST", "/workspaces", {"name": "x", **HERMES}),
        ("PUT", f"/workspaces/{workspace_id}/model", {"model": "moonshot/kimi-k2.6"}),
        ("DELETE", f"/workspaces/{workspace_id}", None),
        ("POST", "/registry/check", HERMES),
        ("POST", "/registry/reload", None),
    ]


def test_cross_site_requests_are_403(live: LiveServer, http: httpx.Client, manifest_copy: Path) -> None:
    own = f"http://127.0.0.1:{live.port}"
    created = http.post("/workspaces", json={"name": "target", **HERMES}, headers={"Origin": own})
    assert created.status_code == 201, "the server's own origin must pass"
    foreign = [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": f"http://127.0.0.1:{live.port + 1}"},
        {"Origin": f"http://localhost:{live.port}"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": own, "Sec-Fetch-Site": "cross-site"},
    ]
    before = everything(live)
    for method, path, body in _unsafe_requests(created.json()["id"]):
        for headers in foreign:
            refused = http.request(method, path, json=body, headers=headers)
            assert refused.status_code == 403, (method, path, headers, refused.text)
            assert refused.json()["code"] == "CROSS_SITE_REQUEST"
            assert method in refused.json()["error"]
    # The attack that was tried: a simple text/plain POST from a page.
    simple = http.post(
        "/registry/reload", content=b"x", headers={"Origin": "http://evil.example", "Content-Type": "text/plain"}
    )
    assert simple.status_code == 403 and simple.json()["code"] == "CROSS_SITE_REQUEST"
    login = http.post("/ui/login", data={"token": "t"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert login.status_code == 403
    assert everything(live) == before
    assert http.get(f"/workspaces/{created.json()['id']}").status_code == 200
    same_site = http.post("/registry/check", json=HERMES, headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    assert same_site.status_code == 200


def test_json_endpoints_refuse_other_media_types_with_415(live: LiveServer, http: httpx.Client) -> None:
    created = http.post("/workspaces", json={"name": "target", **HERMES})
    before = everything(live)
    json_body = b'{"name": "x", "runtime": "hermes", "model": "kimi-coding/kimi-k2"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        for method, path, _ in _unsafe_requests(created.json()["id"]):
            headers = {} if content_type is None else {"Content-Type": content_type}
            refused = http.request(method, path, content=json_body, headers=headers)
            assert refused.status_code == 415, (method, path, content_type, refused.text)
            assert refused.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
            assert "application/json" in refused.json()["error"]
    empty_text = http.post("/registry/reload", headers={"Content-Type": "text/plain"})
    assert empty_text.status_code == 415
    assert everything(live) == before
    charset = http.post("/workspaces", content=json_body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert charset.status_code == 201
    assert http.post("/registry/reload").status_code == 200  # no body, no type: a program's reload


def test_405_allow_lists_every_method_the_path_serves(live: LiveServer, http: httpx.Client) -> None:
    created = http.post("/workspaces", json={"name": "m", **HERMES}).json()
    methods = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")
    for path in ("/workspaces", f"/workspaces/{created['id']}", f"/workspaces/{created['id']}/model", "/registry"):
        answers = {method: http.request(method, path, json=None) for method in methods}
        served = {method for method, response in answers.items() if response.status_code != 405}
        assert len(served) < len(methods), path
        for method, response in answers.items():
            if response.status_code != 405:
                continue
            assert set(response.headers["allow"].split(", ")) == served, (path, response.headers["allow"])
            if method != "HEAD":  # a HEAD answer has no body
                assert response.json()["code"] == "METHOD_NOT_ALLOWED"
                assert set(response.json()["allowed"]) == served
