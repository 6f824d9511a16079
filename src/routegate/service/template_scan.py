"""One scan of the templates folder, shared by ``GET /templates`` and the console's pages.

What is on disk can change under a running service (a template edited badly,
the folder removed), so the scan never raises: each template that cannot be
read becomes a problem, and the rest are still shown. Messages name the root
``<templates>``: the server's own paths are not for open pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from routegate.errors import InvalidTemplate, TemplateNotFound
from routegate.templates import Template, TemplateRoot, find_templates, load_template

__all__ = ["TEMPLATES_LABEL", "TemplateProblem", "scan_templates"]

TEMPLATES_LABEL = "<templates>"


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """A template (or the whole root, named ``<templates>``) that could not be read, and why."""

    name: str
    message: str


def scan_templates(root: TemplateRoot) -> tuple[list[Template], list[TemplateProblem]]:
    """Every readable template under ``root``, and a problem for each one that is not."""

    def masked(error: Exception) -> str:
        return str(error).replace(str(root.path), TEMPLATES_LABEL)

    try:
        configs = find_templates(root.path)
    except (TemplateNotFound, OSError) as error:
        return [], [TemplateProblem(TEMPLATES_LABEL, masked(error))]
    templates, problems = [], []
    for config in configs:
        try:
            templates.append(load_template(config))
        except (InvalidTemplate, TemplateNotFound, OSError) as error:  # edited or removed meanwhile
            problems.append(TemplateProblem(config.parent.name, masked(error)))
    return templates, problems
