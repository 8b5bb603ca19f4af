"""Processing one stored delivery: fetch the PR, evaluate PULL_REQUEST rules, store the
evaluation, publish status + report + review verdict, remember what was published.

Database sessions are short (load, store, remember); network calls happen between them, so a
slow Bitbucket or Jira never holds a database transaction open.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.engine import Evaluation, Resolver, evaluate
from jirahooks.engine.facts import Status
from jirahooks.event import Event, Trigger
from jirahooks.platforms import results
from jirahooks.platforms.base import (
    Delivery,
    DeliveryKind,
    PlatformAdapter,
    PullRequestDetails,
    ReviewVerdict,
    WebhookError,
    pr_fingerprint,
)
from jirahooks.platforms.bitbucket_cloud import PLATFORM, parse_delivery
from jirahooks.rules.model import Rule, Settings
from jirahooks.server.platform_config import Adapters, WorkerOptions, evaluation_link
from jirahooks.store import queries
from jirahooks.store.deliveries import DeliveryRow, PlatformConfig, PullRequestResult
from jirahooks.store.models import Repository, Workspace, utcnow

if TYPE_CHECKING:
    from jirahooks.server.app import AppState

log = logging.getLogger("jirahooks.server.webhooks")


class Permanent(Exception):
    """The delivery can never succeed (no configuration, unknown repository, bad payload)."""


async def platform_config(session: AsyncSession, workspace_id: int) -> PlatformConfig | None:
    result = await session.execute(
        select(PlatformConfig).where(
            PlatformConfig.workspace_id == workspace_id, PlatformConfig.platform == PLATFORM
        )
    )
    return result.scalar_one_or_none()


async def find_or_register(
    session: AsyncSession, workspace: Workspace, slug: str, uuid: str, register: bool
) -> Repository | None:
    repo = await queries.repository_by_slug(session, workspace.id, slug)
    if repo is None and uuid:
        repo = await queries.repository_by_uuid(session, workspace.id, uuid)
    if repo is None and register:
        repo = Repository(workspace_id=workspace.id, slug=slug, uuid=uuid or None)
        session.add(repo)
        await session.flush()
        log.info("registered repository %s/%s from a webhook", workspace.slug, slug)
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


@dataclass
class Outcome:
    status: str  # done, reused, ignored, closed
    evaluation_id: int | None = None
    note: str = ""


class Processor:
    """Processes deliveries for one app (shared by the worker's tasks)."""

    def __init__(self, state: AppState, adapters: Adapters, options: WorkerOptions) -> None:
        self.state = state
        self.adapters = adapters
        self.options = options

    # -- entry point ------------------------------------------------------------------------

    async def process(self, delivery_id: int) -> Outcome:
        async with self.state.database.session() as session:
            row = await session.get(DeliveryRow, delivery_id)
            if row is None:
                return Outcome("ignored", note="deleted")
            workspace = await session.get(Workspace, row.workspace_id)
            config = await platform_config(session, row.workspace_id)
            if workspace is None or config is None:
                raise Permanent("the workspace has no Bitbucket configuration any more")
            origin, force = row.origin, row.force
            repository, pr_id = row.repository, row.pull_request_id
            headers, body = dict(row.headers), row.body
        adapter: PlatformAdapter = await self.adapters.get(config, workspace.slug)
        if origin != "webhook":
            return await self.pull_request(
                adapter, workspace, config, repository, "", pr_id, None, force
            )
        try:
            delivery = parse_delivery(headers, body.encode())
        except WebhookError as exc:
            raise Permanent(exc.message) from exc
        if delivery.kind is DeliveryKind.PULL_REQUEST:
            return await self.pull_request(
                adapter,
                workspace,
                config,
                delivery.repository,
                delivery.repository_uuid,
                delivery.pull_request_id,
                delivery,
                force,
            )
        if delivery.kind is DeliveryKind.PULL_REQUEST_CLOSED:
            await self.closed(workspace, config, delivery)
            return Outcome("closed")
        if delivery.kind is DeliveryKind.PUSH:
            return await self.push(adapter, workspace, config, delivery)
        return Outcome("ignored")

    # -- loading ----------------------------------------------------------------------------

    async def load(
        self,
        workspace: Workspace,
        config: PlatformConfig,
        slug: str,
        uuid: str,
        pr_id: str,
    ) -> Scope:
        async with self.state.database.session() as session:
            ws = await session.get(Workspace, workspace.id)
            assert ws is not None
            repo = await find_or_register(
                session, ws, slug, uuid, config.register_unknown_repositories
            )
            if repo is None:
                raise Permanent(f"repository '{slug}' is not registered in '{ws.slug}'")
            settings = queries.effective_settings(ws, repo)
            rules = await queries.rules_for(session, ws.id, repo)
            connections = await queries.enabled_connections(session, ws.id, repo.id)
            previous = None
            if pr_id:
                found = await session.execute(
                    select(PullRequestResult).where(
                        PullRequestResult.repository_id == repo.id,
                        PullRequestResult.platform == PLATFORM,
                        PullRequestResult.pull_request_id == pr_id,
                    )
                )
                previous = found.scalar_one_or_none()
            await session.commit()
        resolver = self.state.resolvers.resolver(
            connections, deadline_seconds=settings.time_budget_seconds
        )
        return Scope(ws, config, repo, settings, list(rules), resolver, previous)

    def _fresh(self, previous: PullRequestResult | None, fingerprint: str) -> bool:
        if previous is None or previous.published_at is None:
            return False
        age = utcnow() - previous.published_at
        return previous.fingerprint == fingerprint and age < timedelta(
            seconds=self.options.reuse_seconds
        )

    # -- pull requests ----------------------------------------------------------------------

    async def pull_request(
        self,
        adapter: PlatformAdapter,
        workspace: Workspace,
        config: PlatformConfig,
        slug: str,
        uuid: str,
        pr_id: str,
        delivery: Delivery | None,
        force: bool,
    ) -> Outcome:
        scope = await self.load(workspace, config, slug, uuid, pr_id)
        if delivery is not None and not force:
            fingerprint = pr_fingerprint(
                delivery.head,
                delivery.title,
                delivery.description,
                delivery.source_branch,
                delivery.destination_branch,
            )
            if self._fresh(scope.previous, fingerprint):
                return Outcome("reused", scope.previous.evaluation_id if scope.previous else None)
        details = await adapter.fetch_pull_request(slug, pr_id)
        fingerprint = pr_fingerprint(
            details.head,
            details.title,
            details.description,
            details.source_branch,
            details.destination_branch,
        )
        previous = scope.previous
        if details.state != "OPEN":
            return Outcome("closed", note=f"the pull request is {details.state}")
        if not force and self._fresh(previous, fingerprint):
            return Outcome("reused", previous.evaluation_id if previous else None)
        await adapter.publish_status(
            slug,
            details.head,
            results.in_progress_status(url="", refname=details.source_branch),
        )
        started = time.perf_counter()
        evaluation = await evaluate(
            details.event(slug),
            scope.rules,
            scope.resolver,
            settings=scope.settings,
            run_cpu=self.state.cpu.run,  # CPU stages off the event loop
        )
        evaluation_id = await self.store(scope, evaluation, details, started)
        link = evaluation_link(config, self.options, workspace.slug, evaluation_id)
        status = results.build_status(evaluation, url=link, refname=details.source_branch)
        await adapter.publish_status(slug, details.head, status)
        replace = previous is not None and previous.head == details.head
        await adapter.publish_report(
            slug, details.head, results.report(evaluation, link=link), replace=replace
        )
        verdict = await self.review(adapter, scope, pr_id, evaluation)
        await self.remember(scope, details, fingerprint, evaluation, evaluation_id, verdict)
        return Outcome("done", evaluation_id)

    async def review(
        self, adapter: PlatformAdapter, scope: Scope, pr_id: str, evaluation: Evaluation
    ) -> str:
        before = scope.previous.verdict if scope.previous else ""
        if scope.settings.review_pull_requests:
            verdict = results.verdict(evaluation)
            if verdict.value != before:
                await adapter.review(scope.repository.slug, pr_id, verdict)
            return verdict.value
        if before:
            await adapter.review(scope.repository.slug, pr_id, ReviewVerdict.WITHDRAW)
        return ""

    async def store(
        self,
        scope: Scope,
        evaluation: Evaluation,
        details: PullRequestDetails | None,
        started: float,
        *,
        branch: str = "",
    ) -> int:
        """Keep the evaluation like the Validation API does (source ``bitbucket-cloud``)."""
        event = evaluation.event
        values = queries.evaluation_values(
            evaluation,
            workspace_id=scope.workspace.id,
            repository_id=scope.repository.id,
            source=PLATFORM,
            event=_event_json(event, scope.repository.slug, details),
            document=await self.state.cpu.run(evaluation.to_document, "en-US"),
            duration_ms=(time.perf_counter() - started) * 1000,
            branch=branch,
        )
        async with self.state.database.session() as session, self.state.database.writing():
            evaluation_id = await queries.insert_evaluation(session, values)
            await session.commit()
        return evaluation_id

    async def remember(
        self,
        scope: Scope,
        details: PullRequestDetails,
        fingerprint: str,
        evaluation: Evaluation,
        evaluation_id: int,
        verdict: str,
    ) -> None:
        async with self.state.database.session() as session:
            found = await session.execute(
                select(PullRequestResult).where(
                    PullRequestResult.repository_id == scope.repository.id,
                    PullRequestResult.platform == PLATFORM,
                    PullRequestResult.pull_request_id == details.id,
                )
            )
            state = found.scalar_one_or_none()
            if state is None:
                state = PullRequestResult(
                    workspace_id=scope.workspace.id,
                    repository_id=scope.repository.id,
                    platform=PLATFORM,
                    pull_request_id=details.id,
                )
                session.add(state)
            state.source_branch = details.source_branch[:500]
            state.head = details.head
            state.fingerprint = fingerprint
            state.result = evaluation.result.value
            state.verdict = verdict
            state.open = True
            state.evaluation_id = evaluation_id
            state.published_at = utcnow()
            await session.commit()

    async def closed(
        self, workspace: Workspace, config: PlatformConfig, delivery: Delivery
    ) -> None:
        async with self.state.database.session() as session:
            repo = await queries.repository_by_slug(session, workspace.id, delivery.repository)
            if repo is None:
                return
            found = await session.execute(
                select(PullRequestResult).where(
                    PullRequestResult.repository_id == repo.id,
                    PullRequestResult.platform == PLATFORM,
                    PullRequestResult.pull_request_id == delivery.pull_request_id,
                )
            )
            state = found.scalar_one_or_none()
            if state is not None:
                state.open = False
                await session.commit()

    # -- pushes -----------------------------------------------------------------------------

    async def push(
        self,
        adapter: PlatformAdapter,
        workspace: Workspace,
        config: PlatformConfig,
        delivery: Delivery,
    ) -> Outcome:
        """Branch-only rules on a branch without an open PR (the PR's own evaluation covers
        the rest, and Bitbucket lists at most 5 commits per push)."""
        scope = await self.load(
            workspace, config, delivery.repository, delivery.repository_uuid, ""
        )
        last: int | None = None
        for change in delivery.pushes:
            async with self.state.database.session() as session:
                has_pr = await session.execute(
                    select(PullRequestResult.id).where(
                        PullRequestResult.repository_id == scope.repository.id,
                        PullRequestResult.source_branch == change.branch,
                        PullRequestResult.open.is_(True),
                    )
                )
                if has_pr.first() is not None:
                    continue
            started = time.perf_counter()
            event = Event(
                Trigger.PULL_REQUEST, branch=change.branch, repository=scope.repository.slug
            )
            evaluation = await evaluate(
                event,
                scope.rules,
                scope.resolver,
                settings=scope.settings,
                run_cpu=self.state.cpu.run,
            )
            if evaluation.result is Status.IGNORE or not change.head:
                continue  # no branch rule applies: nothing worth a status
            last = await self.store(scope, evaluation, None, started)
            link = evaluation_link(config, self.options, workspace.slug, last)
            status = results.build_status(evaluation, url=link, refname=change.branch)
            await adapter.publish_status(scope.repository.slug, change.head, status)
        return Outcome("done", last)


def _event_json(
    event: Event, repository: str, details: PullRequestDetails | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "trigger": event.trigger.value,
        "branch": event.branch,
        "repository": repository,
        "platform": PLATFORM,
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
