"""How long a full pass of the collector holds a serving process, with what it keeps frozen and not.

    .venv/bin/python bench/collector.py [--tokens 0,100000,1000000] [--rounds 5] [--smoke]

CPython's cyclic collector walks every object it tracks on a full pass, holding the interpreter
lock, so the event loop and every request in flight wait for it. For each number of call tokens
(one per workspace, on a SQLite file filled as ``bench/caller_view.py`` fills it), the service is
built and started as ``routegate serve`` builds it, minus the freezing: its lifespan runs and its
view of the tokens does its first read. Then a full pass (``gc.collect()``) is timed in rounds,
first with every object walked, then after ``heap.settle``, which ``routegate serve`` runs once
start-up is done and again after the tokens' first read. Wall milliseconds, median [min-max].
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from _report import add_smoke_flag, emit, reproduce
from _timing import Stats
from caller_view import fill

from routegate.service import Settings, create_app
from routegate.service.call_service import CallService
from routegate.service.db import Database
from routegate.service.heap import settle


def full_passes(rounds: int) -> Stats:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        gc.collect()
        samples.append(time.perf_counter() - started)
    return Stats(tuple(samples))


async def measure(url: str, rounds: int) -> dict[str, Any]:
    """The started service's full passes, walked and then frozen out."""
    app = create_app(Settings(database_url=url))
    async with app.router.lifespan_context(app):
        calls: CallService = app.state.calls
        while not calls.tokens_loaded:
            await asyncio.sleep(0.05)
        gc.collect()
        walked, walked_objects = full_passes(rounds), len(gc.get_objects())
        settle(collect=True)
        try:
            frozen, frozen_objects = full_passes(rounds), len(gc.get_objects())
        finally:
            gc.unfreeze()
    return {
        "walked": {"objects": walked_objects, "full_pass_ms": walked.scaled(1000)},
        "settled": {"objects": frozen_objects, "full_pass_ms": frozen.scaled(1000)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", default="0,100000", help="call tokens held, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    add_smoke_flag(parser)
    args = parser.parse_args()
    sizes = [0, 1000] if args.smoke else [int(size) for size in args.tokens.split(",")]
    rounds = 2 if args.smoke else args.rounds
    results = []
    with tempfile.TemporaryDirectory(prefix="routegate-bench-collector-") as folder:
        for size in sizes:
            url = f"sqlite:///{Path(folder) / f'tokens-{size}.db'}"
            database = Database(url)
            database.upgrade()
            fill(database, size)
            database.dispose()
            results.append({"tokens": size, **asyncio.run(measure(url, rounds))})
    lines = [f"{reproduce()}  ({rounds} rounds)", "", "a full pass, wall ms, median [min-max]; objects: tracked"]
    lines.append(f"{'tokens':>9}  {'objects':>9} {'every object walked':>26}  {'objects':>7} {'after settle':>22}")
    for row in results:
        walked, settled = row["walked"], row["settled"]
        lines.append(
            f"{row['tokens']:>9}  {walked['objects']:>9} {_shown(walked['full_pass_ms']):>26}  "
            f"{settled['objects']:>7} {_shown(settled['full_pass_ms']):>22}"
        )
    emit({"reproduce": reproduce(), "smoke": args.smoke, "rounds": rounds, "results": results}, "\n".join(lines))


def _shown(spread: dict[str, Any]) -> str:
    return f"{spread['median']} [{spread['min']}-{spread['max']}]"


if __name__ == "__main__":
    main()
