"""Creating a workspace, changing its model, deleting it: everything a write does, in one place.

A create or model change replays an idempotent retry's first answer; otherwise
it asks the gates (:mod:`routegate.gate`) under one manifest version, counts the
decision, logs a refusal (the gates' and the store's alike) in the decision log
so that "why was this refused" has an answer later, and writes through the
store. When a publish switched the active version meanwhile, the store refuses
the write (:class:`.store.DecisionOutdated`) and the request is decided again
under the new one. The routes (:mod:`.routes_workspaces`) only translate HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request

from routegate import gate

from . import metrics
from .db import Action
from .decision_log import Entry
from .http_errors import ServiceError
from .idempotency import Answer, KeyedRequest
from .middleware import GATE_SECONDS
from .schemas import ChangeModel, CreateWorkspace
from .state import Served, ServiceState
from .store import DecisionOutdated

__all__ = ["change_model", "create", "delete"]


def create(service: ServiceState, request: Request, body: CreateWorkspace, keyed: KeyedRequest | None) -> Answer:
    """Create the workspace ``body`` asks for, or answer a retry of ``keyed`` as the first time.

    ``request`` is where the decision is counted (metrics) and timed (Server-Timing).
    Raises GateRefusal or the store's ServiceError, each logged first.
    """
    replayed = service.keys.replay(keyed)
    if replayed is not None:
        return replayed

    def under(served: Served) -> Answer:
        with _gated(service, request, served, Action.CREATE, template=body.template):
            admission = gate.admit_create(
                served.registry,
                body.gate_request(),
                template_lookup=service.template_defaults,
                default_runtime=service.settings.default_runtime,
            )
        metrics.record_decision(request, admission.runtime, metrics.ADMITTED)

        def insert() -> dict[str, Any]:
            try:
                return service.store.create(
                    name=body.name,
                    parent_id=body.parent_id,
                    role=body.role,
                    url=body.url,
                    external=body.external,
                    auth_env=body.auth_env,
                    admission=admission,
                    fingerprint=served.registry.fingerprint,
                    keyed=keyed,
                    manifest_version=served.version,
                )
            except ServiceError as error:
                _log_refusal(service, served, Entry.refused_by_store(Action.CREATE, error, admission))
                raise

        return service.keys.write_once(keyed, insert)

    return _decided_again(service, under)


def change_model(
    service: ServiceState, request: Request, workspace_id: str, body: ChangeModel, keyed: KeyedRequest | None
) -> Answer:
    """The model gates again for the workspace's settled runtime, then the change; a retry of ``keyed``
    gets the first answer. Raises GateRefusal (logged first) or WORKSPACE_NOT_FOUND."""
    replayed = service.keys.replay(keyed)
    if replayed is not None:
        return replayed
    workspace = service.store.get(workspace_id)
    auth_env = body.auth_env if body.auth_env is not None else workspace.auth_env

    def under(served: Served) -> Answer:
        with _gated(
            service, request, served, Action.MODEL_CHANGE, template=workspace.template, workspace_id=workspace.id
        ):
            decision = gate.admit_model_change(
                served.registry,
                workspace.runtime,
                body.model,
                external=workspace.external,
                auth_env=frozenset(auth_env),
            )
        metrics.record_decision(request, workspace.runtime, metrics.ADMITTED)
        return service.keys.write_once(
            keyed,
            lambda: service.store.change_model(
                workspace.id,
                model=None if decision is None else decision.model,
                auth_env=auth_env,
                decision=decision,
                fingerprint=served.registry.fingerprint,
                keyed=keyed,
                manifest_version=served.version,
            ),
        )

    return _decided_again(service, under)


def delete(service: ServiceState, workspace_id: str) -> None:
    """Delete a workspace without children. Raises WORKSPACE_NOT_FOUND or WORKSPACE_HAS_CHILDREN."""
    service.store.delete(workspace_id)


def _decided_again(service: ServiceState, write: Callable[[Served], Answer]) -> Answer:
    """Decide and write under the version served now; when a publish switched versions before the
    write committed, decide again under the active one (the store wrote nothing)."""
    served = service.served  # one manifest version for the whole decision
    while True:
        try:
            return write(served)
        except DecisionOutdated:
            served = service.sync()


@contextmanager
def _gated(
    service: ServiceState,
    request: Request,
    served: Served,
    action: Action,
    *,
    template: str | None,
    workspace_id: str | None = None,
) -> Iterator[None]:
    """Time the gates for Server-Timing; log and count a refusal, then re-raise it."""
    started = time.perf_counter()
    try:
        yield
    except gate.GateRefusal as refusal:
        setattr(request.state, GATE_SECONDS, time.perf_counter() - started)
        _log_refusal(
            service, served, Entry.refused_by_gate(action, refusal, template=template, workspace_id=workspace_id)
        )
        metrics.record_decision(request, refusal.runtime, refusal.code)
        raise
    setattr(request.state, GATE_SECONDS, time.perf_counter() - started)


def _log_refusal(service: ServiceState, served: Served, entry: Entry) -> None:
    """Every refusal of a create or model change reaches the decision log here, under the version it was decided by."""
    service.decisions.refused(entry, served.registry.fingerprint, served.version)
