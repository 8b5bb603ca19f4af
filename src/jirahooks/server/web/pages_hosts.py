"""Workspace settings → GitHub, GitLab, Bitbucket Data Center (workspace administrators only): one
page, parametrised by the host's settings table (``jirahooks.server.host_settings``).

Reads and writes go through the admin API's route functions (``jirahooks.server.hosts_admin``):
only workspace administrators pass, the same checks apply, and the secrets stay write-only — the
page says only whether each is set, and an empty field keeps it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from jirahooks.server import host_settings as hs
from jirahooks.server import hosts_admin as api
from jirahooks.server.auth import Session
from jirahooks.server.errors import ApiError
from jirahooks.server.web.common import (
    Ctx,
    W,
    first,
    form_data,
    page,
    redirect,
    rolled_back,
    workspace_ctx,
)
from jirahooks.server.web.i18n import _
from jirahooks.server.web.session import WebUserDep

router = APIRouter()
_PATH = W + "/hosts/{platform}"


def _errors(exc: ApiError) -> dict[str, str]:
    """Every problem next to its field; the rest above the form."""
    problems = exc.extra.get("problems") or []
    errors = {
        p["path"]: p["message"] + (f" — {p['hint']}" if p.get("hint") else "") for p in problems
    }
    if not errors:
        name, sep, rest = exc.message.partition(":")
        if sep and " " not in name:
            errors[name] = rest.strip() + (f" — {exc.hint}" if exc.hint else "")
        else:
            errors["_form"] = exc.message + (f" — {exc.hint}" if exc.hint else "")
    return errors


def _page(
    request: Request,
    ctx: Ctx,
    spec: hs.HostSpec,
    current: api.HostSettingsOut,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    flash: str = "",
    status: int = 200,
    test: api.HostTestOut | None = None,
) -> HTMLResponse:
    return page(
        request,
        ctx,
        "hosts.html",
        spec=spec,
        current=current,
        values=values if values is not None else current.settings,
        errors=errors or {},
        flash=flash,
        status=status,
        test=test,
    )


async def _current(ctx: Ctx, db: Session, spec: hs.HostSpec) -> api.HostSettingsOut:
    return await api.get_host(ctx.workspace_slug, spec.platform, db, ctx.user.principal)


async def _scope(
    db: Session, user: WebUserDep, workspace: str, platform: str
) -> tuple[Ctx, hs.HostSpec]:
    return await workspace_ctx(db, user, workspace), api.spec_of(platform)


@router.get(_PATH)
async def host_page(
    request: Request,
    workspace: str,
    platform: str,
    db: Session,
    user: WebUserDep,
    removed: str = "",
) -> Response:
    ctx, spec = await _scope(db, user, workspace, platform)
    current = await _current(ctx, db, spec)
    flash = _("Configuration removed.") if removed else ""
    return _page(request, ctx, spec, current, flash=flash)


@router.post(_PATH)
async def save_host(
    request: Request, workspace: str, platform: str, db: Session, user: WebUserDep
) -> Response:
    ctx, spec = await _scope(db, user, workspace, platform)
    form = await form_data(request)
    values = {f.name: first(form, f.name) for f in spec.public}
    body: dict[str, Any] = dict(values)
    for item in spec.secrets:  # write-only: an empty field keeps the stored one
        if first(form, item.name):
            body[item.name] = first(form, item.name)
    try:
        saved = await api.put_host(workspace, platform, request, db, user.principal, body)
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        ctx = await rolled_back(request, db, ctx)
        current = await _current(ctx, db, spec)
        return _page(request, ctx, spec, current, values=values, errors=_errors(exc), status=422)
    return _page(request, ctx, spec, saved, flash=_("%(host)s settings saved.", host=spec.title))


@router.post(_PATH + "/test")
async def host_test_page(
    request: Request, workspace: str, platform: str, db: Session, user: WebUserDep
) -> Response:
    ctx, spec = await _scope(db, user, workspace, platform)
    current = await _current(ctx, db, spec)
    if not current.configured:
        return _page(request, ctx, spec, current, errors={"_form": _("Save the settings first.")})
    result = await api.test_host(workspace, platform, request, db, user.principal)
    return _page(request, ctx, spec, current, test=result)


@router.post(_PATH + "/remove")
async def remove_host(
    request: Request, workspace: str, platform: str, db: Session, user: WebUserDep
) -> Response:
    ctx, spec = await _scope(db, user, workspace, platform)
    await api.delete_host(workspace, spec.platform, db, user.principal)
    return redirect(f"{ctx.base}/hosts/{spec.platform}?removed=1")
