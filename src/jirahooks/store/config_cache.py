"""Per-process snapshots of what the Validation API reads for a workspace, reused while the
workspace's ``config_version`` is unchanged.

Before, every request re-read the workspace, the repository (twice), every validation token
(decrypting each candidate's secret with Fernet), the workspace and repository rules (parsing
each), the connections and the repository's connection switches: about ten round trips and a
few hundred microseconds of parsing and decryption per commit. Now a request reads one row,
``(id, config_version)`` of its workspace (``queries.workspace_version``); when it matches the
snapshot, everything else comes from memory.

Correctness rests on ``jirahooks.store.versioning``: every configuration write bumps the version
in the same transaction, so a request that reads version *v* sees every change up to *v*, and a
snapshot labelled *v* is only filled after *v* was read (its data is *v* or newer, never older).
A revoked, rotated or deleted token, a changed rule, setting, repository or connection is
therefore seen by the next request of the process that made the change. On SQLite every request
reads the version (a few microseconds: ``SqliteVersionProbe``), so other processes see it on
their next request too; on PostgreSQL the server takes the version from a table kept current by
LISTEN/NOTIFY (``store/config_watch.py``, decision 0020): other processes see a change when its
notification arrives, within ``MAX_AGE_SECONDS`` (2 s) whatever happens to notifications.

Snapshots fill lazily, in the order the Validation API needs them, so an error that was reported
before is still reported at the same step; failures are never
cached. A stored rule that does not parse is no failure: ``queries.row_rule`` reads it as a
``BrokenRule``, which the engine reports as that rule's own error while the others are judged. A
token whose secret cannot be decrypted is remembered as such for the snapshot (one warning) and
is no candidate: it fails only the requests signed with it. Only repositories that exist are
remembered (no growth from unknown slugs).
Snapshot rows are detached ORM objects, shared between requests: read them, never change them
or add them to a session.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.crypto import SecretKeyError
from jirahooks.rules.config import combine_rules
from jirahooks.rules.model import Rule, Settings
from jirahooks.store import queries
from jirahooks.store.models import Connection, Repository, RuleRow, ValidationToken, Workspace

log = logging.getLogger("jirahooks.server.validation")

C = TypeVar("C")

if TYPE_CHECKING:
    from jirahooks.engine.core import RunCpu
    from jirahooks.store.config_watch import PostgresVersionWatcher


@dataclass
class RepositorySnapshot:
    """One repository of a workspace snapshot, with what is derived from it on first use."""

    row: Repository
    settings: Settings | None = None
    rules: tuple[Rule, ...] | None = None
    connections: tuple[Connection, ...] | None = None
    # the connections as the Jira layer takes them, their tokens decrypted (jira_configs)
    jira: tuple[Any, ...] | None = field(default=None, repr=False)

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def slug(self) -> str:
        return self.row.slug


def _expired(row: Workspace) -> bool:
    """The row lost loaded attributes (its session rolled back or expired it): reading them
    again needs a session it may no longer have, so the snapshot is loaded anew."""
    from sqlalchemy import inspect

    return bool(inspect(row).expired_attributes)


@dataclass
class WorkspaceSnapshot:
    """A workspace's Validation API configuration at ``version``."""

    row: Workspace
    version: int
    settings: Settings | None = None
    tokens: tuple[ValidationToken, ...] | None = None
    workspace_rules: tuple[Rule, ...] | None = None
    _by_slug: dict[str, RepositorySnapshot] = field(default_factory=dict)
    _by_uuid: dict[str, RepositorySnapshot] = field(default_factory=dict)
    _keys: dict[int, bytes] = field(default_factory=dict, repr=False)
    _unreadable: set[int] = field(default_factory=set, repr=False)

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def slug(self) -> str:
        return self.row.slug

    async def active_tokens(self, session: AsyncSession) -> tuple[ValidationToken, ...]:
        """Unrevoked validation tokens of the workspace, in id order."""
        if self.tokens is None:
            self.tokens = tuple(await queries.active_validation_tokens(session, self.id))
        return self.tokens

    def hmac_key(self, token: ValidationToken, decrypt: Callable[[str], str]) -> bytes | None:
        """The token's secret as HMAC key bytes, decrypted once per snapshot; None (and one
        warning per snapshot) when it cannot be decrypted with the server's key — that token is
        no candidate, the workspace's other tokens still work."""
        key = self._keys.get(token.id)
        if key is None:
            if token.id in self._unreadable:
                return None
            try:
                key = decrypt(token.secret_encrypted).encode("utf-8")
            except SecretKeyError as exc:
                self._unreadable.add(token.id)
                log.warning(
                    "validation token %r (id %s) of workspace %r is skipped: %s (%s)",
                    token.name,
                    token.id,
                    self.slug,
                    exc.message,
                    exc.hint,
                )
                return None
            self._keys[token.id] = key
        return key

    def _remember(self, repo: Repository) -> RepositorySnapshot:
        snapshot = self._by_slug.get(repo.slug)
        if snapshot is None or snapshot.id != repo.id:
            snapshot = self._by_slug[repo.slug] = RepositorySnapshot(repo)
        if repo.uuid:
            self._by_uuid[_uuid_key(repo.uuid)] = snapshot
        return snapshot

    async def repository_by_slug(
        self, session: AsyncSession, slug: str
    ) -> RepositorySnapshot | None:
        snapshot = self._by_slug.get(slug)
        if snapshot is not None:
            return snapshot
        repo = await queries.repository_by_slug(session, self.id, slug)
        return None if repo is None else self._remember(repo)

    async def repository_by_uuid(
        self, session: AsyncSession, uuid: str
    ) -> RepositorySnapshot | None:
        snapshot = self._by_uuid.get(_uuid_key(uuid))
        if snapshot is not None:
            return snapshot
        repo = await queries.repository_by_uuid(session, self.id, uuid)
        return None if repo is None else self._remember(repo)

    def workspace_settings(self) -> Settings:
        """The workspace's effective settings (``queries.effective_settings`` without a
        repository)."""
        if self.settings is None:
            self.settings = queries.effective_settings(self.row, None)
        return self.settings

    def repository_settings(self, repo: RepositorySnapshot) -> Settings:
        if repo.settings is None:
            repo.settings = queries.effective_settings(self.row, repo.row)
        return repo.settings

    async def rules_for(
        self, session: AsyncSession, repo: RepositorySnapshot, run_cpu: RunCpu | None = None
    ) -> list[Rule]:
        """``queries.rules_for`` with the parsed workspace rules shared by all repositories.
        ``run_cpu``: where to parse them (the server's CPU pool: a workspace may have 1,000)."""
        if self.workspace_rules is None:
            rows = await queries.rule_rows(session, self.id, None)
            parsed = await run_cpu(_parse, rows) if run_cpu else _parse(rows)
            self.workspace_rules = tuple(parsed)
        if repo.rules is None:
            rows = await queries.rule_rows(session, self.id, repo.id)
            own = await run_cpu(_parse, rows) if run_cpu else _parse(rows)
            disabled = [str(x) for x in repo.row.disabled_rules or []]
            repo.rules = tuple(combine_rules(self.workspace_rules, own, disabled))
        return list(repo.rules)

    async def connections_for(
        self, session: AsyncSession, repo: RepositorySnapshot
    ) -> list[Connection]:
        if repo.connections is None:
            repo.connections = tuple(await queries.enabled_connections(session, self.id, repo.id))
        return list(repo.connections)

    def jira_configs(
        self, repo: RepositorySnapshot, convert: Callable[[Connection], C]
    ) -> tuple[C, ...]:
        """The repository's enabled connections (``connections_for`` first) through
        ``convert`` — ``server.jira_adapter.to_config``, which decrypts each Jira token — once
        per snapshot, not once per request."""
        if repo.jira is None:
            if repo.connections is None:
                raise RuntimeError("connections_for() must run before jira_configs()")
            repo.jira = tuple(convert(c) for c in repo.connections)
        configs: tuple[C, ...] = repo.jira
        return configs


