"""The console's manifest versions: the history, one version's note, text diff and impact, and the
forms that dry-run, publish and roll back through the same gate as ``POST /registry/versions``.

Pages anyone may see; the forms need what the API needs: a signed-in session (and the
page's CSRF token) when the service has a token.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Annotated, Any, Protocol, cast
from urllib.parse import parse_qs, quote

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from routegate.errors import InvalidManifest
from routegate.publishing import Impact, ManifestWouldStrand, UnknownManifestVersion
from routegate.service.console import session
from routegate.service.console.dependencies import ConsoleState, OpenViewer, SessionViewer, Viewer
from routegate.service.console.rendering import render

__all__ = ["router"]

HISTORY_LIMIT = 200
_DIFF_LINES = 400  # a longer text diff is cut, with a note


class _VersionInfo(Protocol):
    @property
    def version(self) -> int: ...


class _VersionStore(Protocol):
    def page(self, limit: int, before: int | None) -> tuple[list[Any], str | None]: ...
    def load(self, version: int) -> tuple[Any, bytes]: ...


class _PublishResult(Protocol):
    @property
    def version(self) -> int | None: ...
    @property
    def impact(self) -> Impact | None: ...


class _Replay(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class _Replays(Protocol):
    def now(self) -> Sequence[_Replay]: ...


class VersionsState(ConsoleState, Protocol):
    """What the version pages read and do, beyond every console page's state (see ``routegate.service.state``)."""

    @property
    def versions(self) -> _VersionStore: ...
    @property
    def replays(self) -> _Replays: ...
    @property
    def manifest_version(self) -> int: ...
    def publish(self, manifest: str, *, note: str | None, dry_run: bool, force: bool) -> _PublishResult: ...
    def activate(self, version: int, *, force: bool, dry_run: bool = False) -> _PublishResult: ...


def _versions_state(request: Request) -> VersionsState:
    return cast(VersionsState, request.app.state.routegate)


State = Annotated[VersionsState, Depends(_versions_state)]

router = APIRouter(include_in_schema=False)


def _can_write(viewer: Viewer) -> bool:
    return not viewer.token_required or viewer.signed_in


def _history_page(state: VersionsState, viewer: Viewer, status: int = 200, **result: Any) -> Response:
    items, _ = state.versions.page(HISTORY_LIMIT, None)
    context: dict[str, Any] = {"manifest_text": "", "note": "", "impact": None, "problems": (), "message": ""}
    return render(
        state.registry,
        "versions",
        viewer,
        status=status,
        title="Manifest versions",
        versions=items,
        active_version=state.manifest_version,
        can_write=_can_write(viewer),
        in_flight=_in_flight(state),
        **(context | result),
    )


def _version_page(state: VersionsState, viewer: Viewer, version: int, status: int = 200, **result: Any) -> Response:
    try:
        info, raw = state.versions.load(version)
    except UnknownManifestVersion as error:
        return Response(str(error), status_code=404, media_type="text/plain")
    previous = _previous(state, version)
    impact = result.pop("impact", None)
    if impact is None:  # what activating it now would do to the stored workspaces
        try:
            impact = state.activate(version, force=False, dry_run=True).impact
        except InvalidManifest as invalid:
            result.setdefault("problems", invalid.problems)
    context: dict[str, Any] = {"problems": (), "message": ""}
    return render(
        state.registry,
        "version",
        viewer,
        status=status,
        title=f"Manifest version {version}",
        version=info,
        manifest_text=raw.decode("utf-8", "replace"),
        previous=None if previous is None else previous[0],
        diff_lines=_text_diff(previous, raw),
        impact=impact,
        can_write=_can_write(viewer),
        in_flight=_in_flight(state),
        **(context | result),
    )


def _in_flight(state: VersionsState) -> list[dict[str, Any]]:
    """The replays in flight on the database, as ``GET /registry/versions/progress`` lists them (the page's script
    shows them and follows them there)."""
    return [replay.to_dict() for replay in state.replays.now()]


def _dry_run_message(outcome: _PublishResult) -> str:
    blocked = outcome.impact is not None and outcome.impact.blocking
    return "Dry run: nothing was changed." + (" It would be refused." if blocked else "")


@router.get("/ui/registry/versions")
def versions_list(state: State, viewer: OpenViewer) -> Response:
    return _history_page(state, viewer)


@router.get("/ui/registry/versions/{version}")
def version_detail(version: str, state: State, viewer: OpenViewer) -> Response:
    number = _version_number(version)
    if number is None:
        return Response("no such manifest version", status_code=404, media_type="text/plain")
    return _version_page(state, viewer, number)


