"""`jirahooks apply` / `export` with a ``bitbucket:`` section, on SQLite and PostgreSQL: each
credential kind is stored (secrets from ``${ENV}``, never exported), the ``app_password`` alias
is stored as an API token with a warning, a Bitbucket username where the e-mail belongs is
refused with the path to fix, and the export re-applies without changes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from jirahooks.cli import main
from jirahooks.crypto import load_box
from jirahooks.store.database import Database
from jirahooks.store.deliveries import PlatformConfig

TOKEN = "bb-api-token-SECRET-value"
HOOK = "bb-webhook-SECRET-value"


def document(auth: str, username: str = "guardian@example.com") -> str:
    return f"""\
workspace: acme
bitbucket:
  auth_kind: {auth}
  username: "{username}"
  token: ${{BB_TOKEN}}
  webhook_secret: ${{BB_HOOK}}
  bitbucket_workspace: acme
  public_url: https://guardian.example.com
"""


@pytest.fixture
def store(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("BB_TOKEN", TOKEN)
    monkeypatch.setenv("BB_HOOK", HOOK)
    monkeypatch.delenv("JIRAHOOKS_SECRET_KEY", raising=False)
    monkeypatch.delenv("JIRAHOOKS_DATABASE_URL", raising=False)
    data_dir = tmp_path / "data"
    return {
        "args": ["--data-dir", str(data_dir), "--database-url", database_url],
        "data_dir": data_dir,
        "url": database_url,
        "tmp": tmp_path,
    }


def stored(store: dict[str, Any]) -> tuple[PlatformConfig, str, str]:
    async def read() -> tuple[PlatformConfig, str, str]:
        from sqlalchemy import select

        box = load_box(store["data_dir"])
        database = Database(store["url"])
        try:
            async with database.session() as session:
                row = (await session.execute(select(PlatformConfig))).scalar_one()
                return (
                    row,
                    box.decrypt(row.token_encrypted),
                    box.decrypt(row.webhook_secret_encrypted),
                )
        finally:
            await database.dispose()

    return asyncio.run(read())


def write(store: dict[str, Any], text: str, name: str = "doc.yml") -> str:
    path = store["tmp"] / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("kind", ["api_token", "access_token"])
def test_apply_stores_each_kind_and_export_round_trips(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    username = "guardian@example.com" if kind == "api_token" else ""
    doc = write(store, document(kind, username))
    assert main(["apply", doc, *store["args"]]) == 0
    out = capsys.readouterr().out
    assert "bitbucket.create bitbucket" in out and TOKEN not in out and HOOK not in out
    row, token, hook = stored(store)
    assert (row.auth_kind, row.username, row.remote_workspace) == (kind, username, "acme")
    assert (token, hook) == (TOKEN, HOOK)
    assert main(["apply", doc, *store["args"]]) == 0
    assert "changed 0 object(s)" in capsys.readouterr().out

    exported = store["tmp"] / "export.yml"
    assert main(["export", "--workspace", "acme", "-o", str(exported), *store["args"]]) == 0
    text = exported.read_text(encoding="utf-8")
    assert TOKEN not in text and HOOK not in text
    data = yaml.safe_load(text)["bitbucket"]
    assert data["auth_kind"] == kind and data["token"] == "${JIRAHOOKS_BITBUCKET_TOKEN}"
    assert data["webhook_secret"] == "${JIRAHOOKS_BITBUCKET_WEBHOOK_SECRET}"
    assert main(["apply", str(exported), *store["args"]]) == 0
    out = capsys.readouterr().out
    assert "changed 0 object(s)" in out and "stored secret is kept" in out


def test_the_app_password_alias_is_stored_as_an_api_token_with_a_warning(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apply", write(store, document("app_password")), *store["args"]]) == 0
    out = capsys.readouterr().out
    assert "bitbucket.auth_kind:" in out and "deprecated alias" in out
    row, token, _ = stored(store)
    assert (row.auth_kind, row.username, token) == ("api_token", "guardian@example.com", TOKEN)


@pytest.mark.parametrize("kind", ["api_token", "app_password"])
def test_a_bitbucket_username_is_refused_with_the_path(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    code = main(["apply", write(store, document(kind, "guardian-bot")), *store["args"]])
    assert code == 3
    err = capsys.readouterr().err
    assert "bitbucket.username" in err and "not an e-mail address" in err
    assert "Atlassian account" in err and TOKEN not in err


def test_a_new_destination_needs_the_token_again(
    store: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["apply", write(store, document("api_token")), *store["args"]]) == 0
    capsys.readouterr()
    monkeypatch.delenv("BB_TOKEN")
    moved = document("api_token", "someone-else@example.com")
    assert main(["apply", write(store, moved, "moved.yml"), *store["args"]]) == 3
    err = capsys.readouterr().err
    assert "bitbucket.token" in err and "requires the token again" in err
    row, token, _ = stored(store)
    assert row.username == "guardian@example.com" and token == TOKEN
