"""Each full pass of the collector in a process bench/litellm_proxy.py starts: its milliseconds, a line each.

The bench puts this folder on every proxy's ``PYTHONPATH``, so Python imports this module as the
process starts, and names the file in ``ROUTEGATE_BENCH_COLLECTOR_LOG``. A full pass walks every
object the collector tracks and holds the event loop for all of it: the bench reports those that
fell within each proxy's rounds. The younger generations' passes are left out (short, and many).
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

_FULL = 2  # the oldest generation: a pass over it walks them all


def _record(path: str) -> None:
    log = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 -- open for the process's life
    started = 0.0

    def timed(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if info["generation"] != _FULL:
            return
        if phase == "start":
            started = time.perf_counter()
        else:
            log.write(f"{(time.perf_counter() - started) * 1000:.3f}\n")

    gc.callbacks.append(timed)


if os.environ.get("ROUTEGATE_BENCH_COLLECTOR_LOG"):
    _record(os.environ["ROUTEGATE_BENCH_COLLECTOR_LOG"])
