"""Tables for pull-request validation on hosting platforms (migration 0002).

- ``platform_configs``: per-workspace platform credentials (encrypted, write-only) and webhook
  secret;
- ``webhook_deliveries``: the durable queue — every accepted delivery is stored raw before the
  webhook is answered, deduplicated by ``dedupe_key``, and processed by the background worker
  (also synthetic deliveries from rechecks and reconciliation);
- ``pull_request_results``: the last published result per pull request (result reuse within a
  minute, reconciliation of heads without a result, the Guardian's current review verdict), and
  since migration 0004 the per-PR lease and evaluation sequence that make publishing
  compare-and-set (docs/decisions/0002-database-as-queue.md).

The queue's own statements live here too (docs/decisions/0006-queue-across-processes.md):
:func:`claim_due` (one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`` on PostgreSQL,
the same statement under SQLite's single writer) and :func:`queue_depth` (what is waiting and
since when, for health checks and metrics).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, aliased, mapped_column

from jirahooks.store.models import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


class PlatformConfig(Base):
    """How jirahooks talks to one platform for one workspace. Secrets are Fernet-encrypted."""

    __tablename__ = "platform_configs"
    __table_args__ = (UniqueConstraint("workspace_id", "platform"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(40))
    remote_workspace: Mapped[str] = mapped_column(String(200), default="")
    api_url: Mapped[str] = mapped_column(String(500), default="")
    auth_kind: Mapped[str] = mapped_column(String(40), default="access_token")
    username: Mapped[str] = mapped_column(String(200), default="")
    token_encrypted: Mapped[str] = mapped_column(Text, default="")
    webhook_secret_encrypted: Mapped[str] = mapped_column(Text, default="")
    require_signature: Mapped[bool] = mapped_column(Boolean, default=True)
    register_unknown_repositories: Mapped[bool] = mapped_column(Boolean, default=True)
    public_url: Mapped[str] = mapped_column(String(500), default="")
    # a host's own non-secret fields (migration 0015; jirahooks.server.host_settings)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryRow(Base):
    """One webhook delivery (or recheck / reconciliation request) and its processing state."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedupe_key"),
        # the claim's and processing's per-PR look-ups (migration 0013)
        Index(
            "ix_webhook_deliveries_pull_request",
            "workspace_id",
            "repository",
            "pull_request_id",
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(40))
    origin: Mapped[str] = mapped_column(String(20), default="webhook")  # recheck, reconcile
    event_key: Mapped[str] = mapped_column(String(100), default="")
    dedupe_key: Mapped[str] = mapped_column(String(500))
    request_id: Mapped[str] = mapped_column(String(100), default="")
    hook_id: Mapped[str] = mapped_column(String(100), default="")
    attempt: Mapped[int] = mapped_column(Integer, default=1)  # the platform's delivery attempt
    repository: Mapped[str] = mapped_column(String(200), default="")
    pull_request_id: Mapped[str] = mapped_column(String(40), default="")
    head: Mapped[str] = mapped_column(String(64), default="")
    force: Mapped[bool] = mapped_column(Boolean, default=False)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    tries: Mapped[int] = mapped_column(Integer, default=0)  # our processing attempts
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)  # renewed by heartbeats
    lease_owner: Mapped[str] = mapped_column(String(100), default="")  # the claiming worker
    processed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    evaluation_id: Mapped[int | None] = mapped_column(
        ForeignKey("evaluations.id", ondelete="SET NULL"), default=None
    )


