"""Workspace settings → Bitbucket Cloud (workspace administrators only): the credentials the
Guardian uses on Bitbucket, the webhook secret and options, and the webhook URL to paste into
Bitbucket with a short setup checklist (docs/bitbucket-cloud.md).

Reads and writes go through the admin API's route functions (``jirahooks.server
.bitbucket_admin``): only workspace administrators pass, and the secrets stay write-only — the
page only ever says whether a token or webhook secret is set, and an empty field keeps it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from jirahooks.pipeline.options import options_for
from jirahooks.platforms.bitbucket_auth import email_problem
from jirahooks.server import bitbucket_admin as api
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
from jirahooks.server.web.i18n import N_, _
from jirahooks.server.web.session import WebUserDep

router = APIRouter()

AUTH_KINDS = (
    ("access_token", N_("Access token (repository, project or workspace access token)")),
    ("api_token", N_("API token of a technical user (with its Atlassian account e-mail)")),
)
TEXT_FIELDS = ("username", "public_url", "bitbucket_workspace", "api_url")
FIELDS = ("auth_kind", *TEXT_FIELDS, "token", "webhook_secret")


def _values(current: api.BitbucketConfigOut) -> dict[str, Any]:
    return {
        "auth_kind": current.auth_kind,
        "username": current.username,
        "public_url": current.public_url,
        "bitbucket_workspace": current.bitbucket_workspace,
        "api_url": current.api_url,
        "require_signature": current.require_signature,
        "register_unknown_repositories": current.register_unknown_repositories,
    }


def _submitted(form: dict[str, list[str]]) -> dict[str, Any]:
    values: dict[str, Any] = {name: first(form, name) for name in TEXT_FIELDS}
    values["auth_kind"] = first(form, "auth_kind") or "access_token"
    values["username"] = values["username"].strip()
    values["require_signature"] = first(form, "require_signature") == "on"
    values["register_unknown_repositories"] = first(form, "register_unknown_repositories") == "on"
    return values


def _problems(values: dict[str, Any]) -> dict[str, str]:
    """Every problem at once (the API, which checks the same again, stops at the first)."""
    errors: dict[str, str] = {}
    for name in ("public_url", "api_url"):
        if values[name] and not values[name].startswith(("http://", "https://")):
            errors[name] = _("expected an http(s) URL, e.g. https://guardian.example.com")
    # app_password: the migration alias (stored as an API token), checked like one
    if values["auth_kind"] in ("api_token", "app_password"):
        if not values["username"]:
            errors["username"] = _("required with an API token: the Atlassian account e-mail")
        elif email_problem(values["username"]):
            errors["username"] = _(
                "not an e-mail address: an API token authenticates with the Atlassian account "
                "e-mail, not the Bitbucket username"
            )
    return errors


def _api_errors(exc: ApiError) -> dict[str, str]:
    """The API names the field before a colon (``public_url: expected an http(s) URL``)."""
    name, sep, rest = exc.message.partition(":")
    if sep and name in FIELDS:
        return {name: rest.strip()}
    return {"_form": exc.message + (f" — {exc.hint}" if exc.hint else "")}


def _validation_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in exc.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "_form"
        errors.setdefault(name if name in FIELDS else "_form", problem["msg"])
    return errors


def webhook_url(request: Request, ctx: Ctx, current: api.BitbucketConfigOut) -> str:
    """Where Bitbucket delivers: the workspace's public URL, else ``JIRAHOOKS_PUBLIC_URL``, else
    the address this page was requested at."""
    base = (
        current.public_url
        or options_for(request.app.state).public_url
        or str(request.base_url).rstrip("/")
    )
    return base.rstrip("/") + current.webhook_path


def _page(
    request: Request,
    ctx: Ctx,
    current: api.BitbucketConfigOut,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    flash: str = "",
    status: int = 200,
    test: api.BitbucketTestOut | None = None,
    alias_used: bool = False,
) -> HTMLResponse:
    return page(
        request,
        ctx,
        "bitbucket.html",
        current=current,
        values=values if values is not None else _values(current),
        auth_kinds=AUTH_KINDS,
        webhook_url=webhook_url(request, ctx, current),
        errors=errors or {},
        flash=flash,
        status=status,
        test=test,
        app_password_notice=alias_used or current.auth_kind == "app_password",
    )


async def _current(ctx: Ctx, db: Session) -> api.BitbucketConfigOut:
    return await api.get_bitbucket(ctx.workspace_slug, db, ctx.user.principal)


@router.get(W + "/bitbucket")
async def bitbucket_page(
    request: Request, workspace: str, db: Session, user: WebUserDep, removed: str = ""
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    current = await _current(ctx, db)
    return _page(request, ctx, current, flash=_("Configuration removed.") if removed else "")


@router.post(W + "/bitbucket")
async def save_bitbucket(
    request: Request, workspace: str, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    form = await form_data(request)
    values = _submitted(form)
    body: dict[str, Any] = dict(values)
    # Write-only secrets: an empty field keeps the stored one (the API's "omit to keep").
    for secret in ("token", "webhook_secret"):
        if first(form, secret):
            body[secret] = first(form, secret)
    errors = _problems(values)
    if errors:
        current = await _current(ctx, db)
        return _page(request, ctx, current, values=values, errors=errors, status=422)
    try:
        saved = await api.put_bitbucket(
            workspace, api.BitbucketConfigIn.model_validate(body), request, db, user.principal
        )
    except ValidationError as exc:
        current = await _current(ctx, db)
        errors = _validation_errors(exc)
        return _page(request, ctx, current, values=values, errors=errors, status=422)
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        ctx = await rolled_back(request, db, ctx)
        current = await _current(ctx, db)
        return _page(request, ctx, current, values=values, errors=_api_errors(exc), status=422)
    alias = values["auth_kind"] == "app_password"
    return _page(request, ctx, saved, flash=_("Bitbucket settings saved."), alias_used=alias)


@router.post(W + "/bitbucket/test")
async def bitbucket_test_page(
    request: Request, workspace: str, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    current = await _current(ctx, db)
    if not current.configured:
        return _page(request, ctx, current, errors={"_form": _("Save the settings first.")})
    result = await api.bitbucket_connection_test(workspace, request, db, user.principal)
    return _page(request, ctx, current, test=result)


@router.post(W + "/bitbucket/remove")
async def remove_bitbucket(
    request: Request, workspace: str, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    await api.delete_bitbucket(workspace, db, user.principal)
    return redirect(f"{ctx.base}/bitbucket?removed=1")
