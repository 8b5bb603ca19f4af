"""The server's commands: `jirahooks apply` (idempotent), `export` (no secrets), `db upgrade`,
`secrets rotate-key`, and `serve`'s refusal of a schema it does not know."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text
from tests.server.conftest import TestClient, compact, sign

from jirahooks.cli import main
from jirahooks.crypto import load_box
from jirahooks.server import ServerSettings, create_app
from jirahooks.store.database import Database, DatabaseError, SchemaState, head_revision

DOCUMENT = """\
workspace: acme
settings:
  jira_unreachable: WARN
connections:
  - name: jira-a
    url: https://a.example.net
    email: bot@example.com
    token: ${JIRA_A_TOKEN}
  - name: jira-b
    url: https://b.example.net
rules:
  - template: commit-key-required
repositories:
  - slug: api
    settings: {validation_api: true}
    connections: [jira-b]
    rules:
      - id: branch-naming
        title: Branch naming
        targets: [BRANCH]
        checks: {naming: "^(feature|bugfix)/"}
validation_tokens:
  - name: ci
    secret: ${CI_HOOK_SECRET}
    repository: api
"""


@pytest.fixture
def store(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("JIRA_A_TOKEN", "jira-a-plaintext-token")
    monkeypatch.setenv("CI_HOOK_SECRET", "ci-hook-secret-value")
    monkeypatch.delenv("JIRAHOOKS_SECRET_KEY", raising=False)
    monkeypatch.delenv("JIRAHOOKS_DATABASE_URL", raising=False)
    doc = tmp_path / "jirahooks.yml"
    doc.write_text(DOCUMENT, encoding="utf-8")
    data_dir = tmp_path / "data"
    return {
        "doc": doc,
        "args": ["--data-dir", str(data_dir), "--database-url", database_url],
        "data_dir": data_dir,
        "url": database_url,
    }


def test_apply_is_idempotent_and_export_has_no_secrets(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["apply", str(store["doc"]), *store["args"]]) == 0
    first = capsys.readouterr().out
    assert "connection.create connection:jira-a" in first and "validation_token.create" in first
    assert main(["apply", str(store["doc"]), *store["args"]]) == 0
    assert "changed 0 object(s)" in capsys.readouterr().out

    out_file = tmp_path / "export.yml"
    assert main(["export", "--workspace", "acme", "-o", str(out_file), *store["args"]]) == 0
    exported = out_file.read_text(encoding="utf-8")
    assert "jira-a-plaintext-token" not in exported and "ci-hook-secret-value" not in exported
    data = yaml.safe_load(exported)
    assert data["connections"][0]["token"] == "${JIRAHOOKS_CONNECTION_JIRA_A_TOKEN}"
    assert data["repositories"][0]["connections"] == ["jira-b"]
    assert data["repositories"][0]["rules"][0]["id"] == "branch-naming"
    # the export re-applies cleanly: unset references keep the stored secrets
    assert main(["apply", str(out_file), *store["args"]]) == 0
    out = capsys.readouterr().out
    assert "changed 0 object(s)" in out and "stored secret is kept" in out


def test_applied_token_validates(store: dict[str, Any]) -> None:
    assert main(["apply", str(store["doc"]), *store["args"]]) == 0
    settings = ServerSettings(data_dir=store["data_dir"], database_url=store["url"])  # key file
    with TestClient(create_app(settings)) as client:
        body = compact(
            {
                "triggerType": "PUSH",
                "branchName": "main",
                "commits": [{"hash": "a" * 40, "message": "no key"}],
            }
        )
        response = client.post(
            "/api/validate/acme?repoSlug=api",
            content=body,
            headers={"x-hub-signature-256": sign("ci-hook-secret-value", body)},
        )
        assert response.status_code == 200, response.text
        document = response.json()
        assert document["result"] == "BLOCK"
        assert {v["rule"]["id"] for v in document["ruleValidations"]} == {
            "commit-key-required",
            "branch-naming",
        }


def test_apply_reports_config_errors(
    store: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "connections:\n  - name: x\n    url: https://x.example\n    token: literal\n",
        encoding="utf-8",
    )
    assert main(["apply", str(bad), *store["args"]]) == 3
    assert "connections[0].token" in capsys.readouterr().err


def test_rotate_key(store: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apply", str(store["doc"]), *store["args"]]) == 0
    old_box = load_box(store["data_dir"], environ={}, create=False)
    assert main(["secrets", "rotate-key", *store["args"]]) == 0
    assert "re-encrypted 2 secret(s)" in capsys.readouterr().out
    new_box = load_box(store["data_dir"], environ={}, create=False)
    assert new_box.keys != old_box.keys and len(new_box.keys) == 1

    async def secrets() -> list[str]:
        database = Database(store["url"])
        try:
            async with database.engine.connect() as conn:
                rows = await conn.execute(text("SELECT secret_encrypted FROM validation_tokens"))
                return [r[0] for r in rows]
        finally:
            await database.dispose()

    [ciphertext] = asyncio.run(secrets())
    assert new_box.decrypt(ciphertext) == "ci-hook-secret-value"
    with pytest.raises(Exception, match="cannot be decrypted"):
        old_box.decrypt(ciphertext)


def test_db_upgrade_and_status(store: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "status", *store["args"]]) == 0
    assert "schema: empty" in capsys.readouterr().out
    assert main(["db", "upgrade", *store["args"]]) == 0
    assert f"→ {head_revision()}" in capsys.readouterr().out
    assert main(["db", "status", *store["args"]]) == 0
    assert "schema: current" in capsys.readouterr().out


def test_server_refuses_outdated_or_foreign_schema(store: dict[str, Any]) -> None:
    async def run() -> None:
        database = Database(store["url"])
        try:
            await database.upgrade()
            async with database.engine.begin() as conn:
                await conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
            status = await database.status()
            assert status.state is SchemaState.UNKNOWN
            with pytest.raises(DatabaseError, match="does not know"):
                await database.prepare(upgrade=True)
            async with database.engine.begin() as conn:
                await conn.execute(
                    text(f"UPDATE alembic_version SET version_num = '{head_revision()}'")
                )
            assert (await database.prepare(upgrade=False)).state is SchemaState.CURRENT
        finally:
            await database.dispose()

    asyncio.run(run())


def test_serve_fails_fast_on_a_bad_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "serve",
            "--data-dir",
            str(tmp_path),
            "--database-url",
            "mysql://nobody@127.0.0.1/x",
            "--port",
            "1",
        ]
    )
    assert code == 4
    assert "unsupported database" in capsys.readouterr().err


def test_serve_says_plainly_when_the_port_is_taken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--port", str(port), "--data-dir", str(tmp_path / "data")])
    assert code == 4
    err = capsys.readouterr().err
    assert f"[ADDRESS_IN_USE]: cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "data").exists()  # nothing was created before the check
