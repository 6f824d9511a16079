"""Model lifecycle: dated entries load under their rules, and check() decides by the date it is given."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from routegate import Registry
from routegate.codes import Code
from routegate.errors import InvalidManifest
from routegate.lifecycle import InvalidLifecycleEntry, LifecycleEntry, Stage
from routegate.manifest import parse_manifest
from tests.manifests import manifest_doc, provider

OLD, NEW, BYOK_ID = "platform/old-1", "platform/new-2", "acme/coder-3"


def doc(*lifecycle: dict[str, Any]) -> dict[str, Any]:
    document = manifest_doc(
        [provider("platform", "^platform/", upstream_vendor="platform"), provider("acme", "^acme/")],
        {
            "hermes": [{"name": "platform", "models": [OLD, NEW]}, {"name": "acme"}],
            "codex": [{"name": "platform", "models": [OLD, NEW]}],
        },
    )
    if lifecycle:
        document["lifecycle"] = list(lifecycle)
    return document


def registry(*lifecycle: dict[str, Any]) -> Registry:
    return Registry.from_yaml(yaml.safe_dump(doc(*lifecycle)))


def problems(*lifecycle: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidManifest) as caught:
        registry(*lifecycle)
    return [f"{p.where}: {p.message}" for p in caught.value.problems]


DEPRECATED, RETIRES = date(2026, 5, 1), date(2026, 6, 15)
DATED = {"model": OLD, "deprecated_on": DEPRECATED, "retires_on": RETIRES, "successor": NEW}


@given(
    deprecated=st.dates(date(2024, 1, 1), date(2030, 1, 1)),
    gap=st.integers(0, 400),
    at=st.sampled_from(["deprecated_on", "retires_on"]),
    offset=st.sampled_from([-1, 0, 1]),
)
def test_each_date_counts_from_its_own_day(deprecated: date, gap: int, at: str, offset: int) -> None:
    retires = deprecated + timedelta(days=gap)
    entry = LifecycleEntry(model=OLD, deprecated_on=deprecated, retires_on=retires, successor=NEW)
    day = (deprecated if at == "deprecated_on" else retires) + timedelta(days=offset)
    expected = Stage.RETIRED if day >= retires else Stage.DEPRECATED if day >= deprecated else Stage.ACTIVE
    assert entry.stage(day) is expected


@pytest.mark.parametrize(
    ("day", "create_code", "existing_admitted"),
    [
        (DEPRECATED - timedelta(days=1), None, True),
        (DEPRECATED, Code.MODEL_DEPRECATED, True),
        (DEPRECATED + timedelta(days=1), Code.MODEL_DEPRECATED, True),
        (RETIRES - timedelta(days=1), Code.MODEL_DEPRECATED, True),
        (RETIRES, Code.MODEL_RETIRED, False),
        (RETIRES + timedelta(days=1), Code.MODEL_RETIRED, False),
    ],
)
def test_creates_and_existing_workspaces_on_each_side_of_each_date(
    day: date, create_code: Code | None, existing_admitted: bool
) -> None:
    decision = registry(DATED).check("hermes", OLD, on=day)
    assert decision.code is create_code
    assert decision.allowed is (create_code is None)
    assert decision.admits_existing is existing_admitted
    if create_code is not None:
        assert decision.successor == NEW
        assert f"'{NEW}'" in decision.reason and str(day) in decision.reason
    if create_code is Code.MODEL_DEPRECATED:  # an existing workspace's calls still know who serves and pays
        assert decision.provider_name == "platform" and decision.billing_value == "platform_managed"


def test_the_successor_and_other_ids_are_undated() -> None:
    dated = registry(DATED)
    assert dated.check("hermes", NEW, on=RETIRES).allowed
    assert dated.check("hermes", BYOK_ID, on=RETIRES).allowed


def test_an_entry_holds_only_on_its_runtimes() -> None:
    dated = registry({**DATED, "runtimes": ["codex"]})
    assert dated.check("codex", OLD, on=RETIRES).code is Code.MODEL_RETIRED
    assert dated.check("hermes", OLD, on=RETIRES).allowed


def test_a_provider_entry_dates_every_id_it_serves() -> None:
    dated = registry({"provider": "acme", "retires_on": RETIRES})
    assert dated.check("hermes", BYOK_ID, on=RETIRES).code is Code.MODEL_RETIRED
    assert dated.check("hermes", BYOK_ID, on=RETIRES - timedelta(days=1)).allowed
    assert "provider 'acme'" in dated.check("hermes", BYOK_ID, on=RETIRES).reason


def test_the_default_date_is_today_in_utc() -> None:
    assert (
        registry({**DATED, "retires_on": date(2000, 1, 2), "deprecated_on": date(2000, 1, 1)}).check("hermes", OLD).code
        is Code.MODEL_RETIRED
    )
    assert (
        registry(DATED | {"deprecated_on": date(2999, 1, 1), "retires_on": date(2999, 1, 2)})
        .check("hermes", OLD)
        .allowed
    )


def test_a_manifest_without_dates_keeps_its_fingerprint() -> None:
    plain = parse_manifest(yaml.safe_dump(doc()))
    assert "lifecycle" not in plain.to_data()
    dated = parse_manifest(yaml.safe_dump(doc(DATED)))
    assert dated.fingerprint != plain.fingerprint
    assert dated.to_data()["lifecycle"] == [
        {"model": OLD, "deprecated_on": "2026-05-01", "retires_on": "2026-06-15", "successor": NEW}
    ]


def test_quoted_dates_are_read_as_dates() -> None:
    quoted = {**DATED, "deprecated_on": "2026-05-01", "retires_on": "2026-06-15"}
    assert registry(quoted).check("hermes", OLD, on=RETIRES).code is Code.MODEL_RETIRED


@pytest.mark.parametrize(
    ("entry", "where", "says"),
    [
        ({"model": OLD, "provider": "acme", "retires_on": RETIRES}, "lifecycle[0]", "exactly one of"),
        ({"model": OLD}, "lifecycle[0]", "give 'deprecated_on', 'retires_on'"),
        ({**DATED, "retires_on": DEPRECATED - timedelta(days=1)}, "lifecycle[0]", "is before 'deprecated_on'"),
        ({**DATED, "retires_on": "15/06/2026"}, "lifecycle[0].retires_on", "YYYY-MM-DD"),
        ({**DATED, "successor": OLD}, "lifecycle[0]", "cannot succeed itself"),
        ({**DATED, "runtimes": ["hermez"]}, "lifecycle[0].runtimes[0]", "nearest runtimes: hermes"),
        ({"provider": "acne", "retires_on": RETIRES}, "lifecycle[0].provider", "unknown provider"),
        ({**DATED, "colour": "red"}, "lifecycle[0].colour", "unknown field"),
    ],
)
def test_an_entry_that_cannot_mean_anything_is_a_load_error(entry: dict[str, Any], where: str, says: str) -> None:
    found = problems(entry)
    assert any(line.startswith(f"{where}:") and says in line for line in found), found


def test_retiring_and_deprecating_on_the_same_day_is_allowed() -> None:
    same = registry({**DATED, "deprecated_on": RETIRES})
    assert same.check("hermes", OLD, on=RETIRES - timedelta(days=1)).allowed
    assert same.check("hermes", OLD, on=RETIRES).code is Code.MODEL_RETIRED


def test_a_successor_that_does_not_route_is_a_load_error() -> None:
    (found,) = problems({**DATED, "successor": "platform/unlisted"})[:1]
    assert found.startswith("lifecycle[0].successor:") and "not admitted on 'codex'" in found
    assert "name an id that runtime admits" in found


def test_a_successor_that_changes_payer_is_a_load_error() -> None:
    found = problems({**DATED, "runtimes": ["hermes"], "successor": BYOK_ID})
    assert found == [
        f"lifecycle[0].successor: successor '{BYOK_ID}' is billed byok on 'hermes', but the id it succeeds is "
        "billed platform_managed: moving workspaces would change who pays; name a successor with the same payer"
    ]


def test_a_successor_that_is_itself_retired_by_then_is_a_load_error() -> None:
    found = problems(DATED, {"model": NEW, "retires_on": RETIRES})
    assert any("is itself retired on 'hermes' on 2026-06-15" in line for line in found), found


def test_an_id_no_runtime_admits_is_a_load_error() -> None:
    found = problems({"model": "elsewhere/x", "retires_on": RETIRES})
    assert found[0].startswith("lifecycle[0]: model 'elsewhere/x' is admitted by no runtime")
    named = problems({"model": BYOK_ID, "runtimes": ["codex"], "retires_on": RETIRES})
    assert named[0].startswith(f"lifecycle[0].model: runtime 'codex' does not admit '{BYOK_ID}'")


def test_the_value_object_validates_at_construction() -> None:
    with pytest.raises(InvalidLifecycleEntry, match="exactly one of"):
        LifecycleEntry(retires_on=RETIRES)
    entry = LifecycleEntry(model=OLD, deprecated_on=DEPRECATED, retires_on=RETIRES, successor=NEW)
    assert LifecycleEntry.from_data(entry.to_data()) == entry


def test_explain_takes_the_date() -> None:
    explanation = registry(DATED).explain("hermes", OLD, on=DEPRECATED)
    assert explanation.decision.code is Code.MODEL_DEPRECATED
    assert "MODEL_DEPRECATED" in explanation.steps[-1]


@pytest.mark.parametrize(
    ("day", "admitted", "code"),
    [
        (DEPRECATED - timedelta(days=1), True, None),
        (DEPRECATED, True, None),
        (RETIRES - timedelta(days=1), True, None),
        (RETIRES, False, Code.MODEL_RETIRED),
        (RETIRES + timedelta(days=1), False, Code.MODEL_RETIRED),
    ],
)
def test_calls_on_each_side_of_each_date(day: date, admitted: bool, code: Code | None) -> None:
    from routegate.calls import CallGate, Payer, decide_call

    dated = registry(DATED)
    call = decide_call(dated, "hermes", OLD, frozenset(), OLD, on=day)
    assert (call.allowed, call.code) == (admitted, code)
    if admitted:
        assert call.payer is Payer.PLATFORM
    assert CallGate(dated).decide("hermes", OLD, frozenset(), OLD, on=day) == call


def test_the_model_gates_refuse_a_deprecated_change_but_keep_an_existing_workspace() -> None:
    from routegate.gate import GateRefusal, admit_model_change

    dated = registry(DATED)
    with pytest.raises(GateRefusal) as refused:
        admit_model_change(dated, "hermes", OLD, on=DEPRECATED)
    assert refused.value.code is Code.MODEL_DEPRECATED
    kept = admit_model_change(dated, "hermes", OLD, existing=True, on=DEPRECATED)
    assert kept is not None and kept.provider_name == "platform"
    with pytest.raises(GateRefusal) as retired:
        admit_model_change(dated, "hermes", OLD, existing=True, on=RETIRES)
    assert retired.value.code is Code.MODEL_RETIRED


def test_drift_marks_template_ids_deprecated_or_retired_by_the_date(tmp_path: Path) -> None:
    from routegate.drift import drift
    from routegate.templates import load_template

    config = tmp_path / "dated" / "config.yaml"
    config.parent.mkdir()
    config.write_text(
        f"runtime: hermes\nruntime_config:\n  model: {OLD}\n  models:\n    - id: {OLD}\n    - id: {NEW}\n"
    )
    template, dated = load_template(config.parent), registry(DATED)
    assert drift(dated, template, on=DEPRECATED - timedelta(days=1)).residual == ()
    (deprecated,) = drift(dated, template, on=DEPRECATED).residual
    assert (deprecated.id, deprecated.code) == (OLD, "MODEL_DEPRECATED")
    retired = drift(dated, template, on=RETIRES)
    assert [r.code for r in retired.residual] == ["MODEL_RETIRED"] and retired.default_routable is False


def stored(model: str, runtime: str = "hermes") -> Any:
    from routegate.publishing import StoredWorkspace

    return StoredWorkspace(
        id=f"ws-{model}",
        name=model,
        runtime=runtime,
        model=model,
        external=False,
        auth_env=frozenset(),
        provider="platform",
        billing_mode="platform_managed",
    )


@pytest.mark.parametrize(
    ("day", "stranded", "retiring"),
    [
        (RETIRES - timedelta(days=31), 0, 0),  # beyond the warning's 30 days
        (RETIRES - timedelta(days=30), 0, 1),  # the retirement is within 30 days: a warning
        (RETIRES - timedelta(days=1), 0, 1),
        (RETIRES, 1, 0),  # already retired: a stranding like any other
    ],
)
def test_the_publish_gate_warns_of_a_retirement_within_30_days(day: date, stranded: int, retiring: int) -> None:
    from routegate.publishing import assess

    impact = assess(registry(DATED), [stored(OLD), stored(NEW)], on=day)
    assert (impact.stranded_count, impact.retiring_count) == (stranded, retiring)
    assert impact.blocking is bool(stranded)
    if retiring:
        (warned,) = impact.to_dict()["workspaces"]["retiring"]
        assert (warned["id"], warned["code"], warned["retires_on"]) == (f"ws-{OLD}", "MODEL_RETIRED", "2026-06-15")
    if stranded:
        assert impact.stranded[0].code == "MODEL_RETIRED"


def test_a_deprecated_workspace_is_not_stranded() -> None:
    from routegate.publishing import assess

    impact = assess(registry(DATED), [stored(OLD)], on=DEPRECATED)
    assert (impact.stranded_count, impact.billing_changed_count, impact.provider_changed_count) == (0, 0, 0)
