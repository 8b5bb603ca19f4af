"""The database: URL handling, the async engine and sessions, and the schema (Alembic) state.

SQLite (``sqlite+aiosqlite``) is the embedded default, one file in the data directory;
PostgreSQL runs on psycopg 3's async driver (``postgresql+psycopg``). Plain ``sqlite:///`` and
``postgresql://`` URLs are accepted and given the async driver.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from jirahooks.errors import EnvironmentProblem
from jirahooks.store.versioning import CONFIG_LISTENERS, TrackedSession

DATABASE_FILE = "jirahooks.sqlite3"


class DatabaseError(EnvironmentProblem):
    """The database cannot be reached, or its schema is not what this version needs."""

    code = "DATABASE"


def sqlite_url(data_dir: str | Path) -> str:
    return f"sqlite+aiosqlite:///{Path(data_dir).resolve() / DATABASE_FILE}"


def async_url(url: str) -> str:
    """Give a URL the async driver jirahooks uses for its dialect."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(
            f"not a database URL: {url!r}",
            hint="e.g. postgresql+psycopg://user@host:5432/jirahooks or sqlite:///path/db.sqlite3",
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise DatabaseError(f"unsupported database {backend!r}", hint="use SQLite or PostgreSQL")


def redacted(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid URL)"


class SchemaState(StrEnum):
    EMPTY = "empty"  # a brand-new database: no tables
    CURRENT = "current"
    OUTDATED = "outdated"
    UNKNOWN = "unknown"  # tables, but not ours or from a newer jirahooks


@dataclass(frozen=True)
class SchemaStatus:
    state: SchemaState
    current: str | None
    head: str


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "jirahooks.store:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def _status(connection: Connection) -> SchemaStatus:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    head = script.get_current_head()
    assert head is not None
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None:
        tables = inspect(connection).get_table_names()
        return SchemaStatus(SchemaState.EMPTY if not tables else SchemaState.UNKNOWN, None, head)
    if current == head:
        return SchemaStatus(SchemaState.CURRENT, current, head)
    known = {rev.revision for rev in script.walk_revisions()}
    return SchemaStatus(
        SchemaState.OUTDATED if current in known else SchemaState.UNKNOWN, current, head
    )


def _upgrade(connection: Connection) -> None:
    from alembic import command

    command.upgrade(_alembic_config(connection), "head")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; busy_timeout waits instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable against application crashes and never corrupts in WAL mode; only the
    # last commits before an OS crash or power loss can be lost. One fsync per checkpoint, not
    # per evaluation stored.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class EncodedJSON(str):
    """A value for a JSON column that is already encoded (e.g. on the server's CPU pool, so a
    multi-megabyte evaluation document is not serialised on the event loop): stored as it is."""


def _json_serializer(value: Any) -> str:
    return str(value) if isinstance(value, EncodedJSON) else json.dumps(value)


class Database:
    """An async engine and its session factory, built from a URL; nothing at import time."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = async_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        # hide_parameters: SQL errors in logs never carry bound values (encrypted secrets, hashes).
        kwargs: dict[str, Any] = {
            "echo": echo,
            "hide_parameters": True,
            "json_serializer": _json_serializer,
        }
        if self.dialect == "sqlite":
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                # a webhook burst holds a session per request being answered and per PR being
                # processed: with the default 5 kept, every further one opened a new connection
                # (a thread and the pragmas) and closed it again
                kwargs.update(pool_size=20, max_overflow=20)
        else:
            # kept open: a connection opened for a burst and closed after it costs PostgreSQL
            # a backend process each time (measured: ~40 per 200-webhook burst with 10 kept)
            kwargs.update(pool_size=20, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        # TrackedSession: every configuration write bumps its workspace's config_version, and
        # once it has committed, each of these is called with the workspace ids (None: all)
        self.config_listeners: list[Callable[[set[int] | None], None]] = []
        self.sessions = async_sessionmaker(
            self.engine,
            expire_on_commit=False,
            sync_session_class=TrackedSession,
            info={CONFIG_LISTENERS: self.config_listeners},
        )
        self._sqlite_writer = asyncio.Lock() if self.dialect == "sqlite" else None

    @property
    def libpq_url(self) -> str:
        """The PostgreSQL URL as psycopg takes it (no SQLAlchemy driver name)."""
        return make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)

    @property
    def sqlite_path(self) -> str:
        """The SQLite file ("" for PostgreSQL and in-memory SQLite)."""
        if self.dialect != "sqlite":
            return ""
        database = make_url(self.url).database or ""
        return "" if database in ("", ":memory:") or database.startswith("file:") else database

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Around a short write transaction on a hot path: on SQLite, one at a time in this
        process. SQLite has one writer; a second one waits in its busy handler, which sleeps
        in steps of up to 100 ms (hundreds of milliseconds of tail latency with a few
        concurrent requests), while an asyncio lock hands over as soon as the writer commits.
        PostgreSQL writers run concurrently: nothing to do."""
        if self._sqlite_writer is None:
            yield
            return
        async with self._sqlite_writer:
            yield

    async def status(self) -> SchemaStatus:
        try:
            async with self.engine.connect() as connection:
                return await connection.run_sync(_status)
        except (SQLAlchemyError, OSError) as exc:
            raise DatabaseError(
                f"cannot reach the database {redacted(self.url)}: {type(exc).__name__}",
                hint="check --database-url / JIRAHOOKS_DATABASE_URL and that the server is up",
            ) from exc

    async def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision."""
        try:
            async with self.engine.begin() as connection:
                await connection.run_sync(_upgrade)
        except (SQLAlchemyError, OSError) as exc:
            raise DatabaseError(
                f"migrating {redacted(self.url)} failed: {type(exc).__name__}: {exc}",
                hint="check the database user's rights (CREATE TABLE) and the server log",
            ) from exc

    async def prepare(self, *, upgrade: bool) -> SchemaStatus:
        """Make sure the schema is usable: create it on an empty database, migrate it when
        ``upgrade``, otherwise refuse an out-of-date one."""
        status = await self.status()
        if status.state is SchemaState.CURRENT:
            return status
        if status.state is SchemaState.EMPTY or (upgrade and status.state is SchemaState.OUTDATED):
            await self.upgrade()
            return await self.status()
        if status.state is SchemaState.OUTDATED:
            raise DatabaseError(
                f"the database schema is at revision {status.current}, this jirahooks needs "
                f"{status.head}",
                hint="run `jirahooks db upgrade` (back up first), or start with --upgrade",
            )
        raise DatabaseError(
            f"the database holds tables jirahooks does not know (revision {status.current})",
            hint="use an empty database, or the jirahooks version that created this one",
        )

    async def dispose(self) -> None:
        await self.engine.dispose()
