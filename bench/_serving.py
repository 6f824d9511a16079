"""Serving for the benches that drive real processes: free ports, readiness, a PostgreSQL database per run."""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

__all__ = ["add_postgres_flag", "free_port", "keep_alive_load", "postgres_database", "wait_for_health"]


def add_postgres_flag(parser: argparse.ArgumentParser) -> None:
    """``--postgres URL``: the PostgreSQL server a bench makes its run's database on, as the tests find theirs."""
    parser.add_argument(
        "--postgres",
        default=os.environ.get("ROUTEGATE_TEST_POSTGRES_URL", ""),
        help="a PostgreSQL server URL to make the run's database on (default: $ROUTEGATE_TEST_POSTGRES_URL)",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_health(port: int, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Return once the server on ``port`` answers /healthz with 200; fail if it exits or never does."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            probe.request("GET", "/healthz")
            if probe.getresponse().status == 200:
                return
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"the server for port {port} exited with {process.returncode}: {process.args!r}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server on port {port} did not answer /healthz within {seconds:g} s")
        time.sleep(0.1)


def keep_alive_load(
    port: int, requests: int, connections: int, send: Callable[[http.client.HTTPConnection, int], None]
) -> tuple[list[float], float]:
    """Every call's milliseconds and the calls per second: ``send(connection, number)`` made
    ``requests // connections`` times on each of ``connections`` keep-alive connections, all
    started together, as a client pool would load the server."""
    barrier = threading.Barrier(connections + 1)
    latencies: list[float] = []

    def drive() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine = []
        barrier.wait()
        for number in range(requests // connections):
            started = time.perf_counter()
            send(connection, number)
            mine.append((time.perf_counter() - started) * 1000)
        latencies.extend(mine)
        connection.close()

    threads = [threading.Thread(target=drive) for _ in range(connections)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return latencies, len(latencies) / (time.perf_counter() - started)


@contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A database made for this run on the PostgreSQL server at ``server_url``; its URL; dropped afterwards.

    The drop needs no superuser: it ends only this role's own sessions, and a plain ``DROP DATABASE``
    asks any autovacuum worker in it to stop (``WITH (FORCE)`` would try to end that worker itself, which
    only a superuser may do).
    """
    admin = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"rg_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop(admin, name)


def _drop(admin: str, name: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    with psycopg.connect(admin, autocommit=True) as connection:
        while True:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND usename = current_user AND pid <> pg_backend_pid()",
                (name,),
            )
            try:
                connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
                return
            except psycopg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
