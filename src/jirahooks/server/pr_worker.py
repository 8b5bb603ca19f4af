"""The background worker: drains the durable delivery queue and reconciles open pull requests.

- Started by the app's lifespan (``jirahooks.server.webhooks``) as asyncio tasks; the webhook
  handler wakes it, and it also polls, so deliveries stored before a restart are picked up on
  the next start.
- A delivery is *claimed* by an atomic ``UPDATE … WHERE state = 'pending'`` (safe with several
  server processes); a claim that is not finished within the lease is taken again.
- Deliveries of one pull request run one after another, in arrival order; different PRs run
  concurrently (``concurrency``).
- Transient failures (Bitbucket unavailable or rate limited, Jira down, credentials rejected)
  are retried with exponential backoff; after ``max_tries`` the delivery is marked ``failed`` and
  kept for inspection. Permanent problems (malformed payload, unknown repository) fail at once.
- Reconciliation: every ``reconcile_seconds``, open PRs of every registered repository whose head
  has no published result are queued (``GET …/pullrequests?state=OPEN``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from jirahooks.errors import JirahooksError
from jirahooks.platforms.base import PlatformError, PlatformRequestError
from jirahooks.platforms.bitbucket_cloud import PLATFORM
from jirahooks.server.platform_config import Adapters, WorkerOptions
from jirahooks.server.pr_processing import Outcome, Permanent, Processor
from jirahooks.store.deliveries import DeliveryRow, PlatformConfig, PullRequestResult
from jirahooks.store.models import Repository, Workspace, utcnow

if TYPE_CHECKING:
    from jirahooks.server.app import AppState

log = logging.getLogger("jirahooks.server.webhooks")

BATCH = 100


class PrWorker:
    """See the module docstring."""

    def __init__(self, state: AppState, options: WorkerOptions) -> None:
        self.state = state
        self.options = options
        self.loop = asyncio.get_running_loop()  # built inside the lifespan
        self.adapters = Adapters(state.secrets, options)
        self.processor = Processor(state, self.adapters, options)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()  # pull requests being processed
        self._slots = asyncio.Semaphore(options.concurrency)
        self.processed = 0

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._drain_loop(), name="jirahooks-pr-worker"))
        if self.options.reconcile_seconds > 0:
            self._tasks.append(
                asyncio.create_task(self._reconcile_loop(), name="jirahooks-pr-reconcile")
            )

    async def stop(self) -> None:
        for task in [*self._tasks, *self._running]:
            task.cancel()
        for task in [*self._tasks, *self._running]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self._running.clear()
        await self.adapters.aclose()

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    # -- the queue --------------------------------------------------------------------------

    async def _drain_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except Exception:
                log.exception("webhook worker: draining the queue failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.options.poll_seconds)

    async def drain(self) -> int:
        """Claim due deliveries and start processing them; returns how many were started."""
        now = utcnow()
        expired = now - timedelta(seconds=self.options.lease_seconds)
        async with self.state.database.session() as session:
            rows = await session.execute(
                select(
                    DeliveryRow.id,
                    DeliveryRow.state,
                    DeliveryRow.workspace_id,
                    DeliveryRow.repository,
                    DeliveryRow.pull_request_id,
                )
                .where(
                    or_(
                        and_(DeliveryRow.state == "pending", DeliveryRow.next_attempt_at <= now),
                        and_(DeliveryRow.state == "processing", DeliveryRow.claimed_at < expired),
                    )
                )
                .order_by(DeliveryRow.id)
                .limit(BATCH)
            )
            candidates = rows.all()
        started = 0
        for delivery_id, state, workspace_id, repository, pr_id in candidates:
            key = f"{workspace_id}/{repository}/{pr_id}" if pr_id else f"delivery/{delivery_id}"
            if key in self._busy:
                continue
            if not await self._claim(delivery_id, state):
                continue
            self._busy.add(key)
            task = asyncio.create_task(self._run(delivery_id, key))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            started += 1
        return started

    async def _claim(self, delivery_id: int, state: str) -> bool:
        now = utcnow()
        async with self.state.database.session() as session:
            condition = [DeliveryRow.id == delivery_id, DeliveryRow.state == state]
            if state == "processing":
                condition.append(
                    DeliveryRow.claimed_at < now - timedelta(seconds=self.options.lease_seconds)
                )
            result = await session.execute(
                update(DeliveryRow)
                .where(*condition)
                .values(state="processing", claimed_at=now, tries=DeliveryRow.tries + 1)
            )
            await session.commit()
            return bool(getattr(result, "rowcount", 0) == 1)

    async def _run(self, delivery_id: int, key: str) -> None:
        try:
            async with self._slots:
                await self._process(delivery_id)
        finally:
            self._busy.discard(key)
            self.wake()  # a later delivery of the same PR may be waiting

    async def _process(self, delivery_id: int) -> None:
        try:
            outcome = await self.processor.process(delivery_id)
        except asyncio.CancelledError:
            raise
        except Permanent as exc:
            await self._finish(delivery_id, "failed", error=str(exc))
            log.warning("delivery %s failed: %s", delivery_id, exc)
        except PlatformRequestError as exc:
            await self._finish(delivery_id, "failed", error=exc.message)
            log.warning("delivery %s rejected by Bitbucket: %s", delivery_id, exc.message)
        except (PlatformError, JirahooksError) as exc:
            await self._retry(delivery_id, exc.message)
        except Exception as exc:
            log.exception("delivery %s: unexpected error", delivery_id)
            await self._retry(delivery_id, f"{type(exc).__name__}: {exc}")
        else:
            await self._finish(delivery_id, "done", outcome=outcome)
            self.processed += 1

    async def _finish(
        self, delivery_id: int, state: str, *, error: str = "", outcome: Outcome | None = None
    ) -> None:
        async with self.state.database.session() as session:
            row = await session.get(DeliveryRow, delivery_id)
            if row is None:
                return
            row.state = state if outcome is None else outcome.status
            row.processed_at = utcnow()
            row.last_error = error[:2000]
            if outcome is not None:
                row.evaluation_id = outcome.evaluation_id
            await session.commit()

    async def _retry(self, delivery_id: int, error: str) -> None:
        async with self.state.database.session() as session:
            row = await session.get(DeliveryRow, delivery_id)
            if row is None:
                return
            row.last_error = error[:2000]
            if row.tries >= self.options.max_tries:
                row.state = "failed"
                row.processed_at = utcnow()
                log.error("delivery %s given up after %s tries: %s", delivery_id, row.tries, error)
            else:
                wait = min(
                    self.options.backoff_cap, self.options.backoff_base * 2 ** (row.tries - 1)
                )
                row.state = "pending"
                row.next_attempt_at = utcnow() + timedelta(seconds=wait)
                log.info("delivery %s: %s; retrying in %.0fs", delivery_id, error, wait)
            await session.commit()

    # -- reconciliation ---------------------------------------------------------------------

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.reconcile_seconds)
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconciliation failed")

    async def reconcile(self) -> int:
        """Queue open PRs whose head has no published result; returns how many were queued."""
        async with self.state.database.session() as session:
            found = await session.execute(
                select(PlatformConfig, Workspace)
                .join(Workspace, Workspace.id == PlatformConfig.workspace_id)
                .where(PlatformConfig.platform == PLATFORM)
            )
            configs = [(c, w) for c, w in found.all()]
        queued = 0
        for config, workspace in configs:
            async with self.state.database.session() as session:
                repos = list(
                    (
                        await session.execute(
                            select(Repository).where(Repository.workspace_id == workspace.id)
                        )
                    ).scalars()
                )
                published = await session.execute(
                    select(
                        PullRequestResult.repository_id,
                        PullRequestResult.pull_request_id,
                        PullRequestResult.head,
                    ).where(
                        PullRequestResult.workspace_id == workspace.id,
                        PullRequestResult.published_at.is_not(None),
                    )
                )
                heads = {(r, p): h for r, p, h in published.all()}
            adapter = await self.adapters.get(config, workspace.slug)
            for repo in repos:
                try:
                    open_prs = await adapter.list_open_pull_requests(repo.slug)
                except PlatformError as exc:
                    log.warning("reconciliation of %s/%s: %s", workspace.slug, repo.slug, exc)
                    continue
                for pr in open_prs:
                    head = heads.get((repo.id, pr.id), "")
                    if head and pr.head and head.startswith(pr.head):
                        continue
                    if await enqueue(
                        self.state,
                        workspace.id,
                        "reconcile",
                        f"reconcile|{repo.slug}|{pr.id}|{pr.head}",
                        repo.slug,
                        pr.id,
                        head=pr.head,
                    ):
                        queued += 1
        if queued:
            log.info("reconciliation queued %s pull request(s)", queued)
            self.wake()
        return queued


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
) -> int | None:
    """Queue a synthetic delivery (recheck / reconcile); None when an equal one exists."""
    async with state.database.session() as session:
        row = DeliveryRow(
            workspace_id=workspace_id,
            platform=PLATFORM,
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
