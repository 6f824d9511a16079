"""Refusal codes: the one table every place that shows a code reads from.

A code is an enum member that carries its own facts, as :class:`http.HTTPStatus`
carries its phrase: the HTTP status the service answers with, what the code
means (the docs' table of codes), whether :func:`routegate.decision.check`
answers with it (so the generated TypeScript and Go decide with it too) and the
console's wording for ids refused with it. A new code is one new member: the
service's status map, the console and the generators read it from here, and
the table in docs/codes.md is held to it (``tests/core/test_refusal_codes.py``
fails for any place that differs).

The statuses are plain ints: they are part of each code's contract, and an int
keeps this module free of any web framework (the core never imports the service).
The service's own codes are :class:`~routegate.service.http_errors.ServiceCode`,
rows of the same kind kept with the service.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Self

__all__ = ["Code", "IntegrationCode", "RefusalCode", "Row"]


@dataclass(frozen=True, slots=True)
class Row:
    """One code's facts, as a member of a :class:`RefusalCode` enum is declared."""

    code: str
    status: int
    """The HTTP status the service answers with."""
    meaning: str
    """When the code is given, as the docs' table of codes says it."""
    model_decision: bool = False
    """The model decision (``check()``) answers with it, not only a create gate: the generated
    TypeScript and Go, which decide as ``check()`` does, carry it."""
    console_group: str | None = None
    """What the console says once for a template's residual ids refused with it (``{runtime}`` is
    filled in); None when each refusal's own reason already reads the same for the whole group."""


class RefusalCode(enum.StrEnum):
    """Base of the code enums: each member is its code's string and carries its :class:`Row`."""

    _value_: str
    row: Row

    def __new__(cls, row: Row) -> Self:
        member = str.__new__(cls, row.code)
        member._value_ = row.code
        member.row = row
        return member


class Code(RefusalCode):
    """The create gates' codes, stable across the CLI, HTTP and the decision log."""

    UNREGISTERED_MODEL_FOR_RUNTIME = Row(
        "UNREGISTERED_MODEL_FOR_RUNTIME",
        422,
        "the runtime cannot run the model: it is not on the runtime's menu and no native provider's pattern "
        "serves it, or only the platform would, for an id not on the menu",
        model_decision=True,
        console_group="not on the {runtime} menu, and no native BYOK provider's pattern accepts them",
    )
    AMBIGUOUS_MODEL_FOR_RUNTIME = Row(
        "AMBIGUOUS_MODEL_FOR_RUNTIME",
        422,
        "several native providers serve the model and the workspace's auth env names do not settle which",
        model_decision=True,
        console_group=(
            "several native providers' patterns accept them; "
            "a workspace would have to name its auth env to settle which"
        ),
    )
    MODEL_DEPRECATED = Row(
        "MODEL_DEPRECATED",
        422,
        "the model is deprecated on the decision's date: new workspaces are refused (existing ones and their "
        "calls still work); the refusal names the successor",
        model_decision=True,
        console_group="deprecated on {runtime}: move new workspaces to each one's successor",
    )
    MODEL_RETIRED = Row(
        "MODEL_RETIRED",
        422,
        "the model is retired on the decision's date: creates and calls are refused; the refusal names the successor",
        model_decision=True,
        console_group="retired on {runtime}: move their workspaces to each one's successor",
    )
    INVALID_TEMPLATE = Row(
        "INVALID_TEMPLATE",
        400,
        "the template name leads outside the templates root, or names a template that cannot be used",
    )
    RUNTIME_UNRESOLVED = Row(
        "RUNTIME_UNRESOLVED",
        422,
        "a runtime was asked for, directly or through a template, but none could be resolved",
    )
    RUNTIME_UNSUPPORTED = Row(
        "RUNTIME_UNSUPPORTED",
        422,
        "the runtime is neither in the registry nor foreign, or does not fit the workspace's kind (external or not)",
        model_decision=True,
    )
    MODEL_REQUIRED = Row(
        "MODEL_REQUIRED",
        422,
        "a workspace that is not external names no model, and no template supplies one",
    )
    DERIVED_PROVIDER_NOT_IN_REGISTRY = Row(
        "DERIVED_PROVIDER_NOT_IN_REGISTRY",
        422,
        "the provider the model decision names is not in the catalog in use",
    )
    # The call gate's own (routegate.calls), beyond check()'s codes: POST /calls/authorize refuses with 403.
    CALL_OUTSIDE_WORKSPACE_MODEL = Row(
        "CALL_OUTSIDE_WORKSPACE_MODEL",
        403,
        "a call token scoped to its workspace's model was used to call another id",
    )
    NO_PLATFORM_UPSTREAM = Row(
        "NO_PLATFORM_UPSTREAM",
        403,
        "the platform would pay for the call but upstream() names no vendor to forward it to",
    )
    # The platform's LLM proxy (routegate.integrations.litellm) forwards only what the platform pays for.
    CALL_PAID_BY_TENANT = Row(
        "CALL_PAID_BY_TENANT",
        403,
        "the call is the tenant's to pay (BYOK), and the platform's LLM proxy forwards only platform-paid calls",
    )


class IntegrationCode(RefusalCode):
    """Codes a gateway integration gives (:mod:`routegate.integrations.litellm`) about the gateway's own
    path, beyond routegate's decisions, which it passes on with their own codes."""

    CALL_NOT_AUTHORIZED = Row(
        "CALL_NOT_AUTHORIZED",
        403,
        "the gateway was about to forward a call for which routegate holds no decision (the gateway's "
        "operator key, or an attempt whose call token is not at hand): it fails closed",
    )
    CALL_MODEL_CHANGED = Row(
        "CALL_MODEL_CHANGED",
        403,
        "something in the gateway changed the request's id between routegate's decision and routing",
    )
    ROUTEGATE_UNCONFIGURED = Row(
        "ROUTEGATE_UNCONFIGURED",
        503,
        "the gateway names neither routegate's service (`ROUTEGATE_URL`) nor its database "
        "(`ROUTEGATE_DATABASE_URL`): it admits no call",
    )
    ROUTEGATE_UNREACHABLE = Row(
        "ROUTEGATE_UNREACHABLE",
        503,
        "the gateway could not ask routegate's service: it fails closed, retry",
    )
