"""Issue 10 §4 — a green status only from a full evaluation. Over real HTTP (uvicorn, the fake
Bitbucket and Jira as servers) on SQLite and PostgreSQL:

- a ``repo:push`` re-evaluates the open PRs of the pushed branch (listed from the API) and posts
  nothing for a branch without one;
- PR and push deliveries of one PR processed in either order, and a stale PR delivery, are
  tested for every host (tests/pipeline/test_every_host.py);
- the reviewer veto follows the head;
- ``Retry-After`` reschedules the delivery (``next_attempt_at``) instead of a sleeping worker;
- a live worker's heartbeat keeps its lease; a crashed worker's delivery is resumed by another
  after the short lease and nothing is published twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.fakes.fake_bitbucket import FakeBitbucket, FakePullRequest
from tests.fakes.fake_jira import FakeJira
from tests.pipeline.hosts import BRANCH_RULE
from tests.platforms.harness import (
    FAST_OPTIONS,
    PR_RULES,
    SECRET,
    WS,
    Guardian,
    LiveServer,
    configure,
    delivery_rows,
    make_due,
    settings_for,
    wait_until,
)
from tests.platforms.payloads import push_event

from jirahooks.pipeline.options import WorkerOptions
from jirahooks.store.deliveries import DeliveryRow
from jirahooks.store.models import EvaluationRow

KEY = "jirahooks-process-guardian"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeBitbucket, FakeJira]]:
    with FakeBitbucket() as bitbucket, FakeJira("cloud") as jira:
        try:
            yield bitbucket, jira
        finally:
            bitbucket.release_all()


def live(
    tmp_path: Path,
    database_url: str,
    fakes: tuple[FakeBitbucket, FakeJira],
    options: WorkerOptions = FAST_OPTIONS,
    rules: list[dict[str, Any]] | None = None,
) -> Guardian:
    server = LiveServer(settings_for(tmp_path, database_url), options).start()
    return configure(server, *fakes, admin_token=server.state.first_start.token, rules=rules)


def close(g: Guardian) -> None:
    g.http.close()
    g.server.stop()


def push(g: Guardian, branch: str, commits: list[str]) -> int:
    headers, body = push_event(g.bitbucket, g.repo, branch, commits, secret=SECRET)
    response = g.http.post(f"/webhooks/bitbucket/{WS}", content=body, headers=headers)
    assert response.status_code == 202, response.text
    return int(response.json()["delivery"])


def deliver(g: Guardian, pr: FakePullRequest, event_key: str = "pullrequest:created") -> int:
    response = g.deliver(pr, event_key)
    assert response.status_code == 202, response.text
    return int(response.json()["delivery"])


def rows(g: Guardian) -> list[DeliveryRow]:
    return delivery_rows(g)


def row(g: Guardian, delivery_id: int) -> DeliveryRow:
    return next(r for r in rows(g) if r.id == delivery_id)


def stored_evaluations(g: Guardian) -> list[EvaluationRow]:
    async def load() -> list[EvaluationRow]:
        async with g.server.state.database.session() as session:
            found = await session.execute(select(EvaluationRow).order_by(EvaluationRow.id))
            return list(found.scalars())

    result: list[EvaluationRow] = g.server.run(load())
    return result


def evaluation_id_of(url: str) -> int:
    match = re.search(r"/evaluations/(\d+)$", url)
    assert match, url
    return int(match.group(1))


def statuses_posted(g: Guardian, commit: str) -> list[str]:
    """The states posted under the Guardian's key on ``commit``, in order. A commit nothing was
    published on gets its result only (no status blocks the merge check as INPROGRESS does);
    a commit that shows an earlier result gets INPROGRESS first (issue 11 §4)."""
    return [
        r.body["state"]
        for r in g.bitbucket.requests_to(f"/commit/{commit}/statuses/build", method="POST")
        if r.body.get("key") == KEY
    ]


def assert_one_evaluation_published(g: Guardian, pr: FakePullRequest, state: str) -> int:
    """Status and report on the PR's current head come from one evaluation of that head."""
    status = g.status(pr.head)
    report = g.bitbucket.report(g.repo, pr.head, KEY)
    assert status is not None and report is not None
    assert status["state"] == state
    assert report["result"] == ("PASSED" if state == "SUCCESSFUL" else "FAILED")
    evaluation = evaluation_id_of(status["url"])
    assert evaluation_id_of(report["link"]) == evaluation
    stored = {e.id: e for e in stored_evaluations(g)}
    assert stored[evaluation].trigger == "PULL_REQUEST"
    assert stored[evaluation].event["pullRequest"]["head"] == pr.head
    return evaluation


# -- pushes ---------------------------------------------------------------------------------


