"""Validation tokens (HMAC secrets of the Validation API): create (secret shown once), list
(never the secret), rotate (new secret, shown once), revoke.

Workspace-wide tokens are managed by workspace admins; a repository's tokens also by its
repository admins.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from jirahooks.server.admin import schemas
from jirahooks.server.admin.common import audit, token_out
from jirahooks.server.auth import CurrentUser, Principal, Session, get_repository, get_workspace
from jirahooks.server.errors import conflict, not_found, responses
from jirahooks.store.models import Repository, ValidationToken, Workspace, utcnow

router = APIRouter(tags=["validation tokens"])


def new_secret() -> str:
    return "jhv_" + secrets.token_urlsafe(32)


REPOSITORY_PLACEHOLDER = "<repository-slug>"


def endpoint(request: Request, ws: Workspace, repository: str | None) -> str:
    """The URL a hook client is configured with. The Validation API needs the repository, so
    a workspace-wide token gets a placeholder here: see ``endpoints``."""
    base = str(request.base_url).rstrip("/")
    url = f"{base}/api/validate/{quote(ws.slug, safe='')}"
    return f"{url}?repoSlug={quote(repository or REPOSITORY_PLACEHOLDER, safe='<>')}"


async def _secret_out(
    request: Request, session: Session, ws: Workspace, token: ValidationToken, secret: str
) -> schemas.ValidationTokenSecret:
    """A token with its secret and the endpoint to paste, per repository it can sign for."""
    slugs = await _repo_slugs(session, ws)
    slug = slugs.get(token.repository_id) if token.repository_id else None
    covered = [slug] if slug else sorted(slugs.values())
    return schemas.ValidationTokenSecret(
        **token_out(token, slug).model_dump(),
        secret=secret,
        endpoint=endpoint(request, ws, slug),
        endpoints=[
            schemas.RepositoryEndpoint(repository=s, endpoint=endpoint(request, ws, s))
            for s in covered
        ],
    )


async def _repo_slugs(session: Session, ws: Workspace) -> dict[int, str]:
    result = await session.execute(
        select(Repository.id, Repository.slug).where(Repository.workspace_id == ws.id)
    )
    return {rid: slug for rid, slug in result.all()}


async def _may_manage(
    session: Session, principal: Principal, ws: Workspace, repository_id: int | None
) -> None:
    if repository_id is None:
        principal.require_workspace_admin(ws)
        return
    repo = await session.get(Repository, repository_id)
    assert repo is not None
    principal.require_repository_admin(ws, repo)


@router.get(
    "/workspaces/{workspace}/validation-tokens",
    response_model=list[schemas.ValidationTokenOut],
    summary="Validation tokens you may manage (never the secret)",
    responses=responses(403),
)
async def list_tokens(
    workspace: str, session: Session, principal: CurrentUser
) -> list[schemas.ValidationTokenOut]:
    ws = await get_workspace(session, principal, workspace)
    slugs = await _repo_slugs(session, ws)
    result = await session.execute(
        select(ValidationToken)
        .where(ValidationToken.workspace_id == ws.id)
        .order_by(ValidationToken.id)
    )
    out = []
    admin = principal.is_workspace_admin(ws)
    mine = principal.repository_admin.get(ws.id, set())
    for token in result.scalars():
        if admin or (token.repository_id is not None and token.repository_id in mine):
            out.append(
                token_out(token, slugs.get(token.repository_id) if token.repository_id else None)
            )
    if not admin and not mine:
        principal.require_workspace_admin(ws)
    return out


@router.post(
    "/workspaces/{workspace}/validation-tokens",
    response_model=schemas.ValidationTokenSecret,
    status_code=201,
    summary="Create a validation token; the secret is in this answer only",
    responses=responses(409),
)
async def create_token(
    workspace: str,
    body: schemas.ValidationTokenIn,
    request: Request,
    session: Session,
    principal: CurrentUser,
) -> schemas.ValidationTokenSecret:
    ws = await get_workspace(session, principal, workspace)
    repo = await get_repository(session, ws, body.repository) if body.repository else None
    await _may_manage(session, principal, ws, repo.id if repo else None)
    exists = await session.execute(
        select(ValidationToken.id).where(
            ValidationToken.workspace_id == ws.id, ValidationToken.name == body.name
        )
    )
    if exists.scalar_one_or_none() is not None:
        raise conflict(
            f"a validation token named '{body.name}' exists", "choose another name, or rotate it"
        )
    secret = new_secret()
    token = ValidationToken(
        workspace_id=ws.id,
        repository_id=repo.id if repo else None,
        name=body.name,
        secret_encrypted=request.app.state.jirahooks.secrets.encrypt(secret),
        created_by=principal.name,
    )
    session.add(token)
    await session.flush()
    slug = repo.slug if repo else None
    audit(
        session,
        principal,
        ws.id,
        "validation_token.create",
        f"validation_token:{body.name}",
        after={"name": body.name, "repository": slug, "secret": True},
    )
    await session.commit()
    return await _secret_out(request, session, ws, token, secret)


async def _token(session: Session, ws: Workspace, token_id: int) -> ValidationToken:
    token = await session.get(ValidationToken, token_id)
    if token is None or token.workspace_id != ws.id:
        raise not_found("validation token", token_id)
    return token


@router.post(
    "/workspaces/{workspace}/validation-tokens/{token_id}/rotate",
    response_model=schemas.ValidationTokenSecret,
    summary="Replace a token's secret; the new secret is in this answer only",
    responses=responses(409),
)
async def rotate_token(
    workspace: str, token_id: int, request: Request, session: Session, principal: CurrentUser
) -> schemas.ValidationTokenSecret:
    ws = await get_workspace(session, principal, workspace)
    token = await _token(session, ws, token_id)
    await _may_manage(session, principal, ws, token.repository_id)
    if token.revoked_at is not None:
        raise conflict("the token is revoked", "create a new one")
    secret = new_secret()
    token.secret_encrypted = request.app.state.jirahooks.secrets.encrypt(secret)
    token.rotated_at = utcnow()
    audit(
        session,
        principal,
        ws.id,
        "validation_token.rotate",
        f"validation_token:{token.name}",
        before={"secret": True},
        after={"secret": True},
    )
    await session.commit()
    return await _secret_out(request, session, ws, token, secret)


@router.delete(
    "/workspaces/{workspace}/validation-tokens/{token_id}",
    status_code=204,
    summary="Revoke a token (kept, unusable, for the audit trail)",
)
async def revoke_token(
    workspace: str, token_id: int, session: Session, principal: CurrentUser
) -> Response:
    ws = await get_workspace(session, principal, workspace)
    token = await _token(session, ws, token_id)
    await _may_manage(session, principal, ws, token.repository_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit(
            session,
            principal,
            ws.id,
            "validation_token.revoke",
            f"validation_token:{token.name}",
            before={"revoked": False},
            after={"revoked": True},
        )
        await session.commit()
    return Response(status_code=204)
