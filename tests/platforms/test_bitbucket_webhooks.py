"""End to end over real HTTP: Bitbucket webhook → jirahooks (uvicorn, worker running) → fake
Jira → build status, Code Insights report and reviewer veto on the fake Bitbucket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.fake_bitbucket import FakeBitbucket
from tests.fakes.fake_jira import FakeJira
from tests.platforms.harness import (
    FAST_OPTIONS,
    SECRET,
    WS,
    Guardian,
    LiveServer,
    configure,
    settings_for,
    wait_until,
)
from tests.platforms.payloads import headers as webhook_headers
from tests.platforms.payloads import pull_request_event, push_event

from jirahooks.pipeline.options import WorkerOptions

KEY = "jirahooks-process-guardian"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeBitbucket, FakeJira]]:
    with FakeBitbucket() as bitbucket, FakeJira("cloud") as jira:
        yield bitbucket, jira


def start(tmp_path: Path, database_url: str, options: WorkerOptions = FAST_OPTIONS) -> LiveServer:
    return LiveServer(settings_for(tmp_path, database_url), options).start()


@pytest.fixture
def guardian(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira]
) -> Iterator[Guardian]:
    """A live server on SQLite and on PostgreSQL (the deliveries table is the queue)."""
    server = start(tmp_path, database_url)
    try:
        token = server.state.first_start.token
        made = configure(server, *fakes, admin_token=token)
        yield made
        made.http.close()
    finally:
        server.stop()


def pr_fetches(g: Guardian, pr_id: int) -> int:
    """How often the PR was read from the API for an evaluation: the first pages of
    ``GET …/pullrequests/{id}/commits`` (every evaluation reads them; ``GET …/pullrequests/{id}``
    itself only when the webhook payload cannot stand in for it)."""
    wanted = f"/pullrequests/{pr_id}/commits"
    return sum(
        1
        for r in g.bitbucket.requests_to(wanted, method="GET")
        if r.path.endswith(wanted) and "page" not in r.query
    )


def evaluations(g: Guardian) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = g.api("GET", f"/workspaces/{WS}/evaluations")["items"]
    return items


def test_failing_pr_then_fixed(guardian: Guardian) -> None:
    g = guardian
    pr = g.bitbucket.add_pr(g.repo, "Login form", source="feature/login", commits=["wip"])
    response = g.deliver(pr)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "accepted"

    status = g.final_status(pr.head)
    assert status["state"] == "FAILED"
    assert status["description"] == (
        "Blocked by: PR title names a valid issue, Commits reference an issue"
    )
    assert status["refname"] == "feature/login"
    assert status["url"].startswith(g.server.url + f"/ui/w/{WS}/evaluations/")
    report = g.bitbucket.report(g.repo, pr.head, KEY)
    assert report is not None and report["result"] == "FAILED"
    notes = g.bitbucket.annotations(g.repo, pr.head, KEY)
    assert len(notes) == 2 and all(n["result"] == "FAILED" for n in notes)
    assert any("Start the title with the issue key" in n.get("details", "") for n in notes)
    assert wait_until(lambda: g.bitbucket.review_state(g.repo, pr) == "changes_requested")
    states = [r.body["state"] for r in g.bitbucket.requests_to("/statuses/build", method="POST")]
    assert states == ["FAILED"]
    # the full head was used although webhook and PR payloads carry 12 characters
    assert all(pr.head in r.path for r in g.bitbucket.requests_to("/statuses/build"))
    stored = evaluations(g)
    assert len(stored) == 1 and stored[0]["result"] == "BLOCK"

    # the developer fixes title and commits
    pr.title = "ABC-1 Login form"
    fixed = g.bitbucket.push(g.repo, pr, "ABC-1 add the login form")
    pr.commits.remove(pr.commits[0])  # squashed: the 'wip' commit is gone
    assert g.deliver(pr, "pullrequest:updated").status_code == 202
    status = g.final_status(fixed.hash)
    assert status["state"] == "SUCCESSFUL" and status["description"].startswith("Passed: 2 rules")
    report = g.bitbucket.report(g.repo, fixed.hash, KEY)
    assert report is not None and report["result"] == "PASSED"
    assert wait_until(lambda: g.bitbucket.review_state(g.repo, pr) == "approved")
    assert g.bitbucket.count("/request-changes", method="DELETE") == 1  # veto removed
    assert [e["result"] for e in evaluations(g)] == ["PASS", "BLOCK"]


def test_duplicate_and_retried_deliveries_are_processed_once(guardian: Guardian) -> None:
    g = guardian
    pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 x"])
    first = g.deliver(pr, request_id="req-1")
    duplicate = g.deliver(pr, request_id="req-1")
    retried = g.deliver(pr, request_id="req-1", attempt=2)
    assert first.status_code == 202
    assert duplicate.status_code == 200 and duplicate.json()["status"] == "duplicate"
    assert retried.status_code == 200 and retried.json()["status"] == "duplicate"
    assert g.final_status(pr.head)["state"] == "SUCCESSFUL"
    # a second delivery of the same PR state (another request id) within a minute: reused
    assert g.deliver(pr, "pullrequest:updated", request_id="req-2").status_code == 202
    assert wait_until(lambda: g.server.worker.processed >= 2)
    assert pr_fetches(g, pr.id) == 1
    assert len(evaluations(g)) == 1
    # one evaluation of a fresh head, one status: its result (no INPROGRESS before it)
    assert g.bitbucket.count("/statuses/build", method="POST") == 1


def test_recheck_evaluates_again_at_once(guardian: Guardian) -> None:
    g = guardian
    pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 x"])
    g.deliver(pr)
    g.final_status(pr.head)
    answer = g.api(
        "POST", f"/workspaces/{WS}/repositories/api-service/pull-requests/{pr.id}/recheck"
    )
    assert answer["status"] == "accepted"
    assert wait_until(lambda: len(evaluations(g)) == 2)
    assert pr_fetches(g, pr.id) == 2


def test_bad_signature_missing_signature_and_malformed_json(guardian: Guardian) -> None:
    g = guardian
    pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1")
    headers, body = pull_request_event(g.bitbucket, g.repo, pr, secret="wrong-secret")
    bad = g.http.post(f"/webhooks/bitbucket/{WS}", content=body, headers=headers)
    assert bad.status_code == 401 and bad.json()["code"] == "SIGNATURE_INVALID"
    unsigned = g.deliver(pr, secret=None)
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "SIGNATURE_MISSING"
    raw = b'{"pullrequest": '
    malformed = g.http.post(
        f"/webhooks/bitbucket/{WS}",
        content=raw,
        headers=webhook_headers("pullrequest:created", raw, secret=SECRET),
    )
    assert malformed.status_code == 400, malformed.text
    assert set(malformed.json()) >= {"code", "message", "hint"}
    other = b'{"comment": {}}'
    ignored = g.http.post(
        f"/webhooks/bitbucket/{WS}",
        content=other,
        headers=webhook_headers("pullrequest:comment_created", other, secret=SECRET),
    )
    assert ignored.status_code == 202 and ignored.json()["status"] == "ignored"
    unknown = g.http.post("/webhooks/bitbucket/nope", content=other, headers={})
    assert unknown.status_code == 404
    assert g.bitbucket.count() == 0  # nothing reached Bitbucket
    assert evaluations(g) == []


def test_credentials_are_write_only(guardian: Guardian) -> None:
    shown = guardian.api("GET", f"/workspaces/{WS}/bitbucket")
    assert shown["token_set"] is True and shown["webhook_secret_set"] is True
    text = json.dumps(shown)
    assert SECRET not in text and "fake-bitbucket-access-token" not in text
    assert shown["webhook_path"] == f"/webhooks/bitbucket/{WS}"


def test_bitbucket_outage_while_publishing_is_retried_not_lost(guardian: Guardian) -> None:
    g = guardian
    pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 x"])
    g.bitbucket.fail(503, times=5, path="/statuses/build")  # outlasts one round of retries
    g.bitbucket.fail(429, retry_after="0.1", times=1, path="/reports/")
    assert g.deliver(pr).status_code == 202
    assert g.final_status(pr.head, timeout=20)["state"] == "SUCCESSFUL"
    assert g.bitbucket.report(g.repo, pr.head, KEY) is not None


def test_push_to_a_branch_without_a_pr_posts_nothing(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    """Before issue 10 a push to a branch without a PR evaluated the PR rules on the branch name
    alone and posted the result under the PR's status key; now it posts nothing (the branch's
    PRs, listed from the API, are what a push re-evaluates)."""
    server = start(tmp_path, database_url)
    try:
        branch_rule = {
            "id": "branch-key",
            "title": "Branch names an issue",
            "triggers": ["PULL_REQUEST"],
            "targets": ["BRANCH"],
            "checks": {"key_present": True},
        }
        g = configure(
            server, *fakes, admin_token=server.state.first_start.token, rules=[branch_rule]
        )
        commits = [g.bitbucket.add_commit(g.repo, "work").hash]
        headers, body = push_event(g.bitbucket, g.repo, "feature/no-key", commits, secret=SECRET)
        answer = g.http.post(f"/webhooks/bitbucket/{WS}", content=body, headers=headers)
        assert answer.status_code == 202
        assert wait_until(lambda: g.bitbucket.count("/pullrequests", method="GET") == 1)
        g.settle()
        assert g.status(commits[0]) is None
        assert g.bitbucket.count("/statuses/build") == 0
        assert evaluations(g) == []
        g.http.close()
    finally:
        server.stop()


def test_reconciliation_catches_a_pr_whose_webhook_never_arrived(guardian: Guardian) -> None:
    g = guardian
    seen = g.bitbucket.add_pr(g.repo, "ABC-1 Seen", source="feature/ABC-1", commits=["ABC-1 a"])
    g.deliver(seen)
    g.final_status(seen.head)
    missed = g.bitbucket.add_pr(g.repo, "No key here", source="feature/x", commits=["ABC-1 b"])
    queued = g.server.run(g.server.worker.reconcile())
    assert queued == 1
    assert g.final_status(missed.head)["state"] == "FAILED"
    assert g.bitbucket.review_state(g.repo, missed) == "changes_requested"
    assert g.server.run(g.server.worker.reconcile()) == 0  # nothing left without a result
    assert all(
        r.query.get("state") == ["OPEN"]
        for r in g.bitbucket.requests_to("/pullrequests", method="GET")
        if r.path.endswith("/pullrequests")
    )
