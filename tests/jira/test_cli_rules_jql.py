"""``jirahooks rules validate FILE --jira``: each rule's JQL checked by the Jira connections that
will run it — Cloud's jql/parse, Data Center's search with validateQuery."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira

from jirahooks.cli import main


def _document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeJira, **extra: Any) -> str:
    monkeypatch.setenv("JH_RULES_TOKEN", fake.token)
    document = {
        "connections": [
            {
                "name": "jira",
                "url": fake.url,
                "deployment": fake.deployment,
                "email": fake.user.email if fake.deployment == "cloud" else "",
                "token": "${JH_RULES_TOKEN}",
            }
        ],
        **extra,
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("deployment", ["cloud", "datacenter"])
def test_valid_jql_is_accepted_once_per_distinct_query(
    jira_factory: Callable[..., FakeJira],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    deployment: str,
) -> None:
    fake = jira_factory(deployment)
    fake.add_issue("ABC-1", status="In Progress")
    rules = [
        {"template": "issue-in-progress"},
        {"template": "issue-in-progress", "id": "again", "targets": ["BRANCH"]},
    ]
    config = _document(tmp_path, monkeypatch, fake, rules=rules)
    assert main(["rules", "validate", config, "--jira"]) == 0
    assert "JQL: 1 distinct query accepted by Jira" in capsys.readouterr().out
    asked = "/rest/api/3/jql/parse" if deployment == "cloud" else "/rest/api/2/search"
    assert fake.count(asked) == 1


def test_rejected_jql_names_the_rule_path(
    jira_factory: Callable[..., FakeJira],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = jira_factory("cloud")
    config = _document(
        tmp_path,
        monkeypatch,
        fake,
        rules=[{"template": "commit-key-required"}],
        repositories=[
            {
                "slug": "api",
                # structurally sound (an unbalanced JQL is refused before Jira is asked, see
                # tests/rules/test_jql.py), but Jira knows no such field
                "rules": [{"template": "issue-in-progress", "checks": {"jql": "nosuchfield = 1"}}],
            }
        ],
    )
    assert main(["rules", "validate", config, "--jira"]) == 3
    err = capsys.readouterr().err
    assert "repositories[0].rules[0].checks.jql: Jira connection 'jira' rejects the JQL" in err


def test_an_unreachable_jira_is_an_environment_error(
    jira_factory: Callable[..., FakeJira],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = jira_factory("cloud")
    fake.fail(503, times=100)
    config = _document(tmp_path, monkeypatch, fake, rules=[{"template": "issue-in-progress"}])
    assert main(["rules", "validate", config, "--jira"]) == 4
    assert "Jira connection 'jira' could not check" in capsys.readouterr().err


def test_without_the_flag_jira_is_not_asked(
    jira_factory: Callable[..., FakeJira],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = jira_factory("cloud")
    config = _document(tmp_path, monkeypatch, fake, rules=[{"template": "issue-in-progress"}])
    assert main(["rules", "validate", config]) == 0
    assert fake.count() == 0
