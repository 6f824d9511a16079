"""Wall-clock timing shared by the bench scripts: the median, min and max of repeated runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds per run over ``runs`` repetitions."""

    median: float
    min: float
    max: float
    runs: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "median_s": round(self.median, 4),
            "min_s": round(self.min, 4),
            "max_s": round(self.max, 4),
            "runs": self.runs,
        }


def measure(action: Callable[[], object], repeat: int) -> Timing:
    """Run ``action`` ``repeat`` times (at least once) and time each run."""
    times = []
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return Timing(statistics.median(times), min(times), max(times), len(times))
