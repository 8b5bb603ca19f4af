"""Bitbucket Data Center end to end over real HTTP, on SQLite and PostgreSQL: settings stored
through the admin API (``PUT …/platforms/bitbucket-dc``), signed deliveries through
``POST /webhooks/bitbucket-dc/{workspace}`` → jirahooks (uvicorn, worker running) → the fake
Jira → build status, Code Insights report and participant status on the fake Data Center."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.fake_bitbucket_dc import (
    BOT_SLUG,
    FakeBitbucketDC,
    FakePullRequest,
    FakeRepo,
)
from tests.fakes.fake_jira import FakeJira
from tests.pipeline.hosts import dc_pr_hook, dc_settings
from tests.platforms.harness import (
    FAST_OPTIONS,
    WS,
    LiveServer,
    Settles,
    delivery_rows,
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
        return self.post(
            *dc_pr_hook(self.dc, self.repo, pr, event_key, secret=secret, request_id=request_id)
        )

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
        json=dc_settings(dc, server.url, SECRET),
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


def test_a_ping_is_acknowledged_and_ignored(g: DC) -> None:
    answer = g.post(*g.dc.webhook("diagnostics:ping", {"test": True}, secret=SECRET))
    assert answer.status_code == 202 and answer.json()["status"] == "ignored"
    assert g.rows() == []


# -- the head moves -------------------------------------------------------------------------


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


# -- size and missed webhooks ---------------------------------------------------------------


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
