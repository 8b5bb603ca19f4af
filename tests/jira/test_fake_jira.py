"""The fake Jira behaves as docs/external-apis.md says real Jira does (the facts we rely on)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.fakes import fake_jira_jql as jql
from tests.fakes.fake_jira import FakeJira


def _http(fake: FakeJira, *, token: str | None = None) -> httpx.Client:
    secret = fake.token if token is None else token
    if fake.deployment == "cloud":
        auth: Any = httpx.BasicAuth(fake.user.email, secret)
        return httpx.Client(base_url=fake.url, auth=auth)
    return httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {secret}"})


def test_bulkfetch_drops_unknown_keys_silently_and_answers_moved_ones(cloud_jira: FakeJira) -> None:
    cloud_jira.add_issue("ABC-1")
    cloud_jira.add_issue("ABC-2")
    cloud_jira.move_issue("ABC-2", "XYZ-1")
    with _http(cloud_jira) as http:
        body = {"issueIdsOrKeys": ["abc-1", "ABC-2", "XYZ-1", "NOPE-1"], "fields": ["summary"]}
        answer = http.post("/rest/api/3/issue/bulkfetch", json=body).json()
    assert [i["key"] for i in answer["issues"]] == ["ABC-1", "XYZ-1"]  # deduplicated by id
    assert answer["issueErrors"] == []
    assert set(answer["issues"][0]["fields"]) == {"summary"}


def test_bulkfetch_limits(cloud_jira: FakeJira) -> None:
    with _http(cloud_jira) as http:
        too_many = {"issueIdsOrKeys": [f"A-{n}" for n in range(1, 102)]}
        assert http.post("/rest/api/3/issue/bulkfetch", json=too_many).status_code == 400
        assert (
            http.post("/rest/api/3/issue/bulkfetch", json={"issueIdsOrKeys": []}).status_code == 400
        )
        unknown = {"issueIdsOrKeys": ["A-1"], "validateQuery": False}
        assert http.post("/rest/api/3/issue/bulkfetch", json=unknown).status_code == 400


def test_cloud_search_jql_returns_only_ids_by_default_and_pages(cloud_jira: FakeJira) -> None:
    cloud_jira.add_issues("ABC", 5)
    with _http(cloud_jira) as http:
        first = http.get(
            "/rest/api/3/search/jql", params={"jql": "project = ABC", "maxResults": 3}
        ).json()
        assert [set(i) for i in first["issues"]] == [{"id"}] * 3
        assert first["isLast"] is False
        params = {"jql": "project = ABC", "maxResults": 3, "nextPageToken": first["nextPageToken"]}
        second = http.get("/rest/api/3/search/jql", params=params).json()
        assert len(second["issues"]) == 2
        assert second["isLast"] is True
        assert "nextPageToken" not in second
        rejected = http.post(
            "/rest/api/3/search/jql", json={"jql": "project = ABC", "validateQuery": False}
        )
        assert rejected.status_code == 400


def test_cloud_removed_search_and_v2_search_are_gone(cloud_jira: FakeJira) -> None:
    with _http(cloud_jira) as http:
        for path in ("/rest/api/3/search", "/rest/api/2/search"):
            answer = http.post(path, json={"jql": "project = ABC"})
            assert answer.status_code == 410
            assert "search/jql" in answer.json()["errorMessages"][0]


def test_datacenter_validate_query_true_fails_with_one_message_per_key(dc_jira: FakeJira) -> None:
    dc_jira.add_issue("ABC-1")
    with _http(dc_jira) as http:
        answer = http.post(
            "/rest/api/2/search", json={"jql": 'key in ("ABC-1", "ABC-998", "ABC-999")'}
        )
    assert answer.status_code == 400
    assert answer.json() == {
        "errorMessages": [
            "An issue with key 'ABC-998' does not exist for field 'key'.",
            "An issue with key 'ABC-999' does not exist for field 'key'.",
        ],
        "errors": {},
    }


def test_datacenter_caps_max_results(jira_factory: Callable[..., FakeJira]) -> None:
    fake = jira_factory("datacenter", max_results_cap=4)
    fake.add_issues("ABC", 10)
    with _http(fake) as http:
        answer = http.get(
            "/rest/api/2/search", params={"jql": "project = ABC", "maxResults": 1000}
        ).json()
    assert (answer["maxResults"], answer["total"], len(answer["issues"])) == (4, 10, 4)


def test_datacenter_has_no_cloud_endpoints(dc_jira: FakeJira) -> None:
    with _http(dc_jira) as http:
        assert (
            http.post("/rest/api/3/issue/bulkfetch", json={"issueIdsOrKeys": ["A-1"]}).status_code
            == 404
        )


def test_context_path_is_required(dc_jira: FakeJira) -> None:
    with httpx.Client(base_url=dc_jira.origin) as http:
        answer = http.get("/rest/api/2/serverInfo")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")


def test_server_info_is_anonymous_and_myself_is_not(jira: FakeJira) -> None:
    with _http(jira, token="wrong") as http:
        info = http.get("/rest/api/2/serverInfo")
        assert info.status_code == 200
        assert info.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"
        assert (
            http.get(f"/rest/api/{'3' if jira.deployment == 'cloud' else '2'}/myself").status_code
            == 401
        )


def test_revoked_tokens_stop_working(jira: FakeJira) -> None:
    token = jira.token
    jira.revoke_token(token)
    with _http(jira, token=token) as http:
        assert http.get("/rest/api/2/myself").status_code == 401


def test_fault_injection_and_request_log(cloud_jira: FakeJira) -> None:
    cloud_jira.fail(429, retry_after="3", times=2, path="/serverInfo")
    with _http(cloud_jira) as http:
        statuses = [http.get("/rest/api/2/serverInfo") for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 429, 200]
    assert statuses[0].headers["Retry-After"] == "3"
    assert cloud_jira.count("/rest/api/2/serverInfo") == 3
    cloud_jira.reset_log()
    assert cloud_jira.count() == 0


def test_jql_match_and_parse(cloud_jira: FakeJira) -> None:
    one = cloud_jira.add_issue("ABC-1", status="Done")
    two = cloud_jira.add_issue("ABC-2")
    with _http(cloud_jira) as http:
        body = {"issueIds": [int(one.id), int(two.id)], "jqls": ["status = Done", "bogus = 1"]}
        matches = http.post("/rest/api/3/jql/match", json=body).json()["matches"]
        assert matches[0] == {"matchedIssues": [int(one.id)], "errors": []}
        assert matches[1]["matchedIssues"] == [] and matches[1]["errors"]
        parsed = http.post(
            "/rest/api/3/jql/parse",
            params={"validation": "strict"},
            json={"queries": ["project = NOPE", "project = ABC"]},
        ).json()
    assert parsed["queries"][0]["errors"] == [
        "The value 'NOPE' does not exist for the field 'project'."
    ]
    assert parsed["queries"][1]["errors"] == []


# -- the JQL subset --------------------------------------------------------------------------


class _Issue:
    def __init__(self, key: str, **values: Any) -> None:
        self.key = key
        self.id = values.get("id", "1")
        self.summary = values.get("summary", "")
        self.status = values.get("status", "To Do")
        self.status_category = values.get("status_category", "new")
        self.issue_type = values.get("issue_type", "Task")
        self.assignee = values.get("assignee")
        self.fix_versions = values.get("fix_versions", [])
        self.old_keys = values.get("old_keys", [])

    @property
    def project(self) -> str:
        return self.key.rsplit("-", 1)[0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('key in ("ABC-1", "ABC-2")', True),
        ("issuekey = abc-1", True),
        ("key = OLD-3", True),
        ("project = ABC AND status = 'In Progress'", True),
        ("project = ABC AND NOT status = 'In Progress'", False),
        ("(project = XYZ OR issuetype = Bug) AND assignee = currentUser()", True),
        ("fixVersion is EMPTY", False),
        ("fixVersion is not EMPTY AND fixVersion in (1.0, 2.0)", True),
        ("assignee is EMPTY", False),
        ("status != Done ORDER BY key DESC", True),
        ("summary ~ login", True),
        ("project not in (ABC)", False),
        ("statusCategory = indeterminate", True),
    ],
)
def test_jql_subset(query: str, expected: bool) -> None:
    issue = _Issue(
        "ABC-1",
        status="In Progress",
        status_category="indeterminate",
        issue_type="Bug",
        assignee="me",
        fix_versions=["2.0"],
        summary="Fix the Login page",
        old_keys=["OLD-3"],
    )
    assert jql.parse(query).matches(issue, "me") is expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("colour = red", "Field 'colour' does not exist"),
        ("project = ", "Expecting more input"),
        ("project in (A, B", "Expecting ')'"),
        ("status = Done AND", "Expecting more input"),
        ("assignee = someoneElse()", "Unable to find JQL function"),
    ],
)
def test_jql_errors(query: str, message: str) -> None:
    with pytest.raises(jql.JqlError) as info:
        jql.parse(query)
    assert message in info.value.messages[0]


def test_switching_deployment_changes_endpoints_and_detection(cloud_jira: FakeJira) -> None:
    cloud_jira.add_issue("ABC-1")
    with httpx.Client(base_url=cloud_jira.url) as http:
        assert http.get("/rest/api/2/serverInfo").json()["deploymentType"] == "Cloud"
        cloud_jira.set_deployment("datacenter")
        assert http.get("/rest/api/2/serverInfo").json()["deploymentType"] == "Server"
        bearer = {"Authorization": f"Bearer {cloud_jira.token}"}
        answer = http.post("/rest/api/2/search", json={"jql": "key = ABC-1"}, headers=bearer)
        assert [i["key"] for i in answer.json()["issues"]] == ["ABC-1"]
