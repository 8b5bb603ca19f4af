"""Shared helpers of the admin routers: serialisation and the audit actor."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.server.admin import schemas
from jirahooks.server.auth import Principal
from jirahooks.store import queries
from jirahooks.store.models import Connection, Repository, ValidationToken, connection_budget


def connection_out(c: Connection) -> schemas.ConnectionOut:
    return schemas.ConnectionOut(
        id=c.id,
        name=c.name,
        url=c.url,
        deployment=c.deployment,
        email=c.email,
        account_id=c.account_id,
        token_set=bool(c.token_encrypted),
        position=c.position,
        timeout_seconds=c.timeout_seconds,
        max_concurrency=c.max_concurrency,
        **connection_budget(c),
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def connection_summary(c: Connection) -> schemas.ConnectionSummary:
    return schemas.ConnectionSummary(
        id=c.id, name=c.name, url=c.url, deployment=c.deployment, position=c.position
    )


def connection_audit(c: Connection) -> dict[str, Any]:
    """A connection for the audit log: ``token`` only says whether one is set (redacted)."""
    return {
        "name": c.name,
        "url": c.url,
        "deployment": c.deployment,
        "email": c.email,
        "account_id": c.account_id,
        "token": bool(c.token_encrypted),
        "position": c.position,
        "timeout_seconds": c.timeout_seconds,
        "max_concurrency": c.max_concurrency,
        **connection_budget(c),
    }


def repository_out(r: Repository) -> schemas.RepositoryOut:
    return schemas.RepositoryOut(
        id=r.id,
        slug=r.slug,
        uuid=r.uuid,
        disabled_rules=[str(x) for x in r.disabled_rules or []],
        created_at=r.created_at,
    )


def token_out(t: ValidationToken, repository: str | None) -> schemas.ValidationTokenOut:
    return schemas.ValidationTokenOut(
        id=t.id,
        name=t.name,
        repository=repository,
        created_by=t.created_by,
        created_at=t.created_at,
        rotated_at=t.rotated_at,
        last_used_at=t.last_used_at,
        revoked_at=t.revoked_at,
    )


def audit(
    session: AsyncSession,
    principal: Principal,
    workspace_id: int | None,
    action: str,
    target: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    queries.audit(
        session,
        workspace_id=workspace_id,
        actor=f"user:{principal.name}",
        user_id=principal.user.id,
        action=action,
        target=target,
        before=before,
        after=after,
    )
