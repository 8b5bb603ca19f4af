"""Jira connections: the workspace list in resolution order (workspace admins create, edit,
reorder, test and delete), and a repository's enable/disable switches (repository admins).

Every change goes through the admin API's route functions (``jirahooks.server.admin
.connections``), so permissions, validation and audit entries are the API's.

The dialog's "Authentication" select (``AUTH_KINDS``) shows the fields of the chosen kind
(``data-auth-for`` groups, toggled by app.js; rendered for the saved kind without JavaScript);
its default ("from the deployment type") is the reference's four fields: URL, e-mail, token,
deployment. Secrets (token, client secret) are write-only: never sent back to the browser.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from jirahooks.server.admin import connections as api
from jirahooks.server.admin import schemas
from jirahooks.server.auth import Session
from jirahooks.server.errors import ApiError
from jirahooks.server.web.common import (
    Ctx,
    W,
    first,
    form_data,
    is_htmx,
    page,
    redirect,
    rolled_back,
    workspace_ctx,
)
from jirahooks.server.web.i18n import N_, _
from jirahooks.server.web.session import WebUserDep

router = APIRouter()

DEPLOYMENTS = (
    ("auto", N_("Detect automatically")),
    ("cloud", N_("Jira Cloud (e-mail + API token)")),
    ("datacenter", N_("Jira Data Center / Server (personal access token)")),
)
AUTH_KINDS = (
    ("auto", N_("From the deployment type (e-mail + API token, or personal access token)")),
    ("api_token", N_("Cloud: e-mail + API token")),
    ("scoped_api_token", N_("Cloud: scoped API token (service account, via api.atlassian.com)")),
    ("oauth_client_credentials", N_("Service account: OAuth 2.0 client credentials")),
    ("pat", N_("Data Center: personal access token")),
    ("basic", N_("Data Center: user name + password (deprecated)")),
)
FIELDS = (
    "name",
    "deployment",
    "url",
    "auth",
    "email",
    "account_id",
    "token",
    "client_id",
    "client_secret",
    "scopes",
    "token_url",
    "gateway_url",
    "cloud_id",
    "token_expires_on",
)
SECRETS = ("token", "client_secret")
_NEEDS_EMAIL = ("auto", "api_token", "scoped_api_token")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_URL = re.compile(r"^https?://[^/\s]+\S*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ACCOUNT_ID = re.compile(r"^[A-Za-z0-9:_\-]+$")


def connection_problems(values: dict[str, str], *, creating: bool) -> dict[str, str]:
    """Field → message for a connection form (the checks the dialog shows inline)."""
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = _("Give the connection a name, e.g. “Jira Cloud”.")
    elif len(values["name"]) > 200:
        errors["name"] = _("At most 200 characters.")
    if not values["url"]:
        errors["url"] = _("Enter the Jira base URL, e.g. https://acme.atlassian.net.")
    elif not _URL.match(values["url"]):
        errors["url"] = _("Enter an http(s) URL, e.g. https://acme.atlassian.net.")
    if values["deployment"] not in {d for d, _ in DEPLOYMENTS}:
        errors["deployment"] = _("Choose Cloud, Data Center or automatic detection.")
    auth = values["auth"]
    if auth not in {a for a, _ in AUTH_KINDS}:
        errors["auth"] = _("Choose how the connection authenticates.")
    email = values["email"]
    if email and auth != "basic" and not _EMAIL.match(email):
        errors["email"] = _("Enter an e-mail address, e.g. jira-bot@acme.com.")
    elif not email and (
        (values["deployment"] == "cloud" and auth in _NEEDS_EMAIL)
        or auth in ("api_token", "scoped_api_token")
    ):
        errors["email"] = _("Jira Cloud needs the technical user's e-mail (Basic auth).")
    elif not email and auth == "basic":
        errors["email"] = _("Enter the Data Center user name.")
    account = values["account_id"]
    if account and not _ACCOUNT_ID.match(account):
        errors["account_id"] = _("An Atlassian account ID has letters, digits, ':' and '-' only.")
    if auth == "oauth_client_credentials":
        if not values["client_id"]:
            errors["client_id"] = _("Enter the OAuth client ID of the service account.")
        if creating and not values["client_secret"]:
            errors["client_secret"] = _("Enter the OAuth client secret of the service account.")
    elif creating and not values["token"]:
        errors["token"] = _("Enter the API token (Cloud) or personal access token (Data Center).")
    for name in ("token_url", "gateway_url"):
        if values[name] and not _URL.match(values[name]):
            errors[name] = _("Enter an http(s) URL, or leave it empty for Atlassian's.")
    if values["token_expires_on"] and not _DATE.match(values["token_expires_on"]):
        errors["token_expires_on"] = _("Enter a date, e.g. 2027-06-30.")
    return errors


def _body(values: dict[str, str], form: dict[str, list[str]]) -> dict[str, Any]:
    """The API body of a submitted form: an empty expiry date is none; "save anyway" only when
    ticked (the dialog shows it after a failed test)."""
    body: dict[str, Any] = {k: values[k] for k in FIELDS}
    body["token_expires_on"] = values["token_expires_on"] or None
    body["save_anyway"] = first(form, "save_anyway") in ("true", "on", "1")
    return body


def _values(form: dict[str, list[str]]) -> dict[str, str]:
    values = {name: first(form, name) for name in FIELDS}
    values["deployment"] = values["deployment"] or "auto"
    values["auth"] = values["auth"] or "auto"
    values["url"] = values["url"].rstrip("/")
    return values


def _api_field_errors(exc: ApiError) -> dict[str, str]:
    if exc.code == "CONNECTION_TEST_FAILED":
        return {"_test": _("The connection test failed: nothing was saved.")}
    if exc.code == "CONFLICT":
        return {"name": exc.message[:1].upper() + exc.message[1:] + "."}
    for name in FIELDS:
        if exc.message.startswith(name + ":"):
            return {name: exc.message.split(":", 1)[1].strip()}
    return {"_form": exc.message + (f" — {exc.hint}" if exc.hint else "")}


def _pydantic_errors(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        out.setdefault(loc[0] if loc else "_form", str(err.get("msg", "invalid")))
    return out


async def connection_alerts(db: Session, ctx: Ctx) -> list[dict[str, Any]]:
    """The connections the dashboard flags: last test failed, token expired or expiring soon."""
    alerts = []
    for c in await api.list_connections(ctx.workspace_slug, db, ctx.user.principal):
        failing = (
            (c.last_test is not None and not c.last_test.ok)
            if isinstance(c, schemas.ConnectionOut)
            else c.last_test_ok is False
        )
        if failing or c.token_state in ("expired", "expiring"):
            alerts.append({"c": c, "failing": failing})
    return alerts


async def _table(request: Request, db: Session, ctx: Ctx, **extra: Any) -> HTMLResponse:
    rows = await api.list_connections(ctx.workspace.slug, db, ctx.user.principal)
    return page(request, ctx, "connections_table.html", rows=rows, **extra)


@router.get(W + "/connections")
async def connections_page(
    request: Request, workspace: str, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    rows = await api.list_connections(workspace, db, user.principal)
    return page(
        request,
        ctx,
        "connections.html",
        rows=rows,
        deployments=DEPLOYMENTS,
        auth_kinds=AUTH_KINDS,
        values=dict.fromkeys(FIELDS, "") | {"deployment": "auto", "auth": "auto"},
        errors={},
        mode="create",
    )


def _form(
    request: Request,
    ctx: Ctx,
    mode: str,
    values: dict[str, str],
    errors: dict[str, str],
    connection_id: int | None = None,
    token_set: bool = False,
    test: Any = None,
    client_secret_set: bool = False,
) -> HTMLResponse:
    return page(
        request,
        ctx,
        "connection_form.html",
        mode=mode,
        values=values,
        errors=errors,
        deployments=DEPLOYMENTS,
        auth_kinds=AUTH_KINDS,
        connection_id=connection_id,
        token_set=token_set,
        client_secret_set=client_secret_set,
        test=test,
    )


def _saved(response: HTMLResponse, message: str) -> HTMLResponse:
    response.headers["HX-Retarget"] = "#connections-table"
    response.headers["HX-Reswap"] = "outerHTML"
    response.headers["HX-Trigger"] = json.dumps({"jh:saved": message})
    return response


@router.post(W + "/connections/validate")
async def validate_connection(
    request: Request, workspace: str, db: Session, user: WebUserDep
) -> Response:
    """Inline validation while typing: out-of-band updates of the messages next to fields."""
    ctx = await workspace_ctx(db, user, workspace)
    ctx.user.principal.require_workspace_admin(ctx.workspace)
    form = await form_data(request)
    mode = first(form, "mode", "create")
    values = _values(form)
    errors = connection_problems(values, creating=mode == "create")
    touched = set(form.get("touched", [])) | {k for k, v in values.items() if v}
    shown = {k: v for k, v in errors.items() if k in touched}
    return page(request, ctx, "connection_errors.html", fields=FIELDS, errors=shown, mode=mode)


@router.post(W + "/connections")
async def create_connection(
    request: Request, workspace: str, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    ctx.user.principal.require_workspace_admin(ctx.workspace)
    form = await form_data(request)
    values = _values(form)
    errors = connection_problems(values, creating=True)
    test = None
    if not errors:
        try:
            body = schemas.ConnectionIn.model_validate(_body(values, form))
            await api.create_connection(workspace, body, request, db, user.principal)
        except ValidationError as exc:
            errors = _pydantic_errors(exc)
        except ApiError as exc:
            ctx = await rolled_back(request, db, ctx)
            errors = _api_field_errors(exc)
            test = exc.extra.get("test")
    values["token"] = values["client_secret"] = ""  # never sent back to the browser
    if errors:
        if not is_htmx(request):
            rows = await api.list_connections(workspace, db, ctx.user.principal)
            return page(
                request,
                ctx,
                "connections.html",
                rows=rows,
                deployments=DEPLOYMENTS,
                auth_kinds=AUTH_KINDS,
                values=values,
                errors=errors,
                mode="create",
                dialog_open=True,
                test=test,
                status=422,
            )
        return _form(request, ctx, "create", values, errors, test=test)
    if not is_htmx(request):
        return redirect(ctx.base + "/connections")
    return _saved(
        await _table(
            request, db, ctx, flash=_("Connection “%(name)s” created.", name=values["name"])
        ),
        _("Connection “%(name)s” created", name=values["name"]),
    )


@router.get(W + "/connections/new")
async def new_connection_form(
    request: Request, workspace: str, db: Session, user: WebUserDep
) -> Response:
    """The empty "Create new connection" dialog (workspace administrators only)."""
    ctx = await workspace_ctx(db, user, workspace)
    ctx.user.principal.require_workspace_admin(ctx.workspace)
    values = dict.fromkeys(FIELDS, "") | {"deployment": "auto", "auth": "auto"}
    return _form(request, ctx, "create", values, {})


@router.get(W + "/connections/{connection_id:int}/edit")
async def edit_connection_form(
    request: Request, workspace: str, connection_id: int, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    c = await api.get_connection(workspace, connection_id, db, user.principal)
    values = {
        "name": c.name,
        "deployment": c.deployment,
        "url": c.url,
        "email": c.email,
        "account_id": c.account_id,
        "token": "",
        "auth": c.auth,
        "client_id": c.client_id,
        "client_secret": "",
        "scopes": c.scopes,
        "token_url": c.token_url,
        "gateway_url": c.gateway_url,
        "cloud_id": c.cloud_id,
        "token_expires_on": c.token_expires_on.isoformat() if c.token_expires_on else "",
    }
    return _form(
        request, ctx, "edit", values, {}, c.id, c.token_set, client_secret_set=c.client_secret_set
    )


@router.post(W + "/connections/{connection_id:int}")
async def update_connection(
    request: Request, workspace: str, connection_id: int, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    current = await api.get_connection(workspace, connection_id, db, user.principal)
    form = await form_data(request)
    values = _values(form)
    errors = connection_problems(values, creating=False)
    test = None
    if not errors:
        try:
            patch = _body(values, form)
            for secret in SECRETS:
                if not values[secret]:
                    del patch[secret]  # only replaced, never shown
            await api.update_connection(
                workspace,
                connection_id,
                schemas.ConnectionPatch(**patch),
                request,
                db,
                user.principal,
            )
        except ValidationError as exc:
            errors = _pydantic_errors(exc)
        except ApiError as exc:
            ctx = await rolled_back(request, db, ctx)
            errors = _api_field_errors(exc)
            test = exc.extra.get("test")
    values["token"] = values["client_secret"] = ""
    if errors:
        return _form(
            request,
            ctx,
            "edit",
            values,
            errors,
            connection_id,
            current.token_set,
            test,
            client_secret_set=current.client_secret_set,
        )
    if not is_htmx(request):
        return redirect(ctx.base + "/connections")
    return _saved(
        await _table(
            request, db, ctx, flash=_("Connection “%(name)s” saved.", name=values["name"])
        ),
        _("Connection “%(name)s” saved", name=values["name"]),
    )


@router.post(W + "/connections/{connection_id:int}/delete")
async def delete_connection(
    request: Request, workspace: str, connection_id: int, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    current = await api.get_connection(workspace, connection_id, db, user.principal)
    await api.delete_connection(workspace, connection_id, db, user.principal)
    if not is_htmx(request):
        return redirect(ctx.base + "/connections")
    return await _table(
        request, db, ctx, flash=_("Connection “%(name)s” deleted.", name=current.name)
    )


async def _reorder(
    request: Request, db: Session, ctx: Ctx, ids: list[int], focus: str = ""
) -> Response:
    await api.reorder_connections(
        ctx.workspace.slug, schemas.ConnectionOrder(ids=ids), db, ctx.user.principal
    )
    if not is_htmx(request):
        return redirect(ctx.base + "/connections")
    return await _table(request, db, ctx, flash=_("Order saved."), focus=focus)


@router.post(W + "/connections/{connection_id:int}/move")
async def move_connection(
    request: Request, workspace: str, connection_id: int, db: Session, user: WebUserDep
) -> Response:
    """Up/down by keyboard or click: one step in the resolution order."""
    ctx = await workspace_ctx(db, user, workspace)
    ctx.user.principal.require_workspace_admin(ctx.workspace)
    direction = first(await form_data(request), "direction")
    rows = await api.list_connections(workspace, db, user.principal)
    ids = [r.id for r in rows]
    if connection_id not in ids:
        raise ApiError(404, "NOT_FOUND", f"no connection '{connection_id}'")
    i = ids.index(connection_id)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(ids):
        ids[i], ids[j] = ids[j], ids[i]
    return await _reorder(request, db, ctx, ids, focus=f"{direction}-{connection_id}")


@router.post(W + "/connections/order")
async def order_connections(
    request: Request, workspace: str, db: Session, user: WebUserDep
) -> Response:
    """The whole order at once (drag and drop)."""
    ctx = await workspace_ctx(db, user, workspace)
    form = await form_data(request)
    try:
        ids = [int(x) for x in form.get("ids", [])]
    except ValueError as exc:
        raise ApiError(422, "REQUEST_INVALID", "ids must be connection ids") from exc
    return await _reorder(request, db, ctx, ids)


@router.post(W + "/connections/{connection_id:int}/test")
async def test_connection(
    request: Request, workspace: str, connection_id: int, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    result = await api.test(workspace, connection_id, request, db, user.principal)
    # the row's "Last test" follows at once (an out-of-band swap), not only after a reload
    c = await api.get_connection(workspace, connection_id, db, user.principal)
    return page(
        request, ctx, "connection_test.html", result=result, connection_id=connection_id, c=c
    )


# -- repository scope ----------------------------------------------------------------------


@router.get(W + "/r/{repository}/connections")
async def repository_connections(
    request: Request, workspace: str, repository: str, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace, repository)
    rows = await api.repository_connections(workspace, repository, db, user.principal)
    return page(request, ctx, "repository_connections.html", rows=rows, tab="connections")


@router.post(W + "/r/{repository}/connections/{connection_id:int}")
async def switch_connection(
    request: Request,
    workspace: str,
    repository: str,
    connection_id: int,
    db: Session,
    user: WebUserDep,
) -> Response:
    ctx = await workspace_ctx(db, user, workspace, repository)
    enabled = first(await form_data(request), "enabled") in ("true", "on", "1")
    row = await api.switch_connection(
        workspace,
        repository,
        connection_id,
        schemas.ConnectionSwitch(enabled=enabled),
        db,
        user.principal,
    )
    if not is_htmx(request):
        return redirect(ctx.scope_base + "/connections")
    return page(request, ctx, "repository_connection_row.html", row=row, switched=True)
