"""What routegate's gate costs a LiteLLM proxy deciding in process, per call: the authorization and the usage report.

    .venv/bin/python bench/in_process_gate.py [--rounds 7] [--calls 1000] [--postgres URL]
        [--baseline CHECKOUT] [--smoke]

A proxy started with ``ROUTEGATE_DATABASE_URL`` decides each call on its own event loop's
thread: the decision and its receipt's commit before the call leaves, the usage report's
commit after it. Both hold the loop that serves every other call, so their CPU is what the
proxy has less of. This times them without LiteLLM around them, on the integration's own
in-process gate (the object its custom_auth asks): one call after another, each authorized
for a codex workspace's call token and then reported, as at one connection.

Each round runs every arm in a fresh process, in an order that turns: this tree, and with
``--baseline`` another checkout (its ``src`` first on the path), on the same database. On
SQLite and, with ``--postgres`` (default ``$ROUTEGATE_TEST_POSTGRES_URL``), on a PostgreSQL
database made for the run. Per call: wall and CPU microseconds (the process's, every thread),
medians over the rounds [min, max]. No floor: issue 22's are on the whole proxy
(bench/litellm_proxy.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _report import add_smoke_flag, emit
from _serving import add_postgres_flag, call_token, on_each_database, postgres_database, routegate_serving
from _timing import Stats

MODEL = "openai/gpt-5.4"  # platform-paid on codex
WARM_UP = 100


def issue_token(url: str, folder: Path) -> str:
    """A codex workspace on the database at ``url`` and a call token for it, through the service."""
    with routegate_serving(url, folder) as (port, _pid):
        return call_token(port, "codex", MODEL)


def timed_calls(url: str, token: str, calls: int) -> dict[str, float]:
    """In this process: ``calls`` authorizations, each followed by its usage report; microseconds per call."""
    try:
        from routegate.integrations._gates import InProcess

        gate = InProcess(url, loop_busy=lambda: False)  # one call at a time: every receipt committed on the loop
    except ImportError:  # a --baseline checkout from before the integration's gates had a module of their own
        from routegate.integrations.litellm import _InProcess  # type: ignore[attr-defined]

        gate = _InProcess(url)

    async def call() -> None:
        status, answer = await gate.authorize(token, MODEL)
        if status != 200 or not answer.get("allowed"):
            raise SystemExit(f"the call was refused: {status} {answer}")
        await gate.report(answer["receipt_id"], 12, 30, "ok")

    async def main() -> dict[str, float]:
        for _ in range(WARM_UP):  # the view's first read of the tokens, and the first commits
            await call()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            await call()
        return {
            "wall_us": (time.perf_counter() - wall) * 1e6 / calls,
            "cpu_us": (time.process_time() - cpu) * 1e6 / calls,
        }

    return asyncio.run(main())


def in_a_process(checkout: Path | None, url: str, token: str, calls: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEGATE_")}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # offline: LiteLLM's bundled cost map, no fetch
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout.resolve() / "src")
    command = [sys.executable, __file__, "--child", url, token, str(calls)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"an arm failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout.splitlines()[-1])
    return figures


def run(args: argparse.Namespace, folder: Path, database: str) -> dict[str, Any]:
    arms = {"routegate": None, **({"baseline": Path(args.baseline)} if args.baseline else {})}
    with ExitStack() as stack:
        if database == "postgresql":
            url = stack.enter_context(postgres_database(args.postgres))
        else:
            url = f"sqlite:///{folder / 'gate.db'}"
        token = issue_token(url, folder)
        kept: dict[str, dict[str, list[float]]] = {name: {} for name in arms}
        names = list(arms)
        for number in range(args.rounds):
            for name in names[number % len(names) :] + names[: number % len(names)]:
                for key, value in in_a_process(arms[name], url, token, args.calls).items():
                    kept[name].setdefault(key, []).append(value)
    return {
        name: {key: Stats(tuple(values)).scaled() for key, values in figures.items()} for name, figures in kept.items()
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['reproduce']}  ({result['machine']})",
        "microseconds per call (authorization and usage report): median over the rounds [min, max]",
    ]
    for database, arms in result["by_database"].items():
        lines += ["", database, f"{'':<14}{'wall':>26}{'CPU':>26}"]
        for name, figures in arms.items():
            lines.append(f"{name:<14}{_shown(figures['wall_us']):>26}{_shown(figures['cpu_us']):>26}")
        if "baseline" in arms:
            ratio = arms["routegate"]["cpu_us"]["median"] / arms["baseline"]["cpu_us"]["median"]
            lines.append(f"CPU per call, routegate / baseline: {ratio:.2f}x")
    return "\n".join(lines)


def _shown(spread: dict[str, Any]) -> str:
    return f"{spread['median']:.0f} [{spread['min']:.0f}, {spread['max']:.0f}]"


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        url, token, calls = sys.argv[2:5]
        print(json.dumps(timed_calls(url, token, int(calls))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=1000, help="calls per round and arm")
    parser.add_argument("--baseline", help="another checkout whose gate is measured beside this one")
    add_postgres_flag(parser)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.calls = 2, 10
    result = on_each_database(args, "routegate-bench-in-process-", run)
    emit(result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
