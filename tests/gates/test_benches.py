"""Every bench script still runs: each one, as a process in its smoke mode, exits 0 and prints its figures.

The README quotes these scripts' figures, so a script that no longer runs is a broken
promise. The scripts are found, not listed: a new bench without a ``--smoke`` run fails
here. A smoke run judges no floor: it proves the script runs, never how fast.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from routegate.service.settings import Settings
from tests.service.conftest import POSTGRES_ENV, LiveServer, postgres_base_url

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCRIPTS = sorted(path for path in BENCH.glob("*.py") if not path.name.startswith("_"))
# The benches that serve routegate as processes on a PostgreSQL database as well as on SQLite files.
ON_POSTGRES = {
    "caller_view.py",
    "in_process_gate.py",
    "calls.py",
    "litellm_proxy.py",
    "operator_pages.py",
    "propagation.py",
    "publish.py",
    "receipts.py",
    "service.py",
    "usage_reports.py",
}
# A bound against a hung server, not a speed: smoke runs that start servers take minutes on a loaded machine.
HANG_SECONDS = 1800


def run_smoke(script: Path, cwd: Path, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != POSTGRES_ENV} | env
    return subprocess.run(
        [sys.executable, str(script), "--smoke", *flags],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=HANG_SECONDS,
    )


def _bench_module(name: str) -> Any:
    """A module of bench/, which is scripts rather than a package: imported once, from there."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


def spreads(figures: Any) -> Iterator[tuple[float, float, float]]:
    """Every (min, middle, max) in the JSON: a median's or a p50's spread, in whatever unit its keys name."""
    if isinstance(figures, dict):
        for unit in ("", "_s", "_ms"):
            middle = figures.get(f"median{unit}", figures.get(f"p50{unit}"))
            if middle is not None and f"min{unit}" in figures and f"max{unit}" in figures:
                yield figures[f"min{unit}"], middle, figures[f"max{unit}"]
        for value in figures.values():
            yield from spreads(value)
    elif isinstance(figures, list):
        for value in figures:
            yield from spreads(value)


def test_the_scripts_are_found_and_the_postgres_list_names_only_real_ones() -> None:
    assert SCRIPTS, f"no bench script in {BENCH}"
    assert {script.name for script in SCRIPTS} >= ON_POSTGRES


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(script, id=script.stem, marks=[pytest.mark.postgres] if script.name in ON_POSTGRES else [])
        for script in SCRIPTS
    ],
)
def test_a_bench_in_smoke_mode_exits_0_and_prints_its_figures_with_their_spread(script: Path, tmp_path: Path) -> None:
    env = {POSTGRES_ENV: postgres_base_url()} if script.name in ON_POSTGRES else {}
    done = run_smoke(script, tmp_path, **env)
    assert done.returncode == 0, done.stderr[-3000:]

    figures, end = json.JSONDecoder().raw_decode(done.stdout)
    assert figures["smoke"] is True
    assert figures["reproduce"] == f".venv/bin/python bench/{script.name} --smoke"
    found = list(spreads(figures))
    assert found, f"{script.name} printed no figure with a median (or p50), a min and a max"
    for low, middle, high in found:
        assert low <= middle <= high
    table = done.stdout[end:]
    assert table.strip(), f"{script.name} printed no table after its JSON"
    assert "PASS" not in table and "FAIL" not in table, "a smoke run judged a floor"
    if env:
        assert "postgresql" in table


