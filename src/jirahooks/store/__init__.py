"""The server's store: SQLAlchemy models, queries and Alembic migrations.

Imported only by the server and its CLI commands (``serve``, ``db``, ``apply``, ``export``,
``secrets``), never on the hook path.
"""

from __future__ import annotations

from jirahooks.store.database import Database, DatabaseError, SchemaState, async_url, sqlite_url

__all__ = ["Database", "DatabaseError", "SchemaState", "async_url", "sqlite_url"]
