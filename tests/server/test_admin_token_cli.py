"""A lost first-start token is recoverable on the server host (issue 14):
`jirahooks admin-token issue --user NAME` prints a new API token once (stored only as a hash,
never logged); `jirahooks admin-token revoke --user NAME` revokes every token of the user,
web sessions included."""

from __future__ import annotations

import logging
import re

import pytest
from tests.server.conftest import Server

from jirahooks.cli import main


def _store(server: Server) -> list[str]:
    return [
        "--data-dir",
        str(server.settings.data_dir),
        "--database-url",
        server.settings.database_url,
    ]


def test_issue_a_new_token_then_revoke_them_all(
    server: Server, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    capsys.readouterr()
    assert main(["admin-token", "issue", "--user", "admin", *_store(server)]) == 0
    out = capsys.readouterr().out
    match = re.search(r"\b(jh_[A-Za-z0-9_-]{20,})", out)
    assert match, out
    token = match.group(1)
    assert token != server.admin_token
    assert token not in caplog.text
    me = server.call("GET", "/me", token)
    assert me.status_code == 200 and me.json()["name"] == "admin"
    # the old one still works until revoked
    assert server.call("GET", "/me").status_code == 200

    assert main(["admin-token", "revoke", "--user", "admin", *_store(server)]) == 0
    assert "revoked 2 API token(s) of 'admin'" in capsys.readouterr().out
    assert server.call("GET", "/me", token).status_code == 401
    assert server.call("GET", "/me").status_code == 401
    # and a new one can be issued again
    assert main(["admin-token", "issue", "--user", "admin", *_store(server)]) == 0
    fresh = re.search(r"\b(jh_[A-Za-z0-9_-]{20,})", capsys.readouterr().out)
    assert fresh and server.call("GET", "/me", fresh.group(1)).status_code == 200


def test_an_unknown_user_is_a_clear_error(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["admin-token", "issue", "--user", "nobody", *_store(server)]) == 2
    err = capsys.readouterr().err
    assert "no user 'nobody'" in err and "admin" in err
