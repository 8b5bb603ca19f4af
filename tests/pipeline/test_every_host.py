"""The pipeline's scenarios, once for every wired host (issue 17): Bitbucket Cloud, Bitbucket
Data Center, GitLab and GitHub, each through its driver (tests/pipeline/hosts.py) — a live
jirahooks (uvicorn, its worker running or driven by hand) on SQLite, the host's fake and a fake
Jira as real servers on 127.0.0.1. A restart runs on SQLite and on PostgreSQL for every host,
the PR/push race on PostgreSQL for Bitbucket Cloud too.

What stays specific to a host (its payloads, its results' shapes, its settings) is tested in
that host's own files; the database's side of the queue on PostgreSQL in the Bitbucket Cloud
ones (tests/platforms/test_bitbucket_trust.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.pipeline.hosts import HOSTS, Host, running
from tests.platforms.harness import FAST_OPTIONS, SECRET, LiveServer, make_due, wait_until

HELD = replace(FAST_OPTIONS, enabled=False)  # the test drives the queue, one delivery a step


@pytest.fixture(scope="module")
def jira() -> Iterator[FakeJira]:
    """One fake Jira for the module: the tests only read its issues (ABC-1 and ABC-2)."""
    with FakeJira("cloud") as fake:
        yield fake


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest, tmp_path: Path, jira: FakeJira) -> Iterator[Host]:
    """A host's fake and a live jirahooks for it, its worker running."""
    with running(request.param, tmp_path, jira) as made:
        yield made


@pytest.fixture(params=HOSTS)
def held(request: pytest.FixtureRequest, tmp_path: Path, jira: FakeJira) -> Iterator[Host]:
    """Like ``host``, with the worker not started: the test processes deliveries in its order."""
    with running(request.param, tmp_path, jira, options=HELD) as made:
        yield made


def evaluation_of(host: Host, sha: str) -> int:
    """The id of the stored evaluation the result on ``sha`` links to."""
    status = host.status(sha)
    assert status is not None
    match = re.search(r"/ui/w/default/evaluations/(\d+)$", status["url"])
    assert match and status["url"].startswith(host.server.url), status["url"]
    return int(match.group(1))


def assert_one_evaluation_published(
    host: Host, pr: object, state: str, shown: list[str] | None = None
) -> None:
    """Status and report on the PR's current head come from one evaluation of that head, and
    nothing but its result (or ``shown``) was shown there."""
    head = host.head(pr)
    status = host.status(head)
    assert status is not None and status["state"] == state, status
    evaluation = evaluation_of(host, head)
    assert host.report_link(head) == status["url"]
    stored = {e.id: e for e in host.evaluations()}
    assert stored[evaluation].trigger == "PULL_REQUEST"
    assert stored[evaluation].event["pullRequest"]["head"] == head
    assert host.published(head) == (shown or [state])


# -- the intake -----------------------------------------------------------------------------


def test_a_delivery_without_the_right_signature_is_refused_and_nothing_stored(
    host: Host,
) -> None:
    pr = host.add_pr("ABC-1 Login", ["ABC-1 add the form"])
    before = len(host.requests())  # setting the host up may have called it
    headers, body = host.pr_hook(pr, secret="wrong-secret")
    unsigned = {k: v for k, v in headers.items() if k.lower() != host.signature_header.lower()}
    for sent, code in ((headers, "SIGNATURE_INVALID"), (unsigned, "SIGNATURE_MISSING")):
        answer = host.post((sent, body))
        assert answer.status_code == 401, answer.text
        problem = answer.json()
        assert problem["code"] == code and problem["message"] and problem["hint"]
        assert SECRET not in answer.text
    assert host.rows() == [] and host.evaluations() == []
    host.settle()
    assert len(host.requests()) == before  # nothing reached the host


