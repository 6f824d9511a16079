"""``GET /metrics``: Prometheus text over real HTTP, on SQLite and PostgreSQL, and merged across workers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from routegate.service import Settings
from routegate.service.metrics import ENV_MULTIPROC_DIR

from .conftest import BACKENDS, PATIENCE_S, LiveServer, database_url, free_port
from .test_cli import HERMES_OK, serving
from .test_lifecycle import _with_extra_hermes_model

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(http: httpx.Client, **headers: str) -> Samples:
    answer = http.get("/metrics", headers=headers)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (sample, _), v in samples.items() if sample == name)


def manifests_in_use(samples: Samples) -> list[str]:
    return [
        dict(labels)["fingerprint"]
        for (name, labels), v in samples.items()
        if name == "routegate_manifest_info" and v == 1
    ]


@pytest.fixture(params=BACKENDS)
def live(request: pytest.FixtureRequest, tmp_path: Path, manifest_copy: Path) -> Iterator[LiveServer]:
    for url in database_url(request.param, tmp_path):
        server = LiveServer(Settings(database_url=url, manifest=manifest_copy)).start()
        try:
            yield server
        finally:
            server.stop()
            server.state.close()


def test_decisions_are_counted_by_runtime_and_outcome_and_creates_are_timed(live: LiveServer) -> None:
    stranger = f"no-such-runtime-{uuid.uuid4().hex}"
    with live.client() as http:
        before = scrape(http)
        created = [http.post("/workspaces", json={"name": f"m{i}", **HERMES_OK}) for i in range(3)]
        assert all(answer.status_code == 201 for answer in created)
        refused = [
            http.post("/workspaces", json={"name": "r", "runtime": "hermes", "model": m}) for m in ("gpt-4o", "x/y")
        ]
        assert all(answer.json()["code"] == "UNREGISTERED_MODEL_FOR_RUNTIME" for answer in refused)
        unknown = http.post("/workspaces", json={"name": "u", "runtime": stranger, "model": "gpt-4o"})
        assert unknown.json()["code"] == "RUNTIME_UNSUPPORTED"
        changed = http.put(f"/workspaces/{created[0].json()['id']}/model", json={"model": "moonshot/kimi-k2.6"})
        assert changed.status_code == 200
        invalid = http.post("/workspaces", json={"runtime": "hermes"})  # no name: 400, never reaches the gates
        assert invalid.status_code == 400
        after = scrape(http)

    def delta(**labels: str) -> float:
        return value(after, "routegate_decisions_total", **labels) - value(
            before, "routegate_decisions_total", **labels
        )

    assert delta(runtime="hermes", outcome="admitted") == 4
    assert delta(runtime="hermes", outcome="UNREGISTERED_MODEL_FOR_RUNTIME") == 2
    assert delta(runtime="other", outcome="RUNTIME_UNSUPPORTED") == 1
    assert total(after, "routegate_decisions_total") - total(before, "routegate_decisions_total") == 7
    assert not any(stranger in str(labels) for _, labels in after)  # a client cannot mint label values
    # Every POST /workspaces is timed, whatever it answered.
    count = "routegate_create_seconds_count"
    assert value(after, count) - value(before, count) == 7
    assert value(after, "routegate_create_seconds_bucket", le="+Inf") == value(after, count)
    assert manifests_in_use(after) == [live.state.registry.fingerprint]


def test_the_manifest_gauge_follows_a_reload(live: LiveServer, manifest_copy: Path) -> None:
    with live.client() as http:
        old = http.get("/registry").json()["fingerprint"]
        old_version = str(http.get("/healthz").json()["manifest_version"])
        assert manifests_in_use(scrape(http)) == [old]
        manifest_copy.write_text(_with_extra_hermes_model(manifest_copy.read_text(), "moonshot/kimi-k3-preview"))
        new = http.post("/registry/reload").json()["fingerprint"]
        samples = scrape(http)
    assert new != old and manifests_in_use(samples) == [new]
    assert value(samples, "routegate_manifest_info", version=old_version, fingerprint=old, schema_version="1") == 0


def test_database_errors_are_counted_by_kind(live: LiveServer) -> None:
    with live.client() as http:
        before = total(scrape(http), "routegate_database_errors_total")
        with live.state.database.engine.begin() as connection:
            connection.execute(text("DROP TABLE decisions"))
        # A 500 (PostgreSQL's missing table) ends the connection: ask on one of its own.
        broken = http.get("/decisions", headers={"Connection": "close"})
        samples = scrape(http)
    assert (broken.status_code, broken.json()["code"]) in {(503, "DATABASE_UNAVAILABLE"), (500, "INTERNAL")}
    errors = {
        dict(labels)["kind"]: v for (name, labels), v in samples.items() if name == "routegate_database_errors_total"
    }
    assert total(samples, "routegate_database_errors_total") - before >= 1
    assert set(errors) <= {"OperationalError", "ProgrammingError"}


WORKER = """
import sys
from routegate.service.metrics import Metrics

