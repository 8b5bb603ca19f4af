"""Waking the PR workers of the other processes at once (PostgreSQL ``LISTEN``/``NOTIFY``),
docs/decisions/0013-pr-queue-wakeups-and-round-trips.md.

A webhook wakes the worker of the process that received it. When that worker has no free slot,
the delivery would wait for one there, or for another process's next poll
(``JIRAHOOKS_PR_POLL_SECONDS``). So the worker then *announces* it: ``NOTIFY
jirahooks_deliveries`` (no payload: the queue in the table stays the one truth, a notification
only says "look now"), and every process that ``LISTEN``\\ s claims at once if it has a free
slot. A notification is a hint, never a guarantee: lost ones (a listener reconnecting, a
database restart) cost at most one poll, as before.

- Each process holds two small autocommit psycopg connections of its own: one listens, one
  sends (a listening connection busy in ``notifies()`` cannot send); announcements coalesce —
  at most one ``NOTIFY`` in flight, however many webhooks arrive meanwhile.
- A process ignores its own notifications (by the sender's backend pid).
- Either connection failing is logged and retried after a pause; the poll goes on meanwhile.
- SQLite serves one process: nothing to wake, nothing started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("jirahooks.server.webhooks")

CHANNEL = "jirahooks_deliveries"
RETRY_SECONDS = 2.0


class Wakeups:
    """``start()`` listens and calls ``on_wake`` for every other process's announcement;
    ``announce()`` tells the other processes to look at the queue now."""

    def __init__(self, conninfo: str, on_wake: Callable[[], None]) -> None:
        self.conninfo = conninfo
        self.on_wake = on_wake
        self._pending = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sender: Any = None
        self._sender_pid = 0
        self.listening = asyncio.Event()  # set while LISTEN is in force
        self.sent = 0
        self.received = 0

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="jirahooks-pr-listen"),
            asyncio.create_task(self._send(), name="jirahooks-pr-notify"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self._drop_sender()

    def announce(self) -> None:
        """Coalesced: one ``NOTIFY`` goes out for any number of calls before it is sent."""
        if self._tasks:
            self._pending.set()

    async def _connect(self) -> Any:
        import psycopg  # the postgres extra; only on PostgreSQL

        return await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)

    async def _listen(self) -> None:
        while True:
            try:
                connection = await self._connect()
                async with connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    async for note in connection.notifies():
                        if note.pid != self._sender_pid:
                            self.received += 1
                            self.on_wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "PR queue wake-ups: listening failed (%s); polling meanwhile",
                    type(exc).__name__,
                )
            finally:
                self.listening.clear()
            await asyncio.sleep(RETRY_SECONDS)

    async def _send(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            try:
                if self._sender is None or self._sender.closed:
                    self._sender = await self._connect()
                    self._sender_pid = self._sender.info.backend_pid
                await self._sender.execute(f"NOTIFY {CHANNEL}")
                self.sent += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("PR queue wake-ups: notifying failed (%s)", type(exc).__name__)
                await self._drop_sender()
                await asyncio.sleep(RETRY_SECONDS)

    async def _drop_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            with contextlib.suppress(Exception):
                await sender.close()
