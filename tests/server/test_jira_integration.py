"""The server with a real (fake) Jira over HTTP: "Test connection" via /myself, JQL validated
when a rule is saved, keys resolved through the enabled connections with a warm cache, and a
repository switching a connection off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.server.conftest import WS, Server

VALID = {
    "triggerType": "PUSH",
    "branchName": "main",
    "commits": [{"hash": "a" * 40, "message": "ABC-1 login"}],
}
UNKNOWN = {
    "triggerType": "PUSH",
    "branchName": "main",
    "commits": [{"hash": "b" * 40, "message": "ABC-999 login"}],
}


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira("cloud") as fake:
        fake.add_issue("ABC-1", status="In Progress")
        yield fake


@pytest.fixture
def wired(server: Server, jira: FakeJira) -> tuple[Server, dict[str, Any], str]:
    server.add_repository("api")
    connection = server.ok(
        "POST",
        f"/workspaces/{WS}/connections",
        json={
            "name": "jira",
            "url": jira.url,
            "deployment": "cloud",
            "email": jira.user.email,
            "token": jira.token,
        },
    )
    server.ok(
        "POST",
        f"/workspaces/{WS}/rules",
        json={
            "id": "valid-keys",
            "title": "Keys must exist",
            "targets": ["COMMIT"],
            "checks": {"key_present": True, "keys_valid": "ALL"},
        },
    )
    return server, connection, server.validation_token("ci", "api")["secret"]


def test_connection_test_uses_myself(
    wired: tuple[Server, dict[str, Any], str], jira: FakeJira
) -> None:
    server, connection, _ = wired
    result = server.ok("POST", f"/workspaces/{WS}/connections/{connection['id']}/test")
    assert result["ok"] is True and result["deployment"] == "cloud"
    assert result["account"]["account_id"] == jira.user.account_id
    assert jira.count("/rest/api/3/myself") == 2  # once when it was saved, once now
    path = f"/workspaces/{WS}/connections/{connection['id']}"
    server.ok("PATCH", path, json={"token": "wrong", "save_anyway": True})
    failed = server.ok("POST", f"/workspaces/{WS}/connections/{connection['id']}/test")
    assert failed["ok"] is False and failed["code"] == "JIRA_AUTH_REJECTED"


def test_keys_resolve_with_a_warm_cache(
    wired: tuple[Server, dict[str, Any], str], jira: FakeJira
) -> None:
    server, _, secret = wired
    assert server.validate(VALID, secret).json()["result"] == "PASS"
    calls = jira.count()
    assert server.validate(VALID, secret).json()["result"] == "PASS"
    assert jira.count() == calls  # answered from the server's Jira cache
    blocked = server.validate(UNKNOWN, secret).json()
    assert blocked["result"] == "BLOCK"
    detail = server.ok("GET", f"/workspaces/{WS}/evaluations", params={"result": "PASS"})["items"][
        0
    ]
    stored = server.ok("GET", f"/workspaces/{WS}/evaluations/{detail['id']}")
    assert stored["issues"]["ABC-1"]["status"] == "In Progress"


def test_repository_can_switch_a_connection_off(
    wired: tuple[Server, dict[str, Any], str], jira: FakeJira
) -> None:
    server, connection, secret = wired
    server.ok(
        "PUT",
        f"/workspaces/{WS}/repositories/api/connections/{connection['id']}",
        json={"enabled": False},
    )
    before = jira.count()
    assert server.validate(UNKNOWN, secret).status_code == 200
    assert jira.count() == before  # no enabled connection: Jira is not asked
    listed = server.ok("GET", f"/workspaces/{WS}/repositories/api/connections")
    assert listed == [
        {
            "connection": {
                **{k: connection[k] for k in ("id", "name", "url", "deployment", "position")},
                "last_test_ok": True,  # tested when it was saved
                "token_state": "unknown",
            },
            "enabled": False,
        }
    ]


def test_jql_is_validated_on_save(wired: tuple[Server, dict[str, Any], str]) -> None:
    server, _, _ = wired
    good = {
        "id": "in-progress",
        "title": "In progress",
        "checks": {"jql": 'status = "In Progress"'},
    }
    saved = server.ok("POST", f"/workspaces/{WS}/rules", json=good)
    assert saved["warnings"] == []
    bad = {"id": "broken", "title": "Broken", "checks": {"jql": "status = = ("}}
    response = server.call("POST", f"/workspaces/{WS}/rules", json=bad)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "CONFIG_INVALID" and body["problems"][0]["path"] == "rule.checks.jql"


def test_rule_schema_errors_carry_paths(server: Server) -> None:
    response = server.call(
        "POST",
        f"/workspaces/{WS}/rules",
        json={"id": "x", "title": "X", "checks": {"naming": "(("}},
    )
    assert response.status_code == 422
    body = response.json()
    assert set(body) >= {"code", "message", "hint", "problems"}
    assert body["problems"][0]["path"] == "rule.checks.naming"
    response = server.call(
        "POST", f"/workspaces/{WS}/rules/from-template", json={"template": "nope"}
    )
    assert response.status_code == 404


def _redis_reachable() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.redis
def test_two_server_processes_share_the_jira_cache_through_redis(
    tmp_path: Any, database_url: str, jira: FakeJira
) -> None:
    if not _redis_reachable():
        pytest.skip("Redis is not running on 127.0.0.1:6379 (scripts/services.sh starts it)")
    import dataclasses

    from fastapi.testclient import TestClient
    from tests.server.conftest import make_settings

    from jirahooks.jira.cache import RedisBackend
    from jirahooks.server.app import create_app

    settings = make_settings(tmp_path, database_url, redis_url="redis://127.0.0.1:6379/0")
    first_app = create_app(settings)
    with TestClient(first_app) as client:
        admin = first_app.state.jirahooks.first_start.token
        assert isinstance(first_app.state.jirahooks.resolvers.cache.backend, RedisBackend)
        one = Server(client, settings, admin)
        one.add_repository("api")
        one.ok(
            "POST",
            f"/workspaces/{WS}/connections",
            json={"name": "jira", "url": jira.url, "email": jira.user.email, "token": jira.token},
        )
        one.ok(
            "POST",
            f"/workspaces/{WS}/rules",
            json={"id": "v", "title": "Keys exist", "checks": {"keys_valid": "ALL"}},
        )
        secret = one.validation_token("ci", "api")["secret"]
        assert one.validate(VALID, secret).json()["result"] == "PASS"
    asked = jira.count()
    assert asked > 0

    # a second process: same database and key, its own memory, the same Redis
    second_app = create_app(dataclasses.replace(settings))
    with TestClient(second_app) as client:
        two = Server(client, settings, admin)
        assert two.validate(VALID, secret).json()["result"] == "PASS"
    assert jira.count() == asked  # answered from Redis, not from Jira
