"""The budget per technical user shared across processes through Redis (issue 20): two
processes, each with its own Redis client and its own JiraClient, against one fake Jira — the
requests Jira receives stay within the one ceiling."""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import uuid
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira

from jirahooks.jira import budget as budget_module
from jirahooks.jira.budget import RequestBudget, SharedWindow, share_budgets
from jirahooks.jira.client import Deadline, JiraClient
from jirahooks.rules.config import ConnectionConfig, Deployment

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix() -> str:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            pass
    except OSError:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379 (make test starts it)")
    return f"jirahooks-test-{uuid.uuid4().hex}"


def _worker(args: tuple[str, str, str, str, int, int]) -> list[str]:
    """One process: its own Redis client, its own client for the same technical user."""
    url, email, token, prefix, per_minute, tries = args
    import os

    os.environ["JIRAHOOKS_SHARED_BUDGET_TOKEN"] = token
    share_budgets(REDIS, prefix=prefix)
    config = ConnectionConfig(
        name="cloud",
        url=url,
        deployment=Deployment.CLOUD,
        email=email,
        token="${JIRAHOOKS_SHARED_BUDGET_TOKEN}",
        budget_per_minute=per_minute,
    )

    async def run() -> list[str]:
        outcomes = []
        async with JiraClient(config, secret=token) as client:
            for _ in range(tries):
                try:
                    await client.request("GET", "/rest/api/3/myself", deadline=Deadline(5))
                    outcomes.append("sent")
                except Exception as exc:
                    outcomes.append(str(getattr(exc, "code", type(exc).__name__)))
        return outcomes

    return asyncio.run(run())


@pytest.mark.redis
def test_two_processes_share_one_ceiling(cloud_jira: FakeJira, prefix: str) -> None:
    before = cloud_jira.count("/rest/api/3/myself")
    args = (cloud_jira.url, cloud_jira.user.email, cloud_jira.token, prefix, 6, 5)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        outcomes = pool.map(_worker, [args, args])
    sent = sum(o.count("sent") for o in outcomes)
    refused = sum(o.count("JIRA_RATE_LIMITED") for o in outcomes)
    assert (sent, refused) == (6, 4)  # 10 tries, one ceiling of 6 for both processes
    assert cloud_jira.count("/rest/api/3/myself") - before == 6


@pytest.mark.redis
def test_a_pause_from_jira_is_shared(prefix: str) -> None:
    async def run() -> tuple[bool, bool]:
        windows = [SharedWindow(REDIS, prefix=prefix) for _ in range(2)]  # two clients
        first = RequestBudget(100, shared=windows[0], user="u")
        second = RequestBudget(100, shared=windows[1], user="u")
        try:
            assert await first.acquire(remaining=1.0)
            first.pause(30)  # a 429 with Retry-After: 30 seen by the first process
            assert not await first.acquire(remaining=1.0)  # sends the pause along
            return await second.acquire(remaining=1.0), second.shared_errors == 0
        finally:
            for window in windows:
                await window.aclose()

    granted, healthy = asyncio.run(run())
    assert not granted and healthy


def test_without_redis_the_budget_counts_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget_module, "_SHARED", [])
    monkeypatch.setattr(budget_module, "_BUDGETS", {})
    budget = budget_module.budget_for("https://x\0u", 2)
    assert budget.shared is None
    results: list[Any] = [asyncio.run(budget.acquire(remaining=0.5)) for _ in range(3)]
    assert results == [True, True, False]


@pytest.mark.redis
def test_redis_failing_falls_back_to_the_process_window() -> None:
    broken = SharedWindow("redis://127.0.0.1:1/0")  # nothing listens there
    budget = RequestBudget(1, shared=broken, user="u")

    async def run() -> list[bool]:
        try:
            return [await budget.acquire(remaining=0.5) for _ in range(2)]
        finally:
            await broken.aclose()

    assert asyncio.run(run()) == [True, False]  # still limited, by this process alone
    assert budget.shared_errors == 2


def _resolver(args: tuple[str, str, str, str, Any, list[str]]) -> list[str]:
    """One process of the coalescing test: its own Redis client and cache, the same keys."""
    url, email, token, prefix, barrier, keys = args
    import os

    from jirahooks.jira.cache import JiraCache, RedisBackend
    from jirahooks.jira.chain import ConnectionChain

    os.environ["JIRAHOOKS_SHARED_BUDGET_TOKEN"] = token
    config = ConnectionConfig(
        name="cloud",
        url=url,
        deployment=Deployment.CLOUD,
        email=email,
        token="${JIRAHOOKS_SHARED_BUDGET_TOKEN}",
    )

    async def run() -> list[str]:
        cache = JiraCache(RedisBackend(REDIS, prefix=prefix), coalesce=True)
        chain = ConnectionChain([JiraClient(config, secret=token)], cache=cache, deadline_seconds=8)
        barrier.wait()
        try:
            return sorted((await chain.resolve(keys)).issues)
        finally:
            await cache.aclose()

    return asyncio.run(run())


@pytest.mark.redis
def test_two_processes_looking_up_the_same_keys_ask_jira_once(
    jira_factory: Any, prefix: str
) -> None:
    jira = jira_factory("cloud", latency=0.5)  # the first lookup is still in flight
    keys = jira.add_issues("ABC", 5)
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(2)
    args = (jira.url, jira.user.email, jira.token, prefix, barrier, keys)
    with context.Pool(2) as pool:
        results = pool.map(_resolver, [args, args])
    assert results == [sorted(keys), sorted(keys)]
    asked = [
        k for r in jira.requests if r.path.endswith("bulkfetch") for k in r.body["issueIdsOrKeys"]
    ]
    assert sorted(asked) == sorted(keys)  # every key asked once, by one of the processes


@pytest.mark.redis
def test_one_process_builds_a_projects_index(cloud_jira: FakeJira, prefix: str) -> None:
    from jirahooks.jira.cache import JiraCache, RedisBackend
    from jirahooks.jira.chain import ConnectionChain

    cloud_jira.add_issues("ABC", 3)
    config = ConnectionConfig(
        name="cloud",
        url=cloud_jira.url,
        deployment=Deployment.CLOUD,
        email=cloud_jira.user.email,
        token="${JIRAHOOKS_SHARED_BUDGET_TOKEN}",
    )

    async def run() -> tuple[int, int]:
        caches = [JiraCache(RedisBackend(REDIS, prefix=prefix)) for _ in range(2)]  # 2 clients
        chains = [
            ConnectionChain([JiraClient(config, secret=cloud_jira.token)], cache=c) for c in caches
        ]
        namespace = chains[0].namespace_of("cloud")
        try:
            # the other process is building ABC's index right now
            assert await caches[0].claim_lookups(namespace, ["index-build:ABC"], 60) == {
                "index-build:ABC"
            }
            before = cloud_jira.count()
            skipped = await chains[1].index(["ABC"])
            asked = cloud_jira.count() - before
            return skipped, asked
        finally:
            for cache in caches:
                await cache.aclose()

    assert asyncio.run(run()) == (0, 0)  # not read a second time
