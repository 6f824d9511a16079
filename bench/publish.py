"""How long a create waits while another instance publishes, as the fleet grows.

    .venv/bin/python bench/publish.py [--sizes 10000 100000] [--rounds 5] [--postgres URL] [--smoke]

For each backend (a SQLite file; PostgreSQL when --postgres names a server, where
a fresh database is made for the run and dropped after) and each size, it stores
that many workspaces and their decisions (bulk-inserted with the store's own
INSERT statements; they cycle over every model the bundled manifest's menus
offer, with and without a tenant key: about a hundred kinds of workspace) and
serves the database with two `routegate serve` processes. In rounds, one client
creates workspaces on the first instance back to back while the second answers
a dry-run publish, then a real publish (of a manifest that adds a model, so it
passes the gate and switches). The figure is the longest any create waited
while the publish ran; the publish's own duration is printed beside it, and so
is the control: the longest create over as long a spell with no publish running
(what the machine alone costs). Medians, min and max over rounds. --smoke: tiny
sizes, two rounds, to check the script runs. Prints JSON, then a short table.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import yaml
from _report import add_smoke_flag, judged, reproduce, verdict
from _serving import add_postgres_flag, free_port, postgres_database, wait_for_health
from _timing import Stats

from routegate.decision import FOREIGN_RUNTIMES
from routegate.manifest import bundled_manifest_path
from routegate.registry import Registry
from routegate.service.db import Database, DecisionRecord, Workspace, utcnow
from routegate.service.inserts import RowInsert
from routegate.service.name_index import index_pending
from routegate.service.publication import VersionStore, candidate

BUNDLED = bundled_manifest_path().read_text()
CREATED = ("hermes", "moonshot/kimi-k2.6")  # what the client creates while a publish runs


def _kinds() -> list[tuple[str, str, list[str], str | None, str | None]]:
    """The kinds of workspace the fleet cycles over: every model each runtime's menu offers under the
    bundled manifest, as decided there, once without a tenant key and once with the env it names."""
    registry = Registry.load(bundled_manifest_path())
    kinds = []
    for runtime in registry.runtimes:
        for model in registry.menu(runtime):
            for auth_env in ([], sorted(registry.check(runtime, model).required_env)):
                decision = registry.check(runtime, model, auth_env)
                if decision.allowed:
                    kinds.append((runtime, model, auth_env, decision.provider_name, decision.billing_value))
    return kinds


STORED = _kinds()
BATCH = 10_000
# The floor, at a million workspaces: the longest a create waits while a publish runs.
WAIT_FLOOR_S = 0.1
_INSERT_WORKSPACE = RowInsert(Workspace.__table__)  # type: ignore[arg-type]
_INSERT_DECISION = RowInsert(DecisionRecord.__table__)  # type: ignore[arg-type]


def _manifest_adding(model: str) -> str:
    """The bundled manifest with one more platform model on hermes: harmless to every stored workspace."""
    doc = yaml.safe_load(BUNDLED)
    next(arm for arm in doc["runtimes"]["hermes"]["providers"] if arm["name"] == "platform")["models"].append(model)
    return yaml.safe_dump(doc, sort_keys=False)


def _fill(url: str, size: int) -> None:
    """Migrate, make the bundled manifest version 1, and store ``size`` workspaces with their decisions."""
    database = Database(url)
    try:
        database.upgrade()
        versions = VersionStore(database, foreign_runtimes=FOREIGN_RUNTIMES)
        first = versions.bootstrap(candidate(BUNDLED, "the bundled manifest"), note="bench")
        now = utcnow()
        for start in range(0, size, BATCH):
            with database.write_connection() as connection:
                for number in range(start, min(start + BATCH, size)):
                    runtime, model, auth_env, provider, billing = STORED[number % len(STORED)]
                    workspace: dict[str, Any] = {
                        "id": str(uuid.uuid4()),
                        "name": f"bench {number}",
                        "parent_id": None,
                        "role": None,
                        "runtime": runtime,
                        "model": model,
                        "template": None,
                        "external": False,
                        "url": None,
                        "provider": provider,
                        "billing_mode": billing,
                        "required_env": [],
                        "auth_env": auth_env,
                        "manifest_fingerprint": first.fingerprint,
                        "manifest_version": first.version,
                        "created_at": now,
                        "updated_at": now,
                    }
                    _INSERT_WORKSPACE.run(connection, workspace)
                    _INSERT_DECISION.run(connection, _decision(workspace))
        if database.engine.dialect.name == "sqlite":  # the queued names indexed, as the service's own thread would
            index_pending(database, batch=BATCH)
    finally:
        database.dispose()


def _decision(workspace: dict[str, Any]) -> dict[str, Any]:
    return {
        "action": "create",
        "admitted": True,
        "code": None,
        "reason": "bench",
        "workspace_id": workspace["id"],
        "runtime": workspace["runtime"],
        "model": workspace["model"],
        "provider": workspace["provider"],
        "billing_mode": workspace["billing_mode"],
        "path": None,
        "template": None,
        "candidates": [],
        "manifest_fingerprint": workspace["manifest_fingerprint"],
        "manifest_version": workspace["manifest_version"],
        "created_at": workspace["created_at"],
    }


@contextmanager
def _serving(url: str, folder: Path) -> Iterator[int]:
    """``routegate serve`` on the database until the block ends; its port."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("ROUTEGATE_")}
    with (folder / f"serve-{port}.log").open("w") as log:
        command = [sys.executable, "-m", "routegate.cli", "serve", "--port", str(port), "--database-url", url]
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_health(port, process, seconds=300)
            yield port
        finally:
            process.terminate()
            process.wait(30)


