"""The PR worker resolves keys with each Cloud service-account credential (issue 15): a scoped
API token through the api.atlassian.com gateway, and OAuth 2.0 client credentials with a cached
access token — over real HTTP (uvicorn, the worker running, fake Bitbucket and fake Jira), on
SQLite and PostgreSQL. A credential revoked between two PRs flags the connection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.fake_bitbucket import FakeBitbucket
from tests.fakes.fake_jira import FakeJira
from tests.platforms.harness import (
    FAST_OPTIONS,
    WS,
    Guardian,
    LiveServer,
    configure,
    settings_for,
    wait_until,
)


def _scoped(jira: FakeJira) -> dict[str, Any]:
    jira.add_scoped_token("svc@serviceaccount.atlassian.com", "pr-scoped-token")
    return {
        "auth": "scoped_api_token",
        "email": "svc@serviceaccount.atlassian.com",
        "token": "pr-scoped-token",
        "gateway_url": jira.gateway_url,
    }


def _oauth(jira: FakeJira) -> dict[str, Any]:
    jira.add_oauth_client("pr-client", "pr-client-secret")
    return {
        "auth": "oauth_client_credentials",
        "email": "",
        "client_id": "pr-client",
        "client_secret": "pr-client-secret",
        "token_url": jira.token_url,
        "gateway_url": jira.gateway_url,
    }


@pytest.fixture
def fakes() -> Iterator[tuple[FakeBitbucket, FakeJira]]:
    with FakeBitbucket() as bitbucket, FakeJira("cloud") as jira:
        yield bitbucket, jira


@pytest.fixture
def guardian(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira]
) -> Iterator[Guardian]:
    server = LiveServer(settings_for(tmp_path, database_url), FAST_OPTIONS).start()
    try:
        made = configure(server, *fakes, admin_token=server.state.first_start.token)
        yield made
        made.http.close()
    finally:
        server.stop()


@pytest.mark.parametrize("make", [_scoped, _oauth], ids=["scoped_api_token", "oauth"])
def test_the_pr_worker_uses_the_credential(guardian: Guardian, make: Any) -> None:
    g = guardian
    [connection] = g.api("GET", f"/workspaces/{WS}/connections")
    changed = g.api("PATCH", f"/workspaces/{WS}/connections/{connection['id']}", json=make(g.jira))
    assert changed["last_test"]["ok"] is True and changed["cloud_id"] == g.jira.cloud_id
    g.jira.reset_log()
    pr = g.bitbucket.add_pr(
        g.repo, "ABC-1 Login form", source="feature/ABC-1-login", commits=["ABC-1 login form"]
    )
    assert g.deliver(pr).status_code == 202
    status = g.final_status(pr.head)
    assert status["state"] == "SUCCESSFUL", status
    asked = [r for r in g.jira.requests if r.path.startswith("/rest/api/3/")]
    assert asked and all(r.gateway == g.jira.cloud_id for r in asked)
    if changed["auth"] == "oauth_client_credentials":
        assert all(r.headers["authorization"].startswith("Bearer ") for r in asked)
        assert g.jira.creds.token_requests == 1  # the token of the test on save, reused


def test_a_credential_revoked_between_prs_flags_the_connection(guardian: Guardian) -> None:
    g = guardian
    [connection] = g.api("GET", f"/workspaces/{WS}/connections")
    g.api("PATCH", f"/workspaces/{WS}/connections/{connection['id']}", json=_oauth(g.jira))
    g.jira.revoke_oauth_client("pr-client")
    from jirahooks.jira import auth

    auth.token_cache().forget_all()  # the live server's cached token: as if it expired
    pr = g.bitbucket.add_pr(
        g.repo, "ABC-2 Logout", source="feature/ABC-2-logout", commits=["ABC-2 logout"]
    )
    assert g.deliver(pr).status_code == 202
    g.final_status(pr.head)

    def flagged() -> bool:
        c = g.api("GET", f"/workspaces/{WS}/connections/{connection['id']}")
        return c["last_test"]["source"] == "runtime" and not c["last_test"]["ok"]

    assert wait_until(flagged, 10.0)
    c = g.api("GET", f"/workspaces/{WS}/connections/{connection['id']}")
    assert c["last_test"]["code"] == "OAUTH_CLIENT_REJECTED"
