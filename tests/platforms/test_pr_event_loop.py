"""A pull request with a hostile commit message does not freeze the server (issue 10, section 1).

Anyone who can open a PR controls its commit messages: on b9f4856 one of 100 KB of ``A`` froze
the server for 11 s (the default key pattern was quadratic, and the PR worker evaluated on the
event loop). Here the app's CPU pool is gated (tests/support/gated_pool.py): every CPU step of
the PR evaluation must reach the pool, and ``/healthz`` must answer while each one waits there.
Facts of order, not timings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.platforms.harness import Guardian, live_guardian
from tests.support.gated_pool import GatedPool, next_job

HEALTH_ANSWERS_PER_JOB = 3


@pytest.fixture
def guardian(tmp_path: Path, database_url: str) -> Iterator[Guardian]:
    with live_guardian(tmp_path, database_url) as made:
        yield made


def test_healthz_answers_while_a_hostile_pull_request_is_evaluated(guardian: Guardian) -> None:
    g = guardian
    pool = GatedPool()
    g.server.state.cpu = pool
    pr = g.bitbucket.add_pr(
        g.repo, "ABC-1 Login form", source="feature/login", commits=["A" * 40_000]
    )
    # The intake parses the delivery on the pool too, so it waits there: deliver from a thread.
    delivered: list[int] = []
    sender = threading.Thread(target=lambda: delivered.append(g.deliver(pr).status_code))
    sender.start()

    def pending() -> bool:
        status = g.status(pr.head)
        return status is None or status["state"] not in ("SUCCESSFUL", "FAILED")

    health_while_pending: dict[str, int] = {}
    while pending():
        job = next_job(pool, pending)
        if job is None:
            break
        for _ in range(HEALTH_ANSWERS_PER_JOB):
            response = g.http.get("/healthz")
            assert response.json() == {"status": "ok"}
            health_while_pending[job] = health_while_pending.get(job, 0) + 1
        pool.go.release()

    sender.join(timeout=60)
    assert delivered == [202]
    status = g.final_status(pr.head)
    assert status["state"] == "FAILED"  # the commit names no issue
    # the webhook handler checks and parses the body (one trip), the worker parses the stored
    # one again and the rules of the workspace and of the repository (the configuration
    # snapshot)
    expected = [
        "_checked",
        "parse_delivery",
        "_parse",
        "_parse",
        "_plan_all",
        "_judge_all",  # with the "did you mean" hints of the failing rules
        "to_document",
        "content_digests",  # the stored evaluation's digests (evidence chain), off the loop too
    ]
    assert pool.ran == expected
    assert health_while_pending == {
        job: expected.count(job) * HEALTH_ANSWERS_PER_JOB for job in expected
    }
