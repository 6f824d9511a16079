"""``routegate publish`` and ``activate`` draw a bar of their replay on a terminal's stderr, and nowhere else.

Real CLI processes on a SQLite file holding a fleet past PROGRESS_FROM, their stderr on a
pseudo-terminal (what a person watching sees) or on a pipe (what CI and redirections see).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from routegate.service.publication import PROGRESS_FROM

from ..core.test_cli_progress import ERASE, on_a_terminal
from .conftest import run_cli
from .fleets import fill
from .test_publish_progress import FLEET, _store
from .test_versions import NEW_MODEL, add_platform_model, drop_runtime, variant

FRAME = re.compile(r"\rreplaying workspaces \[([#.]{30})\] +(\d+)% (\d+)/(\d+)")


def _database(folder: Path, size: int) -> str:
    url = f"sqlite:///{folder / 'routegate.db'}"
    for versions in _store(url):
        fill(versions.database, size)
    return url


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A database of FLEET workspaces on version 1, and a manifest file that passes the gate."""
    manifest = tmp_path / "k3.yaml"
    manifest.write_text(variant(add_platform_model(NEW_MODEL)))
    yield _database(tmp_path, FLEET), manifest


def replays(terminal: str) -> list[list[int]]:
    """The replayed counts each bar drew, one list per replay (a replay starts at 0); checks every frame."""
    drawn: list[list[int]] = []
    for frame in FRAME.finditer(terminal):
        cells, percent, done, total = frame[1], int(frame[2]), int(frame[3]), int(frame[4])
        assert total == FLEET and percent == 100 * done // total and cells.count("#") == 30 * done // total
        if done == 0:
            drawn.append([])
        drawn[-1].append(done)
    return drawn


def assert_drawn_then_erased(terminal: str) -> None:
    drawing, erased, after = terminal.partition(ERASE)
    assert erased and after == "", repr(terminal[-200:])
    assert FRAME.sub("", drawing) == "", "only bar frames before the erase"
    [counts] = replays(drawing)
    assert counts[0] == 0 and counts[-1] == FLEET and counts == sorted(counts) and len(counts) <= 101, counts


def test_a_publish_draws_its_replay_on_the_terminal_then_reports(fleet: tuple[str, Path]) -> None:
    url, manifest = fleet
    code, stdout, terminal = on_a_terminal("publish", str(manifest), "--database-url", url)
    assert code == 0, (stdout, terminal)
    assert_drawn_then_erased(terminal)
    assert stdout.startswith("published version 2 (") and f"{FLEET} stored workspace(s) decided again" in stdout


@pytest.mark.parametrize("command", [["publish", "{manifest}", "--dry-run"], ["activate", "1", "--dry-run"]])
def test_dry_runs_draw_it_too(fleet: tuple[str, Path], command: list[str]) -> None:
    url, manifest = fleet
    args = [part.format(manifest=manifest) for part in command]
    code, stdout, terminal = on_a_terminal(*args, "--database-url", url)
    assert code == 0, (stdout, terminal)
    assert_drawn_then_erased(terminal)
    assert stdout.startswith("dry run: ")


def test_json_stays_on_stdout_while_the_bar_is_on_the_terminal(fleet: tuple[str, Path]) -> None:
    url, manifest = fleet
    code, stdout, terminal = on_a_terminal("publish", str(manifest), "--json", "--database-url", url)
    assert code == 0
    assert_drawn_then_erased(terminal)
    assert json.loads(stdout)["impact"]["workspaces"]["checked"] == FLEET


def test_the_bar_is_erased_before_a_refusal_is_reported(fleet: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = fleet
    stranding = tmp_path / "without-hermes.yaml"
    stranding.write_text(variant(drop_runtime("hermes")))
    code, stdout, terminal = on_a_terminal("publish", str(stranding), "--database-url", url)
    assert code == 1 and stdout == ""
    drawing, erased, message = terminal.partition(ERASE)
    assert erased and replays(drawing)[0][-1] == FLEET
    assert message.startswith("routegate: ") and "nothing was changed" in message


def test_a_redirected_stderr_never_sees_the_bar(fleet: tuple[str, Path]) -> None:
    url, manifest = fleet
    done = run_cli("publish", str(manifest), "--dry-run", "--database-url", url)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("dry run: ")


def test_a_fleet_under_the_threshold_gets_no_bar(tmp_path: Path) -> None:
    url = _database(tmp_path, PROGRESS_FROM - 1)
    manifest = tmp_path / "k3.yaml"
    manifest.write_text(variant(add_platform_model(NEW_MODEL)))
    code, stdout, terminal = on_a_terminal("publish", str(manifest), "--database-url", url)
    assert code == 0 and terminal == ""
    assert stdout.startswith("published version 2 (")