def _status(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> int | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


def _longest_wait_during(creates_on: int, publishes_on: int, body: dict[str, Any]) -> tuple[float, float]:
    """(longest create, publish duration) in seconds: creates back to back on one keep-alive
    connection from just before the publish is sent until it is answered."""
    began = time.perf_counter()

    def publish() -> None:
        if _status(publishes_on, "POST", "/registry/versions", body) not in (200, 201):
            raise RuntimeError("the publish was not answered 200 or 201")

    wait = _longest_create_while(creates_on, publish)
    return wait, time.perf_counter() - began


def _longest_create_while(creates_on: int, meanwhile: Callable[[], None]) -> float:
    """The longest of the creates sent back to back on one keep-alive connection while ``meanwhile`` runs."""
    stop = threading.Event()
    started = threading.Event()
    waits: list[float] = []

    def create() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", creates_on, timeout=600)
        headers = {"Content-Type": "application/json"}
        while not stop.is_set():
            payload = json.dumps({"name": f"during {uuid.uuid4()}", "runtime": CREATED[0], "model": CREATED[1]})
            began = time.perf_counter()
            connection.request("POST", "/workspaces", body=payload, headers=headers)
            response = connection.getresponse()
            response.read()
            waits.append(time.perf_counter() - began)
            if response.status != 201:
                raise RuntimeError(f"create answered {response.status}")
            started.set()
        connection.close()

    creator = threading.Thread(target=create)
    creator.start()
    started.wait(60)
    try:
        meanwhile()
    finally:
        stop.set()
        creator.join()
    return max(waits)


@contextmanager
def _database(backend: str, folder: Path, postgres: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'bench.db'}"
    else:
        with postgres_database(postgres) as url:
            yield url


def run(backend: str, size: int, rounds: int, postgres: str) -> dict[str, Any]:
    samples: dict[str, list[float]] = {
        "dry run": [],
        "publish": [],
        "dry run took": [],
        "publish took": [],
        "no publish": [],
    }
    with tempfile.TemporaryDirectory() as temporary, ExitStack() as stack:
        folder = Path(temporary)
        url = stack.enter_context(_database(backend, folder, postgres))
        _fill(url, size)
        creates_on = stack.enter_context(_serving(url, folder))
        publishes_on = stack.enter_context(_serving(url, folder))
        for number in range(rounds):
            for kind, dry_run in (("dry run", True), ("publish", False)):
                body = {"manifest": _manifest_adding(f"moonshot/bench-{number}"), "dry_run": dry_run}
                wait, took = _longest_wait_during(creates_on, publishes_on, body)
                samples[kind].append(wait)
                samples[f"{kind} took"].append(took)
            idle = functools.partial(time.sleep, samples["publish took"][-1])  # the control: as long, no publish
            samples["no publish"].append(_longest_create_while(creates_on, idle))
    return {kind: Stats(tuple(values)).seconds() for kind, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=5)
    add_postgres_flag(parser)
    add_smoke_flag(parser)
    args = parser.parse_args()
    sizes, rounds = ([200, 2_000], 2) if args.smoke else (args.sizes, args.rounds)
    backends = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    measured = {
        backend: {str(size): run(backend, size, rounds, args.postgres) for size in sizes} for backend in backends
    }
    floors: list[dict[str, Any]] = [
        {
            "floor": f"{backend}, {size} workspaces: a create waits <= {WAIT_FLOOR_S * 1000:g} ms during a publish",
            "figure": f"{figures['publish']['median_s'] * 1000:.0f} ms",
            "ok": judged(figures["publish"]["median_s"] <= WAIT_FLOOR_S, args.smoke),
        }
        for backend, by_size in measured.items()
        for size, figures in by_size.items()
    ]
    print(
        json.dumps(
            {"smoke": args.smoke, "reproduce": reproduce(), "longest_create_s": measured, "floors": floors}, indent=2
        )
    )
    header = f"{'backend':10} {'workspaces':>10} {'during':10} {'longest create, s (median [min-max])':38}"
    print(f"\n{header} publish took, s")
    for backend, by_size in measured.items():
        for size, figures in by_size.items():
            for kind in ("dry run", "publish", "no publish"):
                wait = figures[kind]
                took = f"{figures[f'{kind} took']['median_s']:.2f}" if f"{kind} took" in figures else ""
                spread = f"{wait['median_s']:.3f} [{wait['min_s']:.3f}-{wait['max_s']:.3f}]"
                print(f"{backend:10} {size:>10} {kind:10} {spread:38} {took}")
    for floor in floors:
        print(f"  {verdict(floor['ok']):10} {floor['floor']}: {floor['figure']}")


if __name__ == "__main__":
    main()
