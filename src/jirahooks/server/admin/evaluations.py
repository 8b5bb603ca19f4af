"""Stored evaluations (listed and filtered by repository, result and time) and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BeforeValidator
from sqlalchemy import select

from jirahooks.server.admin import schemas
from jirahooks.server.auth import CurrentUser, Session, get_repository, get_workspace
from jirahooks.server.errors import not_found, responses
from jirahooks.server.writer import settled
from jirahooks.store.models import AuditEntry, EvaluationRow, Repository, User, ValidationToken


def _iso_only(value: Any) -> Any:
    """A time filter is an ISO 8601 date-time, as documented: pydantic would also take a bare
    number as a Unix timestamp, which the OpenAPI document does not say (and nobody means)."""
    try:
        float(value)
    except (TypeError, ValueError):
        return value
    raise ValueError("expected an ISO 8601 date-time, e.g. 2026-12-01T00:00:00Z")


Time = Annotated[
    datetime | None, BeforeValidator(_iso_only), Query(description="ISO 8601 date-time")
]

# settled: the background writer has stored every evaluation answered before this request
router = APIRouter(tags=["evaluations and audit"], dependencies=[Depends(settled)])

Result = Literal["PASS", "WARNING", "SKIP", "BLOCK", "IGNORE"]


def _out(
    row: EvaluationRow, repo: str | None, token: str | None, user: str | None
) -> schemas.EvaluationOut:
    return schemas.EvaluationOut(
        id=row.id,
        repository=repo,
        created_at=row.created_at,
        source=row.source,
        trigger=row.trigger,
        branch=row.branch,
        result=row.result,
        duration_ms=row.duration_ms,
        token=token,
        user=user,
        rules=list(row.rules or []),
        request_id=row.request_id or "",
        chain_seq=row.chain_seq,
        chain_hash=row.chain_hash,
        config_version=row.config_version,
    )


def _query() -> Any:
    return (
        select(EvaluationRow, Repository.slug, ValidationToken.name, User.name)
        .outerjoin(Repository, Repository.id == EvaluationRow.repository_id)
        .outerjoin(ValidationToken, ValidationToken.id == EvaluationRow.token_id)
        .outerjoin(User, User.id == EvaluationRow.user_id)
    )


@router.get(
    "/workspaces/{workspace}/evaluations",
    response_model=schemas.EvaluationPage,
    summary="Evaluations, newest first, filtered by repository, result and time",
)
async def list_evaluations(
    workspace: str,
    session: Session,
    principal: CurrentUser,
    repository: str | None = None,
    result: Annotated[list[Result] | None, Query()] = None,
    since: Time = None,
    until: Time = None,
    before: Annotated[int | None, Query(description="id cursor: entries older than this")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    request_id: Annotated[
        str | None, Query(max_length=100, description="the X-Request-Id of the request")
    ] = None,
) -> schemas.EvaluationPage:
    ws = await get_workspace(session, principal, workspace)
    query = _query().where(EvaluationRow.workspace_id == ws.id)
    if repository is not None:
        repo = await get_repository(session, ws, repository)
        query = query.where(EvaluationRow.repository_id == repo.id)
    if result:
        query = query.where(EvaluationRow.result.in_(result))
    if since is not None:
        query = query.where(EvaluationRow.created_at >= since)
    if until is not None:
        query = query.where(EvaluationRow.created_at < until)
    if before is not None:
        query = query.where(EvaluationRow.id < before)
    if request_id:
        query = query.where(EvaluationRow.request_id == request_id)
    rows = (await session.execute(query.order_by(EvaluationRow.id.desc()).limit(limit + 1))).all()
    items = [_out(row, repo_slug, token, user) for row, repo_slug, token, user in rows[:limit]]
    return schemas.EvaluationPage(
        items=items, next_before=items[-1].id if len(rows) > limit else None
    )


@router.get(
    "/workspaces/{workspace}/evaluations/{evaluation_id}",
    response_model=schemas.EvaluationDetail,
    summary="One evaluation: event, per-rule statuses and facts, Jira data, timing",
)
async def get_evaluation(
    workspace: str, evaluation_id: int, session: Session, principal: CurrentUser
) -> schemas.EvaluationDetail:
    ws = await get_workspace(session, principal, workspace)
    found = (await session.execute(_query().where(EvaluationRow.id == evaluation_id))).first()
    if found is None or found[0].workspace_id != ws.id:
        raise not_found("evaluation", evaluation_id)
    row, repo, token, user = found
    return schemas.EvaluationDetail(
        **_out(row, repo, token, user).model_dump(),
        event=dict(row.event),
        document=dict(row.document),
        issues=dict(row.issues or {}),
    )


@router.get(
    "/workspaces/{workspace}/audit",
    response_model=schemas.AuditPage,
    summary="Configuration changes, newest first (workspace admins)",
    responses=responses(403),
)
async def audit_log(
    workspace: str,
    session: Session,
    principal: CurrentUser,
    action: str | None = None,
    since: Time = None,
    before: Annotated[int | None, Query(description="id cursor: entries older than this")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> schemas.AuditPage:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    query = select(AuditEntry).where(AuditEntry.workspace_id == ws.id)
    if action:
        query = query.where(AuditEntry.action == action)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    rows = list(
        (await session.execute(query.order_by(AuditEntry.id.desc()).limit(limit + 1))).scalars()
    )
    items = [
        schemas.AuditOut(
            id=e.id,
            at=e.at,
            actor=e.actor,
            action=e.action,
            target=e.target,
            before=e.before,
            after=e.after,
        )
        for e in rows[:limit]
    ]
    return schemas.AuditPage(items=items, next_before=items[-1].id if len(rows) > limit else None)
