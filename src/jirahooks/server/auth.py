"""Admin API authentication and roles (product.md: workspace admin, repository admin, member).

API tokens are ``jh_`` + 43 url-safe characters (256 random bits). Only their SHA-256 hash is
stored: at that entropy a plain hash is as strong as a slow KDF, and it can be looked up.

Roles, per workspace:

* **workspace admin** — everything in the workspace;
* **repository admin** — for their repositories: rules, settings overrides, enabling or
  disabling workspace connections, repository validation tokens; never connection credentials;
* **member** — read access to repositories, rules, settings and evaluations;
* **auditor** — what a member reads, and the evidence exports (``admin/evidence.py``); never
  a write.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.server.errors import ApiError, forbidden, not_found
from jirahooks.store.models import ApiToken, Membership, Repository, User, Workspace, utcnow
from jirahooks.store.queries import repository_by_slug, workspace_by_slug

TOKEN_PREFIX = "jh_"


class Role(StrEnum):
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"
    AUDITOR = "AUDITOR"  # read-only, plus the evidence exports


def new_api_token() -> tuple[str, str, str]:
    """(plaintext, sha256 hex, display prefix) of a fresh API token."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token), token[:8]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class Principal:
    """The authenticated user and their roles, by workspace id."""

    user: User
    workspace_roles: dict[int, Role] = field(default_factory=dict)
    repository_admin: dict[int, set[int]] = field(default_factory=dict)  # ws id → repo ids

    @property
    def name(self) -> str:
        return self.user.name

    def is_workspace_admin(self, workspace: Workspace) -> bool:
        return self.workspace_roles.get(workspace.id) is Role.ADMIN

    def is_repository_admin(self, workspace: Workspace, repository: Repository) -> bool:
        return self.is_workspace_admin(workspace) or repository.id in self.repository_admin.get(
            workspace.id, set()
        )

    def is_member(self, workspace: Workspace) -> bool:
        return workspace.id in self.workspace_roles or bool(self.repository_admin.get(workspace.id))

    def require_member(self, workspace: Workspace) -> None:
        if not self.is_member(workspace):
            # 404, not 403: a user outside a workspace does not learn that it exists.
            raise not_found("workspace", workspace.slug)

    def require_workspace_admin(self, workspace: Workspace) -> None:
        self.require_member(workspace)
        if not self.is_workspace_admin(workspace):
            raise forbidden(
                f"only workspace administrators of '{workspace.slug}' can do this",
                "ask a workspace administrator",
            )

    def require_evidence_reader(self, workspace: Workspace) -> None:
        """Evidence exports: workspace administrators and auditors."""
        self.require_member(workspace)
        if self.workspace_roles.get(workspace.id) not in (Role.ADMIN, Role.AUDITOR):
            raise forbidden(
                f"only workspace administrators and auditors of '{workspace.slug}' can export "
                "evidence",
                "ask a workspace administrator to give you the AUDITOR role",
            )

    def require_repository_admin(self, workspace: Workspace, repository: Repository) -> None:
        self.require_member(workspace)
        if not self.is_repository_admin(workspace, repository):
            raise forbidden(
                f"only administrators of repository '{repository.slug}' can do this",
                "ask a workspace administrator to make you a repository administrator",
            )


async def session_dependency(request: Request):  # type: ignore[no-untyped-def]
    """One database session per request (committed by the handlers that write)."""
    async with request.app.state.jirahooks.database.session() as session:
        yield session


Session = Annotated[AsyncSession, Depends(session_dependency)]


async def load_principal(session: AsyncSession, token: str) -> Principal | None:
    result = await session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    )
    row = result.first()
    if row is None:
        return None
    api_token, user = row
    api_token.last_used_at = utcnow()
    principal = Principal(user)
    memberships = await session.execute(select(Membership).where(Membership.user_id == user.id))
    for m in memberships.scalars():
        if m.repository_id is None:
            principal.workspace_roles[m.workspace_id] = Role(m.role)
        elif m.role == Role.ADMIN:
            principal.repository_admin.setdefault(m.workspace_id, set()).add(m.repository_id)
    return principal


async def principal_dependency(request: Request, session: Session) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "UNAUTHENTICATED",
            "an API token is required",
            "send 'Authorization: Bearer <token>'; the first start printed one",
        )
    principal = await load_principal(session, token.strip())
    if principal is None:
        raise ApiError(
            401, "TOKEN_INVALID", "the API token is unknown or revoked", "create a new API token"
        )
    await session.commit()  # last_used_at
    return principal


CurrentUser = Annotated[Principal, Depends(principal_dependency)]


async def get_workspace(session: AsyncSession, principal: Principal, slug: str) -> Workspace:
    """The workspace, if the principal belongs to it (else 404)."""
    workspace = await workspace_by_slug(session, slug)
    if workspace is None:
        raise not_found("workspace", slug)
    principal.require_member(workspace)
    return workspace


async def get_repository(session: AsyncSession, workspace: Workspace, slug: str) -> Repository:
    repository = await repository_by_slug(session, workspace.id, slug)
    if repository is None:
        raise not_found("repository", slug)
    return repository
