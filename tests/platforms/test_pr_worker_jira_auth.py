"""The PR worker resolves keys with each Cloud service-account credential (issue 15): a scoped
API token through the api.atlassian.com gateway, and OAuth 2.0 client credentials with a cached
access token — over real HTTP (uvicorn, the worker running, fake Bitbucket and fake Jira), on
SQLite and PostgreSQL. A credential revoked between two PRs flags the connection."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
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
from tests.web.conftest import Browser


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


# -- every other kind, each from the connection's creation on (harness.configure's connection) --


def _api_token(jira: FakeJira) -> dict[str, Any]:
    return {"auth": "api_token", "email": jira.user.email, "token": jira.token}


def _pat(jira: FakeJira) -> dict[str, Any]:
    jira.creds.basic_auth = False  # Jira 11's default: PATs only
    return {"auth": "pat", "email": "", "token": jira.token}


def _basic(jira: FakeJira) -> dict[str, Any]:
    return {"auth": "basic", "email": jira.user.name, "token": jira.token}


def _oauth_datacenter(jira: FakeJira) -> dict[str, Any]:
    jira.add_oauth_client("dc-client", "dc-client-secret", scopes=("READ",))
    return {
        "auth": "oauth_client_credentials",
        "email": "",
        "client_id": "dc-client",
        "client_secret": "dc-client-secret",
        "scopes": "READ",
    }


KINDS: dict[str, tuple[str, Any, str]] = {
    # id: (deployment, the connection's credential, the Authorization scheme Jira sees)
    "api_token": ("cloud", _api_token, "Basic"),
    "pat": ("datacenter", _pat, "Bearer"),
    "basic": ("datacenter", _basic, "Basic"),
    "oauth_datacenter": ("datacenter", _oauth_datacenter, "Bearer"),
}


@contextmanager
def _guardian_with(tmp_path: Path, database_url: str, deployment: str, make: Any) -> Iterator[Any]:
    context = "" if deployment == "cloud" else "/jira"
    with FakeBitbucket() as bitbucket, FakeJira(deployment, context_path=context) as jira:
        body = {"deployment": deployment, **make(jira)}
        server = LiveServer(settings_for(tmp_path, database_url), FAST_OPTIONS).start()
        try:
            g = configure(
                server,
                bitbucket,
                jira,
                admin_token=server.state.first_start.token,
                connection=body,
            )
            yield g
            g.http.close()
        finally:
            server.stop()


def _refuses_basic(jira: FakeJira) -> bool:
    raw = base64.b64encode(f"{jira.user.name}:{jira.token}".encode()).decode()
    answer = httpx.get(jira.url + "/rest/api/2/myself", headers={"Authorization": "Basic " + raw})
    return answer.status_code == 401


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_pr_worker_uses_every_other_kind(tmp_path: Path, database_url: str, kind: str) -> None:
    deployment, make, scheme = KINDS[kind]
    with _guardian_with(tmp_path, database_url, deployment, make) as g:
        [connection] = g.api("GET", f"/workspaces/{WS}/connections")
        assert connection["auth"] == kind.removesuffix("_datacenter").replace(
            "oauth", "oauth_client_credentials"
        )
        assert connection["deployment"] == deployment
        assert connection["last_test"]["ok"] is True, connection["last_test"]
        assert connection["cloud_id"] == ""  # the site URL (Cloud) or the Data Center base
        if kind == "basic":  # flagged: the API and the connections page say why
            assert "deprecated" in connection["auth_warning"]
            browser = Browser(g.server.url)
            browser.sign_in(g.admin_token)
            status, _, page = browser.request("GET", f"/ui/w/{WS}/connections")
            assert status == 200 and "deprecated" in page, status
        if kind == "pat":
            assert _refuses_basic(g.jira)  # the fake really is PAT-only
        if kind == "oauth_datacenter":  # the test on save: Data Center's endpoint, form-encoded
            [fetch] = g.jira.requests_to("/rest/oauth2/latest/token")
            assert fetch.headers["content-type"].startswith("application/x-www-form-urlencoded")
            assert g.jira.count("/oauth/token") == 0
        tokens = g.jira.creds.token_requests
        g.jira.reset_log()

        good = g.bitbucket.add_pr(
            g.repo, "ABC-1 Login form", source="feature/ABC-1-login", commits=["ABC-1 login"]
        )
        assert g.deliver(good).status_code == 202
        assert g.final_status(good.head)["state"] == "SUCCESSFUL"
        bad = g.bitbucket.add_pr(
            g.repo, "ABC-404 Nothing", source="feature/ABC-404", commits=["ABC-404 nothing"]
        )
        assert g.deliver(bad).status_code == 202
        assert g.final_status(bad.head)["state"] == "FAILED"  # Jira was asked: no such issue

        api = "/rest/api/3/" if deployment == "cloud" else "/rest/api/2/"
        asked = [r for r in g.jira.requests if r.path.startswith(api)]
        assert asked, [r.path for r in g.jira.requests]
        assert {r.headers["authorization"].split()[0] for r in asked} == {scheme}
        assert not any(r.gateway for r in asked)
        assert g.jira.count("/_edge/tenant_info") == 0
        if kind == "oauth_datacenter":
            assert g.jira.creds.token_requests == tokens  # the token of the test on save
        if kind == "pat":
            assert all(r.headers["authorization"] == f"Bearer {g.jira.token}" for r in asked)


def test_an_access_token_expiring_mid_burst_is_refreshed_once(guardian: Guardian) -> None:
    """A 401 on an expired access token triggers exactly one token request, however many PRs
    of the burst saw it; every PR is still published and the connection stays healthy."""
    g = guardian
    for n in range(3, 9):
        g.jira.add_issue(f"ABC-{n}", status="In Progress")
    [connection] = g.api("GET", f"/workspaces/{WS}/connections")
    g.api("PATCH", f"/workspaces/{WS}/connections/{connection['id']}", json=_oauth(g.jira))

    def pr(n: int) -> Any:  # a key of its own: the Jira cache cannot answer for it
        return g.bitbucket.add_pr(
            g.repo, f"ABC-{n} Change {n}", source=f"feature/ABC-{n}", commits=[f"ABC-{n} x"]
        )

    first = [pr(n) for n in (3, 4)]
    for one in first:
        assert g.deliver(one).status_code == 202
    for one in first:
        assert g.final_status(one.head)["state"] == "SUCCESSFUL"
    fetched = g.jira.creds.token_requests
    g.jira.expire_access_tokens()  # mid-burst: the cached token now answers 401
    g.jira.reset_log()
    rest = [pr(n) for n in (5, 6, 7, 8)]
    for one in rest:
        assert g.deliver(one).status_code == 202
    for one in rest:
        assert g.final_status(one.head)["state"] == "SUCCESSFUL"
    assert g.jira.creds.token_requests == fetched + 1
    assert g.jira.count("/oauth/token") == 1
    rejected = [r for r in g.jira.requests if r.path.startswith("/rest/api/3/")]
    assert len({r.headers["authorization"] for r in rejected}) == 2  # the stale and the new
    g.server.run(g.server.state.resolvers.health.flush())
    c = g.api("GET", f"/workspaces/{WS}/connections/{connection['id']}")
    assert c["last_test"]["ok"] is True, c["last_test"]


def test_a_gateway_connection_made_by_apply_stores_its_cloud_id_from_a_pr(
    guardian: Guardian, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``apply`` tests nothing, so a scoped-token connection it makes has no cloudId until the
    PR worker's first request discovers it; then it is stored (once) and shown."""
    from jirahooks.rules.config import load_document
    from jirahooks.server.document import apply_document

    g = guardian
    g.jira.add_scoped_token("svc@serviceaccount.atlassian.com", "applied-token")
    monkeypatch.setenv("APPLIED_TOKEN", "applied-token")
    [before] = g.api("GET", f"/workspaces/{WS}/connections")
    settings = g.api("GET", f"/workspaces/{WS}/settings")
    document = load_document(
        {
            "workspace": WS,
            "settings": {"review_pull_requests": True},
            "connections": [
                {
                    "name": "jira",
                    "url": g.jira.url,
                    "deployment": "cloud",
                    "auth": "scoped_api_token",
                    "email": "svc@serviceaccount.atlassian.com",
                    "token": "${APPLIED_TOKEN}",
                    "gateway_url": g.jira.gateway_url,
                }
            ],
        }
    )
    state = g.server.state

    async def apply() -> None:
        async with state.database.session() as session:
            await apply_document(session, state.secrets, document)
            await session.commit()

    g.server.run(apply())
    [applied] = g.api("GET", f"/workspaces/{WS}/connections")
    assert applied["id"] == before["id"] and applied["auth"] == "scoped_api_token"
    assert applied["cloud_id"] == ""
    assert g.api("GET", f"/workspaces/{WS}/settings") == settings  # the PR review stays on
    g.jira.reset_log()
    pr = g.bitbucket.add_pr(
        g.repo, "ABC-1 Login form", source="feature/ABC-1-login", commits=["ABC-1 login"]
    )
    assert g.deliver(pr).status_code == 202
    assert g.final_status(pr.head)["state"] == "SUCCESSFUL"
    asked = [r for r in g.jira.requests if r.path.startswith("/rest/api/3/")]
    assert asked and all(r.gateway == g.jira.cloud_id for r in asked)
    g.server.run(state.resolvers.health.flush())
    stored = g.api("GET", f"/workspaces/{WS}/connections/{before['id']}")
    assert stored["cloud_id"] == g.jira.cloud_id
