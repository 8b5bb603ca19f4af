"""The adapter's requests and the fake's answers, validated against the JSON schemas written
from GitLab's API documentation (tests/fakes/gitlab_schemas.json; sources in docs/gitlab.md).

There is no official OpenAPI document of GitLab's REST API v4 for these endpoints, so the
schemas are small and hold what the documentation states and clients rely on: required
fields, enums (commit status states, MR states, status check statuses) and limits (a status
description and target_url of at most 255 characters, a note of at most 1,000,000).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from tests.fakes.fake_gitlab import FakeGitLab, FakeProject, RecordedRequest
from tests.platforms.gitlab_support import gitlab_fixture, project_fixture, run  # noqa: F401

from jirahooks.platforms.base import Annotation, BuildState, BuildStatus, Report, ReviewVerdict
from jirahooks.platforms.gitlab import GitLab

SCHEMAS = json.loads((Path(__file__).parents[1] / "fakes" / "gitlab_schemas.json").read_text())
REPO = "platform/api-service"

# (method, path pattern) → (request schema, response schema, the response is a list)
ENDPOINTS: list[tuple[str, str, str | None, str, bool]] = [
    ("GET", r"/merge_requests/\d+$", None, "merge_request", False),
    ("GET", r"/merge_requests$", None, "merge_request", True),
    ("GET", r"/merge_requests/\d+/commits$", None, "commit", True),
    ("GET", r"/repository/commits/[^/]+$", None, "commit", False),
    ("GET", r"/repository/commits/[^/]+/merge_requests$", None, "merge_request", True),
    ("POST", r"/statuses/[0-9a-f]{40}$", "commit_status", "commit_status", False),
    ("GET", r"/merge_requests/\d+/notes$", None, "note", True),
    ("POST", r"/merge_requests/\d+/notes$", "note", "note", False),
    ("PUT", r"/merge_requests/\d+/notes/\d+$", "note", "note", False),
    ("GET", r"/merge_requests/\d+/approvals$", None, "approvals", False),
    ("POST", r"/merge_requests/\d+/approve$", "approve", "approvals", False),
    ("POST", r"/merge_requests/\d+/unapprove$", None, "approvals", False),
    ("GET", r"/external_status_checks$", None, "external_status_check", True),
    (
        "POST",
        r"/merge_requests/\d+/status_check_responses$",
        "status_check_response",
        "status_check_response",
        False,
    ),
]


def validator(section: str, name: str) -> Draft7Validator:
    return Draft7Validator({**SCHEMAS[section][name], "definitions": SCHEMAS["definitions"]})


def endpoint(r: RecordedRequest) -> tuple[str | None, str, bool] | None:
    for method, pattern, request, response, many in ENDPOINTS:
        if r.method == method and re.search(pattern, r.path):
            return request, response, many
    return None


def check(requests: list[RecordedRequest]) -> set[str]:
    """Validate every recorded exchange; the response schemas that were exercised."""
    seen: set[str] = set()
    for r in requests:
        if r.path == "/user":
            continue
        found = endpoint(r)
        assert found is not None, (
            f"the adapter called an undocumented endpoint: {r.method} {r.path}"
        )
        request, response, many = found
        if request is not None:
            validator("requests", request).validate(r.body)
        if r.status >= 400:
            if isinstance(r.response, dict):
                validator("responses", "error").validate(r.response)
            continue
        items: list[Any] = r.response if many else [r.response]
        assert isinstance(items, list)
        for item in items:
            validator("responses", response).validate(item)
        seen.add(response)
    return seen


def test_a_whole_evaluation_round_conforms(gitlab: FakeGitLab, project: FakeProject) -> None:
    mr = gitlab.add_mr(project, "ABC-1 Login", commits=[f"ABC-1 c{i}" for i in range(120)])
    project.status_checks[5] = "jirahooks"
    report = Report(
        "k",
        "Process Guardian",
        "1 rule blocked this change: Issue exists",
        "FAILED",
        link="https://jirahooks.example.com/e/1",
        annotations=(Annotation("a", "ABC-1 does not exist", "Fix: create it"),),
    )
    long = "Blocked by: " + "x" * 400

    async def flow(gl: GitLab) -> None:
        await gl.list_open_pull_requests(REPO, source_branch=mr.source)
        details = await gl.fetch_pull_request(REPO, str(mr.iid))
        await gl.resolve_commit(REPO, details.head[:10])
        for state in (BuildState.INPROGRESS, BuildState.INPROGRESS, BuildState.FAILED):
            await gl.publish_status(
                REPO,
                details.head,
                BuildStatus("k", state, "n", long, "https://jirahooks.example.com/e/1", mr.source),
            )
        await gl.publish_report(REPO, details.head, report)
        await gl.publish_report(REPO, details.head, report)
        await gl.review(REPO, str(mr.iid), ReviewVerdict.APPROVE)
        await gl.review(REPO, str(mr.iid), ReviewVerdict.WITHDRAW)
        await gl.merge_requests_of(REPO, project.commits[mr.commits[0]].id)

    run(gitlab, flow, status_check_id=5)
    seen = check(gitlab.requests)
    assert seen == {
        "merge_request",
        "commit",
        "commit_status",
        "note",
        "approvals",
        "status_check_response",
    }


@pytest.mark.parametrize(
    ("schema", "bad"),
    [
        ("commit_status", {"state": "successful"}),  # Bitbucket's word, not GitLab's
        ("commit_status", {"state": "failed", "description": "x" * 256}),
        ("commit_status", {"state": "failed", "target_url": "ftp://x"}),
        ("note", {"body": ""}),
        (
            "status_check_response",
            {"sha": "abc", "external_status_check_id": 1, "status": "passed"},
        ),
    ],
)
def test_the_request_schemas_refuse_what_gitlab_refuses(schema: str, bad: dict[str, Any]) -> None:
    assert not validator("requests", schema).is_valid(bad)


def test_the_hook_schemas_refuse_a_bitbucket_payload() -> None:
    bitbucket_like = {"pullrequest": {"id": 1}, "repository": {"full_name": "a/b"}}
    for name in ("Merge Request Hook", "Push Hook", "Note Hook"):
        assert not validator("hooks", name).is_valid(bitbucket_like)


def test_the_fake_paginates_as_gitlab_does(gitlab: FakeGitLab, project: FakeProject) -> None:
    import httpx
    from tests.fakes.fake_gitlab import TOKEN

    mr = gitlab.add_mr(project, "ABC-1", commits=[f"ABC-1 c{i}" for i in range(230)])
    url = f"{gitlab.url}/api/v4/projects/{project.id}/merge_requests/{mr.iid}/commits"
    first = httpx.get(url, params={"per_page": 500}, headers={"PRIVATE-TOKEN": TOKEN})
    assert len(first.json()) == 100  # per_page is capped at 100
    assert (first.headers["x-page"], first.headers["x-next-page"]) == ("1", "2")
    assert (first.headers["x-total"], first.headers["x-total-pages"]) == ("230", "3")
    assert 'rel="next"' in first.headers["link"] and 'rel="last"' in first.headers["link"]
    last = httpx.get(first.links["last"]["url"], headers={"PRIVATE-TOKEN": TOKEN})
    assert len(last.json()) == 30 and last.headers["x-next-page"] == ""
    assert 'rel="next"' not in last.headers["link"]
    refused = httpx.get(url, headers={"PRIVATE-TOKEN": "nope"})
    assert (refused.status_code, refused.json()) == (401, {"message": "401 Unauthorized"})
