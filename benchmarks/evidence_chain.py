"""The cost of the evaluation chain (ADR 0012) and of evidence exports, side by side in one run.

Prints, on SQLite (and PostgreSQL when one answers on 127.0.0.1:5432):
* evaluations stored per second in batches of 500 (the background writer's batch) as a plain
  multi-row INSERT (before the chain) and chained (content hashes, head lock, links);
* the content hash of one evaluation of 10 and of 10,000 commits (what the CPU pool does per row);
* ``verify`` over the chain, and a CSV export of every row, with the export's peak Python memory
  (tracemalloc) against the size of what it wrote — streamed, so the peak stays near one batch.

Run: ``.venv/bin/python benchmarks/evidence_chain.py [--rows N]``. Nothing here asserts a
threshold; figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from jirahooks.store import chain, evidence
from jirahooks.store.database import Database
from jirahooks.store.models import EvaluationRow, Workspace

BATCH = 500


def row(workspace_id: int, n: int, commits: int = 10) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "created_at": datetime(2026, 7, 1, tzinfo=UTC),
        "source": "validation-api",
        "trigger": "PUSH",
        "branch": f"feature/ABC-{n}",
        "result": "PASS",
        "duration_ms": 2.5,
        "config_version": 3,
        "request_id": f"req-{n}",
        "event": {
            "commits": [
                {
                    "hash": f"{n:020x}{i:020x}",
                    "message": f"ABC-{i} change {i}",
                    "authorDisplayName": "Ada",
                }
                for i in range(commits)
            ]
        },
        "rules": [{"id": "r", "title": "R", "scope": "WORKSPACE", "status": "PASS"}],
        "document": {
            "result": "PASS",
            "ruleValidations": [{"rule": {"id": "r"}, "ruleStatus": "PASS", "mode": "enforce"}],
        },
        "issues": {f"ABC-{i}": {"status": "In Progress", "issueType": "Story"} for i in range(3)},
    }


async def one_database(label: str, url: str, rows: int) -> None:
    database = Database(url)
    try:
        await database.prepare(upgrade=True)
        async with database.session() as session:
            plain_ws, chained_ws = Workspace(slug="plain"), Workspace(slug="chained")
            session.add_all([plain_ws, chained_ws])
            await session.commit()
        table = EvaluationRow.__table__
        started = time.perf_counter()
        for i in range(0, rows, BATCH):
            async with database.session() as session:
                batch = [row(plain_ws.id, n) for n in range(i, min(rows, i + BATCH))]
                await session.execute(insert(table), batch)
                await session.commit()
        plain = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(0, rows, BATCH):
            async with database.session() as session:
                batch = [row(chained_ws.id, n) for n in range(i, min(rows, i + BATCH))]
                await chain.insert_chained(session, batch, run_cpu=asyncio.to_thread)
                await session.commit()
        chained = time.perf_counter() - started
        print(f"{label}: store {rows} evaluations in batches of {BATCH}")
        print(f"  plain INSERT (before)   {rows / plain:10,.0f} rows/s")
        print(f"  chained (now)           {rows / chained:10,.0f} rows/s")

        async with database.session() as session:
            ws = (
                await session.execute(select(Workspace).where(Workspace.slug == "chained"))
            ).scalar_one()
            started = time.perf_counter()
            report = await chain.verify(session, ws)
            took = time.perf_counter() - started
        print(f"  verify                  {report.links / took:10,.0f} links/s (ok: {report.ok})")

        selection = evidence.Selection.make(ws, evidence.Period(date(2026, 7, 1), date(2026, 7, 1)))
        tracemalloc.start()
        written = 0
        started = time.perf_counter()
        async with database.session() as session:
            async for chunk in evidence.export(session, selection, "csv"):
                written += len(chunk)
        took = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"  CSV export              {rows / took:10,.0f} rows/s, {written / 1e6:.1f} MB written, "
            f"peak Python memory {peak / 1e6:.1f} MB"
        )
    finally:
        await database.dispose()


def content_hash_figures() -> None:
    for commits in (10, 10_000):
        values = row(1, 1, commits)
        runs = 200 if commits == 10 else 5
        started = time.perf_counter()
        for _ in range(runs):
            chain.content_digest(values)
        per = (time.perf_counter() - started) / runs
        print(f"content hash of one evaluation of {commits:6,} commits: {per * 1000:8.2f} ms")


def postgres_url() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    except OSError:
        return None


async def main(rows: int) -> None:
    content_hash_figures()
    with tempfile.TemporaryDirectory() as tmp:
        await one_database("SQLite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", rows)
    admin = postgres_url()
    if admin is None:
        print("PostgreSQL: not reachable on 127.0.0.1:5432, skipped")
        return
    import psycopg

    name = f"jirahooks_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        await one_database("PostgreSQL", admin.rsplit("/", 1)[0] + f"/{name}", rows)
    finally:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5000)
    asyncio.run(main(parser.parse_args().rows))
