"""``routegate check/derive --on`` and ``routegate lifecycle``: the date on the command line decides."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from routegate.cli import main
from routegate.lifecycle import today
from routegate.manifest import bundled_manifest_path
from tests.manifests import DATES, NEW, OLD


@pytest.fixture
def manifest(tmp_path: Path) -> str:
    path = tmp_path / "providers.yaml"
    path.write_text(bundled_manifest_path().read_text(encoding="utf-8") + DATES, encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("day", "exit_code", "code"),
    [("2026-05-31", 0, None), ("2026-06-01", 1, "MODEL_DEPRECATED"), ("2026-07-01", 1, "MODEL_RETIRED")],
)
def test_check_decides_on_the_date_given(
    manifest: str, capsys: pytest.CaptureFixture[str], day: str, exit_code: int, code: str | None
) -> None:
    status, answer = run(capsys, "check", "hermes", OLD, "--manifest", manifest, "--on", day)
    assert (status, answer["code"]) == (exit_code, code)
    assert answer.get("successor") == (NEW if code else None)


def test_derive_names_the_provider_until_retirement(manifest: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, answer = run(capsys, "derive", "hermes", OLD, "--manifest", manifest, "--on", "2026-06-30")
    assert (status, answer["provider"], answer["code"], answer["successor"]) == (0, "platform", "MODEL_DEPRECATED", NEW)
    status, answer = run(capsys, "derive", "hermes", OLD, "--manifest", manifest, "--on", "2026-07-01")
    assert (status, answer["error"], answer["successor"]) == (1, "MODEL_RETIRED", NEW)


def test_a_date_that_is_not_one_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["check", "hermes", OLD, "--on", "30/06/2026"])
    assert usage.value.code == 2
    assert "expected a UTC date YYYY-MM-DD" in capsys.readouterr().err


def listed(answer: dict[str, Any]) -> list[tuple[str, str, str, list[str], str]]:
    return [(c["on"], c["stage"], c["runtime"], c["ids"], c["successor"]) for c in answer["changes"]]


def test_within_lists_what_the_window_from_on_holds(manifest: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, answer = run(capsys, "lifecycle", "--manifest", manifest, "--on", "2026-05-20", "--within", "20")
    assert status == 0
    assert (answer["from"], answer["to"]) == ("2026-05-20", "2026-06-09")
    assert listed(answer) == [("2026-06-01", "deprecated", "hermes", [OLD], NEW)]
    _, later = run(capsys, "lifecycle", "--manifest", manifest, "--on", "2026-06-02", "--within", "60")
    assert [c["stage"] for c in later["changes"]] == ["retired"]
    _, past = run(capsys, "lifecycle", "--manifest", manifest, "--on", "2026-07-02", "--within", "30")
    assert past["changes"] == []  # a window holds only what happens in it
    for first, last in (("2026-05-31", "2026-06-01"), ("2026-06-01", "2026-06-01"), ("2026-06-30", "2026-07-01")):
        _, edge = run(capsys, "lifecycle", "--manifest", manifest, "--on", first, "--within", str(days(first, last)))
        assert [c["on"] for c in edge["changes"]] == [last], (first, last)  # both ends of a window count


def days(first: str, last: str) -> int:
    return (date.fromisoformat(last) - date.fromisoformat(first)).days


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2026-05-31", []),
        ("2026-06-01", [("2026-06-01", "deprecated", "hermes", [OLD], NEW)]),
        ("2026-06-30", [("2026-06-01", "deprecated", "hermes", [OLD], NEW)]),
        ("2026-07-01", [("2026-07-01", "retired", "hermes", [OLD], NEW)]),
        ("2031-01-01", [("2026-07-01", "retired", "hermes", [OLD], NEW)]),
    ],
)
def test_on_alone_is_the_state_on_that_day(
    manifest: str, capsys: pytest.CaptureFixture[str], day: str, expected: list[Any]
) -> None:
    status, answer = run(capsys, "lifecycle", "--manifest", manifest, "--on", day)
    assert status == 0
    assert answer["on"] == day and "from" not in answer
    assert listed(answer) == expected
    main(["lifecycle", "--manifest", manifest, "--on", day])
    text = capsys.readouterr().out
    assert text.startswith(f"since {expected[0][0]}  {expected[0][1]}") if expected else f"as of {day}" in text


def test_within_alone_counts_from_today(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    soon, later = today() + timedelta(days=3), today() + timedelta(days=40)
    path = tmp_path / "providers.yaml"
    dated = DATES.replace("2026-06-01", soon.isoformat()).replace("2026-07-01", later.isoformat())
    path.write_text(bundled_manifest_path().read_text(encoding="utf-8") + dated, encoding="utf-8")
    _, answer = run(capsys, "lifecycle", "--manifest", str(path), "--within", "10")
    assert answer["from"] == today().isoformat()
    assert [c["stage"] for c in answer["changes"]] == ["deprecated"]
    _, default = run(capsys, "lifecycle", "--manifest", str(path))
    assert (default["from"], default["to"]) == (today().isoformat(), (today() + timedelta(days=30)).isoformat())
    _, wide = run(capsys, "lifecycle", "--manifest", str(path), "--within", "40")
    assert [c["stage"] for c in wide["changes"]] == ["deprecated", "retired"]


def test_a_successor_that_does_not_route_is_an_unusable_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(bundled_manifest_path().read_text(encoding="utf-8") + DATES.replace(NEW, "moonshot/nope"))
    assert main(["check", "hermes", OLD, "--manifest", str(path)]) == 2
    assert main(["lint", "--manifest", str(path)]) == 1
    assert "lifecycle[0].successor" in capsys.readouterr().out
