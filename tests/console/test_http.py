"""The console over plain HTTP: pages, assets, and the session cookie that stands in for the token."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from routegate.registry import Registry
from routegate.service.console import session

from .conftest import API_TOKEN, Server

PAGES = [
    "/",
    "/ui/workspaces",
    "/ui/lookup?model=gpt-5.5",
    "/ui/registry",
    "/ui/registry/lifecycle",
    "/ui/runtimes/codex",
    "/ui/drift",
]
REGISTRY = Registry.load()


def _login(client: httpx.Client, token: str, next_path: str = "/") -> httpx.Response:
    return client.post("/ui/login", data={"token": token, "next": next_path})


def _csrf(client: httpx.Client) -> str:
    page = client.get("/").text
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page)
    assert found, "a signed-in page carries its CSRF token"
    return found.group(1)


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_with_a_strict_content_security_policy(server: Server, path: str) -> None:
    with server.client() as client:
        response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "http://" not in response.text.replace(server.url, "") and "https://" not in response.text


def test_assets_are_served_from_the_package_and_unknown_ones_are_404(server: Server) -> None:
    with server.client() as client:
        page = client.get("/").text
        for asset in re.findall(r'(?:href|src)="(/ui/static/[^"]+)"', page):
            response = client.get(asset)
            assert response.status_code == 200, asset
            assert "immutable" in response.headers["cache-control"]
        assert (
            client.get("/ui/static/console.js")
            .headers["content-type"]
            .startswith(("application/javascript", "text/javascript"))
        )
        for missing in ("/ui/static/..%2Fsession.py", "/ui/static/../session.py", "/ui/static/nothing.css"):
            assert client.get(missing).status_code == 404, missing


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_load_their_assets_from_this_server(server: Server, path: str) -> None:
    with server.client() as client:
        page = client.get(path)
        assert page.status_code == 200
        assets = re.findall(r'(?:href|src)="([^"]+)"', page.text)
        assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
        for asset in assets:
            assert client.get(asset).status_code == 200, asset
        assert client.get("/openapi.json").status_code == 200


def test_console_nav_links_the_api_docs(server: Server) -> None:
    with server.client() as client:
        assert 'href="/docs">API docs</a>' in client.get("/ui/registry").text


def _lookup_ids() -> list[str]:
    """Every menu id of every runtime, with case and separator variants, and ids no runtime routes."""
    ids = {model for runtime in REGISTRY.runtimes for model in REGISTRY.menu(runtime)}
    variants = {v for model in ids for v in (model.upper(), model.replace("/", ":"), model.replace(":", "/"))}
    return sorted(ids | variants | {"gpt-4o", "platform/anything", "x" * 256, "<script>", " GLM-4.6 "})


def test_lookup_shows_registry_check_for_every_runtime(server: Server) -> None:
    with server.client() as client:
        for model in _lookup_ids():
            page = client.get("/ui/lookup", params={"model": model})
            assert page.status_code == 200, model
            rows = dict(re.findall(r'<tr data-runtime="([^"]+)" data-allowed="(yes|no)">', page.text))
            expected = {rt: "yes" if REGISTRY.check(rt, model).allowed else "no" for rt in REGISTRY.runtimes}
            assert rows == expected, model
            codes = re.findall(r'data-field="code">([A-Z_]+)<', page.text)
            refused = [REGISTRY.check(rt, model).code for rt in REGISTRY.runtimes if expected[rt] == "no"]
            assert codes == [code.value for code in refused if code is not None], model
            assert "<script>" not in page.text.split("<main", 1)[1], "ids are escaped"


def test_lookup_refuses_an_id_longer_than_the_api_accepts(server: Server) -> None:
    with server.client() as client:
        page = client.get("/ui/lookup", params={"model": "x" * 257})
    assert page.status_code == 400 and "at most 256 characters" in page.text
    assert 'data-allowed="' not in page.text


def test_console_pages_stay_out_of_the_openapi_schema(server: Server) -> None:
    with server.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/ui")]


def test_registry_page_serves_the_live_fingerprint(server: Server) -> None:
    with server.client() as client:
        page = client.get("/ui/registry").text
        fingerprint = client.get("/registry").json()["fingerprint"]
    assert f'<code id="fingerprint">{fingerprint}</code>' in page
    assert fingerprint == Registry.load().fingerprint


def test_open_service_needs_no_sign_in(server: Server) -> None:
    with server.client() as client:
        response = client.get("/ui/login", params={"next": "/ui/drift"})
    assert response.status_code == 303 and response.headers["location"] == "/ui/drift"


# --- with ROUTEGATE_API_TOKEN ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/ui/workspaces", "/ui/workspaces/0000"])
def test_workspace_pages_ask_for_the_token(token_server: Server, path: str) -> None:
    with token_server.client() as client:
        response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/login?next=")


@pytest.mark.parametrize("path", ["/ui/registry", "/ui/drift"])
def test_registry_views_stay_open_like_the_registry_api(token_server: Server, path: str) -> None:
    with token_server.client() as client:
        assert client.get(path).status_code == 200


def test_wrong_token_is_refused_and_sets_no_cookie(token_server: Server) -> None:
    with token_server.client() as client:
        response = _login(client, API_TOKEN + "x")
    assert response.status_code == 401
    assert 'id="login-error"' in response.text and "not the service" in response.text
    assert session.COOKIE_NAME not in response.headers.get("set-cookie", "")


def test_login_sets_an_httponly_strict_cookie_that_opens_the_api(token_server: Server) -> None:
    with token_server.client() as client:
        response = _login(client, API_TOKEN, "/ui/workspaces")
        assert response.status_code == 303 and response.headers["location"] == "/ui/workspaces"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{session.COOKIE_NAME}=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert API_TOKEN not in cookie
        assert client.get("/ui/workspaces").status_code == 200
        assert client.get("/workspaces").status_code == 200


def test_unsafe_request_with_cookie_but_no_csrf_token_is_refused(token_server: Server) -> None:
    body = {"name": "csrf probe", "runtime": "claude-code", "model": "GLM-4.6"}
    with token_server.client() as client:
        _login(client, API_TOKEN)
        refused = client.post("/workspaces", json=body)
        assert refused.status_code == 403
        assert refused.json()["code"] == session.CsrfRefused.code
        forged = client.post("/workspaces", json=body, headers={session.CSRF_HEADER: "0" * 64})
        assert forged.status_code == 403
        created = client.post("/workspaces", json=body, headers={session.CSRF_HEADER: _csrf(client)})
        assert created.status_code == 201, created.text
        names = [w["name"] for w in client.get("/workspaces", params={"limit": 100}).json()["items"]]
    assert names.count("csrf probe") == 1, "the refused requests created nothing"


def test_bearer_token_still_works_without_csrf(token_server: Server) -> None:
    with token_server.client(headers=token_server.bearer()) as client:
        assert client.get("/workspaces").status_code == 200
    with token_server.client() as client:
        assert client.get("/workspaces").status_code == 401


def test_tampered_or_foreign_cookie_is_not_a_session(token_server: Server) -> None:
    with token_server.client() as client:
        _login(client, API_TOKEN)
        value = client.cookies[session.COOKIE_NAME]
    issued, nonce, signature = value.split(".")
    forged = {
        "later issue time": f"{int(issued) + 60}.{nonce}.{signature}",
        "flipped signature": f"{issued}.{nonce}.{signature[:-1]}{'0' if signature[-1] != '0' else '1'}",
        "signed by another token": session.issue("some-other-token"),
    }
    for what, cookie in forged.items():
        with token_server.client(cookies={session.COOKIE_NAME: cookie}) as client:
            assert client.get("/workspaces").status_code == 401, what
            assert client.get("/").status_code == 303, what


def test_login_from_another_origin_is_refused(token_server: Server) -> None:
    with token_server.client() as client:
        response = client.post(
            "/ui/login", data={"token": API_TOKEN, "next": "/"}, headers={"Origin": "http://evil.example"}
        )
    assert response.status_code == 403
    assert session.COOKIE_NAME not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_login_never_redirects_off_site(token_server: Server, target: str) -> None:
    with token_server.client() as client:
        response = _login(client, API_TOKEN, target)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_oversized_login_form_is_refused(token_server: Server) -> None:
    with token_server.client() as client:
        response = client.post("/ui/login", data={"token": API_TOKEN, "pad": "x" * 10_000})
    assert response.status_code == 413
    assert session.COOKIE_NAME not in response.headers.get("set-cookie", "")


def test_sign_out_needs_the_csrf_token_and_clears_the_cookie(token_server: Server) -> None:
    with token_server.client() as client:
        _login(client, API_TOKEN)
        assert client.post("/ui/logout").status_code == 403
        assert client.get("/workspaces").status_code == 200
        response = client.post("/ui/logout", data={"csrf_token": _csrf(client)})
        assert response.status_code == 303
        assert client.get("/workspaces").status_code == 401


# --- the session value itself ---------------------------------------------------------------


def test_session_expires() -> None:
    now = float(int(time.time()))  # sessions count whole seconds
    value = session.issue("t", now=now)
    assert session.valid_session("t", value, now=now + session.SESSION_SECONDS)
    assert not session.valid_session("t", value, now=now + session.SESSION_SECONDS + 1)
    assert not session.valid_session("t", value, now=now - 5), "a session from the future is forged"


def test_changing_the_token_ends_sessions_and_their_csrf_tokens() -> None:
    value = session.issue("old")
    assert session.valid_session("old", value) and not session.valid_session("new", value)
    assert session.csrf_token("old", value) != session.csrf_token("new", value)
    assert session.csrf_token("old", value) != session.csrf_token("old", session.issue("old"))


@pytest.mark.parametrize("value", ["", "a.b", "1.2.3.4", "x" * 300, "abc.def.0123", "-5.n.sig"])
def test_malformed_session_values_are_rejected(value: str) -> None:
    assert not session.valid_session("t", value)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ui/workspaces?cursor=5&page=abc", 200),
        ("/ui/workspaces?page=" + "9" * 600, 200),
        ("/ui/workspaces?older_than=" + "9" * 600, 200),
        ("/ui/workspaces?newer_than=-1&older_than=x", 200),
        ("/ui/workspaces?q=%00ab&provider=%00&q=%F0%9F", 200),
        ("/ui/workspaces?billing=%00&runtime=" + "r" * 100, 200),
        ("/ui/workspaces/" + "x" * 300, 404),
        ("/ui/runtimes/not-a-runtime", 404),
        ("/ui/lookup?model=%00%01", 200),
    ],
)
def test_hand_edited_console_urls_get_a_page_not_an_error(server: Server, path: str, status: int) -> None:
    with server.client() as client:
        response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
