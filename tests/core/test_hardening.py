"""Issue 10's core defects, each tested as a class of inputs over the real interface.

The CLI runs as a process (exit code, the problem's place, nothing echoed);
the load rules are checked through ``parse_manifest``, which is what ``lint``
runs.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routegate import Code, DecisionPath, InvalidManifest, Registry, UnknownRuntime, _re2
from routegate._ids import ENV_NAME, SLUG
from routegate.cli import main
from routegate.decision import FOREIGN_RUNTIMES
from routegate.manifest import bundled_manifest_path, parse_manifest
from tests.manifests import provider

from .crafted import BASE
from .test_cli import ROUTEGATE, run

REFERENCE_DOC: dict[str, Any] = yaml.safe_load(bundled_manifest_path().read_text())
PLATFORM_DOC = next(p for p in REFERENCE_DOC["providers"] if p["name"] == "platform")


def problems_of(doc: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidManifest) as caught:
        parse_manifest(yaml.safe_dump(doc, sort_keys=False), source="test")
    return {p.where: p.message for p in caught.value.problems}


def write(tmp_path: Path, doc: dict[str, Any], name: str = "providers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def reference() -> dict[str, Any]:
    return copy.deepcopy(REFERENCE_DOC)


def reference_provider(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in doc["providers"] if p["name"] == name)
    return found


# --- item 2: a runtime's patterns must build into one RE2 set ------------------------------------


@functools.cache
def widest_repetition(prefix: str) -> int:
    """The largest n for which ``prefix\\pL{n}`` still compiles alone under RE2 (found, not assumed)."""
    low, high = 1, 4096
    while low < high:
        middle = (low + high + 1) // 2
        if _re2.compile_error(f"{prefix}\\pL{{{middle}}}") is None:
            low = middle
        else:
            high = middle - 1
    return low


def oversized(prefix: str) -> str:
    """A pattern RE2 compiles alone that no runtime's RE2 set can hold."""
    pattern = f"{prefix}\\pL{{{widest_repetition(prefix)}}}"
    assert _re2.compile_error(pattern) is None
    with pytest.raises(_re2.SetBuildError):
        _re2.search_set([pattern])
    return pattern


@pytest.mark.parametrize(("runtime", "name"), [("hermes", "arcee"), ("openclaw", "custom"), ("hermes", "openrouter")])
def test_a_pattern_that_overflows_its_runtimes_set_is_a_load_problem_with_its_place(
    tmp_path: Path, runtime: str, name: str
) -> None:
    doc = reference()
    reference_provider(doc, name)["model_prefix_match"] = oversized(f"^{name}[:/]")
    arms = [arm["name"] for arm in doc["runtimes"][runtime]["providers"]]
    where = f"runtimes.{runtime}.providers[{arms.index(name)}]"
    manifest = write(tmp_path, doc)

    code, out, err = run("lint", "--json", "--manifest", str(manifest))
    assert (code, out["ok"]) == (1, False)
    assert where in {p["where"] for p in out["problems"]}
    assert "RE2 set" in next(p["message"] for p in out["problems"] if p["where"] == where)
    # Every command that loads it refuses it the same way: exit 2, the place, no traceback.
    for command in (
        ["check", "--json", runtime, "x"],
        ["drift", "--json", str(tmp_path)],
        ["models", "--json", runtime],
    ):
        code, out, err = run(*command[:1], "--manifest", str(manifest), *command[1:])
        assert code == 2, command
        assert where in {p["where"] for p in out["problems"]}
        assert "Traceback" not in err


def fits_in_a_set(pattern: str) -> bool:
    try:
        _re2.search_set([pattern])
    except _re2.SetBuildError:
        return False
    return True


