"""Jira connections: workspace administrators create, edit, reorder, delete and test them;
repository administrators only switch them on or off for their repository and never see
credentials (product.md, governance).

Saving tests: creating a connection, or changing its URL, deployment, user or token, runs the
connection test (``jira.diagnose``) first and refuses a failing connection with 422
``CONNECTION_TEST_FAILED`` (the test's result in ``test``) unless the request says
``save_anyway``. Every test — on save or by ``POST …/test`` — is kept as the connection's last
test (``connection_tests``), which the list and the dashboard show.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import inspect, select
from sqlalchemy.orm.attributes import set_committed_value

from jirahooks.server import binding
from jirahooks.server.admin import schemas
from jirahooks.server.admin.common import (
    audit,
    connection_audit,
    connection_out,
    connection_summary,
)
from jirahooks.server.auth import CurrentUser, Session, get_repository, get_workspace
from jirahooks.server.errors import ApiError, conflict, not_found, responses
from jirahooks.server.jira_adapter import test_connection
from jirahooks.store import queries
from jirahooks.store.models import (
    Connection,
    ConnectionTest,
    RepositoryConnection,
    Workspace,
    connection_budget,
    utcnow,
)

router = APIRouter(tags=["connections"])

_URL = re.compile(r"^https?://[^/\s]+")
# What a stored token is tested with again when it changes (name, limits and expiry: no test).
_CREDENTIALS = (
    "url",
    "deployment",
    "email",
    "account_id",
    "token",
    "auth",
    "client_id",
    "client_secret",
    "scopes",
    "token_url",
    "gateway_url",
    "cloud_id",
)
# Where the stored secrets are sent: changing any needs the token / client secret again.
_BOUND = ("auth", "client_id", "token_url", "gateway_url")
_SECRETS = ("token", "client_secret")
_ATTRIBUTES = {"auth": "auth_kind"}  # API name → column name where they differ


def _moved(c: Connection, changes: dict[str, Any]) -> bool:
    """The change points the connection at another site or gateway (its cloudId is void)."""
    return any(
        k in changes and str(changes[k]) != str(getattr(c, _ATTRIBUTES.get(k, k)) or "")
        for k in ("url", "auth", "gateway_url", "deployment")
    )


def _check_auth(c: Connection) -> None:
    """The fields the connection's auth kind needs are there (422 AUTH_FIELDS_MISSING) and the
    kind fits the deployment (422 AUTH_KIND_INVALID): ``rules.config.auth_problems``."""
    from jirahooks.rules.config import AUTH_KIND_HINT, auth_problems

    for url_field in ("token_url", "gateway_url"):
        value = getattr(c, url_field) or ""
        if value and not _URL.match(value):
            raise ApiError(
                422, "REQUEST_INVALID", f"{url_field}: expected an http(s) URL", "or leave it empty"
            )
    found = auth_problems(
        c.auth_kind or "auto",
        c.deployment or "auto",
        email=c.email or "",
        client_id=c.client_id or "",
        client_secret=bool(c.client_secret_encrypted),
    )
    for name, message in found:
        if name == "auth":
            raise ApiError(422, "AUTH_KIND_INVALID", f"auth: {message}", AUTH_KIND_HINT)
    if found:
        raise ApiError(
            422,
            "AUTH_FIELDS_MISSING",
            "; ".join(f"{name}: {message}" for name, message in found),
            "docs/jira.md (Credentials) says how to create each credential",
        )


def _check_url(url: str) -> str:
    if not _URL.match(url):
        raise ApiError(
            422,
            "REQUEST_INVALID",
            "url: expected an http(s) URL",
            "e.g. https://acme.atlassian.net",
        )
    return url.rstrip("/")


async def _connection(session: Session, ws: Workspace, connection_id: int) -> Connection:
    connection = await session.get(Connection, connection_id)
    if connection is None or connection.workspace_id != ws.id:
        raise not_found("connection", connection_id)
    return connection


def _require_token_to_rebind(connection: Connection, changes: dict[str, object]) -> None:
    """A stored token or client secret stays with the Jira, user, OAuth client and endpoints it
    was entered for (``binding``)."""
    stored = connection.token_encrypted or connection.client_secret_encrypted
    if not stored or any(k in changes for k in _SECRETS):
        return
    before = binding.jira_binding(
        connection.url, connection.deployment, connection.email, connection.account_id
    )
    before |= {k: str(getattr(connection, _ATTRIBUTES.get(k, k)) or "") for k in _BOUND}
    after = {**before, **{k: str(v) for k, v in changes.items() if k in before}}
    fields = binding.changed(before, after)
    if fields:
        raise ApiError(
            422,
            "TOKEN_REQUIRED",
            binding.token_required_message(fields),
            f"send 'token' with the new {', '.join(fields)} (nothing was changed)",
        )


def _test_out(result: dict[str, Any], row: ConnectionTest) -> schemas.ConnectionTestOut:
    return schemas.ConnectionTestOut(**result, tested_at=row.tested_at)


async def _tested(connection: Connection, request: Request, save_anyway: bool) -> dict[str, Any]:
    """The connection test before saving; a failing connection is refused unless
    ``save_anyway`` (then it is saved with the failed test as its last test)."""
    result = await test_connection(connection, request.app.state.jirahooks.secrets)
    if not result["ok"] and not save_anyway:
        hint = result["hint"] + " — " if result["hint"] else ""
        raise ApiError(
            422,
            "CONNECTION_TEST_FAILED",
            f"the connection test failed ({result['code']}): {result['message']}",
            f"{hint}nothing was saved; fix the connection, or send save_anyway: true to save "
            "it as it is",
            test=schemas.ConnectionTestOut(**result).model_dump(mode="json"),
        )
    return result


def _changed_copy(connection: Connection, changes: dict[str, Any], box: Any) -> Connection:
    """A transient copy of ``connection`` with ``changes`` applied (never added to a session)."""
    copy = Connection(
        name=connection.name,
        url=connection.url,
        deployment=connection.deployment,
        email=connection.email,
        account_id=connection.account_id,
        token_encrypted=connection.token_encrypted,
        timeout_seconds=connection.timeout_seconds,
        max_concurrency=connection.max_concurrency,
        token_expires_on=connection.token_expires_on,
        auth_kind=connection.auth_kind,
        client_id=connection.client_id,
        client_secret_encrypted=connection.client_secret_encrypted,
        scopes=connection.scopes,
        token_url=connection.token_url,
        gateway_url=connection.gateway_url,
        cloud_id=connection.cloud_id,
    )
    for field, value in changes.items():
        if field == "token":
            copy.token_encrypted = box.encrypt(value) if value else ""
        elif field == "client_secret":
            copy.client_secret_encrypted = box.encrypt(value) if value else ""
        else:
            setattr(copy, _ATTRIBUTES.get(field, field), value)
    if _moved(connection, changes):
        copy.cloud_id = changes.get("cloud_id", "") or ""  # another site: discover it again
    _check_auth(copy)
    return copy


def _keep(session: Session, connection: Connection, result: dict[str, Any]) -> ConnectionTest:
    """Record ``result`` as the connection's last test (its own row: not a config change); a
    cloudId the test discovered is stored with the connection."""
    loaded = "last_test" not in inspect(connection).unloaded  # a new connection: not yet
    row = connection.last_test if loaded else None
    if row is None:
        row = ConnectionTest(connection_id=connection.id)
        session.add(row)
    if result.get("cloud_id") and connection.cloud_id != result["cloud_id"]:
        connection.cloud_id = str(result["cloud_id"])
    row.tested_at = utcnow()
    row.source = "test"
    if result["ok"]:
        row.last_success_at = row.tested_at
    row.ok = bool(result["ok"])
    row.code = str(result["code"])
    row.message = str(result["message"])
    row.hint = str(result["hint"])
    set_committed_value(connection, "last_test", row)
    return row


async def _name_free(session: Session, ws: Workspace, name: str, own_id: int | None = None) -> None:
    result = await session.execute(
        select(Connection.id).where(Connection.workspace_id == ws.id, Connection.name == name)
    )
    found = result.scalar_one_or_none()
    if found is not None and found != own_id:
        raise conflict(f"a connection named '{name}' exists", "choose another name")


@router.get(
    "/workspaces/{workspace}/connections",
    response_model=list[schemas.ConnectionOut] | list[schemas.ConnectionSummary],
    summary="Connections in order (credentials only for workspace admins; tokens never)",
)
async def list_connections(
    workspace: str, session: Session, principal: CurrentUser
) -> list[schemas.ConnectionOut] | list[schemas.ConnectionSummary]:
    ws = await get_workspace(session, principal, workspace)
    rows = await queries.connections(session, ws.id)
    if principal.is_workspace_admin(ws):
        return [connection_out(c) for c in rows]
    return [connection_summary(c) for c in rows]


@router.post(
    "/workspaces/{workspace}/connections",
    response_model=schemas.ConnectionOut,
    status_code=201,
    summary="Create a connection (appended last)",
    responses=responses(409),
)
async def create_connection(
    workspace: str,
    body: schemas.ConnectionIn,
    request: Request,
    session: Session,
    principal: CurrentUser,
) -> schemas.ConnectionOut:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    await _name_free(session, ws, body.name)
    box = request.app.state.jirahooks.secrets
    connection = Connection(
        workspace_id=ws.id,
        name=body.name,
        url=_check_url(body.url),
        deployment=body.deployment,
        email=body.email,
        account_id=body.account_id,
        token_encrypted=box.encrypt(body.token) if body.token else "",
        auth_kind=body.auth,
        client_id=body.client_id,
        client_secret_encrypted=box.encrypt(body.client_secret) if body.client_secret else "",
        scopes=" ".join(body.scopes.split()),
        token_url=body.token_url.rstrip("/"),
        gateway_url=body.gateway_url.rstrip("/"),
        cloud_id=body.cloud_id.strip(),
        position=await queries.next_position(session, ws.id),
        timeout_seconds=body.timeout_seconds,
        max_concurrency=body.max_concurrency,
        **connection_budget(body),
        token_expires_on=body.token_expires_on,
    )
    _check_auth(connection)
    result = await _tested(connection, request, body.save_anyway)
    session.add(connection)
    await session.flush()
    _keep(session, connection, result)
    audit(
        session,
        principal,
        ws.id,
        "connection.create",
        f"connection:{body.name}",
        after=connection_audit(connection) | _test_audit(result),
    )
    await session.commit()
    return connection_out(connection)


@router.get(
    "/workspaces/{workspace}/connections/{connection_id}",
    response_model=schemas.ConnectionOut,
    summary="One connection (workspace admins)",
    responses=responses(403),
)
async def get_connection(
    workspace: str, connection_id: int, session: Session, principal: CurrentUser
) -> schemas.ConnectionOut:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    return connection_out(await _connection(session, ws, connection_id))


@router.patch(
    "/workspaces/{workspace}/connections/{connection_id}",
    response_model=schemas.ConnectionOut,
    summary="Edit a connection (a token given replaces the stored one; a new URL, user or deployment needs it)",
    responses=responses(409),
)
async def update_connection(
    workspace: str,
    connection_id: int,
    body: schemas.ConnectionPatch,
    request: Request,
    session: Session,
    principal: CurrentUser,
) -> schemas.ConnectionOut:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    connection = await _connection(session, ws, connection_id)
    before = connection_audit(connection)
    token_changed = False
    given = body.model_dump(exclude_unset=True)
    save_anyway = bool(given.pop("save_anyway", False))
    changes = {k: v for k, v in given.items() if v is not None or k == "token_expires_on"}
    if "url" in changes:
        changes["url"] = _check_url(changes["url"])
    _require_token_to_rebind(connection, changes)
    box = request.app.state.jirahooks.secrets
    result = None
    if any(
        field in changes and (field in _SECRETS or changes[field] != before.get(field))
        for field in _CREDENTIALS
    ):
        # Tested as it would be saved, on a copy, before anything is written: no write lock
        # is held while Jira answers (SQLite), and a refused change leaves nothing behind.
        result = await _tested(_changed_copy(connection, changes, box), request, save_anyway)
    else:
        _check_auth(_changed_copy(connection, changes, box))
    if _moved(connection, changes):
        changes.setdefault("cloud_id", "")  # another site or gateway: the test discovers it
    for field, value in changes.items():
        if field == "token":
            connection.token_encrypted = box.encrypt(value) if value else ""
            token_changed = True
        elif field == "client_secret":
            connection.client_secret_encrypted = box.encrypt(value) if value else ""
            token_changed = True
        elif field == "name":
            await _name_free(session, ws, value, connection.id)
            connection.name = value
        else:
            setattr(connection, _ATTRIBUTES.get(field, field), value)
    if result is not None:
        _keep(session, connection, result)
    connection.updated_at = utcnow()
    after = connection_audit(connection)
    if token_changed:
        after["token_changed"] = True
    if result is not None:
        after |= _test_audit(result)
    audit(
        session,
        principal,
        ws.id,
        "connection.update",
        f"connection:{connection.name}",
        before=before,
        after=after,
    )
    await session.commit()
    return connection_out(connection)


@router.delete(
    "/workspaces/{workspace}/connections/{connection_id}",
    status_code=204,
    summary="Delete a connection",
)
async def delete_connection(
    workspace: str, connection_id: int, session: Session, principal: CurrentUser
) -> Response:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    connection = await _connection(session, ws, connection_id)
    audit(
        session,
        principal,
        ws.id,
        "connection.delete",
        f"connection:{connection.name}",
        before=connection_audit(connection),
    )
    await session.delete(connection)
    await session.commit()
    return Response(status_code=204)


@router.put(
    "/workspaces/{workspace}/connections-order",
    response_model=list[schemas.ConnectionOut],
    summary="Reorder the connections (keys resolve top to bottom)",
)
async def reorder_connections(
    workspace: str, body: schemas.ConnectionOrder, session: Session, principal: CurrentUser
) -> list[schemas.ConnectionOut]:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    rows = await queries.connections(session, ws.id)
    by_id = {c.id: c for c in rows}
    if sorted(body.ids) != sorted(by_id):
        raise ApiError(
            422,
            "REQUEST_INVALID",
            "ids must list every connection of the workspace exactly once",
            f"current ids: {[c.id for c in rows]}",
        )
    before = {"order": [c.name for c in rows]}
    for position, connection_id in enumerate(body.ids):
        by_id[connection_id].position = position
    audit(
        session,
        principal,
        ws.id,
        "connection.reorder",
        f"workspace:{ws.slug}",
        before=before,
        after={"order": [by_id[i].name for i in body.ids]},
    )
    await session.commit()
    return [connection_out(by_id[i]) for i in body.ids]


@router.post(
    "/workspaces/{workspace}/connections/{connection_id}/test",
    response_model=schemas.ConnectionTestOut,
    summary="Test reachability, deployment, credentials, search and project list",
)
async def test(
    workspace: str, connection_id: int, request: Request, session: Session, principal: CurrentUser
) -> schemas.ConnectionTestOut:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    connection = await _connection(session, ws, connection_id)
    result = await test_connection(connection, request.app.state.jirahooks.secrets)
    row = _keep(session, connection, result)
    await session.commit()
    return _test_out(result, row)


def _test_audit(result: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a test on save: its code; that it was saved anyway."""
    return {"test": result["code"], **({} if result["ok"] else {"saved_anyway": True})}


