"""One reconciliation leader across every server process on one database.

Reconciliation lists the open pull requests of every registered repository — one Bitbucket
request per repository, under a rate limit of 1,000 requests per hour — so exactly one process
of a deployment does it (docs/decisions/0006-queue-across-processes.md).

- **PostgreSQL**: the leader holds a session-level advisory lock
  (``pg_try_advisory_lock``) on a connection of its own (autocommit, never idle in a
  transaction). The lock lives exactly as long as that connection: a process that exits, crashes
  or is ``kill -9``-ed loses its connection and with it the lock, and the next process that
  asks becomes the leader — no lease to expire, no clock to trust. A leader checks its
  connection before every round; when it is gone, it stops leading until it wins the lock again.
- **SQLite** serves one process (the embedded default): that process leads.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from jirahooks.store.database import Database

log = logging.getLogger("jirahooks.server.webhooks")

LOCK_NAME = "jirahooks/pr-reconcile-leader"


def lock_key(name: str = LOCK_NAME) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Leadership:
    """``await leadership.check()`` → whether this process leads now (trying to become the
    leader when it does not); ``await leadership.release()`` on shutdown."""

    def __init__(self, database: Database, owner: str, *, name: str = LOCK_NAME) -> None:
        self.database = database
        self.owner = owner
        self.key = lock_key(name)
        self._connection: AsyncConnection | None = None

    @property
    def shared(self) -> bool:
        """Whether several processes can share this database (and so need a leader)."""
        return self.database.dialect == "postgresql"

    @property
    def leading(self) -> bool:
        return not self.shared or self._connection is not None

    async def check(self) -> bool:
        if not self.shared:
            return True
        if self._connection is not None:
            try:
                await self._connection.execute(select(1))
                return True
            except Exception:
                log.warning("reconciliation leader: lost the lock connection; leading no more")
                await self._drop()
        return await self._try()

    async def _try(self) -> bool:
        connection = await self.database.engine.connect()
        try:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            # who leads, for operators: SELECT application_name FROM pg_stat_activity …
            await connection.execute(
                text("SELECT set_config('application_name', :name, false)"),
                {"name": f"jirahooks leader pid={os.getpid()} {self.owner}"[:63]},
            )
            won: Any = await connection.scalar(select(func.pg_try_advisory_lock(self.key)))
        except Exception:
            await connection.invalidate()
            await connection.close()
            raise
        if not won:
            await connection.invalidate()  # not back to the pool with a renamed session
            await connection.close()
            return False
        self._connection = connection
        log.info("reconciliation leader: this process (%s) leads", self.owner)
        return True

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            # closing the DBAPI connection ends the session and releases the lock; a pooled
            # connection would keep it
            await connection.invalidate()
            await connection.close()
        except Exception:
            log.debug("reconciliation leader: closing the lock connection failed", exc_info=True)

    async def release(self) -> None:
        await self._drop()
