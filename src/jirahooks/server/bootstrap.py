"""First start: the default workspace and a one-time admin API token, printed once.

Runs when the store has no user at all. The token is stored hashed; the only copy of the
plaintext is what ``announce`` prints to stdout (never to a log).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.server.auth import Role, new_api_token
from jirahooks.store import queries
from jirahooks.store.database import Database
from jirahooks.store.models import ApiToken, Membership, User, Workspace

ADMIN_USER = "admin"


@dataclass(frozen=True)
class FirstStart:
    workspace: str
    user: str
    token: str


async def ensure_workspace(session: AsyncSession, slug: str, *, actor: str) -> Workspace:
    workspace = await queries.workspace_by_slug(session, slug)
    if workspace is None:
        workspace = Workspace(slug=slug, name=slug, settings={})
        session.add(workspace)
        await session.flush()
        queries.audit(
            session,
            workspace_id=workspace.id,
            actor=actor,
            action="workspace.create",
            target=f"workspace:{slug}",
            after={"slug": slug},
        )
    return workspace


async def first_start(database: Database, workspace_slug: str) -> FirstStart | None:
    """Create the default workspace and the first admin when there are no users yet."""
    async with database.session() as session:
        users = (await session.execute(select(func.count(User.id)))).scalar_one()
        if users:
            await ensure_workspace(session, workspace_slug, actor="system:first-start")
            await session.commit()
            return None
        workspace = await ensure_workspace(session, workspace_slug, actor="system:first-start")
        user = User(name=ADMIN_USER, email="")
        session.add(user)
        await session.flush()
        session.add(Membership(user_id=user.id, workspace_id=workspace.id, role=Role.ADMIN.value))
        token, token_hash, prefix = new_api_token()
        session.add(
            ApiToken(user_id=user.id, name="first-start", token_hash=token_hash, prefix=prefix)
        )
        queries.audit(
            session,
            workspace_id=workspace.id,
            actor="system:first-start",
            action="user.create",
            target=f"user:{ADMIN_USER}",
            after={"name": ADMIN_USER, "role": Role.ADMIN.value},
        )
        try:
            await session.commit()
        except IntegrityError:  # another worker won the race; it prints the token
            await session.rollback()
            return None
        return FirstStart(workspace.slug, user.name, token)


def announce(first: FirstStart, base_url: str) -> str:
    """The one-time sign-in message."""
    return "\n".join(
        [
            "jirahooks: first start — created workspace "
            f"'{first.workspace}' and administrator '{first.user}'.",
            "Sign in with this token (shown once, stored only as a hash):",
            "",
            f"    {first.token}",
            "",
            f"Web UI:    {base_url}/ui/login  (paste the token)",
            f"Admin API: curl -H 'Authorization: Bearer {first.token}' {base_url}/api/v1/me",
            f"API reference: {base_url}/docs  (OpenAPI: {base_url}/openapi.json)",
        ]
    )
