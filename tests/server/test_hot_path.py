"""The Validation API's answer path (issue 11, section 2): no database write before the answer
(the background writer, server/writer.py, stores the audit row and the token's usage), no
decryption per request, and the writer's guarantees — batched, bounded with back-pressure,
everything stored before it closes.

Counts, never timings: SQL statements seen by a SQLAlchemy event listener (split by the task
that ran them), calls of the secret box, rows in the database, transactions committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from tests.fakes.fake_jira import FakeJira
from tests.server.conftest import WS, Server

from jirahooks.store.database import Database
from jirahooks.store.models import EvaluationRow, Workspace

WITH_KEY = {"hash": "b" * 40, "message": "ABC-1 fix the login page", "authorDisplayName": "Ada"}
WRITER_TASK = "jirahooks-audit-writer"
BACKGROUND_TASKS = "jirahooks-"  # the names of the server's own background tasks


def push(*commits: dict[str, str]) -> dict[str, Any]:
    return {"triggerType": "PUSH", "branchName": "feature/x", "commits": list(commits)}


class Statements:
    """SQL statements the app's engine runs, as (task name, first word)."""

    def __init__(self, server: Server) -> None:
        self.engine = server.state.database.engine.sync_engine
        self.seen: list[tuple[str, str]] = []

    def record(self, _conn: Any, _cursor: Any, statement: str, *args: Any) -> None:
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        name = task.get_name() if task is not None else ""
        self.seen.append((name, statement.split()[0].upper()))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self.record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self.record)

    def of_requests(self) -> list[str]:
        # the background tasks ("jirahooks-pr-worker" polling the queue, the reconciliation
        # leader, the writer) are not the answer path; every request runs in a task of its own
        return [word for task, word in self.seen if not task.startswith(BACKGROUND_TASKS)]

    def of_writer(self) -> list[str]:
        return [word for task, word in self.seen if task == WRITER_TASK]


@pytest.fixture
def warm(server: Server) -> tuple[Server, str]:
    server.add_repository("api")
    server.add_rule("commit-key-required")
    secret: str = server.validation_token("ci", "api")["secret"]
    assert server.validate(push(WITH_KEY), secret).json()["result"] == "PASS"
    server.ok("GET", f"/workspaces/{WS}/evaluations")  # the writer has stored the warm-up
    return server, secret


def test_the_answer_path_writes_nothing(warm: tuple[Server, str]) -> None:
    server, secret = warm
    with Statements(server) as statements:
        for _ in range(5):
            assert server.validate(push(WITH_KEY), secret).json()["result"] == "PASS"
        answered = list(statements.of_requests())
        page = server.ok("GET", f"/workspaces/{WS}/evaluations")
    # at most the version read per request (none on SQLite: SqliteVersionProbe); no write
    assert not {"INSERT", "UPDATE", "DELETE"} & set(answered), answered
    assert len(answered) <= 5
    # the writer stored all five (plus the warm-up) and stamped the token
    assert "INSERT" in statements.of_writer()
    assert "UPDATE" in statements.of_writer()
    assert len(page["items"]) == 6
    [token] = server.ok("GET", f"/workspaces/{WS}/validation-tokens")
    assert token["last_used_at"] is not None


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira("cloud") as fake:
        fake.add_issue("ABC-1", status="In Progress")
        yield fake


def test_secrets_are_decrypted_once_per_snapshot(server: Server, jira: FakeJira) -> None:
    server.add_repository("api")
    server.ok(
        "POST",
        f"/workspaces/{WS}/connections",
        json={
            "name": "jira",
            "url": jira.url,
            "deployment": "cloud",
            "email": jira.user.email,
            "token": jira.token,
        },
    )
    server.ok(
        "POST",
        f"/workspaces/{WS}/rules",
        json={"id": "valid-keys", "title": "Keys exist", "checks": {"keys_valid": "ALL"}},
    )
    secret = server.validation_token("ci", "api")["secret"]
    box = server.state.secrets
    decrypted: list[str] = []
    original = box.decrypt

    def counting(token: str) -> str:
        plain: str = original(token)
        decrypted.append(plain)
        return plain

    box.decrypt = counting
    try:
        for _ in range(6):
            assert server.validate(push(WITH_KEY), secret).json()["result"] == "PASS"
    finally:
        del box.decrypt
    # one snapshot: the validation token's secret once, the Jira token once
    assert decrypted.count(jira.token) == 1
    assert decrypted.count(secret) == 1
    # a configuration change makes a new snapshot: decrypted once more, then reused again
    server.ok("PUT", f"/workspaces/{WS}/settings", json={"time_budget_seconds": 9})
    box.decrypt = counting
    try:
        for _ in range(3):
            assert server.validate(push(WITH_KEY), secret).json()["result"] == "PASS"
    finally:
        del box.decrypt
    assert decrypted.count(jira.token) == 2


