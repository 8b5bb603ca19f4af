"""``POST /webhooks/{platform}/{workspace}``: a Bitbucket Cloud delivery through the generic URL
is the same intake as through ``/webhooks/bitbucket/{workspace}`` (stored, deduplicated across
both, evaluated, published); an unknown platform is a clear 404. Over real HTTP, with the
worker running, the fake Bitbucket and the fake Jira."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.platforms.harness import (
    SECRET,
    WS,
    Guardian,
    delivery_rows,
    live_guardian,
)
from tests.platforms.payloads import pull_request_event

from jirahooks.store.deliveries import DeliveryRow

GENERIC = f"/webhooks/bitbucket-cloud/{WS}"
OLD = f"/webhooks/bitbucket/{WS}"


@pytest.fixture
def guardian(tmp_path: Path, database_url: str) -> Iterator[Guardian]:
    with live_guardian(tmp_path, database_url) as made:
        yield made


def deliveries(g: Guardian) -> list[DeliveryRow]:
    return delivery_rows(g)


def evaluations(g: Guardian) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = g.api("GET", f"/workspaces/{WS}/evaluations")["items"]
    return items


def test_a_delivery_through_the_generic_url_is_processed_like_one_through_the_old(
    guardian: Guardian,
) -> None:
    g = guardian
    old_pr = g.bitbucket.add_pr(g.repo, "Login form", source="feature/old", commits=["wip"])
    new_pr = g.bitbucket.add_pr(g.repo, "Login form", source="feature/new", commits=["wip"])
    headers, body = pull_request_event(g.bitbucket, g.repo, old_pr, secret=SECRET)
    via_old = g.http.post(OLD, content=body, headers=headers)
    headers, body = pull_request_event(
        g.bitbucket, g.repo, new_pr, secret=SECRET, request_id="req-generic"
    )
    via_generic = g.http.post(GENERIC, content=body, headers=headers)
    assert via_old.status_code == via_generic.status_code == 202, via_generic.text
    assert via_generic.json()["status"] == "accepted"

    old_status, new_status = g.final_status(old_pr.head), g.final_status(new_pr.head)
    assert new_status["state"] == old_status["state"] == "FAILED"
    assert new_status["description"] == old_status["description"]
    assert new_status["url"].startswith(g.server.url + f"/ui/w/{WS}/evaluations/")
    assert [e["result"] for e in evaluations(g)] == ["BLOCK", "BLOCK"]
    rows = deliveries(g)
    assert [r.platform for r in rows] == ["bitbucket-cloud"] * 2
    assert rows[0].headers.keys() == rows[1].headers.keys()  # the same headers kept
    assert {r.state for r in rows} == {"done"}

    # one intake: the same delivery sent again through the other URL is a duplicate
    again = g.http.post(OLD, content=body, headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert len(deliveries(g)) == 2


def test_the_generic_url_checks_the_signature_like_the_old(guardian: Guardian) -> None:
    g = guardian
    pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1")
    headers, body = pull_request_event(g.bitbucket, g.repo, pr, secret="wrong-secret")
    answers = [g.http.post(url, content=body, headers=headers) for url in (GENERIC, OLD)]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["code"] == "SIGNATURE_INVALID"
    missing = g.http.post("/webhooks/bitbucket-cloud/nope", content=body, headers=headers)
    assert missing.status_code == 404  # an unknown workspace, as on the old URL
    assert deliveries(g) == [] and g.bitbucket.count() == 0


@pytest.mark.parametrize("platform", ["gitea", "no-such-host", "Bitbucket-Cloud", "GitLab"])
def test_an_unknown_platform_is_a_clear_404(guardian: Guardian, platform: str) -> None:
    g = guardian
    pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1")
    headers, body = pull_request_event(g.bitbucket, g.repo, pr, secret=SECRET)
    answer = g.http.post(f"/webhooks/{platform}/{WS}", content=body, headers=headers)
    assert answer.status_code == 404
    problem = answer.json()
    assert problem["code"] == "PLATFORM_UNKNOWN"
    assert platform in problem["message"]
    assert "bitbucket-cloud" in problem["hint"]  # names what there is
    assert deliveries(g) == [] and g.bitbucket.count() == 0


def test_the_generic_route_is_documented(guardian: Guardian) -> None:
    paths = guardian.http.get("/openapi.json").json()["paths"]
    generic = paths["/webhooks/{platform}/{workspace}"]["post"]
    assert {"200", "202", "400", "401", "403", "404", "413"} <= set(generic["responses"])
    assert "bitbucket-cloud" in generic["description"]
    assert "/webhooks/bitbucket/{workspace}" in paths  # the old URL stays
