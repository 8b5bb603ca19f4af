"""Bitbucket Data Center end to end over real HTTP, on SQLite and PostgreSQL: settings stored
through the admin API (``PUT …/platforms/bitbucket-dc``), signed deliveries through
``POST /webhooks/bitbucket-dc/{workspace}`` → jirahooks (uvicorn, worker running) → the fake
Jira → build status, Code Insights report and participant status on the fake Data Center."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.fake_bitbucket_dc import (
    BOT_SLUG,
    HTTP_ACCESS_TOKEN,
    FakeBitbucketDC,
    FakePullRequest,
    FakeRepo,
)
from tests.fakes.fake_jira import FakeJira
from tests.platforms.harness import (
    FAST_OPTIONS,
    WS,
    LiveServer,
    Settles,
    delivery_rows,
    make_due,
    settings_for,
    setup_workspace,
    wait_until,
)

from jirahooks.pipeline.options import WorkerOptions
from jirahooks.platforms.results import REPORT_ID, STATUS_KEY
from jirahooks.store.deliveries import DeliveryRow

SECRET = "dc-webhook-s3cret"
PROJECT = "PRJ"
URL = f"/webhooks/bitbucket-dc/{WS}"


@dataclass
class DC(Settles):
    """A configured jirahooks (live), a fake Data Center and a fake Jira."""

    server: LiveServer
    dc: FakeBitbucketDC
    jira: FakeJira
    repo: FakeRepo
    http: httpx.Client
    admin_token: str

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.http.request(
            method,
            "/api/v1" + path,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            **kwargs,
        )
        assert answer.status_code < 300, (method, path, answer.status_code, answer.text)
        return answer.json() if answer.content else None

    def post(self, headers: dict[str, str], body: bytes) -> httpx.Response:
        return self.http.post(URL, content=body, headers=headers)

    def deliver(
        self,
        pr: FakePullRequest,
        event_key: str = "pr:opened",
        *,
        secret: str = SECRET,
        request_id: str = "",
    ) -> httpx.Response:
        payload = {
            "eventKey": event_key,
            "date": "2026-12-02T08:00:00+0000",
            "actor": self.dc.user_json(pr.author),
            "pullRequest": self.dc.pr_json(self.repo, pr),
        }
        return self.post(*self.dc.webhook(event_key, payload, secret=secret, request_id=request_id))

    def accepted(self, pr: FakePullRequest, event_key: str = "pr:opened") -> int:
        answer = self.deliver(pr, event_key)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "accepted"
        return int(answer.json()["delivery"])

    def push(self, branch: str, old: str, new: str) -> int:
        headers, body = self.dc.refs_changed(
            self.repo, [(f"refs/heads/{branch}", old, new, "UPDATE")]
        )
        headers["X-Hub-Signature"] = sign(body)
        answer = self.post(headers, body)
        assert answer.status_code == 202, answer.text
        return int(answer.json()["delivery"])

    def status(self, commit: str) -> dict[str, Any] | None:
        return self.dc.build(self.repo, commit, STATUS_KEY)

    def report(self, commit: str) -> dict[str, Any] | None:
        return self.dc.report(self.repo, commit, REPORT_ID)

    def rows(self) -> list[DeliveryRow]:
        return delivery_rows(self)

    def row(self, delivery_id: int) -> DeliveryRow:
        return next(r for r in self.rows() if r.id == delivery_id)

    def evaluations(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.api("GET", f"/workspaces/{WS}/evaluations")["items"]
        return items

    def run_pending(self) -> None:
        """Process what is queued, oldest first, on the server's loop (its worker not started)."""

        async def one(delivery_id: int) -> None:
            worker = self.server.worker
            assert await worker._claim(delivery_id, "pending")
            await worker._process(delivery_id)

        for _ in range(20):
            pending = [r.id for r in self.rows() if r.state == "pending"]
            if not pending:
                return
            self.server.run(one(pending[0]))
        raise AssertionError("the queue did not drain")


