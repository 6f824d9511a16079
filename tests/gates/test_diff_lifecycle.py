"""``routegate diff`` reports a manifest's dates as their own kinds, and compares routes as if undated."""

from __future__ import annotations

from datetime import date
from typing import Any

import yaml

from routegate import Registry
from routegate.proof.diff import ChangeKind, diff
from tests.manifests import manifest_doc, provider

OLD, NEW, OTHER = "platform/old-1", "platform/new-2", "platform/other-3"


def registry(*lifecycle: dict[str, Any]) -> Registry:
    document = manifest_doc(
        [provider("platform", "^platform/", upstream_vendor="platform")],
        {"hermes": [{"name": "platform", "models": [OLD, NEW, OTHER]}]},
    )
    if lifecycle:
        document["lifecycle"] = list(lifecycle)
    return Registry.from_yaml(yaml.safe_dump(document))


PAST = {"model": OLD, "deprecated_on": date(2020, 1, 1), "retires_on": date(2020, 6, 1), "successor": NEW}


def kinds(old: Registry, new: Registry) -> list[str]:
    return [change.kind.value for change in diff(old, new).lifecycle]


def test_each_kind_of_date_change() -> None:
    assert kinds(registry(), registry(PAST)) == ["retired"]
    assert kinds(registry(PAST), registry({**PAST, "retires_on": date(2021, 1, 1)})) == ["retired"]
    assert kinds(registry(PAST), registry({**PAST, "deprecated_on": date(2019, 1, 1)})) == ["deprecated"]
    assert kinds(registry(PAST), registry({**PAST, "successor": OTHER})) == ["successor_changed"]
    assert kinds(registry(PAST), registry()) == ["retired"]
    assert kinds(registry(PAST), registry(PAST)) == []


def test_a_past_retirement_is_not_also_a_lost_route_class() -> None:
    result = diff(registry(), registry(PAST))
    assert result.changes == ()
    assert not result.failed()
    assert result.failed({ChangeKind.RETIRED})
    assert result.to_dict()["lifecycle"][0]["new"]["retires_on"] == "2020-06-01"
    assert "**retired**: model 'platform/old-1' on hermes: undated -> deprecated_on 2020-01-01" in (
        result.to_markdown()
    )


def two_runtimes(*lifecycle: dict[str, Any]) -> Registry:
    arm = [{"name": "platform", "models": [OLD, NEW, OTHER]}]
    document = manifest_doc(
        [provider("platform", "^platform/", upstream_vendor="platform")], {"hermes": arm, "openclaw": arm}
    )
    document["lifecycle"] = list(lifecycle)
    return Registry.from_yaml(yaml.safe_dump(document))


def changes(old: Registry, new: Registry) -> list[tuple[str, tuple[str, ...], str | None, str | None]]:
    def retires(entry: Any) -> str | None:
        return None if entry is None or entry.retires_on is None else entry.retires_on.isoformat()

    return [(c.kind.value, c.runtimes, retires(c.old), retires(c.new)) for c in diff(old, new).lifecycle]


def test_lifecycle_changes_name_the_runtimes_they_hold_on() -> None:
    moved = {**PAST, "retires_on": date(2021, 1, 1)}
    assert changes(two_runtimes(PAST), two_runtimes(moved)) == [
        ("retired", ("hermes", "openclaw"), "2020-06-01", "2021-01-01")
    ]
    # Narrowed to hermes: a change on openclaw only; hermes is dated as it was.
    assert changes(two_runtimes(PAST), two_runtimes({**PAST, "runtimes": ["hermes"]})) == [
        ("retired", ("openclaw",), "2020-06-01", None)
    ]
    # Split in two: each runtime with the entry that now dates it.
    split = [{**PAST, "runtimes": ["hermes"]}, {**moved, "runtimes": ["openclaw"]}]
    assert changes(two_runtimes(PAST), two_runtimes(*split)) == [("retired", ("openclaw",), "2020-06-01", "2021-01-01")]
    # A provider entry is compared per runtime like a model's.
    whole = {"provider": "platform", "retires_on": date(2030, 1, 1)}
    assert changes(two_runtimes(), two_runtimes({**whole, "runtimes": ["openclaw"]})) == [
        ("retired", ("openclaw",), None, "2030-01-01")
    ]
    answer = diff(two_runtimes(), two_runtimes(PAST)).to_dict()["lifecycle"]
    assert [(c["kind"], c["runtimes"]) for c in answer] == [("retired", ["hermes", "openclaw"])]
