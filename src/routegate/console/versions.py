"""The console's manifest versions: the history, one version's note, text diff and impact, and the
forms that dry-run, publish and roll back through the same gate as ``POST /registry/versions``.

Pages anyone may see; the forms need what the API needs: a signed-in session (and the
page's CSRF token) when the service has a token, and a same-site browser request always.
The page renderer and the viewer come from :func:`routegate.console.routes.console_router`,
which mounts these routes, so every console page shares one layout and one sign-in.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from routegate.console import session
from routegate.errors import InvalidManifest
from routegate.publishing import ManifestWouldStrand, UnknownManifestVersion
from routegate.registry import Registry

__all__ = ["Render", "Viewer", "versions_pages"]

HISTORY_LIMIT = 200
_DIFF_LINES = 400  # a longer text diff is cut, with a note


class Viewer(Protocol):
    """Who is looking (see ``routes._Viewer``)."""

    @property
    def token_required(self) -> bool: ...

    @property
    def csrf(self) -> str: ...

    @property
    def signed_in(self) -> bool: ...


class Render(Protocol):
    def __call__(self, registry: Registry, name: str, viewer: Any, status: int = 200, **context: Any) -> Response: ...


def versions_pages(
    render: Render,
    viewer_of: Callable[[Request], Viewer | None],
    open_viewer: Callable[[Request], Viewer],
) -> APIRouter:
    """``/ui/registry/versions`` and ``/ui/registry/versions/{version}``, their forms included."""
    router = APIRouter(include_in_schema=False)

    def state(request: Request) -> Any:
        return request.app.state.routegate

    def can_write(viewer: Viewer) -> bool:
        return not viewer.token_required or viewer.signed_in

    def history_page(request: Request, status: int = 200, **result: Any) -> Response:
        service = state(request)
        items, _ = service.versions.page(HISTORY_LIMIT, None)
        viewer = open_viewer(request)
        context: dict[str, Any] = {"manifest_text": "", "note": "", "impact": None, "problems": (), "message": ""}
        return render(
            service.registry,
            "versions",
            viewer,
            status=status,
            page="registry",
            title="Manifest versions",
            versions=items,
            active_version=service.manifest_version,
            can_write=can_write(viewer),
            **(context | result),
        )

    def version_page(request: Request, version: int, status: int = 200, **result: Any) -> Response:
        service = state(request)
        try:
            info, raw = service.versions.load(version)
        except UnknownManifestVersion as error:
            return Response(str(error), status_code=404, media_type="text/plain")
        previous = _previous(service, version)
        impact = result.pop("impact", None)
        if impact is None:  # what activating it now would do to the stored workspaces
            try:
                impact = service.activate(version, force=False, dry_run=True).impact
            except InvalidManifest as invalid:
                result.setdefault("problems", invalid.problems)
        viewer = open_viewer(request)
        context: dict[str, Any] = {"problems": (), "message": ""}
        return render(
            service.registry,
            "version",
            viewer,
            status=status,
            page="registry",
            title=f"Manifest version {version}",
            version=info,
            manifest_text=raw.decode("utf-8", "replace"),
            previous=None if previous is None else previous[0],
            diff_lines=_text_diff(previous, raw),
            impact=impact,
            can_write=can_write(viewer),
            **(context | result),
        )

    @router.get("/ui/registry/versions")
    def versions_list(request: Request) -> Response:
        return history_page(request)

    @router.get("/ui/registry/versions/{version}")
    def version_detail(request: Request, version: str) -> Response:
        number = _version_number(version)
        if number is None:
            return Response("no such manifest version", status_code=404, media_type="text/plain")
        return version_page(request, number)

    @router.post("/ui/registry/versions")
    async def publish_form(request: Request) -> Response:
        form, refusal = await _authorised_form(request, viewer_of)
        if refusal is not None:
            return refusal
        manifest, note = form.get("manifest", ""), form.get("note", "").strip() or None
        dry_run, force = form.get("action") != "publish", form.get("force") == "on"
        kept: dict[str, Any] = {"manifest_text": manifest, "note": note or ""}
        try:
            outcome = state(request).publish(manifest, note=note, dry_run=dry_run, force=force)
        except InvalidManifest as invalid:
            return history_page(request, 422, problems=invalid.problems, **kept)
        except ManifestWouldStrand as refused:
            return history_page(request, 409, impact=refused.impact, message=str(refused), **kept)
        if dry_run:
            message = "Dry run: nothing was changed." + (
                " It would be refused." if outcome.impact is not None and outcome.impact.blocking else ""
            )
            return history_page(request, impact=outcome.impact, message=message, **kept)
        return RedirectResponse(f"/ui/registry/versions/{outcome.version}", status_code=303)

    @router.post("/ui/registry/versions/{version}/activate")
    async def activate_form(request: Request, version: str) -> Response:
        number = _version_number(version)
        if number is None:
            return Response("no such manifest version", status_code=404, media_type="text/plain")
        form, refusal = await _authorised_form(request, viewer_of)
        if refusal is not None:
            return refusal
        dry_run, force = form.get("action") != "activate", form.get("force") == "on"
        try:
            outcome = state(request).activate(number, force=force, dry_run=dry_run)
        except UnknownManifestVersion as error:
            return Response(str(error), status_code=404, media_type="text/plain")
        except InvalidManifest as invalid:
            return version_page(request, number, 422, problems=invalid.problems)
        except ManifestWouldStrand as refused:
            return version_page(request, number, 409, impact=refused.impact, message=str(refused))
        if dry_run:
            message = "Dry run: nothing was changed." + (
                " It would be refused." if outcome.impact is not None and outcome.impact.blocking else ""
            )
            return version_page(request, number, impact=outcome.impact, message=message)
        return RedirectResponse(f"/ui/registry/versions/{number}", status_code=303)

    return router


def _version_number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 9 and int(text) > 0 else None


def _previous(service: Any, version: int) -> tuple[Any, bytes] | None:
    """The version stored just before this one and its bytes, or None for the first."""
    items, _ = service.versions.page(1, version)
    return service.versions.load(items[0].version) if items else None


def _text_diff(previous: tuple[Any, bytes] | None, raw: bytes) -> list[str]:
    """The manifest's text changes against the previous version, cut at _DIFF_LINES lines.

    (What changes for decisions is the impact's ``diff``, once ``routegate.diff`` fills it.)
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


async def _authorised_form(
    request: Request, viewer_of: Callable[[Request], Viewer | None]
) -> tuple[dict[str, str], Response | None]:
    """The form, or the response refusing it: another site's request, no session, or a wrong CSRF token."""
    if not _same_site(request):
        return {}, Response("refused: this form was sent from another site", status_code=403, media_type="text/plain")
    viewer = viewer_of(request)
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


def _same_site(request: Request) -> bool:
    """A browser's Sec-Fetch-Site and Origin, when sent, must say this site."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    return origin is None or origin.split("://", 1)[-1] == request.headers.get("host", "")
