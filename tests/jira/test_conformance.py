"""Conformance: the fake Jira's answers and the client's requests against the official OpenAPI
documents in ``../shared/specs/`` (Jira Cloud platform v3, Jira Software Data Center 10.3).

Every request the client sends in a realistic scenario must hit an operation the document
defines, with a body and query parameters its schemas accept; every answer the fake gives must
match the documented response schema (errors: ``ErrorCollection``). The documents are read in
place — never copied into this repository — and the test is skipped when they are absent (a
fresh clone has no ``../shared``).
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from tests.fakes.fake_jira import FakeJira, RecordedRequest
from tests.jira.support import make_chain, make_client

from jirahooks.jira.diagnose import diagnose
from jirahooks.rules.config import ConnectionConfig, Deployment

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"
CLOUD_SPEC = "jira-cloud-platform.v3.json"
DC_SPEC = "jira-software-dc-10.3.json"

pytestmark = pytest.mark.skipif(
    not (SPECS / CLOUD_SPEC).is_file() or not (SPECS / DC_SPEC).is_file(),
    reason=f"the official OpenAPI documents are not in {SPECS} (a checkout without ../shared)",
)

Connect = Callable[..., ConnectionConfig]

# Where the Data Center document contradicts every real Data Center (and our docs), we follow
# the servers, and say so here:
# * IssueBean.fields: documented as "object of objects", but summary is a string, assignee may
#   be null and fixVersions an array;
# * GET /api/2/project answers an array of projects, documented as a single ProjectBean.
DC_PATCHES: dict[str, Any] = {
    "IssueBean.fields": {"type": "object"},
}
DC_ARRAY_RESPONSES = {("/api/2/project", "get")}
# Cloud serves /rest/api/2/serverInfo with the v3 bean; only the v3 document is at hand.
CLOUD_ALIASES = {"/rest/api/2/serverInfo": "/rest/api/3/serverInfo"}
_DROP = {"example", "examples", "xml", "description", "x-showInExample"}


@cache
def _spec(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SPECS / name).read_text(encoding="utf-8"))
    if name == DC_SPEC:
        document = copy.deepcopy(document)
        for dotted, replacement in DC_PATCHES.items():
            schema_name, prop = dotted.split(".")
            document["components"]["schemas"][schema_name]["properties"][prop] = replacement
    return document


def _pointer(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def inline(document: dict[str, Any], node: Any, seen: tuple[str, ...] = ()) -> Any:
    """A self-contained JSON Schema: ``$ref`` inlined (recursion cut to "anything"), OpenAPI's
    ``nullable`` turned into a JSON Schema type, annotations dropped."""
    if isinstance(node, list):
        return [inline(document, item, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen or len(seen) > 25:
            return {}
        return inline(document, _pointer(document, ref), (*seen, ref))
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties" and isinstance(value, dict):
            result[key] = {name: inline(document, sub, seen) for name, sub in value.items()}
        else:
            result[key] = inline(document, value, seen)
    if result.pop("nullable", False) and "type" in result:
        result["type"] = [result["type"], "null"]
    return result


def _operation(deployment: str, path: str, method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The spec operation for a request path (without context path), or fail."""
    if deployment == "cloud":
        document, spec_path = _spec(CLOUD_SPEC), CLOUD_ALIASES.get(path, path)
    else:
        document, spec_path = _spec(DC_SPEC), path.removeprefix("/rest")
    for template, item in document["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, spec_path) and method.lower() in item:
            return document, item[method.lower()]
    raise AssertionError(f"{method} {path} is not in the {deployment} OpenAPI document")


def _validate(document: dict[str, Any], schema: Any, instance: Any, what: str) -> None:
    resolved = inline(document, schema)
    errors = sorted(
        jsonschema.Draft7Validator(resolved).iter_errors(instance), key=lambda e: list(e.path)
    )
    assert not errors, f"{what}: " + "; ".join(
        f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message[:200]}" for e in errors[:5]
    )


def _query_value(schema: dict[str, Any], values: list[str]) -> Any:
    kind = schema.get("type")
    if kind == "array":
        return values
    value = values[-1]
    if kind == "integer":
        return int(value)
    if kind == "boolean":
        assert value in ("true", "false"), value
        return value == "true"
    return value


def check_request(fake: FakeJira, request: RecordedRequest) -> None:
    document, operation = _operation(fake.deployment, request.path, request.method)
    where = f"{request.method} {request.path}"
    parameters = {
        p["name"]: p for p in (inline(document, p) for p in operation.get("parameters", []))
    }
    for name, values in request.query.items():
        assert name in parameters, f"{where}: undocumented query parameter {name!r}"
        schema = parameters[name].get("schema", {})
        _validate(document, schema, _query_value(schema, values), f"{where} ?{name}")
    for name, parameter in parameters.items():
        if parameter.get("in") == "query" and parameter.get("required"):
            assert name in request.query, f"{where}: required query parameter {name!r} missing"
    if request.body is not None:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        _validate(document, schema, request.body, f"{where} request body")


