"""While a 100,000-commit push is validated, the server keeps answering (issue 11, section 3).

A live uvicorn server gets a signed, gzip-compressed first push of 100,000 real-length commits
(62 MB of JSON, 21 MB sent). Its CPU pool is gated (tests/support/gated_pool.py): each job
announces itself from its pool thread and waits there until the test has had ``/healthz``
answered — so every such answer *completes before the big one*, by construction, and the
assertions are facts of order, not timings:

* every CPU-heavy step of the big request ran as a pool job, off the event loop: the signature
  over the 21 MB body, inflating it, parsing the JSON, planning, judging, rendering the bounded
  document and encoding the answer;
* while each of them was pending, ``/healthz`` answered;
* the big push is answered 200 with its verdict, naming every failing commit.

On b9f4856 the push is answered 413 (the body limit was 1 MiB, and gzip was not understood).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import WS, make_settings
from tests.server.test_event_loop_free import _setup
from tests.support.gated_pool import GatedPool, next_job
from tests.support.live import UvicornThread
from tests.support.pushes import commits, compact, push

from jirahooks.server import create_app

COMMITS = 100_000
FAILING_EVERY = 1_000


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[UvicornThread, str]]:
    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'live.sqlite3'}"))
    with UvicornThread(app) as server:
        yield server, app.state.jirahooks.first_start.token


def _is_subsequence(wanted: list[str], ran: list[str]) -> bool:
    jobs = iter(ran)
    return all(name in jobs for name in wanted)


@pytest.mark.slow
def test_healthz_answers_while_a_100_000_commit_push_is_validated(
    live: tuple[UvicornThread, str],
) -> None:
    server, admin = live
    secret = _setup(server.url, admin)
    body = gzip.compress(compact(push(commits(COMMITS, failing_every=FAILING_EVERY))), 1)
    assert len(body) > 10 * 1024 * 1024
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    pool = GatedPool()
    server.app.state.jirahooks.cpu = pool
    answer: queue.Queue[httpx.Response | BaseException] = queue.Queue()

    def send() -> None:
        try:
            with httpx.Client(timeout=600) as client:
                answer.put(
                    client.post(
                        f"{server.url}/api/validate/{WS}?repoSlug=api",
                        content=body,
                        headers={"x-hub-signature-256": signature, "Content-Encoding": "gzip"},
                    )
                )
        except BaseException as exc:  # reported below
            answer.put(exc)

    threading.Thread(target=send, daemon=True).start()
    answered_while_pending: list[str] = []
    with httpx.Client(timeout=60) as health:
        while answer.empty():
            job = next_job(pool, answer.empty)
            if job is None:
                break
            response = health.get(f"{server.url}/healthz")
            assert response.json() == {"status": "ok"}
            assert answer.empty()  # /healthz completed before the big push
            answered_while_pending.append(job)
            pool.go.release()
    result = answer.get(timeout=600)
    assert isinstance(result, httpx.Response), result
    assert result.status_code == 200, result.text[:500]
    document = result.json()
    assert document["result"] == "BLOCK"  # the branch has a key; 100 commits have none
    keys = next(v for v in document["ruleValidations"] if v["rule"]["id"] == "commit-key-required")
    assert keys["failingCommits"] == [f"{i + 1:040x}" for i in range(0, COMMITS, FAILING_EVERY)]
    heavy = [
        "_verify",  # HMAC-SHA256 over the 21 MB as sent
        "inflate_body",
        "parse_payload",
        "_plan_all",
        "_judge_all",
        "to_document",
        "_encode",
    ]
    assert _is_subsequence(heavy, pool.ran), pool.ran
    assert answered_while_pending == pool.ran
