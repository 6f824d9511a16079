"""Fixtures for the console: a real ``routegate serve`` on a free port, and real Chromium.

Each server is a subprocess with its own SQLite file. Browser tests drive
Debian's Chromium (scripts/chromium.sh installs it) through the Playwright
pip package; they skip with a reason when it is missing, except under CI,
where a missing browser is a failure (the service tests' skip_or_fail).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.service.conftest import PATIENCE_S, skip_or_fail

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
AXE = Path(__file__).resolve().parent / "node" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")
API_TOKEN = "console-test-token-3f9c1a"
WIDE: ViewportSize = {"width": 1280, "height": 900}
NARROW: ViewportSize = {"width": 390, "height": 844}


@dataclass
class Server:
    url: str
    token: str | None
    log: Path

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, **kwargs)  # type: ignore[arg-type]

    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(tmp: Path, token: str | None) -> Iterator[Server]:
    port = _free_port()
    log = tmp / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEGATE_")}
    if token is not None:
        env["ROUTEGATE_API_TOKEN"] = token
    command = [
        sys.executable, "-c", "import sys; from routegate.cli import main; sys.exit(main())",
        "serve", "--host", "127.0.0.1", "--port", str(port), "--database-url", f"sqlite:///{tmp / 'console.db'}",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=tmp, env=env, stdout=sink, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", token, log)
    try:
        deadline = time.monotonic() + PATIENCE_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"routegate serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"routegate serve did not answer /healthz within 30 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An open service (no API token), as on a developer's loopback."""
    yield from _serve(tmp_path_factory.mktemp("console-open"), None)


@pytest.fixture(scope="session")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A service guarded by ROUTEGATE_API_TOKEN."""
    yield from _serve(tmp_path_factory.mktemp("console-token"), API_TOKEN)


# --- the browser ------------------------------------------------------------------------


def _require_chromium() -> None:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    skip_or_fail(f"{CHROMIUM} is missing: run scripts/chromium.sh to install Debian's chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=10_000)  # a shared 2-core CI machine can be slow; never a reason to fail

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Tab:
    """A page on one server, with what it asked the network for and what it complained about."""

    page: Page
    base: str
    requests: list[tuple[str, str]] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    expected_errors: list[str] = field(default_factory=list)
    tolerated_outside: list[str] = field(default_factory=list)

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(target), full_page=True)
        return target

    def accessibility_violations(self) -> list[str]:
        """axe-core's serious and critical violations on the page as it is now, one line each."""
        if not AXE.is_file():
            skip_or_fail(f"{AXE} is missing: run scripts/node-deps.sh to install axe-core")
        # evaluate() runs as the browser's devtools would, so the page's Content-Security-Policy stays on.
        self.page.evaluate(AXE.read_text())
        found = self.page.evaluate(
            """async (impacts) => {
                const result = await axe.run(document, {resultTypes: ["violations"]});
                return result.violations.filter(v => impacts.includes(v.impact))
                    .map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map(n => n.target.join(" ")).join(", ")}`);
            }""",
            list(SERIOUS),
        )
        return list(found)

    def tolerate_outside(self, url: str) -> None:
        """A request for ``url`` outside the server that the page makes and survives being refused."""
        self.tolerated_outside.append(url)

    def expect_console_error(self, fragment: str) -> None:
        """A browser error log line the test provokes on purpose (a refused request logs one)."""
        self.expected_errors.append(fragment)

    def calls(self, method: str, path: str) -> list[str]:
        """Requests the page made to ``path`` (without the query) with ``method``."""
        prefix = self.base + path
        return [url for m, url in self.requests if m == method and url.split("?")[0] == prefix]


def open_tab(browser: Browser, base: str, viewport: ViewportSize) -> Iterator[Tab]:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(10_000)
    tab = Tab(page, base)

    def guard(route: Route) -> None:
        url = route.request.url
        if url.startswith(base + "/"):
            route.continue_()
        else:
            tab.outside.append(url)
            route.abort()

    context.route("**/*", guard)
    page.on("request", lambda request: tab.requests.append((request.method, request.url)))
    page.on("console", lambda message: message.type == "error" and tab.errors.append(message.text))
    page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    try:
        yield tab
    finally:
        context.close()
    outside = [url for url in tab.outside if url not in tab.tolerated_outside]
    assert outside == [], f"the console asked for something outside its server: {outside}"
    unexpected = [e for e in tab.errors if not any(fragment in e for fragment in tab.expected_errors)]
    assert unexpected == [], f"the page logged errors (script errors or CSP violations): {unexpected}"


@pytest.fixture
def tab(browser: Browser, server: Server) -> Iterator[Tab]:
    """A wide browser tab on the open server."""
    yield from open_tab(browser, server.url, WIDE)


@pytest.fixture
def narrow_tab(browser: Browser, server: Server) -> Iterator[Tab]:
    """A phone-sized browser tab on the open server."""
    yield from open_tab(browser, server.url, NARROW)


@pytest.fixture
def token_tab(browser: Browser, token_server: Server) -> Iterator[Tab]:
    """A wide browser tab on the token-guarded server."""
    yield from open_tab(browser, token_server.url, WIDE)
