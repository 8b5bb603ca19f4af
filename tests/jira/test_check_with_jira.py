"""``jirahooks check --config FILE`` resolves keys against the document's Jira connections."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira

from jirahooks.cli import main


def _document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fakes: list[FakeJira], **settings: Any
) -> str:
    connections = []
    for n, fake in enumerate(fakes):
        monkeypatch.setenv(f"JH_CHECK_TOKEN_{n}", fake.token)
        connections.append(
            {
                "name": f"{fake.deployment}-{n}",
                "url": fake.url,
                "deployment": fake.deployment,
                "email": fake.user.email if fake.deployment == "cloud" else "",
                "token": f"${{JH_CHECK_TOKEN_{n}}}",
            }
        )
    document = {
        "settings": {"time_budget_seconds": 5, **settings},
        "connections": connections,
        "rules": [
            {"template": "all-keys-valid", "targets": ["COMMIT"]},
            {"template": "issue-in-progress", "targets": ["COMMIT"]},
        ],
    }
    path = tmp_path / "jirahooks.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def test_keys_resolve_across_two_connections_and_jql_runs_where_each_resolved(
    jira_factory: Callable[..., FakeJira],
    git_repo: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cloud = jira_factory("cloud")
    dc = jira_factory("datacenter", context_path="/jira")
    cloud.add_issue("ABC-1", status="In Progress")
    dc.add_issue("OPS-7", status="In Progress")
    dc.add_issue("OPS-8", status="Done")
    config = _document(tmp_path, monkeypatch, [cloud, dc])
    base = git_repo.commit("ABC-1 initial")
    git_repo.commit("ABC-1 login form")
    git_repo.commit("OPS-7 deploy script")
    monkeypatch.chdir(git_repo.path)

    assert main(["check", "--config", config, "--range", f"{base}..HEAD", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["result"] == "PASS"
    issues = {
        key: data["connection"]
        for rv in document["ruleValidations"]
        for key, data in rv.get("issuesUnderReview", {}).items()
    }
    assert issues == {"ABC-1": "cloud-0", "OPS-7": "datacenter-1"}

    git_repo.commit("OPS-8 closed work")
    git_repo.commit("NOPE-3 typo")
    assert main(["check", "--config", config, "--range", f"{base}..HEAD"]) == 1
    out = capsys.readouterr().out
    assert "OPS-8 (Done) does not match the JQL condition" in out
    assert "NOPE-3 was not found or is not visible to the Jira connection's user." in out
    assert cloud.token not in out and dc.token not in out


@pytest.mark.parametrize(
    ("policy", "exit_code", "text"),
    [
        ("BLOCK", 1, "blocked by the Jira-unreachable policy"),
        ("WARN", 0, "allowed with a warning"),
    ],
)
def test_a_jira_that_is_down_is_a_connection_problem_not_an_invalid_key(
    jira_factory: Callable[..., FakeJira],
    git_repo: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    policy: str,
    exit_code: int,
    text: str,
) -> None:
    cloud = jira_factory("cloud")
    cloud.add_issue("ABC-1", status="In Progress")
    cloud.fail(503, times=100)
    config = _document(tmp_path, monkeypatch, [cloud], jira_unreachable=policy)
    base = git_repo.commit("start")
    git_repo.commit("ABC-1 work")
    monkeypatch.chdir(git_repo.path)

    assert main(["check", "--config", config, "--range", f"{base}..HEAD"]) == exit_code
    out = capsys.readouterr().out
    assert text in out
    assert "Jira connection 'cloud-0'" in out
    assert "was not found" not in out


def test_offline_flag_never_contacts_jira(
    jira_factory: Callable[..., FakeJira],
    git_repo: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cloud = jira_factory("cloud")
    config = _document(tmp_path, monkeypatch, [cloud])
    base = git_repo.commit("start")
    git_repo.commit("ABC-1 work")
    monkeypatch.chdir(git_repo.path)
    assert main(["check", "--config", config, "--range", f"{base}..HEAD", "--offline"]) == 0
    assert "not checked against Jira" in capsys.readouterr().out
    assert cloud.count() == 0
