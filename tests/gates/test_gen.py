"""``routegate gen``: deterministic artifacts keyed to the data, and ``--check`` for CI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from routegate._schema import ArmDoc, ProviderDoc
from routegate.manifest import bundled_manifest_path, load_manifest
from tests.manifests import manifest_doc, provider

TARGETS = ("typescript", "python", "jsonschema")
CODE_TARGETS = ("typescript", "python")


def reformatted(text: str) -> str:
    """The same data with comments added and layout changed: flow style, other quoting."""
    doc = yaml.safe_load(text)
    return "# a synced copy, reformatted\n" + yaml.safe_dump(
        doc, sort_keys=False, default_flow_style=True, width=70
    ).replace("runtimes:", "# the runtimes\nruntimes:")


@pytest.mark.parametrize("target", TARGETS)
def test_output_is_the_same_bytes_every_time_and_carries_the_fingerprint(cli: Any, target: str) -> None:
    first, second = cli("gen", "--target", target), cli("gen", "--target", target)
    assert first.returncode == 0 and first.stdout and first.stdout == second.stdout
    if target in CODE_TARGETS:
        head = "\n".join(first.stdout.splitlines()[:6])
        assert f"fingerprint: {load_manifest().fingerprint}" in head
        assert "schema_version: 1" in head


@pytest.mark.parametrize("target", TARGETS)
def test_a_comment_only_edit_changes_nothing_and_a_data_edit_changes_the_artifact(
    cli: Any, write_manifest: Any, target: str
) -> None:
    original = bundled_manifest_path().read_text(encoding="utf-8")
    same_data = write_manifest(reformatted(original), "reformatted.yaml")
    assert same_data.read_text() != original
    doc = yaml.safe_load(original)
    doc["runtimes"]["hermes"]["providers"][0]["models"].append("kimi-coding/kimi-k3")
    new_data = write_manifest(doc, "changed.yaml")

    base = cli("gen", "--target", target).stdout
    assert cli("gen", "--target", target, "--manifest", same_data).stdout == base
    changed = cli("gen", "--target", target, "--manifest", new_data).stdout
    if target == "jsonschema":
        assert changed == base  # the schema describes the format, not this manifest's data
    else:
        assert changed != base and "kimi-coding/kimi-k3" in changed
        assert f"fingerprint: {load_manifest(new_data).fingerprint}" in changed


@pytest.mark.parametrize("target", TARGETS)
def test_check_passes_when_fresh_and_fails_with_a_diff_when_stale(
    cli: Any, write_manifest: Any, tmp_path: Path, target: str
) -> None:
    artifact = tmp_path / f"artifact.{target}"
    assert cli("gen", "--target", target, "-o", artifact).returncode == 0
    code, report = cli.json("gen", "--target", target, "--check", artifact)
    assert (code, report["ok"], report["diff"]) == (0, True, [])

    artifact.write_text(artifact.read_text().replace("platform", "plat-form", 1))
    code, report = cli.json("gen", "--target", target, "--check", artifact)
    assert code == 1 and report["ok"] is False
    assert report["diff"][0].endswith("line(s) differ")
    assert any(line.startswith("-") and "plat-form" in line for line in report["diff"])
    text = cli("gen", "--target", target, "--check", artifact)
    assert text.returncode == 1 and "stale" in text.stdout and f"gen --target {target} -o" in text.stdout


def test_check_names_the_fingerprint_the_stale_artifact_was_made_from(
    cli: Any, write_manifest: Any, tmp_path: Path
) -> None:
    artifact = tmp_path / "registry.ts"
    old = write_manifest(
        manifest_doc([provider("alpha", "^alpha/")], {"rt": [{"name": "alpha", "models": ["alpha/1"]}]})
    )
    assert cli("gen", "--target", "typescript", "--manifest", old, "-o", artifact).returncode == 0
    code, report = cli.json("gen", "--target", "typescript", "--check", artifact)
    assert code == 1
    assert report["recorded_fingerprint"] == load_manifest(old).fingerprint != report["fingerprint"]


@pytest.mark.parametrize("target", CODE_TARGETS)
def test_reordering_runtimes_is_a_data_change_and_reformatting_is_not(
    cli: Any, write_manifest: Any, tmp_path: Path, target: str
) -> None:
    """Runtimes are listed in declared order in every artifact, so the fingerprint must count that order."""
    original = bundled_manifest_path().read_text(encoding="utf-8")
    doc = yaml.safe_load(original)
    doc["runtimes"] = dict(reversed(doc["runtimes"].items()))
    reordered = write_manifest(doc, "reordered.yaml")
    reformatted_path = write_manifest(reformatted(original), "reformatted.yaml")
    old, new = load_manifest().fingerprint, load_manifest(reordered).fingerprint
    assert new != old == load_manifest(reformatted_path).fingerprint

    artifact = tmp_path / f"registry.{target}"
    assert cli("gen", "--target", target, "-o", artifact).returncode == 0
    code, report = cli.json("gen", "--target", target, "--manifest", reformatted_path, "--check", artifact)
    assert (code, report["ok"]) == (0, True)

    code, report = cli.json("gen", "--target", target, "--manifest", reordered, "--check", artifact)
    assert (code, report["ok"]) == (1, False)
    assert (report["recorded_fingerprint"], report["fingerprint"]) == (old, new)
    regenerated = cli("gen", "--target", target, "--manifest", reordered).stdout
    assert runtime_order(target, regenerated) == list(doc["runtimes"]) != runtime_order(target, artifact.read_text())


def runtime_order(target: str, artifact: str) -> list[str]:
    """The runtime names a generated artifact lists, in its order."""
    if target == "python":
        namespace: dict[str, Any] = {}
        exec(compile(artifact, "registry_data.py", "exec"), namespace)
        return list(namespace["RUNTIMES"])
    start = artifact.index("export const RUNTIMES: readonly Runtime[] = ") + len(
        "export const RUNTIMES: readonly Runtime[] = "
    )
    return [runtime["name"] for runtime in json.JSONDecoder().raw_decode(artifact[start:])[0]]


def test_check_of_a_missing_artifact_fails_and_says_how_to_make_it(cli: Any, tmp_path: Path) -> None:
    code, report = cli.json("gen", "--target", "python", "--check", tmp_path / "nope.py")
    assert code == 1 and "does not exist" in report["diff"][0]


def test_check_of_an_unreadable_path_is_a_usage_error(cli: Any, tmp_path: Path) -> None:
    assert cli("gen", "--target", "python", "--check", tmp_path).returncode == 2


def test_line_ending_drift_is_stale_and_said_so(cli: Any, tmp_path: Path) -> None:
    artifact = tmp_path / "registry.py"
    cli("gen", "--target", "python", "-o", artifact)
    artifact.write_bytes(artifact.read_bytes().replace(b"\n", b"\r\n"))
    code, report = cli.json("gen", "--target", "python", "--check", artifact)
    assert code == 1 and "line endings" in report["diff"][0]


def run_generated_python(cli: Any, folder: Path, expression: str) -> Any:
    """Generate the python target into ``folder`` and evaluate ``expression`` (with the module as ``r``)
    in an interpreter run with -I -S: no site-packages, so neither routegate nor any dependency can load."""
    (folder / "registry_data.py").write_text(cli("gen", "--target", "python").stdout)
    probe = f"import json, registry_data as r; print(json.dumps({expression}))"
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {str(folder)!r}); {probe}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_python_module_needs_only_the_standard_library_and_holds_the_data(cli: Any, tmp_path: Path) -> None:
    got = run_generated_python(
        cli,
        tmp_path,
        "{'fp': r.FINGERPRINT, 'v': r.SCHEMA_VERSION, 'providers': r.PROVIDERS, 'runtimes': r.RUNTIMES, "
        "'owner': r.menu_owner('codex', 'gpt-5.5'), 'missing': r.menu_owner('codex', 'gpt-9'), "
        "'billing': [r.billing_mode('platform'), r.billing_mode('zai')]}",
    )
    manifest = load_manifest()
    data = manifest.to_data()
    assert got["fp"] == manifest.fingerprint and got["v"] == 1
    # The manifest's data, except that platform_keyed is the effective answer, not the declared flag.
    effective = [{**p, "platform_keyed": manifest.providers[p["name"]].platform_keyed} for p in data["providers"]]
    assert list(got["providers"].values()) == effective
    for name, runtime in manifest.runtimes.items():
        assert got["runtimes"][name]["menu"] == list(runtime.menu)
        assert [a["provider"] for a in got["runtimes"][name]["arms"]] == [arm.provider.name for arm in runtime.arms]
    assert got["owner"] == "openai-subscription" and got["missing"] is None
    assert got["billing"] == ["platform_managed", "byok"]


def schema(cli: Any) -> dict[str, Any]:
    return json.loads(cli("gen", "--target", "jsonschema").stdout)


def test_the_bundled_manifest_validates_against_the_json_schema(cli: Any) -> None:
    validator_cls = jsonschema.Draft202012Validator
    document = schema(cli)
    validator_cls.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    validator_cls(document).validate(yaml.safe_load(bundled_manifest_path().read_text()))


def test_the_json_schema_knows_every_field_the_loader_knows(cli: Any) -> None:
    defs = schema(cli)["$defs"]
    assert set(defs["provider"]["properties"]) == set(ProviderDoc.model_fields)
    assert set(defs["arm"]["properties"]) == set(ArmDoc.model_fields)
    assert set(defs["provider"]["required"]) == {n for n, f in ProviderDoc.model_fields.items() if f.is_required()}


def _broken(mutate: Any) -> dict[str, Any]:
    doc = yaml.safe_load(bundled_manifest_path().read_text())
    mutate(doc)
    return doc


@pytest.mark.parametrize(
    "mutate, why",
    [
        (lambda d: d["providers"][0].pop("auth_env"), "a required field is missing"),
        (lambda d: d["providers"][0].update(protocol="grpc"), "protocol outside its enum"),
        (lambda d: d["providers"][0].update(auth_env=["sk-live-123"]), "a value where an env NAME belongs"),
        (lambda d: d["providers"][0].update(modle_prefix_match="^x"), "a misspelt field"),
        (lambda d: d.update(schema_version=2), "another schema version"),
        (lambda d: d["runtimes"]["codex"]["providers"][0]["models"].append(" gpt-5 "), "an id with spaces around it"),
        (lambda d: d["runtimes"]["codex"].update(providers=[]), "a runtime without arms"),
        (lambda d: d["providers"][0].update(deprecated="yes"), "a string where a bool belongs"),
    ],
)
def test_broken_manifests_do_not_validate(cli: Any, mutate: Any, why: str) -> None:
    validator = jsonschema.Draft202012Validator(schema(cli))
    assert list(validator.iter_errors(_broken(mutate))), why


def test_an_invalid_manifest_is_a_usage_error_and_writes_nothing(cli: Any, write_manifest: Any, tmp_path: Path) -> None:
    path = write_manifest(manifest_doc([provider("alpha", "^(")], {"rt": [{"name": "alpha"}]}))
    code, payload = cli.json("gen", "--target", "python", "--manifest", path, "-o", tmp_path / "out.py")
    assert code == 2 and payload["error"] == "invalid_manifest" and payload["problems"]
    assert not (tmp_path / "out.py").exists()


def test_platform_keyed_is_the_effective_answer_in_every_target_and_the_cli(cli: Any, tmp_path: Path) -> None:
    manifest = load_manifest()
    effective = {name: p.platform_keyed for name, p in manifest.providers.items()}
    declared = {name: p.declared_platform_keyed for name, p in manifest.providers.items()}
    # Providers keyed by the platform without declaring it (platform, upstream vendors): where a copy can go wrong.
    assert {name for name in effective if effective[name] != declared[name]}

    got = run_generated_python(cli, tmp_path, "{n: p['platform_keyed'] for n, p in r.PROVIDERS.items()}")
    assert got == effective

    typescript = cli("gen", "--target", "typescript").stdout
    start = typescript.index("export const PROVIDERS: readonly Provider[] = ") + len(
        "export const PROVIDERS: readonly Provider[] = "
    )
    providers = json.JSONDecoder().raw_decode(typescript[start:])[0]
    assert {p["name"]: p["platformKeyed"] for p in providers} == effective

    for runtime in manifest.runtimes:
        code, listing = cli.json("providers", runtime)
        assert code == 0
        assert {row["name"]: row["platform_keyed"] for row in listing["providers"]}.items() <= effective.items()


def test_the_json_schema_takes_env_names_from_the_loaders_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    from routegate import _ids
    from routegate.gen import jsonschema as target

    def env_patterns() -> set[str]:
        provider = target.schema()["$defs"]["provider"]["properties"]
        return {provider["auth_env"]["items"]["pattern"], provider["auth_token_env"]["anyOf"][0]["pattern"]}

    assert env_patterns() == {f"^{_ids.ENV_NAME_PATTERN}$"}
    monkeypatch.setattr(_ids, "ENV_NAME_PATTERN", "[A-Z][A-Z0-9_]{2,}")
    assert env_patterns() == {"^[A-Z][A-Z0-9_]{2,}$"}, "a copy of the rule, not the rule"


@pytest.mark.parametrize("target", TARGETS)
def test_generation_needs_only_a_manifest(target: str) -> None:
    """The CLI passes the loaded Manifest (no Registry); the output is what `routegate gen` prints."""
    from routegate.gen import generate

    done = subprocess.run(
        [sys.executable, "-m", "routegate.cli", "gen", "--target", target], capture_output=True, text=True, timeout=60
    )
    assert generate(load_manifest(), target) == done.stdout