def _parse(rows: Sequence[RuleRow]) -> list[Rule]:
    return [queries.row_rule(r) for r in rows]


def _uuid_key(uuid: str) -> str:
    return uuid.strip("{}").lower()


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


class ConfigCache:
    """The newest snapshot of each workspace this process has served, by workspace slug.

    ``probe``: a faster way to learn a workspace's version (``SqliteVersionProbe``, read on
    every request; ``PostgresVersionProbe``, likewise; ``PostgresVersionWatcher``, the server's
    choice on PostgreSQL: from a table kept current by LISTEN/NOTIFY, decision 0020)."""

    def __init__(
        self,
        probe: SqliteVersionProbe | PostgresVersionProbe | PostgresVersionWatcher | None = None,
    ) -> None:
        self._snapshots: dict[str, WorkspaceSnapshot] = {}
        self.probe = probe

    async def _version(self, session: AsyncSession, slug: str) -> tuple[int, int] | None:
        if isinstance(self.probe, SqliteVersionProbe):
            found = self.probe(slug)
        elif self.probe is not None:
            found = await self.probe(slug)
        else:
            found = SqliteVersionProbe.UNKNOWN
        if found is not SqliteVersionProbe.UNKNOWN:
            return found  # type: ignore[return-value]
        return await queries.workspace_version(session, slug)

    async def workspace(self, session: AsyncSession, slug: str) -> WorkspaceSnapshot | None:
        """The current snapshot of the workspace (one query when it is still current); None
        when no such workspace exists."""
        current = await self._version(session, slug)
        if current is None:
            self._snapshots.pop(slug, None)
            return None
        workspace_id, version = current
        snapshot = self._snapshots.get(slug)
        if (
            snapshot is not None
            and not _expired(snapshot.row)
            and snapshot.id == workspace_id
            and snapshot.version == version
        ):
            return snapshot
        row = await queries.workspace_by_slug(session, slug)
        if row is None:  # deleted since the first read
            return None
        # The row may be newer than the first read: label the snapshot with what it holds.
        snapshot = WorkspaceSnapshot(row, row.config_version)
        self._snapshots[slug] = snapshot
        return snapshot

    def clear(self) -> None:
        self._snapshots.clear()

    async def aclose(self) -> None:
        if isinstance(self.probe, SqliteVersionProbe):
            self.probe.close()
        elif self.probe is not None:
            await self.probe.aclose()
