"""Migration 0010 (issue 15): a connection stored before auth kinds existed keeps working as it
did (``auth_kind = 'auto'``, no OAuth client, no cloudId), and its last test gains the runtime
health columns; downgrade removes them again. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import inspect, text

from jirahooks.store.database import Database, _alembic_config

BEFORE = "0009_connection_budget"
REVISION = "0010_connection_auth_kind"


def _migrate(connection: Any, target: str, *, down: bool = False) -> None:
    from alembic import command

    config = _alembic_config(connection)
    (command.downgrade if down else command.upgrade)(config, target)


def _columns(connection: Any, table: str) -> set[str]:
    return {c["name"] for c in inspect(connection).get_columns(table)}


def test_upgrade_keeps_existing_connections_and_downgrade_removes_the_columns(
    database_url: str,
) -> None:
    async def run() -> tuple[Any, set[str], set[str], set[str]]:
        database = Database(database_url)
        try:
            async with database.engine.begin() as conn:
                await conn.run_sync(_migrate, BEFORE)
                await conn.execute(
                    text(
                        "INSERT INTO workspaces (slug, name, settings, created_at, config_version) VALUES ('w', 'w', '{}', CURRENT_TIMESTAMP, 0)"
                    )
                )
                await conn.execute(
                    text(
                        "INSERT INTO connections (workspace_id, name, url, deployment, email, "
                        "account_id, token_encrypted, position, timeout_seconds, max_concurrency, "
                        "created_at, updated_at) SELECT id, 'jira', 'https://a.example', 'cloud', "
                        "'bot@a.example', '', 'x', 0, 10, 4, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP "
                        "FROM workspaces WHERE slug = 'w'"
                    )
                )
                await conn.execute(
                    text(
                        "INSERT INTO connection_tests (connection_id, tested_at, ok, code, "
                        "message, hint) SELECT id, CURRENT_TIMESTAMP, true, 'CONNECTED', '', '' "
                        "FROM connections"
                    )
                )
                await conn.run_sync(_migrate, REVISION)
                row = (
                    await conn.execute(
                        text(
                            "SELECT c.auth_kind, c.client_id, c.client_secret_encrypted, "
                            "c.cloud_id, t.source, t.last_success_at FROM connections c JOIN "
                            "connection_tests t ON t.connection_id = c.id"
                        )
                    )
                ).one()
                upgraded = await conn.run_sync(_columns, "connections")
                await conn.run_sync(_migrate, BEFORE, down=True)
                downgraded = await conn.run_sync(_columns, "connections")
                tests = await conn.run_sync(_columns, "connection_tests")
            return tuple(row), upgraded, downgraded, tests
        finally:
            await database.dispose()

    row, upgraded, downgraded, tests = asyncio.run(run())
    assert row == ("auto", "", "", "", "test", None)
    assert {"auth_kind", "client_secret_encrypted", "cloud_id", "token_url"} <= upgraded
    assert not {"auth_kind", "client_secret_encrypted", "cloud_id"} & downgraded
    assert not {"source", "last_success_at"} & tests