def test_a_duplicate_delivery_is_answered_duplicate_and_processed_once(host: Host) -> None:
    pr = host.add_pr("ABC-1 Login", ["ABC-1 add the form"])
    hook = host.pr_hook(pr)
    first = host.post(hook)
    again = host.post(hook)  # the host's retry: the same delivery id
    assert first.status_code == 202, first.text
    assert again.status_code == 200 and again.json()["status"] == "duplicate", again.text
    assert host.final_status(host.head(pr))["state"] == "SUCCESSFUL"
    assert len(host.rows()) == 1 and len(host.evaluations()) == 1
    assert host.published(host.head(pr)) == ["SUCCESSFUL"]


# -- heads and races ------------------------------------------------------------------------


def test_a_head_moved_before_processing_gets_no_stale_result(held: Host) -> None:
    """The PR delivery names the old head; the branch moved before the worker took it: only
    the current head gets a result, from one evaluation of it."""
    host = held
    pr = host.add_pr("ABC-1 Login", ["wip"])
    old = host.head(pr)  # would fail: no commit names an issue
    host.accepted(host.pr_hook(pr))
    new = host.move_head(pr, "ABC-1 add the form")
    host.run_pending()
    assert host.status(old) is None and host.published(old) == []
    assert new == host.head(pr)
    assert_one_evaluation_published(host, pr, "SUCCESSFUL")
    assert [e.result for e in host.evaluations()] == ["PASS"]


# every host on SQLite; the queue's compare-and-set on PostgreSQL too, for one host
RACES = [(name, "sqlite") for name in HOSTS] + [
    pytest.param("bitbucket-cloud", "postgres", marks=pytest.mark.postgres)
]


@pytest.mark.parametrize(("name", "database_url"), RACES, indirect=["database_url"])
@pytest.mark.parametrize("order", ["pr-first", "push-first"])
def test_pr_and_push_race_ends_with_one_evaluation_of_the_head(
    name: str, database_url: str, order: str, tmp_path: Path, jira: FakeJira
) -> None:
    """A PR whose title names a nonexistent key (its branch and commits name a real one); the
    head moves after its PR delivery, a push delivery follows, and the two are processed in
    either order. Only the current head gets a result: FAILED, status and report from the same
    evaluation, SUCCESSFUL never shown."""
    with running(name, tmp_path, jira, database_url=database_url, options=HELD) as host:
        pr = host.add_pr("ABC-999 Login", ["ABC-1 add the form"])
        old = host.head(pr)
        by_pr = host.accepted(host.pr_hook(pr))
        host.move_head(pr, "ABC-1 more")
        by_push = host.accepted(host.push_hook(pr))
        first, second = (by_pr, by_push) if order == "pr-first" else (by_push, by_pr)
        host.run_delivery(first)
        host.run_delivery(second)
        host.run_pending()  # what the push queued, if anything
        assert host.status(old) is None and host.published(old) == []
        assert_one_evaluation_published(host, pr, "FAILED")
        assert all(r.state in ("done", "reused") for r in host.rows()), [
            (r.id, r.state, r.last_error) for r in host.rows()
        ]
        assert {e.event["pullRequest"]["head"] for e in host.evaluations()} == {host.head(pr)}


# -- the host misbehaves --------------------------------------------------------------------


def test_a_429_with_retry_after_reschedules_then_publishes(host: Host) -> None:
    """Longer than the retry policy waits in place (2 s): the delivery goes back to the queue
    for then, and no worker sleeps through it."""
    pr = host.add_pr("ABC-1 Login", ["ABC-1 add the form"])
    host.fail(pr, "commits", 429, retry_after="120")
    before = datetime.now(UTC)
    delivery = host.accepted(host.pr_hook(pr))
    assert wait_until(lambda: host.row(delivery).tries == 1 and bool(host.row(delivery).last_error))
    waiting = host.row(delivery)
    assert waiting.state == "pending" and "429" in waiting.last_error
    due = waiting.next_attempt_at.replace(tzinfo=UTC)
    assert before + timedelta(seconds=118) <= due <= datetime.now(UTC) + timedelta(seconds=121)
    assert wait_until(lambda: host.server.worker._running == set())
    assert host.status(host.head(pr)) is None

    make_due(host.server, delivery)
    assert host.final_status(host.head(pr))["state"] == "SUCCESSFUL"
    assert host.row(delivery).tries == 2


