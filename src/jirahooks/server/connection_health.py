"""Runtime health of stored Jira connections: what evaluations learn about a credential.

A token that expires or is revoked between two connection tests used to go unnoticed until an
administrator pressed "Test": every evaluation reported the connection problem, but the
connection's last test still said "passed". ``ConnectionHealth`` hears every Jira answer of
the server's clients (``jira.client.HealthObserver``) and writes, off the request path:

* a rejection (``JIRA_AUTH_REJECTED``, ``TOKEN_EXPIRED``, ``TOKEN_REVOKED``,
  ``JIRA_SCOPE_MISSING``, ``OAUTH_CLIENT_REJECTED``, …) as the connection's last result
  (``connection_tests`` row, ``source = "runtime"``) — the connections page and the dashboard
  then flag the connection as failing; repeated rejections with the same code write once;
* the last successful use (``last_success_at``), at most once a minute per connection, and a
  connection that works again after a runtime failure is shown as passing again.

* the gateway's cloudId a client discovered from ``/_edge/tenant_info`` for a connection that
  names none (one created by ``apply`` with ``scoped_api_token`` or Cloud OAuth, never tested):
  stored with the connection once — ``export`` and the UI then show it, and the next
  configuration snapshot hands it to the clients, so nothing is discovered or written again.

Health writes go to ``connection_tests``, never to ``connections``: runtime health is not a
configuration change (store/versioning.py). The cloudId is the one exception — it is part of the
connection, written only while the stored one is empty (it never overrides an administrator's),
at most once per connection and process. A failed write is logged and dropped — health is
advisory; the evaluation's own result already carries the connection problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jirahooks.errors import JiraError
from jirahooks.store.models import Connection, ConnectionTest, utcnow

log = logging.getLogger("jirahooks.server.health")

SUCCESS_EVERY = 60.0  # seconds between two writes of last_success_at for one connection


@dataclass(frozen=True)
class _Event:
    ok: bool
    at: datetime
    code: str = ""
    message: str = ""
    hint: str = ""


class _Observer:
    """The ``HealthObserver`` of one stored connection (by id)."""

    def __init__(self, health: ConnectionHealth, connection_id: int) -> None:
        self._health = health
        self._id = connection_id

    def ok(self, connection: str) -> None:
        self._health.ok(self._id)

    def cloud_id_found(self, connection: str, cloud_id: str) -> None:
        self._health.cloud_id_found(self._id, cloud_id)

    def failed(self, connection: str, error: JiraError) -> None:
        from jirahooks.jira.chain import without_connection

        self._health.failed(
            self._id, error.code, without_connection(error.message, connection), error.hint
        )


class ConnectionHealth:
    """See the module docstring."""

    def __init__(self, database: Any, *, success_every: float = SUCCESS_EVERY) -> None:
        self.database = database
        self.success_every = success_every
        self._pending: dict[int, _Event] = {}
        self._success_written: dict[int, float] = {}
        self._failing: dict[int, str] = {}  # connection id → the code written
        self._cloud_ids: dict[int, str] = {}  # connection id → the cloudId stored (or asked)
        self._pending_cloud_ids: dict[int, str] = {}
        self._task: asyncio.Task[None] | None = None
        self.writes = 0

    def observer(self, connection_id: int | None) -> _Observer | None:
        return None if connection_id is None else _Observer(self, connection_id)

    def ok(self, connection_id: int) -> None:
        now = time.monotonic()
        last = self._success_written.get(connection_id)
        if (
            connection_id not in self._failing
            and last is not None
            and now - last < self.success_every
        ):
            return
        self._success_written[connection_id] = now
        self._failing.pop(connection_id, None)
        self._pending[connection_id] = _Event(True, utcnow())
        self._schedule()

    def failed(self, connection_id: int, code: str, message: str, hint: str) -> None:
        if self._failing.get(connection_id) == code:
            return
        self._failing[connection_id] = code
        self._pending[connection_id] = _Event(False, utcnow(), code, message, hint)
        self._schedule()

    def cloud_id_found(self, connection_id: int, cloud_id: str) -> None:
        """Store a discovered cloudId with the connection — once: every client of the same
        configuration snapshot discovers it again (from the process cache, no request)."""
        if not cloud_id or self._cloud_ids.get(connection_id) == cloud_id:
            return
        self._cloud_ids[connection_id] = cloud_id
        self._pending_cloud_ids[connection_id] = cloud_id
        self._schedule()

    def _schedule(self) -> None:
        if self._task is None or self._task.done():
            try:
                self._task = asyncio.get_running_loop().create_task(self._write())
            except RuntimeError:  # no loop (a client used outside the server): nothing to do
                self._pending.clear()
                self._pending_cloud_ids.clear()

    async def flush(self) -> None:
        """Wait until everything heard so far is written (tests, shutdown)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.flush()

    async def _write(self) -> None:
        while self._pending or self._pending_cloud_ids:
            events, self._pending = self._pending, {}
            cloud_ids, self._pending_cloud_ids = self._pending_cloud_ids, {}
            try:
                async with self.database.session() as session:
                    for connection_id, event in events.items():
                        await self._apply(session, connection_id, event)
                    for connection_id, cloud_id in cloud_ids.items():
                        await self._store_cloud_id(session, connection_id, cloud_id)
                    await session.commit()
                self.writes += 1
            except Exception as exc:
                log.warning("could not record the health of Jira connections (%s)", exc)
                for connection_id in cloud_ids:  # asked again by the next discovery
                    self._cloud_ids.pop(connection_id, None)

    @staticmethod
    async def _store_cloud_id(session: Any, connection_id: int, cloud_id: str) -> None:
        row = await session.get(Connection, connection_id)
        if row is not None and not row.cloud_id:  # deleted meanwhile, or set by an admin
            row.cloud_id = cloud_id

    @staticmethod
    async def _apply(session: Any, connection_id: int, event: _Event) -> None:
        row = await session.get(ConnectionTest, connection_id)
        if row is None:
            if await session.get(Connection, connection_id) is None:
                return  # deleted meanwhile
            row = ConnectionTest(
                connection_id=connection_id,
                ok=True,
                code="CONNECTED",
                message="Jira accepted the credentials during an evaluation (never tested)",
                hint="",
            )
            row.tested_at = event.at
            row.source = "runtime"
            session.add(row)
        if event.ok:
            row.last_success_at = event.at
            if not row.ok and row.source == "runtime":
                row.ok, row.code, row.hint = True, "CONNECTED", ""
                row.message = "Jira accepts the connection's credentials again"
                row.tested_at = event.at
            return
        row.ok = False
        row.code = event.code
        row.message = event.message
        row.hint = event.hint
        row.tested_at = event.at
        row.source = "runtime"
