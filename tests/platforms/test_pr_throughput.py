"""Issue 11 §4 — PR throughput, counted (never timed): Bitbucket requests per evaluated PR, the
hourly request budget, the queue's claim order and the worker's settings.

On b9f4856 a passing PR with the reviewer veto cost 8 requests (GET PR, GET commits, INPROGRESS,
status, DELETE + PUT report, DELETE request-changes, approve); now the webhook payload stands in
for ``GET …/pullrequests/{id}`` when the commit list confirms its head, INPROGRESS and the report's
DELETE are sent only where an earlier result may show, and the veto withdraws only what it sent.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.fakes.fake_bitbucket import FakeBitbucket
from tests.fakes.fake_jira import FakeJira
from tests.platforms.harness import (
    FAST_OPTIONS,
    Guardian,
    LiveServer,
    configure,
    settings_for,
    wait_until,
)
from tests.platforms.processes import make_prs

from jirahooks.errors import UsageError
from jirahooks.pipeline.options import WorkerOptions
from jirahooks.platforms.bitbucket_client import HourlyBudget
from jirahooks.store.database import Database
from jirahooks.store.deliveries import DeliveryRow, claim_due, queue_depth
from jirahooks.store.models import Workspace

KEY = "jirahooks-process-guardian"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeBitbucket, FakeJira]]:
    with FakeBitbucket() as bitbucket, FakeJira("cloud") as jira:
        yield bitbucket, jira


def start(
    tmp_path: Path,
    fakes: tuple[FakeBitbucket, FakeJira],
    options: WorkerOptions = FAST_OPTIONS,
    review: bool = True,
) -> Guardian:
    server = LiveServer(settings_for(tmp_path), options).start()
    return configure(server, *fakes, admin_token=server.state.first_start.token, review=review)


def shape(g: Guardian, pr_id: int, head: str) -> list[tuple[str, str]]:
    """The requests of one PR as (method, what): what is the path after the repository, with
    the head commit written ``{head}``."""
    out = []
    for r in g.bitbucket.requests:
        rest = r.path.split("/api-service", 1)[1]
        if re.fullmatch(rf"/pullrequests/{pr_id}(/.*)?", rest) or f"/commit/{head}" in rest:
            out.append((r.method, rest.replace(head, "{head}").replace(f"/{pr_id}", "/{id}")))
    return out


def test_a_passing_pr_with_the_veto_costs_four_requests(
    tmp_path: Path, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    """20 passing PRs (after a warm-up one): each exactly its commit list, its status, its
    report and the approval — 4 requests per evaluated PR, no GET of the PR, no DELETE."""
    g = start(tmp_path, fakes)
    try:
        warm, *prs = make_prs(g.bitbucket, g.repo, 21)
        g.deliver(warm)
        g.final_status(warm.head)
        g.bitbucket.reset_log()
        for pr in prs:
            assert g.deliver(pr).status_code == 202
        for pr in prs:
            assert g.final_status(pr.head)["state"] == "SUCCESSFUL"
        g.settle()
        expected = [
            ("GET", "/pullrequests/{id}/commits"),
            ("POST", "/commit/{head}/statuses/build"),
            ("PUT", f"/commit/{{head}}/reports/{KEY}"),
            ("POST", "/pullrequests/{id}/approve"),
        ]
        for pr in prs:
            assert shape(g, pr.id, pr.head) == expected
        assert len(g.bitbucket.requests) == 4 * len(prs)
    finally:
        g.http.close()
        g.server.stop()


def test_a_failing_pr_costs_four_requests_without_the_veto(
    tmp_path: Path, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    """A failing PR: its commit list, status, report and one bulk POST of its annotations."""
    g = start(tmp_path, fakes, review=False)
    try:
        pr = g.bitbucket.add_pr(g.repo, "Login", source="feature/login", commits=["wip", "more"])
        g.deliver(pr)
        assert g.final_status(pr.head)["state"] == "FAILED"
        g.settle()
        assert shape(g, pr.id, pr.head) == [
            ("GET", "/pullrequests/{id}/commits"),
            ("POST", "/commit/{head}/statuses/build"),
            ("PUT", f"/commit/{{head}}/reports/{KEY}"),
            ("POST", f"/commit/{{head}}/reports/{KEY}/annotations"),
        ]
        assert len(g.bitbucket.annotations(g.repo, pr.head, KEY)) == 2  # title, commits rule
    finally:
        g.http.close()
        g.server.stop()


def test_a_payload_whose_head_moved_is_not_trusted(
    tmp_path: Path, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    """The branch moved after the webhook was sent: the commit list's newest commit is not the
    payload's head, so the PR is fetched and its current head evaluated (title from the API)."""
    g = start(tmp_path, fakes, replace(FAST_OPTIONS, enabled=False), review=False)
    try:
        pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1"])
        assert g.deliver(pr).status_code == 202  # stored; no worker runs yet
        g.bitbucket.push(g.repo, pr, "ABC-1 more")
        pr.title = "ABC-999 Login"  # the API says so now; the payload said ABC-1
        g.server.run(g.server.worker.start())
        assert g.final_status(pr.head)["state"] == "FAILED"
        assert ("GET", "/pullrequests/{id}") in shape(g, pr.id, pr.head)
    finally:
        g.http.close()
        g.server.stop()