def test_the_resolver_bench_without_litellm_says_the_comparison_is_skipped(tmp_path: Path) -> None:
    """Without LiteLLM (a run venv: only the test lock has it; shadowed here), the bench still runs."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "litellm.py").write_text('raise ImportError("litellm is hidden from this run")\n', encoding="utf-8")
    done = run_smoke(BENCH / "resolver.py", tmp_path, PYTHONPATH=str(shadow))
    assert done.returncode == 0, done.stderr[-3000:]

    figures, end = json.JSONDecoder().raw_decode(done.stdout)
    assert figures["litellm"].startswith("comparison skipped")
    assert not any(name.startswith("litellm") for name in figures["us_per_call"])
    compared = [floor for floor in figures["floors"] if "get_llm_provider" in floor["floor"]]
    assert compared and all(floor["figure"] == "not measured" for floor in compared)
    assert "comparison skipped" in done.stdout[end:]


def test_the_create_bench_from_wrk_makes_a_new_workspace_with_every_request(
    tmp_path: Path,
) -> None:
    """``bench/service.py --client wrk``: every create names a workspace never made before (a name made
    twice would cost the store a search for a free one, which the python client's creates never pay),
    and the models come in the python client's mix, one create in five a model never seen."""
    bench = _bench_module("service")
    live = LiveServer(Settings(database_url=f"sqlite:///{tmp_path / 'routegate.db'}")).start()
    try:
        rates = [bench.wrk_throughput(live.port, 1, 4, tmp_path)() for _ in range(2)]  # two rounds, two runs of names
        with live.state.database.engine.connect() as connection:
            names, models = zip(*connection.execute(text("SELECT name, model FROM workspaces")).all(), strict=True)
    finally:
        live.stop()
    assert all(rate > 0 for rate in rates)
    assert len(set(names)) == len(names) > 30
    assert not [name for name in names if " (" in name]  # no name chosen again by the store
    unseen = sum(model.startswith("openrouter/bench/") for model in models)
    assert unseen == len(set(model for model in models if model.startswith("openrouter/bench/")))
    assert abs(unseen / len(models) - 0.2) < 0.05
    assert {model for model in models if not model.startswith("openrouter/bench/")} == {m for _, m in bench.MODELS}


def test_the_create_bench_runs_its_rounds_from_wrk(tmp_path: Path) -> None:
    done = run_smoke(BENCH / "service.py", tmp_path, "--client", "wrk", "--seconds", "1", "--postgres", "")
    assert done.returncode == 0, done.stderr[-3000:]
    figures, _ = json.JSONDecoder().raw_decode(done.stdout)
    assert figures["machine"].endswith("rounds of 1 s from wrk")
    rates = [load["creates_per_s"]["routegate"]["median"] for load in figures["setups"][0]["by_connections"].values()]
    assert rates and all(rate > 0 for rate in rates)


def test_the_create_bench_times_the_store_of_each_tree_in_that_tree(tmp_path: Path) -> None:
    """``bench/service.py --baseline``: the baseline arm's creates run the checkout's routegate, the
    other arm this tree's (the checkout here is this tree's ``src`` reached by another path)."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "src").symlink_to(BENCH.parent / "src")
    done = run_smoke(BENCH / "service.py", tmp_path, "--postgres", "", "--baseline", str(checkout))
    assert done.returncode == 0, done.stderr[-3000:]
    figures, _ = json.JSONDecoder().raw_decode(done.stdout)
    beside = figures["store_beside_baseline"]["sqlite"]
    assert beside["trees"] == {
        "routegate": str(BENCH.parent / "src" / "routegate"),
        "baseline": str(checkout / "src" / "routegate"),
    }
    for arm in ("routegate", "baseline"):
        assert beside[arm]["cpu_us"]["median"] > 0 and beside[arm]["wall_us"]["median"] > 0


def _gated_block(added_p50: float, added_p99: float, ratio: float) -> dict[str, Any]:
    """One block of bench/litellm_proxy.py's figures, the same for both gated proxies."""
    spread = {"median": ratio, "min": ratio, "max": ratio}
    added = {
        key: {"pooled": ms, "interval_95": [ms, ms], "rounds": {"median": ms, "min": ms, "max": ms}}
        for key, ms in (("p50", added_p50), ("p99", added_p99))
    }
    names = ("service", "in-process")
    return {
        "on_path_ms": {name: {} for name in names},
        "added_ms": {name: added for name in names},
        "throughput_ratio": {name: spread for name in names},
    }


@pytest.mark.parametrize(("saturated_p50", "saturated_p99"), [(0.5, 2.0), (14.0, 40.0)])
def test_the_litellm_bench_judges_latency_where_calls_wait_for_no_queue(
    saturated_p50: float, saturated_p99: float
) -> None:
    """Saturated, a call's latency is the connections over the rate: that block is judged by its throughput
    alone, whatever its latency rows say; latency is judged at one connection and paced."""
    bench = _bench_module("litellm_proxy")
    saturated = _gated_block(saturated_p50, saturated_p99, 0.95)
    saturated["paced"] = _gated_block(0.4, 2.5, 1.0) | {"share_of_bare": 0.5}
    figures = {"1": _gated_block(0.3, 1.2, 0.97), "8": saturated}

    floors = {row["floor"]: row["pass"] for row in bench.floors(figures, smoke=False)}
    for name in ("service", "in-process"):
        assert floors.pop(f"{name}, 1 connection: median latency added <= 1 ms") is True
        assert floors.pop(f"{name}, 1 connection: p99 latency added <= 3 ms") is True
        assert floors.pop(f"{name}, 1 connection: throughput >= 0.9 of bare") is True
        assert floors.pop(f"{name}, 8 connections: throughput >= 0.9 of bare") is True
        assert floors.pop(f"{name}, 8 connections at 0.5 of bare's rate: median latency added <= 1 ms") is True
        assert floors.pop(f"{name}, 8 connections at 0.5 of bare's rate: p99 latency added <= 3 ms") is True
    assert floors == {}

    figures["8"]["paced"]["added_ms"]["service"] = _gated_block(1.5, 3.5, 1.0)["added_ms"]["service"]
    missed = [row["floor"] for row in bench.floors(figures, smoke=False) if row["pass"] is False]
    assert missed == [
        "service, 8 connections at 0.5 of bare's rate: median latency added <= 1 ms",
        "service, 8 connections at 0.5 of bare's rate: p99 latency added <= 3 ms",
    ]


@given(
    requests=st.integers(min_value=0, max_value=2000),
    connections=st.integers(min_value=1, max_value=64),
    calls_each=st.integers(min_value=1, max_value=100),
)
def test_the_litellm_bench_cuts_a_round_into_slices_of_whole_calls_per_connection(
    requests: int, connections: int, calls_each: int
) -> None:
    """Every slice gives each connection the same number of calls, at most ``calls_each``; together
    they are the round's calls, less only what would not fill one call per connection."""
    bench = _bench_module("litellm_proxy")
    cut = bench.slices(requests, connections, calls_each)
    assert all(size > 0 and size % connections == 0 and size <= connections * calls_each for size in cut)
    assert sum(cut) == requests - requests % connections
    assert all(size == connections * calls_each for size in cut[:-1])


_TURN = st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=30)


