"""Repositories and Process Guardian settings (workspace defaults, repository overrides)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from jirahooks.errors import ConfigError
from jirahooks.rules.config import parse_settings
from jirahooks.rules.model import Settings
from jirahooks.rules.schema import dump
from jirahooks.server.admin import schemas
from jirahooks.server.admin.common import audit, repository_out
from jirahooks.server.auth import CurrentUser, Session, get_repository, get_workspace
from jirahooks.server.errors import config_error, conflict, responses
from jirahooks.store import queries
from jirahooks.store.models import Repository

router = APIRouter(tags=["repositories and settings"])

SettingsBody = Annotated[
    dict[str, Any], Body(description="Process Guardian settings as in the configuration document")
]


def _full(settings: Settings) -> dict[str, Any]:
    """Every setting, defaults included."""
    return {f.name: dump(getattr(settings, f.name)) for f in dataclasses.fields(settings)}


@router.get(
    "/workspaces/{workspace}/repositories",
    response_model=list[schemas.RepositoryOut],
    summary="Repositories of the workspace",
)
async def list_repositories(
    workspace: str, session: Session, principal: CurrentUser
) -> list[schemas.RepositoryOut]:
    from sqlalchemy import select

    ws = await get_workspace(session, principal, workspace)
    result = await session.execute(
        select(Repository).where(Repository.workspace_id == ws.id).order_by(Repository.slug)
    )
    return [repository_out(r) for r in result.scalars()]


@router.post(
    "/workspaces/{workspace}/repositories",
    response_model=schemas.RepositoryOut,
    status_code=201,
    summary="Register a repository (workspace admins)",
    responses=responses(409),
)
async def create_repository(
    workspace: str, body: schemas.RepositoryIn, session: Session, principal: CurrentUser
) -> schemas.RepositoryOut:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    if await queries.repository_by_slug(session, ws.id, body.slug) is not None:
        raise conflict(f"repository '{body.slug}' exists")
    repo = Repository(
        workspace_id=ws.id, slug=body.slug, uuid=body.uuid, settings={}, disabled_rules=[]
    )
    session.add(repo)
    await session.flush()
    audit(
        session,
        principal,
        ws.id,
        "repository.create",
        f"repository:{body.slug}",
        after=body.model_dump(),
    )
    await session.commit()
    return repository_out(repo)


@router.get(
    "/workspaces/{workspace}/repositories/{repository}",
    response_model=schemas.RepositoryOut,
    summary="One repository",
)
async def get_repo(
    workspace: str, repository: str, session: Session, principal: CurrentUser
) -> schemas.RepositoryOut:
    ws = await get_workspace(session, principal, workspace)
    return repository_out(await get_repository(session, ws, repository))


@router.patch(
    "/workspaces/{workspace}/repositories/{repository}",
    response_model=schemas.RepositoryOut,
    summary="Edit a repository: uuid, workspace rules switched off here (repository admins)",
)
async def update_repository(
    workspace: str,
    repository: str,
    body: schemas.RepositoryPatch,
    session: Session,
    principal: CurrentUser,
) -> schemas.RepositoryOut:
    ws = await get_workspace(session, principal, workspace)
    repo = await get_repository(session, ws, repository)
    principal.require_repository_admin(ws, repo)
    before = repository_out(repo).model_dump(mode="json", exclude={"id", "created_at"})
    if body.slug is not None and body.slug != repo.slug:
        # Renaming changes every endpoint URL of the repository: workspace admins only.
        principal.require_workspace_admin(ws)
        if await queries.repository_by_slug(session, ws.id, body.slug) is not None:
            raise conflict(f"repository '{body.slug}' exists")
        repo.slug = body.slug
    if "uuid" in body.model_fields_set:
        repo.uuid = body.uuid
    if body.disabled_rules is not None:
        repo.disabled_rules = list(dict.fromkeys(body.disabled_rules))
    after = repository_out(repo).model_dump(mode="json", exclude={"id", "created_at"})
    audit(
        session,
        principal,
        ws.id,
        "repository.rename" if before["slug"] != repo.slug else "repository.update",
        f"repository:{before['slug']}",
        before=before,
        after=after,
    )
    await session.commit()
    return repository_out(repo)


@router.delete(
    "/workspaces/{workspace}/repositories/{repository}",
    status_code=204,
    summary="Delete a repository, its rules and tokens (workspace admins)",
)
async def delete_repository(
    workspace: str, repository: str, session: Session, principal: CurrentUser
) -> Response:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    repo = await get_repository(session, ws, repository)
    audit(
        session,
        principal,
        ws.id,
        "repository.delete",
        f"repository:{repo.slug}",
        before=repository_out(repo).model_dump(mode="json", exclude={"id"}),
    )
    await session.delete(repo)
    await session.commit()
    return Response(status_code=204)


def _validated(data: dict[str, Any], base: dict[str, Any] | None, path: str) -> Settings:
    try:
        return parse_settings(data, base=base, path=path)
    except ConfigError as exc:
        raise config_error(exc) from exc


async def _repositories_still_valid(
    session: Session, workspace_id: int, base: dict[str, Any]
) -> None:
    """422 when new workspace settings would break a repository's overrides: a repository's
    ``exemptions.escape.groups`` may name a group only the workspace's ``groups`` define, and
    removing it there would leave a reference to nothing."""
    from sqlalchemy import select

    result = await session.execute(
        select(Repository).where(Repository.workspace_id == workspace_id).order_by(Repository.slug)
    )
    problems = []
    for repo in result.scalars():
        if not repo.settings:
            continue
        try:
            parse_settings(repo.settings, base=base, path=f"repositories[{repo.slug}].settings")
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise config_error(ConfigError(problems))


@router.get(
    "/workspaces/{workspace}/settings",
    response_model=schemas.SettingsOut,
    summary="Workspace settings",
)
async def workspace_settings(
    workspace: str, session: Session, principal: CurrentUser
) -> schemas.SettingsOut:
    ws = await get_workspace(session, principal, workspace)
    return schemas.SettingsOut(
        settings=dict(ws.settings or {}), effective=_full(queries.effective_settings(ws, None))
    )


@router.put(
    "/workspaces/{workspace}/settings",
    response_model=schemas.SettingsOut,
    summary="Replace the workspace's Process Guardian settings (workspace admins): fields not "
    "sent go back to their defaults; PATCH changes only the fields sent",
)
async def put_workspace_settings(
    workspace: str, body: SettingsBody, session: Session, principal: CurrentUser
) -> schemas.SettingsOut:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    effective = _validated(body, None, "settings")
    await _repositories_still_valid(session, ws.id, body)
    before = dict(ws.settings or {})
    ws.settings = dict(body)
    audit(
        session,
        principal,
        ws.id,
        "settings.update",
        f"workspace:{ws.slug}",
        before=before,
        after=dict(body),
    )
    await session.commit()
    return schemas.SettingsOut(settings=dict(body), effective=_full(effective))


@router.get(
    "/workspaces/{workspace}/repositories/{repository}/settings",
    response_model=schemas.SettingsOut,
    summary="A repository's overrides and the effective settings",
)
async def repository_settings(
    workspace: str, repository: str, session: Session, principal: CurrentUser
) -> schemas.SettingsOut:
    ws = await get_workspace(session, principal, workspace)
    repo = await get_repository(session, ws, repository)
    return schemas.SettingsOut(
        settings=dict(repo.settings or {}), effective=_full(queries.effective_settings(ws, repo))
    )


@router.put(
    "/workspaces/{workspace}/repositories/{repository}/settings",
    response_model=schemas.SettingsOut,
    summary="Replace a repository's overrides (repository admins): overrides not sent are "
    "removed, {} removes them all; PATCH changes only the overrides sent",
)
async def put_repository_settings(
    workspace: str,
    repository: str,
    body: SettingsBody,
    session: Session,
    principal: CurrentUser,
) -> schemas.SettingsOut:
    ws = await get_workspace(session, principal, workspace)
    repo = await get_repository(session, ws, repository)
    principal.require_repository_admin(ws, repo)
    effective = _validated(body, dict(ws.settings or {}), f"repositories[{repo.slug}].settings")
    before = dict(repo.settings or {})
    repo.settings = dict(body)
    audit(
        session,
        principal,
        ws.id,
        "settings.update",
        f"repository:{repo.slug}",
        before=before,
        after=dict(body),
    )
    await session.commit()
    return schemas.SettingsOut(settings=dict(body), effective=_full(effective))


def _merged(stored: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``stored`` with ``patch`` applied as a JSON merge patch (RFC 7396): a field with a value
    is set, a field with ``null`` is removed (for a repository: back to the inherited value),
    a field not mentioned is kept."""
    merged = dict(stored)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


@router.patch(
    "/workspaces/{workspace}/settings",
    response_model=schemas.SettingsOut,
    summary="Change some workspace settings, keep the others (workspace admins); null removes",
)
async def patch_workspace_settings(
    workspace: str, body: SettingsBody, session: Session, principal: CurrentUser
) -> schemas.SettingsOut:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    merged = _merged(dict(ws.settings or {}), body)
    return await put_workspace_settings(workspace, merged, session, principal)


@router.patch(
    "/workspaces/{workspace}/repositories/{repository}/settings",
    response_model=schemas.SettingsOut,
    summary="Set or remove some overrides, keep the others (repository admins); null removes",
)
async def patch_repository_settings(
    workspace: str,
    repository: str,
    body: SettingsBody,
    session: Session,
    principal: CurrentUser,
) -> schemas.SettingsOut:
    ws = await get_workspace(session, principal, workspace)
    repo = await get_repository(session, ws, repository)
    principal.require_repository_admin(ws, repo)
    merged = _merged(dict(repo.settings or {}), body)
    return await put_repository_settings(workspace, repository, merged, session, principal)
