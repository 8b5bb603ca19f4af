"""Migration 0014_pr_issue_keys on SQLite and PostgreSQL: upgrade fills the keys of the open PRs'
current evaluations in from the stored issues (a closed PR's are not needed), downgrade removes
the table, and the lookup the Jira webhook uses finds the PR through it."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from sqlalchemy import inspect, select

from jirahooks.store.database import Database, _alembic_config
from jirahooks.store.deliveries import PullRequestResult
from jirahooks.store.models import EvaluationRow, Repository, Workspace
from jirahooks.store.pr_keys import PrIssueKey, open_prs_using

# the revision before 0014, whatever it is re-chained onto
BEFORE = importlib.import_module(
    "jirahooks.store.migrations.versions.0014_pr_issue_keys"
).down_revision


def _to(connection: Any, revision: str, *, down: bool = False) -> None:
    from alembic import command

    config = _alembic_config(connection)
    (command.downgrade if down else command.upgrade)(config, revision)


def test_upgrade_backfills_and_downgrade_removes(database_url: str) -> None:
    async def run() -> None:
        database = Database(database_url)
        try:
            await database.upgrade()
            async with database.session() as session:
                ws = Workspace(slug="acme", name="Acme")
                session.add(ws)
                await session.flush()
                repo = Repository(workspace_id=ws.id, slug="api")
                session.add(repo)
                await session.flush()
                ids = []
                for issues in (
                    {"ABC-1": {"key": "ABC-1", "currentKey": "NEW-7"}},
                    {"ABC-2": {"key": "ABC-2"}},
                ):
                    row = EvaluationRow(
                        workspace_id=ws.id,
                        repository_id=repo.id,
                        source="bitbucket-cloud",
                        trigger="PULL_REQUEST",
                        result="PASS",
                        event={},
                        document={},
                        issues=issues,
                    )
                    session.add(row)
                    await session.flush()
                    ids.append(row.id)
                for pr, (evaluation_id, is_open) in enumerate(
                    zip(ids, (True, False), strict=True), 1
                ):
                    session.add(
                        PullRequestResult(
                            workspace_id=ws.id,
                            repository_id=repo.id,
                            platform="bitbucket-cloud",
                            pull_request_id=str(pr),
                            evaluation_id=evaluation_id,
                            open=is_open,
                        )
                    )
                await session.commit()
                workspace_id = ws.id
            async with database.engine.begin() as conn:
                await conn.run_sync(_to, BEFORE, down=True)
                tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
                assert "pr_issue_keys" not in tables
                await conn.run_sync(_to, "head")
            async with database.session() as session:
                keys = sorted((await session.execute(select(PrIssueKey.issue_key))).scalars().all())
                assert keys == ["ABC-1", "NEW-7"]  # the closed PR's ABC-2 is not kept
                assert await open_prs_using(session, workspace_id, ["new-7"]) == [("api", "1")]
                assert await open_prs_using(session, workspace_id, ["ABC-2"]) == []
        finally:
            await database.dispose()

    asyncio.run(run())


def test_the_lookup_goes_through_the_indexes(tmp_path: Any) -> None:
    """SQLite's plan for the Jira webhook's lookup: the (workspace, key) index, then the PR
    results by evaluation id — no scan of either table."""
    from sqlalchemy import text

    async def run() -> list[str]:
        database = Database(f"sqlite:///{tmp_path / 'plan.sqlite3'}")
        try:
            await database.upgrade()
            async with database.engine.connect() as conn:
                rows = await conn.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT p.pull_request_id FROM pr_issue_keys k "
                        "JOIN pull_request_results p ON p.evaluation_id = k.evaluation_id "
                        "WHERE k.workspace_id = 1 AND k.issue_key IN ('ABC-1', 'ABC-2') "
                        "AND p.open"
                    )
                )
                return [str(row[-1]) for row in rows]
        finally:
            await database.dispose()

    plan = asyncio.run(run())
    assert any("ix_pr_issue_keys_workspace_key" in step for step in plan), plan
    assert any("ix_pull_request_results_evaluation_id" in step for step in plan), plan
    assert not any(step.startswith("SCAN") for step in plan), plan
