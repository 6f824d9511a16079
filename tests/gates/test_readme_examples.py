"""The examples in README.md, CHANGELOG.md and docs/*.md run as written and print what they show.

The convention, for anyone editing those files:

* A fenced block tagged ``console`` is a transcript that this test runs. A line starting
  with ``$ `` is a command; a command whose line ends with a backslash continues on the
  next line. The lines after a command, up to the next command or the end of the block,
  are what it prints (standard output and standard error together). Trailing spaces and
  blank lines at the end of an output are ignored.
* ``...`` in an expected output stands for any text, including none and several lines
  (like doctest's ELLIPSIS): use it for ids, timestamps and elided lines.
* A command must exit 0, unless its line ends with a comment ``# exit N``: then it must
  exit N. (bash reads the comment as a comment, so the line still runs as written.)
* The commands of one block run with bash, one after another, each in a shell of its own
  (a variable one command sets is gone for the next), in one fresh folder: a git
  repository whose branch ``main`` holds the bundled manifest and templates where a
  routegate checkout has them (``src/routegate/data/``), so the examples read like commands
  run at the top of a checkout. ``routegate`` and ``python3`` are this venv's.
  ``$ROUTEGATE_URL`` is the address of a real ``routegate serve`` (on a free port, a
  SQLite file of its own), started once for the module when a block uses it.
* A fenced block tagged ``pycon`` is run as a doctest, in the same kind of folder.
* Anything that cannot run here (``make run``, installs, a CI recipe with placeholders)
  goes in a block with another tag (``sh``, ``yaml``, ...), so the rule is simply: every
  ``console`` and ``pycon`` block runs.
"""

from __future__ import annotations

