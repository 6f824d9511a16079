"""Routes for /registry/versions: the manifest's history and the replays in flight, open to read; publish
and activate need the token.

The rules (validation, the replay of every stored workspace, dry runs, force) are
:mod:`.versions`' and :mod:`routegate.publishing`'s; the statuses are :mod:`.errors`'.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from .auth import require_access
from .http_errors import ServiceCode, refusals
from .publication_schemas import ProgressOut, PublishOut
from .schemas import ActivateVersion, PublishManifest, VersionPage
from .state import service_state

__all__ = ["router"]

router = APIRouter(tags=["registry"])

_WRITE_ERRORS = refusals(
    ServiceCode.INVALID_FIELDS,
    ServiceCode.UNAUTHORIZED,
    ServiceCode.CSRF_TOKEN_INVALID,
    ServiceCode.CROSS_SITE_REQUEST,
    ServiceCode.VERSION_NOT_FOUND,
    ServiceCode.MANIFEST_WOULD_STRAND,
    ServiceCode.INVALID_MANIFEST,
    ServiceCode.DATABASE_UNAVAILABLE,
)
# A publish or activation that stores nothing: a dry run, or the active version's own bytes.
_NOTHING_STORED: dict[int | str, dict[str, Any]] = {
    200: {"model": PublishOut, "description": "a dry run, or nothing to do: nothing was stored"}
}

# The body is optional, but not nullable: a generated client then leaves it out rather than send one.
_NO_OPTIONS = ActivateVersion()

Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Cursor = Annotated[str | None, Query(pattern=r"^[0-9]{1,9}$", description="next_cursor of the previous page")]
Version = Annotated[int, Path(ge=1, le=2_147_483_647, description="a version number from GET /registry/versions")]


@router.get(
    "/registry/versions",
    operation_id="listVersions",
    response_model=VersionPage,
    responses=refusals(ServiceCode.INVALID_FIELDS, ServiceCode.DATABASE_UNAVAILABLE),
)
def list_versions(request: Request, limit: Limit = 50, cursor: Cursor = None) -> dict[str, Any]:
    """Every published manifest version, newest first, the active one marked."""
    items, next_cursor = service_state(request).versions.page(limit, None if cursor is None else int(cursor))
    return {"items": [item.to_dict() for item in items], "next_cursor": next_cursor}


@router.get(
    "/registry/versions/progress",
    operation_id="getPublishProgress",
    response_model=ProgressOut,
    responses=refusals(),
)
def progress(request: Request) -> dict[str, Any]:
    """The publishes, activations and reloads replaying the fleet now, and how far each is.

    Each is listed from its start until it ends, refused or not, whichever worker or instance
    on the database runs it.
    """
    return {"items": [replay.to_dict() for replay in service_state(request).replays.now()]}


@router.post(
    "/registry/versions",
    status_code=201,
    dependencies=[Depends(require_access)],
    operation_id="publishVersion",
    response_model=PublishOut,
    response_description="a new version, stored and active",
    responses=_NOTHING_STORED | _WRITE_ERRORS,
)
def publish(body: PublishManifest, request: Request, response: Response) -> dict[str, Any]:
    """Validate the manifest, replay every stored workspace under it, and make it the active version.

    201 when a version was stored and activated; 200 for a dry run (nothing stored) or for
    the active version's own bytes (nothing to do).
    """
    outcome = service_state(request).publish(body.manifest, note=body.note, dry_run=body.dry_run, force=body.force)
    if not outcome.changed:
        response.status_code = 200
    return outcome.to_dict()


@router.post(
    "/registry/versions/{version}/activate",
    dependencies=[Depends(require_access)],
    operation_id="activateVersion",
    response_model=PublishOut,
    responses=_WRITE_ERRORS,
)
def activate(version: Version, request: Request, body: ActivateVersion = _NO_OPTIONS) -> dict[str, Any]:
    """Make a stored version the active one again (roll back or forward), through the same gate."""
    return service_state(request).activate(version, force=body.force, dry_run=body.dry_run).to_dict()
