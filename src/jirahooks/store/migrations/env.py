"""Alembic environment. Runs on a connection handed in by ``jirahooks.store.database``
(``config.attributes["connection"]``), so the same code serves SQLite and PostgreSQL, sync or
async engines; no alembic.ini is needed."""

from __future__ import annotations

from alembic import context

from jirahooks.store import (
    deliveries,  # noqa: F401  (platform tables: registers them on Base)
    pr_keys,  # noqa: F401  (pr_issue_keys, migration 0014)
)
from jirahooks.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always run through jirahooks.store.database
    raise RuntimeError("run migrations with `jirahooks db upgrade`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
