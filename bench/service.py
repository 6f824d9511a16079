"""POST /workspaces against its ceiling: routegate's creates per second over a bare FastAPI + SQLAlchemy insert.

    .venv/bin/python bench/service.py [--rounds 7] [--requests 400] [--connections 1 8 32] [--warm-up 100]
        [--client python|wrk] [--seconds 2] [--postgres URL] [--baseline CHECKOUT] [--smoke]

For each setup (SQLite with one worker, SQLite with --workers 2, PostgreSQL
with one worker) it serves routegate and the ceiling app (bench/_ceiling.py,
served the way `routegate serve` serves) on loopback side by side, and drives
both with the same keep-alive load generator in interleaved rounds: creates/s
at each number of connections, then latency over one connection. Every figure
is the median over rounds, with its min and max. One create in five names a model id never seen, so the
gate decides it cold. PostgreSQL gets a fresh database for the run, dropped at
the end (--postgres '' skips it). ``--baseline CHECKOUT`` serves another
checkout's routegate (its ``src``, on a database of its own) as a third arm in
the same rounds, so a change is measured side by side with the code before it.
``--client wrk`` sends the throughput rounds' creates from wrk for ``--seconds``
each instead of this process's threads, whose CPU (about a quarter of a
create's on the server) the servers would otherwise share on a small machine.
Then it times the store's part of one create in this process beside a bare
Core insert (CPU and wall time, on SQLite and on PostgreSQL; the wall time less
the CPU is what each waited on PostgreSQL), and beside the same insert of
one workspace row (its table's indexes without the create's other work), and
profiles where the store's time goes. With ``--baseline`` the store's create
is also timed in both trees, each in a fresh process per round on a database
of its own. Prints JSON, then a short table.
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import itertools
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _ceiling import ROWS
from _ceiling import engine as ceiling_engine
from _report import add_smoke_flag, emit, judged, reproduce, verdict
from _serving import add_postgres_flag, free_port, keep_alive_load, postgres_database, wait_for_health, wrk_load
from _timing import Stats, interleave
from sqlalchemy import insert

MODELS = [("hermes", "moonshot/kimi-k2.6"), ("hermes", "openrouter/anthropic/claude-3.5-sonnet"), ("codex", "gpt-5.5")]
JSON = {"Content-Type": "application/json"}
ROUTEGATE = [sys.executable, "-m", "routegate.cli", "serve"]
HERE = str(Path(__file__).parent)
CEILING = [sys.executable, str(Path(HERE) / "_ceiling.py")]


def _body(name: str, number: int) -> str:
    """Create number ``number``'s body: the models in turn, and one create in five a model never seen."""
    runtime, model = MODELS[number % len(MODELS)] if number % 5 else ("hermes", f"openrouter/bench/{name}")
    return json.dumps({"name": name, "runtime": runtime, "model": model})


def _create(connection: http.client.HTTPConnection, name: str, number: int) -> tuple[float, float | None]:
    """One create: client milliseconds, and the gate's share of the app's time when the server reports it."""
    started = time.perf_counter()
    connection.request("POST", "/workspaces", _body(name, number), JSON)
    response = connection.getresponse()
    answer = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 201:
        raise SystemExit(f"a create on port {connection.port} answered {response.status}: {answer[:200]!r}")
    timing = [part.split(";dur=") for part in (response.getheader("server-timing") or "").split(", ") if part]
    spent = {metric: float(ms) for metric, ms in timing}
    return elapsed, spent["gate"] / spent["app"] if "gate" in spent else None


def throughput(port: int, requests: int, connections: int) -> Callable[[], float]:
    """A measure: creates per second over ``connections`` keep-alive connections at once."""

    def create(connection: http.client.HTTPConnection, number: int) -> None:
        _create(connection, uuid.uuid4().hex, number)

    def measure() -> float:
        return keep_alive_load(port, requests, connections, create)[1]

    return measure


