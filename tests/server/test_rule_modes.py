"""Rule modes (enforce, warn, evaluate) and exemptions through the Validation API (ADR 0011):
what the published hook client shows and exits with, and what the stored evaluation records
(the keys docs/rules.md defines for the audit export). SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from tests.server.conftest import WS, Server
from tests.server.test_hook_client_contract import client_view

NO_KEY = {"hash": "a" * 40, "message": "fix the login page", "authorDisplayName": "Ada"}
WITH_KEY = {"hash": "b" * 40, "message": "ABC-1 fix the login page", "authorDisplayName": "Ada"}


def push(*commits: dict[str, str], branch: str = "feature/x") -> dict[str, Any]:
    return {"triggerType": "PUSH", "branchName": branch, "commits": list(commits)}


def add_rule(server: Server, rule_id: str, mode: str | None = None, **extra: Any) -> None:
    overrides: dict[str, Any] = {"id": rule_id, "title": f"Rule {rule_id}", **extra}
    if mode is not None:
        overrides["mode"] = mode
    server.ok(
        "POST",
        f"/workspaces/{WS}/rules/from-template",
        json={"template": "commit-key-required", "overrides": overrides},
    )


@pytest.fixture
def api(server: Server) -> tuple[Server, str]:
    server.add_repository("api")
    return server, server.validation_token("ci", "api")["secret"]


def answer(server: Server, secret: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = server.validate(payload, secret)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stored(server: Server) -> dict[str, Any]:
    """The newest stored evaluation: its list entry (rule summaries) and its document."""
    newest = server.ok("GET", f"/workspaces/{WS}/evaluations")["items"][0]
    detail = server.ok("GET", f"/workspaces/{WS}/evaluations/{newest['id']}")
    return {"rules": newest["rules"], "document": detail["document"]}


def test_evaluate_mode_is_not_shown_and_recorded_as_would_have_blocked(
    api: tuple[Server, str],
) -> None:
    server, secret = api
    add_rule(server, "trial", "evaluate")
    body = answer(server, secret, push(NO_KEY))
    assert body["result"] == "PASS"
    assert body["ruleValidations"] == []  # the pusher is not shown the rule at all
    assert body["errorValidations"] == []
    view = client_view(200, body)
    assert view.exit_code == 0 and view.sections == {} and view.validation_errors is None

    record = stored(server)
    (entry,) = record["document"]["ruleValidations"]
    assert entry["mode"] == "evaluate" and entry["rule"]["mode"] == "evaluate"
    assert entry["ruleStatus"] == "PASS"
    assert entry["enforcedStatus"] == "BLOCK" and entry["wouldHaveBlocked"] is True
    assert any(f["status"] == "ERROR" for f in entry["checkFacts"])  # what would have failed
    assert record["rules"] == [
        {
            "id": "trial",
            "title": "Rule trial",
            "scope": "WORKSPACE",
            "status": "PASS",
            "mode": "evaluate",
            "enforcedStatus": "BLOCK",
            "wouldHaveBlocked": True,
        }
    ]
    # a commit that passes is no "would have blocked"
    answer(server, secret, push(WITH_KEY))
    (passing,) = stored(server)["document"]["ruleValidations"]
    assert passing["mode"] == "evaluate" and "wouldHaveBlocked" not in passing


def test_warn_mode_is_shown_and_never_blocks(api: tuple[Server, str]) -> None:
    server, secret = api
    add_rule(server, "soft", "warn")
    body = answer(server, secret, push(NO_KEY))
    assert body["result"] == "WARNING"
    (entry,) = body["ruleValidations"]
    assert entry["ruleStatus"] == "WARNING" and entry["rule"]["severity"] == "WARNING"
    assert {f["status"] for f in entry["checkFacts"]} >= {"WARNING"}
    assert not any(f["status"] == "ERROR" for f in entry["checkFacts"])
    view = client_view(200, body)
    assert view.exit_code == 0
    assert "Commit does not contain any issue keys." in view.text  # shown to the pusher
    document = stored(server)["document"]
    assert document["ruleValidations"][0]["wouldHaveBlocked"] is True
    assert document["ruleValidations"][0]["enforcedStatus"] == "BLOCK"


def test_enforce_is_today_and_severity_warning_reads_as_warn(api: tuple[Server, str]) -> None:
    server, secret = api
    add_rule(server, "hard")
    body = answer(server, secret, push(NO_KEY))
    assert body["result"] == "BLOCK" and body["ruleValidations"][0]["mode"] == "enforce"
    assert client_view(200, body).exit_code == 1
    assert "wouldHaveBlocked" not in stored(server)["document"]["ruleValidations"][0]
    server.ok("DELETE", f"/workspaces/{WS}/rules/hard")
    add_rule(server, "old-style", severity="WARNING")  # the reference product's field
    body = answer(server, secret, push(NO_KEY))
    assert body["result"] == "WARNING" and body["ruleValidations"][0]["mode"] == "warn"
    # it only ever warned: nothing "would have blocked"
    assert "wouldHaveBlocked" not in stored(server)["document"]["ruleValidations"][0]


def test_workspace_default_mode_and_repository_override(api: tuple[Server, str]) -> None:
    server, secret = api
    add_rule(server, "key")
    server.ok("PUT", f"/workspaces/{WS}/settings", json={"default_mode": "evaluate"})
    body = answer(server, secret, push(NO_KEY))
    assert body["result"] == "PASS" and body["ruleValidations"] == []
    server.ok(
        "PUT", f"/workspaces/{WS}/repositories/api/settings", json={"default_mode": "enforce"}
    )
    assert answer(server, secret, push(NO_KEY))["result"] == "BLOCK"
    # a rule's own mode wins over the default
    server.ok(
        "PUT",
        f"/workspaces/{WS}/rules/key",
        json={**stored_definition(server, "key"), "mode": "warn"},
    )
    assert answer(server, secret, push(NO_KEY))["result"] == "WARNING"


def stored_definition(server: Server, rule_id: str) -> dict[str, Any]:
    definition: dict[str, Any] = server.ok("GET", f"/workspaces/{WS}/rules/{rule_id}")["definition"]
    return definition


def test_a_bad_mode_is_refused_with_its_path(api: tuple[Server, str]) -> None:
    server, _ = api
    response = server.call(
        "POST",
        f"/workspaces/{WS}/rules",
        json={"id": "x", "title": "X", "mode": "sometimes", "checks": {"key_present": True}},
    )
    assert response.status_code == 422
    assert "mode" in response.text and "enforce" in response.text
    response = server.call("PUT", f"/workspaces/{WS}/settings", json={"default_mode": "off"})
    assert response.status_code == 422 and "default_mode" in response.text


def test_exemptions_through_the_validation_api(api: tuple[Server, str]) -> None:
    server, secret = api
    add_rule(server, "key")
    settings = {
        "exemptions": {
            "bots": True,
            "release_commits": True,
            "escape": {"allowed": True, "branches": {"include": ["hotfix/*"]}},
        }
    }
    server.ok("PUT", f"/workspaces/{WS}/settings", json=settings)
    bot = {"hash": "c" * 40, "message": "Bump lodash", "authorDisplayName": "dependabot[bot]"}
    release = {"hash": "d" * 40, "message": "chore(release): 1.2.0", "authorDisplayName": "CI"}
    body = answer(server, secret, push(bot, release))
    assert body["result"] == "SKIP"
    view = client_view(200, body)
    assert view.exit_code == 0
    # the published client shows "exempt: why" under the commit
    assert "cccccccc" in view.sections["Commits"][1]
    assert "exempt: written by the bot 'dependabot[bot]'." in view.text
    facts = [f["message"] for rv in body["ruleValidations"] for f in rv["checkFacts"]]
    assert "Commit cccccccccccc exempt: written by the bot 'dependabot[bot]'." in facts
    assert "Commit dddddddddddd exempt: a release commit (semantic-release)." in facts
    kinds = [e["kind"] for e in stored(server)["document"]["exemptions"]]
    assert kinds == ["bot", "release"]

    escaped = {
        "hash": "e" * 40,
        "message": "fix typo [no-jira: README only]",
        "authorDisplayName": "Ada",
    }
    body = answer(server, secret, push(escaped, branch="hotfix/readme"))
    assert body["result"] == "SKIP"
    (record,) = stored(server)["document"]["exemptions"]
    assert record == {
        "commit": "e" * 40,
        "kind": "escape",
        "author": "Ada",
        "reason": "README only",
    }
    # the same token on a branch where it is not allowed: judged as usual, and said why
    body = answer(server, secret, push(escaped, branch="feature/readme"))
    assert body["result"] == "BLOCK"
    messages = [f["message"] for rv in body["ruleValidations"] for f in rv["checkFacts"]]
    assert any("is not allowed on branch 'feature/readme'" in m for m in messages)
    assert "exemptions" not in stored(server)["document"]
    # a token without a reason is refused
    bare = {**escaped, "message": "fix typo [no-jira]"}
    assert answer(server, secret, push(bare, branch="hotfix/readme"))["result"] == "BLOCK"
    # forbidden entirely
    server.ok(
        "PUT", f"/workspaces/{WS}/settings", json={"exemptions": {"escape": {"allowed": False}}}
    )
    body = answer(server, secret, push(escaped, branch="hotfix/readme"))
    assert body["result"] == "BLOCK"
    messages = [f["message"] for rv in body["ruleValidations"] for f in rv["checkFacts"]]
    assert any("is not allowed in this repository" in m for m in messages)


def test_escape_limited_to_users_is_refused_when_the_pusher_is_unknown(
    api: tuple[Server, str],
) -> None:
    """The Validation API's tokens are not tied to a user: an escape limited to users or groups
    cannot be granted there (fail closed), and the fact says why."""
    server, secret = api
    add_rule(server, "key")
    settings = {"exemptions": {"escape": {"allowed": True, "users": {"include": ["alice"]}}}}
    server.ok("PUT", f"/workspaces/{WS}/settings", json=settings)
    escaped = {"hash": "e" * 40, "message": "x [no-jira: hotfix]", "authorDisplayName": "alice"}
    body = answer(server, secret, push(escaped))
    assert body["result"] == "BLOCK"
    messages = [f["message"] for rv in body["ruleValidations"] for f in rv["checkFacts"]]
    assert any("who pushed is not known here" in m for m in messages)