def test_an_outage_while_publishing_is_kept_and_retried(host: Host) -> None:
    pr = host.add_pr("ABC-1 Login", ["ABC-1 add the form"])
    host.fail(pr, "publish", 503, times=5)  # outlasts one round of retries
    host.accepted(host.pr_hook(pr))
    assert host.final_status(host.head(pr), timeout=30)["state"] == "SUCCESSFUL"
    (row,) = host.rows()
    assert row.state == "done" and row.tries >= 2
    shown = host.published(host.head(pr))
    # the retry cannot know whether the first try's result reached the head: it may show
    # "in progress" first (a GitHub check run is one run, completed in place)
    assert shown[-1] == "SUCCESSFUL" and set(shown) <= {"INPROGRESS", "SUCCESSFUL"}, shown
    assert_one_evaluation_published(host, pr, "SUCCESSFUL", shown)


# -- missed webhooks and size ---------------------------------------------------------------


def test_reconciliation_finds_a_pr_whose_webhook_never_arrived(host: Host) -> None:
    seen = host.add_pr("ABC-1 Seen", ["ABC-1 a"])
    host.accepted(host.pr_hook(seen))
    assert host.final_status(host.head(seen))["state"] == "SUCCESSFUL"
    missed = host.add_pr("No key here", ["ABC-1 b"])  # its webhook never arrives
    assert host.reconcile() == 1
    assert host.final_status(host.head(missed))["state"] == "FAILED"
    assert host.reconcile() == 0  # nothing left without a result
    listed = host.open_listings()
    _, state = host.listing
    assert listed and all(r.query.get("state") == [state] for r in listed)
    assert len(host.evaluations()) == 2


def test_a_pr_of_500_commits_is_read_in_full(host: Host) -> None:
    """Only the oldest commit names an issue: the evaluation holds all 500 commits, whichever
    end of the list the host starts from and however it pages."""
    commits = ["ABC-1 start"] + [f"change {i}" for i in range(1, 500)]
    pr = host.add_pr("ABC-1 Big", commits)
    host.accepted(host.pr_hook(pr))
    assert host.final_status(host.head(pr), timeout=30)["state"] == "SUCCESSFUL"
    (evaluation,) = host.evaluations()
    assert evaluation.result == "PASS"
    read = evaluation.event["commits"]
    assert len(read) == 500
    assert {c["message"] for c in read} == set(commits)
    pages = host.commit_reads(pr)
    assert len(pages) == host.commit_pages, [(r.path, r.query) for r in pages]


# -- a restart ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTS)
def test_restart_between_receipt_and_processing_loses_nothing(
    name: str, tmp_path: Path, database_url: str, jira: FakeJira
) -> None:
    """The server acknowledges a delivery and stops before processing it; started again on the
    same database it publishes the PR's result, from one evaluation."""
    stopped = replace(FAST_OPTIONS, enabled=False)
    with running(name, tmp_path, jira, database_url=database_url, options=stopped) as host:
        pr = host.add_pr("ABC-1 Login", ["ABC-1 add the form"])
        delivery = host.accepted(host.pr_hook(pr))
        host.http.close()
        host.server.stop()
        assert host.published(host.head(pr)) == []  # received and stored, never processed
        settings = host.server.settings  # the same database and secret key
        host.attach(LiveServer(settings, FAST_OPTIONS).start())
        assert host.final_status(host.head(pr))["state"] == "SUCCESSFUL"
        assert [(r.id, r.state) for r in host.rows()] == [(delivery, "done")]
        assert len(host.evaluations()) == 1
        assert host.published(host.head(pr)) == ["SUCCESSFUL"]
