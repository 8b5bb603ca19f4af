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
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jirahooks.store.models import Base, utcnow


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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryRow(Base):
    """One webhook delivery (or recheck / reconciliation request) and its processing state."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("workspace_id", "dedupe_key"),)

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
