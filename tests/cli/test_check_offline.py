"""``jirahooks check`` without Jira: ``--offline`` says it is offline by request (not that no
connection is configured), and JUnit reports a rule whose Jira checks did not run as skipped,
with the reason, instead of a passed test case."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from tests.conftest import GitRepo

RULES = """\
rules:
  - template: commit-key-required
  - template: all-keys-valid
    targets: [COMMIT]
"""
CONNECTION = """\
connections:
  - name: acme
    url: http://127.0.0.1:9/
    deployment: cloud
    email: ci@example.com
    token: ${JH_OFFLINE_TEST_TOKEN}
"""


def _check(repo: GitRepo, *args: str, token: str = "unused") -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "JH_OFFLINE_TEST_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "jirahooks", "check", *args],
        cwd=repo.path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def repo(git_repo: GitRepo) -> GitRepo:
    git_repo.commit("ABC-1 base")
    git_repo.commit("ABC-2 a change with a key")
    return git_repo


def test_offline_with_a_connection_says_offline_by_request(repo: GitRepo) -> None:
    (repo.path / ".jirahooks.yml").write_text(CONNECTION + RULES, encoding="utf-8")
    result = _check(repo, "--range", "HEAD~1..HEAD", "--offline")
    assert result.returncode == 0, result.stderr
    assert "no Jira connection is configured" not in result.stdout
    assert "offline by request (--offline)" in result.stdout

    as_json = _check(repo, "--range", "HEAD~1..HEAD", "--offline", "--format", "json")
    assert "no Jira connection is configured" not in as_json.stdout
    assert "offline by request" in as_json.stdout


def test_without_a_connection_it_still_says_none_is_configured(repo: GitRepo) -> None:
    (repo.path / ".jirahooks.yml").write_text(RULES, encoding="utf-8")
    for extra in ((), ("--offline",)):
        result = _check(repo, "--range", "HEAD~1..HEAD", *extra)
        assert result.returncode == 0, result.stderr
        assert "no Jira connection is configured" in result.stdout


def _cases(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml)
    return {case.get("classname", ""): case for case in root.iter("testcase")}


@pytest.mark.parametrize("connected", [False, True], ids=["no-connection", "offline"])
def test_junit_marks_jira_rules_that_did_not_ask_jira_skipped(
    repo: GitRepo, connected: bool
) -> None:
    (repo.path / ".jirahooks.yml").write_text(
        (CONNECTION if connected else "") + RULES, encoding="utf-8"
    )
    result = _check(repo, "--range", "HEAD~1..HEAD", "--offline", "--format", "junit")
    assert result.returncode == 0, result.stderr
    cases = _cases(result.stdout)
    format_rule = cases["jirahooks.commit-key-required"]
    assert list(format_rule) == []  # checked without Jira: a passed test case
    jira_rule = cases["jirahooks.all-keys-valid"]
    (skipped,) = jira_rule.findall("skipped")
    reason = skipped.get("message", "")
    assert "not checked against Jira" in reason
    assert ("offline by request" in reason) is connected
    suite = ET.fromstring(result.stdout).find("testsuite")
    assert suite is not None
    assert suite.get("skipped") == "1"


def test_junit_with_jira_asked_does_not_skip(repo: GitRepo, tmp_path: Path) -> None:
    """The skip is about Jira not being asked, not about the rule: a failing Jira rule with
    format problems still fails."""
    (repo.path / ".jirahooks.yml").write_text(RULES, encoding="utf-8")
    repo.commit("no key at all")
    result = _check(repo, "--range", "HEAD~1..HEAD", "--format", "junit")
    assert result.returncode == 1, result.stderr
    cases = _cases(result.stdout)
    assert cases["jirahooks.commit-key-required"].find("failure") is not None
