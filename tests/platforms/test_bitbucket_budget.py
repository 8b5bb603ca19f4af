"""Issue 11 §4 — the Bitbucket hourly budget shared by every process of a deployment through
Redis: two budgets on one Redis (two processes' clients) grant no more than the one limit
between them; two real processes with their own Bitbucket clients send no more than the limit
to the fake Bitbucket; Redis failing falls back to the process's own window (never to no
limit); the credential's digest names the window, never the secret.

Counted, not timed. Skipped, saying why, without Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import uuid
from datetime import UTC, datetime

import pytest
from tests.fakes.fake_bitbucket import ACCESS_TOKEN, FakeBitbucket

from jirahooks.crypto import SecretBox, generate_key
from jirahooks.pipeline.options import Adapters, WorkerOptions
from jirahooks.platforms.base import PlatformUnavailable
from jirahooks.platforms.bitbucket_client import (
    AuthKind,
    BitbucketClient,
    BitbucketCredentials,
    HourlyBudget,
    SharedHourlyWindow,
    budget_key,
)
from jirahooks.retry import RetryPolicy
from jirahooks.store.deliveries import PlatformConfig

REDIS = "redis://127.0.0.1:6379/0"
NO_WAIT = RetryPolicy(max_attempts=1, backoff_base=0.01, backoff_cap=0.01, max_wait=0.5)


@pytest.fixture
def prefix() -> str:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            pass
    except OSError:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379 (make test starts it)")
    return f"jirahooks-test-{uuid.uuid4().hex}"


@pytest.mark.redis
def test_two_budgets_on_one_redis_share_one_limit(prefix: str) -> None:
    """Two processes' budgets (each its own Redis client) for one credential: 5 per hour
    between them, whichever asks; the refused ones say how long until a slot frees."""

    async def run() -> tuple[list[float], float, list[int]]:
        windows = [SharedHourlyWindow(REDIS, prefix=prefix) for _ in range(2)]
        budgets = [HourlyBudget(5, shared=w, key="same-credential") for w in windows]
        try:
            waits = [await budgets[i % 2].acquire() for i in range(8)]
            other = await HourlyBudget(5, shared=windows[0], key="another").acquire()
            return waits, other, [b.shared_errors for b in budgets]
        finally:
            for w in windows:
                await w.aclose()

    waits, other, errors = asyncio.run(run())
    assert waits[:5] == [0.0] * 5
    assert all(3590 < w <= 3600 for w in waits[5:]), waits  # the first leaves in an hour
    assert other == 0.0  # another credential counts in a window of its own
    assert errors == [0, 0]  # counted in Redis, not in each process's own window


def _process(args: tuple[str, str, str, int, int]) -> list[str]:
    """One server process: its own Redis client and Bitbucket client, the same token."""
    url, token, prefix, limit, tries = args

    async def run() -> list[str]:
        window = SharedHourlyWindow(REDIS, prefix=prefix)
        creds = BitbucketCredentials(AuthKind.ACCESS_TOKEN, token)
        budget = HourlyBudget(limit, shared=window, key=budget_key(url, creds))
        outcomes = []
        async with BitbucketClient("acme", creds, base_url=url, retry=NO_WAIT, budget=budget) as c:
            for _ in range(tries):
                try:
                    await c.request("GET", c.repo_path("api-service", "/pullrequests"))
                    outcomes.append("sent")
                except PlatformUnavailable as exc:
                    outcomes.append("budget" if exc.retry_after else exc.message)
        await window.aclose()
        assert budget.shared_errors == 0
        return outcomes

    return asyncio.run(run())


@pytest.mark.redis
def test_two_processes_sharing_a_token_stay_under_the_limit(prefix: str) -> None:
    """Two real processes, 5 requests each, a deployment-wide limit of 6: Bitbucket receives
    6; the other 4 are held back with a Retry-After (the queue reschedules them)."""
    with FakeBitbucket() as bitbucket:
        bitbucket.add_repo("acme", "api-service")
        args = (bitbucket.url, ACCESS_TOKEN, prefix, 6, 5)
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            outcomes = pool.map(_process, [args, args])
        sent = sum(o.count("sent") for o in outcomes)
        held = sum(o.count("budget") for o in outcomes)
        assert (sent, held) == (6, 4), outcomes
        assert len(bitbucket.requests_to("/pullrequests", method="GET")) == 6


def test_redis_failing_falls_back_to_the_process_window() -> None:
    """An unreachable Redis: the budget counts in this process (logged once), not unlimited."""
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def run() -> tuple[list[float], int]:
        window = SharedHourlyWindow(f"redis://127.0.0.1:{port}/0", prefix="unused")
        budget = HourlyBudget(2, shared=window, key="k")
        try:
            return [await budget.acquire() for _ in range(3)], budget.shared_errors
        finally:
            await window.aclose()

    waits, errors = asyncio.run(run())
    assert waits[:2] == [0.0, 0.0] and waits[2] > 3500
    assert errors == 3


@pytest.mark.redis
def test_adapters_of_two_processes_count_one_credential_once(prefix: str) -> None:
    """The server's per-workspace adapters (two processes' ``Adapters``) give one credential
    one shared window — also across two workspaces configured with the same token — and a
    different token another; the Redis key holds a digest, never the token."""
    box = SecretBox([generate_key()])
    options = WorkerOptions(requests_per_hour=3)
    now = datetime.now(UTC)

    def config(id: int, token: str) -> PlatformConfig:
        return PlatformConfig(
            id=id,
            workspace_id=id,
            platform="bitbucket-cloud",
            remote_workspace=f"ws{id}",
            api_url="http://127.0.0.1:9/2.0",
            auth_kind="access_token",
            username="",
            token_encrypted=box.encrypt(token),
            updated_at=now,
        )

    async def run() -> tuple[list[float], float, list[str]]:
        processes = [Adapters(box, options, redis_url=REDIS, redis_prefix=prefix) for _ in "ab"]
        try:
            one = await processes[0].get(config(1, "tok-1"), "w1")
            same = await processes[1].get(config(2, "tok-1"), "w2")  # same token, other ws
            other = await processes[1].get(config(3, "tok-2"), "w3")
            budgets = [one.client.budget, same.client.budget]
            waits = [await budgets[i % 2].acquire() for i in range(4)]
            separate = await other.client.budget.acquire()
            import redis.asyncio

            client = redis.asyncio.Redis.from_url(REDIS, decode_responses=True)
            keys = [k async for k in client.scan_iter(match=prefix + "*")]
            await client.aclose()
            return waits, separate, keys
        finally:
            for adapters in processes:
                await adapters.aclose()

    waits, separate, keys = asyncio.run(run())
    assert waits[:3] == [0.0] * 3 and waits[3] > 3500  # one limit of 3 for the token
    assert separate == 0.0
    assert len(keys) == 2 and not any("tok-" in k for k in keys)
