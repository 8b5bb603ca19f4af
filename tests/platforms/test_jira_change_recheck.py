"""When Jira changes after the check (issue 16 §5), end to end over real HTTP on SQLite and
PostgreSQL: a PR passes because its issue is "In Progress"; the issue moves to Done (the rule's
JQL no longer matches) or is deleted; Jira's signed webhook reaches jirahooks → the PR is
evaluated again and its build status on the fake Bitbucket turns FAILED. Also: the fallback
sweep does the same without a webhook, a ``/jirahooks recheck`` comment queues a forced
evaluation, and a forged Jira webhook changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
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
from tests.platforms.rechecks_support import jira_webhook, post_comment

from jirahooks.store.deliveries import DeliveryRow

RULES = [
    {
        "id": "in-progress",
        "title": "The PR's issue is in progress",
        "triggers": ["PULL_REQUEST"],
        "targets": ["PR_TITLE"],
        "hint": "Move the issue to In Progress",
        # an hour-old JQL answer would do: only the Jira change itself can fail the PR now
        "checks": {
            "key_present": True,
            "keys_valid": "ALL",
            "jql": 'status = "In Progress"',
            "jql_freshness_seconds": 3600,
        },
    }
]


@pytest.fixture
def guardian(tmp_path: Path, database_url: str) -> Iterator[Guardian]:
    with FakeBitbucket() as bitbucket, FakeJira("cloud") as jira:
        jira.add_issue("ABC-1", status="In Progress")
        jira.add_issue("ABC-2", status="In Progress")
        server = LiveServer(settings_for(tmp_path, database_url), FAST_OPTIONS).start()
        try:
            made = configure(
                server,
                bitbucket,
                jira,
                admin_token=server.state.first_start.token,
                review=False,
                rules=RULES,
            )
            yield made
            made.http.close()
        finally:
            server.stop()


def passed_pr(g: Guardian, title: str, branch: str) -> Any:
    pr = g.bitbucket.add_pr(g.repo, title, source=branch, commits=[f"{title} work"])
    assert g.deliver(pr).status_code == 202
    assert g.final_status(pr.head)["state"] == "SUCCESSFUL"
    return pr


def evaluation_count(g: Guardian) -> int:
    return len(g.api("GET", f"/workspaces/{WS}/evaluations")["items"])


def deliveries(g: Guardian, origin: str) -> list[DeliveryRow]:
    async def rows() -> list[DeliveryRow]:
        async with g.server.state.database.session() as session:
            found = await session.execute(select(DeliveryRow).where(DeliveryRow.origin == origin))
            return list(found.scalars())

    result: list[DeliveryRow] = g.server.run(rows())
    return result


def failed(g: Guardian, commit: str) -> bool:
    status = g.status(commit)
    return status is not None and status["state"] == "FAILED"


def test_issue_moved_to_done_fails_the_pr_that_passed(guardian: Guardian) -> None:
    g = guardian
    pr = passed_pr(g, "ABC-1 Login", "feature/ABC-1")
    other = passed_pr(g, "ABC-2 Logout", "feature/ABC-2")
    hook = jira_webhook(g)

    g.jira.set_status("ABC-1", "Done")
    payload = g.jira.webhook_payload(
        "jira:issue_updated",
        "ABC-1",
        changelog=[{"field": "status", "fromString": "In Progress", "toString": "Done"}],
    )
    status, answer = g.jira.send_webhook(hook["url"], payload, secret=hook["secret"])
    assert status == 200, answer
    assert answer["rechecks"] == 1  # ABC-1's PR only

    assert wait_until(lambda: failed(g, pr.head), timeout=20), g.status(pr.head)
    g.settle()
    final = g.status(pr.head)
    assert final is not None and final["state"] == "FAILED"
    # the PR about ABC-2 was not touched
    assert g.status(other.head)["state"] == "SUCCESSFUL"  # type: ignore[index]
    assert [d.pull_request_id for d in deliveries(g, "jira")] == [str(pr.id)]


def test_deleted_issue_fails_the_pr(guardian: Guardian) -> None:
    g = guardian
    pr = passed_pr(g, "ABC-1 Login", "feature/ABC-1")
    hook = jira_webhook(g)
    payload = g.jira.webhook_payload("jira:issue_deleted", "ABC-1")  # sent with the issue
    g.jira.delete_issue("ABC-1")
    status, answer = g.jira.send_webhook(hook["url"], payload, secret=hook["secret"])
    assert status == 200 and answer["cache"] == "dropped" and answer["rechecks"] == 1
    assert wait_until(lambda: failed(g, pr.head), timeout=20), g.status(pr.head)


def test_a_closed_pr_is_not_rechecked(guardian: Guardian) -> None:
    g = guardian
    pr = passed_pr(g, "ABC-1 Login", "feature/ABC-1")
    assert g.deliver(pr, "pullrequest:fulfilled").status_code == 202
    g.settle()
    hook = jira_webhook(g)
    g.jira.set_status("ABC-1", "Done")
    payload = g.jira.webhook_payload("jira:issue_updated", "ABC-1")
    status, answer = g.jira.send_webhook(hook["url"], payload, secret=hook["secret"])
    assert status == 200 and answer["rechecks"] == 0
    assert deliveries(g, "jira") == []


def test_a_forged_jira_webhook_is_refused_and_rechecks_nothing(guardian: Guardian) -> None:
    g = guardian
    pr = passed_pr(g, "ABC-1 Login", "feature/ABC-1")
    hook = jira_webhook(g)
    g.jira.set_status("ABC-1", "Done")
    payload = g.jira.webhook_payload("jira:issue_updated", "ABC-1")
    status, answer = g.jira.send_webhook(hook["url"], payload, secret="not-the-secret")
    assert status == 401 and answer["code"] == "SIGNATURE_INVALID"
    status, answer = g.jira.send_webhook(hook["url"], payload, secret=None)
    assert status == 401 and answer["code"] == "SIGNATURE_MISSING"
    g.settle()
    assert deliveries(g, "jira") == []
    assert evaluation_count(g) == 1
    assert g.status(pr.head)["state"] == "SUCCESSFUL"  # type: ignore[index]


def test_the_sweep_rechecks_without_a_webhook(guardian: Guardian) -> None:
    """No Jira webhook: the fallback sweep finds the update and queues the recheck."""
    from jirahooks.server.jira_webhooks import sweep_once

    g = guardian
    pr = passed_pr(g, "ABC-1 Login", "feature/ABC-1")
    g.server.run(sweep_once(g.server.state))  # records what Jira shows now
    g.settle()
    before = len(deliveries(g, "jira"))
    g.jira.set_status("ABC-1", "Done")
    g.server.run(sweep_once(g.server.state))
    assert len(deliveries(g, "jira")) == before + 1
    assert wait_until(lambda: failed(g, pr.head), timeout=20), g.status(pr.head)


def test_a_change_the_webhook_brought_is_not_rechecked_again_by_the_sweep(
    guardian: Guardian,
) -> None:
    from jirahooks.server.jira_webhooks import sweep_once

    g = guardian
    pr = passed_pr(g, "ABC-1 Login", "feature/ABC-1")
    g.server.run(sweep_once(g.server.state))  # records what Jira shows now
    g.settle()
    before = len(deliveries(g, "jira"))
    hook = jira_webhook(g)
    g.jira.set_status("ABC-1", "Done")
    payload = g.jira.webhook_payload("jira:issue_updated", "ABC-1")
    assert g.jira.send_webhook(hook["url"], payload, secret=hook["secret"])[1]["rechecks"] == 1
    assert wait_until(lambda: failed(g, pr.head), timeout=20)
    g.settle()
    g.server.run(sweep_once(g.server.state))
    assert len(deliveries(g, "jira")) == before + 1  # the webhook's, not a second one


def test_recheck_comment_queues_a_forced_evaluation(guardian: Guardian) -> None:
    g = guardian
    pr = passed_pr(g, "ABC-1 Login", "feature/ABC-1")
    assert evaluation_count(g) == 1

    chatter = post_comment(g, pr, "Looks good, but please rename the helper")
    assert chatter.status_code == 202 and chatter.json()["status"] == "ignored"

    answer = post_comment(g, pr, "/jirahooks recheck\nthe issue was moved", request_id="c-1")
    assert answer.status_code == 202 and answer.json()["status"] == "accepted"
    # Bitbucket retries with the same request id: one recheck, not two
    again = post_comment(g, pr, "/jirahooks recheck\nthe issue was moved", request_id="c-1")
    assert again.status_code == 200 and again.json()["status"] == "duplicate"

    assert wait_until(lambda: evaluation_count(g) == 2, timeout=20)
    g.settle()
    [row] = deliveries(g, "comment")
    assert row.force and row.state == "done" and row.pull_request_id == str(pr.id)
    assert g.status(pr.head)["state"] == "SUCCESSFUL"  # type: ignore[index]
