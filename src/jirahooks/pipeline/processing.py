"""Processing one stored delivery: fetch the PR, evaluate PULL_REQUEST rules, store the
evaluation, publish status + report + review verdict, remember what was published.

Database sessions are short (load, store, remember); network calls happen between them, so a
slow Bitbucket or Jira never holds a database transaction open.

Publishing is compare-and-set per pull request (docs/decisions/0002-database-as-queue.md):

- the delivery first takes the PR's lease (``pull_request_results.lease_owner/lease_until``,
  renewed by the worker's heartbeat) and the next evaluation sequence number ``seq``; a PR whose
  lease another worker holds is rescheduled (:class:`Busy`), so one evaluation of a PR runs at a
  time across every process;
- the PR is fetched from the API (its *current* head and every commit), evaluated, and status and
  report are published from that one evaluation (the same evaluation id in both links) — and
  only while this delivery still holds the lease with ``seq`` above ``published_seq``: an older
  evaluation never overwrites a newer one;
- what was published is recorded (``evaluation_id``, ``published_seq``; the veto's
  ``review_evaluation_id``), so a delivery processed again after a crash publishes nothing twice;
- ``repo:push`` evaluates nothing itself: it queues a full evaluation of each open PR whose source
  is the pushed branch (listed from the API) and posts nothing for a branch without a PR.
"""

from __future__ import annotations

import functools
import time
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks import tracing
from jirahooks.engine import Evaluation, evaluate
from jirahooks.pipeline import statements
from jirahooks.pipeline import timing as pr_timing
from jirahooks.pipeline.options import Adapters, WorkerOptions, evaluation_link
from jirahooks.pipeline.queue import enqueue
from jirahooks.pipeline.rechecks import keys_of
from jirahooks.pipeline.work import (
    Busy,
    Lease,
    LeaseLost,
    Outcome,
    Permanent,
    Record,
    Scope,
    Work,
    event_json,
    find_or_register,
    head_published,
    insert_for,
    pr_row,
)
from jirahooks.platforms import registry, results
from jirahooks.platforms.base import (
    Delivery,
    DeliveryKind,
    PlatformAdapter,
    PullRequestDetails,
    ReviewVerdict,
    WebhookError,
    pr_fingerprint,
)
from jirahooks.server import metrics
from jirahooks.store import pr_keys, queries
from jirahooks.store.deliveries import Claimed, DeliveryRow, PlatformConfig, PullRequestResult
from jirahooks.store.models import Workspace, utcnow

if TYPE_CHECKING:
    from jirahooks.server.state import AppState


