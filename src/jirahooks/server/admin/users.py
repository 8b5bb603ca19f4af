"""``/me``, your API tokens, workspaces, and (workspace admins) users and their roles."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import select

from jirahooks.server.admin import schemas
from jirahooks.server.admin.common import audit
from jirahooks.server.auth import (
    CurrentUser,
    Principal,
    Role,
    Session,
    get_workspace,
    new_api_token,
)
from jirahooks.server.errors import ApiError, conflict, forbidden, not_found, responses
from jirahooks.store import queries
from jirahooks.store.models import ApiToken, Membership, Repository, User, Workspace, utcnow

router = APIRouter(tags=["users"])


def _role(principal: Principal, workspace: Workspace) -> str:
    role = principal.workspace_roles.get(workspace.id)
    return role.value if role is not None else "REPOSITORY_ADMIN"


async def _my_workspaces(session: Session, principal: Principal) -> list[schemas.WorkspaceOut]:
    ids = set(principal.workspace_roles) | set(principal.repository_admin)
    if not ids:
        return []
    result = await session.execute(
        select(Workspace).where(Workspace.id.in_(ids)).order_by(Workspace.slug)
    )
    return [
        schemas.WorkspaceOut(id=w.id, slug=w.slug, name=w.name, role=_role(principal, w))
        for w in result.scalars()
    ]


@router.get("/me", response_model=schemas.MeOut, summary="Who am I, and my workspaces")
async def me(session: Session, principal: CurrentUser) -> schemas.MeOut:
    user = principal.user
    return schemas.MeOut(
        id=user.id,
        name=user.name,
        email=user.email,
        workspaces=await _my_workspaces(session, principal),
    )


def _api_token_out(t: ApiToken) -> schemas.ApiTokenOut:
    return schemas.ApiTokenOut(
        id=t.id,
        name=t.name,
        prefix=t.prefix,
        created_at=t.created_at,
        last_used_at=t.last_used_at,
        revoked_at=t.revoked_at,
    )


@router.get("/me/tokens", response_model=list[schemas.ApiTokenOut], summary="My API tokens")
async def my_tokens(session: Session, principal: CurrentUser) -> list[schemas.ApiTokenOut]:
    result = await session.execute(
        select(ApiToken).where(ApiToken.user_id == principal.user.id).order_by(ApiToken.id)
    )
    return [_api_token_out(t) for t in result.scalars()]


@router.post(
    "/me/tokens",
    response_model=schemas.ApiTokenSecret,
    status_code=201,
    summary="Create an API token for myself (shown once)",
)
async def create_my_token(
    body: schemas.ApiTokenIn, session: Session, principal: CurrentUser
) -> schemas.ApiTokenSecret:
    token, token_hash, prefix = new_api_token()
    row = ApiToken(user_id=principal.user.id, name=body.name, token_hash=token_hash, prefix=prefix)
    session.add(row)
    await session.flush()
    audit(
        session,
        principal,
        None,
        "api_token.create",
        f"user:{principal.name}",
        after={"name": body.name},
    )
    await session.commit()
    return schemas.ApiTokenSecret(**_api_token_out(row).model_dump(), token=token)


@router.delete("/me/tokens/{token_id}", status_code=204, summary="Revoke one of my API tokens")
async def revoke_my_token(token_id: int, session: Session, principal: CurrentUser) -> Response:
    row = await session.get(ApiToken, token_id)
    if row is None or row.user_id != principal.user.id:
        raise not_found("API token", token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit(
            session,
            principal,
            None,
            "api_token.revoke",
            f"user:{principal.name}",
            before={"name": row.name},
        )
        await session.commit()
    return Response(status_code=204)


@router.get("/workspaces", response_model=list[schemas.WorkspaceOut], summary="My workspaces")
async def workspaces(session: Session, principal: CurrentUser) -> list[schemas.WorkspaceOut]:
    return await _my_workspaces(session, principal)


@router.get("/workspaces/{workspace}", response_model=schemas.WorkspaceOut, summary="One workspace")
async def workspace_detail(
    workspace: str, session: Session, principal: CurrentUser
) -> schemas.WorkspaceOut:
    ws = await get_workspace(session, principal, workspace)
    return schemas.WorkspaceOut(id=ws.id, slug=ws.slug, name=ws.name, role=_role(principal, ws))


async def _user_out(session: Session, ws: Workspace, user: User) -> schemas.UserOut:
    result = await session.execute(
        select(Membership, Repository.slug)
        .outerjoin(Repository, Repository.id == Membership.repository_id)
        .where(Membership.user_id == user.id, Membership.workspace_id == ws.id)
    )
    role: str | None = None
    repos: list[str] = []
    for membership, slug in result.all():
        if membership.repository_id is None:
            role = membership.role
        elif slug:
            repos.append(slug)
    return schemas.UserOut(
        id=user.id, name=user.name, email=user.email, role=role, repository_admin=sorted(repos)
    )


async def _set_roles(
    session: Session, ws: Workspace, user: User, role: str | None, repositories: list[str] | None
) -> None:
    """Set the workspace role (None: none) and, unless None, the repositories administered."""
    result = await session.execute(
        select(Membership).where(Membership.user_id == user.id, Membership.workspace_id == ws.id)
    )
    existing = list(result.scalars())
    keep_role = False
    for m in existing:
        if m.repository_id is None and m.role == role:
            keep_role = True
        elif m.repository_id is None or repositories is not None:
            await session.delete(m)
    await session.flush()
    if role is not None and not keep_role:
        session.add(Membership(user_id=user.id, workspace_id=ws.id, role=role))
    for slug in dict.fromkeys(repositories or []):
        repo = await queries.repository_by_slug(session, ws.id, slug)
        if repo is None:
            raise not_found("repository", slug)
        session.add(
            Membership(
                user_id=user.id, workspace_id=ws.id, repository_id=repo.id, role=Role.ADMIN.value
            )
        )


@router.get(
    "/workspaces/{workspace}/users",
    response_model=list[schemas.UserOut],
    summary="Users and roles",
    responses=responses(403),
)
async def list_users(
    workspace: str, session: Session, principal: CurrentUser
) -> list[schemas.UserOut]:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    result = await session.execute(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == ws.id)
        .distinct()
        .order_by(User.name)
    )
    return [await _user_out(session, ws, u) for u in result.scalars()]


@router.post(
    "/workspaces/{workspace}/users",
    response_model=schemas.UserOut,
    status_code=201,
    summary="Add a user (new or existing) with a role",
    responses=responses(409),
)
async def add_user(
    workspace: str, body: schemas.UserIn, session: Session, principal: CurrentUser
) -> schemas.UserOut:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    user = await queries.user_by_name(session, body.name)
    if user is None:
        user = User(name=body.name, email=body.email)
        session.add(user)
        await session.flush()
    else:
        current = await _user_out(session, ws, user)
        if current.role or current.repository_admin:
            raise conflict(
                f"user '{body.name}' is already in this workspace", "change their roles with PATCH"
            )
    await _set_roles(session, ws, user, body.role, body.repository_admin)
    out = await _user_out(session, ws, user)
    audit(
        session,
        principal,
        ws.id,
        "user.add",
        f"user:{user.name}",
        after=out.model_dump(exclude={"id"}),
    )
    await session.commit()
    return out


async def _workspace_user(session: Session, ws: Workspace, name: str) -> User:
    user = await queries.user_by_name(session, name)
    if user is None:
        raise not_found("user", name)
    return user


@router.patch(
    "/workspaces/{workspace}/users/{name}",
    response_model=schemas.UserOut,
    summary="Change roles",
    responses=responses(409),
)
async def update_user(
    workspace: str, name: str, body: schemas.UserPatch, session: Session, principal: CurrentUser
) -> schemas.UserOut:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    user = await _workspace_user(session, ws, name)
    before = await _user_out(session, ws, user)
    role = body.role if "role" in body.model_fields_set else before.role
    if user.id == principal.user.id and role != Role.ADMIN.value:
        raise ApiError(
            409, "CONFLICT", "you cannot remove your own admin role", "ask another admin"
        )
    await _set_roles(session, ws, user, role, body.repository_admin)
    after = await _user_out(session, ws, user)
    audit(
        session,
        principal,
        ws.id,
        "user.update",
        f"user:{name}",
        before=before.model_dump(exclude={"id"}),
        after=after.model_dump(exclude={"id"}),
    )
    await session.commit()
    return after


@router.delete(
    "/workspaces/{workspace}/users/{name}",
    status_code=204,
    summary="Remove a user's roles",
    responses=responses(409),
)
async def remove_user(
    workspace: str, name: str, session: Session, principal: CurrentUser
) -> Response:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    user = await _workspace_user(session, ws, name)
    if user.id == principal.user.id:
        raise ApiError(409, "CONFLICT", "you cannot remove yourself", "ask another admin")
    before = await _user_out(session, ws, user)
    result = await session.execute(
        select(Membership).where(Membership.user_id == user.id, Membership.workspace_id == ws.id)
    )
    for m in result.scalars():
        await session.delete(m)
    audit(
        session,
        principal,
        ws.id,
        "user.remove",
        f"user:{name}",
        before=before.model_dump(exclude={"id"}),
    )
    await session.commit()
    return Response(status_code=204)


async def _require_token_authority(
    session: Session, principal: CurrentUser, ws: Workspace, user: User
) -> None:
    """An API token acts as its user in *every* workspace the user belongs to, so an admin may
    mint one only for a person of this workspace who belongs to no workspace the admin does not
    administer — else an admin of one workspace could act as an admin of another."""
    result = await session.execute(
        select(Membership.workspace_id).where(Membership.user_id == user.id).distinct()
    )
    workspace_ids = set(result.scalars())
    if ws.id not in workspace_ids:
        raise not_found("user", user.name)
    admin_of = {wid for wid, role in principal.workspace_roles.items() if role is Role.ADMIN}
    if not workspace_ids <= admin_of:
        raise forbidden(
            f"'{user.name}' also belongs to workspaces you do not administer",
            "they create their own tokens (POST /api/v1/me/tokens, or sign in to the web UI "
            "with an existing token)",
        )


@router.post(
    "/workspaces/{workspace}/users/{name}/tokens",
    response_model=schemas.ApiTokenSecret,
    status_code=201,
    summary="Create an API token for a user (shown once)",
)
async def create_user_token(
    workspace: str, name: str, body: schemas.ApiTokenIn, session: Session, principal: CurrentUser
) -> schemas.ApiTokenSecret:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    user = await _workspace_user(session, ws, name)
    await _require_token_authority(session, principal, ws, user)
    token, token_hash, prefix = new_api_token()
    row = ApiToken(user_id=user.id, name=body.name, token_hash=token_hash, prefix=prefix)
    session.add(row)
    await session.flush()
    audit(session, principal, ws.id, "api_token.create", f"user:{name}", after={"name": body.name})
    await session.commit()
    return schemas.ApiTokenSecret(**_api_token_out(row).model_dump(), token=token)
