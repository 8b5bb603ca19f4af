"""Configuration versions without a round trip per request (store/config_watch.py, decision
0020): committed changes are told to this process's listeners at once, PostgreSQL's
notifications tell the other processes, and whatever happens to notifications a change is seen
within the watcher's bound — waited for by polling, never by timing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from sqlalchemy import update
from tests.server.conftest import WS, Server, TestClient, make_settings

from jirahooks.server import create_app
from jirahooks.store.database import Database
from jirahooks.store.models import Repository, ValidationToken, Workspace, utcnow
from jirahooks.store.versioning import NOT_CONFIGURATION

WITH_KEY = {"hash": "b" * 40, "message": "ABC-1 fix the login page", "authorDisplayName": "Ada"}
NO_KEY = {"hash": "a" * 40, "message": "fix the login page", "authorDisplayName": "Ada"}
if TYPE_CHECKING:
    from jirahooks.store.config_watch import PostgresVersionWatcher

DEADLINE = 30.0  # seconds: generous, the machine is shared


def push(*commits: dict[str, str]) -> dict[str, Any]:
    return {"triggerType": "PUSH", "branchName": "feature/x", "commits": list(commits)}


def poll(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE:.0f} s: {what}")
        time.sleep(0.02)


async def apoll(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE:.0f} s: {what}")
        await asyncio.sleep(0.02)


def test_committed_configuration_changes_are_told_to_listeners(database_url: str) -> None:
    """What this process changed, it knows at once: the commit calls the database's
    ``config_listeners`` with the workspaces bumped (None: all) — never for a rollback, never
    for usage."""

    async def run() -> dict[str, list[Any]]:
        database = Database(database_url)
        told: list[Any] = []
        database.config_listeners.append(told.append)
        steps: dict[str, list[Any]] = {}
        try:
            await database.upgrade()
            async with database.session() as session:
                ws = Workspace(slug="w")
                session.add(ws)
                await session.commit()
                ws_id = ws.id
                steps["workspace created"], told[:] = list(told), []
                session.add(Repository(workspace_id=ws_id, slug="r"))
                await session.commit()
                steps["repository"], told[:] = list(told), []
                ws.settings = {"validation_api": False}
                await session.flush()
                await session.rollback()
                steps["rolled back"], told[:] = list(told), []
                found = await session.get(Workspace, ws_id)
                assert found is not None
                ws = found
                token = ValidationToken(workspace_id=ws_id, name="t", secret_encrypted="x")
                session.add(token)
                await session.commit()
                told[:] = []
                token.last_used_at = utcnow()
                await session.commit()
                steps["token used"], told[:] = list(told), []
                marked = update(ValidationToken).values(last_used_at=utcnow())
                await session.execute(marked.execution_options(**{NOT_CONFIGURATION: True}))
                await session.commit()
                steps["bulk usage"], told[:] = list(told), []
                await session.execute(update(ValidationToken).values(revoked_at=utcnow()))
                await session.commit()
                steps["bulk change"], told[:] = list(told), []
                await session.delete(ws)
                await session.commit()
                steps["workspace deleted"], told[:] = list(told), []
                steps["ids"] = [ws_id]
            return steps
        finally:
            await database.dispose()

    steps = asyncio.run(run())
    ws_id = steps.pop("ids")[0]
    assert steps == {
        "workspace created": [],
        "repository": [{ws_id}],
        "rolled back": [],
        "token used": [],
        "bulk usage": [],
        "bulk change": [None],
        "workspace deleted": [{ws_id}],
    }


@pytest.fixture
def pg_server(tmp_path: Path, postgres_url: str) -> Iterator[Server]:
    settings = make_settings(tmp_path, postgres_url)
    app = create_app(settings)
    with TestClient(app) as client:
        first = app.state.jirahooks.first_start
        assert first is not None
        yield Server(client, settings, first.token)


def _reads(server: Server) -> int:
    probe = server.state.config_cache.probe
    reads: int = getattr(probe, "probe", probe).reads  # the watcher's own probe, or the probe
    return reads


def _listening(server: Server) -> bool:
    return bool(getattr(server.state.config_cache.probe, "listening", True))


@pytest.mark.postgres
def test_a_warm_request_on_postgresql_reads_no_version(pg_server: Server) -> None:
    server = pg_server
    server.add_repository("api")
    server.add_rule("commit-key-required")
    secret = server.validation_token("ci", "api")["secret"]
    assert server.validate(push(WITH_KEY), secret).json()["result"] == "PASS"
    poll(lambda: _listening(server), "the watcher listens")
    assert server.validate(push(WITH_KEY), secret).json()["result"] == "PASS"  # remembered
    before = _reads(server)
    for _ in range(5):
        assert server.validate(push(WITH_KEY), secret).json()["result"] == "PASS"
    assert _reads(server) == before  # no round trip for the version
    # and a change through this process applies to its very next request
    [token] = server.ok("GET", f"/workspaces/{WS}/validation-tokens")
    server.ok("DELETE", f"/workspaces/{WS}/validation-tokens/{token['id']}")
    assert server.validate(push(WITH_KEY), secret).status_code == 401


@pytest.mark.postgres
def test_a_change_through_another_process_is_seen_there(pg_server: Server) -> None:
    """A second app on the same database (like a second worker or host) learns of a change
    from PostgreSQL's notification; polled for, within the bound."""
    server = pg_server
    server.add_repository("api")
    server.add_rule("commit-key-required")
    secret = server.validation_token("ci", "api")["secret"]
    with TestClient(create_app(server.settings)) as client:
        other = Server(client, server.settings, server.admin_token)
        assert other.validate(push(NO_KEY), secret).json()["result"] == "BLOCK"
        poll(lambda: _listening(other), "the other app's watcher listens")
        assert other.validate(push(NO_KEY), secret).json()["result"] == "BLOCK"
        from jirahooks.store.config_watch import PostgresVersionWatcher

        watcher = other.state.config_cache.probe
        assert isinstance(watcher, PostgresVersionWatcher)
        heard = watcher.notifications
        server.ok("PUT", f"/workspaces/{WS}/repositories/api/settings", json={"enabled": False})
        poll(
            lambda: other.validate(push(NO_KEY), secret).json()["result"] == "IGNORE",
            "the other app sees the switched-off repository",
        )
        assert watcher.notifications > heard  # told, not found out by age


