"""Workspace templates: a folder with a ``config.yaml`` that names a runtime and offers models.

Template names come from clients, so :class:`TemplateRoot` resolves them
strictly inside its root: a name is one folder directly under it, never an
absolute path, ``..`` or a symlink out. Every reader of the root (a create, the
service's template list, the console) goes through that one rule, and its
messages name the template and its file relative to the root, never the
server's own paths.
"""

from __future__ import annotations

import os
import stat
import threading
from collections import OrderedDict
from dataclasses import dataclass
from os import PathLike
from pathlib import Path, PurePosixPath

from routegate.errors import InvalidTemplate, TemplateNotFound, UnsafeTemplateName

__all__ = [
    "TEMPLATES_LABEL",
    "OfferedModel",
    "Template",
    "TemplateLimits",
    "TemplateProblem",
    "TemplateRoot",
    "bundled_templates_path",
    "find_templates",
    "load_template",
    "normalise_template_name",
    "scan_templates",
]

CONFIG_NAME = "config.yaml"
_CACHED_TEMPLATES = 1024  # readings a root keeps; past it the least recently used is read again


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """How large one template may be. A file past either is refused before it is parsed (bytes)
    or built (models), so one huge ``config.yaml`` costs a stat, not minutes and gigabytes."""

    max_bytes: int = 256 * 1024  # some 4000 models; the bundled templates are under 3 KB
    max_models: int = 1000


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


def load_template(
    path: str | PathLike[str], *, name: str | None = None, limits: TemplateLimits | None = None
) -> Template:
    """Read a template folder, or its ``config.yaml`` directly.

    ``name`` is the template's name under a root: the template is called so
    (not after the folder a symlink led to), and messages name its file
    relative to the root. Without it, the folder names the template and
    messages name the path as given. ``limits`` None reads a file of any size.
    """
    config = Path(path)
    if config.is_dir():
        config = config / CONFIG_NAME
    shown = str(config) if name is None else f"{name}/{CONFIG_NAME}"
    descriptor = _open_regular(config, shown)
    try:
        text = _read_text(descriptor, shown, limits)
    finally:
        os.close(descriptor)
    return _parse(text, config, shown, config.parent.name if name is None else name, limits)


