"""`jirahooks apply` says who administers the workspace it creates (issue 14): the document's
`admins`, else the administrators of the server's default workspace. Before, `workspace: acme`
made a workspace nobody could reach (its own `…/workspaces/acme/bitbucket` answered 404)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.server.conftest import Server

from jirahooks.cli import main


@pytest.fixture
def cli(server: Server, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("JIRAHOOKS_SECRET_KEY", server.settings.secret_key)
    monkeypatch.delenv("JIRAHOOKS_DATA_DIR", raising=False)
    return [
        "--data-dir",
        str(server.settings.data_dir),
        "--database-url",
        server.settings.database_url,
    ]


def _apply(tmp_path: Path, cli: list[str], text: str) -> int:
    doc = tmp_path / "jirahooks.yml"
    doc.write_text(text, encoding="utf-8")
    return main(["apply", str(doc), *cli])


def test_a_new_workspace_is_administered_by_the_servers_administrators(
    server: Server, cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _apply(tmp_path, cli, "workspace: acme\nrepositories:\n  - slug: api\n") == 0
    assert "administered by the administrators of 'default' (admin)" in capsys.readouterr().out
    bitbucket = server.call("GET", "/workspaces/acme/bitbucket")
    assert bitbucket.status_code == 200, bitbucket.text
    assert server.ok("GET", "/workspaces/acme/repositories")[0]["slug"] == "api"


def test_the_document_names_the_admins(
    server: Server, cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "workspace: acme\nadmins: [alice@example.com, admin]\n"
    assert _apply(tmp_path, cli, text) == 0
    out = capsys.readouterr().out
    assert "user 'alice@example.com' was created without an API token" in out
    users = {u["name"]: u for u in server.ok("GET", "/workspaces/acme/users")}
    assert set(users) == {"alice@example.com", "admin"}
    assert {u["role"] for u in users.values()} == {"ADMIN"}
    # idempotent: nothing changes the second time
    assert _apply(tmp_path, cli, text) == 0
    assert "changed 0 object(s)" in capsys.readouterr().out
    # an existing user is found by e-mail, not duplicated
    assert _apply(tmp_path, cli, "workspace: beta\nadmins: [ALICE@example.com, admin]\n") == 0
    assert "created without an API token" not in capsys.readouterr().out
    beta = {u["name"] for u in server.ok("GET", "/workspaces/beta/users")}
    assert beta == {"alice@example.com", "admin"}


def test_admins_must_be_names(
    cli: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _apply(tmp_path, cli, "workspace: acme\nadmins: ['  ']\n") == 3
    assert "admins[0]" in capsys.readouterr().err