class Processor:
    """Processes deliveries for one app (shared by the worker's tasks)."""

    def __init__(self, state: AppState, adapters: Adapters, options: WorkerOptions) -> None:
        self.state = state
        self.adapters = adapters
        self.options = options

    # -- entry point ------------------------------------------------------------------------

    async def process(
        self, delivery_id: int, token: str = "", claimed: Claimed | None = None
    ) -> Outcome:
        """Process one delivery; ``token`` is the worker's lease token for it (the PR's lease is
        taken with the same token, so the worker's heartbeat renews both). ``claimed``: the
        delivery as the claim returned it (its row is then not read again)."""
        token = token or f"direct/{delivery_id}"
        tracing.begin(tracing.request_id() or None, delivery_id=delivery_id)  # logs, evaluation
        if claimed is None or claimed.body is None:
            async with pr_timing.session(self.state.database) as session:
                row = await session.get(DeliveryRow, delivery_id)
                if row is None:
                    return Outcome("ignored", note="deleted")
                claimed = Claimed.of(row)
        work = Work(delivery_id, token, claimed.evaluation_id, claimed.tries, claimed.platform)
        workspace_id = claimed.workspace_id
        if claimed.origin != "webhook":
            return await self.pull_request(
                workspace_id,
                claimed.repository,
                "",
                claimed.pull_request_id,
                None,
                claimed.force,
                work,
            )
        host = registry.host(claimed.platform)
        if host is None:
            raise Permanent(f"no host is registered for platform '{claimed.platform}'")
        try:
            # up to a MiB of JSON: off the event loop, like the webhook handler parses it
            delivery = await self.state.cpu.run(
                host.parse, dict(claimed.headers or {}), (claimed.body or "").encode()
            )
        except WebhookError as exc:
            raise Permanent(exc.message) from exc
        if host.scoped is not None:
            # the intake stored the repository as placed in the configuration's remote
            # workspace (``Host.scoped``) when it accepted the delivery: that one stands
            delivery = replace(delivery, workspace="", repository=claimed.repository)
        if delivery.kind is DeliveryKind.PULL_REQUEST:
            return await self.pull_request(
                workspace_id,
                delivery.repository,
                delivery.repository_uuid,
                delivery.pull_request_id,
                delivery,
                claimed.force,
                work,
            )
        if delivery.kind is DeliveryKind.PULL_REQUEST_CLOSED:
            await self.closed(workspace_id, delivery, claimed.platform)
            return Outcome("closed")
        if delivery.kind is DeliveryKind.PUSH:
            return await self.push(workspace_id, delivery, work)
        return Outcome("ignored")

    # -- loading ----------------------------------------------------------------------------

    @staticmethod
    async def _context(
        session: AsyncSession, workspace_id: int, platform: str
    ) -> tuple[Workspace, PlatformConfig]:
        """The workspace and its configuration for ``platform``, in one statement."""
        found = (
            await session.execute(_context_statement(), {"id": workspace_id, "platform": platform})
        ).first()
        if found is None or found[1] is None:
            host = registry.host(platform)
            title = host.title if host is not None else platform
            raise Permanent(f"the workspace has no {title} configuration any more")
        return found[0], found[1]

    async def load(
        self, workspace_id: int, slug: str, uuid: str, pr_id: str, platform: str
    ) -> Scope:
        async with pr_timing.session(self.state.database) as session:
            workspace, config = await self._context(session, workspace_id, platform)
            scope = await self._load_in(session, workspace, config, slug, uuid, pr_id)
            await session.commit()
        return scope

    async def _load_in(
        self,
        session: AsyncSession,
        workspace: Workspace,
        config: PlatformConfig,
        slug: str,
        uuid: str,
        pr_id: str,
    ) -> Scope:
        # the configuration snapshot the Validation API uses (store/config_cache.py): one query
        # while the workspace's configuration is unchanged, instead of one per table
        snap = await self.state.config_cache.workspace(session, workspace.slug)
        if snap is None or snap.id != workspace.id:
            raise Permanent(f"workspace '{workspace.slug}' does not exist any more")
        found = await snap.repository_by_slug(session, slug)
        if found is None and uuid:
            found = await snap.repository_by_uuid(session, uuid)
        if found is None:
            ws = await session.get(Workspace, workspace.id)
            assert ws is not None
            registered = await find_or_register(
                session, ws, slug, uuid, config.register_unknown_repositories
            )
            if registered is None:
                raise Permanent(f"repository '{slug}' is not registered in '{ws.slug}'")
            await session.commit()  # the registration bumps the version: a new snapshot
            snap = await self.state.config_cache.workspace(session, workspace.slug)
            found = None if snap is None else await snap.repository_by_slug(session, slug)
            if snap is None or found is None:
                raise Permanent(f"repository '{slug}' is not registered in '{workspace.slug}'")
        settings = snap.repository_settings(found)
        rules = await snap.rules_for(session, found, self.state.cpu.run)
        connections = await snap.connections_for(session, found)
        previous = None
        if pr_id:
            previous = await pr_row(session, found.id, pr_id, config.platform)
        resolver = self.state.resolvers.resolver(
            connections, deadline_seconds=settings.time_budget_seconds
        )
        ws, repo = snap.row, found.row
        return Scope(ws, config, repo, settings, list(rules), resolver, previous)

    async def prepare(
        self,
        workspace_id: int,
        slug: str,
        uuid: str,
        pr_id: str,
        work: Work,
        delivery: Delivery | None,
    ) -> tuple[Scope, Lease, bool]:
        """Load the workspace, its configuration and the scope, take the PR's lease, tell
        whether the payload may stand in for the PR (:meth:`_payload_current`) and whether
        another PR's result may be on the payload's head — one session, one transaction for the
        writes (a round trip per statement, no more sessions than needed: at a burst's rate
        the database's round trips are the cost). On SQLite under the process's writer lock."""
        database = self.state.database
        async with pr_timing.session(database) as session, database.writing():
            workspace, config = await self._context(session, workspace_id, work.platform)
            scope = await self._load_in(session, workspace, config, slug, uuid, pr_id)
            if database.dialect == "sqlite":
                # end the read transaction: SQLite refuses to turn a read transaction into a
                # write one once another connection (the webhook intake) wrote meanwhile
                await session.commit()
            lease = await self._acquire_in(session, scope, pr_id, work.token)
            current = await self._payload_current(session, scope, delivery, work, pr_id)
            if delivery is not None and delivery.head and current:
                scope.head_shown = await head_published(
                    session, scope.repository.id, pr_id, delivery.head
                )
            await session.commit()
        return scope, lease, current

    def _fresh(self, previous: PullRequestResult | None, fingerprint: str) -> bool:
        if previous is None or previous.published_at is None or previous.evaluation_id is None:
            return False
        age = utcnow() - previous.published_at
        return previous.fingerprint == fingerprint and age < timedelta(
            seconds=self.options.reuse_seconds
        )

    # -- the pull request's lease (compare-and-set) -----------------------------------------

    async def acquire(self, scope: Scope, pr_id: str, token: str) -> Lease:
        """Take the PR's lease and the next evaluation sequence number (raises :class:`Busy`
        when another worker holds the lease); ``scope.previous`` is re-read under it."""
        async with pr_timing.session(self.state.database) as session:
            lease = await self._acquire_in(session, scope, pr_id, token)
            await session.commit()
            return lease

    async def _acquire_in(
        self, session: AsyncSession, scope: Scope, pr_id: str, token: str
    ) -> Lease:
        """Take the lease in the session's transaction (the caller commits; :class:`Busy`
        after a rollback)."""
        now = utcnow()
        until = now + timedelta(seconds=self.options.lease_seconds)
        state = scope.previous
        if state is None:
            # a PR seen for the first time: its row is created holding the lease, in one
            # statement; another worker that created it at the same moment makes it conflict
            created = await session.execute(
                _create_statement(self.state.database.dialect),
                {
                    "c_workspace": scope.workspace.id,
                    "c_repository": scope.repository.id,
                    "c_platform": scope.config.platform,
                    "c_pr": pr_id,
                    "c_token": token,
                    "c_until": until,
                },
            )
            fresh = created.scalar_one_or_none()
            if fresh is not None:
                scope.previous = fresh
                return Lease(token, fresh.id, fresh.seq)
            state = await pr_row(session, scope.repository.id, pr_id, scope.config.platform)
            assert state is not None
        row_id = state.id
        taken = await session.execute(
            _take_statement(), {"row": row_id, "token": token, "now": now, "until": until}
        )
        current = taken.scalar_one_or_none()
        if current is None:
            found = await session.get(PullRequestResult, row_id, populate_existing=True)
            until_then = (found.lease_until if found else None) or until
            await session.rollback()
            raise Busy(until_then)
        scope.previous = current
        return Lease(token, row_id, current.seq)

    async def _holding(self, lease: Lease, **values: Any) -> bool:
        """Compare-and-set on the PR row: apply ``values`` only while ``lease`` is held and no
        newer evaluation was published (``published_seq`` below ours)."""
        async with pr_timing.session(self.state.database) as session:
            held = await self._holding_in(session, lease, **values)
            await session.commit()
            return held

    async def _holding_in(self, session: AsyncSession, lease: Lease, **values: Any) -> bool:
        until = utcnow() + timedelta(seconds=self.options.lease_seconds)
        return await statements.set_pr(
            session, lease.row_id, lease.token, {"lease_until": until, **values}, seq=lease.seq
        )

    # -- fewer Bitbucket requests (docs/bitbucket-cloud.md, "Requests per pull request") -----

    async def _payload_current(
        self,
        session: AsyncSession,
        scope: Scope,
        delivery: Delivery | None,
        work: Work,
        pr_id: str,
    ) -> bool:
        """Whether the webhook payload may stand in for ``GET …/pullrequests/{id}`` (the
        adapter still checks its head against the commit list): a first attempt of the newest
        delivery of this PR. A retried delivery may be hours old, and a newer delivery means
        the PR changed since this payload was sent: then the PR is fetched."""
        if delivery is None or not delivery.head or work.tries > 1 or not work.id:
            return False
        newer = await session.scalar(
            _newer_statement(),
            {
                "id": work.id,
                "workspace": scope.workspace.id,
                "repository": delivery.repository,
                "pr": pr_id,
            },
        )
        return newer is None

    async def _holding_and_shown(
        self, lease: Lease, scope: Scope, commit: str
    ) -> tuple[bool, bool]:
        """Whether ``lease`` is still held (renewing it, as :meth:`_holding`), and whether a
        result of ours may be on ``commit``: a retry, or any PR of the repository published
        on that head (two PRs from one branch share their head commit) — one session."""
        async with pr_timing.session(self.state.database) as session:
            held = await self._holding_in(session, lease)
            shown = scope.thorough or (scope.previous is not None and scope.previous.head == commit)
            if held and not shown:
                found = await session.scalar(
                    select(PullRequestResult.id)
                    .where(
                        PullRequestResult.repository_id == scope.repository.id,
                        PullRequestResult.head == commit,
                    )
                    .limit(1)
                )
                shown = found is not None
            await session.commit()
        return held, shown

    @staticmethod
    def _sent(scope: Scope, before: str) -> ReviewVerdict | None:
        """The verdict we sent last, when it is known for sure (not after a failed attempt)."""
        if scope.thorough:
            return None
        try:
            return ReviewVerdict(before) if before else ReviewVerdict.WITHDRAW
        except ValueError:
            return None

    # -- pull requests ----------------------------------------------------------------------

    async def pull_request(
        self,
        workspace_id: int,
        slug: str,
        uuid: str,
        pr_id: str,
        delivery: Delivery | None,
        force: bool,
        work: Work | None = None,
    ) -> Outcome:
        work = work or Work(0, f"direct/{slug}/{pr_id}", None)
        scope, lease, payload_current = await self.prepare(
            workspace_id, slug, uuid, pr_id, work, delivery
        )
        workspace, config = scope.workspace, scope.config
        adapter: PlatformAdapter = await self.adapters.get(config, workspace.slug)
        stage = _stage_of(config.platform)
        previous = scope.previous
        # a delivery tried before may have published part of its result: undo and redo all
        scope.thorough = work.tries > 1
        if delivery is not None and not force:
            fingerprint = pr_fingerprint(
                delivery.head,
                delivery.title,
                delivery.description,
                delivery.source_branch,
                delivery.destination_branch,
            )
            if self._fresh(previous, fingerprint):
                return await self.reuse(adapter, scope, lease, pr_id)
        known = delivery if payload_current else None
        with pr_timing.stage(stage):
            details = await adapter.fetch_pull_request(slug, pr_id, known=known)
        fingerprint = pr_fingerprint(
            details.head,
            details.title,
            details.description,
            details.source_branch,
            details.destination_branch,
        )
        if details.state != "OPEN":
            return Outcome("closed", note=f"the pull request is {details.state}")
        if (
            work.evaluation_id is not None
            and previous is not None
            and previous.evaluation_id == work.evaluation_id
            and previous.head == details.head
        ):
            # processed again after a crash: this delivery's evaluation is already published on
            # the current head — publish nothing twice, only finish the veto if it is missing
            return await self.reuse(adapter, scope, lease, pr_id)
        if not force and self._fresh(previous, fingerprint):
            return await self.reuse(adapter, scope, lease, pr_id)
        if known is not None and details.head.startswith(known.head):
            # the payload's head is the PR's: what may show on it was read with the lease
            shown = (
                scope.thorough
                or scope.head_shown
                or (previous is not None and bool(previous.head) and previous.head == details.head)
            )
            held = not shown or await self._holding(lease)
        else:
            held, shown = await self._holding_and_shown(lease, scope, details.head)
        if not held:  # fetching took longer than the lease: stop here
            raise LeaseLost(f"pull request {pr_id}: a newer evaluation took over")
        # Our earlier result may be on this commit (a re-evaluation of the head, or a retry):
        # INPROGRESS first, so the merge check does not pass on it meanwhile, and the report is
        # replaced. A commit nothing was published on shows no status, which the merge check
        # ("N successful builds, none in progress") does not pass either: nothing to post yet.
        if shown:
            with pr_timing.stage(stage):
                await adapter.publish_status(
                    slug,
                    details.head,
                    results.in_progress_status(url="", refname=details.source_branch),
                )
        started = time.perf_counter()
        stages = metrics.stages(self.state, config.platform)  # metrics: stage times at the caller
        evaluation = await evaluate(
            details.event(slug),
            scope.rules,
            stages.resolver(scope.resolver),
            settings=scope.settings,
            run_cpu=stages.cpu(self.state.cpu.run),  # CPU stages off the event loop
        )
        stages.evaluated(evaluation, workspace=workspace.slug, repository=slug)
        evaluation_id, held = await self.store(
            scope, evaluation, details, started, delivery=work.id, lease=lease
        )
        if not held:
            raise LeaseLost(f"pull request {pr_id}: a newer evaluation took over")
        link = evaluation_link(config, self.options, workspace.slug, evaluation_id)
        status = results.build_status(evaluation, url=link, refname=details.source_branch)
        with pr_timing.stage(stage):
            await adapter.publish_status(slug, details.head, status)
        timeline = pr_timing.current()
        if timeline is not None:
            timeline.since_receipt("final", utcnow())
        with pr_timing.stage(stage):
            await adapter.publish_report(
                slug, details.head, results.report(evaluation, link=link), replace=shown
            )
        # the new head's published result: written under the PR's lease with the delivery's
        # outcome (one transaction) — or, when a veto is to be sent, before it, so a worker
        # that dies while sending the veto leaves a result its successor does not publish again
        published: dict[str, Any] = {
            "source_branch": details.source_branch[:500],
            "head": details.head,
            "fingerprint": fingerprint,
            "result": evaluation.result.value,
            "open": True,
            "evaluation_id": evaluation_id,
            "published_seq": lease.seq,
            "published_at": utcnow(),
        }
        if not (scope.settings.review_pull_requests or (previous and previous.verdict)):
            return Outcome("done", evaluation_id, record=Record(lease, published))
        if not await self._holding(lease, **published):
            raise LeaseLost(f"pull request {pr_id}: a newer evaluation took over")
        values = await self.review(
            adapter, scope, pr_id, details.head, evaluation_id, evaluation.result.value
        )
        record = Record(lease, values, newer=False) if values else None
        return Outcome("done", evaluation_id, record=record)

    async def reuse(
        self, adapter: PlatformAdapter, scope: Scope, lease: Lease, pr_id: str
    ) -> Outcome:
        """The published result stands; the veto follows it if it was not sent yet."""
        previous = scope.previous
        assert previous is not None and previous.evaluation_id is not None
        values = await self.review(
            adapter, scope, pr_id, previous.head, previous.evaluation_id, previous.result
        )
        record = Record(lease, values, newer=False) if values else None
        return Outcome("reused", previous.evaluation_id, record=record)

    async def review(
        self,
        adapter: PlatformAdapter,
        scope: Scope,
        pr_id: str,
        head: str,
        evaluation_id: int,
        result: str,
    ) -> dict[str, Any]:
        """The veto follows the head: (re)sent for every evaluation of a new head or a changed
        verdict — Bitbucket may have reset reviews on push — and never twice for one
        evaluation. Returns what to remember on the PR row (nothing when nothing changed)."""
        stage = _stage_of(scope.config.platform)
        state = scope.previous
        before = state.verdict if state else ""
        if scope.settings.review_pull_requests:
            if state is not None and state.review_evaluation_id == evaluation_id:
                return {}  # this evaluation's verdict was sent already
            verdict = results.verdict_of(result)
            if verdict.value != before or state is None or state.review_head != head:
                with pr_timing.stage(stage):
                    await adapter.review(
                        scope.repository.slug, pr_id, verdict, previous=self._sent(scope, before)
                    )
            return {
                "verdict": verdict.value,
                "review_head": head,
                "review_evaluation_id": evaluation_id,
            }
        if before:
            with pr_timing.stage(stage):
                await adapter.review(
                    scope.repository.slug,
                    pr_id,
                    ReviewVerdict.WITHDRAW,
                    previous=self._sent(scope, before),
                )
            return {"verdict": "", "review_head": "", "review_evaluation_id": None}
        return {}

    async def store(
        self,
        scope: Scope,
        evaluation: Evaluation,
        details: PullRequestDetails | None,
        started: float,
        *,
        branch: str = "",
        delivery: int = 0,
        lease: Lease | None = None,
    ) -> tuple[int, bool]:
        """Keep the evaluation like the Validation API does (source ``bitbucket-cloud``), and
        note it on the delivery (a delivery processed again after a crash then knows it);
        with ``lease``, check and renew it in the same transaction. Returns the evaluation's
        id and whether the lease is still held (always true without one)."""
        event = evaluation.event
        values = queries.evaluation_values(
            evaluation,
            workspace_id=scope.workspace.id,
            repository_id=scope.repository.id,
            source=scope.config.platform,
            event=event_json(event, scope.repository.slug, details, scope.config.platform),
            document=await self.state.cpu.run(evaluation.to_document, "en-US"),
            duration_ms=(time.perf_counter() - started) * 1000,
            branch=branch,
            config_version=scope.workspace.config_version,  # evidence: the rules' version
        )
        async with (
            pr_timing.session(self.state.database) as session,
            self.state.database.writing(),
            metrics.timed(self.state, "store", scope.config.platform),
        ):
            evaluation_id = await queries.insert_evaluation(
                session, values, run_cpu=self.state.cpu.run
            )
            # the keys it used: a change of one in Jira re-evaluates this PR (pipeline.rechecks)
            pr_keys.record(session, scope.workspace.id, evaluation_id, keys_of(evaluation))
            if delivery:
                await statements.set_delivery(session, delivery, {"evaluation_id": evaluation_id})
            held = await self._holding_in(session, lease) if lease is not None else True
            await session.commit()
        return evaluation_id, held

    async def closed(self, workspace_id: int, delivery: Delivery, platform: str) -> None:
        async with pr_timing.session(self.state.database) as session:
            await self._context(
                session, workspace_id, platform
            )  # still configured (else Permanent)
            repo = await queries.repository_by_slug(session, workspace_id, delivery.repository)
            if repo is None:
                return
            state = await pr_row(session, repo.id, delivery.pull_request_id, platform)
            if state is not None:
                state.open = False
                await session.commit()

    # -- pushes -----------------------------------------------------------------------------

    async def push(self, workspace_id: int, delivery: Delivery, work: Work) -> Outcome:
        """A push evaluates nothing by itself (its payload lists at most 5 commits and no PR):
        every open PR whose source is a pushed branch — listed from the API, so a PR jirahooks
        has not heard of yet is found too — gets a full evaluation queued (origin ``push``); a
        branch without an open PR gets nothing (docs/bitbucket-cloud.md)."""
        scope = await self.load(
            workspace_id, delivery.repository, delivery.repository_uuid, "", work.platform
        )
        adapter = await self.adapters.get(scope.config, scope.workspace.slug)
        slug = scope.repository.slug
        host = registry.host(work.platform)
        if host is not None and host.head_check is not None:
            with pr_timing.stage(host.stage):
                details = await host.head_check(adapter, delivery)
            if details is not None:
                return await self.head(scope, adapter, details, work)
        queued = 0
        for change in delivery.pushes:
            prs = await adapter.list_open_pull_requests(slug, source_branch=change.branch)
            for pr in prs:
                made = await enqueue(
                    self.state,
                    workspace_id,
                    "push",
                    f"push|{work.id}|{slug}|{pr.id}|{change.head}",
                    slug,
                    pr.id,
                    head=pr.head,
                    platform=scope.config.platform,
                )
                queued += made is not None
        note = f"{queued} pull request evaluation(s) queued" if queued else "no open pull request"
        return Outcome("done", None, note)

    async def head(
        self, scope: Scope, adapter: PlatformAdapter, details: PullRequestDetails, work: Work
    ) -> Outcome:
        """A head the host wants judged although no PR has it (``Host.head_check``: GitHub's
        merge queue asks every required check to report on its merge group's commit, or the
        queue waits for ever): evaluated like a PR, stored, status and report published on
        it. No PR row, no lease, no review: the head belongs to no pull request; a retry
        replaces what an earlier attempt may have published."""
        stage = _stage_of(scope.config.platform)
        slug = scope.repository.slug
        started = time.perf_counter()
        stages = metrics.stages(self.state, scope.config.platform)
        evaluation = await evaluate(
            details.event(slug),
            scope.rules,
            stages.resolver(scope.resolver),
            settings=scope.settings,
            run_cpu=stages.cpu(self.state.cpu.run),
        )
        stages.evaluated(evaluation, workspace=scope.workspace.slug, repository=slug)
        evaluation_id, _ = await self.store(
            scope, evaluation, details, started, branch=details.source_branch, delivery=work.id
        )
        link = evaluation_link(scope.config, self.options, scope.workspace.slug, evaluation_id)
        status = results.build_status(evaluation, url=link, refname=details.source_branch)
        with pr_timing.stage(stage):
            await adapter.publish_status(slug, details.head, status)
            await adapter.publish_report(
                slug, details.head, results.report(evaluation, link=link), replace=work.tries > 1
            )
        return Outcome("done", evaluation_id, f"{details.head[:12]} checked")


