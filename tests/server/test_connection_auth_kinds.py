"""Every Jira credential kind end to end (issue 15), on SQLite and PostgreSQL: saved through the
admin API (secrets write-only, the connection test on save, a gateway cloudId discovered and
stored), used by the Validation API against the fake Jira, and rejections at runtime recorded
as the connection's health — the dashboard then flags it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.server.conftest import WS, Server

from jirahooks.rules.config import load_document
from jirahooks.server.document import apply_document, export_document

C = f"/workspaces/{WS}/connections"
PASSING = {
    "triggerType": "PUSH",
    "branchName": "main",
    "commits": [{"hash": "a" * 40, "message": "ABC-1 login"}],
}


def _push(key: str, n: int) -> dict[str, Any]:
    return {
        "triggerType": "PUSH",
        "branchName": "main",
        "commits": [{"hash": f"{n:040x}", "message": f"{key} change"}],
    }


def _api_token(jira: FakeJira) -> dict[str, Any]:
    return {"auth": "api_token", "email": jira.user.email, "token": jira.token}


def _scoped(jira: FakeJira) -> dict[str, Any]:
    jira.add_scoped_token("svc@serviceaccount.atlassian.com", "scoped-secret-1")
    return {
        "auth": "scoped_api_token",
        "email": "svc@serviceaccount.atlassian.com",
        "token": "scoped-secret-1",
        "gateway_url": jira.gateway_url,
    }


def _oauth(jira: FakeJira) -> dict[str, Any]:
    jira.add_oauth_client("cid-1", "client-secret-1")
    body: dict[str, Any] = {
        "auth": "oauth_client_credentials",
        "client_id": "cid-1",
        "client_secret": "client-secret-1",
    }
    if jira.deployment == "cloud":
        body |= {"token_url": jira.token_url, "gateway_url": jira.gateway_url}
    else:
        body["scopes"] = "READ"
    return body


def _pat(jira: FakeJira) -> dict[str, Any]:
    jira.creds.basic_auth = False  # PAT-only Data Center (Jira 11's default): Basic is refused
    return {"auth": "pat", "token": jira.token}


def _basic(jira: FakeJira) -> dict[str, Any]:
    return {"auth": "basic", "email": jira.user.name, "token": jira.token}


KINDS: dict[str, tuple[str, Callable[[FakeJira], dict[str, Any]], str]] = {
    # id: (deployment, body, the Authorization scheme Jira sees)
    "api_token": ("cloud", _api_token, "Basic"),
    "scoped_api_token": ("cloud", _scoped, "Basic"),
    "oauth_cloud": ("cloud", _oauth, "Bearer"),
    "oauth_datacenter": ("datacenter", _oauth, "Bearer"),
    "pat": ("datacenter", _pat, "Bearer"),
    "basic": ("datacenter", _basic, "Basic"),
}


@pytest.fixture
def jira_of() -> Iterator[Callable[[str], FakeJira]]:
    started: list[FakeJira] = []

    def make(deployment: str) -> FakeJira:
        fake = FakeJira(deployment, context_path="" if deployment == "cloud" else "/jira").start()
        fake.add_issue("ABC-1", status="In Progress")
        fake.add_issue("ABC-2")
        fake.add_issue("ABC-3")
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


def _wire(server: Server, jira: FakeJira, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    server.add_repository("api")
    connection = server.ok(
        "POST", C, json={"name": "jira", "url": jira.url, "deployment": jira.deployment, **body}
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
    return connection, server.validation_token("ci", "api")["secret"]


def _flush_health(server: Server) -> None:
    server.client.portal.call(server.state.resolvers.health.flush)  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_through_the_validation_api(
    server: Server, jira_of: Callable[[str], FakeJira], kind: str
) -> None:
    deployment, make_body, scheme = KINDS[kind]
    jira = jira_of(deployment)
    body = make_body(jira)
    connection, secret = _wire(server, jira, body)
    listed = server.call("GET", C)
    for value in (body.get("token"), body.get("client_secret")):
        if value:
            assert value not in listed.text  # write-only
    assert connection["auth"] == body["auth"]
    assert connection["client_secret_set"] is ("client_secret" in body)
    assert connection["last_test"]["ok"] is True, connection["last_test"]
    gateway = kind in ("scoped_api_token", "oauth_cloud")
    assert connection["cloud_id"] == (jira.cloud_id if gateway else "")
    if kind == "basic":
        assert "deprecated" in connection["auth_warning"]

    jira.reset_log()
    answer = server.validate(PASSING, secret).json()
    assert answer["result"] == "PASS", answer
    assert server.validate(_push("ABC-999", 2), secret).json()["result"] == "BLOCK"
    sent = [
        r for r in jira.requests if r.path.startswith("/rest/api/") and "serverInfo" not in r.path
    ]
    assert sent, "the evaluation asked Jira"
    assert {r.headers["authorization"].split()[0] for r in sent} == {scheme}
    assert {bool(r.gateway) for r in sent} == {gateway}
    assert jira.count("/_edge/tenant_info") == 0  # the stored cloudId is used

    _flush_health(server)
    stored = server.ok("GET", f"{C}/{connection['id']}")
    assert stored["last_test"]["last_success_at"] is not None


def test_oauth_tokens_are_fetched_once_and_refreshed_once_on_401(
    server: Server, jira_of: Callable[[str], FakeJira]
) -> None:
    jira = jira_of("cloud")
    _, secret = _wire(server, jira, _oauth(jira))
    fetched = jira.creds.token_requests  # the test on save fetched one
    assert server.validate(PASSING, secret).json()["result"] == "PASS"
    assert server.validate(_push("ABC-2", 3), secret).json()["result"] == "PASS"
    assert jira.creds.token_requests == fetched  # cached, not fetched per request
    jira.expire_access_tokens()
    assert server.validate(_push("ABC-3", 4), secret).json()["result"] == "PASS"
    assert jira.creds.token_requests == fetched + 1


def test_a_runtime_rejection_flags_the_connection(
    server: Server, jira_of: Callable[[str], FakeJira]
) -> None:
    jira = jira_of("cloud")
    connection, secret = _wire(server, jira, _oauth(jira))
    assert server.validate(PASSING, secret).json()["result"] == "PASS"
    jira.revoke_oauth_client("cid-1")
    answer = server.validate(_push("ABC-2", 5), secret).json()
    assert answer["result"] != "PASS" or answer.get("problems") is not None
    _flush_health(server)
    stored = server.ok("GET", f"{C}/{connection['id']}")["last_test"]
    assert stored["ok"] is False and stored["source"] == "runtime"
    assert stored["code"] == "OAUTH_CLIENT_REJECTED"
    assert "client-secret-1" not in str(stored)
    form = server.client.get("/ui/login").text
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert nonce is not None
    server.client.post(
        "/ui/login", data={"csrf_token": nonce.group(1), "token": server.admin_token}
    )
    page = server.client.get("/ui/")
    assert page.status_code == 200
    alerts = page.text.split('id="connection-alerts"', 1)[1].split("</section>", 1)[0]
    assert "OAUTH_CLIENT_REJECTED" in alerts and "Jira rejects its credentials" in alerts


@pytest.mark.parametrize(
    ("arrange", "code", "words"),
    [
        (
            lambda j: j.block_token(j.token),
            "TOKEN_REVOKED",
            "revoked or blocked by your organisation",
        ),
        (None, "JIRA_SCOPE_MISSING", "scope missing: read:jira-work"),
    ],
    ids=["blocked", "scope"],
)
def test_the_connection_test_names_the_reason(
    server: Server,
    jira_of: Callable[[str], FakeJira],
    arrange: Callable[[FakeJira], None] | None,
    code: str,
    words: str,
) -> None:
    jira = jira_of("cloud")
    if arrange is None:
        jira.add_scoped_token("svc@x.test", "scoped-2", scopes=("read:jira-user",))
        body = {
            "auth": "scoped_api_token",
            "email": "svc@x.test",
            "token": "scoped-2",
            "gateway_url": jira.gateway_url,
        }
    else:
        arrange(jira)
        body = _api_token(jira)
    response = server.call(
        "POST", C, json={"name": "jira", "url": jira.url, "deployment": "cloud", **body}
    )
    assert response.status_code == 422, response.text
    test = response.json()["test"]
    assert code in [p["code"] for p in test["problems"]]
    assert words in response.text


def test_missing_fields_for_a_kind_are_a_clear_error(server: Server) -> None:
    response = server.call(
        "POST",
        C,
        json={
            "name": "svc",
            "url": "https://acme.atlassian.net",
            "auth": "oauth_client_credentials",
            "client_id": "x",
        },
    )
    assert response.status_code == 422
    assert response.json()["code"] == "AUTH_FIELDS_MISSING"
    assert "client_secret" in response.json()["message"]
    bad = server.call(
        "POST",
        C,
        json={"name": "dc", "url": "https://jira.acme", "deployment": "cloud", "auth": "pat"},
    )
    assert bad.status_code == 422 and bad.json()["code"] == "AUTH_KIND_INVALID"


def test_changing_the_token_url_needs_the_client_secret_again(
    server: Server, jira_of: Callable[[str], FakeJira]
) -> None:
    jira = jira_of("cloud")
    connection, _ = _wire(server, jira, _oauth(jira))
    response = server.call(
        "PATCH", f"{C}/{connection['id']}", json={"token_url": "https://evil.example/token"}
    )
    assert response.status_code == 422 and response.json()["code"] == "TOKEN_REQUIRED"


def test_apply_and_export_carry_the_auth_kind(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVC_SECRET", "client-secret-9")
    document = load_document(
        {
            "workspace": WS,
            "connections": [
                {
                    "name": "svc",
                    "url": "https://acme.atlassian.net",
                    "deployment": "cloud",
                    "auth": "oauth_client_credentials",
                    "client_id": "cid-9",
                    "client_secret": "${SVC_SECRET}",
                    "scopes": "read:jira-work read:jira-user",
                }
            ],
        }
    )
    state = server.state

    async def apply_then_export() -> dict[str, Any]:
        async with state.database.session() as session:
            await apply_document(session, state.secrets, document)
            await session.commit()
        async with state.database.session() as session:
            return await export_document(session, WS)

    exported = server.client.portal.call(apply_then_export)  # type: ignore[union-attr]
    (connection,) = exported["connections"]
    assert connection["auth"] == "oauth_client_credentials"
    assert connection["client_id"] == "cid-9"
    assert connection["scopes"] == "read:jira-work read:jira-user"
    assert connection["client_secret"] == "${JIRAHOOKS_CONNECTION_SVC_CLIENT_SECRET}"
    assert "client-secret-9" not in str(exported)
    listed = server.ok("GET", C)
    assert (
        listed[0]["client_secret_set"] is True and listed[0]["auth"] == "oauth_client_credentials"
    )


def test_a_token_revoked_after_the_test_flags_the_connection_at_runtime(
    server: Server, jira_of: Callable[[str], FakeJira]
) -> None:
    """The bug named in issue 15: a token that stops working between two tests left the
    connection "passed" (the last test) although every evaluation failed on it."""
    import time

    jira = jira_of("cloud")
    connection, secret = _wire(server, jira, {"email": jira.user.email, "token": jira.token})
    assert connection["last_test"]["ok"] is True
    jira.revoke_token(jira.token)
    server.validate(_push("ABC-2", 6), secret)
    deadline = time.monotonic() + 10
    while True:
        last = server.ok("GET", f"{C}/{connection['id']}")["last_test"]
        if not last["ok"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert last["ok"] is False and last["code"] == "JIRA_AUTH_REJECTED"
