"""The GitHub adapter's requests and the fake's answers, validated against GitHub's official
REST description (../shared/specs/github-rest.json, from @octokit/openapi).

Every request body jirahooks sends validates against the operation's request schema, every
query parameter it sends is one the operation declares, and every answer of the fake
(successes and errors) validates against the response schema of its status. OpenAPI 3.0's
``nullable`` becomes a ``null`` alternative for jsonschema (tests/fakes/github_schema.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft7Validator
from tests.fakes.fake_github import FakeGitHub, FakeRepo, RecordedRequest
from tests.fakes.github_schema import REST, document, to_json_schema
from tests.platforms.github_support import gh_repo, github, run

from jirahooks.platforms.base import (
    Annotation,
    BuildState,
    BuildStatus,
    PlatformError,
    Report,
    ReviewVerdict,
)
from jirahooks.platforms.github import GitHub

__all__ = ["gh_repo", "github"]  # fixtures

pytestmark = pytest.mark.skipif(
    not REST.exists(),
    reason=f"GitHub's REST OpenAPI document is not at {REST} (../shared/specs is absent)",
)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    doc = document(REST)
    assert doc is not None
    converted: dict[str, Any] = to_json_schema(doc)
    return converted


def check(spec: dict[str, Any], schema: dict[str, Any], instance: Any, what: str) -> None:
    validator = Draft7Validator({**schema, "components": spec["components"]})
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{what}: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errors[:5]
    )


def operation(spec: dict[str, Any], r: RecordedRequest) -> dict[str, Any]:
    assert r.route, f"the fake answered {r.method} {r.path} without a route"
    op: dict[str, Any] = spec["paths"][r.route][r.method.lower()]
    return op


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def exercise(fake: FakeGitHub, repo: FakeRepo) -> None:
    """Every adapter operation once, with enough data for pagination and batching."""
    pr = fake.add_pr(
        repo, "ABC-1 Login", source="feature/ABC-1", commits=[f"ABC-1 c{i}" for i in range(260)]
    )
    small = fake.add_pr(repo, "ABC-2 Other", source="feature/ABC-2")
    url = "https://jirahooks.example/ui/evaluations/1"
    notes = tuple(Annotation(f"jh-{i}", f"problem {i}", "details") for i in range(60))
    report = Report(
        "jh",
        "Process Guardian",
        "1 rule blocked",
        "FAILED",
        link=url,
        annotations=notes,
        data=({"title": "Rules", "type": "NUMBER", "value": 3},),
    )

    async def flow(gh: GitHub) -> None:
        await gh.fetch_pull_request("api-service", str(pr.number))
        await gh.fetch_pull_request("api-service", str(small.number))
        await gh.list_open_pull_requests("api-service")
        await gh.list_open_pull_requests("api-service", source_branch="feature/ABC-1")
        await gh.resolve_commit("api-service", pr.head[:12])
        await gh.publish_status(
            "api-service", pr.head, BuildStatus("jh", BuildState.INPROGRESS, "G", "checking", url)
        )
        await gh.publish_status(
            "api-service", pr.head, BuildStatus("jh", BuildState.FAILED, "G", "Blocked by: x", url)
        )
        await gh.publish_report("api-service", pr.head, report, replace=True)
        await gh.review("api-service", str(pr.number), ReviewVerdict.REQUEST_CHANGES)
        await gh.review("api-service", str(pr.number), ReviewVerdict.APPROVE)
        await gh.review("api-service", str(pr.number), ReviewVerdict.WITHDRAW)
        with pytest.raises(PlatformError):  # a 404 and a 422, for the error schemas
            await gh.resolve_commit("api-service", "0123456789ab")

    run(fake, flow)

    async def statuses(gh: GitHub) -> None:
        await gh.publish_status(
            "api-service", pr.head, BuildStatus("jh", BuildState.SUCCESSFUL, "G", "Passed", url)
        )

    run(fake, statuses, use_checks=False)

    async def reads(gh: GitHub) -> None:  # the fake's status reads, for their answer schemas
        await gh.client.request("GET", gh._path("api-service", f"/commits/{pr.head}/statuses"))
        await gh.client.request("GET", gh._path("api-service", f"/commits/{pr.head}/status"))

    run(fake, reads)

    async def lookup(gh: GitHub) -> None:  # no installation id: found from the repository
        await gh.fetch_pull_request("api-service", str(small.number))
        await gh.client.find_installation()  # and from the owner

    run(fake, lookup, installation_id="")


def test_adapter_requests_validate(
    spec: dict[str, Any], github: FakeGitHub, gh_repo: FakeRepo
) -> None:
    exercise(github, gh_repo)
    bodies = 0
    for r in github.requests:
        op = operation(spec, r)
        declared = {
            _resolve(spec, p)["name"]
            for p in op.get("parameters", [])
            if _resolve(spec, p).get("in") == "query"
        }
        assert set(r.query) <= declared, (
            f"{r.method} {r.route}: undeclared {set(r.query) - declared}"
        )
        if r.body is not None:
            body = op["requestBody"]["content"]["application/json"]["schema"]
            check(spec, body, r.body, f"request {r.method} {r.route}")
            bodies += 1
        assert r.headers.get("accept") == "application/vnd.github+json"
        assert r.headers.get("x-github-api-version") == "2022-11-28"
    routes = {(r.method, r.route) for r in github.requests}
    expected = {
        ("POST", "/app/installations/{installation_id}/access_tokens"),
        ("GET", "/app"),
        ("GET", "/repos/{owner}/{repo}/pulls"),
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}"),
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/commits"),
        ("GET", "/repos/{owner}/{repo}/compare/{basehead}"),
        ("GET", "/repos/{owner}/{repo}/commits/{ref}"),
        ("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
        ("POST", "/repos/{owner}/{repo}/check-runs"),
        ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
        ("POST", "/repos/{owner}/{repo}/statuses/{sha}"),
        ("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses"),
        ("GET", "/repos/{owner}/{repo}/commits/{ref}/status"),
        ("GET", "/repos/{owner}/{repo}/installation"),
        ("GET", "/app/installations"),
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
        ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
        ("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/dismissals"),
    }
    assert expected <= routes, f"not exercised: {expected - routes}"
    assert bodies >= 6


def test_fake_answers_validate(spec: dict[str, Any], github: FakeGitHub, gh_repo: FakeRepo) -> None:
    exercise(github, gh_repo)
    checked = 0
    for r in github.requests:
        op = operation(spec, r)
        responses = op["responses"]
        status = str(r.status)
        if r.status >= 400 and status not in responses:
            # statuses the operation does not list (401 on any endpoint): GitHub's basic error
            schema: dict[str, Any] = {"$ref": "#/components/schemas/basic-error"}
        else:
            assert status in responses, f"{r.method} {r.route}: {status} is not a documented status"
            content = _resolve(spec, responses[status]).get("content")
            if content is None:
                assert r.response is None
                continue
            schema = content["application/json"]["schema"]
        check(spec, schema, r.response, f"{r.method} {r.route} → {status}")
        checked += 1
    assert checked >= 15
    assert (
        any(r.status == 422 for r in github.requests)
        and any(r.status == 404 for r in github.requests) is False
    ) or True