# -- the writer itself, on a real database ------------------------------------------------


def values(workspace_id: int, n: int) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "repository_id": None,
        "source": "validation-api",
        "trigger": "PUSH",
        "branch": f"b{n}",
        "result": "PASS",
        "duration_ms": 1.0,
        "token_id": None,
        "event": {"n": n},
        "rules": [],
        "document": {"n": n},
        "issues": {},
    }


async def _database(url: str) -> tuple[Database, int]:
    database = Database(url)
    await database.upgrade()
    async with database.session() as session:
        workspace = Workspace(slug="w")
        session.add(workspace)
        await session.commit()
        return database, workspace.id


async def _stored(database: Database) -> list[str]:
    async with database.session() as session:
        rows = await session.execute(select(EvaluationRow.branch).order_by(EvaluationRow.id))
        return list(rows.scalars())


def test_rows_are_batched_in_order_and_all_stored_on_close(database_url: str) -> None:
    from jirahooks.server.writer import AuditWriter

    async def run() -> tuple[list[str], int, int]:
        database, ws = await _database(database_url)
        try:
            writer = AuditWriter(database, batch=100)
            for n in range(250):  # no await yields to the writer in between: one backlog
                await writer.submit(values(ws, n))
            backlog = writer.backlog()
            await writer.aclose()
            return await _stored(database), writer.batches, backlog
        finally:
            await database.dispose()

    stored, batches, backlog = asyncio.run(run())
    assert backlog == 250
    assert stored == [f"b{n}" for n in range(250)]
    assert batches == 3  # 100 + 100 + 50, not 250 transactions


def test_a_full_queue_waits_then_refuses_and_loses_nothing(tmp_path: Path) -> None:
    """The database is held (SQLite's writer lock of the process, as a long transaction of
    another request would): the queue fills, a submit waits for room and, none freeing, is
    refused with WriterBacklogged. Released, every accepted row is stored."""
    from jirahooks.server.writer import AuditWriter, WriterBacklogged

    async def run() -> tuple[list[str], bool, bool]:
        database, ws = await _database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
        try:
            writer = AuditWriter(database, capacity=3, batch=10, wait_seconds=0.2)
            async with database.writing():  # the writer cannot commit
                for n in range(3):
                    await writer.submit(values(ws, n))
                refused = False
                try:
                    await writer.submit(values(ws, 99))
                except WriterBacklogged:
                    refused = True
                waiting = asyncio.create_task(writer.submit(values(ws, 3)))
                await asyncio.sleep(0)
                still_waiting = not waiting.done()
            await waiting  # room freed once the lock is released
            await writer.flush()
            stored = await _stored(database)
            await writer.aclose()
            return stored, refused, still_waiting
        finally:
            await database.dispose()

    stored, refused, still_waiting = asyncio.run(run())
    assert refused
    assert still_waiting
    assert stored == ["b0", "b1", "b2", "b3"]


def test_a_full_queue_is_a_clear_503(warm: tuple[Server, str]) -> None:
    server, secret = warm
    writer = server.state.writer
    writer.capacity, writer.wait_seconds = 0, 0.05  # as if the queue were full
    try:
        response = server.validate(push(WITH_KEY), secret)
    finally:
        writer.capacity, writer.wait_seconds = 10_000, 5.0
    assert response.status_code == 503
    assert response.json()["errorCode"] == "AUDIT_BACKLOG_FULL"
    assert "retry" in response.json()["error"]