def check_response(fake: FakeJira, request: RecordedRequest) -> None:
    document, operation = _operation(fake.deployment, request.path, request.method)
    where = f"{request.method} {request.path} → {request.status}"
    assert "json" in request.response_type, where
    documented = operation["responses"].get(str(request.status))
    assert documented is not None or request.status >= 400, f"{where}: undocumented status"
    schema = (documented or {}).get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        schema = {"$ref": "#/components/schemas/ErrorCollection"}
    spec_path = request.path.removeprefix("/rest")
    if (
        fake.deployment == "datacenter"
        and (spec_path, request.method.lower()) in DC_ARRAY_RESPONSES
    ):
        schema = {"type": "array", "items": schema}
    _validate(document, schema, request.response, where)


def _scenario(fake: FakeJira, connect: Connect) -> None:
    """Everything the resolver does, plus detection, /myself and a few error answers."""
    me = fake.user.account_id if fake.deployment == "cloud" else fake.user.name
    fake.add_issues("ABC", 120, fix_versions=["1.0"], assignee=me)
    fake.add_issue("ABC-200", status="Done")
    fake.move_issue("ABC-5", "XYZ-1")
    fake.add_issue("SEC-1", hidden=True)
    keys = [f"ABC-{n}" for n in range(1, 130)] + ["ABC-200", "SEC-1", "NOPE-1"]
    chain = make_chain(connect(fake))

    async def run() -> None:
        resolution = await chain.resolve(keys)
        await chain.match_jql(
            "assignee = currentUser() AND fixVersion is not EMPTY", list(resolution.issues)
        )
        await chain.match_jql("colour = red", list(resolution.issues))
        await chain.projects()
        await chain.validate_jql("project = NOPE")
        await chain.validate_jql("project = ABC")
        detecting = make_client(connect(fake, deployment=Deployment.AUTO))
        await detecting.myself()
        found = await diagnose(make_client(connect(fake)))  # the connection test's requests
        assert found.ok, found.problems

    asyncio.run(run())
    assert fake.count() > 5


def test_client_requests_and_fake_answers_follow_the_spec(jira: FakeJira, connect: Connect) -> None:
    _scenario(jira, connect)
    if jira.deployment == "cloud":
        used = {"issue/bulkfetch", "jql/match", "jql/parse", "project/search", "myself"}
        expected = {f"/rest/api/3/{p}" for p in used} | {"/rest/api/2/serverInfo"}
    else:
        expected = {f"/rest/api/2/{p}" for p in ("search", "project", "myself", "serverInfo")}
    assert {r.path for r in jira.requests} == expected
    for request in list(jira.requests):
        check_request(jira, request)
        check_response(jira, request)


def test_fake_error_answers_follow_the_spec(jira: FakeJira) -> None:
    jira.add_issue("ABC-1")
    version = "3" if jira.deployment == "cloud" else "2"
    with httpx.Client(base_url=jira.url) as http:
        http.get(f"/rest/api/{version}/myself")  # 401: no credentials
        http.get(f"/rest/api/{version}/issue/ABC-404", auth=_auth(jira))  # 404
        if jira.deployment == "cloud":
            http.post("/rest/api/3/issue/bulkfetch", json={"issueIdsOrKeys": []}, auth=_auth(jira))
            http.post("/rest/api/3/search", json={"jql": "project = ABC"}, auth=_auth(jira))
            http.get(
                "/rest/api/3/search/jql",
                params={"jql": "project = ABC", "fields": "summary,status"},
                auth=_auth(jira),
            )
        else:
            http.post(
                "/rest/api/2/search", json={"jql": 'key in ("ABC-1", "ABC-9")'}, auth=_auth(jira)
            )
            http.get(
                "/rest/api/2/search",
                params={"jql": "project = ABC", "validateQuery": "false"},
                auth=_auth(jira),
            )
    assert {r.status for r in jira.requests} >= {401, 404}
    for request in list(jira.requests):
        check_request(jira, request)
        check_response(jira, request)


def _auth(fake: FakeJira) -> Any:
    if fake.deployment == "cloud":
        return httpx.BasicAuth(fake.user.email, fake.token)

    def bearer(request: httpx.Request) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {fake.token}"
        return request

    return bearer


def test_the_checker_catches_a_bad_request(cloud_jira: FakeJira) -> None:
    """The conformance check is not vacuous: an undocumented property fails it."""
    bad = RecordedRequest(
        "POST",
        "/rest/api/3/issue/bulkfetch",
        {},
        {"issueIdsOrKeys": ["A-1"], "validateQuery": False},
        {},
    )
    with pytest.raises(AssertionError, match="validateQuery"):
        check_request(cloud_jira, bad)
    with pytest.raises(AssertionError, match="not in the cloud OpenAPI document"):
        check_request(cloud_jira, RecordedRequest("GET", "/rest/api/3/nothing", {}, None, {}))
