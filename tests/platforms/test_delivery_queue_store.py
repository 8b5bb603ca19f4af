"""The delivery queue's store side (issue 11 §4, decision 0013), on SQLite and PostgreSQL:
migration 0013's per-pull-request index, the purge of finished deliveries (failed and unfinished
ones stay), and what a claim returns (the row's processing data, so it is not read again)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import inspect, select

from jirahooks.store.database import Database
from jirahooks.store.deliveries import Claimed, DeliveryRow, claim_due, purge_finished
from jirahooks.store.models import Workspace, utcnow


def test_migration_0013_indexes_deliveries_by_pull_request(database_url: str) -> None:
    async def main() -> Any:
        database = Database(database_url)
        await database.prepare(upgrade=False)
        try:
            async with database.engine.connect() as connection:
                return await connection.run_sync(
                    lambda c: inspect(c).get_indexes("webhook_deliveries")
                )
        finally:
            await database.dispose()

    indexes = {str(i["name"]): list(i["column_names"]) for i in asyncio.run(main())}
    assert indexes["ix_webhook_deliveries_pull_request"] == [
        "workspace_id",
        "repository",
        "pull_request_id",
        "id",
    ]


def test_migration_0013_downgrades_without_the_index(database_url: str) -> None:
    from importlib import import_module

    from jirahooks.store.database import _alembic_config

    module = import_module("jirahooks.store.migrations.versions.0013_delivery_queue_index")
    before = module.down_revision  # whatever the merge chained it onto

    def names(connection: Any) -> set[str]:
        return {str(i["name"]) for i in inspect(connection).get_indexes("webhook_deliveries")}

    def migrate(connection: Any, target: str, down: bool) -> None:
        from alembic import command

        config = _alembic_config(connection)
        (command.downgrade if down else command.upgrade)(config, target)

    async def main() -> tuple[set[str], set[str]]:
        database = Database(database_url)
        try:
            async with database.engine.begin() as connection:
                await connection.run_sync(migrate, "0013_delivery_queue_index", False)
                upgraded = await connection.run_sync(names)
                await connection.run_sync(migrate, before, True)
                downgraded = await connection.run_sync(names)
            return upgraded, downgraded
        finally:
            await database.dispose()

    upgraded, downgraded = asyncio.run(main())
    assert "ix_webhook_deliveries_pull_request" in upgraded
    assert "ix_webhook_deliveries_pull_request" not in downgraded


def test_purge_removes_only_old_finished_deliveries(database_url: str) -> None:
    """Finished long ago: gone. Failed (kept for the operator), pending, processing, or
    finished recently: kept. Batches: a small batch purges in several rounds."""
    now = utcnow()
    old, recent = now - timedelta(days=30), now - timedelta(hours=1)
    rows = [
        ("done", old),
        ("reused", old),
        ("superseded", old),
        ("ignored", old),
        ("closed", old),
        ("failed", old),
        ("pending", None),
        ("processing", None),
        ("done", recent),
    ]

    async def main() -> tuple[list[int], list[str]]:
        database = Database(database_url)
        await database.prepare(upgrade=False)
        try:
            async with database.session() as session:
                ws = Workspace(slug="w", name="w")
                session.add(ws)
                await session.flush()
                for i, (state, processed) in enumerate(rows):
                    session.add(
                        DeliveryRow(
                            workspace_id=ws.id,
                            platform="bitbucket-cloud",
                            dedupe_key=f"d{i}",
                            repository="api",
                            pull_request_id=str(i),
                            state=state,
                            processed_at=processed,
                        )
                    )
                await session.commit()
            cutoff = now - timedelta(days=14)
            rounds = []
            for _ in range(4):
                async with database.session() as session:
                    rounds.append(await purge_finished(session, cutoff, batch=2))
            async with database.session() as session:
                left = list(
                    (await session.execute(select(DeliveryRow.state).order_by(DeliveryRow.id)))
                    .scalars()
                    .all()
                )
            return rounds, left
        finally:
            await database.dispose()

    rounds, left = asyncio.run(main())
    assert rounds == [2, 2, 1, 0]
    assert left == ["failed", "pending", "processing", "done"]


def test_a_claim_returns_what_processing_needs(database_url: str) -> None:
    async def main() -> list[Claimed]:
        database = Database(database_url)
        await database.prepare(upgrade=False)
        try:
            async with database.session() as session:
                ws = Workspace(slug="w", name="w")
                session.add(ws)
                await session.flush()
                session.add(
                    DeliveryRow(
                        workspace_id=ws.id,
                        platform="bitbucket-cloud",
                        origin="webhook",
                        dedupe_key="x",
                        repository="api",
                        pull_request_id="7",
                        headers={"x-event-key": "pullrequest:created"},
                        body='{"k": 1}',
                        force=True,
                    )
                )
                await session.commit()
            async with database.session() as session:
                claimed = await claim_due(
                    session,
                    owner="me",
                    limit=5,
                    lease_seconds=15,
                    skip_locked=database.dialect == "postgresql",
                )
            return list(claimed)
        finally:
            await database.dispose()

    (one,) = asyncio.run(main())
    assert (one.origin, one.force, one.body, one.tries, one.evaluation_id) == (
        "webhook",
        True,
        '{"k": 1}',
        1,
        None,
    )
    assert one.headers == {"x-event-key": "pullrequest:created"}
    assert one.received_at is not None


def test_retention_and_concurrency_from_the_environment() -> None:
    import pytest

    from jirahooks.errors import UsageError
    from jirahooks.pipeline.options import WorkerOptions

    assert WorkerOptions.from_env({}).retention_days == 14
    assert WorkerOptions.from_env({}).concurrency == 8
    assert WorkerOptions.from_env({"JIRAHOOKS_DELIVERY_RETENTION_DAYS": "0"}).retention_days == 0
    with pytest.raises(UsageError) as raised:
        WorkerOptions.from_env({"JIRAHOOKS_DELIVERY_RETENTION_DAYS": "-1"})
    assert "JIRAHOOKS_DELIVERY_RETENTION_DAYS" in raised.value.message and raised.value.hint