@functools.cache
def _context_statement() -> Any:
    """The workspace ``id`` and its configuration for ``platform``, built once."""
    return (
        select(Workspace, PlatformConfig)
        .outerjoin(
            PlatformConfig,
            (PlatformConfig.workspace_id == Workspace.id)
            & (PlatformConfig.platform == bindparam("platform")),
        )
        .where(Workspace.id == bindparam("id"))
    )


@functools.cache
def _create_statement(dialect: str) -> Any:
    """A PR seen for the first time: its row created holding the lease (``token`` until
    ``until``), or nothing when another worker created it at the same moment; built once."""
    return (
        insert_for(dialect)(PullRequestResult)
        .values(
            workspace_id=bindparam("c_workspace"),
            repository_id=bindparam("c_repository"),
            platform=bindparam("c_platform"),
            pull_request_id=bindparam("c_pr"),
            lease_owner=bindparam("c_token"),
            lease_until=bindparam("c_until"),
            seq=1,
        )
        .on_conflict_do_nothing(index_elements=["repository_id", "platform", "pull_request_id"])
        .returning(PullRequestResult)
        .execution_options(populate_existing=True)
    )


@functools.cache
def _take_statement() -> Any:
    """The PR row ``row``'s lease taken by ``token`` until ``until`` (when free, expired at
    ``now`` or its own) with the next sequence number; built once."""
    return (
        update(PullRequestResult)
        .where(
            PullRequestResult.id == bindparam("row"),
            (PullRequestResult.lease_owner == "")
            | (PullRequestResult.lease_owner == bindparam("token"))
            | (PullRequestResult.lease_until.is_(None))
            | (PullRequestResult.lease_until < bindparam("now")),
        )
        .values(
            lease_owner=bindparam("token"),
            lease_until=bindparam("until"),
            seq=PullRequestResult.seq + 1,
        )
        .returning(PullRequestResult)
        .execution_options(synchronize_session=False, populate_existing=True)
    )


@functools.cache
def _newer_statement() -> Any:
    """A delivery of the PR newer than delivery ``id`` (a primary-key range: only newer rows are
    read), built once."""
    return (
        select(DeliveryRow.id)
        .where(
            DeliveryRow.id > bindparam("id"),
            DeliveryRow.workspace_id == bindparam("workspace"),
            DeliveryRow.repository == bindparam("repository"),
            DeliveryRow.pull_request_id == bindparam("pr"),
        )
        .limit(1)
    )


def _stage_of(platform: str) -> str:
    """The timing stage of a host's requests (``pipeline.timing``)."""
    host = registry.host(platform)
    return host.stage if host is not None else platform
