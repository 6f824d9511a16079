"""Where a refusal's time goes, beside an admission's: how much room the 2x floor leaves its nearest ids.

    .venv/bin/python bench/refusal_parts.py [--smoke] [--rounds N] [--menu-size N] [--seed N]
    .venv/bin/python bench/refusal_parts.py --only PART [--calls N]

bench/refusals.py judges the scale issue's floor: a refusal, its reason and
nearest menu ids read, within 2x an admission read the same way. This one
takes the refusal apart, on the same ids (``refusals.refused`` and
``refusals.admitted``), CPU microseconds per call, medians of interleaved
rounds:

- an admission, ``check(runtime, id).to_dict()``;
- a refusal, the same;
- the same refusal with its nearest ids left out (they are set to none
  before ``to_dict()``): the decision, the reason's wording and the JSON;
- the probe's letter pairs alone, which the Dice ranking starts from;
- a prefix lookup alone: a bisect into the runtime's sorted menu and the ids
  on either side, the cheapest index a suggestion could come from.

The room the floor leaves the nearest ids is twice the admission less the
refusal without them. ``--only PART --calls N`` runs one part over N ids of
the reference manifest once, untimed, for an instruction counter:
``valgrind --tool=callgrind`` of ``--calls 3000`` less that of ``--calls 0``
is the part's count for 3,000 calls (both draw the same 3,000 ids). Unlike
refusals.py, this script reads routegate's internals (a decision's unread
suggestions, ``_suggest.letter_pairs``), so it measures this checkout only.
"""

from __future__ import annotations

import argparse
import bisect
import os
import platform
import random
import sys
from collections.abc import Callable, Sequence
from typing import Any

from _manifests import big_menu_manifest
from _report import emit, ratio_row, reproduce, spread_row
from _timing import Stats, interleave, per_call, ratio
from refusals import add_options, admitted, cpu_rows, read, refused

import routegate
from routegate import Registry
from routegate._suggest import SIMILARITY_PREFIX, letter_pairs

Ids = Sequence[tuple[str, str]]
Job = Callable[[], None]
ONLY_IDS = 3000
"""The ids --only draws, whatever --calls runs over, so two counts differ by the calls alone."""
PARTS = ("admission", "refusal", "refusal, nearest ids left out", "the probe's letter pairs", "a prefix lookup")


def read_without_nearest(registry: Registry, ids: Ids) -> Job:
    """Each refusal read with its nearest ids taken as none: what is left when they cost nothing."""
    check = registry.check

    def job() -> None:
        for runtime, model in ids:
            decision = check(runtime, model)
            decision._suggestions = ()  # read as already worked out, and empty
            decision.to_dict()

    return job


def pairs(ids: Ids) -> Job:
    def job() -> None:
        for _, model in ids:
            letter_pairs(model[:SIMILARITY_PREFIX])

    return job


def prefix_lookup(registry: Registry, ids: Ids) -> Job:
    menus = {runtime: sorted(registry.menu(runtime)) for runtime in registry.runtimes}

    def job() -> None:
        for runtime, model in ids:
            menu = menus[runtime]
            at = bisect.bisect_left(menu, model)
            menu[max(0, at - 1) : at + 1]

    return job


def parts(registry: Registry, count: int, rng: random.Random, calls: int | None = None) -> dict[str, Job]:
    """Each part as a job over ``count`` ids (the first ``calls`` of them, if given), every runtime compiled
    and its suggestion index built first."""
    runtimes = registry.runtimes
    read(registry, admitted(registry, runtimes, 50, rng) + refused(registry, runtimes, 50, rng))()
    yes, no = admitted(registry, runtimes, count, rng)[:calls], refused(registry, runtimes, count, rng)[:calls]
    return {
        "admission": read(registry, yes),
        "refusal": read(registry, no),
        "refusal, nearest ids left out": read_without_nearest(registry, no),
        "the probe's letter pairs": pairs(no),
        "a prefix lookup": prefix_lookup(registry, no),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    size, count, rounds, seconds = (40, 12, 3, 0.01) if args.smoke else (args.menu_size, 300, args.rounds, 0.1)
    big = Registry.from_yaml(big_menu_manifest(size)).manifest
    menus = {"reference": Registry.load(cache_size=0), f"{size}-id menu": Registry(big, cache_size=0)}
    jobs: dict[str, Callable[[], float]] = {}
    for name, registry in menus.items():
        for part, job in parts(registry, count, rng).items():
            jobs[f"{name}: {part}"] = per_call(job, count, seconds)
    cpu = interleave(rounds, jobs)
    return {
        "smoke": args.smoke,
        "reproduce": reproduce(),
        "machine": f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "routegate": routegate.__version__,
        "cpu_us_per_call": {name: stats.scaled(1e6) for name, stats in cpu.items()},
        "by_menu": {name: _parts(cpu, name) for name in menus},
    }


def _parts(cpu: dict[str, Stats], menu: str) -> dict[str, Any]:
    """Each part over the admission, and the room 2x leaves the nearest ids beside what they would start from."""
    admission = cpu[f"{menu}: admission"]
    without = cpu[f"{menu}: refusal, nearest ids left out"]
    room = [2 * a - w for a, w in zip(admission.samples, without.samples, strict=True)]
    over = {part: ratio(cpu[f"{menu}: {part}"], admission) for part in PARTS[1:]}
    return {"over_admission": over, "room_for_nearest_ids_us": Stats(tuple(room)).scaled(1e6)}


def table(result: dict[str, Any]) -> str:
    lines = cpu_rows(result, "CPU us per call (median, min..max over interleaved rounds)", 50)
    for menu, parts in result["by_menu"].items():
        lines += ["", f"{menu}, over an admission (median, min..max)"]
        for part, r in parts["over_admission"].items():
            lines.append(ratio_row(part, r, 50))
        lines.append(spread_row("room 2x leaves the nearest ids, us", parts["room_for_nearest_ids_us"], 50))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_options(parser)
    parser.add_argument("--only", choices=PARTS, help="run this part once, untimed, for an instruction counter")
    parser.add_argument(
        "--calls", type=int, default=ONLY_IDS, help=f"with --only: how many of its {ONLY_IDS} ids it runs over"
    )
    args = parser.parse_args()
    if args.only:
        registry = Registry.load(cache_size=0)
        job = parts(registry, ONLY_IDS, random.Random(args.seed), args.calls)[args.only]
        job()
        print(f"{args.only}: {args.calls} calls")
        return 0
    result = run(args)
    emit(result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