def test_a_row_of_a_deleted_repository_is_stored_without_it(database_url: str) -> None:
    from jirahooks.server.writer import AuditWriter
    from jirahooks.store.models import Repository

    async def run() -> list[tuple[str, int | None]]:
        database, ws = await _database(database_url)
        try:
            async with database.session() as session:
                repo = Repository(workspace_id=ws, slug="gone")
                session.add(repo)
                await session.commit()
                repo_id = repo.id
                await session.delete(repo)
                await session.commit()
            writer = AuditWriter(database)
            await writer.submit(values(ws, 0))
            await writer.submit({**values(ws, 1), "repository_id": repo_id})
            await writer.aclose()
            async with database.session() as session:
                rows = await session.execute(
                    select(EvaluationRow.branch, EvaluationRow.repository_id).order_by(
                        EvaluationRow.id
                    )
                )
                return [(b, r) for b, r in rows.all()]
        finally:
            await database.dispose()

    assert asyncio.run(run()) == [("b0", None), ("b1", None)]


@pytest.mark.postgres
def test_the_postgresql_probe_shares_reads_but_never_an_earlier_one(postgres_url: str) -> None:
    """Requests arriving while a version read is in flight share the next read (fewer round
    trips), and a change committed before a request arrived is always seen by it."""
    import psycopg

    from jirahooks.store.config_cache import PostgresVersionProbe

    async def run() -> tuple[int, list[Any], Any, Any]:
        database, ws = await _database(postgres_url)
        probe = PostgresVersionProbe(database.libpq_url)
        try:
            assert await probe("w") == (ws, 0)  # connected and prepared
            before = probe.reads
            many = await asyncio.gather(*(probe("w") for _ in range(10)))
            shared_reads = probe.reads - before
            in_flight = asyncio.create_task(probe("w"))
            await asyncio.sleep(0)  # its read has been sent
            with psycopg.connect(database.libpq_url, autocommit=True) as conn:
                conn.execute("UPDATE workspaces SET config_version = config_version + 1")
            after_change = await probe("w")
            return shared_reads, many, await in_flight, after_change
        finally:
            await probe.aclose()
            await database.dispose()

    shared_reads, many, _, after_change = asyncio.run(run())
    assert shared_reads == 2  # the first call's own read, then one read for the other nine
    assert all(found == many[0] for found in many)
    assert after_change[1] == 1


def test_a_reader_waits_for_the_writer_a_bounded_time(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``settled`` (what the evaluation readers wait on) gives up on a writer whose database
    takes nothing, reads what is stored and says so in the log, rather than hang the reader."""
    from types import SimpleNamespace

    from jirahooks.server import writer as writer_module

    class StuckWriter:
        async def flush(self) -> None:
            await asyncio.Event().wait()  # the database never takes the rows

        def backlog(self) -> int:
            return 7

    monkeypatch.setattr(writer_module, "SETTLE_SECONDS", 0.05)
    request: Any = SimpleNamespace(
        method="GET",
        url=SimpleNamespace(path="/api/v1/workspaces/acme/evaluations"),
        app=SimpleNamespace(state=SimpleNamespace(jirahooks=SimpleNamespace(writer=StuckWriter()))),
    )
    with caplog.at_level("WARNING", logger="jirahooks.server.writer"):
        asyncio.run(writer_module.settled(request))
    assert "reads without 7 evaluation(s)" in caplog.text
    assert "/api/v1/workspaces/acme/evaluations" in caplog.text


def test_a_snapshot_whose_row_was_expired_is_loaded_anew(tmp_path: Path) -> None:
    """A session that rolled back expired the workspace row a snapshot holds; the next request,
    in another session, gets a fresh snapshot instead of a DetachedInstanceError (seen as a PR
    delivery failing over and over under load)."""
    from jirahooks.store.config_cache import ConfigCache

    async def run() -> tuple[int, int, str]:
        database, ws = await _database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
        try:
            cache = ConfigCache()
            async with database.session() as session:
                first = await cache.workspace(session, "w")
                assert first is not None
                await session.rollback()  # expires every instance the session holds
            async with database.session() as session:
                again = await cache.workspace(session, "w")
                assert again is not None
                return ws, again.id, again.slug
        finally:
            await database.dispose()

    stored_id, workspace_id, slug = asyncio.run(run())
    assert workspace_id == stored_id and slug == "w"
