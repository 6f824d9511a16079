"""``routegate sync-check``: a vendored copy is the canonical manifest byte for byte, or matches its pin."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from routegate.manifest import bundled_manifest_path

CANONICAL = bundled_manifest_path().read_bytes()
SHA = hashlib.sha256(CANONICAL).hexdigest()


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    canonical, copy = tmp_path / "canonical.yaml", tmp_path / "copy.yaml"
    canonical.write_bytes(CANONICAL)
    copy.write_bytes(CANONICAL)
    return canonical, copy


def test_an_identical_copy_passes(cli: Any, files: tuple[Path, Path]) -> None:
    canonical, copy = files
    code, report = cli.json("sync-check", canonical, copy)
    assert code == 0 and report["ok"] is True and report["equal"] is True
    assert report["copy"]["sha256"] == report["canonical"]["sha256"] == SHA
    assert report["first_difference"] is None
    assert cli("sync-check", canonical, copy, "--pin", SHA.upper()).returncode == 0


def test_a_copy_that_differs_fails_with_both_hashes_and_the_first_differing_line(
    cli: Any, files: tuple[Path, Path]
) -> None:
    canonical, copy = files
    lines = CANONICAL.splitlines(keepends=True)
    lines[10] = lines[10].replace(b"ANTHROPIC_API_KEY", b"ANTHROPIC_KEY")
    copy.write_bytes(b"".join(lines))
    code, report = cli.json("sync-check", canonical, copy)
    assert code == 1 and report["ok"] is False and report["equal"] is False
    assert report["canonical"]["sha256"] == SHA
    assert report["copy"]["sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest() != SHA
    diff = report["first_difference"]
    assert diff["line"] == 11 and "ANTHROPIC_API_KEY" in diff["canonical"] and "[ANTHROPIC_KEY," in diff["copy"]
    text = cli("sync-check", canonical, copy)
    assert text.returncode == 1
    assert SHA in text.stdout and report["copy"]["sha256"] in text.stdout and "line 11" in text.stdout


def test_a_comment_or_line_ending_change_is_a_difference(cli: Any, files: tuple[Path, Path]) -> None:
    canonical, copy = files
    copy.write_bytes(CANONICAL.replace(b"\n", b"\r\n", 1))
    code, report = cli.json("sync-check", canonical, copy)
    assert code == 1 and report["first_difference"]["line"] == 1 and "\\r\\n" in report["first_difference"]["copy"]


def test_a_truncated_copy_shows_where_it_ends(cli: Any, files: tuple[Path, Path]) -> None:
    canonical, copy = files
    kept = CANONICAL.splitlines(keepends=True)[:5]
    copy.write_bytes(b"".join(kept))
    code, report = cli.json("sync-check", canonical, copy)
    assert code == 1 and report["first_difference"] == {
        "line": 6,
        "canonical": repr(CANONICAL.splitlines(keepends=True)[5].decode()),
        "copy": None,
    }
    assert "<end of file>" in cli("sync-check", canonical, copy).stdout


def test_a_pinned_copy_passes_or_fails_on_its_sha256_alone(cli: Any, files: tuple[Path, Path]) -> None:
    _, copy = files
    code, report = cli.json("sync-check", copy, "--pin", SHA)
    assert code == 0 and report["pin_matches"] is True and report["canonical"] is None
    copy.write_bytes(CANONICAL + b"# trailing comment\n")
    code, report = cli.json("sync-check", copy, "--pin", SHA)
    assert code == 1 and report["pin_matches"] is False and report["pin"] == SHA
    text = cli("sync-check", copy, "--pin", SHA).stdout
    assert SHA in text and hashlib.sha256(copy.read_bytes()).hexdigest() in text


def test_equal_files_still_fail_a_wrong_pin(cli: Any, files: tuple[Path, Path]) -> None:
    canonical, copy = files
    code, report = cli.json("sync-check", canonical, copy, "--pin", "0" * 64)
    assert code == 1 and report["equal"] is True and report["pin_matches"] is False


@pytest.mark.parametrize(
    "args",
    [
        ("missing.yaml", "copy.yaml"),  # canonical unreadable
        ("copy.yaml", "missing.yaml"),  # copy unreadable
        ("missing.yaml", "--pin", SHA),
        (".", "copy.yaml"),  # a folder is not a file
        ("copy.yaml", "--pin", "abc"),  # not a sha256
        ("copy.yaml",),  # one file and no pin
        ("a", "b", "c"),
    ],
)
def test_unreadable_files_and_bad_arguments_exit_2(cli: Any, files: tuple[Path, Path], args: tuple[str, ...]) -> None:
    done = cli("sync-check", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip()