@given(
    turns=st.lists(st.tuples(_TURN, st.floats(min_value=-50, max_value=50, allow_nan=False)), min_size=1, max_size=40),
    share=st.sampled_from([0.5, 0.9, 0.99]),
)
def test_the_bench_interval_of_a_difference_keeps_each_turn_s_two_sides_together(
    turns: list[tuple[list[float], float]], share: float
) -> None:
    """Where every sample of a turn is its bare twin plus that turn's shift, each draw's difference of
    percentiles lies between the smallest and the largest shift: only a draw that takes both sides of
    a turn together promises that (sides drawn apart would compare unrelated samples)."""
    timing = _bench_module("_timing")
    theirs = [samples for samples, _ in turns]
    mine = [[ms + shift for ms in samples] for samples, shift in turns]
    low, high = timing.paired_interval(mine, theirs, share, draws=50)
    shifts = [shift for _, shift in turns]
    slack = 1e-9 * (1 + max(abs(ms) for samples in mine for ms in samples))
    assert min(shifts) - slack <= low <= high <= max(shifts) + slack


def test_the_bench_interval_refuses_sides_of_different_turns() -> None:
    timing = _bench_module("_timing")
    with pytest.raises(ValueError, match="same turns on both sides, got 2 and 1"):
        timing.paired_interval([[1.0], [2.0]], [[1.0]], 0.5)
    with pytest.raises(ValueError, match="at least one turn"):
        timing.paired_interval([], [], 0.5)