class PullRequestResult(Base):
    """The last result jirahooks published for one pull request."""

    __tablename__ = "pull_request_results"
    __table_args__ = (UniqueConstraint("repository_id", "platform", "pull_request_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(40))
    pull_request_id: Mapped[str] = mapped_column(String(40))
    source_branch: Mapped[str] = mapped_column(String(500), default="")
    head: Mapped[str] = mapped_column(String(64), default="")
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    result: Mapped[str] = mapped_column(String(20), default="")
    verdict: Mapped[str] = mapped_column(String(20), default="")
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    evaluation_id: Mapped[int | None] = mapped_column(
        ForeignKey("evaluations.id", ondelete="SET NULL"), default=None
    )
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    # compare-and-set (migration 0004): every evaluation of this PR takes the next ``seq``; a
    # result is published only by the holder of the PR's lease and only when its ``seq`` is
    # above ``published_seq``, so an older evaluation never overwrites a newer one.
    seq: Mapped[int] = mapped_column(Integer, default=0)
    published_seq: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str] = mapped_column(String(100), default="")
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    # the reviewer veto follows the head: what it was last sent for
    review_head: Mapped[str] = mapped_column(String(64), default="")
    review_evaluation_id: Mapped[int | None] = mapped_column(Integer, default=None)


# -- the queue ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker just claimed (its lease token is ``<owner>/<id>``), with what
    processing it needs — returned by the claim itself, so the row is not read again."""

    id: int
    workspace_id: int
    repository: str
    pull_request_id: str
    received_at: datetime | None = None
    origin: str = "webhook"
    force: bool = False
    headers: dict[str, Any] | None = None
    body: str | None = None  # None: not returned (read the row)
    evaluation_id: int | None = None
    tries: int = 1
    platform: str = ""  # the host (``platforms.registry``)

    @classmethod
    def of(cls, row: DeliveryRow) -> Claimed:
        return cls(
            row.id,
            row.workspace_id,
            row.repository,
            row.pull_request_id,
            row.received_at,
            row.origin,
            row.force,
            dict(row.headers or {}),
            row.body,
            row.evaluation_id,
            row.tries,
            row.platform,
        )

    @property
    def key(self) -> str:
        """Deliveries of one pull request share a key; a push is its own."""
        if self.pull_request_id:
            return f"{self.workspace_id}/{self.repository}/{self.pull_request_id}"
        return f"delivery/{self.id}"


def _claimable(row: Any, now: Any, expired: Any) -> ColumnElement[bool]:
    """Due and pending, or claimed by a worker whose lease ran out (it crashed)."""
    return or_(
        and_(row.state == "pending", row.next_attempt_at <= now),
        and_(row.state == "processing", row.claimed_at < expired),
    )


def claimable_condition(now: Any, expired: Any) -> ColumnElement[bool]:
    """Which deliveries a worker may claim at ``now`` (leases claimed before ``expired`` ran
    out): :func:`_claimable`, and its pull request has no delivery under a live lease and no
    older claimable one — so one pull request's deliveries are claimed one at a time, oldest
    first, by whichever process claims first."""
    other = aliased(DeliveryRow)
    same_pr = and_(
        other.workspace_id == DeliveryRow.workspace_id,
        other.repository == DeliveryRow.repository,
        other.pull_request_id == DeliveryRow.pull_request_id,
        other.id != DeliveryRow.id,
    )
    ahead = or_(
        and_(other.state == "processing", other.claimed_at >= expired),
        and_(other.id < DeliveryRow.id, _claimable(other, now, expired)),
    )
    return and_(
        _claimable(DeliveryRow, now, expired),
        or_(DeliveryRow.pull_request_id == "", ~exists().where(same_pr, ahead)),
    )


@functools.cache
def _claim_statement(skip_locked: bool) -> Any:
    """The claim, built once (a burst claims hundreds of times a second): ``now``,
    ``expired``, ``limit`` and ``owner`` are bound per call."""
    now = bindparam("now", type_=UTCDateTime())
    expired = bindparam("expired", type_=UTCDateTime())
    picked = (
        select(DeliveryRow.id)
        .where(claimable_condition(now, expired))
        .order_by(DeliveryRow.id)
        .limit(bindparam("limit", type_=Integer()))
    )
    if skip_locked:
        picked = picked.with_for_update(skip_locked=True)
    return (
        update(DeliveryRow)
        .where(DeliveryRow.id.in_(picked.scalar_subquery()))
        .values(
            state="processing",
            claimed_at=now,
            lease_owner=bindparam("owner", type_=String()) + cast(DeliveryRow.id, String),
            tries=DeliveryRow.tries + 1,
        )
        .returning(
            DeliveryRow.id,
            DeliveryRow.workspace_id,
            DeliveryRow.repository,
            DeliveryRow.pull_request_id,
            DeliveryRow.received_at,
            DeliveryRow.origin,
            DeliveryRow.force,
            DeliveryRow.headers,
            DeliveryRow.body,
            DeliveryRow.evaluation_id,
            DeliveryRow.tries,
            DeliveryRow.platform,
        )
        .execution_options(synchronize_session=False)
    )


async def claim_due(
    session: AsyncSession,
    *,
    owner: str,
    limit: int,
    lease_seconds: float,
    skip_locked: bool,
    now: datetime | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries for ``owner`` in one statement and commit.

    PostgreSQL: ``UPDATE … WHERE id IN (SELECT … ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED)
    RETURNING …`` — concurrent claimers in other processes or hosts skip each other's rows
    instead of waiting or claiming them twice. SQLite (one process): the same statement, made
    atomic by SQLite's single writer."""
    now = now or utcnow()
    result = await session.execute(
        _claim_statement(skip_locked),
        {
            "now": now,
            "expired": now - timedelta(seconds=lease_seconds),
            "limit": max(1, limit),
            "owner": owner + "/",
        },
    )
    claimed = [Claimed(*row) for row in result.all()]
    await session.commit()
    return sorted(claimed, key=lambda c: c.id)


@dataclass(frozen=True)
class QueueDepth:
    """What the queue holds right now (for health checks and metrics)."""

    pending: int  # waiting, due or scheduled for later
    due: int  # pending and due now
    processing: int
    oldest_due_seconds: float  # age of the oldest due delivery's receipt; 0 when none


async def queue_depth(session: AsyncSession, now: datetime | None = None) -> QueueDepth:
    """Counts of pending / due / processing deliveries and the oldest due one's age: one
    statement, cheap enough for a scrape every few seconds (``state`` is indexed)."""
    now = now or utcnow()
    is_due = and_(DeliveryRow.state == "pending", DeliveryRow.next_attempt_at <= now)
    row = (
        await session.execute(
            select(
                func.count().filter(DeliveryRow.state == "pending"),
                func.count().filter(is_due),
                func.count().filter(DeliveryRow.state == "processing"),
                func.min(DeliveryRow.received_at).filter(is_due),
            ).where(DeliveryRow.state.in_(("pending", "processing")))
        )
    ).one()
    oldest = row[3]
    age = 0.0
    if oldest is not None:
        if oldest.tzinfo is None and now.tzinfo is not None:
            oldest = oldest.replace(tzinfo=now.tzinfo)
        age = max(0.0, (now - oldest).total_seconds())
    return QueueDepth(int(row[0]), int(row[1]), int(row[2]), age)


# finished deliveries the purge removes; failed ones stay (they are what an operator looks at)
FINISHED = ("done", "reused", "superseded", "ignored", "closed")


async def purge_finished(session: AsyncSession, older_than: datetime, *, batch: int = 5000) -> int:
    """Delete up to ``batch`` deliveries that finished (:data:`FINISHED`) before
    ``older_than`` and commit; returns how many. Their evaluations stay (the delivery only
    pointed at them). Small batches: a purge never holds many row locks for long."""
    picked = (
        select(DeliveryRow.id)
        .where(DeliveryRow.state.in_(FINISHED), DeliveryRow.processed_at < older_than)
        .order_by(DeliveryRow.id)
        .limit(max(1, batch))
    )
    result = await session.execute(
        delete(DeliveryRow)
        .where(DeliveryRow.id.in_(picked.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