def wrk_throughput(port: int, seconds: float, connections: int, folder: Path) -> Callable[[], float]:
    """A measure: creates per second from wrk, a C client in a process of its own, over ``connections``.
    Every create names a workspace never made before; any answer but 201 stops the bench."""

    def measure() -> float:
        names = f"{uuid.uuid4().hex[:12]}-#N#"  # wrk numbers each request
        bodies = [_body(names, number) for number in range(15)]  # the python client's mix of models, in turn
        url = f"http://127.0.0.1:{port}/workspaces"
        run = wrk_load(
            url, seconds=seconds, connections=connections, method="POST", bodies=bodies, headers=JSON, folder=folder
        )
        if set(run.statuses) != {201}:
            raise SystemExit(f"creates on port {port} answered {run.statuses}, not only 201")
        return run.rate

    return measure


def latency(port: int, requests: int, shares: list[float]) -> Callable[[], float]:
    """A measure: the median milliseconds of a create over one connection; adds the gate's shares to ``shares``."""

    def measure() -> float:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        samples = [_create(connection, uuid.uuid4().hex, number) for number in range(requests)]
        connection.close()
        shares.extend(share for _, share in samples if share is not None)
        return statistics.median(ms for ms, _ in samples)

    return measure


@contextmanager
def served(command: list[str], env: dict[str, str], folder: Path) -> Iterator[int]:
    """Run a server on a free loopback port until /healthz answers; yield the port, then stop it."""
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port)], env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_health(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(30)


def setup(
    name: str,
    urls: dict[str, str],
    workers: int,
    args: argparse.Namespace,
    folder: Path,
) -> dict[str, Any]:
    """Serve routegate, the ceiling and any baseline with the same database kind and workers (each
    on its URL in ``urls``); measure them interleaved."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEGATE_")}
    env["CEILING_DATABASE_URL"] = urls["ceiling"]
    ROWS.metadata.create_all(ceiling_engine(urls["ceiling"]))
    flags = ["--workers", str(workers)]  # the ceiling: the same flags
    with ExitStack() as stack:
        ports = {
            "routegate": stack.enter_context(
                served([*ROUTEGATE, "--database-url", urls["routegate"], *flags], env, folder)
            )
        }
        ports["ceiling"] = stack.enter_context(served([*CEILING, *flags], env, folder))
        if args.baseline:
            older = env | {"PYTHONPATH": str(Path(args.baseline).resolve() / "src")}
            command = [*ROUTEGATE, "--database-url", urls["baseline"], *flags]
            ports["baseline"] = stack.enter_context(served(command, older, folder))
        for port in ports.values():
            throughput(port, args.warm_up, max(args.connections))()  # warm-up: imports, pools, caches
        loads = {}
        for connections in args.connections:
            load = {
                k: wrk_throughput(p, args.seconds, connections, folder)
                if args.client == "wrk"
                else throughput(p, args.requests, connections)
                for k, p in ports.items()
            }
            rates = interleave(args.rounds, load)
            loads[str(connections)] = {
                "creates_per_s": {k: s.scaled(1, 0) for k, s in rates.items()},
                "ratio_to_ceiling": round(rates["routegate"].median / rates["ceiling"].median, 2),
            }
            if "baseline" in rates:
                loads[str(connections)]["ratio_to_baseline"] = round(
                    rates["routegate"].median / rates["baseline"].median, 2
                )
        shares: dict[str, list[float]] = {k: [] for k in ports}
        p50s = interleave(args.rounds, {k: latency(p, args.requests // 4, shares[k]) for k, p in ports.items()})
    return {
        "setup": name,
        "by_connections": loads,
        "p50_ms_one_connection": {k: s.scaled(1, 2) for k, s in p50s.items()},
        "gate_share": round(statistics.median(shares["routegate"]), 4) if shares["routegate"] else None,
    }


def _profiled() -> dict[str, tuple[str, int, str]]:
    """The store's calls in one create, as cProfile keys them; nested ones are "of which". A label whose
    function an older checkout lacks (``--baseline``'s code measured with PYTHONPATH) is left out."""
    from sqlalchemy.engine.base import Transaction

    from routegate.service import db, engines, inserts, listing, store

    wanted = {
        "Store.create, all of it": (store.Store, "create"),
        "a pooled connection, BEGIN and version, commit": (db.Database, "versioned_write"),
        "of which BEGIN IMMEDIATE (SQLite)": (engines, "_sqlite_begin"),
        "of which commit": (Transaction, "commit"),
        "the workspace and its decision": (inserts.JointInsert, "run"),
        "free-name SELECT (only after a conflict)": (store.Store, "_free_name"),
        "row, decision and answer dicts": (listing, "workspace_view"),
    }
    keys = {}
    for label, (owner, name) in wanted.items():
        function = getattr(owner, name, None)
        code = getattr(getattr(function, "__wrapped__", function), "__code__", None)  # a context manager's generator
        if code is not None:
            keys[label] = (code.co_filename, code.co_firstlineno, code.co_name)
    return keys


@dataclass(frozen=True)
class _Creates:
    """A store on a database made ready for creates: ``create()`` makes the next workspace."""

    create: Callable[[], None]
    database: Any
    registry: Any
    admission: Any
    version: int


def _ready_store(url: str) -> _Creates:
    from routegate import Registry
    from routegate.decision import FOREIGN_RUNTIMES
    from routegate.gate import CreateRequest, admit_create
    from routegate.manifest import bundled_manifest_path
    from routegate.service.db import Database
    from routegate.service.publication import VersionStore, candidate
    from routegate.service.store import Store

    registry = Registry.load()
    database = Database(url)
    database.upgrade()
    # A create commits only under the active version it was decided under: make the bundled manifest that version.
    versions = VersionStore(database, foreign_runtimes=FOREIGN_RUNTIMES)
    active = versions.bootstrap(candidate(bundled_manifest_path().read_bytes(), "the bundled manifest"), note="bench")
    store = Store(database, name_suffix_limit=1000)
    request = CreateRequest(name="profiled", runtime="hermes", model="moonshot/kimi-k2.6")
    admission = admit_create(registry, request, template_lookup=lambda _name: (None, None))
    numbers = itertools.count()
    blank: dict[str, Any] = {"parent_id": None, "role": None, "url": None, "external": False, "auth_env": ()}
    run = uuid.uuid4().hex[:8]  # names never made before, however often the database is used

    def create() -> None:
        name = f"profiled {run} {next(numbers)}"
        store.create(
            name=name, **blank, admission=admission, fingerprint=registry.fingerprint, manifest_version=active.version
        )

    return _Creates(create, database, registry, admission, active.version)


def store_beside_baseline(urls: dict[str, str], checkout: Path, creates: int, rounds: int) -> dict[str, Any]:
    """The store's create in this tree and in ``checkout``: each arm in a fresh process per round, on a
    database of its own (``urls``), in turns; CPU and wall microseconds per create."""
    arms = {"routegate": None, "baseline": checkout}
    kept: dict[str, dict[str, list[float]]] = {arm: {} for arm in arms}
    trees: dict[str, str] = {}  # where each arm's routegate was imported from
    names = list(arms)
    for number in range(rounds):
        for arm in names[number % 2 :] + names[: number % 2]:
            env = dict(os.environ) | ({} if arms[arm] is None else {"PYTHONPATH": str(checkout.resolve() / "src")})
            command = [sys.executable, __file__, "--store-child", urls[arm], str(creates)]
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise SystemExit(f"the {arm} arm's creates failed:\n{done.stderr[-3000:]}")
            answer = json.loads(done.stdout.splitlines()[-1])
            trees[arm] = answer.pop("tree")
            for key, value in answer.items():
                kept[arm].setdefault(key, []).append(value)
    figures = {arm: {key: Stats(tuple(v)).scaled(1, 0) for key, v in by.items()} for arm, by in kept.items()}
    cpu = {arm: figures[arm]["cpu_us"]["median"] for arm in arms}
    return figures | {"cpu_routegate_over_baseline": round(cpu["routegate"] / cpu["baseline"], 3), "trees": trees}


def _store_child(url: str, creates: int) -> dict[str, Any]:
    """``--store-child``: ``creates`` creates timed after a warm-up, in this process (the arm's tree)."""
    import routegate

    ready = _ready_store(url)
    for _ in range(100):  # connections made and statements prepared before the timing
        ready.create()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(creates):
        ready.create()
    figures = {
        "cpu_us": (time.process_time() - cpu) * 1e6 / creates,
        "wall_us": (time.perf_counter() - wall) * 1e6 / creates,
    }
    ready.database.dispose()
    return figures | {"tree": str(Path(routegate.__file__).parent)}


def profile_store(url: str, creates: int, rounds: int) -> dict[str, Any]:
    """The store's part of one admitted create, called in this process beside a bare Core insert on the
    same database (the ceiling's) and the same insert of a workspace row: CPU and wall time, then where
    the store's time goes."""
    from routegate.service.db import Workspace

    ready = _ready_store(url)
    create, database, registry, admission = ready.create, ready.database, ready.registry, ready.admission
    numbers = itertools.count()

    ceiling_insert = ROWS.insert()
    core = ceiling_engine(url)
    ROWS.metadata.create_all(core)

    def core_insert() -> None:
        with core.begin() as connection:
            row = {"id": str(uuid.uuid4()), "name": f"core {next(numbers)}", "runtime": "hermes"}
            connection.execute(ceiling_insert, row)

    workspace_insert = insert(Workspace)
    stored: dict[str, Any] = {"runtime": admission.runtime, "model": admission.model, "external": False}
    stored |= {"provider": admission.provider, "billing_mode": admission.billing_mode, "auth_env": []}
    stored |= {"required_env": list(admission.required_env), "manifest_version": ready.version}
    stored["manifest_fingerprint"] = registry.fingerprint

    def workspace_row() -> None:  # the ceiling's insert, into the workspaces table with all its indexes
        now = datetime.now(UTC)
        row = {"id": str(uuid.uuid4()), "name": f"row {next(numbers)}", "created_at": now, "updated_at": now}
        with core.begin() as connection:
            connection.execute(workspace_insert, row | stored)

    def timed(clock: Callable[[], float], action: Callable[[], None]) -> Callable[[], float]:
        def measure() -> float:
            started = clock()
            for _ in range(creates):
                action()
            return (clock() - started) / creates

        return measure

    def creates_in_a_row() -> None:
        for _ in range(creates):
            create()

    actions = {"store_create": create, "workspace_row": workspace_row, "core_insert": core_insert}
    for action in actions.values():  # connections made and statements prepared before any round
        timed(time.perf_counter, action)()
    # CPU: this process's, the database's work included on SQLite; wall: what a caller waits, round trips included.
    measures = {
        f"{what}_{kind}": timed(clock, action)
        for what, action in actions.items()
        for kind, clock in (("cpu", time.process_time), ("wall", time.perf_counter))
    }
    figures = interleave(rounds, measures)
    profiler = cProfile.Profile()
    profiler.runcall(creates_in_a_row)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    calls = {label: round(stats[key][3] / creates * 1e6) if key in stats else 0 for label, key in _profiled().items()}
    database.dispose()
    core.dispose()
    result: dict[str, Any] = {"us_per_create": {k: s.scaled(1e6, 0) for k, s in figures.items()}}
    if not url.startswith("sqlite"):  # SQLite's work is this process's CPU: there is no server to wait on
        result["waiting_us_per_create"] = {  # the server's work and the round trips
            what: round((figures[f"{what}_wall"].median - figures[f"{what}_cpu"].median) * 1e6) for what in actions
        }
    return result | {"under_cprofile_us_per_create": calls}


def table(result: dict[str, Any]) -> str:
    lines = [f"{result['reproduce']}  ({result['machine']})", "", "creates/s, median [min-max] over rounds"]
    lines.append(f"{'setup':<22}{'conns':>6}{'routegate/s':>20}{'ceiling/s':>20}{'ratio':>7}")
    if result["baseline"]:
        lines[-1] += f"{'baseline/s':>20}{'vs base':>9}"
    for run in result["setups"]:
        for connections, load in run["by_connections"].items():
            ours, ceiling = load["creates_per_s"]["routegate"], load["creates_per_s"]["ceiling"]
            line = (
                f"{run['setup']:<22}{connections:>6}{_spread(ours):>20}{_spread(ceiling):>20}"
                f"{load['ratio_to_ceiling']:>7.2f}"
            )
            if "baseline" in load["creates_per_s"]:
                line += f"{_spread(load['creates_per_s']['baseline']):>20}{load['ratio_to_baseline']:>8.2f}x"
            lines.append(line)
    lines += ["", f"{'one connection':<22}{'p50 ms':>8}{'ceiling':>9}{'gate %':>8}"]
    for run in result["setups"]:
        p50 = run["p50_ms_one_connection"]
        gate = "-" if run["gate_share"] is None else f"{run['gate_share'] * 100:.1f}"
        lines.append(f"{run['setup']:<22}{p50['routegate']['median']:>8.2f}{p50['ceiling']['median']:>9.2f}{gate:>8}")
    for database, store in result["store_profile"].items():
        lines += ["", f"store, one create beside a bare Core insert ({database}, in process), median [min-max] us:"]
        lines += [f"    {label:<40}{_spread(us):>20}" for label, us in store["us_per_create"].items()]
        if "waiting_us_per_create" in store:
            lines.append("  waiting on the server (median wall less median CPU), us per create:")
            lines += [f"    {label:<40}{us:>20}" for label, us in store["waiting_us_per_create"].items()]
        lines.append("  under cProfile, us per create:")
        lines += [f"    {label:<48}{us:>6}" for label, us in store["under_cprofile_us_per_create"].items()]
    for database, arms in result["store_beside_baseline"].items():
        lines += ["", f"store create, each arm in a fresh process per round ({database}), median [min-max] us:"]
        for arm in ("routegate", "baseline"):
            lines += [f"    {arm} {kind:<31}{_spread(us):>20}" for kind, us in arms[arm].items()]
        lines.append(f"    CPU, routegate / baseline: {arms['cpu_routegate_over_baseline']:.2f}x")
    lines += ["", "floors"] + [f"  [{verdict(f['pass'])}] {f['floor']}: {f['figure']}" for f in result["floors"]]
    return "\n".join(lines)


def _spread(stats: dict[str, Any]) -> str:
    return f"{stats['median']:.0f} [{stats['min']:.0f}-{stats['max']:.0f}]"


def floors(setups: list[dict[str, Any]], smoke: bool) -> list[dict[str, Any]]:
    """The scale issue's floors for creates (one worker at 0.85 of the ceiling at every number of
    connections, on each database; two workers at 1.3x one from 8 connections), issue 13's
    PostgreSQL rate, and issue 3's latency and gate share, each with its figure."""

    def floor(name: str, figure: str, ok: bool) -> None:
        rows.append({"floor": name, "figure": figure, "pass": judged(ok, smoke)})

    rows: list[dict[str, Any]] = []
    by_setup = {run["setup"]: run["by_connections"] for run in setups}
    for name in ("sqlite, 1 worker", "postgresql, 1 worker"):
        for connections, load in by_setup.get(name, {}).items():
            ratio = load["ratio_to_ceiling"]
            floor(f"{name}, {connections} connections: >= 0.85 of the ceiling", f"{ratio:.2f}", ratio >= 0.85)
    one, two = by_setup.get("sqlite, 1 worker", {}), by_setup.get("sqlite, 2 workers", {})
    for connections in [c for c in two if c in one and int(c) >= 8]:

        def gain(arm: str, at: str = connections) -> float:
            return float(two[at]["creates_per_s"][arm]["median"] / one[at]["creates_per_s"][arm]["median"])

        # The ceiling's own gain beside it: what a second worker can add on this machine at all,
        # whose cores the load generator shares.
        figure = f"{gain('routegate'):.2f}x (the ceiling's own: {gain('ceiling'):.2f}x)"
        floor(f"sqlite, {connections} connections: 2 workers >= 1.3x one", figure, gain("routegate") >= 1.3)
    postgres = by_setup.get("postgresql, 1 worker", {})
    if postgres:
        most = max(postgres, key=int)
        rate = postgres[most]["creates_per_s"]["routegate"]["median"]
        floor(f"postgresql, 1 worker, {most} connections: >= 250 creates/s", f"{rate:.0f}/s", rate >= 250)
    p50 = setups[0]["p50_ms_one_connection"]["routegate"]["median"]
    floor(f"{setups[0]['setup']}: p50 < 10 ms", f"{p50} ms", p50 < 10)
    share = setups[0]["gate_share"]
    if share is not None:
        floor("gate < 2% of the app's time", f"{share * 100:.2f}%", share < 0.02)
    return rows


def main() -> int:
    if sys.argv[1:2] == ["--store-child"]:
        print(json.dumps(_store_child(sys.argv[2], int(sys.argv[3]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=400, help="creates per round")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 8, 32], help="keep-alive connections")
    parser.add_argument("--warm-up", type=int, default=100, help="creates per server before the rounds")
    parser.add_argument("--baseline", help="another checkout whose routegate is measured beside this one")
    parser.add_argument(
        "--client",
        choices=["python", "wrk"],
        default="python",
        help="what sends the creates of the throughput rounds: this process's threads, or wrk (a C client "
        "that leaves the cores to the servers; needs scripts/wrk.sh)",
    )
    parser.add_argument("--seconds", type=float, default=2, help="seconds per throughput round with --client wrk")
    add_postgres_flag(parser)
    add_smoke_flag(parser)
    args = parser.parse_args()
    profiled, profile_rounds = 300, 5  # creates per round and rounds of the in-process store profile
    if args.smoke:
        args.rounds, args.requests, args.connections, args.warm_up, profiled, profile_rounds = 2, 16, [1, 2], 4, 10, 2
    with tempfile.TemporaryDirectory(prefix="routegate-bench-") as temp, ExitStack() as stack:
        folder = Path(temp)
        arms = ("routegate", "ceiling", "baseline")
        setups = [
            setup(
                f"sqlite, {n} worker{'s' * (n > 1)}",
                {arm: f"sqlite:///{folder / f'{n}-{arm}.db'}" for arm in arms},
                n,
                args,
                folder,
            )
            for n in (1, 2)
        ]
        if args.postgres:
            database = stack.enter_context(postgres_database(args.postgres))
            urls = {"routegate": database, "ceiling": database}  # the ceiling's table sits beside routegate's
            if args.baseline:  # an older schema: a database of its own
                urls["baseline"] = stack.enter_context(postgres_database(args.postgres))
            setups.append(setup("postgresql, 1 worker", urls, 1, args, folder))
        store = {"sqlite": profile_store(f"sqlite:///{folder / 'profile.db'}", profiled, profile_rounds)}
        if args.postgres:
            profiled_on = stack.enter_context(postgres_database(args.postgres))
            store["postgresql"] = profile_store(profiled_on, profiled, profile_rounds)
        beside: dict[str, Any] = {}
        if args.baseline:
            on_files = {arm: f"sqlite:///{folder / f'store-{arm}.db'}" for arm in ("routegate", "baseline")}
            beside["sqlite"] = store_beside_baseline(on_files, Path(args.baseline), profiled, args.rounds)
            if args.postgres:
                on_servers = {arm: stack.enter_context(postgres_database(args.postgres)) for arm in on_files}
                beside["postgresql"] = store_beside_baseline(on_servers, Path(args.baseline), profiled, args.rounds)
    result = {
        "reproduce": reproduce(),
        "machine": f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; {args.rounds} rounds of "
        + (f"{args.seconds:g} s from wrk" if args.client == "wrk" else f"{args.requests} creates"),
        "smoke": args.smoke,
        "baseline": args.baseline,
        "setups": setups,
        "store_profile": store,
        "store_beside_baseline": beside,
        "floors": floors(setups, args.smoke),
    }
    emit(result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
