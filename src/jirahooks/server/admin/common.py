"""Shared helpers of the admin routers: serialisation and the audit actor."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.server.admin import schemas
from jirahooks.server.auth import Principal
from jirahooks.store import queries
from jirahooks.store.models import (
    Connection,
    ConnectionTest,
    Repository,
    ValidationToken,
    connection_auth,
    connection_budget,
)

EXPIRY_WARNING_DAYS = 14
"""A token that expires within this many days is flagged (list, dashboard) as expiring."""


def token_expiry(expires_on: date | None, today: date | None = None) -> tuple[int | None, str]:
    """(days left, state) for a token expiry date: unknown, valid, expiring or expired."""
    if expires_on is None:
        return None, "unknown"
    days = (expires_on - (today or date.today())).days
    if days < 0:
        return days, "expired"
    return days, "expiring" if days <= EXPIRY_WARNING_DAYS else "valid"


def last_test_out(row: ConnectionTest | None) -> schemas.LastTest | None:
    if row is None:
        return None
    return schemas.LastTest(
        tested_at=row.tested_at,
        ok=row.ok,
        code=row.code,
        message=row.message,
        hint=row.hint,
        source="runtime" if row.source == "runtime" else "test",
        last_success_at=row.last_success_at,
    )


def connection_out(c: Connection) -> schemas.ConnectionOut:
    days, state = token_expiry(c.token_expires_on)
    return schemas.ConnectionOut(
        id=c.id,
        name=c.name,
        url=c.url,
        deployment=c.deployment,
        email=c.email,
        account_id=c.account_id,
        token_set=bool(c.token_encrypted),
        **connection_auth_out(c),
        position=c.position,
        timeout_seconds=c.timeout_seconds,
        max_concurrency=c.max_concurrency,
        **connection_budget(c),
        token_expires_on=c.token_expires_on,
        token_expires_in_days=days,
        token_state=state,  # type: ignore[arg-type]
        last_test=last_test_out(c.last_test),
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def connection_auth_out(c: Connection) -> dict[str, Any]:
    """A connection's auth settings for its admins: the kind, the effective kind, the OAuth
    client (its secret only as ``client_secret_set``), the gateway, a warning for basic."""
    from jirahooks.jira.auth import BASIC_WARNING
    from jirahooks.rules.config import AuthKind

    values = connection_auth(c)
    kind = values["auth"]
    effective = kind if kind != "auto" else ("api_token" if c.email else "pat")
    return {
        **values,
        "auth_effective": effective,
        "client_secret_set": bool(c.client_secret_encrypted),
        "auth_warning": BASIC_WARNING if effective == AuthKind.BASIC else "",
    }


def connection_summary(c: Connection) -> schemas.ConnectionSummary:
    return schemas.ConnectionSummary(
        id=c.id,
        name=c.name,
        url=c.url,
        deployment=c.deployment,
        position=c.position,
        last_test_ok=c.last_test.ok if c.last_test is not None else None,
        token_state=token_expiry(c.token_expires_on)[1],  # type: ignore[arg-type]
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
        **connection_auth(c),
        "client_secret": bool(c.client_secret_encrypted),
        "position": c.position,
        "timeout_seconds": c.timeout_seconds,
        "max_concurrency": c.max_concurrency,
        **connection_budget(c),
        "token_expires_on": c.token_expires_on.isoformat() if c.token_expires_on else None,
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