@router.post("/ui/registry/versions")
async def publish_form(request: Request, state: State, viewer: OpenViewer, session_viewer: SessionViewer) -> Response:
    form, refusal = await _authorised_form(request, session_viewer)
    if refusal is not None:
        return refusal
    return await anyio.to_thread.run_sync(_publish, state, viewer, form)


def _publish(state: VersionsState, viewer: Viewer, form: dict[str, str]) -> Response:
    """The publish form's answer, on a worker thread: its replay takes seconds on a large fleet, and
    the event loop goes on answering meanwhile (the page's progress polls among them)."""
    manifest, note = form.get("manifest", ""), form.get("note", "").strip() or None
    dry_run, force = form.get("action") != "publish", form.get("force") == "on"
    kept: dict[str, Any] = {"manifest_text": manifest, "note": note or ""}
    try:
        outcome = state.publish(manifest, note=note, dry_run=dry_run, force=force)
    except InvalidManifest as invalid:
        return _history_page(state, viewer, 422, problems=invalid.problems, **kept)
    except ManifestWouldStrand as refused:
        return _history_page(state, viewer, 409, impact=refused.impact, message=str(refused), **kept)
    if dry_run:
        return _history_page(state, viewer, impact=outcome.impact, message=_dry_run_message(outcome), **kept)
    return RedirectResponse(f"/ui/registry/versions/{outcome.version}", status_code=303)


@router.post("/ui/registry/versions/{version}/activate")
async def activate_form(
    request: Request, version: str, state: State, viewer: OpenViewer, session_viewer: SessionViewer
) -> Response:
    number = _version_number(version)
    if number is None:
        return Response("no such manifest version", status_code=404, media_type="text/plain")
    form, refusal = await _authorised_form(request, session_viewer)
    if refusal is not None:
        return refusal
    return await anyio.to_thread.run_sync(_activate, state, viewer, number, form)


def _activate(state: VersionsState, viewer: Viewer, number: int, form: dict[str, str]) -> Response:
    """The activate form's answer, on a worker thread as a publish's is."""
    dry_run, force = form.get("action") != "activate", form.get("force") == "on"
    try:
        outcome = state.activate(number, force=force, dry_run=dry_run)
    except UnknownManifestVersion as error:
        return Response(str(error), status_code=404, media_type="text/plain")
    except InvalidManifest as invalid:
        return _version_page(state, viewer, number, 422, problems=invalid.problems)
    except ManifestWouldStrand as refused:
        return _version_page(state, viewer, number, 409, impact=refused.impact, message=str(refused))
    if dry_run:
        return _version_page(state, viewer, number, impact=outcome.impact, message=_dry_run_message(outcome))
    return RedirectResponse(f"/ui/registry/versions/{number}", status_code=303)


def _version_number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 9 and int(text) > 0 else None


def _previous(service: VersionsState, version: int) -> tuple[Any, bytes] | None:
    """The version stored just before this one and its bytes, or None for the first."""
    items, _ = service.versions.page(1, version)
    return service.versions.load(items[0].version) if items else None


def _text_diff(previous: tuple[Any, bytes] | None, raw: bytes) -> list[str]:
    """The manifest's text changes against the previous version, cut at _DIFF_LINES lines.

    (What changes for decisions is the impact's ``diff``, once ``routegate.proof.diff`` fills it.)
    """
    if previous is None:
        return []
    info, before = previous
    lines = list(
        difflib.unified_diff(
            before.decode("utf-8", "replace").splitlines(),
            raw.decode("utf-8", "replace").splitlines(),
            fromfile=f"version {info.version}",
            tofile="this version",
            lineterm="",
        )
    )
    return lines if len(lines) <= _DIFF_LINES else [*lines[:_DIFF_LINES], f"... {len(lines) - _DIFF_LINES} more lines"]


async def _authorised_form(request: Request, viewer: Viewer | None) -> tuple[dict[str, str], Response | None]:
    """The form, or the response refusing it: no session, or a wrong CSRF token.

    (Another site's request never gets here: the service refuses cross-site unsafe requests.)
    """
    if viewer is None:
        target = quote(request.url.path.removesuffix("/activate"), safe="")  # back to the page, not the form
        return {}, RedirectResponse(f"/ui/login?next={target}", status_code=303)
    body = await request.body()  # the service's body limit already bounds it
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        return {}, Response("refused: the form is not UTF-8 form data", status_code=400, media_type="text/plain")
    form = {key: values[0] for key, values in fields.items()}
    if viewer.token_required and not session.constant_time_equal(viewer.csrf, form.get("csrf_token", "")):
        return {}, Response(
            "refused: the form's CSRF token is missing or wrong; reload the page",
            status_code=403,
            media_type="text/plain",
        )
    return form, None
