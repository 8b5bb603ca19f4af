"""What PR processing works with and answers (``pipeline.processing``, ``pipeline.worker``):
its outcomes and exceptions, the scope one evaluation loads, the PR's lease, and the helpers
that read and write the pull-request rows.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.engine import Resolver
from jirahooks.event import Event
from jirahooks.platforms.base import PullRequestDetails
from jirahooks.rules.model import Rule, Settings
from jirahooks.store import queries
from jirahooks.store.deliveries import PlatformConfig, PullRequestResult
from jirahooks.store.models import Repository, Workspace

log = logging.getLogger("jirahooks.server.webhooks")


class Permanent(Exception):
    """The delivery can never succeed (no configuration, unknown repository, bad payload)."""


class Busy(Exception):
    """Another worker holds this pull request's lease: try the delivery again at ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"the pull request is being processed elsewhere until {until}")
        self.until = until


class LeaseLost(Exception):
    """This delivery no longer holds the pull request's lease (it ran past it and another
    worker took over): publish nothing."""


async def find_or_register(
    session: AsyncSession, workspace: Workspace, slug: str, uuid: str, register: bool
) -> Repository | None:
    repo = await queries.repository_by_slug(session, workspace.id, slug)
    if repo is None and uuid:
        repo = await queries.repository_by_uuid(session, workspace.id, uuid)
    if repo is None and register:
        try:
            # a savepoint: several workers (or processes) may see the first deliveries of a new
            # repository at the same moment; one registers it, the others then find it
            async with session.begin_nested():
                repo = Repository(workspace_id=workspace.id, slug=slug, uuid=uuid or None)
                session.add(repo)
            log.info("registered repository %s/%s from a webhook", workspace.slug, slug)
        except IntegrityError:
            # the savepoint's rollback expired what the session holds: load it again
            await session.refresh(workspace)
            repo = await queries.repository_by_slug(session, workspace.id, slug)
            if repo is None and uuid:
                repo = await queries.repository_by_uuid(session, workspace.id, uuid)
    return repo


@dataclass
class Scope:
    """Everything loaded from the database for one evaluation."""

    workspace: Workspace
    config: PlatformConfig
    repository: Repository
    settings: Settings
    rules: list[Rule]
    resolver: Resolver
    previous: PullRequestResult | None
    thorough: bool = False  # a retry: withdraw and replace as if anything could be there
    # another PR of the repository was published on the payload's head (prefix): a result of
    # ours may be on that commit (read with the lease, spares a session after the fetch)
    head_shown: bool = False


@dataclass(frozen=True)
class Record:
    """What the worker writes on the PR row when it records the delivery's outcome, in the same
    transaction (docs/decisions/0013-pr-queue-wakeups-and-round-trips.md): ``values`` only
    while ``lease`` is held — and, with ``newer``, only while no newer evaluation was
    published — and the PR's lease is released by the same statement."""

    lease: Lease
    values: dict[str, Any]
    newer: bool = True


@dataclass
class Outcome:
    status: str  # done, reused, ignored, closed, superseded
    evaluation_id: int | None = None
    note: str = ""
    record: Record | None = None  # written with the outcome (see Record)


@dataclass
class Lease:
    """This delivery's hold on one pull request: the worker's lease token and the evaluation
    sequence number taken with it."""

    token: str
    row_id: int
    seq: int


@dataclass(frozen=True)
class Work:
    """The delivery being processed: its id, the worker's lease token, and the evaluation it
    stored before (set when it is processed again after a crash)."""

    id: int
    token: str
    evaluation_id: int | None
    tries: int = 1  # this attempt's number (1: the first)
    platform: str = ""  # the delivery's host (``platforms.registry``)


@functools.cache
def _pr_row_statement() -> Any:
    """The PR row by ``repository``, ``platform`` and ``pr``: built once (a burst reads it for
    every delivery)."""
    return select(PullRequestResult).where(
        PullRequestResult.repository_id == bindparam("repository"),
        PullRequestResult.platform == bindparam("platform"),
        PullRequestResult.pull_request_id == bindparam("pr"),
    )


async def pr_row(
    session: AsyncSession, repository_id: int, pr_id: str, platform: str
) -> PullRequestResult | None:
    found = await session.execute(
        _pr_row_statement(), {"repository": repository_id, "platform": platform, "pr": pr_id}
    )
    return found.scalar_one_or_none()


async def head_published(session: AsyncSession, repository_id: int, pr_id: str, head: str) -> bool:
    """Whether another PR of the repository was published on ``head`` (a prefix, as payloads
    abbreviate it): two PRs from one branch share their head commit."""
    found = await session.scalar(
        select(PullRequestResult.id)
        .where(
            PullRequestResult.repository_id == repository_id,
            PullRequestResult.pull_request_id != pr_id,
            PullRequestResult.head.startswith(head, autoescape=True),
        )
        .limit(1)
    )
    return found is not None


def insert_for(dialect: str) -> Any:
    """The dialect's ``INSERT`` (with ``ON CONFLICT DO NOTHING``)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def event_json(
    event: Event, repository: str, details: PullRequestDetails | None, platform: str
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "trigger": event.trigger.value,
        "branch": event.branch,
        "repository": repository,
        "platform": platform,
        "commits": [
            {
                "hash": c.hash,
                "message": c.message,
                "authorDisplayName": c.author_name,
                "url": c.url,
            }
            for c in event.commits
        ],
    }
    if details is not None:
        out["pullRequest"] = {
            "id": details.id,
            "title": details.title,
            "description": details.description,
            "sourceBranch": details.source_branch,
            "destinationBranch": details.destination_branch,
            "head": details.head,
            "author": details.author,
            "url": details.url,
        }
    return out
