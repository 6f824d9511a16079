"""No file in the manifest cache changes a decision, and only the one-shot decision commands use it.

The cache (routegate._cache) authenticates each entry with an HMAC under a
per-user key kept outside the cache folder, bound to the manifest's bytes. Each
attack below plants an entry that would make the decision platform-billed;
every decision must equal the one made with the cache off. The CLI runs as a
process, as a user runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from routegate.manifest import bundled_manifest_path
from tests.manifests import provider

from .reference_manifest import reference, write
from .test_cli import ROUTEGATE

FORGED_TARGETS = [("codex", "gpt-4o"), ("hermes", "gpt-4o"), ("openclaw", "openai:gpt-4o"), ("claude-code", "o3-pro")]


def platform_billed(runtime: str, model: str) -> dict[str, Any]:
    """The reference with ``model`` on ``runtime``'s platform arm: the manifest whose entry an attacker reuses."""
    doc = reference()
    arms = doc["runtimes"][runtime]["providers"]
    arm = next(a for a in arms if a["name"] == "platform")
    arm["models"] = [*(arm.get("models") or ()), model]
    return doc


def cli(*args: str, env: dict[str, str]) -> tuple[int, Any]:
    proc = subprocess.run([ROUTEGATE, *args], capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in proc.stderr
    return proc.returncode, json.loads(proc.stdout)


class CacheSetting:
    """One test's own cache folder and key folder, and the decision commands run under them."""

    def __init__(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "cache"
        self.key = tmp_path / "config" / "routegate" / "cache.key"
        self.env = dict(os.environ, ROUTEGATE_CACHE_DIR=str(self.folder), XDG_CONFIG_HOME=str(tmp_path / "config"))

    def entries(self) -> set[Path]:
        return set(self.folder.glob("manifest-*")) if self.folder.exists() else set()

    def entry_for(self, manifest: Path, runtime: str, model: str) -> Path:
        """Decide once with ``manifest`` and return the entry that wrote."""
        before = self.entries()
        cli("check", "--json", "--manifest", str(manifest), runtime, model, env=self.env)
        (entry,) = self.entries() - before
        return entry

    def decisions_agree(self, manifest: Path, runtime: str, model: str) -> dict[str, Any]:
        """The decision commands answer as they do with the cache off; returns the check's answer."""
        off = dict(self.env, ROUTEGATE_CACHE_DIR="off")
        answers = []
        for args in (["check", "--json", runtime, model], ["models", "--json", runtime]):
            args.insert(1, f"--manifest={manifest}")
            answer = cli(*args, env=self.env)
            assert answer == cli(*args, env=off), args
            answers.append(answer[1])
        return answers[0]


def forge(setting: CacheSetting, tmp_path: Path, runtime: str, model: str) -> tuple[Path, Path, Path]:
    """The victim manifest, its entry, and the attacker's validly written entry for the platform-billed copy."""
    victim = write(tmp_path, reference(), "victim.yaml")
    attacker = write(tmp_path, platform_billed(runtime, model), "attacker.yaml")
    assert cli("check", "--json", "--manifest", str(attacker), runtime, model, env=setting.env)[1]["billing_mode"] == (
        "platform_managed"
    )
    attackers_entry = next(iter(setting.entries()))
    return victim, setting.entry_for(victim, runtime, model), attackers_entry


def refused_or_byok(decision: dict[str, Any]) -> bool:
    return decision["billing_mode"] != "platform_managed"


@pytest.mark.parametrize(("runtime", "model"), FORGED_TARGETS)
def test_an_entry_copied_from_another_manifest_is_ignored(tmp_path: Path, runtime: str, model: str) -> None:
    setting = CacheSetting(tmp_path)
    victim, victims_entry, attackers_entry = forge(setting, tmp_path, runtime, model)
    victims_entry.write_bytes(attackers_entry.read_bytes())
    assert refused_or_byok(setting.decisions_agree(victim, runtime, model))


@pytest.mark.parametrize(("runtime", "model"), FORGED_TARGETS)
def test_an_entry_whose_data_was_edited_is_ignored(tmp_path: Path, runtime: str, model: str) -> None:
    setting = CacheSetting(tmp_path)
    victim, victims_entry, _ = forge(setting, tmp_path, runtime, model)
    mac, _, payload = victims_entry.read_bytes().partition(b"\n")
    data = json.loads(payload)
    arm = next(a for a in data["data"]["runtimes"][runtime]["providers"] if a["name"] == "platform")
    arm["models"] = [*(arm["models"] or ()), model]
    victims_entry.write_bytes(mac + b"\n" + json.dumps(data, separators=(",", ":")).encode())
    assert refused_or_byok(setting.decisions_agree(victim, runtime, model))


@pytest.mark.parametrize(("runtime", "model"), FORGED_TARGETS)
@pytest.mark.parametrize("checksum", ["sha256", "hmac-under-another-key", "none"])
def test_an_entry_without_a_mac_under_the_users_key_is_ignored(
    tmp_path: Path, runtime: str, model: str, checksum: str
) -> None:
    import hashlib
    import hmac

    setting = CacheSetting(tmp_path)
    victim, victims_entry, attackers_entry = forge(setting, tmp_path, runtime, model)
    _, _, payload = attackers_entry.read_bytes().partition(b"\n")
    sealed = {
        "sha256": hashlib.sha256(payload).hexdigest().encode(),
        "hmac-under-another-key": hmac.new(os.urandom(32), payload, hashlib.sha256).hexdigest().encode(),
        "none": b"",
    }[checksum]
    victims_entry.write_bytes(sealed + b"\n" + payload)
    assert refused_or_byok(setting.decisions_agree(victim, runtime, model))


def _remove(key: Path) -> None:
    key.unlink()


def _world_readable(key: Path) -> None:
    key.chmod(0o644)


def _a_folder(key: Path) -> None:
    key.unlink()
    key.mkdir()


def _a_symlink(key: Path) -> None:
    elsewhere = key.with_name("elsewhere.key")
    key.rename(elsewhere)
    key.symlink_to(elsewhere)


def _truncated(key: Path) -> None:
    key.write_bytes(key.read_bytes()[:16])


@pytest.mark.parametrize("spoil", [_remove, _world_readable, _a_folder, _a_symlink, _truncated])
@pytest.mark.parametrize(("runtime", "model"), FORGED_TARGETS[:2])
def test_without_a_usable_key_nothing_in_the_cache_is_trusted(
    tmp_path: Path, runtime: str, model: str, spoil: Any
) -> None:
    setting = CacheSetting(tmp_path)
    victim, victims_entry, attackers_entry = forge(setting, tmp_path, runtime, model)
    victims_entry.write_bytes(attackers_entry.read_bytes())
    spoil(setting.key)
    assert refused_or_byok(setting.decisions_agree(victim, runtime, model))


def test_the_key_lives_outside_the_cache_folder_and_only_its_owner_reads_it(tmp_path: Path) -> None:
    setting = CacheSetting(tmp_path)
    setting.entry_for(bundled_manifest_path(), "codex", "gpt-4o")
    assert setting.key.stat().st_mode & 0o777 == 0o600
    assert not setting.key.is_relative_to(setting.folder)
    # A cache folder chosen around the key's folder turns the cache off rather than keep the key beside entries.
    around = dict(setting.env, ROUTEGATE_CACHE_DIR=str(tmp_path))
    before = set(tmp_path.glob("manifest-*"))
    cli("check", "--json", "codex", "gpt-4o", env=around)
    assert set(tmp_path.glob("manifest-*")) == before


def test_only_the_one_shot_decision_commands_use_the_cache(tmp_path: Path) -> None:
    setting = CacheSetting(tmp_path)
    manifest = str(bundled_manifest_path())
    for gate in (
        ["lint", "--json"],
        ["drift", "--json", "--report-only", str(bundled_manifest_path().parent / "templates")],
        ["gen", "--target", "python"],
    ):
        subprocess.run([ROUTEGATE, *gate, "--manifest", manifest], capture_output=True, env=setting.env, timeout=60)
    assert not setting.entries() and not setting.key.exists()
    for decision in (["check", "codex", "gpt-4o"], ["upstream", "minimax:MiniMax-M2.7"], ["models", "hermes"]):
        subprocess.run([ROUTEGATE, *decision, "--manifest", manifest], capture_output=True, env=setting.env, timeout=60)
    assert len(setting.entries()) == 1


def test_a_cache_hit_decides_as_validation_does_without_importing_pydantic(tmp_path: Path) -> None:
    setting = CacheSetting(tmp_path)
    setting.entry_for(bundled_manifest_path(), "codex", "gpt-4o")
    probe = (
        "import json, sys\n"
        "from routegate.manifest import load_manifest\n"
        "cached = load_manifest(cached=True)\n"
        "print(json.dumps(['pydantic' in sys.modules, cached.to_data() == load_manifest().to_data()]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=setting.env, timeout=60)
    assert json.loads(done.stdout) == [False, True], done.stderr


def disguised(folder: Path) -> Path:
    """The reference plus a provider that sends requests to the platform's base URL: platform-keyed by effect."""
    doc = reference()
    platform = next(p for p in doc["providers"] if p["name"] == "platform")
    doc["providers"].append(provider("lookalike", "^lookalike/", base_url_template=platform["base_url_template"]))
    doc["runtimes"]["hermes"]["providers"].append({"name": "lookalike", "models": ["lookalike/one"]})
    return write(folder, doc, "disguised.yaml")


def keyed(manifest: Path, env: dict[str, str]) -> dict[str, bool]:
    """Each of hermes' providers: platform-keyed or not, as ``routegate providers`` answers."""
    _, answer = cli("providers", "--json", "--manifest", str(manifest), "hermes", env=env)
    return {row["name"]: row["platform_keyed"] for row in answer["providers"]}


def test_a_cache_hit_keeps_which_providers_are_platform_keyed_by_their_effect(tmp_path: Path) -> None:
    """The entry carries the flag worked out from the URLs, so a hit need not parse them again."""
    setting, manifest = CacheSetting(tmp_path), disguised(tmp_path)
    setting.entry_for(manifest, "hermes", "lookalike/one")
    assert keyed(manifest, setting.env) == keyed(manifest, dict(setting.env, ROUTEGATE_CACHE_DIR="off"))
    assert keyed(manifest, setting.env)["lookalike"]
    setting.decisions_agree(manifest, "hermes", "lookalike/one")


def test_an_entry_whose_platform_keyed_providers_were_edited_is_ignored(tmp_path: Path) -> None:
    setting, manifest = CacheSetting(tmp_path), disguised(tmp_path)
    entry = setting.entry_for(manifest, "hermes", "lookalike/one")
    mac, _, payload = entry.read_bytes().partition(b"\n")
    stored = json.loads(payload)
    assert stored["platform_keyed_by_effect"] == ["lookalike"]
    stored["platform_keyed_by_effect"] = []
    entry.write_bytes(mac + b"\n" + json.dumps(stored, separators=(",", ":")).encode())
    assert keyed(manifest, setting.env)["lookalike"]
