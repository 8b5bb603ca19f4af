"""``/readyz`` (can this process work now?) against ``/healthz`` (is it alive?): the database
stopped, the schema behind, the key no longer the database's, the worker loop dead, Redis gone —
each makes it 503 with the reason, while ``/healthz`` still answers 200."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.server.conftest import TestClient, make_settings
from tests.support.databases import PG_HOST, PG_PORT, PG_USER

from jirahooks.crypto import SecretBox, generate_key
from jirahooks.server import create_app


def _client(settings: Any) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _ready(client: TestClient) -> tuple[int, dict[str, Any]]:
    answer = client.get("/readyz")
    return answer.status_code, answer.json()


def test_ready_on_a_started_server(tmp_path: Path) -> None:
    for client in _client(make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")):
        status, body = _ready(client)
        assert status == 200 and body["status"] == "ready", body
        assert set(body["checks"]) == {"database", "secret_key", "worker", "writer"}
        assert client.get("/healthz").status_code == 200


@pytest.mark.postgres
def test_database_stopped_is_503_and_back_is_200(tmp_path: Path, _postgres_admin: Any) -> None:
    """A scratch PostgreSQL database made unreachable (connections ended, database renamed) —
    the machine's PostgreSQL server itself keeps running."""
    name = f"jirahooks_ready_{uuid.uuid4().hex[:12]}"
    hidden = name + "_away"
    with _postgres_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
        for client in _client(make_settings(tmp_path, url)):
            assert _ready(client)[0] == 200
            with _postgres_admin() as conn:
                conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
                conn.execute(f'ALTER DATABASE "{name}" RENAME TO "{hidden}"')
            status, body = _ready(client)
            assert status == 503 and body["status"] == "unready", body
            assert body["checks"]["database"] == {
                "ok": False,
                "reason": "the database cannot be reached",
            }
            assert client.get("/healthz").status_code == 200  # alive, not ready
            with _postgres_admin() as conn:
                conn.execute(f'ALTER DATABASE "{hidden}" RENAME TO "{name}"')
                conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            status, body = _ready(client)
            assert status == 200, body
    finally:
        with _postgres_admin() as conn:
            for db in (name, hidden):
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def test_sqlite_file_gone_is_503(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    for client in _client(make_settings(tmp_path, f"sqlite:///{path}")):
        assert _ready(client)[0] == 200
        path.rename(tmp_path / "elsewhere.sqlite3")  # the next connection finds no schema
        assert client.portal is not None  # pooled connections still hold the old file
        client.portal.call(client.app.state.jirahooks.database.engine.dispose)  # type: ignore[attr-defined]
        status, body = _ready(client)
        assert status == 503 and not body["checks"]["database"]["ok"], body
        assert "schema is empty" in body["checks"]["database"]["reason"]


def test_schema_behind_is_503(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    for client in _client(make_settings(tmp_path, f"sqlite:///{path}")):
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE alembic_version SET version_num = '0005_server_meta'")
        status, body = _ready(client)
        assert status == 503, body
        assert "outdated" in body["checks"]["database"]["reason"]


def test_key_no_longer_the_databases_is_503(tmp_path: Path) -> None:
    """Another process rotated the key: this one's can no longer open the key check."""
    path = tmp_path / "db.sqlite3"
    for client in _client(make_settings(tmp_path, f"sqlite:///{path}")):
        other = SecretBox([generate_key()]).encrypt("jirahooks secret key check v1")
        with sqlite3.connect(path) as conn:
            conn.execute(
                "UPDATE server_meta SET value = ? WHERE name = 'secret_key_check'", (other,)
            )
        status, body = _ready(client)
        assert status == 503 and not body["checks"]["secret_key"]["ok"], body
        assert body["checks"]["database"]["ok"]


def test_dead_worker_loop_is_503(tmp_path: Path) -> None:
    for client in _client(make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")):
        worker = client.app.state.jirahooks.extras["pr_worker"]  # type: ignore[attr-defined]

        async def kill(worker: Any = worker) -> None:
            for task in worker._tasks:
                task.cancel()
            await asyncio.gather(*worker._tasks, return_exceptions=True)

        assert client.portal is not None
        client.portal.call(kill)
        status, body = _ready(client)
        assert status == 503 and not body["checks"]["worker"]["ok"], body


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redis_unreachable_is_503(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    settings = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    for client in _client(settings):
        status, body = _ready(client)
        assert status == 503 and not body["checks"]["redis"]["ok"], body


@pytest.mark.redis
def test_redis_reachable_is_ready(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    settings = dataclasses.replace(settings, redis_url="redis://127.0.0.1:6379/15")
    for client in _client(settings):
        status, body = _ready(client)
        assert status == 200 and body["checks"]["redis"] == {"ok": True}, body


def test_full_writer_is_503(tmp_path: Path) -> None:
    """The background writer at capacity (the database too slow): the Validation API answers
    503 meanwhile, so the process is not ready."""
    for client in _client(make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")):
        writer = client.app.state.jirahooks.writer  # type: ignore[attr-defined]
        writer.capacity = 0  # as full as it gets, without stopping the database
        status, body = _ready(client)
        assert status == 503 and not body["checks"]["writer"]["ok"], body
        assert "writer is full" in body["checks"]["writer"]["reason"]