def sign(body: bytes) -> str:
    from jirahooks.platforms.bitbucket_dc import sign as dc_sign

    return dc_sign(SECRET, body)


def start(tmp_path: Path, database_url: str, options: WorkerOptions = FAST_OPTIONS) -> DC:
    dc, jira = FakeBitbucketDC().start(), FakeJira("cloud").start()
    server = LiveServer(settings_for(tmp_path, database_url), options).start()
    http = httpx.Client(base_url=server.url, timeout=30)
    made = DC(server, dc, jira, dc.add_repo(PROJECT, "api-service"), http, "")
    made.admin_token = server.state.first_start.token
    setup_workspace(made.api, jira)
    made.api(
        "PUT",
        f"/workspaces/{WS}/platforms/bitbucket-dc",
        json={
            "api_url": dc.url,
            "project_key": PROJECT,
            "auth_kind": "http_access_token",
            "token": HTTP_ACCESS_TOKEN,
            "webhook_secret": SECRET,
            "public_url": server.url,
        },
    )
    return made


def stop(made: DC) -> None:
    made.http.close()
    made.server.stop()
    made.dc.stop()
    made.jira.stop()


@pytest.fixture
def g(tmp_path: Path, database_url: str) -> Iterator[DC]:
    made = start(tmp_path, database_url)
    try:
        yield made
    finally:
        stop(made)


@pytest.fixture
def held(tmp_path: Path, database_url: str) -> Iterator[DC]:
    """Like ``g``, with the worker not started: the test drives the queue one step at a time."""
    made = start(tmp_path, database_url, replace(FAST_OPTIONS, enabled=False))
    try:
        yield made
    finally:
        stop(made)


# -- the verdict ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "commits", "state", "result", "participant"),
    [
        ("ABC-1 Login form", ["ABC-1 add the form"], "SUCCESSFUL", "PASS", "APPROVED"),
        ("ABC-999 Login form", ["ABC-1 add the form"], "FAILED", "FAIL", "NEEDS_WORK"),
        ("Login form", ["wip"], "FAILED", "FAIL", "NEEDS_WORK"),
    ],
    ids=["known-key", "unknown-key", "no-key"],
)
def test_a_signed_pr_webhook_gets_status_report_and_participant_status(
    g: DC, title: str, commits: list[str], state: str, result: str, participant: str
) -> None:
    pr = g.dc.add_pr(g.repo, title, source="feature/login", commits=commits)
    g.accepted(pr)
    status = g.final_status(pr.head)
    assert status["state"] == state
    assert status["url"].startswith(g.server.url + f"/ui/w/{WS}/evaluations/")
    assert status["ref"] == "refs/heads/feature/login"
    report = g.report(pr.head)
    assert report is not None and report["result"] == result
    assert report["link"] == status["url"]  # status and report from one evaluation
    notes = g.dc.annotations(g.repo, pr.head, REPORT_ID)
    assert (notes == []) is (state == "SUCCESSFUL")
    assert wait_until(lambda: pr.participants.get(BOT_SLUG) == participant)
    stored = g.evaluations()
    assert [e["result"] for e in stored] == ["PASS" if result == "PASS" else "BLOCK"]
    rows = g.rows()
    assert [(r.platform, r.state) for r in rows] == [("bitbucket-dc", "done")]
    assert {"x-event-key", "x-request-id"} <= set(rows[0].headers)


@pytest.mark.parametrize(
    ("secret", "code"),
    [("wrong-secret", "SIGNATURE_INVALID"), ("", "SIGNATURE_MISSING")],
    ids=["wrong", "unsigned"],
)
def test_a_delivery_without_the_right_signature_is_refused_and_nothing_stored(
    g: DC, secret: str, code: str
) -> None:
    pr = g.dc.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1")
    answer = g.deliver(pr, secret=secret)
    assert answer.status_code == 401, answer.text
    problem = answer.json()
    assert problem["code"] == code and problem["message"] and problem["hint"]
    assert SECRET not in answer.text
    assert g.rows() == []
    assert g.dc.requests == []  # nothing reached Data Center


