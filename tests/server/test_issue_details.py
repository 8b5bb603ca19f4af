"""What a hook user receives of each Jira issue (issue 13 A.5): the issue key, summary, status,
type and a browse URL. Jira's issue id, fix versions, the assignee's account ID and the
connection's name only when the workspace turns ``share_issue_details`` on; the stored
evaluation (administrators, web UI) keeps them either way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.server.conftest import WS, Server

PUSH = {
    "triggerType": "PUSH",
    "branchName": "main",
    "commits": [{"hash": "a" * 40, "message": "ABC-1 login", "authorDisplayName": "Ada"}],
}
ACCOUNT = "5b10ac8d82e05b22cc7d4ef5"
ADMIN_ONLY = {"id", "fixVersions", "assignee", "connection"}


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira("cloud") as fake:
        fake.add_issue(
            "ABC-1", summary="Login", status="In Progress", assignee=ACCOUNT, fix_versions=["2.0"]
        )
        yield fake


@pytest.fixture
def wired(server: Server, jira: FakeJira) -> tuple[Server, str]:
    server.add_repository("api")
    server.ok(
        "POST",
        f"/workspaces/{WS}/connections",
        json={
            "name": "internal-jira-prod",
            "url": jira.url,
            "deployment": "cloud",
            "email": jira.user.email,
            "token": jira.token,
        },
    )
    server.ok(
        "POST",
        f"/workspaces/{WS}/rules",
        json={"id": "valid", "title": "Keys exist", "checks": {"keys_valid": "ALL"}},
    )
    return server, server.validation_token("ci", "api")["secret"]


def issue_of(body: dict[str, Any]) -> dict[str, Any]:
    issue: dict[str, Any] = body["ruleValidations"][0]["issuesUnderReview"]["ABC-1"]
    return issue


def test_hook_users_get_what_a_developer_needs(wired: tuple[Server, str], jira: FakeJira) -> None:
    server, secret = wired
    response = server.validate(PUSH, secret)
    assert response.status_code == 200 and response.json()["result"] == "PASS"
    issue = issue_of(response.json())
    assert issue["key"] == "ABC-1" and issue["summary"] == "Login"
    assert issue["status"] == "In Progress" and issue["url"].endswith("/browse/ABC-1")
    assert not ADMIN_ONLY & set(issue), issue
    assert ACCOUNT not in response.text and "internal-jira-prod" not in response.text
    # administrators still see everything in the stored evaluation
    [item] = server.ok("GET", f"/workspaces/{WS}/evaluations")["items"]
    stored = server.ok("GET", f"/workspaces/{WS}/evaluations/{item['id']}")
    full = issue_of(stored["document"])
    assert full["assignee"] == ACCOUNT and full["connection"] == "internal-jira-prod"


def test_a_workspace_may_share_the_details(wired: tuple[Server, str]) -> None:
    server, secret = wired
    server.ok("PUT", f"/workspaces/{WS}/settings", json={"share_issue_details": True})
    issue = issue_of(server.validate(PUSH, secret).json())
    assert issue["assignee"] == ACCOUNT and issue["connection"] == "internal-jira-prod"
    assert issue["fixVersions"] == ["2.0"]


def test_a_repository_cannot_override_it(wired: tuple[Server, str]) -> None:
    server, _ = wired
    response = server.call(
        "PUT", f"/workspaces/{WS}/repositories/api/settings", json={"share_issue_details": True}
    )
    assert response.status_code == 422, response.text
    assert "workspace setting" in response.text
