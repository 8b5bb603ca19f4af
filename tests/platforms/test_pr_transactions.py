"""Issue 11 §4 — database work per evaluated pull request (decision 0013), on SQLite and
PostgreSQL: counted, not timed. A passing PR with the veto costs 4 database sessions in its
processing attempt (prepare, store, published, finish — the claim is shared by the deliveries
it takes), 3 without the veto; the stage timeline of each attempt names where time went."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fakes.fake_bitbucket import FakeBitbucket
from tests.fakes.fake_jira import FakeJira
from tests.platforms.harness import FAST_OPTIONS, LiveServer, configure, settings_for, wait_until
from tests.platforms.processes import make_prs


@pytest.fixture
def fakes() -> Iterator[tuple[FakeBitbucket, FakeJira]]:
    with FakeBitbucket() as bitbucket, FakeJira("cloud") as jira:
        yield bitbucket, jira


@pytest.mark.parametrize("review", [True, False], ids=["veto", "no-veto"])
def test_database_sessions_per_evaluated_pr(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira], review: bool
) -> None:
    server = LiveServer(settings_for(tmp_path, database_url), FAST_OPTIONS).start()
    g = configure(server, *fakes, admin_token=server.state.first_start.token, review=review)
    try:
        warm, *prs = make_prs(g.bitbucket, g.repo, 6)
        g.deliver(warm)
        g.final_status(warm.head)
        assert wait_until(lambda: len(g.server.worker.timelines) == 1)
        for pr in prs:
            assert g.deliver(pr).status_code == 202
        for pr in prs:
            assert g.final_status(pr.head)["state"] == "SUCCESSFUL"
        g.settle()
        assert wait_until(lambda: len(g.server.worker.timelines) == 1 + len(prs))
        timelines = list(g.server.worker.timelines)[1:]
        assert [t.sessions for t in timelines] == [4 if review else 3] * len(prs)
        for t in timelines:
            assert {"queue", "claim", "db", "bitbucket", "final", "process"} <= set(t.seconds)
    finally:
        g.http.close()
        g.server.stop()
