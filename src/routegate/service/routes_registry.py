"""Routes for /registry, /templates and /healthz: open to read, reload needs the token."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.exc import SQLAlchemyError

from routegate.drift import TemplateDrift, drift
from routegate.registry import Registry
from routegate.templates import Template

from .auth import require_access
from .call_service import call_service
from .http_errors import ServiceCode, ServiceError, refusals
from .publication_schemas import PublishOut
from .schemas import (
    CheckModel,
    DecisionOut,
    HealthOut,
    RegistryOut,
    RuntimeOut,
    TemplatesOut,
    require_json,
)
from .state import service_state

__all__ = ["router"]

log = logging.getLogger("routegate.service")

router = APIRouter()


@router.get(
    "/registry", tags=["registry"], operation_id="getRegistry", response_model=RegistryOut, responses=refusals()
)
def registry_summary(request: Request) -> dict[str, Any]:
    service = service_state(request)
    served = service.served
    registry = served.registry
    return {
        "fingerprint": registry.fingerprint,
        "manifest_version": served.version,
        "schema_version": registry.schema_version,
        "runtimes": list(registry.runtimes),
        "foreign_runtimes": list(service.settings.foreign_runtimes),
        "default_runtime": service.settings.default_runtime,
    }


@router.get(
    "/registry/runtimes/{runtime}",
    tags=["registry"],
    operation_id="getRuntime",
    response_model=RuntimeOut,
    responses=refusals(ServiceCode.UNKNOWN_RUNTIME),
)
def runtime_detail(runtime: str, request: Request) -> dict[str, Any]:
    """The runtime's menu with provider, billing and required env, and its native providers."""
    registry = service_state(request).registry
    if runtime not in registry.runtimes:
        raise ServiceError(
            ServiceCode.UNKNOWN_RUNTIME,
            f"runtime {runtime[:64]!r} is not in the registry",
            runtimes=list(registry.runtimes),
        )
    return {
        "runtime": runtime,
        "fingerprint": registry.fingerprint,
        "menu": [
            {
                "id": entry.id,
                "provider": entry.provider.name,
                "billing_mode": entry.billing_mode.value,
                "required_env": list(entry.provider.auth_env),
            }
            for entry in registry.menu_entries(runtime)
        ],
        "providers": [
            {
                "name": arm.provider.name,
                "display_name": arm.provider.display_name,
                "protocol": arm.provider.protocol,
                "routing_only": arm.routing_only,
                "model_prefix_match": arm.provider.model_prefix_match,
                "platform_keyed": arm.provider.platform_keyed,
                "auth_env": list(arm.provider.auth_env),
            }
            for arm in registry.arms(runtime)
        ],
    }


@router.post(
    "/registry/check",
    dependencies=[Depends(require_json)],
    tags=["registry"],
    operation_id="checkModel",
    response_model=DecisionOut,
    responses=refusals(ServiceCode.INVALID_FIELDS, ServiceCode.CROSS_SITE_REQUEST, ServiceCode.UNSUPPORTED_MEDIA_TYPE),
)
def check(body: CheckModel, request: Request) -> dict[str, Any]:
    """The create gate's model decision, in the JSON of ``routegate check --json``."""
    return service_state(request).registry.check(body.runtime, body.model, body.auth_env).to_dict()


@router.post(
    "/registry/reload",
    dependencies=[Depends(require_access), Depends(require_json)],
    tags=["registry"],
    operation_id="reloadManifest",
    response_model=PublishOut,
    responses=refusals(
        ServiceCode.UNAUTHORIZED,
        ServiceCode.CSRF_TOKEN_INVALID,
        ServiceCode.CROSS_SITE_REQUEST,
        ServiceCode.UNSUPPORTED_MEDIA_TYPE,
        ServiceCode.MANIFEST_WOULD_STRAND,
        ServiceCode.INVALID_MANIFEST,
        ServiceCode.DATABASE_UNAVAILABLE,
    ),
)
def reload(request: Request) -> dict[str, Any]:
    """Read the configured manifest file again and publish it through the gate (POST /registry/versions).

    The active version's own bytes change nothing; an invalid file answers 422 INVALID_MANIFEST
    and one that would strand a workspace 409 MANIFEST_WOULD_STRAND, and the active version stays.
    Every instance and worker on the database follows within a second.
    """
    return service_state(request).reload().to_dict()


