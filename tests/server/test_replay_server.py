"""``jirahooks replay --server URL --repo SLUG``: the rules come from a real jirahooks server
(uvicorn on a loopback port, SQLite and PostgreSQL) through ``GET …/rule-set``, combined as the
server combines them; failures have codes and hints, and the token is never printed."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import GitRepo
from tests.server.conftest import WS, make_settings
from tests.support.live import UvicornThread

from jirahooks.cli import main
from jirahooks.server import create_app


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[tuple[UvicornThread, str, Any]]:
    app = create_app(make_settings(tmp_path, database_url))
    with UvicornThread(app) as server:
        yield server, app.state.jirahooks.first_start.token, app


def _api(base: str, token: str, method: str, path: str, **kwargs: Any) -> Any:
    with httpx.Client(timeout=30) as client:
        response = client.request(
            method,
            f"{base}/api/v1/workspaces/{WS}{path}",
            headers={"Authorization": f"Bearer {token}"},
            **kwargs,
        )
    assert response.is_success, response.text
    return response.json() if response.content else None


def _replay(repo: GitRepo, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    before = os.getcwd()
    os.chdir(repo.path)
    try:
        code = main(["replay", *args])
    finally:
        os.chdir(before)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_replay_reads_the_repositorys_rules_from_the_server(
    live: tuple[UvicornThread, str, Any],
    git_repo: GitRepo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, admin, _ = live
    base = server.url
    _api(base, admin, "POST", "/repositories", json={"slug": "api"})
    _api(base, admin, "POST", "/repositories", json={"slug": "web"})
    for template in ("commit-key-required", "gitflow-branch-naming"):
        _api(base, admin, "POST", "/rules/from-template", json={"template": template})
    # api: the branch naming rule switched off, a rule of its own (no merge commits)
    _api(
        base,
        admin,
        "PATCH",
        "/repositories/api",
        json={"disabled_rules": ["gitflow-branch-naming"]},
    )
    _api(
        base,
        admin,
        "POST",
        "/repositories/api/rules/from-template",
        json={"template": "no-merge-commits"},
    )
    member = _api(base, admin, "POST", "/users", json={"name": "reader", "role": "MEMBER"})
    assert member
    token = _api(base, admin, "POST", "/users/reader/tokens", json={"name": "replay"})["token"]

    git_repo.commit("ABC-1 first")
    git_repo.commit("no key")
    monkeypatch.setenv("JIRAHOOKS_API_TOKEN", token)  # a member may read the rules

    code, out, err = _replay(
        git_repo, capsys, "--server", base, "--repo", "api", "--format", "json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert {r["id"] for r in data["rules"]} == {"commit-key-required", "no-merge-commits"}
    assert data["totals"]["BLOCK"] == 1
    assert data["rulesFrom"].startswith(f"{base} ({WS}/api, configuration version ")
    assert token not in out + err

    # web keeps the workspace's branch naming rule: "main" is no git-flow name
    code, out, err = _replay(
        git_repo, capsys, "--server", base, "--repo", "web", "--format", "json"
    )
    data = json.loads(out)
    assert {r["id"] for r in data["rules"]} == {"commit-key-required", "gitflow-branch-naming"}

    code, out, err = _replay(git_repo, capsys, "--server", base, "--repo", "nope")
    assert code == 2 and out == ""
    assert "[UNKNOWN_REPOSITORY]" in err and "no repository 'nope'" in err and "hint:" in err

    monkeypatch.setenv("JIRAHOOKS_API_TOKEN", "jh_not_a_token_at_all")
    code, _, err = _replay(git_repo, capsys, "--server", base, "--repo", "api")
    assert code == 4 and "[API_TOKEN_REJECTED]" in err
    assert "jh_not_a_token_at_all" not in err


def _break_rule(database_url: str, rule_id: str) -> None:
    """Overwrite a stored rule with a definition this version no longer reads (as an older
    version or a hand edit could have left it)."""
    from sqlalchemy import text

    from jirahooks.store.database import Database

    async def write() -> None:
        database = Database(database_url)
        try:
            async with database.engine.begin() as conn:
                await conn.execute(
                    text("UPDATE rules SET definition = :definition WHERE rule_id = :rule_id"),
                    {
                        "rule_id": rule_id,
                        "definition": json.dumps({"id": rule_id, "checks": {"retired": True}}),
                    },
                )
        finally:
            await database.dispose()

    asyncio.run(write())


def test_a_stored_rule_that_no_longer_reads_is_named(
    live: tuple[UvicornThread, str, Any],
    database_url: str,
    git_repo: GitRepo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, admin, _ = live
    _api(server.url, admin, "POST", "/repositories", json={"slug": "api"})
    _api(
        server.url, admin, "POST", "/rules/from-template", json={"template": "commit-key-required"}
    )
    _api(server.url, admin, "POST", "/rules/from-template", json={"template": "no-merge-commits"})
    _break_rule(database_url, "no-merge-commits")
    git_repo.commit("ABC-1 first")
    monkeypatch.setenv("JIRAHOOKS_API_TOKEN", admin)
    answer = _api(server.url, admin, "GET", "/repositories/api/rule-set")
    assert [b["id"] for b in answer["broken_rules"]] == ["no-merge-commits"]
    assert "connections" not in answer["document"]
    code, out, err = _replay(git_repo, capsys, "--server", server.url, "--repo", "api")
    assert code == 0, err
    assert "note: rule 'no-merge-commits' on the server does not read: not replayed" in out


def test_server_rules_with_local_jira_connections(
    live: tuple[UvicornThread, str, Any],
    git_repo: GitRepo,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The server's Jira tokens stay there: with --config, its connections resolve the keys of
    the server's rules (its own rules are not used); without it Jira is not asked, visibly."""
    from tests.fakes.fake_jira import FakeJira

    server, admin, _ = live
    _api(server.url, admin, "POST", "/repositories", json={"slug": "api"})
    _api(server.url, admin, "POST", "/rules/from-template", json={"template": "all-keys-valid"})
    git_repo.commit("ABC-1 known")
    git_repo.commit("ABC-2 unknown")
    monkeypatch.setenv("JIRAHOOKS_API_TOKEN", admin)
    with FakeJira("cloud") as jira:
        jira.add_issue("ABC-1")
        monkeypatch.setenv("JH_LOCAL_JIRA_TOKEN", jira.token)
        local = tmp_path / "local.json"
        local.write_text(
            json.dumps(
                {
                    "connections": [
                        {
                            "name": "mine",
                            "url": jira.url,
                            "deployment": "cloud",
                            "email": jira.user.email,
                            "token": "${JH_LOCAL_JIRA_TOKEN}",
                        }
                    ],
                    "rules": [{"template": "no-merge-commits"}],  # not used with --server
                }
            ),
            encoding="utf-8",
        )
        args = ["--server", server.url, "--repo", "api", "--format", "json"]
        code, out, err = _replay(git_repo, capsys, *args, "--config", str(local))
        assert code == 0, err
        data = json.loads(out)
        assert [r["id"] for r in data["rules"]] == ["all-keys-valid"]
        assert data["jira"]["mode"] == "asked" and data["jira"]["distinctKeys"] == 2
        assert [f["title"] for f in data["failures"]] == ["ABC-2 unknown"]
        assert jira.count() >= 1

        jira.reset_log()
        code, out, err = _replay(git_repo, capsys, *args)
        data = json.loads(out)
        assert data["jira"]["mode"] == "offline" and jira.count() == 0
