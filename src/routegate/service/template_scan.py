"""One scan of the templates folder, shared by ``GET /templates`` and the console's pages.

What is on disk can change under a running service (a template edited badly,
the folder removed), so the scan never raises: each template that cannot be
read becomes a problem, and the rest are still shown. Each template is read
through :meth:`TemplateRoot.get`, the rule a create resolves names by, so a
symlink out of the root is a problem here as it is a refusal there, and every
message names the template's file relative to the root.

The scan is kept small rather than cancelled when the client leaves: a template past
the root's size limit is refused from a stat, unread, one past the model limit before
its models are built or decided, and an unchanged file is not read again (see
:class:`TemplateRoot`), so a repeated request costs an open and a stat per template.
"""

from __future__ import annotations

from dataclasses import dataclass

from routegate.errors import InvalidTemplate, TemplateNotFound
from routegate.templates import Template, TemplateRoot

__all__ = ["TEMPLATES_LABEL", "TemplateProblem", "scan_templates"]

TEMPLATES_LABEL = "<templates>"


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """A template (or the whole root, named ``<templates>``) that could not be read, and why."""

    name: str
    message: str


def scan_templates(root: TemplateRoot) -> tuple[list[Template], list[TemplateProblem]]:
    """Every readable template under ``root``, and a problem for each one that is not."""
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
