"""The PR queue's two entrances outside the webhook intake: a workspace's stored configuration
for a host, and synthetic deliveries (recheck, reconcile, push, Jira changes).

Its own module so the stages that queue (``processing``, ``rechecks``, ``worker``, the admin
API) need nothing of each other for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.store.deliveries import DeliveryRow, PlatformConfig

if TYPE_CHECKING:
    from jirahooks.server.state import AppState


async def platform_config(
    session: AsyncSession, workspace_id: int, platform: str
) -> PlatformConfig | None:
    """The workspace's stored configuration for ``platform`` (None: not configured)."""
    result = await session.execute(
        select(PlatformConfig).where(
            PlatformConfig.workspace_id == workspace_id, PlatformConfig.platform == platform
        )
    )
    return result.scalar_one_or_none()


async def enqueue(
    state: AppState,
    workspace_id: int,
    origin: str,
    dedupe_key: str,
    repository: str,
    pr_id: str,
    *,
    head: str = "",
    force: bool = False,
    platform: str,
) -> int | None:
    """Queue a synthetic delivery (recheck / reconcile / push); None when an equal one exists."""
    async with state.database.session() as session:
        row = DeliveryRow(
            workspace_id=workspace_id,
            platform=platform,
            origin=origin,
            dedupe_key=dedupe_key[:500],
            repository=repository,
            pull_request_id=pr_id,
            head=head,
            force=force,
        )
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            return None
        return row.id
