"""The fake Bitbucket's answers and the adapter's requests, validated against the official
Bitbucket Cloud OpenAPI document (../shared/specs/bitbucket-cloud.v3.json).

Known differences between the document and what Bitbucket really does, handled here on purpose:

- OpenAPI 3.0 has no ``null`` for object fields, but Bitbucket sends ``"merge_commit": null``,
  ``"closed_by": null`` …: null-valued keys are dropped before validating a response.
- ``report_data.value`` is typed ``object`` while the document's own examples (and Bitbucket)
  use numbers, strings and booleans: the value's type is relaxed.
- ``GET …/pullrequests/{id}/commits`` declares no response schema: its pages are validated as
  ``paginated_changeset`` (a page of ``commit`` objects).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from tests.fakes.fake_bitbucket import FakeBitbucket, FakeRepo
from tests.platforms.conftest import Call

from jirahooks.platforms.base import (
    Annotation,
    BuildState,
    BuildStatus,
    Report,
    ReviewVerdict,
)

SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "bitbucket-cloud.v3.json"
REPO = "/repositories/{workspace}/{repo_slug}"

pytestmark = pytest.mark.skipif(
    not SPEC.exists(),
    reason=f"the Bitbucket Cloud OpenAPI document is not at {SPEC} (../shared/specs is absent)",
)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    relaxed = copy.deepcopy(document)
    relaxed["components"]["schemas"]["report_data"]["properties"]["value"] = {}
    return relaxed


def validator(spec: dict[str, Any], schema: dict[str, Any]) -> Draft7Validator:
    """A validator whose ``#/components/…`` references resolve inside the OpenAPI document:
    the schema is embedded in a root that carries the document's components."""
    root = {**schema, "components": spec["components"]}
    return Draft7Validator(root)


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def check(spec: dict[str, Any], schema: dict[str, Any], instance: Any, what: str) -> None:
    errors = sorted(validator(spec, schema).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, f"{what}: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errors[:5]
    )


def request_schema(spec: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    body = spec["paths"][REPO + path][method]["requestBody"]["content"]["application/json"]
    schema: dict[str, Any] = body["schema"]
    return schema


def response_schema(spec: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    answer = spec["paths"][REPO + path][method]["responses"][status]
    schema: dict[str, Any] = answer["content"]["application/json"]["schema"]
    return schema


def exercise(bitbucket: FakeBitbucket, repo: FakeRepo, call: Call) -> str:
    """Run every adapter operation once against the fake; return the PR head."""
    pr = bitbucket.add_pr(
        repo, "ABC-1 Login", source="feature/ABC-1", commits=[f"ABC-1 c{i}" for i in range(12)]
    )
    bitbucket.add_pr(repo, "ABC-2 Other", source="feature/ABC-2")
    url = "http://127.0.0.1:8000/ui/evaluations/1"
    status = BuildStatus("jh", BuildState.FAILED, "Guardian", "Blocked by: x", url, pr.source)
    notes = tuple(Annotation(f"jh-{i}", f"problem {i}", "details") for i in range(3))
    report = Report(
        "jh-report",
        "Process Guardian",
        "1 rule blocked",
        "FAILED",
        link=url,
        data=({"title": "Rules", "type": "NUMBER", "value": 3},),
        annotations=notes,
    )

    async def run(bb: Any) -> None:
        await bb.fetch_pull_request("api-service", str(pr.id))
        await bb.list_open_pull_requests("api-service")
        await bb.list_open_pull_requests("api-service", source_branch="feature/ABC-1")
        await bb.resolve_commit("api-service", pr.head[:12])
        await bb.publish_status("api-service", pr.head, status)
        await bb.publish_report("api-service", pr.head, report, replace=True)
        await bb.review("api-service", str(pr.id), ReviewVerdict.REQUEST_CHANGES)
        await bb.review("api-service", str(pr.id), ReviewVerdict.APPROVE)
        await bb.client.request("GET", bb._path("api-service", f"/commit/{pr.head}/statuses"))

    call(run)
    return pr.head


def test_adapter_requests_validate(
    spec: dict[str, Any], bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    exercise(bitbucket, repo, call)
    statuses = bitbucket.requests_to("/statuses/build", method="POST")
    reports = bitbucket.requests_to("/reports/jh-report", method="PUT")
    notes = bitbucket.requests_to("/annotations", method="POST")
    assert statuses and reports and notes
    for r in statuses:
        schema = request_schema(spec, "/commit/{commit}/statuses/build", "post")
        check(spec, schema, r.body, "status request")
    for r in reports:
        check(
            spec,
            request_schema(spec, "/commit/{commit}/reports/{reportId}", "put"),
            r.body,
            "report",
        )
    for r in notes:
        schema = request_schema(spec, "/commit/{commit}/reports/{reportId}/annotations", "post")
        check(spec, schema, r.body, "annotations request")
    for r in bitbucket.requests:
        pagelen = r.query.get("pagelen")
        assert pagelen is None or 1 <= int(pagelen[0]) <= 100


def test_fake_responses_validate(
    spec: dict[str, Any], bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    head = exercise(bitbucket, repo, call)
    expectations = [
        (
            "GET",
            "/pullrequests/1",
            response_schema(spec, "/pullrequests/{pull_request_id}", "get", "200"),
        ),
        ("GET", "/pullrequests/1/commits", ref("paginated_changeset")),
        ("GET", "/pullrequests", response_schema(spec, "/pullrequests", "get", "200")),
        ("GET", f"/commit/{head[:12]}", response_schema(spec, "/commit/{commit}", "get", "200")),
        (
            "POST",
            "/statuses/build",
            response_schema(spec, "/commit/{commit}/statuses/build", "post", "201"),
        ),
        ("GET", "/statuses", response_schema(spec, "/commit/{commit}/statuses", "get", "200")),
        (
            "PUT",
            "/reports/jh-report",
            response_schema(spec, "/commit/{commit}/reports/{reportId}", "put", "200"),
        ),
        (
            "POST",
            "/annotations",
            response_schema(spec, "/commit/{commit}/reports/{reportId}/annotations", "post", "200"),
        ),
        (
            "POST",
            "/approve",
            response_schema(spec, "/pullrequests/{pull_request_id}/approve", "post", "200"),
        ),
        (
            "POST",
            "/request-changes",
            response_schema(spec, "/pullrequests/{pull_request_id}/request-changes", "post", "200"),
        ),
    ]
    for method, fragment, schema in expectations:
        answered = [
            r
            for r in bitbucket.requests_to(fragment, method=method)
            if r.status < 300 and r.path.endswith(fragment)
        ]
        assert answered, f"no successful {method} …{fragment}"
        for r in answered:
            check(spec, schema, drop_nulls(r.response), f"{method} {fragment}")


def test_fake_errors_validate(
    spec: dict[str, Any], bitbucket: FakeBitbucket, repo: FakeRepo, call: Call
) -> None:
    exercise(bitbucket, repo, call)
    errors = [r for r in bitbucket.requests if r.status >= 400]
    assert errors, "the exercise removes a missing approval, which answers 404"
    bitbucket.fail(429, retry_after="0")
    for r in errors:
        check(spec, ref("error"), r.response, f"{r.method} {r.path} → {r.status}")
    assert all(r.response["type"] == "error" for r in errors)
