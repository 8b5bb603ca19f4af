"""The trust boundary (issue 10, section 2): text that cannot be stored or rendered — lone
surrogates, NUL, control characters, excessive nesting, oversize values — is rejected where it
enters, with the documented error shape, and nothing of a failed request is stored. A rule row
that is bad anyway (stored by an older version) affects only itself.

Every test runs on SQLite and PostgreSQL (``database_url``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import func, select, text
from tests.server.conftest import WS, Server

from jirahooks.server.settings import DEFAULT_MAX_BODY_BYTES
from jirahooks.store.database import Database
from jirahooks.store.models import AuditEntry, Connection, RuleRow

NO_KEY = {"hash": "a" * 40, "message": "fix the login page", "authorDisplayName": "Ada"}
WITH_KEY = {"hash": "b" * 40, "message": "ABC-1 fix the login page", "authorDisplayName": "Ada"}
JSON = {"Content-Type": "application/json"}


def push(*commits: dict[str, str], branch: str = "feature/x") -> dict[str, Any]:
    return {"triggerType": "PUSH", "branchName": branch, "commits": list(commits)}


def raw(payload: Any) -> bytes:
    """JSON as the hook clients send it: non-ASCII (and lone surrogates) as \\uXXXX escapes."""
    return json.dumps(payload, separators=(",", ":")).encode("ascii")


def assert_validation_error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert set(body) == {"error", "errorCode"}, body
    assert body["errorCode"] == code
    assert "[" not in body["error"] and "Traceback" not in response.text
    return str(body["error"])


def assert_admin_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    body: dict[str, Any] = response.json()
    assert {"code", "message", "hint"} <= set(body), body
    assert "Traceback" not in response.text
    return body


def count(server: Server, model: Any) -> int:
    async def read() -> int:
        database = Database(server.settings.database_url)
        try:
            async with database.session() as session:
                return int(
                    (await session.execute(select(func.count()).select_from(model))).scalar_one()
                )
        finally:
            await database.dispose()

    return asyncio.run(read())


@pytest.fixture
def ready(roles: Server) -> tuple[Server, str]:
    """Repositories ``api`` and ``web``, users in every role, the commit-key rule, a token."""
    roles.add_rule("commit-key-required")
    return roles, roles.validation_token("ci", "api")["secret"]


# -- rules with text that cannot be stored: rejected, nothing stored, the workspace keeps working


BAD_TITLES = ["bad \ud800 title", "bad \udfff", "nul \x00 title", "bell \x07 title"]


@pytest.mark.parametrize(
    ("who", "scope"),
    [("admin", f"/workspaces/{WS}"), ("repo_admin", f"/workspaces/{WS}/repositories/api")],
)
def test_rule_with_bad_text_is_rejected_and_nothing_is_stored(
    ready: tuple[Server, str], who: str, scope: str
) -> None:
    server, secret = ready
    existing = "commit-key-required"
    if "repositories" in scope:
        server.ok("POST", f"{scope}/rules/from-template", token=who, json={"template": existing})
    for title in BAD_TITLES:
        rejected_everywhere(server, secret, who, scope, title)


def rejected_everywhere(server: Server, secret: str, who: str, scope: str, title: str) -> None:
    rules_before, audit_before = count(server, RuleRow), count(server, AuditEntry)
    rule = {"id": "bad-rule", "title": title, "checks": {"key_present": True}}
    created = server.call("POST", f"{scope}/rules", token=who, content=raw(rule), headers=JSON)
    body = assert_admin_error(created, 422)
    assert "title" in body["message"]
    # from a template, and replacing an existing rule: the same
    via_template = {"template": "commit-key-required", "overrides": {"id": "t", "title": title}}
    answer = server.call(
        "POST", f"{scope}/rules/from-template", token=who, content=raw(via_template), headers=JSON
    )
    assert_admin_error(answer, 422)
    existing = "commit-key-required"
    replaced = server.call(
        "PUT",
        f"{scope}/rules/{existing}",
        token=who,
        content=raw({"title": title, "checks": {"key_present": True}}),
        headers=JSON,
    )
    assert_admin_error(replaced, 422)
    assert count(server, RuleRow) == rules_before
    assert count(server, AuditEntry) == audit_before
    assert server.ok("GET", f"{scope}/rules/{existing}")["rule"]["title"] != title
    assert server.call("GET", f"{scope}/rules/bad-rule").status_code == 404
    assert server.call("GET", f"{scope}/rules").status_code == 200
    # the Validation API keeps answering
    assert server.validate(push(NO_KEY), secret).json()["result"] == "BLOCK"
    assert server.validate(push(WITH_KEY), secret).json()["result"] == "PASS"


def test_bad_key_and_bad_text_deep_in_a_rule_are_rejected(ready: tuple[Server, str]) -> None:
    server, _ = ready
    for rule in (
        {"id": "k", "title": "t", "checks": {"key_present": True}, "\ud800": 1},
        {"id": "k", "title": "t", "checks": {"naming": "^a\x00"}},
        {"id": "k", "title": "t", "conditions": {"branches": {"include": ["x\ud83d"]}}},
    ):
        answer = server.call("POST", f"/workspaces/{WS}/rules", content=raw(rule), headers=JSON)
        assert_admin_error(answer, 422)
    assert server.call("GET", f"/workspaces/{WS}/rules/k").status_code == 404


def test_admin_bodies_are_checked_at_the_boundary(ready: tuple[Server, str]) -> None:
    server, _ = ready
    connections = f"/workspaces/{WS}/connections"
    for name in ("a\x00b", "a\ud800b", "line\nbreak"):
        body = raw({"name": name, "url": "https://a.example"})
        assert_admin_error(server.call("POST", connections, content=body, headers=JSON), 422)
    too_long = raw({"name": "a", "url": "https://a.example", "token": "t" * 20_000})
    assert_admin_error(server.call("POST", connections, content=too_long, headers=JSON), 422)
    deep = b'{"name": "a", "url": "https://a.example", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    answer = assert_admin_error(server.call("POST", connections, content=deep, headers=JSON), 422)
    assert "deeper" in answer["message"]
    assert count(server, Connection) == 0
    # settings, users, repositories: the same shape for the same problem
    for method, path, payload in (
        ("PUT", f"/workspaces/{WS}/settings", {"key_pattern": "[A-Z]+-\\d+\x00"}),
        ("POST", f"/workspaces/{WS}/users", {"name": "eve\ud800"}),
        ("POST", f"/workspaces/{WS}/repositories", {"slug": "x\x00"}),
    ):
        response = server.call(method, path, content=raw(payload), headers=JSON)
        assert_admin_error(response, 422)


def test_invalid_json_bodies_are_422_not_500(ready: tuple[Server, str]) -> None:
    server, _ = ready
    path = f"/workspaces/{WS}/rules"
    for body in (b'{"title": "x', b'{"title": "\\ud800', b"\xff\xfe{}", b'{"\\ud800": }'):
        response = server.call("POST", path, content=body, headers=JSON)
        assert response.status_code in (400, 422), (body, response.text)
        assert {"code", "message", "hint"} <= set(response.json())


def test_admin_body_size_limit(ready: tuple[Server, str]) -> None:
    server, _ = ready
    limit = DEFAULT_MAX_BODY_BYTES  # JIRAHOOKS_ADMIN_MAX_BODY_BYTES unset
    rule = {"id": "big", "title": "Big", "description": "x" * (limit + 1)}
    response = server.call("POST", f"/workspaces/{WS}/rules", content=raw(rule), headers=JSON)
    body = assert_admin_error(response, 413)
    assert body["code"] == "PAYLOAD_TOO_LARGE"
    chunks = (b"x" * 65536 for _ in range(limit // 65536 + 2))  # no Content-Length: streamed
    streamed = server.call("POST", f"/workspaces/{WS}/rules", content=chunks, headers=JSON)
    assert_admin_error(streamed, 413)
    assert server.call("GET", f"/workspaces/{WS}/rules/big").status_code == 404


def test_urls_with_nul_or_controls_are_400(ready: tuple[Server, str]) -> None:
    server, _ = ready
    for path in (f"/workspaces/{WS}%00", f"/workspaces/{WS}/rules/a%00b", "/workspaces/a%01"):
        assert_admin_error(server.call("GET", path), 400)
    assert_admin_error(server.call("GET", f"/workspaces/{WS}/evaluations?repository=a%00"), 400)
    answer = server.client.post(
        f"/api/validate/{WS}?repoSlug=api%00", content=raw(push(NO_KEY)), headers=JSON
    )
    assert_validation_error(answer, 400, "PAYLOAD_VALIDATION_ERROR")


# -- the Validation API


BAD_PAYLOADS = [
    (push(NO_KEY, branch="feature/\ud800"), "branchName"),
    (push(NO_KEY, branch="feature/\x00x"), "branchName"),
    (push(NO_KEY, branch="feature/\nx"), "branchName"),
    (push(dict(NO_KEY, message="fix \udc00 it")), "commits.0.message"),
    (push(dict(NO_KEY, message="fix \x00 it")), "commits.0.message"),
    (push(dict(NO_KEY, authorDisplayName="Ada\ud800")), "commits.0.authorDisplayName"),
    (push(dict(NO_KEY, hash="a\x00")), "commits.0.hash"),
    (push(dict(NO_KEY, hash="a" * 500)), "commits.0.hash"),
    (dict(push(NO_KEY), locale="de\ud800"), "locale"),
    (dict(push(NO_KEY), triggerType="PUSH\ud800"), "triggerType"),
    (dict(push(NO_KEY), repoSlug="api\x00"), "repoSlug"),
]


def test_validation_api_rejects_bad_text(ready: tuple[Server, str]) -> None:
    server, secret = ready
    evaluations_before = server.ok("GET", f"/workspaces/{WS}/evaluations")["items"]
    for payload, field in BAD_PAYLOADS:
        response = server.validate(None, secret, raw=raw(payload))
        message = assert_validation_error(response, 400, "PAYLOAD_VALIDATION_ERROR")
        assert message.startswith(field), (field, message)
    assert server.ok("GET", f"/workspaces/{WS}/evaluations")["items"] == evaluations_before
    assert server.validate(push(WITH_KEY), secret).json()["result"] == "PASS"


def test_validation_api_allows_what_git_allows(ready: tuple[Server, str]) -> None:
    """Tabs, line breaks and other control characters in commit messages, non-ASCII anywhere."""
    server, secret = ready
    message = "ABC-1 Fix\n\n\tdetails \x1b[1mbold\x1b[0m, ünïcødé 😀 \u2028"
    commit = dict(WITH_KEY, message=message, authorDisplayName="Zoë 😀")
    response = server.validate(push(commit, branch="feature/ünï😀"), secret)
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "PASS"


DEEP_BODIES = [
    b"[" * 100_000,
    b'{"triggerType": "PUSH", "commits": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"a": ' + b'{"a": ' * 40 + b"1" + b"}" * 41,
    b"[" * 50_000 + b"}",  # unbalanced as well as deep
]


def test_validation_api_rejects_deep_nesting(ready: tuple[Server, str]) -> None:
    server, secret = ready
    for body in DEEP_BODIES:
        response = server.validate(None, secret, raw=body)
        assert_validation_error(response, 400, "PAYLOAD_VALIDATION_ERROR")


def test_validation_api_invalid_utf8_is_a_parse_error(ready: tuple[Server, str]) -> None:
    server, secret = ready
    body = b'{"triggerType": "PUSH", "branchName": "\xed\xa0\x80"}'  # a surrogate as raw bytes
    assert_validation_error(server.validate(None, secret, raw=body), 400, "JSON_PARSE_ERROR")


# -- a bad row stored by an older version affects only itself


def store_rule(server: Server, rule_id: str, definition_json: str) -> None:
    """Write a rules row directly, as an older version (or a hand edit) could have."""

    async def write() -> None:
        database = Database(server.settings.database_url)
        try:
            async with database.engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO rules (workspace_id, repository_id, rule_id, position,"
                        " definition, created_at, updated_at)"
                        " VALUES (1, NULL, :rule_id, 99, :definition, :now, :now)"
                    ),
                    {"rule_id": rule_id, "definition": definition_json, "now": "2026-01-01"},
                )
        finally:
            await database.dispose()

    asyncio.run(write())


BAD_ROWS = [
    # a lone surrogate, escaped in the JSON text (PostgreSQL's json type holds it too)
    (
        "surrogate",
        '{"id": "surrogate", "title": "bad \\ud800 title", "checks": {"key_present": true}}',
    ),
    # a definition an older version accepted and this one no longer reads
    ("unknown-check", '{"id": "unknown-check", "title": "Old rule", "checks": {"retired": true}}'),
    ("not-a-rule", '["not", "a", "mapping"]'),
    ("warn-only", '{"id": "warn-only", "title": "W", "severity": "WARNING", "checks": 3}'),
]


@pytest.mark.parametrize(("rule_id", "definition"), BAD_ROWS, ids=[r[0] for r in BAD_ROWS])
def test_a_bad_stored_rule_affects_only_itself(
    ready: tuple[Server, str], rule_id: str, definition: str
) -> None:
    server, secret = ready
    store_rule(server, rule_id, definition)
    response = server.validate(push(WITH_KEY), secret)
    assert response.status_code == 200, response.text
    document = response.json()
    by_id = {rv["rule"]["id"]: rv for rv in document["ruleValidations"]}
    assert by_id["commit-key-required"]["ruleStatus"] == "PASS"  # the good rule is judged
    broken = by_id[rule_id]
    [fact] = broken["checkFacts"]
    assert rule_id in fact["message"] and "cannot be read" in fact["message"]
    assert fact["contexts"][0] in {"COMMITS", "BRANCH_SOURCE"}  # shown by the hook clients
    if rule_id == "warn-only":
        assert broken["ruleStatus"] == "WARNING" and fact["status"] == "WARNING"
        assert document["result"] == "WARNING"
    else:  # fail closed: a broken blocking rule blocks, saying why
        assert broken["ruleStatus"] == "BLOCK" and fact["status"] == "ERROR"
        assert document["result"] == "BLOCK"
    german = server.validate(dict(push(WITH_KEY), locale="de-DE"), secret).json()
    [de_fact] = {rv["rule"]["id"]: rv for rv in german["ruleValidations"]}[rule_id]["checkFacts"]
    assert "nicht lesbar" in de_fact["message"]
    # the rules API lists it with its error; the other rules as usual
    listed = {r["id"]: r for r in server.ok("GET", f"/workspaces/{WS}/rules")}
    assert listed[rule_id]["error"] and listed["commit-key-required"]["error"] is None
    assert server.ok("GET", f"/workspaces/{WS}/rules/{rule_id}")["error"]
    effective = server.ok("GET", f"/workspaces/{WS}/repositories/api/effective-rules")
    assert {r["id"] for r in effective} == {"commit-key-required", rule_id}
    # it can be fixed in place, or deleted
    fixed = {"title": "Fixed", "checks": {"key_present": True}}
    assert server.ok("PUT", f"/workspaces/{WS}/rules/{rule_id}", json=fixed)["error"] is None
    assert server.validate(push(WITH_KEY), secret).json()["result"] == "PASS"
    server.ok("DELETE", f"/workspaces/{WS}/rules/{rule_id}")
    assert server.ok("GET", f"/workspaces/{WS}/audit")["items"]  # the audit log still renders


def test_a_disabled_bad_rule_is_listed_but_not_judged(ready: tuple[Server, str]) -> None:
    server, secret = ready
    store_rule(server, "off", '{"id": "off", "title": "Off", "enabled": false, "checks": 1}')
    document = server.validate(push(WITH_KEY), secret).json()
    assert document["result"] == "PASS"
    assert [rv["rule"]["id"] for rv in document["ruleValidations"]] == ["commit-key-required"]
    assert {r["id"] for r in server.ok("GET", f"/workspaces/{WS}/rules")} >= {"off"}
