"""How long a one-shot ``routegate check`` takes as a whole process, against ``python -c pass``.

    .venv/bin/python bench/cli_start.py [--rounds N] [--runtime NAME] [--model ID] [--smoke]

Prints one JSON document, then a short table. Three processes are timed in
interleaved rounds (bench/_timing.py), wall clock: ``python -c pass``,
``python -c "import routegate"`` (the library alone) and ``routegate check
RUNTIME MODEL``. Then ``python -X importtime`` splits the check's imports into
the library's modules, the CLI's (``routegate.cli.*``) and the standard
library's. Every process runs with bytecode written and one untimed run first,
as an installed command runs: ``PYTHONDONTWRITEBYTECODE`` would make each one
compile the sources again. Floor, printed and never asserted in a test: the
check process within 5x ``python -c pass`` (medians of one run).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _report import add_smoke_flag, emit, judged, reproduce, verdict
from _timing import Stats, interleave

FLOOR_RATIO = 5.0
PASS, LIBRARY, CHECK = "python -c pass", "python -c 'import routegate'", "routegate check"


def _environment() -> dict[str, str]:
    """The caller's environment, bytecode written (a user's install has it) and no colour."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return environment | {"NO_COLOR": "1"}


def _routegate() -> list[str]:
    script = shutil.which("routegate", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "routegate.cli"]


def _wall(command: list[str], environment: dict[str, str]) -> Callable[[], float]:
    def measure() -> float:
        started = time.perf_counter()
        subprocess.run(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        return time.perf_counter() - started

    return measure


def processes(rounds: int, runtime: str, model: str) -> dict[str, Stats]:
    """Wall seconds of each process, in turns, after one untimed run of each (bytecode, manifest cache)."""
    environment = _environment()
    commands = {
        PASS: [sys.executable, "-c", "pass"],
        LIBRARY: [sys.executable, "-c", "import routegate"],
        CHECK: [*_routegate(), "check", runtime, model],
    }
    for command in commands.values():
        _wall(command, environment)()
    return interleave(rounds, {name: _wall(command, environment) for name, command in commands.items()})


def _import_split(runtime: str, model: str) -> dict[str, float]:
    """Seconds of self import time in one check, by whose modules: the CLI's, its argument parser's,
    the library's, and the rest (the standard library's and the dependencies', start-up's included)."""
    script = f"from routegate.cli import main; main(['check', {runtime!r}, {model!r}])"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", script], env=_environment(), capture_output=True, text=True
    )
    split = {"cli": 0.0, "argparse": 0.0, "library": 0.0, "other": 0.0}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        owner = "other"
        if name.startswith("routegate"):
            owner = "cli" if name.startswith("routegate.cli") else "library"
        elif name in ("argparse", "gettext"):
            owner = "argparse"
        split[owner] += int(self_us) / 1e6
    return split


def imports(rounds: int, runtime: str, model: str) -> dict[str, Stats]:
    samples = [_import_split(runtime, model) for _ in range(rounds)]
    return {owner: Stats(tuple(sample[owner] for sample in samples)) for owner in samples[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds of the three processes")
    parser.add_argument("--runtime", default="hermes")
    parser.add_argument("--model", default="moonshot/kimi-k2.6")
    add_smoke_flag(parser)
    args = parser.parse_args()
    rounds = 3 if args.smoke else args.rounds

    wall = processes(rounds, args.runtime, args.model)
    split = imports(max(rounds // 4, 3), args.runtime, args.model)
    ratio = round(wall[CHECK].median / wall[PASS].median, 2)
    library_ratio = round(wall[LIBRARY].median / wall[PASS].median, 2)
    floors: list[dict[str, Any]] = [
        {
            "name": f"{CHECK} / {PASS}",
            "limit": FLOOR_RATIO,
            "ratio": ratio,
            "pass": judged(ratio <= FLOOR_RATIO, args.smoke),
        }
    ]
    figures: dict[str, Any] = {
        "reproduce": reproduce(),
        "smoke": args.smoke,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "command": f"routegate check {args.runtime} {args.model}",
        "process_ms": {name: stats.scaled(1e3, 1) for name, stats in wall.items()},
        "ratio": ratio,
        "library_ratio": library_ratio,
        "check_import_self_ms": {owner: stats.scaled(1e3, 1) for owner, stats in split.items()},
        "floors": floors,
    }
    lines = [f"{figures['reproduce']}  ({figures['machine']}, Python {figures['python']})", ""]
    lines.append(f"{'process (wall)':<34} {'median':>9} {'min':>9} {'max':>9}")
    for name, stats in figures["process_ms"].items():
        lines.append(f"{name:<34} {stats['median']:>7.1f}ms {stats['min']:>7.1f}ms {stats['max']:>7.1f}ms")
    lines += ["", f"{'imports of one check (self time)':<34} {'median':>9}"]
    lines += [f"{owner:<34} {stats['median']:>7.1f}ms" for owner, stats in figures["check_import_self_ms"].items()]
    lines += ["", f"import routegate alone: {library_ratio}x {PASS}"]
    lines += [f"floor {f['name']} <= {f['limit']:g}x: {verdict(f['pass'])} ({f['ratio']}x)" for f in floors]
    emit(figures, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
