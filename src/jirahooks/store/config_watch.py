"""Workspace configuration versions on PostgreSQL without a round trip per request: a watcher
that LISTENs for changes (docs/decisions/0020-config-version-watcher.md).

Every transaction that bumps a workspace's ``config_version`` (``store/versioning.py``) also
sends ``pg_notify('jirahooks_config', '<workspace ids>')``; PostgreSQL delivers it to every
listening connection when, and only if, the transaction commits. Each server process keeps one
connection LISTENing (task ``jirahooks-config-watcher``) and a table of the versions it has
read since it started listening; a request whose workspace is in the table takes the version
from it, with no I/O. What makes an entry go away:

* **a change through this process**: the session's commit hook (``Database.config_listeners``)
  drops it synchronously, before the admin API answers — the very next request of this
  process reads anew (as before);
* **a change through another process or host**: its notification, as soon as it arrives (on
  loopback well under a millisecond after the commit);
* **age**: an entry is only used for ``max_age_seconds`` (2 s) after it was last confirmed by a
  read; the listening connection re-reads the versions of every entry each
  ``recheck_seconds`` (1 s), which confirms them and catches what no notification announced —
  a version bumped by hand (``UPDATE workspaces SET config_version = config_version + 1``), a
  listening connection that silently stopped receiving. So a change is seen by every process
  within ``max_age_seconds`` whatever happens to the notifications; a re-read that hangs or
  fails drops the table, and requests read the version per request (the ``PostgresVersionProbe``)
  until the watcher listens again.

A read that was in flight when an entry was dropped is answered but not remembered (``_epoch``),
so an old version never enters the table after its invalidation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from jirahooks.store.config_cache import PostgresVersionProbe
from jirahooks.store.versioning import CONFIG_CHANNEL

log = logging.getLogger("jirahooks.server.validation")

RECHECK_SECONDS = 1.0
MAX_AGE_SECONDS = 2.0
RECONNECT_PAUSES = (0.1, 0.5, 1.0, 2.0, 5.0)


class PostgresVersionWatcher:
    """``(id, config_version)`` of a workspace (the ``PostgresVersionProbe`` call), from a table
    kept current by LISTEN/NOTIFY; see the module docstring."""

    UNKNOWN = PostgresVersionProbe.UNKNOWN

    def __init__(
        self,
        conninfo: str,
        *,
        recheck_seconds: float = RECHECK_SECONDS,
        max_age_seconds: float = MAX_AGE_SECONDS,
    ) -> None:
        self.conninfo = conninfo
        self.recheck_seconds = recheck_seconds
        self.max_age_seconds = max_age_seconds
        self.probe = PostgresVersionProbe(conninfo)  # reads what the table does not hold
        self.notifications = 0  # received (tests, metrics)
        self.rechecks = 0  # re-reads of the whole table made (tests)
        self._known: dict[str, tuple[int, int, float]] = {}  # slug → (id, version, confirmed)
        self._epoch = 0  # goes up with every invalidation and every change of ``_live``
        self._live = False  # LISTENing, the table valid
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def listening(self) -> bool:
        return self._live

    async def __call__(self, slug: str) -> tuple[int, int] | object | None:
        known = self._known.get(slug)
        now = time.monotonic()
        if known is not None and self._live and now - known[2] < self.max_age_seconds:
            return known[0], known[1]
        self._start()
        epoch = self._epoch
        found = await self.probe(slug)
        if isinstance(found, tuple) and self._live and self._epoch == epoch:
            self._known[slug] = (found[0], found[1], now)
        return found

    def invalidate(self, workspace_ids: set[int] | None) -> None:
        """Forget these workspaces' versions (None: all): a ``Database.config_listeners`` entry,
        called when a transaction that changed their configuration has committed."""
        self._epoch += 1
        if workspace_ids is None:
            self._known.clear()
            return
        for slug, (workspace_id, _, _) in list(self._known.items()):
            if workspace_id in workspace_ids:
                del self._known[slug]

    def _on_notify(self, payload: str) -> None:
        self.notifications += 1
        try:
            ids = {int(x) for x in payload.split(",")} if payload != "*" else None
        except ValueError:
            ids = None
        self.invalidate(ids)

    def _set_live(self, live: bool) -> None:
        self._live = live
        self._epoch += 1
        self._known.clear()

    def _start(self) -> None:
        if self._closed or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name="jirahooks-config-watcher"
        )

    async def _run(self) -> None:
        import psycopg

        failures = 0
        while not self._closed:
            connection: Any = None
            try:
                connection = await asyncio.wait_for(
                    psycopg.AsyncConnection.connect(self.conninfo, autocommit=True),
                    self.max_age_seconds * 5,
                )
                await connection.execute(f"LISTEN {CONFIG_CHANNEL}")
                self._set_live(True)  # only reads that start from now on are remembered
                failures = 0
                while True:
                    async for notify in connection.notifies(timeout=self.recheck_seconds):
                        self._on_notify(notify.payload)
                    await asyncio.wait_for(self._recheck(connection), self.max_age_seconds)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning(
                    "the configuration watcher lost PostgreSQL (%s): versions are read per "
                    "request until it listens again",
                    type(exc).__name__,
                )
            finally:
                if self._live:
                    self._set_live(False)
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()
            await asyncio.sleep(RECONNECT_PAUSES[min(failures, len(RECONNECT_PAUSES) - 1)])
            failures += 1

    async def _recheck(self, connection: Any) -> None:
        """Re-read every remembered version: confirm the unchanged ones, drop the others."""
        if not self._known:
            return
        epoch, started = self._epoch, time.monotonic()
        slugs = list(self._known)
        cursor = await connection.execute(
            "SELECT slug, id, config_version FROM workspaces WHERE slug = ANY(%s)", (slugs,)
        )
        current = {str(r[0]): (int(r[1]), int(r[2])) for r in await cursor.fetchall()}
        self.rechecks += 1
        # notifications that came during the read wait in psycopg's backlog: the next
        # notifies() hands them over first
        if self._epoch != epoch:
            return  # something was invalidated meanwhile: confirm nothing this round
        for slug in slugs:
            known = self._known.get(slug)
            if known is None:
                continue
            if current.get(slug) == (known[0], known[1]):
                self._known[slug] = (known[0], known[1], started)
            else:
                del self._known[slug]

    async def aclose(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._live = False
        self._known.clear()
        await self.probe.aclose()
