"""Backup and restore (docs/operations.md): ``jirahooks db backup`` while the server runs, the
copy restored into a fresh data directory, a real server started on it, and the restored
validation token and Jira token still work — the key came along. PostgreSQL: the documented
``pg_dump`` / ``pg_restore`` round trip, with the key kept beside it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.fake_jira import FakeJira
from tests.platforms.harness import LiveServer
from tests.server.conftest import WS, compact, sign
from tests.support.databases import PG_HOST, PG_PORT, PG_USER

from jirahooks.crypto import generate_key
from jirahooks.pipeline.options import WorkerOptions
from jirahooks.server import ServerSettings

PUSH = {
    "triggerType": "PUSH",
    "branchName": "main",
    "commits": [{"hash": "a" * 40, "message": "ABC-1 login"}],
}
IDLE = WorkerOptions(enabled=False)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jirahooks", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def _populate(server: LiveServer, jira: FakeJira) -> dict[str, Any]:
    """A repository, a rule that asks Jira, a Jira connection and a validation token; one
    evaluation. Returns what a restore must keep working."""
    admin = {"Authorization": f"Bearer {server.state.first_start.token}"}
    api = f"{server.url}/api/v1/workspaces/{WS}"
    with httpx.Client(headers=admin, timeout=30) as http:
        assert http.post(f"{api}/repositories", json={"slug": "api"}).is_success
        rule = {
            "id": "valid-keys",
            "title": "Keys must exist",
            "targets": ["COMMIT"],
            "checks": {"key_present": True, "keys_valid": "ALL"},
        }
        assert http.post(f"{api}/rules", json=rule).is_success
        connection = http.post(
            f"{api}/connections",
            json={
                "name": "jira",
                "url": jira.url,
                "deployment": "cloud",
                "email": jira.user.email,
                "token": jira.token,
            },
        ).json()
        made = http.post(f"{api}/validation-tokens", json={"name": "ci", "repository": "api"})
        secret = made.json()["secret"]
    assert _push(server.url, secret) == "PASS"
    return {"secret": secret, "admin": admin, "connection": connection["id"]}


def _push(base: str, secret: str) -> str:
    body = compact(PUSH)
    answer = httpx.post(
        f"{base}/api/validate/{WS}?repoSlug=api",
        content=body,
        headers={"Content-Type": "application/json", "x-hub-signature-256": sign(secret, body)},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    result: str = answer.json()["result"]
    return result


def _works_after_restore(server: LiveServer, kept: dict[str, Any], jira: FakeJira) -> None:
    assert _push(server.url, kept["secret"]) == "PASS"  # the restored validation token
    api = f"{server.url}/api/v1/workspaces/{WS}"
    with httpx.Client(headers=kept["admin"], timeout=30) as http:  # the restored admin token
        history = http.get(f"{api}/evaluations").json()["items"]
        assert len(history) == 2  # the one before the backup, and this one
        asked = jira.count("/rest/api/3/myself")
        tested = http.post(f"{api}/connections/{kept['connection']}/test").json()
        assert tested["ok"] is True, tested  # the Jira token decrypts with the restored key
        assert jira.count("/rest/api/3/myself") == asked + 1  # and was sent, as that user
    assert httpx.get(f"{server.url}/readyz").status_code == 200


def test_sqlite_backup_restored_into_a_fresh_data_directory(tmp_path: Path) -> None:
    live_dir = tmp_path / "live"
    settings = ServerSettings(data_dir=live_dir)  # the key file in the data directory
    with FakeJira("cloud") as jira:
        jira.add_issue("ABC-1", status="In Progress")
        server = LiveServer(settings, IDLE).start()
        try:
            kept = _populate(server, jira)
            done = cli("db", "backup", "--data-dir", str(live_dir), "--output", str(tmp_path / "b"))
            assert done.returncode == 0, done.stderr
        finally:
            server.stop()
        key = (live_dir / "secret.key").read_text()
        assert key.strip() not in done.stdout + done.stderr  # the key is never printed
        assert "integrity ok" in done.stdout and "secret.key" in done.stdout
        assert (tmp_path / "b" / "secret.key").read_text() == key
        assert (tmp_path / "b" / "secret.key").stat().st_mode & 0o777 == 0o600
        shutil.rmtree(live_dir)  # the original is gone: only the backup is left

        fresh = tmp_path / "restored"
        shutil.copytree(tmp_path / "b", fresh)
        restored = LiveServer(ServerSettings(data_dir=fresh), IDLE).start()
        try:
            assert restored.state.first_start is None  # not a new installation
            _works_after_restore(restored, kept, jira)
        finally:
            restored.stop()


def test_backup_with_the_key_in_the_environment_says_it_is_not_included(tmp_path: Path) -> None:
    key = generate_key()
    data = tmp_path / "data"
    server = LiveServer(ServerSettings(data_dir=data, secret_key=key), IDLE).start()
    server.stop()
    done = cli(
        "db",
        "backup",
        "--data-dir",
        str(data),
        "-o",
        str(tmp_path / "b"),
        env={"JIRAHOOKS_SECRET_KEY": key},
    )
    assert done.returncode == 0, done.stderr
    assert "NOT in the backup" in done.stdout
    assert key not in done.stdout + done.stderr
    assert not (tmp_path / "b" / "secret.key").exists()


def test_backup_refuses_a_wrong_key_and_a_used_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = LiveServer(ServerSettings(data_dir=data, secret_key=generate_key()), IDLE).start()
    server.stop()
    wrong = cli(
        "db",
        "backup",
        "--data-dir",
        str(data),
        "-o",
        str(tmp_path / "b"),
        env={"JIRAHOOKS_SECRET_KEY": generate_key()},
    )
    assert wrong.returncode == 4 and "SECRET_KEY" in wrong.stderr, wrong.stderr
    assert not (tmp_path / "b" / "jirahooks.sqlite3").exists()
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("x")
    again = cli("db", "backup", "--data-dir", str(data), "-o", str(used))
    assert again.returncode == 2 and "not an empty directory" in again.stderr


@pytest.mark.postgres
def test_postgres_backup_is_pg_dump(tmp_path: Path, _postgres_admin: Any) -> None:
    """``db backup`` points PostgreSQL users at pg_dump; the documented round trip works."""
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump / pg_restore are not installed")
    source, target = (f"jirahooks_bk_{uuid.uuid4().hex[:10]}_{n}" for n in ("a", "b"))
    with _postgres_admin() as conn:
        conn.execute(f'CREATE DATABASE "{source}"')
        conn.execute(f'CREATE DATABASE "{target}"')
    key = generate_key()
    url = f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{{}}"
    try:
        with FakeJira("cloud") as jira:
            jira.add_issue("ABC-1", status="In Progress")
            settings = ServerSettings(
                data_dir=tmp_path / "a", database_url=url.format(source), secret_key=key
            )
            server = LiveServer(settings, IDLE).start()
            try:
                kept = _populate(server, jira)
            finally:
                server.stop()
            refused = cli(
                "db", "backup", "--database-url", url.format(source), "-o", str(tmp_path / "x")
            )
            assert refused.returncode == 2 and "pg_dump" in refused.stderr
            libpq = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/"
            dump = tmp_path / "jirahooks.dump"
            subprocess.run(
                ["pg_dump", "--format=custom", "--file", str(dump), libpq + source],
                check=True,
                timeout=120,
            )
            subprocess.run(
                ["pg_restore", "--no-owner", "--dbname", libpq + target, str(dump)],
                check=True,
                timeout=120,
            )
            restored = LiveServer(
                ServerSettings(
                    data_dir=tmp_path / "b", database_url=url.format(target), secret_key=key
                ),
                IDLE,
            ).start()
            try:
                _works_after_restore(restored, kept, jira)
            finally:
                restored.stop()
    finally:
        with _postgres_admin() as conn:
            for name in (source, target):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
