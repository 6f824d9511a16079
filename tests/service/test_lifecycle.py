"""The service over time: concurrent creates, restarts, the token, reloads, and a database outage."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import MappingProxyType

import httpx
import pytest

from routegate.manifest import Arm, Manifest, Provider, Runtime
from routegate.registry import Registry
from routegate.service import Settings

from .conftest import PATIENCE_S, REPO, LiveServer, database_url, free_port, postgres_base_url

HERMES_OK = {"runtime": "hermes", "model": "kimi-coding/kimi-k2"}


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_url(request.param, tmp_path)


# --- names under concurrency ---------------------------------------------------------------------------


def test_forty_concurrent_same_name_creates_get_forty_names(fresh_url: str) -> None:
    server = LiveServer(Settings(database_url=fresh_url, name_suffix_limit=100)).start()
    try:
        barrier = threading.Barrier(40)
        clients = [server.client() for _ in range(40)]

        def create(http: httpx.Client) -> httpx.Response:
            barrier.wait()
            return http.post("/workspaces", json={"name": "crowd", **HERMES_OK})

        with ThreadPoolExecutor(40) as pool:
            responses = list(pool.map(create, clients))
        assert [r.status_code for r in responses] == [201] * 40, [r.text for r in responses if r.status_code != 201]
        names = sorted(r.json()["name"] for r in responses)
        assert names == sorted(["crowd"] + [f"crowd ({n})" for n in range(2, 41)])
        assert server.count("workspaces") == 40
        for http in clients:
            http.close()
    finally:
        server.stop()


# --- restarts --------------------------------------------------------------------------------------------


def test_restart_keeps_every_row(fresh_url: str) -> None:
    settings = Settings(database_url=fresh_url)
    first = LiveServer(settings).start()
    with first.client() as http:
        created = [http.post("/workspaces", json={"name": f"keep-{i % 3}", **HERMES_OK}).json() for i in range(12)]
        http.post("/workspaces", json={"name": "refused", "runtime": "hermes", "model": "gpt-4o"})
        decisions_before = http.get("/decisions", params={"limit": 200}).json()["items"]
    first.stop()

    second = LiveServer(settings).start()
    try:
        with second.client() as http:
            listed = http.get("/workspaces", params={"limit": 200}).json()["items"]
            assert listed == created
            assert http.get("/decisions", params={"limit": 200}).json()["items"] == decisions_before
            # Names keep counting from what the database holds, not from memory.
            assert http.post("/workspaces", json={"name": "keep-0", **HERMES_OK}).json()["name"] == "keep-0 (5)"
    finally:
        second.stop()


# --- the token -----------------------------------------------------------------------------------------------


def test_token_guards_workspaces_and_decisions_only(tmp_path: Path) -> None:
    token = "s3cret-token-for-tests"
    server = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'token.db'}", api_token=token)).start()
    try:
        with server.client() as anonymous, server.client(token) as owner, server.client("wrong") as stranger:
            existing = owner.post("/workspaces", json={"name": "existing", **HERMES_OK}).json()["id"]
            counts = server.counts()
            for http in (anonymous, stranger):
                for method, path, body in (
                    ("POST", "/workspaces", {"name": "x", **HERMES_OK}),
                    ("GET", "/workspaces", None),
                    ("GET", f"/workspaces/{existing}", None),
                    ("DELETE", f"/workspaces/{existing}", None),
                    ("PUT", f"/workspaces/{existing}/model", {"model": "gpt-4o"}),
                    ("GET", f"/workspaces/{existing}/runtime-env", None),
                    ("GET", "/decisions", None),
                    ("GET", f"/decisions?workspace_id={existing}", None),
                    ("POST", "/registry/reload", None),
                ):
                    response = http.request(method, path, json=body)
                    assert response.status_code == 401, (method, path)
                    assert response.json()["code"] == "UNAUTHORIZED"
                    assert response.headers["www-authenticate"] == "Bearer"
            assert server.counts() == counts, "a refused caller changed something (or was logged)"
            assert owner.get(f"/workspaces/{existing}").json()["model"] == HERMES_OK["model"]
            assert anonymous.get("/workspaces", headers={"Authorization": token}).status_code == 401  # no scheme
            for path in ("/registry", "/registry/runtimes/hermes", "/templates", "/healthz", "/openapi.json"):
                assert anonymous.get(path).status_code == 200, path
            assert anonymous.post("/registry/check", json={"runtime": "hermes", "model": "gpt-4o"}).status_code == 200
            assert owner.post("/workspaces", json={"name": "mine", **HERMES_OK}).status_code == 201
            assert owner.get("/decisions").status_code == 200
            assert owner.post("/registry/reload").status_code == 200
    finally:
        server.stop()


# --- reloading the manifest -------------------------------------------------------------------------------------


def _with_extra_hermes_model(original: str, model: str) -> str:
    anchor = "      - name: platform\n        models:\n          - moonshot/kimi-k2.6\n"
    hermes = original.index("  hermes:\n")
    at = original.index(anchor, hermes) + len(anchor)
    return original[:at] + f"          - {model}\n" + original[at:]


def test_reload_swaps_valid_manifests_and_keeps_the_old_on_invalid(tmp_path: Path, manifest_copy: Path) -> None:
    original = manifest_copy.read_text()
    server = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'reload.db'}", manifest=manifest_copy)).start()
    try:
        with server.client() as http:
            before = http.get("/registry").json()["fingerprint"]
            new_model = "moonshot/kimi-k3-preview"
            assert (
                http.post("/workspaces", json={"name": "n", "runtime": "hermes", "model": new_model}).status_code == 422
            )

            manifest_copy.write_text(_with_extra_hermes_model(original, new_model))
            reloaded = http.post("/registry/reload").json()
            assert reloaded["changed"] and reloaded["previous_fingerprint"] == before
            assert http.get("/registry").json()["fingerprint"] == reloaded["fingerprint"]
            created = http.post("/workspaces", json={"name": "n", "runtime": "hermes", "model": new_model})
            assert created.status_code == 201 and created.json()["billing_mode"] == "platform_managed"
            assert created.json()["manifest_fingerprint"] == reloaded["fingerprint"]

            manifest_copy.write_text("schema_version: 2\nproviders: []\n")
            refused = http.post("/registry/reload")
            assert refused.status_code == 422
            assert refused.json()["code"] == "INVALID_MANIFEST" and refused.json()["problems"]
            assert http.get("/registry").json()["fingerprint"] == reloaded["fingerprint"]
            assert (
                http.post("/workspaces", json={"name": "n", "runtime": "hermes", "model": new_model}).status_code == 201
            )
    finally:
        server.stop()


def test_requests_in_flight_never_fail_across_reloads(tmp_path: Path, manifest_copy: Path) -> None:
    original = manifest_copy.read_text()
    variants = [_with_extra_hermes_model(original, "moonshot/kimi-k3-preview"), original, "not: [valid"]
    server = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'load.db'}", manifest=manifest_copy)).start()
    stop = threading.Event()
    statuses: list[int] = []

    def load() -> None:
        with server.client() as http:
            while not stop.is_set():
                statuses.append(http.post("/workspaces", json={"name": "busy", **HERMES_OK}).status_code)
                statuses.append(http.post("/registry/check", json={"runtime": "hermes", "model": "gpt-4o"}).status_code)

    workers = [threading.Thread(target=load) for _ in range(4)]
    try:
        for worker in workers:
            worker.start()
        outcomes = []
        with server.client() as http:
            for round_ in range(12):
                manifest_copy.write_text(variants[round_ % 3])
                outcomes.append(http.post("/registry/reload").status_code)
                time.sleep(0.05)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
        server.stop()
    assert outcomes == [200, 200, 422] * 4
    assert len(statuses) > 40
    assert set(statuses) == {201, 200}, sorted(set(statuses))


# --- decisions the bundled manifest cannot produce -------------------------------------------------------------


def _ambiguous_manifest(original: str) -> str:
    extra = "".join(
        f"""  - name: {name}
    display_name: "{name}"
    protocol: openai
    auth_mode: third_party_anthropic_compat
    base_url_template: "https://{name}.example/v1"
    auth_env: [{env}]
    model_prefix_match: "^dup/"
