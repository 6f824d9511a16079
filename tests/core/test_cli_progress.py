"""``routegate drift`` draws a bar of the templates it reads on a terminal's stderr, and nowhere else.

The CLI runs as a real process with its stderr on a pseudo-terminal (what a person
watching sees) or on a pipe (what CI and redirections see).
"""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from routegate.templates import bundled_templates_path

ROUTEGATE = shutil.which("routegate", path=os.path.dirname(sys.executable)) or "routegate"
ERASE = "\r\x1b[K"
# The CLI starts counting at this many templates (routegate.cli.gates._PROGRESS_FROM).
THRESHOLD = 20


def bar(label: str, done: int, total: int) -> str:
    """One frame of the CLI's progress bar, as a terminal receives it: 30 cells, the percent, the count."""
    filled = 30 * done // total
    return f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {100 * done // total:3d}% {done}/{total}"


def template_folder(root: Path, count: int, broken_at: int | None = None) -> Path:
    """``count`` copies of the bundled claude-code template, the one at ``broken_at`` unreadable."""
    source = (bundled_templates_path() / "claude-code" / "config.yaml").read_text(encoding="utf-8")
    for index in range(count):
        folder = root / f"t{index:03d}"
        folder.mkdir(parents=True)
        (folder / "config.yaml").write_text("runtime: [unclosed\n" if index == broken_at else source, encoding="utf-8")
    return root


def on_a_terminal(*args: str) -> tuple[int, str, str]:
    """``routegate ARGS``' exit code, stdout and what the terminal on its stderr received."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [ROUTEGATE, *args],
            stdout=subprocess.PIPE,
            stderr=terminal,
            env={**os.environ, "NO_COLOR": "1"},
        )
        os.close(terminal)
        terminal = -1
        received = bytearray()
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal's other side closed: the process is done writing
                break
            if not chunk:
                break
            received += chunk
        stdout, _ = process.communicate(timeout=60)
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    return process.returncode, stdout.decode(), received.decode()


def drift_on_a_terminal(folder: Path) -> tuple[int, str, str]:
    return on_a_terminal("drift", "--report-only", str(folder))


@pytest.mark.parametrize("count", [THRESHOLD, THRESHOLD + 7])
def test_many_templates_are_counted_on_the_terminal_then_erased(tmp_path: Path, count: int) -> None:
    code, stdout, terminal = drift_on_a_terminal(template_folder(tmp_path / "many", count))
    assert code == 0
    frames = [bar("reading templates", done, count) for done in range(count)]
    assert terminal == "".join(frames) + ERASE
    assert stdout.count("claude-code") == count  # the report itself is unchanged, on stdout


def test_a_few_templates_are_read_without_a_count(tmp_path: Path) -> None:
    code, stdout, terminal = drift_on_a_terminal(template_folder(tmp_path / "few", THRESHOLD - 1))
    assert code == 0 and terminal == ""
    assert stdout.count("claude-code") == THRESHOLD - 1


def test_the_count_is_erased_before_an_unreadable_template_is_reported(tmp_path: Path) -> None:
    code, stdout, terminal = drift_on_a_terminal(template_folder(tmp_path / "broken", THRESHOLD + 2, broken_at=5))
    assert code == 2 and stdout == ""
    counted, erased, message = terminal.partition(ERASE)
    assert counted.endswith(bar("reading templates", 5, 22)) and erased
    assert message.startswith("routegate: ") and "t005" in message


def test_a_redirected_stderr_never_sees_the_count(tmp_path: Path) -> None:
    folder = template_folder(tmp_path / "piped", THRESHOLD + 3)
    done = subprocess.run(
        [ROUTEGATE, "drift", "--report-only", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stderr == ""
