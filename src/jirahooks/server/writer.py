"""The background writer: the Validation API's audit rows and token usage, batched off the
answer path (docs/decisions/0007-background-writer.md).

A validation request used to make two writes before answering — insert its evaluation, stamp
its token's ``last_used_at`` — each a transaction of its own. Now it hands both to this
process's ``AuditWriter`` and answers; one task commits what has accumulated in one
transaction: a multi-row ``INSERT`` of the evaluations and one ``UPDATE … WHERE id IN (…)`` of
the tokens used.

* **Bounded, with back-pressure.** At most ``capacity`` rows wait. A request that finds the
  queue full waits for room up to ``wait_seconds``; if none frees (the database is down or far
  too slow), ``submit`` raises ``WriterBacklogged`` and the Validation API answers
  503 ``AUDIT_BACKLOG_FULL`` — an evaluation is never answered without its row queued.
* **Never silently dropped.** A batch that fails for a transient reason is retried (with a
  growing pause) until it commits. A batch refused by a constraint is retried row by row; a row
  whose repository or token was deleted meanwhile is stored without that reference (what
  ``ON DELETE SET NULL`` would have done had it been stored first); a row whose workspace was
  deleted is dropped with a warning (``ON DELETE CASCADE`` would have removed it).
* **Ordered.** One writer per process, first in first out: a process's rows get increasing ids
  in the order their requests were answered. ``created_at`` is the time of the request, set
  when it is submitted, not when the batch commits.
* **Chained.** Each batch is appended to its workspaces' hash chains in its transaction
  (``store/chain.py``, decision 0012): the rows' content hashes are computed on ``run_cpu``
  (the app's CPU pool), then the chain heads are locked, the links written, the heads moved.
* **A barrier.** ``flush()`` returns once every row submitted before the call is committed.
  Whatever reads evaluations right after a validation in this process (admin API, web UI,
  tests) calls it first.
* **Durable before shutdown.** ``aclose()`` (the app's lifespan end, after uvicorn has finished
  the requests in flight) commits everything queued. Only a crash of the process (``kill -9``,
  power loss) loses the rows still queued: at most ``capacity``, in practice the answers of
  the last ``linger_seconds`` (50 ms) or so.

``backlog()`` is the number of rows waiting (for metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from jirahooks.store import chain
from jirahooks.store.database import Database
from jirahooks.store.models import ValidationToken, Workspace, utcnow
from jirahooks.store.queries import _table
from jirahooks.store.versioning import NOT_CONFIGURATION

log = logging.getLogger("jirahooks.server.writer")

DEFAULT_CAPACITY = 10_000
DEFAULT_BATCH = 500
DEFAULT_WAIT_SECONDS = 5.0
# How long the writer lets rows gather before a batch that is not full (flush() skips it): at
# one request at a time, batches of several rows instead of one transaction per answer. A batch
# costs ~0.7 ms of CPU on SQLite and ~2 ms on PostgreSQL (SQLAlchemy's executemany, the
# transaction) plus ~0.05 ms per row: at 500 answers a second, 50 ms make batches of ~25 rows,
# ~0.03 / 0.08 ms of fixed cost per answer instead of 0.13 / 0.4 ms at 10 ms (decision 0014).
# What a crash (kill -9) can lose grows with it: the answers of the last 50 ms.
DEFAULT_LINGER_SECONDS = 0.05
# Pauses between retries of a batch the database refused for a transient reason.
RETRY_PAUSES = (0.05, 0.2, 1.0, 2.0, 5.0)


class WriterBacklogged(Exception):
    """The queue stayed full for ``wait_seconds``: the database does not keep up."""


@dataclass
class _Row:
    values: dict[str, Any]
    token_id: int | None
    at: datetime


class AuditWriter:
    """See the module docstring. One per app (``AppState.writer``), started on first use in the
    running event loop."""

    def __init__(
        self,
        database: Database,
        *,
        capacity: int = DEFAULT_CAPACITY,
        batch: int = DEFAULT_BATCH,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        linger_seconds: float = DEFAULT_LINGER_SECONDS,
        run_cpu: Callable[..., Awaitable[Any]] | None = None,
    ) -> None:
        self.database = database
        self.run_cpu = run_cpu or asyncio.to_thread  # the chain's content hashes
        self.capacity = capacity
        self.batch = batch
        self.wait_seconds = wait_seconds
        self.linger_seconds = linger_seconds
        self._hurry = 0  # flush() calls waiting
        self._rows: deque[_Row] = deque()
        self._submitted = 0  # rows ever submitted
        self._committed = 0  # rows ever committed (or settled: see _store_one)
        self._batches = 0
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._flushing: asyncio.Event | None = None
        self._changed: asyncio.Condition | None = None
        self._closing = False

    # -- what requests call ---------------------------------------------------------------

    def backlog(self) -> int:
        """Rows submitted and not yet committed."""
        return self._submitted - self._committed

    @property
    def batches(self) -> int:
        """Transactions committed so far (tests, metrics)."""
        return self._batches

    async def submit(self, values: Mapping[str, Any], token_id: int | None = None) -> None:
        """Queue one evaluation row (``queries.evaluation_values``) and, with ``token_id``, the
        token's ``last_used_at``. Waits while the queue is full, at most ``wait_seconds``, then
        raises ``WriterBacklogged``."""
        if self._closing:
            raise WriterBacklogged("the server is shutting down")
        changed = self._start()
        if len(self._rows) >= self.capacity:
            try:
                async with changed:
                    await asyncio.wait_for(
                        changed.wait_for(lambda: len(self._rows) < self.capacity),
                        self.wait_seconds,
                    )
            except TimeoutError as exc:
                raise WriterBacklogged(
                    f"{len(self._rows)} evaluations are waiting to be stored"
                ) from exc
        now = utcnow()
        row = dict(values)
        row.setdefault("created_at", now)
        self._rows.append(_Row(row, token_id, now))
        self._submitted += 1
        assert self._wake is not None
        self._wake.set()

    async def flush(self) -> None:
        """Return once every row submitted before this call is committed."""
        if self._changed is None:
            return
        target = self._submitted
        if self._committed >= target:
            return
        assert self._wake is not None
        self._hurry += 1
        self._wake.set()
        if self._flushing is not None:
            self._flushing.set()
        try:
            async with self._changed:
                await self._changed.wait_for(lambda: self._committed >= target)
        finally:
            self._hurry -= 1

    async def aclose(self, timeout: float = 60.0) -> None:
        """Commit everything queued (waiting at most ``timeout`` seconds for a database that
        does not answer, then saying how many rows are lost), then stop. Safe to call twice."""
        self._closing = True
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            log.error(
                "shutting down with %d evaluation(s) not stored: the database did not accept "
                "them within %.0f s",
                self.backlog(),
                timeout,
            )
        task, self._task = self._task, None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # -- the writer task ------------------------------------------------------------------

    def _start(self) -> asyncio.Condition:
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._flushing = asyncio.Event()
            self._changed = asyncio.Condition()
            # a context of its own: started by some request, it must not log as that request
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="jirahooks-audit-writer", context=contextvars.Context()
            )
        assert self._changed is not None
        return self._changed

    async def _run(self) -> None:
        assert self._wake is not None and self._changed is not None
        while True:
            if not self._rows:
                self._wake.clear()
                await self._wake.wait()
                continue
            if len(self._rows) < self.batch and not self._hurry and not self._closing:
                assert self._flushing is not None
                self._flushing.clear()
                with contextlib.suppress(TimeoutError):  # cut short by flush()
                    await asyncio.wait_for(self._flushing.wait(), self.linger_seconds)
            rows = [self._rows[i] for i in range(min(self.batch, len(self._rows)))]
            try:
                await self._store(rows)
            except Exception:  # a bug, not the database: keep the rows, say so, try again
                log.exception("storing %d evaluation(s) failed; retrying", len(rows))
                await asyncio.sleep(RETRY_PAUSES[-1])
                continue
            for _ in rows:
                self._rows.popleft()
            self._committed += len(rows)
            self._batches += 1
            async with self._changed:
                self._changed.notify_all()

    async def _store(self, rows: list[_Row]) -> None:
        """Commit ``rows``; retried until it succeeds (see the module docstring)."""
        attempt = 0
        while True:
            try:
                await self._insert(rows)
                return
            except IntegrityError:
                for row in rows:
                    await self._store_one(row)
                return
            except (DBAPIError, SQLAlchemyError, OSError) as exc:
                pause = RETRY_PAUSES[min(attempt, len(RETRY_PAUSES) - 1)]
                attempt += 1
                log.warning(
                    "storing %d evaluation(s) failed (%s), retrying in %.2f s (%d waiting)",
                    len(rows),
                    type(exc).__name__,
                    pause,
                    self.backlog(),
                )
                await asyncio.sleep(pause)

    async def _insert(self, rows: list[_Row]) -> None:
        tokens = _table(ValidationToken)
        used: dict[int, datetime] = {}
        for row in rows:
            if row.token_id is not None:
                used[row.token_id] = row.at
        values = [row.values for row in rows]
        digests = await chain.digest_rows(values, self.run_cpu)  # before the write lock
        async with self.database.writing(), self.database.session() as session:
            # the next links of their workspaces' hash chains (store/chain.py)
            await chain.insert_chained(session, values, digests=digests)
            if used:
                # usage, not configuration: no config_version bump (store/versioning.py)
                statement = (
                    update(tokens)
                    .where(tokens.c.id.in_(list(used)))
                    .values(last_used_at=max(used.values()))
                    .execution_options(**{NOT_CONFIGURATION: True})
                )
                await session.execute(statement)
            await session.commit()

    async def _store_one(self, row: _Row) -> None:
        """One row of a batch a constraint refused: without references to deleted rows."""
        try:
            await self._insert([row])
            return
        except IntegrityError:
            pass
        from sqlalchemy import select

        async with self.database.session() as session:
            found = await session.execute(
                select(Workspace.id).where(Workspace.id == row.values.get("workspace_id"))
            )
            if found.first() is None:
                log.warning(
                    "an evaluation of a deleted workspace (id %s) is not stored",
                    row.values.get("workspace_id"),
                )
                return
        detached = _Row({**row.values, "repository_id": None, "token_id": None}, None, row.at)
        try:
            await self._insert([detached])
        except IntegrityError as exc:
            log.error(
                "an evaluation of workspace %s (result %s) cannot be stored and is lost: %s",
                row.values.get("workspace_id"),
                row.values.get("result"),
                type(exc.orig).__name__ if exc.orig is not None else exc,
            )


# how long a reader waits for the writer before it reads what is stored (and says so in the log)
SETTLE_SECONDS = 15.0


async def settled(request: Request) -> None:
    """A route dependency for what reads evaluations: wait until this process's writer has
    stored every evaluation it answered before (``AuditWriter.flush``) — at most
    ``SETTLE_SECONDS``: a database that does not take the rows must not hang the reader too."""
    writer = request.app.state.jirahooks.writer
    try:
        await asyncio.wait_for(writer.flush(), SETTLE_SECONDS)
    except TimeoutError:
        log.warning(
            "%s %s reads without %d evaluation(s) the writer has not stored within %.0f s",
            request.method,
            request.url.path,
            writer.backlog(),
            SETTLE_SECONDS,
        )