import contextlib
import doctest
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from routegate.manifest import bundled_manifest_path
from routegate.templates import bundled_templates_path

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]
VENV_BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```(\S*)\s*$")
EXIT_COMMENT = re.compile(r"#\s*exit\s+(\d+)\s*$")
WILDCARD = "..."
# Bounds against a hang, not timings: an example takes a second or two, a server starts in a few.
COMMAND_TIMEOUT = 300
SERVE_DEADLINE = 300


@dataclass(frozen=True)
class Command:
    line: int  # 1-based line of the command in its document
    text: str  # what bash runs: continuation lines joined as written
    expected: str  # expected output, lines joined with "\n", trailing blank lines dropped
    status: int  # expected exit status


@dataclass(frozen=True)
class Block:
    document: Path
    line: int  # 1-based line of the opening fence
    language: str
    body: list[str]

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(REPO)}:{self.line}"

    def commands(self) -> list[Command]:
        """The block's transcript as commands, each with its expected output and exit status."""
        commands: list[Command] = []
        index = 0
        body = self.body
        while index < len(body):
            line = body[index]
            if not line.startswith("$ "):
                if line.strip():
                    raise ValueError(f"{self.name}: output before the first command: {line!r}")
                index += 1
                continue
            start = self.line + 1 + index
            parts = [line[2:]]
            while parts[-1].endswith("\\") and index + 1 < len(body):
                index += 1
                parts.append(body[index])
            index += 1
            output: list[str] = []
            while index < len(body) and not body[index].startswith("$ "):
                output.append(body[index].rstrip())
                index += 1
            while output and not output[-1]:
                output.pop()
            found = EXIT_COMMENT.search(parts[-1])
            commands.append(Command(start, "\n".join(parts), "\n".join(output), int(found[1]) if found else 0))
        return commands


def fenced_blocks(document: Path) -> list[Block]:
    """Every fenced block of a Markdown document, with its tag and the line it opens on."""
    blocks: list[Block] = []
    lines = document.read_text(encoding="utf-8").splitlines()
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(lines, start=1):
        fence = FENCE.match(line)
        if opened is None:
            if fence:
                opened, body = (number, fence[1]), []
        elif fence and not fence[1]:
            blocks.append(Block(document, opened[0], opened[1], body))
            opened = None
        else:
            body.append(line)
    if opened is not None:
        raise ValueError(f"{document.name}:{opened[0]}: the fenced block is never closed")
    return blocks


def blocks_tagged(language: str) -> list[Block]:
    return [block for document in DOCUMENTS for block in fenced_blocks(document) if block.language == language]


def matches(expected: str, actual: str) -> bool:
    """Whether ``actual`` is ``expected`` with each ``...`` standing for any text."""
    pattern = ".*?".join(re.escape(part) for part in expected.split(WILDCARD))
    return re.fullmatch(pattern, actual, flags=re.DOTALL) is not None


def normalised(output: str) -> str:
    lines = [line.rstrip() for line in output.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def scratch_checkout(folder: Path) -> Path:
    """A git repository with the bundled manifest and templates on ``main``, as in a checkout."""
    data = folder / "src" / "routegate" / "data"
    data.mkdir(parents=True)
    shutil.copyfile(bundled_manifest_path(), data / "providers.yaml")
    shutil.copytree(bundled_templates_path(), data / "templates")
    identity = ["-c", "user.name=README examples", "-c", "user.email=readme@example.invalid"]
    git = ["git", *identity, "-c", "commit.gpgsign=false"]
    for args in (["init", "--quiet", "--initial-branch=main"], ["add", "."], ["commit", "--quiet", "-m", "bundled"]):
        subprocess.run([*git, *args], cwd=folder, check=True, capture_output=True)
    return folder


def example_env(url: str | None) -> dict[str, str]:
    """The environment a reader's shell would have: this venv first on PATH, no colour, no
    ROUTEGATE_* settings of the machine's own (the suite's private manifest cache stays)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ROUTEGATE_") or key == "ROUTEGATE_CACHE_DIR"
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["NO_COLOR"] = "1"
    env.pop("VIRTUAL_ENV", None)
    if url is not None:
        env["ROUTEGATE_URL"] = url
    return env


class Mismatch(AssertionError):
    pass


def run_block(block: Block, folder: Path, url: str | None) -> int:
    """Run a console block's commands in ``folder``; raise :class:`Mismatch` at the first that
    prints or exits otherwise than the block says. Returns how many commands ran."""
    env = example_env(url)
    commands = block.commands()
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command.text],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        actual = normalised(done.stdout)
        if done.returncode != command.status or not matches(command.expected, actual):
            raise Mismatch(
                f"{block.document.relative_to(REPO)}:{command.line}: $ {command.text}\n"
                f"exit status {done.returncode}, expected {command.status}\n"
                f"--- expected output\n{command.expected}\n--- actual output\n{actual}"
            )
    return len(commands)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``routegate serve`` on a free loopback port, once it answers ``/healthz``.

    Readiness is polled, not timed: each try ends when the server answers or exits. A server
    that exits before answering (another process took the port in between) is tried again
    on another port, three times in all; a server that neither answers nor exits within
    ``SERVE_DEADLINE`` seconds is a hang, reported as such.
    """
    attempts: list[str] = []
    for attempt in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = folder / f"serve-{attempt}.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [
                    VENV_BIN / "routegate",
                    "serve",
                    "--port",
                    str(port),
                    "--database-url",
                    f"sqlite:///{folder / 'rg.db'}",
                ],
                cwd=folder,
                env=example_env(None),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + SERVE_DEADLINE
        while server.poll() is None and not healthy(url):
            if time.monotonic() > deadline:
                stop(server)
                pytest.fail(f"routegate serve neither answered nor exited: {log_path.read_text()}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(0.2)
        if server.poll() is None:
            return server, url
        attempts.append(f"exit {server.returncode}: {log_path.read_text()}")
    pytest.fail("routegate serve did not start:\n" + "\n".join(attempts))


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture(scope="module")
def routegate_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``routegate serve`` (the venv's command) on a free loopback port, a SQLite file of its own."""
    server, url = start_server(tmp_path_factory.mktemp("readme-serve"))
    try:
        yield url
    finally:
        stop(server)


def needs_tools(block: Block) -> None:
    for tool in ("bash", "git", *(["curl"] if "curl " in "\n".join(block.body) else [])):
        if shutil.which(tool) is None:
            pytest.skip(f"the example needs {tool}, which is not on PATH")


CONSOLE_BLOCKS = blocks_tagged("console")
PYCON_BLOCKS = blocks_tagged("pycon")


@pytest.mark.parametrize("block", CONSOLE_BLOCKS, ids=[block.name for block in CONSOLE_BLOCKS])
def test_a_console_example_prints_what_the_document_shows(
    block: Block, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    needs_tools(block)
    url = request.getfixturevalue("routegate_url") if "$ROUTEGATE_URL" in "\n".join(block.body) else None
    try:
        ran = run_block(block, scratch_checkout(tmp_path), url)
    except Mismatch as mismatch:
        pytest.fail(str(mismatch), pytrace=False)
    assert ran > 0, f"{block.name}: a console block with no command"


@pytest.mark.parametrize("block", PYCON_BLOCKS, ids=[block.name for block in PYCON_BLOCKS])
def test_a_python_example_prints_what_the_document_shows(block: Block, tmp_path: Path) -> None:
    text = "\n".join(block.body) + "\n"
    test = doctest.DocTestParser().get_doctest(text, {}, block.name, str(block.document), block.line)
    assert test.examples, f"{block.name}: a pycon block with no example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    cwd = Path.cwd()
    os.chdir(scratch_checkout(tmp_path))
    try:
        runner.run(test, out=report.append)
    finally:
        os.chdir(cwd)
    assert runner.failures == 0, "".join(report)


def test_the_readme_shows_the_cli_the_diff_and_the_http_api_as_running_examples() -> None:
    """The examples users copy most are among those run above, not in untested blocks."""
    readme = [block for block in CONSOLE_BLOCKS if block.document.name == "README.md"]
    commands = "\n".join(command.text for block in readme for command in block.commands())
    for shown in ("routegate check ", "routegate diff ", "routegate drift ", "curl ", "$ROUTEGATE_URL"):
        assert shown in commands, f"no console example in README.md runs {shown!r}"
    assert [block for block in PYCON_BLOCKS if block.document.name == "README.md"], "the library example is not run"


def test_a_drifted_example_fails(tmp_path: Path) -> None:
    """The checker is not vacuous: a changed output, a changed exit status and a command that
    no longer exists are each reported, while the same block as written passes."""
    as_written = Block(
        REPO / "README.md",
        1,
        "console",
        [
            "$ routegate check hermes gpt-4o --json | grep -o UNREGISTERED_MODEL_FOR_RUNTIME | head -n 1",
            "UNREGISTERED_MODEL_FOR_RUNTIME",
            "$ routegate check hermes gpt-4o   # exit 1",
            "rejected UNREGISTERED_MODEL_FOR_RUNTIME",
            "  no provider native to runtime 'hermes' serves 'gpt-4o': ...",
        ],
    )
    folder = scratch_checkout(tmp_path / "checkout")
    assert run_block(as_written, folder, None) == 2
    drifted = [
        ["$ routegate check hermes gpt-4o   # exit 1", "rejected MODEL_REQUIRED", "..."],
        ["$ routegate check hermes gpt-4o   # exit 0", "rejected UNREGISTERED_MODEL_FOR_RUNTIME", "..."],
        ["$ routegate chekc hermes gpt-4o   # exit 1", "rejected UNREGISTERED_MODEL_FOR_RUNTIME", "..."],
    ]
    for body in drifted:
        with pytest.raises(Mismatch):
            run_block(Block(as_written.document, 1, "console", body), folder, None)


def test_the_wildcard_stands_for_any_text_and_nothing_else_is_loose() -> None:
    assert matches('{"id": "...", "name": "research"}', '{"id": "4677b29e", "name": "research"}')
    assert matches("first\n...\nlast", "first\nsecond\nthird\nlast")
    assert matches("a...b", "ab")
    assert not matches('{"id": "...", "name": "research"}', '{"id": "4677b29e", "name": "research (2)"}')
    assert not matches("exact", "exact plus more")
    assert not matches("a.c", "abc"), "a dot is a dot, not a regex"


def test_a_transcript_is_read_as_commands_outputs_and_exit_statuses() -> None:
    block = Block(
        REPO / "README.md",
        10,
        "console",
        ["$ one \\", "    --flag   # exit 1", "out 1", "out 2   ", "", "$ two", "", ""],
    )
    assert block.commands() == [
        Command(11, "one \\\n    --flag   # exit 1", "out 1\nout 2", 1),
        Command(16, "two", "", 0),
    ]
    with pytest.raises(ValueError, match="output before the first command"):
        Block(REPO / "README.md", 1, "console", ["stray"]).commands()


def test_the_scratch_checkout_has_the_bundled_manifest_committed_on_main(tmp_path: Path) -> None:
    shown = subprocess.run(
        ["git", "show", "main:src/routegate/data/providers.yaml"],
        cwd=scratch_checkout(tmp_path),
        capture_output=True,
        check=True,
    ).stdout
    assert shown == bundled_manifest_path().read_bytes()
