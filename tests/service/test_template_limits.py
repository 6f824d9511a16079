"""GET /templates stays bounded: a template past the size or model limit is a problem naming the
limit, an unchanged file is not parsed again, and a FIFO is listed as a problem without blocking."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routegate import templates as templates_module
from routegate.service import Settings, SettingsError, routes_registry
from routegate.templates import bundled_templates_path

from .conftest import LiveServer, run_cli

MAX_BYTES = 4096
MAX_MODELS = 50  # the bundled hermes offers 37
BUNDLED = {"claude-code", "codex", "hermes", "openclaw"}


def _config(models: int, padding: int = 0) -> str:
    """A hermes template offering ``models`` models, with a comment of ``padding`` bytes."""
    lines = ["runtime: hermes", "runtime_config:", "  model: kimi-coding/kimi-k2", "  models:"]
    lines += [f"    - id: model-{index}" for index in range(models)]
    return "\n".join(lines) + "\n" + (f"# {'x' * padding}\n" if padding else "")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(bundled_templates_path(), target)
    return target


@pytest.fixture
def served(tmp_path: Path, root: Path) -> Iterator[LiveServer]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'routegate.db'}",
        templates=root,
        template_max_bytes=MAX_BYTES,
        template_max_models=MAX_MODELS,
    )
    live = LiveServer(settings).start()
    yield live
    live.stop()


def _add(root: Path, name: str, text: str) -> Path:
    (root / name).mkdir()
    config = root / name / "config.yaml"
    config.write_text(text)
    return config


def _listing(server: LiveServer) -> tuple[set[str], dict[str, str]]:
    with server.client() as http:
        answer = http.get("/templates")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return {t["name"] for t in body["templates"]}, {p["name"]: p["error"] for p in body["problems"]}


@pytest.mark.parametrize("excess", [1, 1000, 10 * MAX_BYTES], ids=["one-byte-over", "1000-over", "ten-times"])
def test_a_template_over_the_size_limit_is_a_problem_naming_the_limit(
    served: LiveServer, root: Path, excess: int
) -> None:
    config = _add(root, "huge", _config(2))
    config.write_text(_config(2, padding=MAX_BYTES + excess - len(_config(2)) - 3))
    assert config.stat().st_size == MAX_BYTES + excess
    _add(root, "at-limit", _config(2, padding=MAX_BYTES - len(_config(2)) - 3))
    assert (root / "at-limit" / "config.yaml").stat().st_size == MAX_BYTES

    names, problems = _listing(served)
    assert names == BUNDLED | {"at-limit"}
    assert set(problems) == {"huge"}
    assert f"size limit of {MAX_BYTES} bytes" in problems["huge"] and "--template-max-bytes" in problems["huge"]
    with served.client() as http:  # a create naming it is refused as a client error, not a 500
        refused = http.post("/workspaces", json={"name": "w", "template": "huge"})
    assert refused.status_code == 422, refused.text
    assert f"size limit of {MAX_BYTES} bytes" in refused.json()["error"]


@pytest.mark.parametrize("models", [MAX_MODELS + 1, MAX_MODELS * 3])
def test_a_template_over_the_model_limit_is_a_problem_naming_the_limit(
    served: LiveServer, root: Path, models: int
) -> None:
    _add(root, "many", _config(models))
    _add(root, "enough", _config(MAX_MODELS))
    names, problems = _listing(served)
    assert names == BUNDLED | {"enough"}
    assert set(problems) == {"many"}
    assert f"offers {models} models, over the limit of {MAX_MODELS}" in problems["many"]
    assert "--template-max-models" in problems["many"]


def test_an_unchanged_template_is_parsed_and_decided_once_and_a_changed_one_again(
    served: LiveServer, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    decided: list[str] = []
    parse, decide = templates_module._parse, routes_registry.drift  # type: ignore[attr-defined]

    def counting_parse(text: str, config: Path, shown: str, name: str, limits: Any) -> Any:
        parsed.append(name)
        return parse(text, config, shown, name, limits)

    def counting_drift(registry: Any, template: Any) -> Any:
        decided.append(template.name)
        return decide(registry, template)

    monkeypatch.setattr(templates_module, "_parse", counting_parse)
    monkeypatch.setattr(routes_registry, "drift", counting_drift)
    config = _add(root, "edited", _config(3))
    _add(root, "too-big", "#" * (MAX_BYTES + 1))
    first = [_listing(served) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    assert sorted(parsed) == sorted(BUNDLED | {"edited"})  # once each; the oversized one never
    assert "edited" in decided and decided.count("edited") == 1

    parsed.clear()
    stat = config.stat()
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # touched: same bytes, new mtime
    _listing(served)
    assert parsed == ["edited"]

    parsed.clear()
    decided.clear()
    replacement = root / "edited" / "next.yaml"
    replacement.write_text(_config(4))
    replacement.replace(config)  # a new inode, as editors save
    with served.client() as http:
        edited = next(t for t in http.get("/templates").json()["templates"] if t["name"] == "edited")
    assert parsed == ["edited"] and decided == ["edited"] and edited["offered"] == 4


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_config_that_is_not_a_regular_file_is_a_problem_and_never_blocks(
    served: LiveServer, root: Path, kind: str
) -> None:
    (root / "odd").mkdir()
    if kind == "fifo":
        os.mkfifo(root / "odd" / "config.yaml")  # opened for reading the usual way, it waits for a writer forever
    else:
        (root / "odd" / "config.yaml").mkdir()
    names, problems = _listing(served)
    assert names == BUNDLED
    assert problems == {
        "odd": "odd/config.yaml is not a regular file (a FIFO, folder, device or socket): replace it with a file"
    }
    with served.client() as http:
        refused = http.post(
            "/workspaces", json={"name": "w", "template": "odd", "runtime": "hermes", "model": "kimi-coding/kimi-k2"}
        )
    assert refused.status_code == 400 and refused.json()["code"] == "INVALID_TEMPLATE", refused.text


def test_the_limits_are_settings_with_flags_and_environment(tmp_path: Path) -> None:
    defaults = Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}")
    assert (defaults.template_max_bytes, defaults.template_max_models) == (256 * 1024, 1000)
    environ = {"ROUTEGATE_TEMPLATE_MAX_BYTES": "5000", "ROUTEGATE_TEMPLATE_MAX_MODELS": "7"}
    from_env = Settings.from_sources({"database_url": f"sqlite:///{tmp_path / 'a.db'}"}, environ)
    assert (from_env.template_max_bytes, from_env.template_max_models) == (5000, 7)
    assert Settings.from_sources({}, from_env.to_env()).template_limits == from_env.template_limits  # workers agree
    flagged = Settings.from_sources({"template_max_models": 9}, environ)
    assert flagged.template_max_models == 9
    for bad in ({"ROUTEGATE_TEMPLATE_MAX_BYTES": "lots"}, {"ROUTEGATE_TEMPLATE_MAX_MODELS": "0"}):
        with pytest.raises(SettingsError, match=r"ROUTEGATE_TEMPLATE_MAX|--template-max"):
            Settings.from_sources({}, bad)
    shown = run_cli("serve", "--help").stdout
    assert "--template-max-bytes" in shown and "--template-max-models" in shown
    assert "ROUTEGATE_TEMPLATE_MAX_BYTES" in shown and "ROUTEGATE_TEMPLATE_MAX_MODELS" in shown