@router.get(
    "/templates", tags=["registry"], operation_id="listTemplates", response_model=TemplatesOut, responses=refusals()
)
def templates(request: Request) -> dict[str, Any]:
    """Each template's drift: its runtime, default model and offered models, each routable or
    residual with the refusal's code, and with the decision check() makes for it (who serves
    it, who pays) where the runtime is the registry's. Templates that cannot be read are ``problems``.
    """
    service = service_state(request)
    registry = service.registry
    found, problems = service.scan_templates()
    items = [_described(registry, template) for template in found]
    return {
        "fingerprint": registry.fingerprint,
        "templates": items,
        "problems": [{"name": p.name, "error": p.message} for p in problems],
    }


# (registry fingerprint, template) -> its description: a template unchanged on disk is the same
# object (TemplateRoot keeps its readings), so a repeated GET /templates decides nothing again.
_DESCRIPTIONS: OrderedDict[tuple[str, Template], dict[str, Any]] = OrderedDict()
_DESCRIPTIONS_KEPT = 1024
_descriptions_lock = threading.Lock()


def _described(registry: Registry, template: Template) -> dict[str, Any]:
    """One template as GET /templates shows it: its drift and decisions under ``registry``."""
    key = (registry.fingerprint, template)
    with _descriptions_lock:
        known = _DESCRIPTIONS.get(key)
    if known is not None:
        return known
    report = drift(registry, template)
    residual = {r.id: r for r in report.residual}
    default_decision = _decision(report, template.default_model)
    description = {
        "name": template.name,
        "runtime": template.runtime,
        "runtime_known": report.runtime_known,
        "default_model": template.default_model,
        "default_routable": report.default_routable,
        "default_decision": default_decision,
        "offered": report.offered,
        "routable": report.routable,
        "residual": [{"id": r.id, "code": r.code, "reason": r.reason} for r in report.residual],
        "models": [
            {
                "id": offer.id,
                "provider": offer.provider,
                "required_env": list(offer.required_env),
                "routable": offer.id not in residual,
                "code": residual[offer.id].code if offer.id in residual else None,
                "decision": _decision(report, offer.id),
            }
            for offer in template.offered
        ],
    }
    with _descriptions_lock:
        _DESCRIPTIONS[key] = description
        while len(_DESCRIPTIONS) > _DESCRIPTIONS_KEPT:
            _DESCRIPTIONS.popitem(last=False)
    return description


def _decision(report: TemplateDrift, model: str | None) -> dict[str, Any] | None:
    """The decision drift made for ``model``; None where the runtime is not the registry's."""
    decision = None if model is None else report.decisions.get(model)
    return None if decision is None else decision.to_dict()


@router.get(
    "/healthz",
    tags=["health"],
    operation_id="getHealth",
    response_model=HealthOut,
    responses=refusals(ServiceCode.DATABASE_UNAVAILABLE),
)
def healthz(request: Request) -> dict[str, Any]:
    """200 when the database answers; 503 DATABASE_UNAVAILABLE when it does not (the detail goes to the log).

    ``call_tokens`` says whether the call gate has read the live tokens yet: a starting process
    serves everything else at once, so a readiness check for calls looks at it."""
    service = service_state(request)
    served = service.served
    fingerprint = served.registry.fingerprint
    try:
        service.database.ping()
    except SQLAlchemyError as error:
        log.warning("health check: database unreachable: %s", str(getattr(error, "orig", None) or error).strip())
        raise ServiceError(
            ServiceCode.DATABASE_UNAVAILABLE,
            "database unreachable",
            headers={"Retry-After": "1"},
            status="unavailable",
            manifest_fingerprint=fingerprint,
            database="unreachable",
            reason="database unreachable",
        ) from None
    return {
        "status": "ok",
        "manifest_fingerprint": fingerprint,
        "manifest_version": served.version,
        "database": "ok",
        "call_tokens": "ok" if call_service(request).tokens_loaded else "loading",
    }
