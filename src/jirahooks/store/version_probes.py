"""Reading a workspace's ``(id, config_version)`` cheaply on every validation request: the
probes ``ConfigCache`` asks before it trusts a snapshot (decisions 0014, 0020).

``SqliteVersionProbe`` reads through a read-only sqlite3 connection of its own;
``PostgresVersionProbe`` through one dedicated psycopg connection with a prepared statement.
``store/config_watch.py`` builds on the latter. Apart from ``config_cache`` so the watcher can use
them without importing the cache back.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

log = logging.getLogger("jirahooks.server.validation")


class SqliteVersionProbe:
    """``(id, config_version)`` of a workspace read straight from the SQLite file, on the
    calling thread: a few microseconds in SQLite's C code instead of a round trip through
    SQLAlchemy and aiosqlite's thread (most of a warm request's cost). A WAL reader never
    waits for the writer; when SQLite still answers busy or locked (``busy_timeout`` 0), the
    probe says ``UNKNOWN`` and the caller reads the version the usual way."""

    UNKNOWN = object()

    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None

    def __call__(self, slug: str) -> tuple[int, int] | object | None:
        try:
            if self._connection is None:
                connection = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, check_same_thread=False
                )
                connection.execute("PRAGMA busy_timeout=0")
                self._connection = connection
            row = self._connection.execute(
                "SELECT id, config_version FROM workspaces WHERE slug = ?", (slug,)
            ).fetchone()
        except sqlite3.Error:
            self.close()
            return self.UNKNOWN
        return None if row is None else (int(row[0]), int(row[1]))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class PostgresVersionProbe:
    """The same read on PostgreSQL over one dedicated psycopg connection (autocommit, a
    prepared statement): no pool checkout, no ping, no ORM, no rollback. Requests take turns on
    it; requests for one workspace that arrive while it is busy share the *next* read (which
    starts after all of them arrived, so each still sees every change committed before it
    came). Any error closes the connection and says ``UNKNOWN`` (the caller reads the usual
    way; the next call reconnects)."""

    UNKNOWN = SqliteVersionProbe.UNKNOWN

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.reads = 0  # round trips made (tests, metrics)
        self._connection: Any = None
        self._lock: Any = None
        self._scheduled: dict[str, Any] = {}  # slug → the future of the next read, not started

    async def __call__(self, slug: str) -> tuple[int, int] | object | None:
        import asyncio

        shared = self._scheduled.get(slug)
        if shared is not None:
            return await asyncio.shield(shared)
        if self._lock is None:
            self._lock = asyncio.Lock()
        mine: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._scheduled[slug] = mine
        result: object = self.UNKNOWN
        try:
            async with self._lock:
                if self._scheduled.get(slug) is mine:
                    del self._scheduled[slug]  # started: later arrivals wait for another read
                result = await self._read(slug)
        finally:
            if self._scheduled.get(slug) is mine:
                del self._scheduled[slug]
            mine.set_result(result)
        return result

    async def _read(self, slug: str) -> tuple[int, int] | object | None:
        import psycopg

        try:
            if self._connection is None:
                self._connection = await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                )
            self.reads += 1
            cursor = await self._connection.execute(
                "SELECT id, config_version FROM workspaces WHERE slug = %s",
                (slug,),
                prepare=True,
            )
            row = await cursor.fetchone()
        except (psycopg.Error, OSError):
            await self.aclose()
            return self.UNKNOWN
        return None if row is None else (int(row[0]), int(row[1]))

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except Exception:  # closing a broken connection: nothing left to do
                log.debug("closing the version probe's connection failed", exc_info=True)