def _watcher(url: str, **options: float) -> PostgresVersionWatcher:
    from jirahooks.store.config_watch import PostgresVersionWatcher

    return PostgresVersionWatcher(url, **options)


async def _workspace(url: str) -> tuple[Database, int]:
    database = Database(url)
    await database.upgrade()
    async with database.session() as session:
        workspace = Workspace(slug="w")
        session.add(workspace)
        await session.commit()
        return database, workspace.id


async def _remembered(watcher: PostgresVersionWatcher) -> None:
    """Until the watcher listens and answers "w" from its table."""

    async def check() -> bool:
        await watcher("w")
        return watcher.listening and "w" in watcher._known

    await apoll(check, "the watcher remembers w")


@pytest.mark.postgres
def test_a_version_bumped_by_hand_is_seen_within_the_bound(postgres_url: str) -> None:
    """Raw SQL sends no notification; the watcher's re-reads still catch it."""

    async def run() -> tuple[Any, int]:
        database, ws = await _workspace(postgres_url)
        watcher = _watcher(database.libpq_url, recheck_seconds=0.1, max_age_seconds=0.3)
        try:
            await _remembered(watcher)
            with psycopg.connect(database.libpq_url, autocommit=True) as conn:
                conn.execute("UPDATE workspaces SET config_version = config_version + 1")

            async def seen() -> bool:
                return await watcher("w") == (ws, 1)

            await apoll(seen, "the hand-made bump is seen")
            return await watcher("w"), watcher.notifications
        finally:
            await watcher.aclose()
            await database.dispose()

    found, notifications = asyncio.run(run())
    assert found[1] == 1
    assert notifications == 0


@pytest.mark.postgres
def test_a_read_in_flight_during_an_invalidation_is_not_remembered(postgres_url: str) -> None:
    async def run() -> tuple[Any, bool]:
        database, ws = await _workspace(postgres_url)
        watcher = _watcher(database.libpq_url)
        try:
            await _remembered(watcher)
            watcher._known.clear()
            in_flight = asyncio.create_task(watcher("w"))
            await asyncio.sleep(0)  # its read has started
            watcher.invalidate({ws})  # a change committed meanwhile
            return await in_flight, "w" in watcher._known
        finally:
            await watcher.aclose()
            await database.dispose()

    found, remembered = asyncio.run(run())
    assert found[1] == 0
    assert not remembered


@pytest.mark.postgres
def test_a_lost_listener_falls_back_to_reads_and_listens_again(postgres_url: str) -> None:
    """The watcher's connections are terminated; meanwhile the version changes by hand. Requests
    read per request until the watcher listens again, then the table is rebuilt from reads made
    after it listened: the change is never missed."""

    async def run() -> tuple[Any, int]:
        database, ws = await _workspace(postgres_url)
        watcher = _watcher(database.libpq_url)
        try:
            await _remembered(watcher)
            with psycopg.connect(database.libpq_url, autocommit=True) as conn:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                conn.execute("UPDATE workspaces SET config_version = config_version + 1")

            async def seen() -> bool:
                return await watcher("w") == (ws, 1)

            await apoll(seen, "the change made while the watcher was away is seen")
            await _remembered(watcher)
            return await watcher("w"), watcher.probe.reads
        finally:
            await watcher.aclose()
            await database.dispose()

    found, _ = asyncio.run(run())
    assert found[1] == 1
