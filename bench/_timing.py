"""Timing shared by the bench scripts: interleaved rounds, reported as median, min and max.

The machine is shared, so the things being compared are measured in turns:
round k of every measure runs before round k+1 of any, and a noisy
neighbour hurts all of them alike. Only medians and ratios of medians from
one run are worth quoting.
"""

from __future__ import annotations

import random
import statistics
import time
import timeit
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Stats", "interleave", "measure", "paired_interval", "per_call", "percentile", "ratio"]


@dataclass(frozen=True, slots=True)
class Stats:
    """One figure over rounds."""

    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def scaled(self, scale: float = 1.0, digits: int = 3) -> dict[str, Any]:
        """The median, min and max times ``scale``, for the JSON output."""
        return {
            "median": round(self.median * scale, digits),
            "min": round(min(self.samples) * scale, digits),
            "max": round(max(self.samples) * scale, digits),
            "rounds": len(self.samples),
        }

    def seconds(self) -> dict[str, Any]:
        """Median, min and max in seconds, for figures timed as whole runs."""
        return {
            "median_s": round(self.median, 4),
            "min_s": round(min(self.samples), 4),
            "max_s": round(max(self.samples), 4),
            "runs": len(self.samples),
        }


def percentile(samples: Sequence[float], share: float) -> float:
    """The sample at ``share`` (0.5 the median, 0.99 the p99) of the sorted samples, one of them."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def paired_interval(
    mine: Sequence[Sequence[float]], theirs: Sequence[Sequence[float]], share: float, draws: int = 1000
) -> tuple[float, float]:
    """A 95% bootstrap interval for ``percentile(mine) - percentile(theirs)`` over all their samples,
    where ``mine[k]`` and ``theirs[k]`` were measured side by side (turn ``k`` of interleaved slices).

    Each draw picks as many turns as there are, with replacement, and takes both sides of every
    turn it picks: what the machine did during a turn stays paired, as it was when measured. A
    difference whose interval holds the floor is one this run cannot tell from its own noise.
    The draws are seeded, so a run's figures reproduce from its samples."""
    if len(mine) != len(theirs):
        raise ValueError(f"paired_interval needs the same turns on both sides, got {len(mine)} and {len(theirs)}")
    if not mine:
        raise ValueError("paired_interval needs at least one turn measured on both sides, got none")
    chance = random.Random(0)
    turns = range(len(mine))
    differences = []
    for _ in range(draws):
        picked = chance.choices(turns, k=len(mine))
        ours = [ms for turn in picked for ms in mine[turn]]
        others = [ms for turn in picked for ms in theirs[turn]]
        differences.append(percentile(ours, share) - percentile(others, share))
    return percentile(differences, 0.025), percentile(differences, 0.975)


def interleave(rounds: int, measures: Mapping[str, Callable[[], float]]) -> dict[str, Stats]:
    """Call every measure once per round, in turns; each call returns one sample."""
    samples: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            samples[name].append(measure())
    return {name: Stats(tuple(values)) for name, values in samples.items()}


def per_call(job: Callable[[], object], units: int, round_seconds: float) -> Callable[[], float]:
    """A measure of ``job`` (which does ``units`` of work per call): CPU seconds per unit.

    Calibrated once so a round lasts about ``round_seconds``; timeit switches
    garbage collection off while it times. The clock is this process's CPU
    time: time spent waiting for a shared core is not the code's cost.
    """
    timer = timeit.Timer(job, timer=time.process_time)
    number = 1
    while timer.timeit(number) < round_seconds / 4:
        number *= 2
    number *= 4
    return lambda: timer.timeit(number) / number / units


def measure(action: Callable[[], object], repeat: int) -> Stats:
    """Run ``action`` ``repeat`` times (at least once); wall seconds per run."""
    samples = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return Stats(tuple(samples))


def ratio(over: Stats, under: Stats) -> dict[str, Any]:
    """The ratio of medians, and its spread as the ratios of the rounds' figures taken pairwise."""
    pairs = [a / b for a, b in zip(over.samples, under.samples, strict=True)]
    return {"median": round(over.median / under.median, 2), "min": round(min(pairs), 2), "max": round(max(pairs), 2)}