def test_push_before_the_pr_is_known_gets_the_full_pr_evaluation(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    """The PR exists on Bitbucket but its own webhook has not arrived: the push finds it through
    the API and the PR (its title names a nonexistent key) is evaluated in full — no green status
    from the branch name alone."""
    g = live(tmp_path, database_url, fakes, rules=[*PR_RULES, BRANCH_RULE])
    try:
        pr = g.bitbucket.add_pr(
            g.repo, "ABC-999 Login", source="feature/ABC-1", commits=["ABC-1 form", "ABC-1 more"]
        )
        push(g, "feature/ABC-1", pr.commits)
        assert g.final_status(pr.head)["state"] == "FAILED"
        assert "SUCCESSFUL" not in statuses_posted(g, pr.head)
        assert_one_evaluation_published(g, pr, "FAILED")
        listed = [
            r
            for r in g.bitbucket.requests_to("/pullrequests", method="GET")
            if r.path.endswith("/pullrequests")
        ]
        assert listed and all(
            r.query.get("q") == ['source.branch.name="feature/ABC-1"']
            and r.query.get("state") == ["OPEN"]
            for r in listed
        )
    finally:
        close(g)


def test_push_to_a_branch_without_a_pr_posts_nothing(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    """A push to ``main`` (no PR; the branch rule would fail it) posts no status and records no
    evaluation — and no PULL_REQUEST evaluation in particular."""
    g = live(tmp_path, database_url, fakes, rules=[*PR_RULES, BRANCH_RULE])
    try:
        other = g.bitbucket.add_pr(g.repo, "ABC-1 Other", source="feature/ABC-1")
        commits = [g.bitbucket.add_commit(g.repo, "merge stuff").hash]
        delivery = push(g, "main", commits)
        assert wait_until(lambda: row(g, delivery).state == "done")
        g.settle()
        assert g.bitbucket.count("/statuses/build") == 0
        assert g.bitbucket.count("/reports/") == 0
        assert stored_evaluations(g) == []
        assert g.status(other.head) is None
    finally:
        close(g)


# -- races ----------------------------------------------------------------------------------


# -- the veto -------------------------------------------------------------------------------


def test_the_veto_follows_the_head(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    """The repository resets reviews on push: after new (still failing) commits the Guardian
    requests changes again on the new head; the same evaluation never sends it twice."""
    g = live(tmp_path, database_url, fakes)
    try:
        pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["wip"])
        deliver(g, pr)
        assert g.final_status(pr.head)["state"] == "FAILED"
        assert wait_until(lambda: g.bitbucket.review_state(g.repo, pr) == "changes_requested")
        g.bitbucket.push(g.repo, pr, "more wip", reset_reviews=True)
        assert g.bitbucket.review_state(g.repo, pr) is None
        deliver(g, pr, "pullrequest:updated")
        assert g.final_status(pr.head)["state"] == "FAILED"
        assert wait_until(lambda: g.bitbucket.review_state(g.repo, pr) == "changes_requested")
        g.settle()
        assert g.bitbucket.count("/request-changes", method="POST") == 2
        # a recheck of the same head with the same verdict sends nothing new
        g.api("POST", f"/workspaces/{WS}/repositories/api-service/pull-requests/{pr.id}/recheck")
        assert wait_until(lambda: len(stored_evaluations(g)) == 3)
        g.settle()
        assert g.bitbucket.count("/request-changes", method="POST") == 2
    finally:
        close(g)


# -- Retry-After ----------------------------------------------------------------------------


def _http_date(seconds: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize(
    ("code", "retry_after", "expected"),
    [(429, "120", 120.0), (429, "http-date", 120.0), (503, "120", 120.0), (429, "7200", 900.0)],
    ids=["seconds", "http-date", "503", "over-the-cap"],
)
def test_retry_after_reschedules_the_delivery(
    tmp_path: Path,
    database_url: str,
    fakes: tuple[FakeBitbucket, FakeJira],
    code: int,
    retry_after: str,
    expected: float,
) -> None:
    """429 with a long ``Retry-After``: the delivery goes back to the queue for exactly then
    (at most the 15-minute cap), after one request — no worker sleeps through it."""
    g = live(tmp_path, database_url, fakes)
    try:
        pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1"])
        header = _http_date(120) if retry_after == "http-date" else retry_after
        g.bitbucket.fail(code, retry_after=header, path=f"/pullrequests/{pr.id}", method="GET")
        before = datetime.now(UTC)
        delivery = deliver(g, pr)
        assert wait_until(lambda: row(g, delivery).tries == 1 and row(g, delivery).last_error)
        after = datetime.now(UTC)
        waiting = row(g, delivery)
        assert waiting.state == "pending"
        assert str(code) in waiting.last_error
        slack = timedelta(seconds=1.5)  # an HTTP date has whole seconds
        due = waiting.next_attempt_at
        assert before + timedelta(seconds=expected) - slack <= due
        assert due <= after + timedelta(seconds=expected) + slack
        assert g.bitbucket.count(f"/pullrequests/{pr.id}", method="GET") == 1
        # nobody is sleeping on it: the worker's task ends right after it stored the attempt (a
        # worker waiting out a 120 s Retry-After would hold it far longer than wait_until waits)
        assert wait_until(lambda: g.server.worker._running == set())
        assert g.status(pr.head) is None

        make_due(g.server, delivery)  # when the time comes, the delivery is processed
        assert g.final_status(pr.head)["state"] == "SUCCESSFUL"
        assert row(g, delivery).tries == 2
    finally:
        close(g)


# -- leases ---------------------------------------------------------------------------------


def lease_of(g: Guardian, delivery_id: int) -> tuple[str, datetime | None]:
    current = row(g, delivery_id)
    return current.state, current.claimed_at


def test_a_live_worker_keeps_its_lease_with_a_heartbeat(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    """Bitbucket is slow past the (short) lease: the worker renews it, a second server on the same
    database does not take the delivery over, and the result is published once."""
    # a lease of 3 s renewed every 0.1 s: a loaded machine can stall the heartbeat for a second
    # (a 1 s lease then lapsed and the other server took the delivery over)
    options = replace(FAST_OPTIONS, lease_seconds=3.0, heartbeat_seconds=0.1)
    g = live(tmp_path, database_url, fakes, options)
    other = LiveServer(g.server.settings, options).start()
    try:
        pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1"])
        slow = g.bitbucket.hold(path=f"/pullrequests/{pr.id}/commits", method="GET")
        delivery = deliver(g, pr)
        assert slow.arrived.wait(15)
        _, first = lease_of(g, delivery)
        assert first is not None
        # the lease is renewed past its length while the request hangs
        assert wait_until(
            lambda: (lease_of(g, delivery)[1] or first) > first + timedelta(seconds=4.0),
            timeout=30,
        ), "the lease was not renewed"
        assert other.run(other.worker.drain()) == 0  # not claimable: its lease is alive
        slow.release.set()  # type: ignore[union-attr]
        assert g.final_status(pr.head)["state"] == "SUCCESSFUL"
        g.settle()
        assert wait_until(lambda: row(g, delivery).state == "done")
        assert statuses_posted(g, pr.head) == ["SUCCESSFUL"]
        assert g.bitbucket.count("/reports/", method="PUT") == 1
        assert len(stored_evaluations(g)) == 1
    finally:
        other.stop()
        close(g)


def test_a_crashed_workers_delivery_is_resumed_and_published_once(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    """The worker dies after publishing status and report, while sending the veto (its lease
    stays taken). Another server resumes the delivery after the short lease: only the veto is
    sent — the evaluation is not published twice and its annotations are not duplicated."""
    options = replace(FAST_OPTIONS, lease_seconds=1.0, heartbeat_seconds=0.1)
    g = live(tmp_path, database_url, fakes, options)
    try:
        pr = g.bitbucket.add_pr(g.repo, "ABC-3 Login", source="feature/ABC-3", commits=["wip"])
        veto = g.bitbucket.hold(path="/request-changes", method="POST", passthrough=False)
        delivery = deliver(g, pr)
        assert veto.arrived.wait(15)
        assert lease_of(g, delivery)[0] == "processing"
        g.server.stop()  # cancelled mid-request: nothing released, like a crash
        veto.release.set()  # type: ignore[union-attr]
        published = {r.path for r in g.bitbucket.requests_to("/reports/", method="PUT")}
        assert len(published) == 1
        notes_before = g.bitbucket.annotations(g.repo, pr.head, KEY)
        assert notes_before
        g.jira.add_issue("ABC-3", status="In Progress")  # a re-evaluation would differ now

        g.server = LiveServer(g.server.settings, options).start()
        assert wait_until(lambda: row(g, delivery).state in ("done", "reused"), timeout=30), (
            row(g, delivery).state,
            row(g, delivery).last_error,
        )
        assert wait_until(lambda: g.bitbucket.review_state(g.repo, pr) == "changes_requested")
        g.settle()
        assert statuses_posted(g, pr.head) == ["FAILED"]
        assert g.bitbucket.count("/reports/", method="PUT") == 1
        assert g.bitbucket.count("/annotations", method="POST") == 1
        assert g.bitbucket.annotations(g.repo, pr.head, KEY) == notes_before
        assert len(stored_evaluations(g)) == 1
        assert_one_evaluation_published(g, pr, "FAILED")
    finally:
        close(g)


def test_reprocessing_a_head_replaces_the_annotations(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    """A new evaluation of the same head (recheck after the title was fixed) replaces the
    report: the old evaluation's annotations do not linger next to the new ones."""
    g = live(tmp_path, database_url, fakes)
    try:
        pr = g.bitbucket.add_pr(g.repo, "ABC-3 Login", source="feature/ABC-3", commits=["wip"])
        deliver(g, pr)
        g.final_status(pr.head)
        before = g.bitbucket.annotations(g.repo, pr.head, KEY)
        assert any(n["summary"].startswith("PR title") for n in before)
        pr.title = "ABC-1 Login"  # same head, the title fixed
        g.api("POST", f"/workspaces/{WS}/repositories/api-service/pull-requests/{pr.id}/recheck")
        assert wait_until(lambda: len(stored_evaluations(g)) == 2)
        g.settle()
        notes = g.bitbucket.annotations(g.repo, pr.head, KEY)
        last = g.bitbucket.requests_to("/annotations", method="POST")[-1].body
        assert sorted(n["external_id"] for n in notes) == sorted(a["external_id"] for a in last)
        assert notes and all(n["summary"].startswith("Commits reference") for n in notes)
        assert_one_evaluation_published(g, pr, "FAILED")
        # the head showed the first result: INPROGRESS while it was evaluated again
        assert statuses_posted(g, pr.head) == ["FAILED", "INPROGRESS", "FAILED"]
        assert g.bitbucket.count(f"/commit/{pr.head}/reports/{KEY}", method="DELETE") == 1
    finally:
        close(g)


def test_default_lease_is_short_and_renewed() -> None:
    options = WorkerOptions()
    assert options.lease_seconds <= 15
    assert options.heartbeat_seconds * 2 <= options.lease_seconds
    assert options.retry_after_cap == 900


def test_an_older_evaluation_never_overwrites_a_newer_one(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    """Worker 1 fetched the PR at head 1 and then stalled (its heartbeat too) past its lease;
    the branch moved on and worker 2 evaluated and published head 2. When worker 1 wakes up, the
    compare-and-set refuses it: it posts nothing at all, on either head."""
    stalled = replace(FAST_OPTIONS, lease_seconds=1.0, heartbeat_seconds=600.0)
    g = live(tmp_path, database_url, fakes, stalled)
    second = LiveServer(
        g.server.settings, replace(FAST_OPTIONS, lease_seconds=1.0, heartbeat_seconds=0.1)
    )
    try:
        pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1"])
        old_head = pr.head
        slow = g.bitbucket.hold(path=f"/pullrequests/{pr.id}/commits", method="GET")
        first = deliver(g, pr)
        assert slow.arrived.wait(15)
        g.bitbucket.push(g.repo, pr, "ABC-1 more")
        pr.title = "ABC-999 Login"  # the new state fails (a nonexistent key)
        second.start()
        assert wait_until(lambda: g.status(pr.head) is not None, timeout=30)
        assert wait_until(
            lambda: (
                (g.status(pr.head) or {}).get("state") == "FAILED"
                and row(g, first).state in ("done", "reused")
            ),
            timeout=30,
        ), [(r.id, r.state, r.last_error) for r in rows(g)]
        slow.release.set()  # type: ignore[union-attr]
        assert wait_until(lambda: not g.server.worker._running, timeout=30)
        assert statuses_posted(g, old_head) == []
        assert g.bitbucket.report(g.repo, old_head, KEY) is None
        # the second server took the stalled delivery over (its second try): INPROGRESS first
        assert statuses_posted(g, pr.head) == ["INPROGRESS", "FAILED"]
        assert_one_evaluation_published(g, pr, "FAILED")
    finally:
        second.stop()
        close(g)


def test_a_delivery_that_keeps_being_rate_limited_fails_visibly(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    """Every attempt counts, Retry-After or not: after ``max_tries`` the delivery is ``failed``
    with the reason kept, and no result was published on the way."""
    g = live(tmp_path, database_url, fakes, replace(FAST_OPTIONS, max_tries=3))
    try:
        pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1"])
        g.bitbucket.fail(429, retry_after="0", times=-1, path=f"/pullrequests/{pr.id}")
        delivery = deliver(g, pr)
        assert wait_until(lambda: row(g, delivery).state == "failed", timeout=30)
        failed = row(g, delivery)
        assert failed.tries == 3 and "429" in failed.last_error
        assert g.bitbucket.count("/statuses/build") == 0
        assert stored_evaluations(g) == []
    finally:
        close(g)
