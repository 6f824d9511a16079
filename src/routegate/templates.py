"""Workspace templates: a folder with a ``config.yaml`` that names a runtime and offers models.

Template names come from clients, so :class:`TemplateRoot` resolves them
strictly inside its root: no absolute paths, no ``..``, no symlink out.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path, PurePosixPath

from routegate.errors import InvalidTemplate, TemplateNotFound, UnsafeTemplateName

__all__ = ["OfferedModel", "Template", "TemplateRoot", "bundled_templates_path", "find_templates", "load_template"]

CONFIG_NAME = "config.yaml"


@dataclass(frozen=True, slots=True)
class OfferedModel:
    """One entry of ``runtime_config.models``."""

    id: str
    provider: str | None = None
    required_env: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    path: Path
    runtime: str | None
    default_model: str | None
    offered: tuple[OfferedModel, ...]


def bundled_templates_path() -> Path:
    """The example templates routegate ships (the reference templates)."""
    return Path(__file__).parent / "data" / "templates"


def load_template(path: str | PathLike[str]) -> Template:
    """Read a template folder, or its ``config.yaml`` directly."""
    import yaml

    from routegate import _yaml

    config = Path(path)
    if config.is_dir():
        config = config / CONFIG_NAME
    try:
        doc, duplicates = _yaml.load(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateNotFound(f"no {CONFIG_NAME} at {config}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InvalidTemplate(f"cannot read {config}: {error}") from None
    if duplicates:
        raise InvalidTemplate(f"{config}: " + "; ".join(str(problem) for problem in duplicates))
    if not isinstance(doc, dict):
        raise InvalidTemplate(f"{config}: must be a mapping")
    runtime_config = doc.get("runtime_config") or {}
    if not isinstance(runtime_config, dict):
        raise InvalidTemplate(f"{config}: runtime_config must be a mapping")
    default = runtime_config.get("model", doc.get("model"))  # legacy: a top-level model
    offered = []
    for index, entry in enumerate(runtime_config.get("models") or ()):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise InvalidTemplate(f"{config}: runtime_config.models[{index}] needs a string id")
        env = entry.get("required_env") or ()
        if not isinstance(env, list | tuple) or not all(isinstance(e, str) for e in env):
            raise InvalidTemplate(f"{config}: runtime_config.models[{index}].required_env must be a list of names")
        provider = entry.get("provider")
        offered.append(OfferedModel(entry["id"], provider if isinstance(provider, str) else None, tuple(env)))
    runtime = doc.get("runtime")
    return Template(
        name=config.parent.name,
        path=config,
        runtime=runtime if isinstance(runtime, str) else None,
        default_model=default if isinstance(default, str) else None,
        offered=tuple(offered),
    )


def find_templates(path: str | PathLike[str]) -> list[Path]:
    """The ``config.yaml`` files a path stands for: itself, its folder, or its subfolders'."""
    target = Path(path)
    if target.is_file():
        return [target]
    if (target / CONFIG_NAME).is_file():
        return [target / CONFIG_NAME]
    if target.is_dir():
        found = sorted(child / CONFIG_NAME for child in target.iterdir() if (child / CONFIG_NAME).is_file())
        if found:
            return found
        raise TemplateNotFound(f"{target} holds no template folder (no */{CONFIG_NAME} directly inside it)")
    raise TemplateNotFound(f"{target} is neither a template folder, a folder of templates, nor a {CONFIG_NAME}")


class TemplateRoot:
    """The folder holding a service's templates; names resolve strictly inside it."""

    __slots__ = ("path",)

    def __init__(self, path: str | PathLike[str] | None = None) -> None:
        self.path = Path(path if path is not None else bundled_templates_path()).resolve()

    def resolve(self, name: str) -> Path:
        """The folder of template ``name``. Raises UnsafeTemplateName or TemplateNotFound."""
        pure = PurePosixPath(name)
        if not name or "\\" in name or "\x00" in name or pure.is_absolute() or ".." in pure.parts:
            raise UnsafeTemplateName(
                f"template name {name!r} is not allowed: use a folder name under the templates root, "
                "without '..', backslashes or an absolute path"
            )
        folder = (self.path / pure).resolve()
        config = (folder / CONFIG_NAME).resolve()
        if not folder.is_relative_to(self.path) or not config.is_relative_to(self.path):
            raise UnsafeTemplateName(f"template {name!r} resolves outside the templates root")
        if not config.is_file():
            raise TemplateNotFound(f"no template {name!r} under the templates root")
        return folder

    def get(self, name: str) -> Template:
        return load_template(self.resolve(name))

    def all(self) -> list[Template]:
        return [load_template(config) for config in find_templates(self.path)]
