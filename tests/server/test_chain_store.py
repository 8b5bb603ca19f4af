"""The chain under concurrent writers and across the upgrade (issue 16, decision 0012): tasks
appending at once (SQLite and PostgreSQL, without the process's SQLite write lock), two
processes appending at once on PostgreSQL, a background-writer batch spanning two workspaces,
and migration 0012 chaining the rows an older schema stored, per workspace in id order."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from jirahooks.server.writer import AuditWriter
from jirahooks.store import chain, queries
from jirahooks.store.database import Database, _alembic_config
from jirahooks.store.models import EvaluationRow, Workspace

ROOT = Path(__file__).resolve().parents[2]


def row(workspace_id: int, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "repository_id": None,
        "source": "test",
        "trigger": "PUSH",
        "branch": f"feature/{n}",
        "result": "PASS" if n % 2 else "BLOCK",
        "duration_ms": 1.5,
        "token_id": None,
        "event": {"commits": [{"hash": f"{n:040x}", "message": f"ABC-{n} change"}]},
        "rules": [{"id": "r", "title": "R", "scope": "WORKSPACE", "status": "PASS"}],
        "document": {"result": "PASS", "ruleValidations": [], "n": n, "ü": "ß"},
        "issues": {},
        "request_id": f"req-{n}",
        **extra,
    }


async def workspaces(database: Database, *slugs: str) -> list[int]:
    await database.prepare(upgrade=True)
    async with database.session() as session:
        made = [Workspace(slug=slug, name=slug) for slug in slugs]
        session.add_all(made)
        await session.commit()
        return [w.id for w in made]


async def reports(database: Database) -> dict[str, chain.Report]:
    async with database.session() as session:
        found = (await session.execute(select(Workspace))).scalars().all()
        return {w.slug: await chain.verify(session, w) for w in found}


async def append(url: str, workspace_id: int, tasks: int, each: int, start: int) -> None:
    """``tasks`` concurrent writers, each storing ``each`` evaluations, one transaction each,
    without ``Database.writing()``: the chain's own lock must serialise them."""
    database = Database(url)

    async def one(t: int) -> None:
        for i in range(each):
            async with database.session() as session:
                await queries.insert_evaluation(session, row(workspace_id, start + t * each + i))
                await session.commit()

    try:
        await asyncio.gather(*(one(t) for t in range(tasks)))
    finally:
        await database.dispose()


def test_concurrent_tasks_keep_one_valid_chain(database_url: str) -> None:
    async def main() -> None:
        database = Database(database_url)
        try:
            [ws] = await workspaces(database, "w")
            await append(database_url, ws, tasks=6, each=8, start=0)
            report = (await reports(database))["w"]
            assert report.ok, report.problems
            assert report.links == 48 and report.head_seq == 48
            async with database.session() as session:
                seqs = (
                    await session.execute(
                        select(EvaluationRow.chain_seq).order_by(EvaluationRow.id)
                    )
                ).scalars()
                assert list(seqs) == list(range(1, 49))  # in id order, no gap, no repeat
        finally:
            await database.dispose()

    asyncio.run(main())


def test_two_processes_keep_one_valid_chain(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("several writing processes need PostgreSQL (WORKERS_NEED_POSTGRESQL)")
    postgres_url = database_url
    database = Database(postgres_url)
    [ws] = asyncio.run(workspaces(database, "w"))
    asyncio.run(database.dispose())
    script = (
        "import asyncio, sys; from tests.server.test_chain_store import append; "
        "asyncio.run(append(sys.argv[1], int(sys.argv[2]), 4, 10, int(sys.argv[3])))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, postgres_url, str(ws), str(start)], cwd=ROOT, env=env
        )
        for start in (0, 1000)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]

    async def check() -> None:
        database = Database(postgres_url)
        try:
            report = (await reports(database))["w"]
            assert report.ok, report.problems
            assert report.links == 80 and report.head_seq == 80
        finally:
            await database.dispose()

    asyncio.run(check())


def test_a_writer_batch_over_two_workspaces(database_url: str) -> None:
    async def main() -> None:
        database = Database(database_url)
        writer = AuditWriter(database)
        try:
            a, b = await workspaces(database, "a", "b")
            for n in range(30):
                await writer.submit(row(a if n % 3 else b, n))
            await writer.flush()
            found = await reports(database)
            assert found["a"].ok and found["b"].ok, (found["a"].problems, found["b"].problems)
            assert (found["a"].links, found["b"].links) == (20, 10)
        finally:
            await writer.aclose()
            await database.dispose()

    asyncio.run(main())


def test_migration_chains_the_rows_stored_before(database_url: str) -> None:
    migration = importlib.import_module("jirahooks.store.migrations.versions.0012_evaluation_chain")
    from alembic import command

    async def main() -> None:
        database = Database(database_url)
        try:
            async with database.engine.begin() as conn:
                await conn.run_sync(
                    lambda c: command.upgrade(_alembic_config(c), migration.down_revision)
                )
                await conn.execute(
                    text(
                        "INSERT INTO workspaces (id, slug, name, settings, created_at, "
                        "config_version) VALUES (1, 'one', '', '{}', :t, 0), "
                        "(2, 'two', '', '{}', :t, 0)"
                    ),
                    {"t": datetime(2026, 1, 1, tzinfo=UTC)},
                )
                for i in range(7):  # interleaved: 1, 2, 1, 2, …
                    await conn.execute(
                        text(
                            "INSERT INTO evaluations (workspace_id, created_at, source, "
                            "trigger, branch, result, duration_ms, event, rules, document, "
                            "issues, request_id) VALUES (:w, :t, 'validation-api', 'PUSH', "
                            ":b, 'PASS', 2.25, :e, '[]', :d, '{}', '')"
                        ),
                        {
                            "w": 1 + i % 2,
                            "t": datetime(2026, 1, 1, 12, 0, i, 123456, tzinfo=UTC),
                            "b": f"b{i}",
                            "e": '{"commits": [], "n": ' + str(i) + "}",
                            "d": '{"result": "PASS", "x": [1.5, "é"]}',
                        },
                    )
            await database.upgrade()
            found = await reports(database)
            assert found["one"].ok and found["two"].ok, found
            assert (found["one"].links, found["two"].links) == (4, 3)
            async with database.session() as session:
                got = (
                    await session.execute(
                        select(EvaluationRow.workspace_id, EvaluationRow.chain_seq).order_by(
                            EvaluationRow.id
                        )
                    )
                ).all()
            assert [tuple(r) for r in got] == [
                (1, 1),
                (2, 1),
                (1, 2),
                (2, 2),
                (1, 3),
                (2, 3),
                (1, 4),
            ]
            # the server's writes continue the migrated chains
            async with database.session() as session:
                await queries.insert_evaluation(session, row(2, 99))
                await session.commit()
            found = await reports(database)
            assert found["two"].ok and found["two"].links == 4 and found["two"].head_seq == 4
        finally:
            await database.dispose()

    asyncio.run(main())