def _open_regular(config: Path, shown: str) -> int:
    """An open descriptor on ``config``, which must be a regular file.

    Opened without blocking, so a FIFO (whose open waits for a writer) or a device is
    refused as a problem instead of stalling the reader; the type is checked on the open
    file, so a swap after a first look changes nothing.
    """
    try:
        descriptor = os.open(config, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise TemplateNotFound(f"no {CONFIG_NAME} at {shown}") from None
    except OSError as error:  # its str() would carry the absolute path; ENXIO: a socket
        raise InvalidTemplate(f"cannot read {shown}: {error.strerror or type(error).__name__}") from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise InvalidTemplate(
            f"{shown} is not a regular file (a FIFO, folder, device or socket): replace it with a file"
        )
    return descriptor


def _read_text(descriptor: int, shown: str, limits: TemplateLimits | None) -> str:
    """The file's text, refused unread past ``limits.max_bytes`` (and cut off should it grow meanwhile)."""
    budget = None if limits is None else limits.max_bytes
    if budget is not None and os.fstat(descriptor).st_size > budget:
        raise _too_large(shown, budget)
    with os.fdopen(os.dup(descriptor), "rb") as file:
        data = file.read() if budget is None else file.read(budget + 1)
    if budget is not None and len(data) > budget:
        raise _too_large(shown, budget)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidTemplate(f"cannot read {shown}: {error}") from None


def _too_large(shown: str, budget: int) -> InvalidTemplate:
    return InvalidTemplate(
        f"{shown} is over the template size limit of {budget} bytes: offer fewer models, "
        "or raise the limit (serve --template-max-bytes, ROUTEGATE_TEMPLATE_MAX_BYTES)"
    )


def _parse(text: str, config: Path, shown: str, name: str, limits: TemplateLimits | None) -> Template:
    import yaml

    from routegate import _yaml

    try:
        doc, duplicates = _yaml.load(text)
    except yaml.YAMLError as error:
        raise InvalidTemplate(f"cannot read {shown}: {error}") from None
    if duplicates:
        raise InvalidTemplate(f"{shown}: " + "; ".join(str(problem) for problem in duplicates))
    if not isinstance(doc, dict):
        raise InvalidTemplate(f"{shown}: must be a mapping")
    runtime_config = doc.get("runtime_config") or {}
    if not isinstance(runtime_config, dict):
        raise InvalidTemplate(f"{shown}: runtime_config must be a mapping")
    default = runtime_config.get("model", doc.get("model"))  # legacy: a top-level model
    entries = runtime_config.get("models") or ()
    if limits is not None and isinstance(entries, list) and len(entries) > limits.max_models:
        raise InvalidTemplate(
            f"{shown} offers {len(entries)} models, over the limit of {limits.max_models} per template: "
            "offer fewer, or raise the limit (serve --template-max-models, ROUTEGATE_TEMPLATE_MAX_MODELS)"
        )
    offered = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise InvalidTemplate(f"{shown}: runtime_config.models[{index}] needs a string id")
        env = entry.get("required_env") or ()
        if not isinstance(env, list | tuple) or not all(isinstance(e, str) for e in env):
            raise InvalidTemplate(f"{shown}: runtime_config.models[{index}].required_env must be a list of names")
        provider = entry.get("provider")
        offered.append(OfferedModel(entry["id"], provider if isinstance(provider, str) else None, tuple(env)))
    runtime = doc.get("runtime")
    return Template(
        name=name,
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


def normalise_template_name(name: str) -> str:
    """The spelling a template name is stored under: ``./hermes`` and ``hermes/`` are ``hermes``.

    Syntax only, so an unsafe name keeps its spelling (``../x`` stays ``../x``)
    for :meth:`TemplateRoot.resolve` to refuse and the refusal to quote.
    """
    return str(PurePosixPath(name)) if name else name


class TemplateRoot:
    """The folder holding a service's templates; names resolve strictly inside it.

    Each template read is kept by its file's identity (device, inode, size, mtime in ns),
    refusals included, so reading an unchanged file again costs an open and a stat; a file
    that was rewritten, replaced or touched is read afresh.
    """

    __slots__ = ("_lock", "_readings", "limits", "path")

    def __init__(self, path: str | PathLike[str] | None = None, *, limits: TemplateLimits | None = None) -> None:
        self.path = Path(path if path is not None else bundled_templates_path()).resolve()
        self.limits = limits or TemplateLimits()
        self._readings: OrderedDict[tuple[str, int, int, int, int], Template | str] = OrderedDict()
        self._lock = threading.Lock()

    def resolve(self, name: str) -> Path:
        """The folder of template ``name``. Raises UnsafeTemplateName or TemplateNotFound."""
        return self._config(name).parent

    def get(self, name: str) -> Template:
        """Template ``name``, read through :meth:`resolve`'s rule; messages name ``name/config.yaml``.
        Raises UnsafeTemplateName, InvalidTemplate (also for a file past :attr:`limits`) or TemplateNotFound."""
        config = self._config(name)
        called = normalise_template_name(name)
        shown = f"{called}/{CONFIG_NAME}"
        descriptor = _open_regular(config, shown)
        try:
            info = os.fstat(descriptor)
            identity = (called, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
            with self._lock:
                reading = self._readings.get(identity)
                if reading is not None:
                    self._readings.move_to_end(identity)
            if reading is None:
                try:
                    reading = _parse(_read_text(descriptor, shown, self.limits), config, shown, called, self.limits)
                except InvalidTemplate as error:
                    reading = str(error)  # the message, not the exception: raising one twice grows its traceback
                self._remember(identity, reading)
        finally:
            os.close(descriptor)
        if isinstance(reading, str):
            raise InvalidTemplate(reading)
        return reading

    def _remember(self, identity: tuple[str, int, int, int, int], reading: Template | str) -> None:
        with self._lock:
            self._readings[identity] = reading
            while len(self._readings) > _CACHED_TEMPLATES:
                self._readings.popitem(last=False)

    def names(self) -> list[str]:
        """The folders directly under the root that hold a ``config.yaml`` (symlinks included:
        :meth:`get` refuses those that lead out). Raises TemplateNotFound when the root cannot be listed."""
        try:
            children = sorted(self.path.iterdir())
        except OSError as error:
            raise TemplateNotFound(
                f"the templates root cannot be listed ({error.strerror or type(error).__name__})"
            ) from None
        # exists(), not is_file(): a FIFO or device named config.yaml is listed, and get() says what it is
        return [child.name for child in children if (child / CONFIG_NAME).exists()]

    def all(self) -> list[Template]:
        """Every template under the root; raises on the first that cannot be read."""
        return [self.get(name) for name in self.names()]

    def _config(self, name: str) -> Path:
        """The real path of template ``name``'s config.yaml, which must lie inside the root."""
        pure = PurePosixPath(name)
        one_folder = len(pure.parts) == 1 and pure.name != ".." and not pure.is_absolute()
        if not one_folder or "\\" in name or "\x00" in name:
            raise UnsafeTemplateName(
                f"template name {name!r} is not allowed: a template is one folder directly under the templates "
                "root, named without '/', '..', backslashes or NUL ('./hermes' and 'hermes/' mean 'hermes')"
            )
        try:
            folder = (self.path / pure).resolve()
            config = (folder / CONFIG_NAME).resolve()
        except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
            raise InvalidTemplate(f"template {name!r} cannot be resolved: a symlink loop") from None
        if not folder.is_relative_to(self.path) or not config.is_relative_to(self.path):
            raise UnsafeTemplateName(f"template {name!r} resolves outside the templates root")
        if not config.exists():
            raise TemplateNotFound(f"no template {name!r} under the templates root")
        return config


TEMPLATES_LABEL = "<templates>"


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """A template (or the whole root, named ``<templates>``) that could not be read, and why."""

    name: str
    message: str


def scan_templates(root: TemplateRoot) -> tuple[list[Template], list[TemplateProblem]]:
    """Every readable template under ``root``, and a problem for each one that is not.

    What is on disk can change under a running service (a template edited badly, the folder
    removed), so a scan never raises. Each template is read through :meth:`TemplateRoot.get`,
    the rule a create resolves names by: a symlink out of the root is a problem here as it is a
    refusal there. A repeated scan costs an open and a stat per template (the root's cache).
    """
    try:
        names = root.names()
    except TemplateNotFound as error:
        return [], [TemplateProblem(TEMPLATES_LABEL, str(error))]
    templates, problems = [], []
    for name in names:
        try:
            templates.append(root.get(name))
        except (InvalidTemplate, TemplateNotFound) as error:  # unsafe, malformed, or removed meanwhile
            problems.append(TemplateProblem(name, str(error)))
    return templates, problems