@router.get(
    "/workspaces/{workspace}/repositories/{repository}/connections",
    response_model=list[schemas.RepositoryConnectionOut],
    summary="Workspace connections and whether this repository uses them",
)
async def repository_connections(
    workspace: str, repository: str, session: Session, principal: CurrentUser
) -> list[schemas.RepositoryConnectionOut]:
    ws = await get_workspace(session, principal, workspace)
    repo = await get_repository(session, ws, repository)
    switches = await queries.connection_switches(session, repo.id)
    return [
        schemas.RepositoryConnectionOut(
            connection=connection_summary(c), enabled=switches.get(c.id, True)
        )
        for c in await queries.connections(session, ws.id)
    ]


@router.put(
    "/workspaces/{workspace}/repositories/{repository}/connections/{connection_id}",
    response_model=schemas.RepositoryConnectionOut,
    summary="Enable or disable a workspace connection for this repository (repository admins)",
)
async def switch_connection(
    workspace: str,
    repository: str,
    connection_id: int,
    body: schemas.ConnectionSwitch,
    session: Session,
    principal: CurrentUser,
) -> schemas.RepositoryConnectionOut:
    ws = await get_workspace(session, principal, workspace)
    repo = await get_repository(session, ws, repository)
    principal.require_repository_admin(ws, repo)
    connection = await _connection(session, ws, connection_id)
    result = await session.execute(
        select(RepositoryConnection).where(
            RepositoryConnection.repository_id == repo.id,
            RepositoryConnection.connection_id == connection.id,
        )
    )
    switch = result.scalar_one_or_none()
    before = switch.enabled if switch is not None else True
    if switch is None:
        switch = RepositoryConnection(
            repository_id=repo.id, connection_id=connection.id, enabled=body.enabled
        )
        session.add(switch)
    switch.enabled = body.enabled
    audit(
        session,
        principal,
        ws.id,
        "repository.connection",
        f"repository:{repo.slug}/connection:{connection.name}",
        before={"enabled": before},
        after={"enabled": body.enabled},
    )
    await session.commit()
    return schemas.RepositoryConnectionOut(
        connection=connection_summary(connection), enabled=body.enabled
    )
