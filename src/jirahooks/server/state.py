"""The app state: what request handlers and the PR pipeline reach through
``request.app.state.jirahooks``.

It sits below everything that uses it: it imports the database, the secret box, the Jira
resolvers, the CPU pool and the audit writer, and nothing of the app factory, the routers or
the PR pipeline, so any of those can import it back without an import cycle (ADR 0017).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jirahooks.crypto import SecretBox
from jirahooks.server.bootstrap import FirstStart
from jirahooks.server.cpu import CpuPool
from jirahooks.server.jira_adapter import Resolvers
from jirahooks.server.settings import ServerSettings
from jirahooks.server.writer import AuditWriter
from jirahooks.store.config_cache import ConfigCache, SqliteVersionProbe
from jirahooks.store.config_watch import PostgresVersionWatcher
from jirahooks.store.database import Database


@dataclass
class AppState:
    """What request handlers reach through ``request.app.state.jirahooks``."""

    settings: ServerSettings
    database: Database
    secrets: SecretBox
    resolvers: Resolvers
    first_start: FirstStart | None = None
    extras: dict[str, object] = field(default_factory=dict)
    # The Validation API's per-workspace configuration snapshots (see store/config_cache.py).
    config_cache: ConfigCache = field(default_factory=ConfigCache)
    # CPU-heavy work (body parsing, evaluation, rendering) runs here, off the event loop.
    cpu: CpuPool = field(default_factory=CpuPool)
    # The Validation API's audit rows and token usage, batched off the answer path.
    writer: AuditWriter = field(init=False)

    def __post_init__(self) -> None:
        self.writer = AuditWriter(self.database, run_cpu=self.cpu.run)
        if self.config_cache.probe is None:
            path = self.database.sqlite_path
            if path:
                self.config_cache.probe = SqliteVersionProbe(path)
            elif self.database.dialect == "postgresql":
                # versions from a LISTEN/NOTIFY watcher: no round trip per request (0020)
                watcher = PostgresVersionWatcher(self.database.libpq_url)
                self.database.config_listeners.append(watcher.invalidate)
                self.config_cache.probe = watcher

    async def aclose(self) -> None:
        """Release what the state holds: the audit writer (committing every queued row first),
        the CPU pool, Jira clients, the database."""
        await self.writer.aclose()
        await self.config_cache.aclose()
        self.cpu.shutdown()
        await self.resolvers.aclose()
        await self.database.dispose()
