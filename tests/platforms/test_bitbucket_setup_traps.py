"""Bitbucket settings that cannot work are refused when saved, and the PR worker's background
failures are visible to the administrator (issue 14). Before, an empty `bitbucket_workspace`
made every delivery answer 202 and then fail in the background with 404, with no warning
anywhere."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.fake_bitbucket import ACCESS_TOKEN
from tests.platforms.harness import (
    SECRET,
    WS,
    Guardian,
    live_guardian,
    wait_until,
)
from tests.web.conftest import Browser


@pytest.fixture
def guardian(tmp_path: Path, database_url: str) -> Iterator[Guardian]:
    with live_guardian(tmp_path, database_url) as made:
        yield made


def _put(g: Guardian, **changes: Any) -> Any:
    body = {
        "auth_kind": "access_token",
        "token": ACCESS_TOKEN,
        "webhook_secret": SECRET,
        "public_url": g.server.url,
        "bitbucket_workspace": "acme",
        "api_url": g.bitbucket.url,
        **changes,
    }
    return g.http.put(
        f"/api/v1/workspaces/{WS}/bitbucket",
        json=body,
        headers={"Authorization": f"Bearer {g.admin_token}"},
    )


def test_settings_that_cannot_work_are_refused_when_saved(guardian: Guardian) -> None:
    g = guardian
    before = g.api("GET", f"/workspaces/{WS}/bitbucket")
    for changes, code, field in [
        (
            {"bitbucket_workspace": "acme team"},
            "BITBUCKET_WORKSPACE_INVALID",
            "bitbucket_workspace",
        ),
        ({"bitbucket_workspace": "acme/api"}, "BITBUCKET_WORKSPACE_INVALID", "bitbucket_workspace"),
        ({"api_url": "api.bitbucket.org/2.0"}, "REQUEST_INVALID", "api_url"),
        ({"api_url": "https://api.bitbucket.org/2.0?x=1"}, "REQUEST_INVALID", "api_url"),
    ]:
        response = _put(g, **changes)
        assert response.status_code == 422, (changes, response.text)
        answer = response.json()
        assert answer["code"] == code and answer["message"].startswith(field + ":")
        assert answer["hint"], answer
    assert g.api("GET", f"/workspaces/{WS}/bitbucket") == before  # nothing changed


def test_a_delivery_for_another_bitbucket_workspace_is_refused_at_once(
    guardian: Guardian,
) -> None:
    g = guardian
    # Empty: the jirahooks workspace's slug ('default') is taken as the Bitbucket workspace.
    saved = _put(g, bitbucket_workspace="")
    assert saved.status_code == 200, saved.text
    config = saved.json()
    assert config["effective_bitbucket_workspace"] == WS
    assert any("bitbucket_workspace is empty" in w for w in config["warnings"])
    pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 x"])
    response = g.deliver(pr)  # from Bitbucket workspace 'acme'
    assert response.status_code == 403, response.text
    answer = response.json()
    assert answer["code"] == "WORKSPACE_MISMATCH" and "'acme'" in answer["hint"]
    assert g.status(pr.head) is None


def test_background_failures_show_in_the_admin_api_and_the_web_page(guardian: Guardian) -> None:
    g = guardian
    assert g.api("GET", f"/workspaces/{WS}/bitbucket")["last_failure"] is None
    pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 x"])
    g.bitbucket.fail(403, times=1000, path=f"/pullrequests/{pr.id}", message="Access denied")
    assert g.deliver(pr).status_code == 202

    def failed() -> Any:
        return g.api("GET", f"/workspaces/{WS}/bitbucket")["last_failure"]

    assert wait_until(failed, timeout=20)
    failure = failed()
    assert failure["repository"] == "api-service" and failure["pull_request_id"] == str(pr.id)
    assert (
        failure["reason"]
        and failure["at"]
        and failure["state"] in ("failed", "pending", "processing")
    )
    config = g.api("GET", f"/workspaces/{WS}/bitbucket")
    assert any(w.startswith("the last pull-request update failed") for w in config["warnings"])

    browser = Browser(g.server.url)
    browser.sign_in(g.admin_token)
    status, _, text = browser.request("GET", f"/ui/w/{WS}/bitbucket")
    assert status == 200
    page = html.unescape(text)
    assert "the last pull-request update failed" in page and failure["reason"][:40] in page


def test_another_hosts_failures_are_not_bitbucket_clouds(guardian: Guardian) -> None:
    """A failing delivery of Bitbucket Data Center (same workspace) is not shown as Bitbucket
    Cloud's last failure."""
    from sqlalchemy import select

    from jirahooks.store.deliveries import DeliveryRow
    from jirahooks.store.models import Workspace

    g = guardian

    async def store_failed() -> None:
        async with g.server.state.database.session() as session:
            workspace = await session.scalar(select(Workspace).where(Workspace.slug == WS))
            assert workspace is not None
            session.add(
                DeliveryRow(
                    workspace_id=workspace.id,
                    platform="bitbucket-dc",
                    dedupe_key="dc|failed",
                    repository="api-service",
                    pull_request_id="7",
                    state="failed",
                    tries=5,
                    last_error="Data Center answered 403",
                )
            )
            await session.commit()

    g.server.run(store_failed())
    config = g.api("GET", f"/workspaces/{WS}/bitbucket")
    assert config["last_failure"] is None
    assert not any(w.startswith("the last pull-request update failed") for w in config["warnings"])
