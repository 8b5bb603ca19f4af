"""Every Bitbucket Cloud credential kind end to end over real HTTP, on SQLite and PostgreSQL:
stored through the admin API, a PR webhook evaluated (fake Jira) and its build status, report
and reviewer veto published on the fake Bitbucket with that kind's Authorization; the
``app_password`` alias (stored as an API token, warned about); the settings test."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from tests.fakes.fake_bitbucket import (
    ACCESS_TOKEN,
    API_EMAIL,
    API_TOKEN,
    APP_PASSWORD,
    APP_PASSWORD_GONE,
    APP_USER,
)
from tests.platforms.harness import (
    SECRET,
    WS,
    Guardian,
    live_guardian,
    wait_until,
)

from jirahooks.store.deliveries import PlatformConfig

KEY = "jirahooks-process-guardian"
BASIC = "Basic " + base64.b64encode(f"{API_EMAIL}:{API_TOKEN}".encode()).decode()
KINDS: dict[str, tuple[dict[str, str], str]] = {
    "access_token": (
        {"auth_kind": "access_token", "token": ACCESS_TOKEN},
        f"Bearer {ACCESS_TOKEN}",
    ),
    "api_token": (
        {"auth_kind": "api_token", "username": API_EMAIL, "token": API_TOKEN},
        BASIC,
    ),
    # the migration alias: same e-mail and API token, stored as api_token
    "app_password": (
        {"auth_kind": "app_password", "username": API_EMAIL, "token": API_TOKEN},
        BASIC,
    ),
}


@pytest.fixture
def guardian(tmp_path: Path, database_url: str) -> Iterator[Guardian]:
    with live_guardian(tmp_path, database_url) as made:
        yield made


def put_credentials(g: Guardian, credentials: dict[str, str]) -> httpx.Response:
    body = {
        **credentials,
        "webhook_secret": SECRET,
        "public_url": g.server.url,
        "bitbucket_workspace": "acme",
        "api_url": g.bitbucket.url,
    }
    return g.http.put(
        f"/api/v1/workspaces/{WS}/bitbucket",
        json=body,
        headers={"Authorization": f"Bearer {g.admin_token}"},
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_pr_is_evaluated_and_published_with_each_kind(
    guardian: Guardian, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    g = guardian
    credentials, authorization = KINDS[kind]
    with caplog.at_level(logging.WARNING, logger="jirahooks.server.bitbucket"):
        response = put_credentials(g, credentials)
    assert response.status_code == 200, response.text
    saved = response.json()
    assert saved["auth_kind"] == ("access_token" if kind == "access_token" else "api_token")
    alias_warned = any("deprecated alias" in w for w in saved["warnings"])
    assert alias_warned is (kind == "app_password")
    alias_logged = any("app_password" in r.getMessage() for r in caplog.records)
    assert alias_logged is (kind == "app_password")
    assert credentials["token"] not in response.text
    assert all(credentials["token"] not in r.getMessage() for r in caplog.records)
    assert g.api("GET", f"/workspaces/{WS}/bitbucket")["auth_kind"] == saved["auth_kind"]

    pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 x"])
    g.bitbucket.reset_log()
    assert g.deliver(pr).status_code == 202
    assert g.final_status(pr.head)["state"] == "SUCCESSFUL"
    report = g.bitbucket.report(g.repo, pr.head, KEY)
    assert report is not None and report["result"] == "PASSED"
    assert wait_until(lambda: g.bitbucket.review_state(g.repo, pr) == "approved")
    sent = {r.headers.get("authorization") for r in g.bitbucket.requests}
    assert sent == {authorization}
    assert g.bitbucket.auth_refusals == []

    tested = g.api("POST", f"/workspaces/{WS}/bitbucket/test")
    assert tested["ok"] and tested["code"] == "OK" and tested["repositories_visible"] == 1
    if kind == "access_token":  # Bitbucket's scaled-rate-limit headers come with access tokens
        assert tested["rate_limit"]["limit"] == 1000


def test_an_api_token_with_the_bitbucket_username_is_refused_before_it_is_stored(
    guardian: Guardian,
) -> None:
    g = guardian
    for kind in ("api_token", "app_password"):
        response = put_credentials(g, {"auth_kind": kind, "username": APP_USER, "token": API_TOKEN})
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["code"] == "BITBUCKET_EMAIL_REQUIRED"
        assert problem["message"].startswith("username: 'guardian-bot' is not an e-mail")
        assert "not the Bitbucket username" in problem["hint"]
        assert API_TOKEN not in response.text
    # what was stored before (the harness's access token) is unchanged
    assert g.api("GET", f"/workspaces/{WS}/bitbucket")["auth_kind"] == "access_token"


def test_the_settings_test_names_the_problem(guardian: Guardian) -> None:
    g = guardian
    assert (
        put_credentials(
            g, {"auth_kind": "api_token", "username": API_EMAIL, "token": "revoked-token"}
        ).status_code
        == 200
    )
    tested = g.api("POST", f"/workspaces/{WS}/bitbucket/test")
    assert not tested["ok"] and tested["code"] == "AUTH_REJECTED" and tested["status"] == 401
    assert "Atlassian account e-mail" in tested["hint"]
    assert "revoked-token" not in str(tested)

    assert (
        put_credentials(
            g,
            {
                "auth_kind": "access_token",
                "token": ACCESS_TOKEN,
            },
        ).status_code
        == 200
    )
    g.bitbucket.repos.clear()  # the token's workspace is gone
    tested = g.api("POST", f"/workspaces/{WS}/bitbucket/test")
    assert not tested["ok"] and tested["status"] == 404
    assert "bitbucket_workspace" in tested["hint"]


def test_a_stored_app_password_row_is_flagged_and_refused_by_bitbucket(
    guardian: Guardian,
) -> None:
    """A row an older jirahooks stored as app_password: the settings warn, the test and the
    PR worker get Bitbucket's 401, and the hint says what to use instead."""
    g = guardian

    async def make_legacy() -> None:
        async with g.server.state.database.session() as session:
            await session.execute(
                update(PlatformConfig).values(
                    auth_kind="app_password",
                    username=APP_USER,
                    token_encrypted=g.server.state.secrets.encrypt(APP_PASSWORD),
                )
            )
            await session.commit()

    g.server.run(make_legacy())
    shown: dict[str, Any] = g.api("GET", f"/workspaces/{WS}/bitbucket")
    assert shown["auth_kind"] == "app_password"
    assert any("no longer accepts" in w for w in shown["warnings"])
    tested = g.api("POST", f"/workspaces/{WS}/bitbucket/test")
    assert not tested["ok"] and tested["code"] == "AUTH_REJECTED"
    assert APP_PASSWORD_GONE in tested["message"] and "api_token" in tested["hint"]
    assert APP_PASSWORD not in str(tested)
    assert g.bitbucket.auth_refusals == ["app_password"]
