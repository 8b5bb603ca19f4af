"""While a hostile request is evaluated, the server keeps answering (issue 10, section 1).

A live uvicorn server gets a signed Validation API push with a hostile branch name (40 KB of
letters, no key: the old default pattern was quadratic on it) and 10,000 commits. The app's CPU
pool is wrapped so each job waits, in its pool thread, until the test has had ``/healthz``
answered several times; only then may it run. So the assertions are facts of order, not timings:

* every CPU-heavy step (parsing the body, parsing the rules into the configuration snapshot,
  planning = key extraction, judging, rendering the
  document, encoding the answer and the stored event) ran as a job of the pool, i.e. not on the
  event loop;
* while each of those jobs was pending, ``/healthz`` answered (several times);
* the answer is still the right one (the branch has no key: BLOCK).

On b9f4856 there is no pool: the request is evaluated on the event loop, so no job ever reaches
the pool (and ``/healthz`` cannot answer while the branch is scanned, ~17 s there). The branch is
40 KB, not 1 MB, because this server shares the test's process: on b9f4856 a 1 MB scan holds the
GIL inside one ``re`` call for hours, so the test could not even fail.
tests/server/test_hostile_requests.py sends the 1 MB inputs to a ``jirahooks serve`` process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import WS, make_settings
from tests.support.gated_pool import GatedPool, next_job
from tests.support.live import UvicornThread

from jirahooks.server import create_app

HEALTH_ANSWERS_PER_JOB = 3


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[tuple[UvicornThread, str]]:
    app = create_app(make_settings(tmp_path, database_url))
    with UvicornThread(app) as server:
        yield server, app.state.jirahooks.first_start.token


def _setup(base: str, admin: str) -> str:
    auth = {"Authorization": f"Bearer {admin}"}
    api = f"{base}/api/v1/workspaces/{WS}"
    with httpx.Client(timeout=30) as client:
        assert client.post(f"{api}/repositories", json={"slug": "api"}, headers=auth).is_success
        for template in ("branch-key-required", "commit-key-required"):
            created = client.post(
                f"{api}/rules/from-template", json={"template": template}, headers=auth
            )
            assert created.is_success, created.text
        token = client.post(
            f"{api}/validation-tokens", json={"name": "hooks", "repository": "api"}, headers=auth
        )
        assert token.is_success, token.text
        secret: str = token.json()["secret"]
        return secret


def _hostile_push() -> bytes:
    payload = {
        "triggerType": "PUSH",
        "branchName": "feature/" + "b" * 40_000,
        "commits": [{"hash": f"c{i}", "message": f"fix AB-{i + 1}"} for i in range(10_000)],
    }
    body = json.dumps(payload, separators=(",", ":")).encode()
    assert len(body) < 1024 * 1024  # under the body limit: this request is legal
    return body


def test_healthz_answers_while_a_hostile_push_is_evaluated(
    live: tuple[UvicornThread, str],
) -> None:
    server, admin = live
    secret = _setup(server.url, admin)
    pool = GatedPool()
    state = server.app.state.jirahooks
    state.cpu = pool

    body = _hostile_push()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    answer: queue.Queue[httpx.Response | BaseException] = queue.Queue()

    def send() -> None:
        try:
            with httpx.Client(timeout=300) as client:
                answer.put(
                    client.post(
                        f"{server.url}/api/validate/{WS}?repoSlug=api",
                        content=body,
                        headers={"x-hub-signature-256": signature},
                    )
                )
        except BaseException as exc:  # reported below
            answer.put(exc)

    threading.Thread(target=send, daemon=True).start()
    health_while_pending: list[tuple[str, int]] = []  # (job, /healthz answers while it waited)
    with httpx.Client(timeout=30) as health:
        while answer.empty():
            job = next_job(pool, answer.empty)
            if job is None:
                break
            answered = 0
            for _ in range(HEALTH_ANSWERS_PER_JOB):
                response = health.get(f"{server.url}/healthz")
                assert response.json() == {"status": "ok"}
                answered += 1
            health_while_pending.append((job, answered))
            pool.go.release()
    result = answer.get(timeout=300)
    assert isinstance(result, httpx.Response), result
    assert result.status_code == 200, result.text
    assert result.json()["result"] == "BLOCK"  # the branch holds no key

    expected = [
        "parse_payload",
        "_parse",  # the workspace's rules, into the configuration snapshot
        "_parse",  # the repository's own (none here)
        "_plan_all",
        "_judge_all",  # with the "did you mean" hints of the failing rule
        "to_document",
        "_encode",
        "_encode_text",
    ]
    assert pool.ran == expected
    assert health_while_pending == [(job, HEALTH_ANSWERS_PER_JOB) for job in expected]