def test_an_exhausted_hourly_budget_reschedules_instead_of_sending(
    tmp_path: Path, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    """With a budget of 2 requests per hour, the third waits: nothing more is sent, and the
    delivery goes back to the queue for when the budget allows (capped like a Retry-After)."""
    g = start(tmp_path, fakes, replace(FAST_OPTIONS, requests_per_hour=2))
    try:
        pr = g.bitbucket.add_pr(g.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1"])
        before = datetime.now(UTC)
        g.deliver(pr)

        async def row() -> DeliveryRow | None:
            async with g.server.state.database.session() as session:
                return await session.scalar(select(DeliveryRow))

        assert wait_until(lambda: (g.server.run(row()) or DeliveryRow()).last_error != "")
        waiting = g.server.run(row())
        assert waiting.state == "pending" and "budget" in waiting.last_error
        assert waiting.next_attempt_at >= before + timedelta(seconds=FAST_OPTIONS.retry_after_cap)
        assert len(g.bitbucket.requests) == 2
    finally:
        g.http.close()
        g.server.stop()


def test_hourly_budget_counts_a_rolling_hour() -> None:
    now = [0.0]
    budget = HourlyBudget(3, clock=lambda: now[0])
    for t in (0.0, 10.0, 20.0):
        now[0] = t
        assert budget.wait() == 0.0
        budget.take()
    now[0] = 30.0
    assert budget.wait() == pytest.approx(3570.0)  # the first one leaves the window at 3600
    now[0] = 3600.0
    assert budget.wait() == 0.0
    assert HourlyBudget(0).wait() == 0.0  # no budget


def test_worker_settings_from_the_environment() -> None:
    options = WorkerOptions.from_env(
        {
            "JIRAHOOKS_PR_CONCURRENCY": "16",
            "JIRAHOOKS_PR_LEASE_SECONDS": "6",
            "JIRAHOOKS_PR_POLL_SECONDS": "0.25",
            "JIRAHOOKS_BITBUCKET_REQUESTS_PER_HOUR": "500",
        }
    )
    assert (options.concurrency, options.lease_seconds, options.heartbeat_seconds) == (16, 6, 2)
    assert (options.poll_seconds, options.requests_per_hour) == (0.25, 500)
    for name, bad in [
        ("JIRAHOOKS_PR_CONCURRENCY", "0"),
        ("JIRAHOOKS_PR_CONCURRENCY", "2.5"),
        ("JIRAHOOKS_PR_CONCURRENCY", "many"),
        ("JIRAHOOKS_PR_LEASE_SECONDS", "1"),
        ("JIRAHOOKS_PR_POLL_SECONDS", "nan"),
        ("JIRAHOOKS_BITBUCKET_REQUESTS_PER_HOUR", "-1"),
    ]:
        with pytest.raises(UsageError) as raised:
            WorkerOptions.from_env({name: bad})
        assert name in raised.value.message and raised.value.hint


def test_claims_take_one_delivery_per_pull_request_oldest_first(tmp_path: Path) -> None:
    """Two deliveries of PR 1 and one of PR 2: a claim takes PR 1's older one and PR 2's; PR 1's
    newer one only once the older is finished. The queue's depth says what waits."""

    async def main() -> None:
        database = Database(f"sqlite:///{tmp_path / 'q.sqlite3'}")
        await database.prepare(upgrade=False)
        try:
            async with database.session() as session:
                ws = Workspace(slug="w", name="w")
                session.add(ws)
                await session.flush()
                for key, pr in (("a", "1"), ("b", "1"), ("c", "2")):
                    session.add(
                        DeliveryRow(
                            workspace_id=ws.id,
                            platform="bitbucket-cloud",
                            dedupe_key=key,
                            repository="api",
                            pull_request_id=pr,
                        )
                    )
                await session.commit()
            async with database.session() as session:
                depth = await queue_depth(session)
                assert (depth.pending, depth.due, depth.processing) == (3, 3, 0)
                first = await claim_due(
                    session, owner="me", limit=10, lease_seconds=15, skip_locked=False
                )
            assert [(c.id, c.pull_request_id) for c in first] == [(1, "1"), (3, "2")]
            async with database.session() as session:
                assert (
                    await claim_due(
                        session, owner="me", limit=10, lease_seconds=15, skip_locked=False
                    )
                    == []
                )
                row = await session.get(DeliveryRow, 1)
                assert row is not None and row.lease_owner == "me/1" and row.tries == 1
                row.state = "done"
                await session.commit()
                depth = await queue_depth(session)
                assert (depth.pending, depth.processing) == (1, 1)
                later = await claim_due(
                    session, owner="me", limit=10, lease_seconds=15, skip_locked=False
                )
            assert [c.id for c in later] == [2]
        finally:
            await database.dispose()

    asyncio.run(main())
