"""The seed's drift table (ROUTING.md section 8) over the bundled example templates."""

from __future__ import annotations

import pytest
import yaml

from routegate import Registry
from routegate.drift import NOT_ON_PLATFORM_ARM, drift
from routegate.templates import TemplateRoot, load_template

SEED_TABLE = {
    # runtime: (offered, routable, residual prefixes)
    "claude-code": (27, 27, set()),
    "hermes": (37, 25, {"anthropic/", "openai/", "gemini/", "minimax/"}),
    "codex": (9, 8, {"codex-minimax-m2.7"}),
    "openclaw": (13, 6, {"minimax:", "openai:", "groq:"}),
}


@pytest.fixture(scope="module")
def reports(reference: Registry):
    return {t.runtime: drift(reference, t) for t in TemplateRoot().all()}


@pytest.mark.parametrize("runtime", sorted(SEED_TABLE))
def test_seed_drift_table(reports, runtime: str) -> None:
    offered, routable, prefixes = SEED_TABLE[runtime]
    report = reports[runtime]
    assert (report.offered, report.routable) == (offered, routable)
    assert {p for r in report.residual for p in prefixes if r.id.startswith(p)} == prefixes
    assert all(any(r.id.startswith(p) for p in prefixes) for r in report.residual)


def test_openclaw_default_model_does_not_route(reports) -> None:
    assert reports["openclaw"].template.default_model == "minimax:MiniMax-M2.7"
    assert reports["openclaw"].default_routable is False
    assert all(reports[rt].default_routable for rt in ("claude-code", "hermes", "codex"))


def test_platform_marked_id_missing_from_the_platform_arm(reference: Registry, tmp_path) -> None:
    config = tmp_path / "t" / "config.yaml"
    config.parent.mkdir()
    config.write_text(
        yaml.safe_dump(
            {
                "runtime": "claude-code",
                "runtime_config": {
                    "model": "sonnet",
                    # on the menu (anthropic-oauth arm), so check() allows it, but it is no platform id
                    "models": [
                        {"id": "sonnet", "provider": "platform"},
                        {"id": "moonshot/kimi-k2.6", "provider": "platform"},
                    ],
                },
            }
        )
    )
    report = drift(reference, load_template(config))
    assert [(r.id, r.code) for r in report.residual] == [("sonnet", NOT_ON_PLATFORM_ARM)]


def test_legacy_top_level_model(tmp_path) -> None:
    config = tmp_path / "legacy" / "config.yaml"
    config.parent.mkdir()
    config.write_text("runtime: hermes\nmodel: moonshot/kimi-k2.6\n")
    template = load_template(config.parent)
    assert (template.runtime, template.default_model, template.offered) == ("hermes", "moonshot/kimi-k2.6", ())


@pytest.mark.parametrize(
    ("runtime_line", "code"), [("runtime: hermse\n", "RUNTIME_UNSUPPORTED"), ("", "RUNTIME_UNRESOLVED")]
)
def test_a_template_whose_runtime_cannot_be_used_routes_nothing(reference: Registry, tmp_path, runtime_line, code):
    config = tmp_path / "typo" / "config.yaml"
    config.parent.mkdir()
    config.write_text(runtime_line + "runtime_config:\n  model: platform/anything\n  models:\n    - id: sonnet\n")
    report = drift(reference, load_template(config))
    assert (report.offered, report.routable, report.default_routable) == (1, 0, False)
    assert [(r.id, r.code) for r in report.residual] == [("sonnet", code)]


def test_a_foreign_runtime_fails_open_as_at_create_time(reference: Registry, tmp_path) -> None:
    config = tmp_path / "lg" / "config.yaml"
    config.parent.mkdir()
    config.write_text("runtime: langgraph\nruntime_config:\n  models:\n    - id: anything\n")
    assert drift(reference, load_template(config)).residual == ()


def test_a_template_with_a_duplicate_key_is_invalid(tmp_path) -> None:
    from routegate import InvalidTemplate

    config = tmp_path / "dup" / "config.yaml"
    config.parent.mkdir()
    config.write_text("runtime: hermes\nruntime: codex\n")
    with pytest.raises(InvalidTemplate, match="duplicate key 'runtime'"):
        load_template(config)