def test_a_duplicate_delivery_is_answered_duplicate_and_processed_once(g: DC) -> None:
    pr = g.dc.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 x"])
    first = g.deliver(pr, request_id="req-1")
    again = g.deliver(pr, request_id="req-1")
    assert first.status_code == 202
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert g.final_status(pr.head)["state"] == "SUCCESSFUL"
    assert len(g.rows()) == 1 and len(g.evaluations()) == 1
    assert len(g.dc.requests_to("/builds", method="POST")) == 1


def test_a_ping_is_acknowledged_and_ignored(g: DC) -> None:
    answer = g.post(*g.dc.webhook("diagnostics:ping", {"test": True}, secret=SECRET))
    assert answer.status_code == 202 and answer.json()["status"] == "ignored"
    assert g.rows() == []


# -- the head moves -------------------------------------------------------------------------


def test_a_head_moved_before_processing_gets_no_stale_result(held: DC) -> None:
    """The PR delivery names the old head; the branch moved before the worker took it: only
    the current head is published, status and report from the same evaluation."""
    g = held
    pr = g.dc.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["wip"])
    old = pr.head  # would fail: no commit names an issue
    g.accepted(pr)
    g.dc.push(g.repo, pr, "ABC-1 add the form")
    g.run_pending()
    assert g.status(old) is None and g.report(old) is None
    status, report = g.status(pr.head), g.report(pr.head)
    assert status is not None and status["state"] == "SUCCESSFUL"
    assert report is not None and report["link"] == status["url"]
    stored = g.evaluations()
    assert len(stored) == 1 and stored[0]["result"] == "PASS"


def test_a_push_re_evaluates_the_open_pr_of_its_branch(g: DC) -> None:
    pr = g.dc.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["wip"])
    g.accepted(pr)
    assert g.final_status(pr.head)["state"] == "FAILED"
    old = pr.head
    g.dc.push(g.repo, pr, "ABC-1 add the form")
    g.push("feature/ABC-1", old, pr.head)
    assert g.final_status(pr.head)["state"] == "SUCCESSFUL"
    assert wait_until(lambda: pr.participants.get(BOT_SLUG) == "APPROVED")
    listed = g.dc.requests_to("/pull-requests", method="GET")
    assert any(r.query.get("at") == ["refs/heads/feature/ABC-1"] for r in listed)
    # a branch without a PR: listed, nothing evaluated
    g.push("feature/no-pr", "0" * 40, g.dc.add_commit(g.repo, "work"))
    g.settle()
    assert len(g.evaluations()) == 2


def test_a_merged_pr_leaves_nothing_to_evaluate(g: DC) -> None:
    pr = g.dc.add_pr(g.repo, "Login", source="feature/x", commits=["wip"])
    g.accepted(pr)
    assert g.final_status(pr.head)["state"] == "FAILED"
    pr.state = "MERGED"
    g.accepted(pr, "pr:merged")
    g.settle()
    assert [r.state for r in g.rows()] == ["done", "closed"]
    assert g.server.run(g.server.worker.reconcile()) == 0
    g.settle()
    assert len(g.evaluations()) == 1
    assert len(g.dc.requests_to("/builds", method="POST")) == 1


# -- the host misbehaves --------------------------------------------------------------------


