"""The background worker: drains the durable delivery queue and reconciles open pull requests.

- Started by the app's lifespan (``jirahooks.pipeline.intake``) as asyncio tasks; the webhook
  handler wakes it, and it also polls, so deliveries stored before a restart are picked up on
  the next start.
- Deliveries are *claimed* in one statement (``store.deliveries.claim_due``: ``UPDATE … WHERE id
  IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …`` on PostgreSQL, so processes and hosts on one
  database never claim the same row; the same statement under SQLite's single writer), no more
  than this worker has free slots (``concurrency``), each with this worker's lease token
  (``lease_owner``). The lease is short (``lease_seconds``, 15 s) and renewed by a heartbeat
  every ``heartbeat_seconds`` while the delivery is worked on, so a crashed worker's deliveries
  are taken again within seconds while a slow but live one keeps its own. A worker whose lease
  was taken over stops that delivery and finishes nothing (the PR row's compare-and-set refuses
  its publish, see ``pipeline.processing``). Recording an outcome locks the delivery's row before the
  PR's, the order the heartbeat uses.
- Deliveries of one pull request run one after another, in arrival order, across every process:
  the claim takes a PR's oldest claimable delivery only while no other of that PR is under a live
  lease; different PRs run concurrently (``concurrency``). The PR's own lease stays the guard: a
  delivery whose PR is leased elsewhere goes back to the queue until that lease ends (not
  counted as a try).
- Transient failures (Bitbucket unavailable or rate limited, Jira down, credentials rejected)
  are retried with exponential backoff. A ``Retry-After`` from Bitbucket (429/503, seconds or
  HTTP date) reschedules the delivery (``next_attempt_at``) at that time, up to
  ``retry_after_cap`` (15 min) — no worker sleeps through it. Every attempt counts; after
  ``max_tries`` the delivery is marked ``failed`` with ``last_error`` and logged as an error (a
  pull request left so is queued again by reconciliation, and its ``INPROGRESS`` status keeps the
  merge check closed meanwhile). Permanent problems (malformed payload, unknown repository) fail
  at once.
- Reconciliation: every ``reconcile_seconds``, open PRs of every registered repository whose head
  has no published result are queued (``GET …/pullrequests?state=OPEN``) — by one process of the
  deployment, the holder of the leader's advisory lock (``pipeline.leader``).
- ``depth()`` (``store.deliveries.queue_depth``): what waits and since when, for metrics.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import time
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from jirahooks.errors import JirahooksError
from jirahooks.pipeline import statements
from jirahooks.pipeline import timing as pr_timing
from jirahooks.pipeline.leader import Leadership
from jirahooks.pipeline.options import Adapters, WorkerOptions
from jirahooks.pipeline.processing import Processor
from jirahooks.pipeline.queue import enqueue
from jirahooks.pipeline.wakeup import Wakeups
from jirahooks.pipeline.work import Busy, LeaseLost, Outcome, Permanent
from jirahooks.platforms import registry
from jirahooks.platforms.base import PlatformError, PlatformRequestError
from jirahooks.server import metrics
from jirahooks.store.deliveries import (
    Claimed,
    DeliveryRow,
    PlatformConfig,
    PullRequestResult,
    QueueDepth,
    claim_due,
    purge_finished,
    queue_depth,
)
from jirahooks.store.models import Repository, Workspace, utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from jirahooks.server.state import AppState

log = logging.getLogger("jirahooks.server.webhooks")

BATCH = 100
PURGE_SECONDS = 3600.0
PURGE_BATCH = 5000

__all__ = ["PrWorker", "enqueue"]


class PrWorker:
    """See the module docstring."""

    def __init__(self, state: AppState, options: WorkerOptions) -> None:
        self.state = state
        self.options = options
        self.loop = asyncio.get_running_loop()  # built inside the lifespan
        # a host's request budget counts across processes when the deployment has Redis
        self.adapters = Adapters(state.secrets, options, redis_url=state.settings.redis_url)
        self.adapters.metrics = metrics.of(state)
        self.processor = Processor(state, self.adapters, options)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()  # pull requests being processed
        self._slots = asyncio.Semaphore(options.concurrency)
        self.processed = 0
        # the last attempts' timelines (stage times, database sessions), newest last
        self.timelines: collections.deque[pr_timing.Timeline] = collections.deque(maxlen=100)
        # this worker's name in lease tokens (``<owner>/<delivery id>``)
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leadership = Leadership(state.database, self.owner)
        # PostgreSQL: the other processes' workers are woken at once (LISTEN/NOTIFY, 0013)
        self.wakeups: Wakeups | None = None
        if state.database.dialect == "postgresql":
            self.wakeups = Wakeups(state.database.libpq_url, self._wake.set)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self.wakeups is not None:
            self.wakeups.start()
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
        if self.wakeups is not None:
            await self.wakeups.stop()
        await self.leadership.release()
        await self.adapters.aclose()

    def wake(self) -> None:
        """New work is queued (a webhook, a reconciliation): claim it here — or, when every
        slot of this process is taken, let the other processes' workers know at once."""
        self._wake.set()
        if self.wakeups is not None and len(self._running) >= self.options.concurrency:
            self.wakeups.announce()

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    @property
    def alive(self) -> bool:
        """Started and none of its loops has ended (the server's readiness check)."""
        return bool(self._tasks) and not any(t.done() for t in self._tasks)

    async def depth(self) -> QueueDepth:
        """The queue's depth and its oldest due delivery's age (for metrics and health)."""
        async with self.state.database.session() as session:
            return await queue_depth(session)

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
        """Claim as many due deliveries as there are free slots and start processing them;
        returns how many were started. Claiming no more than can run keeps every claimed
        delivery under a heartbeat: a delivery waiting in this process for a slot would let
        its lease run out and be taken by another process."""
        free = self.options.concurrency - len(self._running)
        if free <= 0:
            return 0
        started = time.perf_counter()
        async with self.state.database.session() as session, self.state.database.writing():
            claimed = await claim_due(
                session,
                owner=self.owner,
                limit=min(free, BATCH),
                lease_seconds=self.options.lease_seconds,
                skip_locked=self.state.database.dialect == "postgresql",
            )
        claim_seconds = time.perf_counter() - started
        now = utcnow()
        started_count = 0
        for delivery in claimed:
            if delivery.key in self._busy:  # a delivery of this PR runs here: after it
                await self._postpone(delivery.id, Busy(utcnow()))
                continue
            self._busy.add(delivery.key)
            timeline = pr_timing.Timeline(
                received_at=delivery.received_at, source=delivery.platform
            )
            timeline.since_receipt("queue", now)
            timeline.add("claim", claim_seconds)
            task = asyncio.create_task(self._run(delivery, timeline))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            started_count += 1
        return started_count

    def token(self, delivery_id: int) -> str:
        return f"{self.owner}/{delivery_id}"

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
                .values(
                    state="processing",
                    claimed_at=now,
                    lease_owner=self.token(delivery_id),
                    tries=DeliveryRow.tries + 1,
                )
            )
            await session.commit()
            return bool(getattr(result, "rowcount", 0) == 1)

    async def _run(self, claimed: Claimed, timeline: pr_timing.Timeline) -> None:
        delivery_id, key = claimed.id, claimed.key
        pr_timing.use(timeline)
        started = time.perf_counter()
        try:
            async with self._slots:
                await self._process(delivery_id, claimed)
            timeline.add("process", time.perf_counter() - started)
            pr_timing.report(metrics.of(self.state), timeline)
            self.timelines.append(timeline)
        except Exception:
            # recording the outcome failed (the database went away): the lease runs out and
            # the delivery is taken again, by this or another process
            log.exception("delivery %s: recording its outcome failed", delivery_id)
        finally:
            self._busy.discard(key)
            self._wake.set()  # a later delivery of the same PR may be waiting

    async def _process(self, delivery_id: int, claimed: Claimed | None = None) -> None:
        token = self.token(delivery_id)
        lost = asyncio.Event()
        work = asyncio.create_task(self.processor.process(delivery_id, token, claimed))
        beat = asyncio.create_task(self._heartbeat(delivery_id, token, work, lost))
        try:
            outcome = await work
        except asyncio.CancelledError:
            if not lost.is_set():
                raise  # the worker stops: like a crash, the leases run out and another resumes
            log.warning("delivery %s: its lease was taken over; stopped here", delivery_id)
            return
        except Busy as exc:
            await self._postpone(delivery_id, exc)
        except LeaseLost as exc:
            log.warning("delivery %s: %s; nothing published", delivery_id, exc)
            await self._finish(delivery_id, "superseded", error=str(exc))
        except Permanent as exc:
            await self._finish(delivery_id, "failed", error=str(exc))
            log.warning("delivery %s failed: %s", delivery_id, exc)
        except PlatformRequestError as exc:
            await self._finish(delivery_id, "failed", error=exc.message)
            log.warning("delivery %s rejected by Bitbucket: %s", delivery_id, exc.message)
        except PlatformError as exc:
            await self._retry(delivery_id, exc.message, retry_after=exc.retry_after)
        except JirahooksError as exc:
            await self._retry(delivery_id, exc.message)
        except Exception as exc:
            log.exception("delivery %s: unexpected error", delivery_id)
            await self._retry(delivery_id, f"{type(exc).__name__}: {exc}")
        else:
            await self._finish(delivery_id, "done", outcome=outcome)
            self.processed += 1
        finally:
            beat.cancel()
            if not work.done():
                work.cancel()

    async def _heartbeat(
        self, delivery_id: int, token: str, work: asyncio.Task[Outcome], lost: asyncio.Event
    ) -> None:
        """Renew the delivery's and its PR's lease every ``heartbeat_seconds`` while ``work``
        runs; when the lease was taken over, set ``lost`` and cancel ``work``."""
        while True:
            await asyncio.sleep(self.options.heartbeat_seconds)
            try:
                held = await self.renew(delivery_id, token)
            except Exception:
                log.exception("delivery %s: renewing the lease failed", delivery_id)
                continue
            if not held:
                lost.set()
                work.cancel()
                return

    async def renew(self, delivery_id: int, token: str) -> bool:
        now = utcnow()
        until = now + timedelta(seconds=self.options.lease_seconds)
        async with pr_timing.session(self.state.database) as session:
            held = await statements.renew(session, delivery_id, token, now, until)
            await session.commit()
            return held

    async def _release(self, session: AsyncSession, delivery_id: int) -> None:
        """Give the PR's lease back at once (the next delivery of that PR need not wait), in
        the transaction that records the delivery's outcome."""
        await statements.release(session, self.token(delivery_id))

    async def _own(
        self, session: AsyncSession, delivery_id: int, *, lock: bool = False
    ) -> DeliveryRow | None:
        """The delivery row if this worker still holds its lease (None otherwise); ``lock``
        takes its row lock now (``FOR UPDATE`` on PostgreSQL)."""
        row = await session.get(DeliveryRow, delivery_id, with_for_update=lock or None)
        if row is None or row.state != "processing" or row.lease_owner != self.token(delivery_id):
            return None
        return row

    async def _finish(
        self, delivery_id: int, state: str, *, error: str = "", outcome: Outcome | None = None
    ) -> None:
        """Record the outcome: the delivery's row (while this worker still holds it), then the
        PR's — the outcome's :class:`Record` compare-and-set and the lease's release in one
        statement — in one transaction; locks delivery row first, then PR row (the order the
        heartbeat takes them in)."""
        final = state if outcome is None else outcome.status
        record = outcome.record if outcome is not None else None
        token = self.token(delivery_id)
        now = utcnow()
        values: dict[str, object] = {
            "state": final,
            "processed_at": now,
            "last_error": error[:2000],
            "lease_owner": "",
        }
        if outcome is not None and outcome.evaluation_id is not None:
            values["evaluation_id"] = outcome.evaluation_id
        database = self.state.database
        async with pr_timing.session(database) as session, database.writing():
            owned = await statements.set_outcome(session, delivery_id, token, values)
            recorded = False
            if owned and record is not None:
                recorded = await statements.set_pr(
                    session,
                    record.lease.row_id,
                    token,
                    record.values,
                    seq=record.lease.seq if record.newer else None,
                    release=True,
                )
                if not recorded:
                    # a newer evaluation was published meanwhile: this one stands for nothing
                    final = "superseded"
                    await statements.set_delivery(
                        session,
                        delivery_id,
                        {"state": final, "last_error": "a newer evaluation took over"},
                    )
                    log.warning("delivery %s: a newer evaluation took over", delivery_id)
            if not recorded:
                await self._release(session, delivery_id)
            await session.commit()
        if owned:
            metrics.attempt(self.state, final)

    async def _postpone(self, delivery_id: int, busy: Busy) -> None:
        """The PR is leased by another worker: back to the queue until that lease ends; this
        was no attempt of ours."""
        async with pr_timing.session(self.state.database) as session, self.state.database.writing():
            # the delivery's row first, then the PR's (the order the heartbeat locks them in)
            row = await self._own(session, delivery_id, lock=True)
            await self._release(session, delivery_id)
            if row is None:
                await session.commit()
                return
            row.state = "pending"
            row.lease_owner = ""
            row.tries = max(0, row.tries - 1)
            row.next_attempt_at = max(busy.until, utcnow()) + timedelta(milliseconds=50)
            await session.commit()

    def retry_delay(self, tries: int, retry_after: float | None) -> float:
        """Seconds until the next attempt: ``Retry-After`` when the platform sent one (exactly,
        at most ``retry_after_cap``), else exponential backoff capped at ``backoff_cap``."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.options.retry_after_cap)
        return min(self.options.backoff_cap, self.options.backoff_base * 2.0 ** (tries - 1))

    async def _retry(
        self, delivery_id: int, error: str, *, retry_after: float | None = None
    ) -> None:
        database = self.state.database
        async with pr_timing.session(database) as session, database.writing():
            # the delivery's row first, then the PR's (the order the heartbeat locks them in)
            row = await self._own(session, delivery_id, lock=True)
            await self._release(session, delivery_id)
            if row is None:
                await session.commit()
                return
            row.last_error = error[:2000]
            row.lease_owner = ""
            metrics.attempt(
                self.state, "failed" if row.tries >= self.options.max_tries else "retry"
            )
            if row.tries >= self.options.max_tries:
                row.state = "failed"
                row.processed_at = utcnow()
                log.error("delivery %s given up after %s tries: %s", delivery_id, row.tries, error)
            else:
                wait = self.retry_delay(row.tries, retry_after)
                if retry_after is not None and retry_after > self.options.retry_after_cap:
                    log.warning(
                        "delivery %s: Bitbucket asked to wait %.0fs; retrying after the cap "
                        "of %.0fs",
                        delivery_id,
                        retry_after,
                        self.options.retry_after_cap,
                    )
                row.state = "pending"
                row.next_attempt_at = utcnow() + timedelta(seconds=wait)
                log.info("delivery %s: %s; retrying in %.0fs", delivery_id, error, wait)
            await session.commit()

    # -- reconciliation ---------------------------------------------------------------------

    async def _reconcile_loop(self) -> None:
        """Every ``leader_seconds`` make sure one process leads (pipeline.leader); the leader
        reconciles every ``reconcile_seconds`` and purges finished deliveries once an hour
        (``retention_days``), the others only stand by."""
        step = min(self.options.leader_seconds, self.options.reconcile_seconds)
        waited = 0.0
        since_purge = PURGE_SECONDS  # the first round that leads purges
        while True:
            await asyncio.sleep(step)
            waited += step
            since_purge += step
            try:
                leading = await self.leadership.check()
            except Exception:
                log.exception("reconciliation leader: the database cannot be asked")
                continue
            if not leading:
                continue
            if self.options.retention_days > 0 and since_purge >= PURGE_SECONDS:
                since_purge = 0.0
                try:
                    await self.purge()
                except Exception:
                    log.exception("purging finished deliveries failed")
            if waited < self.options.reconcile_seconds:
                continue
            waited = 0.0
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconciliation failed")

    async def purge(self) -> int:
        """Delete deliveries that finished more than ``retention_days`` ago, in batches;
        returns how many (failed ones are kept)."""
        cutoff = utcnow() - timedelta(days=self.options.retention_days)
        total = 0
        while True:
            async with self.state.database.session() as session, self.state.database.writing():
                purged = await purge_finished(session, cutoff)
            total += purged
            if purged < PURGE_BATCH:
                break
        if total:
            log.info(
                "purged %s finished deliveries older than %g days",
                total,
                self.options.retention_days,
            )
        return total

    async def reconcile(self) -> int:
        """Queue open PRs whose head has no published result; returns how many were queued."""
        async with self.state.database.session() as session:
            found = await session.execute(
                select(PlatformConfig, Workspace)
                .join(Workspace, Workspace.id == PlatformConfig.workspace_id)
                .where(PlatformConfig.platform.in_(registry.names()))
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
                        PullRequestResult.platform == config.platform,
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
                        platform=config.platform,
                    ):
                        queued += 1
        if queued:
            log.info("reconciliation queued %s pull request(s)", queued)
            self.wake()
        return queued
