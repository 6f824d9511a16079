"""What a gateway's usage report costs the service: one report for every call the gateway forwarded.

    .venv/bin/python bench/usage_reports.py [--rounds 5] [--reports 400] [--batch 8] [--postgres URL]
        [--baseline CHECKOUT] [--smoke]

Serves routegate (one worker) on SQLite and, with ``--postgres`` (default
``$ROUTEGATE_TEST_POSTGRES_URL``), on a PostgreSQL database made for the run; with
``--baseline`` another checkout's routegate beside it, on a database of its own. Each
round, server after server: ``--reports`` calls authorized for a codex workspace, then
their usage reported one at a time on one keep-alive connection, as the LiteLLM
integration reports after each call (a receipt takes one report, so every round reports
receipts of its own). Per request: the wall time's p50 and p99, and the server's CPU time
(every thread, from /proc). Then, on each server that serves it, as many more calls reported
``--batch`` at a time with ``POST /calls/usage``, as the integration sends them over HTTP:
each request's wall time and the server's CPU time per report. Medians over the rounds
[min, max]. No floor: issue 22's are on the whole call, measured by bench/litellm_proxy.py.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _report import add_smoke_flag, emit
from _serving import add_postgres_flag, cpu_seconds, on_each_database, postgres_database, routegate_serving
from _timing import Stats, percentile

MODEL = "openai/gpt-5.4"  # platform-paid on codex
USAGE = {"prompt_tokens": 12, "completion_tokens": 30, "status": "ok"}


class Gateway:
    """One keep-alive connection to a served routegate, with a call token of a codex workspace."""

    def __init__(self, port: int, pid: int) -> None:
        self.pid = pid
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        created = self.post("/workspaces", {"name": "reports", "runtime": "codex", "model": MODEL})
        self.token = self.post(f"/workspaces/{created['id']}/call-tokens", {"note": "bench"})["token"]
        self.batches = self.answer("/calls/usage", {"reports": []})[0] != 404  # the code before may not serve it

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        answer = self.connection.getresponse()
        return answer.status, json.loads(answer.read())

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, content = self.answer(path, body)
        if status not in (200, 201):
            raise SystemExit(f"{path} answered {status}: {content}")
        return content

    def timed(self, paths: list[tuple[str, dict[str, Any]]]) -> tuple[list[float], float, list[dict[str, Any]]]:
        """Each request's wall milliseconds, the server's CPU milliseconds per request, the answers."""
        walls, answers = [], []
        cpu = cpu_seconds(self.pid)
        for path, body in paths:
            started = time.perf_counter()
            answers.append(self.post(path, body))
            walls.append((time.perf_counter() - started) * 1000)
        return walls, (cpu_seconds(self.pid) - cpu) * 1000 / len(paths), answers


def measure(gateways: dict[str, Gateway], rounds: int, reports: int, batch: int) -> dict[str, Any]:
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in gateways}
    for number in range(rounds):
        names = list(gateways)
        for name in names[number % len(names) :] + names[: number % len(names)]:
            gateway = gateways[name]
            ask = [("/calls/authorize", {"token": gateway.token, "model": MODEL})] * reports
            walls, cpu, answers = gateway.timed(ask)
            kept = figures[name]
            for key, value in (("authorize_p50", percentile(walls, 0.5)), ("authorize_cpu", cpu)):
                kept.setdefault(key, []).append(value)
            report = [(f"/calls/receipts/{answer['receipt_id']}/usage", USAGE) for answer in answers]
            walls, cpu, _ = gateway.timed(report)
            for key, value in (
                ("report_p50", percentile(walls, 0.5)),
                ("report_p99", percentile(walls, 0.99)),
                ("report_cpu", cpu),
            ):
                kept.setdefault(key, []).append(value)
            if gateway.batches:
                items = [{"receipt_id": answer["receipt_id"], **USAGE} for answer in gateway.timed(ask)[2]]
                batches = [("/calls/usage", {"reports": items[at : at + batch]}) for at in range(0, len(items), batch)]
                walls, cpu, _ = gateway.timed(batches)
                kept.setdefault("batch_p50", []).append(percentile(walls, 0.5))
                kept.setdefault("batched_cpu", []).append(cpu * len(batches) / len(items))
    return {name: {key: Stats(tuple(v)).scaled() for key, v in kept.items()} for name, kept in figures.items()}


def run(args: argparse.Namespace, folder: Path, database: str) -> dict[str, Any]:
    with ExitStack() as stack:
        arms = {"routegate": None, **({"baseline": Path(args.baseline)} if args.baseline else {})}
        gateways = {}
        for name, checkout in arms.items():
            if database == "postgresql":
                url = stack.enter_context(postgres_database(args.postgres))
            else:
                url = f"sqlite:///{folder / f'{name}.db'}"
            port, pid = stack.enter_context(routegate_serving(url, folder, checkout=checkout))
            gateways[name] = Gateway(port, pid)
        return measure(gateways, args.rounds, args.reports, args.batch)


def table(result: dict[str, Any]) -> str:
    lines = [f"{result['reproduce']}  ({result['machine']})", "ms per request: median over the rounds [min, max]"]
    header = f"{'':<22}{'authorize p50':>22}{'authorize CPU':>22}{'report p50':>22}{'report p99':>22}{'report CPU':>22}"
    for database, arms in result["by_database"].items():
        lines += ["", database, header]
        for name, figures in arms.items():
            cells = "".join(
                f"{_shown(figures[key]):>22}"
                for key in ("authorize_p50", "authorize_cpu", "report_p50", "report_p99", "report_cpu")
            )
            lines.append(f"{name:<22}{cells}")
        if "baseline" in arms:
            ratio = arms["routegate"]["report_cpu"]["median"] / arms["baseline"]["report_cpu"]["median"]
            lines.append(f"report CPU, routegate / baseline: {ratio:.2f}x")
        for name, figures in arms.items():
            if "batched_cpu" in figures:
                ratio = figures["batched_cpu"]["median"] / figures["report_cpu"]["median"]
                lines.append(
                    f"{name}: {result['batch']} reports a request (POST /calls/usage): request p50 "
                    f"{_shown(figures['batch_p50'])}, CPU per report {_shown(figures['batched_cpu'])}, "
                    f"{ratio:.2f}x one report a request"
                )
    return "\n".join(lines)


def _shown(spread: dict[str, Any]) -> str:
    return f"{spread['median']:.2f} [{spread['min']:.2f}, {spread['max']:.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reports", type=int, default=400, help="calls authorized and reported per round and server")
    parser.add_argument("--batch", type=int, default=8, help="reports a request in POST /calls/usage")
    parser.add_argument("--baseline", help="another checkout whose routegate is measured beside this one")
    add_postgres_flag(parser)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.reports = 2, 8
    result = {**on_each_database(args, "routegate-bench-reports-", run), "batch": args.batch}
    emit(result, table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