metrics = Metrics()
metrics.show_manifest(1, sys.argv[1], 1)
metrics.decisions.labels("hermes", "admitted").inc()
metrics.create_seconds.observe(0.002)
if sys.argv[2] == "scrape":
    sys.stdout.write(metrics.exposition().decode())
"""


def test_a_worker_that_exits_leaves_its_counts_but_not_its_manifest(tmp_path: Path) -> None:
    """What a reload under --workers N does: old workers exit, fresh ones load the new manifest."""
    samples_dir = tmp_path / "samples"
    samples_dir.mkdir()
    env = {**os.environ, ENV_MULTIPROC_DIR: str(samples_dir)}
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")

    def worker(fingerprint: str, scrape: str) -> str:
        done = subprocess.run(
            [sys.executable, str(script), fingerprint, scrape], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    for old in ("0" * 16, "1" * 16):
        worker(old, "exit")
    exposition = worker("2" * 16, "scrape")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }
    assert manifests_in_use(samples) == ["2" * 16]
    assert not any(dict(labels).get("fingerprint") in ("0" * 16, "1" * 16) for _, labels in samples)
    assert value(samples, "routegate_decisions_total", runtime="hermes", outcome="admitted") == 3
    assert value(samples, "routegate_create_seconds_count") == 3


def _worker_pids(log: Path) -> list[str]:
    return re.findall(r"Started server process \[(\d+)\]", log.read_text())


def test_several_workers_report_one_merged_view_and_json_logs(tmp_path: Path, manifest_copy: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    database = f"sqlite:///{tmp_path / 'w.db'}"
    args = ["--port", str(port), "--workers", "2", "--database-url", database, "--manifest", str(manifest_copy)]
    once = {"Connection": "close"}  # a new connection each time, so both workers answer
    with serving(*args, "--log-format", "json", cwd=tmp_path, port=port) as process:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + PATIENCE_S
            while len(_worker_pids(log)) < 2:
                assert time.monotonic() < deadline, f"two workers did not start:\n{log.read_text()}"
                time.sleep(0.1)
            samples_dir = Path(re.findall(r"metrics of 2 workers kept in ([^\"]+)", log.read_text())[0])
            for i in range(8):
                assert http.post("/workspaces", json={"name": f"w{i}", **HERMES_OK}, headers=once).status_code == 201
            views = [scrape(http, **once) for _ in range(6)]
            # Each scrape, whichever worker answered it, counts every worker's creates.
            assert {value(v, "routegate_decisions_total", runtime="hermes", outcome="admitted") for v in views} == {8}
            assert {value(v, "routegate_create_seconds_count") for v in views} == {8}
            assert len(list(samples_dir.glob("gauge_livemax_*.db"))) == 2  # both workers write there
            fingerprint = http.get("/registry").json()["fingerprint"]
            assert {tuple(manifests_in_use(v)) for v in views} == {(fingerprint,)}
        assert process.poll() is None
    assert not samples_dir.exists()  # serve removed its metrics folder
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= record.keys() for record in records)
    access = [r for r in records if r["logger"] == "uvicorn.access" and r.get("path") == "/metrics"]
    assert access and all(r["status"] == 200 and r["method"] == "GET" for r in access)


@pytest.mark.parametrize("access_log", [True, False], ids=["default", "no-access-log"])
def test_the_access_log_has_a_line_per_request_but_a_receipted_call_unless_told_not_to(
    tmp_path: Path, access_log: bool
) -> None:
    port = free_port()
    flags = [] if access_log else ["--no-access-log"]
    args = ["--port", str(port), "--database-url", f"sqlite:///{tmp_path / 'a.db'}", "--log-format", "json", *flags]
    with serving(*args, cwd=tmp_path, port=port), httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        created = http.post("/workspaces", json={"name": "logged", **HERMES_OK})
        token = http.post(f"/workspaces/{created.json()['id']}/call-tokens", json={}).json()["token"]
        model = HERMES_OK["model"]
        assert http.post("/calls/authorize", json={"token": token, "model": model}).status_code == 200
        assert http.post("/calls/authorize", json={"token": token, "model": "openai/gpt-4o"}).status_code == 403
        assert http.post("/calls/authorize", json={"token": "rgc_unknown", "model": model}).status_code == 401
    records = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines() if line.strip()]
    lines = [(r["method"], r["path"], r["status"]) for r in records if r["logger"] == "uvicorn.access"]
    if access_log:  # a call with a receipt (200 or 403) has that instead of a line
        assert ("POST", "/workspaces", 201) in lines and ("POST", "/calls/authorize", 401) in lines
        assert [line for line in lines if line[1] == "/calls/authorize"] == [("POST", "/calls/authorize", 401)]
    else:
        assert lines == []
    assert any(r["logger"] == "routegate.service" and "routegate on" in r["message"] for r in records)
