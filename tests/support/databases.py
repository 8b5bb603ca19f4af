"""Databases for tests: a fresh SQLite file *and* a freshly created PostgreSQL database.

``database_url`` is parametrised over both (``postgres_url``: PostgreSQL only); PostgreSQL
cases carry the ``postgres`` marker and skip, saying why, when nothing listens on
127.0.0.1:5432. Import the fixtures into a conftest
to use them (``from tests.support.databases import _postgres_admin, database_url``).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PG_HOST = os.environ.get("JIRAHOOKS_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("JIRAHOOKS_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("JIRAHOOKS_TEST_PG_USER", "postgres")


def postgres_reachable() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def _postgres_admin() -> Any:
    import psycopg

    if not postgres_reachable():
        pytest.skip(
            f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}: start it to run these tests"
        )
    return lambda: psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a newly created PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jirahooks.sqlite3'}"
        return
    yield from _fresh_postgres(request.getfixturevalue("_postgres_admin"))


@pytest.fixture
def postgres_url(_postgres_admin: Any) -> Iterator[str]:
    """A newly created PostgreSQL database only (tests of what SQLite does not do)."""
    yield from _fresh_postgres(_postgres_admin)


def _fresh_postgres(connect: Any) -> Iterator[str]:
    name = f"jirahooks_test_{uuid.uuid4().hex[:16]}"
    with connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
