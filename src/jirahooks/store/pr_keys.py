"""Which Jira issue keys each stored pull-request evaluation used (migration 0014).

A change in Jira (a webhook, or the fallback sweep) names an issue key; the open pull requests
whose *last* evaluation used that key are the ones to evaluate again
(``jirahooks.pipeline.rechecks``). The evaluations table keeps the issues as JSON, which
neither SQLite nor PostgreSQL can look up by key through a plain index, so the keys of each PR
evaluation are also kept here, one row per key, indexed by ``(workspace_id, issue_key)``. Rows
go with their evaluation (``ON DELETE CASCADE``); only the PR's current evaluation
(``pull_request_results.evaluation_id``, indexed by the same migration) is joined.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from jirahooks.store.deliveries import PullRequestResult
from jirahooks.store.models import Base, Repository

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

MAX_KEYS = 500  # per evaluation: a PR naming more keys is still evaluated; the rest not kept


class PrIssueKey(Base):
    """One issue key one pull-request evaluation used."""

    __tablename__ = "pr_issue_keys"
    __table_args__ = (Index("ix_pr_issue_keys_workspace_key", "workspace_id", "issue_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE"), index=True
    )
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    issue_key: Mapped[str] = mapped_column(String(100))


def record(
    session: AsyncSession, workspace_id: int, evaluation_id: int, keys: Iterable[str]
) -> int:
    """Add the rows for one evaluation to ``session`` (committed with the evaluation)."""
    wanted = sorted({k.upper()[:100] for k in keys if k})[:MAX_KEYS]
    session.add_all(
        PrIssueKey(evaluation_id=evaluation_id, workspace_id=workspace_id, issue_key=key)
        for key in wanted
    )
    return len(wanted)


async def open_prs_using(
    session: AsyncSession, workspace_id: int, keys: Iterable[str]
) -> list[tuple[str, str]]:
    """``(repository slug, pull request id)`` of the open PRs whose current evaluation used one
    of ``keys``, in a stable order."""
    return [
        (slug, pr) for slug, pr, _ in await open_prs_on_hosts_using(session, workspace_id, keys)
    ]


async def open_prs_on_hosts_using(
    session: AsyncSession, workspace_id: int, keys: Iterable[str]
) -> list[tuple[str, str, str]]:
    """``(repository slug, pull request id, platform)`` of the open PRs whose current
    evaluation used one of ``keys``, in a stable order."""
    wanted = sorted({k.upper() for k in keys if k})
    if not wanted:
        return []
    rows = await session.execute(
        select(Repository.slug, PullRequestResult.pull_request_id, PullRequestResult.platform)
        .select_from(PrIssueKey)
        .join(PullRequestResult, PullRequestResult.evaluation_id == PrIssueKey.evaluation_id)
        .join(Repository, Repository.id == PullRequestResult.repository_id)
        .where(
            PrIssueKey.workspace_id == workspace_id,
            PrIssueKey.issue_key.in_(wanted),
            PullRequestResult.open.is_(True),
        )
        .distinct()
        .order_by(Repository.slug, PullRequestResult.pull_request_id, PullRequestResult.platform)
    )
    return [(str(slug), str(pr), str(platform)) for slug, pr, platform in rows.all()]