def test_a_429_with_retry_after_reschedules_the_delivery_then_publishes(g: DC) -> None:
    pr = g.dc.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 x"])
    # longer than the retry policy waits (2 s): back to the queue instead of a sleeping worker
    g.dc.fail(429, retry_after="120", path=f"/pull-requests/{pr.id}/commits", method="GET")
    delivery = g.accepted(pr)
    assert wait_until(lambda: g.row(delivery).tries == 1 and bool(g.row(delivery).last_error))
    waiting = g.row(delivery)
    assert waiting.state == "pending" and "429" in waiting.last_error
    due = waiting.next_attempt_at
    assert due is not None and (due.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds() > 100
    assert wait_until(lambda: g.server.worker._running == set())
    assert g.status(pr.head) is None
    make_due(g.server, delivery)
    assert g.final_status(pr.head)["state"] == "SUCCESSFUL"
    assert g.row(delivery).tries == 2


def test_an_outage_while_publishing_is_kept_and_retried(g: DC) -> None:
    pr = g.dc.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 x"])
    g.dc.fail(503, times=5, path="/builds", method="POST")  # outlasts one round of retries
    g.accepted(pr)
    assert g.final_status(pr.head, timeout=20)["state"] == "SUCCESSFUL"
    assert g.report(pr.head) is not None
    assert [r.state for r in g.rows()] == ["done"]


# -- size and missed webhooks ---------------------------------------------------------------


def test_a_pr_of_500_commits_is_read_in_full(g: DC) -> None:
    """Only the oldest commit names an issue (the COMMITS target: one key for the set), and
    Data Center lists newest first, 100 a page: the PR passes only if the fifth page was read."""
    commits = ["ABC-1 start"] + [f"change {i}" for i in range(1, 500)]
    pr = g.dc.add_pr(g.repo, "ABC-1 Big", source="feature/big", commits=commits)
    g.accepted(pr)
    assert g.final_status(pr.head, timeout=30)["state"] == "SUCCESSFUL"
    pages = g.dc.requests_to(f"/pull-requests/{pr.id}/commits", method="GET")
    assert sorted(r.query.get("start", ["0"])[0] for r in pages) == [
        "0",
        "100",
        "200",
        "300",
        "400",
    ]
    assert [e["result"] for e in g.evaluations()] == ["PASS"]


def test_reconciliation_finds_a_pr_whose_webhook_never_arrived(g: DC) -> None:
    seen = g.dc.add_pr(g.repo, "ABC-1 Seen", source="feature/ABC-1", commits=["ABC-1 a"])
    g.accepted(seen)
    g.final_status(seen.head)
    missed = g.dc.add_pr(g.repo, "No key here", source="feature/x", commits=["ABC-1 b"])
    assert g.server.run(g.server.worker.reconcile()) == 1
    assert g.final_status(missed.head)["state"] == "FAILED"
    assert wait_until(lambda: missed.participants.get(BOT_SLUG) == "NEEDS_WORK")
    assert g.server.run(g.server.worker.reconcile()) == 0  # nothing left without a result
    listed = g.dc.requests_to("/pull-requests", method="GET")
    assert listed and all(
        r.query.get("state") == ["OPEN"] for r in listed if r.path.endswith("/pull-requests")
    )


# -- the host entry on its own --------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "signature", "required", "code"),
    [
        (SECRET, "good", True, None),
        (SECRET, "good", False, None),
        (SECRET, "sha256=" + "0" * 64, False, "SIGNATURE_INVALID"),
        (SECRET, "", False, "SIGNATURE_MISSING"),
        ("", "", True, "SIGNATURE_NOT_CONFIGURED"),
        ("", "", False, None),  # signatures not required and no secret stored: accepted
    ],
)
def test_the_host_verifies_x_hub_signature(
    secret: str, signature: str, required: bool, code: str | None
) -> None:
    from jirahooks.platforms.bitbucket_dc_host import HOST
    from jirahooks.platforms.registry import Refusal

    body = b'{"eventKey": "pr:opened"}'
    headers = {"X-Hub-Signature": sign(body) if signature == "good" else signature}
    if code is None:
        HOST.verify(headers, body, secret, required)
        return
    with pytest.raises(Refusal) as refused:
        HOST.verify(headers, body, secret, required)
    assert refused.value.status == 401 and refused.value.code == code
    assert SECRET not in refused.value.message + refused.value.hint
