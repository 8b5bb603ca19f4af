"""Migration 0015_platform_settings on SQLite and PostgreSQL: a Bitbucket Cloud row stored before
it gets an empty ``settings`` object and keeps everything else; downgrade drops the column and
upgrade adds it again."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from sqlalchemy import inspect, text

from jirahooks.store.database import Database, _alembic_config

MIGRATION = importlib.import_module("jirahooks.store.migrations.versions.0015_platform_settings")
BEFORE = MIGRATION.down_revision


def _to(connection: Any, revision: str, *, down: bool = False) -> None:
    from alembic import command

    config = _alembic_config(connection)
    (command.downgrade if down else command.upgrade)(config, revision)


def _columns(connection: Any) -> set[str]:
    return {c["name"] for c in inspect(connection).get_columns("platform_configs")}


def test_existing_rows_get_empty_settings_and_downgrade_drops_the_column(
    database_url: str,
) -> None:
    async def run() -> None:
        database = Database(database_url)
        try:
            await database.upgrade()
            async with database.engine.begin() as conn:
                await conn.run_sync(_to, BEFORE, down=True)
                assert "settings" not in await conn.run_sync(_columns)
                await conn.execute(
                    text(
                        "INSERT INTO workspaces (slug, name, settings, created_at, config_version)"
                        " VALUES ('acme', 'Acme', '{}', CURRENT_TIMESTAMP, 1)"
                    )
                )
                await conn.execute(
                    text(
                        "INSERT INTO platform_configs (workspace_id, platform, remote_workspace,"
                        " api_url, auth_kind, username, token_encrypted,"
                        " webhook_secret_encrypted, require_signature,"
                        " register_unknown_repositories, public_url, created_at, updated_at)"
                        " SELECT id, 'bitbucket-cloud', 'acme', '', 'access_token', '', 'x', 'y',"
                        " true, true, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP"
                        " FROM workspaces WHERE slug = 'acme'"
                    )
                )
                await conn.run_sync(_to, "head")
                assert "settings" in await conn.run_sync(_columns)
            from sqlalchemy import select

            from jirahooks.store.deliveries import PlatformConfig

            async with database.session() as session:
                row = (await session.execute(select(PlatformConfig))).scalar_one()
                assert row.settings == {}
                assert (row.platform, row.remote_workspace, row.token_encrypted) == (
                    "bitbucket-cloud",
                    "acme",
                    "x",
                )
        finally:
            await database.dispose()

    asyncio.run(run())