"""
        for name, env in (("twin-a", "TWIN_A_KEY"), ("twin-b", "TWIN_B_KEY"))
    )
    text = original.replace("providers:\n", "providers:\n" + extra, 1)
    arms = "  hermes:\n    providers:\n"
    return text.replace(arms, arms + "      - name: twin-a\n      - name: twin-b\n", 1)


def test_ambiguous_model_names_the_candidates(tmp_path: Path, manifest_copy: Path) -> None:
    manifest_copy.write_text(_ambiguous_manifest(manifest_copy.read_text()))
    server = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'amb.db'}", manifest=manifest_copy)).start()
    try:
        with server.client() as http:
            before = server.counts()
            response = http.post("/workspaces", json={"name": "a", "runtime": "hermes", "model": "dup/model"})
            assert response.status_code == 422
            assert response.json()["code"] == "AMBIGUOUS_MODEL_FOR_RUNTIME"
            assert sorted(response.json()["candidates"]) == ["twin-a", "twin-b"]
            assert server.counts() == (before[0], before[1] + 1)
            logged = http.get("/decisions").json()["items"][-1]
            assert (logged["code"], logged["model"], sorted(logged["candidates"])) == (
                "AMBIGUOUS_MODEL_FOR_RUNTIME",
                "dup/model",
                ["twin-a", "twin-b"],
            )
            # The workspace's auth env settles the tie (derive step 5).
            settled = http.post(
                "/workspaces", json={"name": "a", "runtime": "hermes", "model": "dup/model", "auth_env": ["TWIN_B_KEY"]}
            )
            assert settled.status_code == 201 and settled.json()["provider"] == "twin-b"
    finally:
        server.stop()


def test_derived_provider_missing_from_the_catalog(tmp_path: Path) -> None:
    """Provider in the catalog: only a merged or hand-built registry can derive a provider its catalog lacks."""
    server = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'g8.db'}")).start()
    try:
        bundled = server.state.registry.manifest
        ghost = Provider("ghost", "Ghost", "openai", "oauth", ("GHOST_KEY",), "^ghost/")
        runtimes = dict(bundled.runtimes)
        runtimes["hermes"] = Runtime("hermes", (*runtimes["hermes"].arms, Arm(ghost)))
        server.state.registry = Registry(Manifest(1, bundled.providers, MappingProxyType(runtimes), "merged"))
        with server.client() as http:
            before = server.counts()
            response = http.post("/workspaces", json={"name": "g", "runtime": "hermes", "model": "ghost/one"})
            assert response.status_code == 422
            assert response.json()["code"] == "DERIVED_PROVIDER_NOT_IN_REGISTRY"
            assert response.json()["provider"] == "ghost"
            assert server.counts() == (before[0], before[1] + 1)
    finally:
        server.stop()


def test_template_symlink_out_of_the_root_is_400(tmp_path: Path, templates_copy: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.yaml").write_text("runtime: hermes\nruntime_config:\n  model: kimi-coding/kimi-k2\n")
    (templates_copy / "escape").symlink_to(outside)
    (templates_copy / "no-runtime").mkdir()
    (templates_copy / "no-runtime" / "config.yaml").write_text("runtime_config:\n  model: sonnet\n")
    (templates_copy / "odd-runtime").mkdir()
    (templates_copy / "odd-runtime" / "config.yaml").write_text("runtime: nope\nruntime_config:\n  model: some/model\n")
    server = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'tpl.db'}", templates=templates_copy)).start()
    try:
        with server.client() as http:
            before = server.count("workspaces")
            escaped = http.post("/workspaces", json={"name": "t", "template": "escape"})
            assert escaped.status_code == 400 and escaped.json()["code"] == "INVALID_TEMPLATE"
            unresolved = http.post("/workspaces", json={"name": "t", "template": "no-runtime"})
            assert unresolved.status_code == 422 and unresolved.json()["code"] == "RUNTIME_UNRESOLVED"
            unsupported = http.post("/workspaces", json={"name": "t", "template": "odd-runtime"})
            assert unsupported.status_code == 422 and unsupported.json()["code"] == "RUNTIME_UNSUPPORTED"
            assert server.count("workspaces") == before
            # The log keeps what the template filled in, not just the (empty) body.
            rows = http.get("/decisions").json()["items"][-2:]
            assert [(d["code"], d["template"], d["runtime"], d["model"]) for d in rows] == [
                ("RUNTIME_UNRESOLVED", "no-runtime", None, "sonnet"),
                ("RUNTIME_UNSUPPORTED", "odd-runtime", "nope", "some/model"),
            ]
            assert http.post("/workspaces", json={"name": "t", "template": "hermes"}).status_code == 201
    finally:
        server.stop()


# --- a database outage ---------------------------------------------------------------------------------------------


def _cluster(action: str, port: int, folder: Path) -> str:
    env = {**os.environ, "ROUTEGATE_PG_PORT": str(port), "ROUTEGATE_PG_DIR": str(folder)}
    done = subprocess.run(
        [str(REPO / "scripts" / "postgres.sh"), action], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_database_outage_gives_503_then_recovers(caplog: pytest.LogCaptureFixture) -> None:
    """A private PostgreSQL cluster (scripts/postgres.sh on its own port) is stopped under the service."""
    postgres_base_url()  # the same skip-or-fail rule as every PostgreSQL test
    port = free_port()
    folder = Path(f"/var/tmp/routegate-outage-{uuid.uuid4().hex[:8]}")
    url = _cluster("start", port, folder)
    server = None
    try:
        server = LiveServer(Settings(database_url=url)).start()
        with server.client() as http:
            kept = http.post("/workspaces", json={"name": "before", **HERMES_OK})
            assert kept.status_code == 201
            fingerprint = http.get("/registry").json()["fingerprint"]

            _cluster("stop", port, folder)
            health = http.get("/healthz")
            assert health.status_code == 503
            assert health.headers["retry-after"] == "1"
            assert health.json() == {
                "error": "database unreachable",
                "code": "DATABASE_UNAVAILABLE",
                "status": "unavailable",
                "database": "unreachable",
                "reason": "database unreachable",
                "manifest_fingerprint": fingerprint,
            }  # the driver's text (host, port, user) goes to the log only
            assert f"port {port}" in caplog.text and "health check: database unreachable" in caplog.text
            down = http.post("/workspaces", json={"name": "during", **HERMES_OK})
            assert down.status_code == 503 and down.json()["code"] == "DATABASE_UNAVAILABLE"
            assert http.get("/workspaces").status_code == 503
            assert http.get("/registry").status_code == 200  # what needs no database still answers

            _cluster("start", port, folder)
            deadline = time.monotonic() + PATIENCE_S
            while http.get("/healthz").status_code != 200:
                assert time.monotonic() < deadline, "no recovery after the database came back"
                time.sleep(0.2)
            assert http.post("/workspaces", json={"name": "after", **HERMES_OK}).status_code == 201
            names = [w["name"] for w in http.get("/workspaces").json()["items"]]
            assert names == ["before", "after"]
    finally:
        if server is not None:
            server.stop()
        _cluster("stop", port, folder)
        shutil.rmtree(folder, ignore_errors=True)


def test_runtime_env_after_the_provider_left_the_registry(tmp_path: Path) -> None:
    server = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'gone.db'}")).start()
    try:
        with server.client() as http:
            created = http.post(
                "/workspaces",
                json={"name": "r", "runtime": "hermes", "model": "openrouter/anthropic/claude-3.5-sonnet"},
            ).json()
            assert http.get(f"/workspaces/{created['id']}/runtime-env").json()["provider"] == "openrouter"

            bundled = server.state.registry.manifest
            providers = {name: p for name, p in bundled.providers.items() if name != "openrouter"}
            runtimes = {
                name: Runtime(name, tuple(arm for arm in runtime.arms if arm.provider.name != "openrouter"))
                for name, runtime in bundled.runtimes.items()
            }
            server.state.registry = Registry(
                Manifest(1, MappingProxyType(providers), MappingProxyType(runtimes), "trimmed")
            )
            gone = http.get(f"/workspaces/{created['id']}/runtime-env")
            assert gone.status_code == 422
            assert gone.json()["code"] == "DERIVED_PROVIDER_NOT_IN_REGISTRY" and gone.json()["provider"] == "openrouter"
            # The core's provider-in-the-catalog gate (catalog_provider) refuses it, naming what the workspace routes.
            assert (gone.json()["runtime"], gone.json()["model"]) == ("hermes", created["model"])
    finally:
        server.stop()


# --- DNS rebinding -------------------------------------------------------------------------------------------------


def test_without_a_token_only_loopback_host_names_are_answered(tmp_path: Path) -> None:
    """A rebound name reaches 127.0.0.1 but still sends its own Host: refused, in the API's error shape."""
    server = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'host.db'}")).start()
    try:
        with server.client() as http:
            counts = server.counts()
            for path in ("/workspaces", "/", "/healthz"):
                refused = http.get(path, headers={"Host": "attacker.example"})
                assert refused.status_code == 400, path
                assert refused.headers["content-type"] == "application/json"
                assert refused.json()["code"] == "HOST_NOT_ALLOWED" and "attacker.example" in refused.json()["error"]
            posted = http.post("/workspaces", json={"name": "x", **HERMES_OK}, headers={"Host": "attacker.example:80"})
            assert posted.status_code == 400 and posted.json()["code"] == "HOST_NOT_ALLOWED"
            assert server.counts() == counts
            for host in ("127.0.0.1", f"127.0.0.1:{server.port}", f"localhost:{server.port}", "[::1]:1"):
                assert http.get("/workspaces", headers={"Host": host}).status_code == 200, host
    finally:
        server.stop()
    guarded = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'host2.db'}", api_token="t0ken")).start()
    try:  # with a token the caller proves itself, so any name may reach it (a proxy, a LAN name)
        with guarded.client("t0ken") as http:
            assert http.get("/workspaces", headers={"Host": "routegate.internal"}).status_code == 200
    finally:
        guarded.stop()


# --- templates on disk -----------------------------------------------------------------------------------------------


def test_templates_folder_removed_under_the_service(tmp_path: Path, templates_copy: Path) -> None:
    (templates_copy / "broken").mkdir()
    (templates_copy / "broken" / "config.yaml").write_text("runtime: [unclosed\n")
    server = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'gone.db'}", templates=templates_copy)).start()
    try:
        with server.client() as http:
            answer = http.get("/templates")
            assert answer.status_code == 200
            assert [p["name"] for p in answer.json()["problems"]] == ["broken"]
            assert answer.json()["problems"][0]["error"].startswith("cannot read broken/config.yaml: ")
            assert "hermes" in {t["name"] for t in answer.json()["templates"]}
            assert str(tmp_path) not in answer.text

            shutil.rmtree(templates_copy)
            for path in ("/templates", "/ui/drift", "/"):
                response = http.get(path)
                assert response.status_code == 200, (path, response.text[:300])
                assert str(tmp_path) not in response.text, path
            gone = http.get("/templates").json()
            assert gone["templates"] == [] and [p["name"] for p in gone["problems"]] == ["<templates>"]
            assert "&lt;templates&gt;" in http.get("/ui/drift").text
    finally:
        server.stop()