def test_patterns_that_fit_alone_but_not_together_name_the_one_that_overflows(base_doc: dict[str, Any]) -> None:
    low, high = 1, widest_repetition("^beta[:/]")
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits_in_a_set(f"^beta[:/]\\pL{{{middle}}}") else (low, middle - 1)
    beta, delta = f"^beta[:/]\\pL{{{low * 2 // 3}}}", f"^shared-\\pL{{{low * 2 // 3}}}"
    assert fits_in_a_set(beta) and fits_in_a_set(delta)
    base_doc["providers"][2]["model_prefix_match"] = beta  # arm 3 of rt
    base_doc["providers"][4]["model_prefix_match"] = delta  # arm 4 of rt
    found = problems_of(base_doc)
    assert "'delta'" in found["runtimes.rt.providers[4]"]
    assert "runtimes.solo.providers[0]" not in found  # beta alone fits in solo's set


def test_serve_refuses_such_a_manifest_without_a_traceback(tmp_path: Path) -> None:
    doc = reference()
    reference_provider(doc, "arcee")["model_prefix_match"] = oversized("^arcee[:/]")
    manifest = write(tmp_path, doc)
    env = dict(os.environ, NO_COLOR="1")
    proc = subprocess.run(
        [
            ROUTEGATE,
            "serve",
            "--manifest",
            str(manifest),
            "--port",
            "65000",
            "--database-url",
            f"sqlite:///{tmp_path}/x.db",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "runtimes.hermes.providers[" in proc.stderr and "Traceback" not in proc.stderr


# --- item 3: G1 by effect ----------------------------------------------------------------------------

PLATFORM_ENV = PLATFORM_DOC["auth_env"][0]
PLATFORM_URLS = [PLATFORM_DOC["base_url_template"], PLATFORM_DOC["base_url_anthropic"]]


def _respellings(url: str) -> list[str]:
    """The same endpoint written differently: case, trailing slash, default port, dot segments, escapes."""
    scheme, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    return [
        url,
        url + "/",
        f"{scheme.upper()}://{host.upper()}/{path}",
        f"{scheme}://{host}:443/{path}",
        f"{scheme}://{host}./{path}",
        f"{scheme}://{host}/x/../{path}",
        f"{scheme}://{host}/{path.replace('v1', '%76%31')}",
        f"{url}/chat/completions",
    ]


DISGUISES = [
    {"auth_env": [PLATFORM_ENV]},
    {"auth_env": ["OWN_KEY", PLATFORM_ENV]},
    *({"base_url_template": url} for url in _respellings(PLATFORM_URLS[0])),
    *({"base_url_anthropic": url} for url in _respellings(PLATFORM_URLS[1])),
    {"base_url_template": PLATFORM_URLS[1]},  # the platform's other surface counts too
]


@pytest.mark.parametrize("disguise", DISGUISES)
def test_a_provider_with_the_platforms_credential_or_url_is_platform_keyed(disguise: dict[str, Any]) -> None:
    doc = reference()
    doc["providers"].append(provider("totally-byok", "^totally-byok/", **disguise))
    doc["runtimes"]["hermes"]["providers"].append({"name": "totally-byok"})
    where = f"runtimes.hermes.providers[{len(doc['runtimes']['hermes']['providers']) - 1}]"
    message = problems_of(doc)[where]
    assert "G1" in message and "'totally-byok'" in message and "platform's" in message
    # On a menu arm it may stay, and every listing marks it platform-keyed.
    doc["runtimes"]["hermes"]["providers"][-1]["models"] = ["totally-byok/one"]
    registry = Registry.from_yaml(yaml.safe_dump(doc))
    assert registry.catalog["totally-byok"].platform_keyed


def test_g1_by_effect_over_the_cli_names_the_place(tmp_path: Path) -> None:
    doc = reference()
    doc["providers"].append(provider("helper", "^helper/", auth_env=[PLATFORM_ENV]))
    doc["runtimes"]["openclaw"]["providers"].append({"name": "helper"})
    code, out, _ = run("lint", "--json", "--manifest", str(write(tmp_path, doc)))
    assert code == 1
    (problem,) = out["problems"]
    assert problem["where"] == "runtimes.openclaw.providers[4]" and PLATFORM_ENV in problem["message"]


@pytest.mark.parametrize(
    "byok",
    [
        {"auth_env": ["OPENAI_API_KEY"], "base_url_template": "https://api.openai.com/v1"},
        {"auth_env": ["ANTHROPIC_API_KEY"], "base_url_anthropic": "https://api.anthropic.com/v1"},
        # the platform's token env (where the runtime projects a key) is not its credential
        {"auth_env": [PLATFORM_DOC["auth_token_env"]]},
        # its host, but not its endpoints
        {"base_url_template": "https://api.moleculesai.app/api/v1/public/other"},
    ],
)
def test_sharing_a_vendors_env_or_url_stays_byok(byok: dict[str, Any]) -> None:
    doc = reference()
    doc["providers"].append(provider("byok-vendor", "^byok-vendor/", **byok))
    doc["runtimes"]["hermes"]["providers"].append({"name": "byok-vendor"})
    registry = Registry.from_yaml(yaml.safe_dump(doc))
    assert not registry.catalog["byok-vendor"].platform_keyed
    decision = registry.check("hermes", "byok-vendor/some-model")
    assert (decision.allowed, decision.provider.name, decision.billing_mode) == (True, "byok-vendor", "byok")


def test_the_references_byok_providers_keep_loading() -> None:
    registry = Registry.load()
    for name in ("zai", "custom", "openrouter", "xiaomi-mimo"):
        assert not registry.catalog[name].platform_keyed, name
    assert registry.check("openclaw", "custom:my-model").provider.name == "custom"


# --- item 4: provider and runtime names are ASCII slugs -----------------------------------------------

LOOK_ALIKES = [
    "pl\u0430tform",  # Cyrillic a
    " hermes ",
    "hermes ",
    "Hermes",
    "her mes",
    "hermes\n",
    "herm\u200bes",  # zero-width space
    "\uff48ermes",  # fullwidth h
    "-hermes",
    ".hermes",
    "",
    "h" * 129,
]


@pytest.mark.parametrize("name", LOOK_ALIKES)
def test_look_alike_provider_names_are_refused_with_their_place(base_doc: dict[str, Any], name: str) -> None:
    base_doc["providers"][2]["name"] = name  # beta
    base_doc["runtimes"]["rt"]["providers"][3]["name"] = name
    base_doc["runtimes"]["solo"]["providers"][0]["name"] = name
    found = problems_of(base_doc)
    assert "providers[2].name" in found


@pytest.mark.parametrize("name", LOOK_ALIKES)
def test_look_alike_runtime_names_are_refused_with_their_place(base_doc: dict[str, Any], name: str) -> None:
    base_doc["runtimes"][name] = base_doc["runtimes"].pop("solo")
    where = f"runtimes.{name}" if SLUG.fullmatch(name) else f"runtimes.{name!a}"
    assert "runtime name" in problems_of(base_doc)[where]


def test_a_look_alike_is_refused_over_the_cli_with_the_code_point_named(tmp_path: Path) -> None:
    doc = reference()
    doc["runtimes"]["pl\u0430tform"] = doc["runtimes"].pop("hermes")
    code, out, _ = run("lint", "--json", "--manifest", str(write(tmp_path, doc)))
    assert code == 1
    (problem,) = out["problems"]
    assert problem["where"] == "runtimes.'pl\\u0430tform'"
    assert "U+0430 (CYRILLIC SMALL LETTER A)" in problem["message"]


@given(name=st.text(max_size=20))
@settings(max_examples=300)
def test_a_name_loads_exactly_when_it_is_a_slug(name: str) -> None:
    doc = copy.deepcopy(BASE)
    doc["runtimes"] = {name: doc["runtimes"]["solo"]}
    text = yaml.safe_dump(doc)
    if SLUG.fullmatch(name) and name.isascii():
        assert parse_manifest(text).runtimes[name].name == name
    else:
        with pytest.raises(InvalidManifest):
            parse_manifest(text)


# --- item 5: an unknown runtime is refused with the nearest names; foreign runtimes fail open ---------


def _one_edit_away(name: str) -> list[str]:
    """Typos of ``name``: one letter replaced, dropped, doubled, or two swapped."""
    typos = set()
    for i in range(len(name)):
        typos.add(name[:i] + name[i + 1 :])
        typos.add(name[:i] + name[i] + name[i:])
        typos.add(name[:i] + ("x" if name[i] != "x" else "y") + name[i + 1 :])
        if i + 1 < len(name):
            typos.add(name[:i] + name[i + 1] + name[i] + name[i + 2 :])
    return sorted(typos - {name})


REFERENCE_REGISTRY = Registry.load()
TYPOS = [(runtime, typo) for runtime in REFERENCE_REGISTRY.runtimes for typo in _one_edit_away(runtime)]


@pytest.mark.parametrize(("runtime", "typo"), TYPOS)
def test_check_refuses_a_misspelt_runtime_naming_the_one_meant(runtime: str, typo: str) -> None:
    decision = REFERENCE_REGISTRY.check(typo, "gpt-4o")
    assert (decision.allowed, decision.path, decision.code) == (False, None, Code.RUNTIME_UNSUPPORTED)
    assert runtime in decision.suggestions and runtime in decision.reason
    with pytest.raises(UnknownRuntime) as caught:
        REFERENCE_REGISTRY.derive(typo, "gpt-4o")
    assert runtime in caught.value.nearest


@given(runtime=st.text(max_size=30), model=st.text(max_size=30))
@settings(max_examples=300)
def test_only_registry_and_foreign_runtimes_are_ever_admitted(runtime: str, model: str) -> None:
    decision = REFERENCE_REGISTRY.check(runtime, model)
    known = runtime in REFERENCE_REGISTRY.runtimes or runtime in FOREIGN_RUNTIMES
    assert (decision.code is Code.RUNTIME_UNSUPPORTED) == (not known)
    if not known:
        assert decision.suggestions and set(decision.suggestions) <= {*REFERENCE_REGISTRY.runtimes, *FOREIGN_RUNTIMES}


@pytest.mark.parametrize("command", ["check", "derive"])
def test_cli_refuses_a_misspelt_runtime_with_the_nearest_names(command: str) -> None:
    code, out, err = run(command, "--json", "hermis", "gpt-4o")
    assert code == 1 and "Traceback" not in err
    if command == "check":
        assert (out["code"], out["suggestions"][0]) == ("RUNTIME_UNSUPPORTED", "hermes")
    else:
        assert (out["error"], out["nearest_runtimes"][0]) == ("RUNTIME_UNSUPPORTED", "hermes")
    assert "hermes" in out.get("reason", out.get("message"))


def test_cli_fails_open_for_foreign_runtimes_only() -> None:
    for foreign in FOREIGN_RUNTIMES:
        code, out, _ = run("check", "--json", foreign, "anything/at-all")
        assert (code, out["path"]) == (0, "fail_open")
    code, out, _ = run("check", "--json", "--foreign-runtime", "crewai", "crewai", "anything")
    assert (code, out["path"]) == (0, "fail_open")
    # Naming the foreign runtimes replaces the default list.
    code, out, _ = run("check", "--json", "--foreign-runtime", "crewai", "langgraph", "anything")
    assert (code, out["code"]) == (1, "RUNTIME_UNSUPPORTED")


def test_the_decision_for_a_misspelt_runtime_comes_before_the_empty_model_row() -> None:
    assert REFERENCE_REGISTRY.check("hermis", "  ").code is Code.RUNTIME_UNSUPPORTED
    assert REFERENCE_REGISTRY.check("langgraph", "  ").path is DecisionPath.EMPTY


# --- item 6: --auth-env takes names only -----------------------------------------------------------

NOT_NAMES = [
    "sk-live-THIS-IS-A-SECRET-1234",
    "sk-ant-api03-abcdefghijklmnop",
    "openai_api_key",
    "1OPENAI",
    "OPENAI API KEY",
    "OPENAI_API_KEY=sk-123456",
    "MY_TOKEN\n",
    "\u041e\u0420\u0415\u041dAI_KEY",  # Cyrillic look-alike of OPEN
    "",
]


@pytest.mark.parametrize("value", NOT_NAMES)
@pytest.mark.parametrize("command", ["check", "derive"])
def test_auth_env_with_a_value_exits_2_without_echoing_it(command: str, value: str) -> None:
    for args in (["--auth-env", value], [f"--auth-env={value}"]):
        code, out, err = run(command, "--json", "codex", "gpt-5.5", *args)
        assert code == 2
        assert "--auth-env" in err and "NAME" in err
        if value.strip():
            assert value.strip() not in str(out) and value.strip() not in err


SECRET = "sk-proj-Qz81"
"""Marks a value so that an echo of it can be seen in the output."""


@given(
    value=st.one_of(
        st.text(min_size=1, max_size=40).filter(lambda v: not ENV_NAME.fullmatch(v)),
        st.builds(lambda head, tail: head + SECRET + tail, st.text(max_size=15), st.text(max_size=15)),
    )
)
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_non_name_reaches_a_decision(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check", "codex", "gpt-5.5", "--auth-env", value])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert "--auth-env" in captured.err
    assert SECRET not in captured.out + captured.err


# --- item 7: no file in the manifest cache changes a decision ------------------------------------------
#
# The cache (routegate._cache) authenticates each entry with an HMAC under a per-user key kept outside
# the cache folder, bound to the manifest's bytes. Each attack below plants an entry that would make the
# decision platform-billed; every decision must equal the one made with the cache off.

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
    arm = next(a for a in data["runtimes"][runtime]["providers"] if a["name"] == "platform")
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


# --- the property: whatever lint accepts loads, and check never raises ------------------------------

PROVIDER_NAMES = [p["name"] for p in REFERENCE_DOC["providers"]]
FRAGMENTS = st.sampled_from(
    ["^", "$", "a", "gpt-", "[:/]", "(?i)", "claude", ".*", "\\d+", "[a-z]", "(a|b)", "x?", "\\pL", "[^/]"]
)
PATTERNS = st.one_of(
    st.lists(FRAGMENTS, min_size=1, max_size=6).map("".join),
    st.builds(lambda prefix, n: f"^{prefix}[:/]\\pL{{{n}}}", st.sampled_from(PROVIDER_NAMES), st.integers(1, 600)),
    st.builds(lambda n: f"^arcee[:/](a|b)*a(a|b){{{n}}}", st.integers(0, 20)),
)
MODEL_IDS = st.one_of(
    st.text(max_size=30),
    st.builds(lambda name, rest: f"{name}/{rest}", st.sampled_from(PROVIDER_NAMES), st.text(max_size=10)),
)


@st.composite
def mutated_reference(draw: st.DrawFn) -> dict[str, Any]:
    doc = reference()
    for _ in range(draw(st.integers(0, 4))):
        entry = doc["providers"][draw(st.integers(0, len(doc["providers"]) - 1))]
        entry["model_prefix_match"] = draw(PATTERNS)
    runtimes = list(doc["runtimes"].values())
    for _ in range(draw(st.integers(0, 4))):
        arms = runtimes[draw(st.integers(0, len(runtimes) - 1))]["providers"]
        action = draw(st.sampled_from(["add", "drop", "menu", "routing-only"]))
        if action == "add":
            arms.append({"name": draw(st.sampled_from(PROVIDER_NAMES))})
        elif action == "drop" and len(arms) > 1:
            arms.pop(draw(st.integers(0, len(arms) - 1)))
        elif action == "menu":
            arms[draw(st.integers(0, len(arms) - 1))]["models"] = draw(st.lists(MODEL_IDS, min_size=1, max_size=3))
        elif action == "routing-only":
            arms[draw(st.integers(0, len(arms) - 1))].pop("models", None)
    return doc


@given(doc=mutated_reference(), runtime=st.sampled_from(list(REFERENCE_DOC["runtimes"])), model=MODEL_IDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_manifest_lint_accepts_loads_and_decides(doc: dict[str, Any], runtime: str, model: str) -> None:
    text = yaml.safe_dump(doc, sort_keys=False)
    try:
        manifest = parse_manifest(text)  # exactly what lint runs
    except InvalidManifest as error:
        assert error.problems and all(p.where and p.message for p in error.problems)
        return
    registry = Registry(manifest)
    decision = registry.check(runtime, model)
    assert decision.allowed == (decision.code is None)
    if decision.billing_mode == "platform_managed":
        assert decision.model in registry.menu(runtime)
