"""``routegate gen --target litellm``: a LiteLLM proxy config serving exactly what routegate bills to the platform."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from routegate.calls import Payer, decide_call
from routegate.manifest import bundled_manifest_path
from routegate.registry import Registry

INTEGRATION = "routegate.integrations.litellm"


def billed_to_the_platform(registry: Registry) -> set[str]:
    """routegate's own answer: the menu ids whose call the platform pays for, on any runtime, any workspace."""
    billed = set()
    for runtime in registry.runtimes:
        for arm in registry.arms(runtime):
            for model in arm.models:
                call = decide_call(registry, runtime, model, arm.provider.auth_env[:1], model)
                if call.allowed and call.payer is Payer.PLATFORM:
                    billed.add(model)
    return billed


def config(cli: Any, *args: Any) -> dict[str, Any]:
    done = cli("gen", "--target", "litellm", *args)
    assert done.returncode == 0, done.stderr
    loaded: dict[str, Any] = yaml.safe_load(done.stdout)
    return loaded


def test_the_model_list_is_the_platform_billed_set_both_ways(cli: Any) -> None:
    registry = Registry.load()
    served = {entry["model_name"] for entry in config(cli)["model_list"]}
    assert served == billed_to_the_platform(registry)
    assert "anthropic/claude-opus-4-7" in served and "platform:gemini-2.5-pro" not in served


def test_each_deployment_names_the_vendor_model_protocol_base_and_the_platforms_key(cli: Any) -> None:
    registry = Registry.load()
    for entry in config(cli)["model_list"]:
        upstream = registry.upstream(entry["model_name"])
        params = entry["litellm_params"]
        assert params["model"] == f"{upstream.provider.protocol}/{upstream.model}"
        assert params["api_key"] == f"os.environ/{upstream.provider.auth_env[0]}"
        assert params["api_base"].startswith("https://")
        assert set(params) == {"model", "api_base", "api_key"}
    by_name = {entry["model_name"]: entry["litellm_params"] for entry in config(cli)["model_list"]}
    assert by_name["anthropic/claude-opus-4-7"]["api_base"] == "https://api.anthropic.com"  # LiteLLM adds /v1/messages
    assert by_name["openai/gpt-5.4"]["api_base"] == "https://api.openai.com/v1"


def test_auth_and_hooks_are_routegates_and_nothing_reroutes(cli: Any) -> None:
    document = config(cli)
    assert document["general_settings"] == {"custom_auth": f"{INTEGRATION}.custom_auth"}
    assert document["litellm_settings"]["callbacks"] == [f"{INTEGRATION}.call_gate"]
    assert all(not value for value in document["router_settings"].values())
    assert not any("*" in entry["model_name"] for entry in document["model_list"])


def test_api_base_and_routegate_url_are_written_and_an_unknown_vendor_is_refused(cli: Any) -> None:
    document = config(cli, "--api-base", "openai=http://127.0.0.1:9/v1", "--routegate-url", "http://127.0.0.1:8")
    bases = {entry["model_name"]: entry["litellm_params"]["api_base"] for entry in document["model_list"]}
    assert bases["openai/gpt-5.4"] == "http://127.0.0.1:9/v1"
    assert bases["anthropic/claude-opus-4-7"] == "https://api.anthropic.com"
    assert document["environment_variables"] == {"ROUTEGATE_URL": "http://127.0.0.1:8"}
    refused = cli("gen", "--target", "litellm", "--api-base", "nobody=http://x")
    assert refused.returncode != 0 and "nobody" in refused.stdout + refused.stderr
    wrong_target = cli("gen", "--target", "python", "--api-base", "openai=http://x")
    assert wrong_target.returncode != 0


def test_check_fails_when_the_committed_config_is_stale(cli: Any, write_manifest: Any, tmp_path: Path) -> None:
    committed = tmp_path / "litellm.yaml"
    base = ("--api-base", "openai=http://127.0.0.1:9/v1")
    assert cli("gen", "--target", "litellm", *base, "-o", committed).returncode == 0
    code, report = cli.json("gen", "--target", "litellm", *base, "--check", committed)
    assert (code, report["diff"]) == (0, [])

    doc = yaml.safe_load(bundled_manifest_path().read_text(encoding="utf-8"))
    platform_arm = next(arm for arm in doc["runtimes"]["codex"]["providers"] if arm["name"] == "platform")
    platform_arm["models"].append("openai/gpt-6")
    changed = write_manifest(doc, "changed.yaml")
    code, report = cli.json("gen", "--target", "litellm", *base, "--manifest", changed, "--check", committed)
    assert code == 1 and any(line.startswith("+") and "openai/gpt-6" in line for line in report["diff"])
    stale = cli("gen", "--target", "litellm", *base, "--manifest", changed, "--check", committed)
    assert stale.returncode == 1 and "--api-base openai=http://127.0.0.1:9/v1" in stale.stdout


def test_litellms_own_router_serves_exactly_the_platform_billed_set(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "MOONSHOT_API_KEY", "MINIMAX_API_KEY"):
        monkeypatch.setenv(name, os.urandom(4).hex())
    from litellm.router import Router

    router = Router(model_list=config(cli)["model_list"])
    assert set(router.get_model_names()) == billed_to_the_platform(Registry.load())
