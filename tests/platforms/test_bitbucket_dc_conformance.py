"""The fake Data Center's answers and the adapter's requests, validated against the official
Bitbucket Data Center OpenAPI document (../shared/specs/bitbucket-dc.v3.json, 9.2).

Known differences between the document and what Data Center really does, handled on purpose:

- OpenAPI 3.0 has no ``null``, but Data Center sends ``"context": null`` in error messages:
  null-valued keys are dropped before validating an answer.
- ``RestInsightReportData.value`` is typed ``object`` while the document's own table (numbers for
  NUMBER / DURATION, strings for TEXT, booleans) says otherwise: the value's type is relaxed.
- The document's paths start after the server URL ``http://{baseurl}/rest``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from tests.fakes.fake_bitbucket_dc import BOT_SLUG, FakeBitbucketDC, FakeRepo
from tests.platforms.bitbucket_dc_support import SLUG, DCCall, dc, dc_call, dc_repo

from jirahooks.platforms.base import (
    Annotation,
    BuildState,
    BuildStatus,
    PlatformAuthError,
    Report,
    ReviewVerdict,
)
from jirahooks.platforms.bitbucket_dc import BitbucketDataCenter

__all__ = ["dc", "dc_call", "dc_repo"]  # fixtures

SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "bitbucket-dc.v3.json"
REPO = "/api/latest/projects/{projectKey}/repos/{repositorySlug}"
INSIGHTS = "/insights/latest/projects/{projectKey}/repos/{repositorySlug}"
REPORT = INSIGHTS + "/commits/{commitId}/reports/{key}"

pytestmark = pytest.mark.skipif(
    not SPEC.exists(),
    reason=f"the Bitbucket Data Center OpenAPI document is not at {SPEC} (../shared/specs is absent)",
)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    relaxed = copy.deepcopy(document)
    relaxed["components"]["schemas"]["RestInsightReportData"]["properties"]["value"] = {}
    return relaxed


def check(spec: dict[str, Any], schema: dict[str, Any], instance: Any, what: str) -> None:
    root = {**schema, "components": spec["components"]}
    errors = sorted(Draft7Validator(root).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{what}: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errors[:5]
    )


def drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def request_schema(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    content = spec["paths"][path][method]["requestBody"]["content"]
    schema: dict[str, Any] = next(iter(content.values()))["schema"]  # application/json or */*
    return schema


def response_schema(spec: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    answer = spec["paths"][path][method]["responses"][status]
    schema: dict[str, Any] = answer["content"]["application/json"]["schema"]
    return schema


def exercise(dc: FakeBitbucketDC, repo: FakeRepo, call: DCCall) -> str:
    """Every adapter operation once against the fake; returns the PR head."""
    pr = dc.add_pr(
        repo, "ABC-1 Login", source="feature/ABC-1", commits=[f"ABC-1 c{i}" for i in range(120)]
    )
    dc.add_pr(repo, "ABC-2 Other", source="feature/ABC-2")
    url = "https://jh.example.com/ui/evaluations/1"
    status = BuildStatus("jh", BuildState.FAILED, "Guardian", "Blocked by: x", url, pr.source)
    report = Report(
        "jh-report",
        "Process Guardian",
        "1 rule blocked",
        "FAILED",
        link=url,
        data=(
            {"title": "Result", "type": "TEXT", "value": "BLOCK"},
            {"title": "Rules", "type": "NUMBER", "value": 3},
            {"title": "Duration", "type": "DURATION", "value": 12},
        ),
        annotations=tuple(Annotation(f"jh-{i}", f"problem {i}", "details") for i in range(3)),
    )

    async def run(a: BitbucketDataCenter) -> None:
        await a.fetch_pull_request(SLUG, str(pr.id))
        await a.list_open_pull_requests(SLUG)
        await a.list_open_pull_requests(SLUG, source_branch="feature/ABC-1")
        await a.resolve_commit(SLUG, pr.head[:12])
        await a.publish_status(SLUG, pr.head, status)
        await a.publish_report(SLUG, pr.head, report, replace=True)  # DELETE → 404 first
        await a.publish_report(SLUG, pr.head, report, replace=False)
        await a.review(SLUG, str(pr.id), ReviewVerdict.REQUEST_CHANGES)
        await a.review(SLUG, str(pr.id), ReviewVerdict.APPROVE)

    call(run, user_slug=BOT_SLUG)
    return pr.head


def test_adapter_requests_validate(
    spec: dict[str, Any], dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    exercise(dc, dc_repo, dc_call)
    expectations = [
        ("POST", "/builds", request_schema(spec, REPO + "/commits/{commitId}/builds", "post")),
        ("PUT", "/reports/jh-report", request_schema(spec, REPORT, "put")),
        ("POST", "/annotations", request_schema(spec, REPORT + "/annotations", "post")),
        (
            "PUT",
            "/participants/",
            request_schema(
                spec, REPO + "/pull-requests/{pullRequestId}/participants/{userSlug}", "put"
            ),
        ),
    ]
    for method, fragment, schema in expectations:
        sent = dc.requests_to(fragment, method=method)
        assert sent, f"no {method} …{fragment}"
        for r in sent:
            check(spec, schema, r.body, f"{method} {fragment} request")
    build = dc.requests_to("/builds", method="POST")[0].body
    required = spec["components"]["schemas"]["RestBuildStatusSetRequest"]["required"]
    assert set(required) <= set(build)  # key, state, url
    for r in dc.requests:
        assert r.path.startswith(("/rest/api/latest/", "/rest/insights/latest/")), r.path
        limit = r.query.get("limit")
        assert limit is None or 1 <= int(limit[0]) <= 1000
        assert r.headers["authorization"].startswith("Bearer ")


def test_fake_responses_validate(
    spec: dict[str, Any], dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    head = exercise(dc, dc_repo, dc_call)
    expectations = [
        (
            "GET",
            "/pull-requests/1",
            response_schema(spec, REPO + "/pull-requests/{pullRequestId}", "get", "200"),
        ),
        (
            "GET",
            "/pull-requests/1/commits",
            response_schema(spec, REPO + "/pull-requests/{pullRequestId}/commits", "get", "200"),
        ),
        ("GET", "/pull-requests", response_schema(spec, REPO + "/pull-requests", "get", "200")),
        (
            "GET",
            f"/commits/{head[:12]}",
            response_schema(spec, REPO + "/commits/{commitId}", "get", "200"),
        ),
        ("PUT", "/reports/jh-report", response_schema(spec, REPORT, "put", "200")),
        (
            "PUT",
            f"/participants/{BOT_SLUG}",
            response_schema(
                spec, REPO + "/pull-requests/{pullRequestId}/participants/{userSlug}", "put", "200"
            ),
        ),
    ]
    for method, fragment, schema in expectations:
        answered = [
            r
            for r in dc.requests_to(fragment, method=method)
            if r.status < 300 and r.path.endswith(fragment)
        ]
        assert answered, f"no successful {method} …{fragment}"
        for r in answered:
            check(spec, schema, drop_nulls(r.response), f"{method} {fragment}")
    # 204s have no body, as the document says
    for fragment, method in (("/builds", "POST"), ("/annotations", "POST")):
        assert all(
            r.status == 204 and r.response is None for r in dc.requests_to(fragment, method=method)
        )
    pages = dc.requests_to("/pull-requests/1/commits", method="GET")
    assert len(pages) == 2 and pages[0].response["nextPageStart"] == 100


def test_fake_errors_validate(
    spec: dict[str, Any], dc: FakeBitbucketDC, dc_repo: FakeRepo, dc_call: DCCall
) -> None:
    exercise(dc, dc_repo, dc_call)
    dc.fail(429, retry_after="0")
    dc.fail(503)
    dc_call(lambda a: a.list_open_pull_requests(SLUG))  # 429, 503, then 200
    with pytest.raises(PlatformAuthError):
        dc_call(lambda a: a.list_open_pull_requests(SLUG), token="wrong")  # 401
    errors = [r for r in dc.requests if r.status >= 400]
    assert {r.status for r in errors} >= {401, 404, 429, 503}
    schema = response_schema(spec, REPORT, "delete", "404")
    for r in errors:
        check(spec, schema, drop_nulls(r.response), f"{r.method} {r.path} → {r.status}")
        assert r.response["errors"][0]["message"] and r.response["errors"][0]["exceptionName"]
