"""Template names resolve strictly inside the templates root."""

from __future__ import annotations

import os

import pytest

from routegate import TemplateNotFound, UnsafeTemplateName
from routegate.templates import TemplateRoot


@pytest.fixture
def root(tmp_path) -> TemplateRoot:
    (tmp_path / "root" / "good").mkdir(parents=True)
    (tmp_path / "root" / "good" / "config.yaml").write_text("runtime: hermes\nruntime_config:\n  model: x\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "config.yaml").write_text("runtime: codex\n")
    os.symlink(tmp_path / "outside", tmp_path / "root" / "escape")
    return TemplateRoot(tmp_path / "root")


def test_a_template_inside_the_root(root: TemplateRoot) -> None:
    assert root.get("good").runtime == "hermes"


@pytest.mark.parametrize("name", ["../outside", "/etc", "good/../../outside", "a\\b", "", "x\x00y"])
def test_unsafe_names_are_refused(root: TemplateRoot, name: str) -> None:
    with pytest.raises(UnsafeTemplateName):
        root.resolve(name)


def test_a_symlink_out_of_the_root_is_refused(root: TemplateRoot) -> None:
    with pytest.raises(UnsafeTemplateName):
        root.resolve("escape")


def test_a_missing_template(root: TemplateRoot) -> None:
    with pytest.raises(TemplateNotFound):
        root.resolve("absent")


def test_bundled_examples() -> None:
    assert sorted(t.name for t in TemplateRoot().all()) == ["claude-code", "codex", "hermes", "openclaw"]
