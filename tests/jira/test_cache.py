"""The Jira cache: TTLs on an injectable clock, per-connection keys, hit rate, Redis backend."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Callable

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.jira.support import FakeTime, make_chain

from jirahooks.engine.resolver import IssueData
from jirahooks.jira.cache import JiraCache, MemoryBackend, RedisBackend
from jirahooks.rules.config import ConnectionConfig

Connect = Callable[..., ConnectionConfig]


def _cache(time: FakeTime, **ttls: float) -> JiraCache:
    return JiraCache(MemoryBackend(clock=time), clock=time, **ttls)


def test_warm_cache_sends_no_requests(jira: FakeJira, connect: Connect) -> None:
    keys = jira.add_issues("ABC", 150)
    time = FakeTime()
    cache = _cache(time)
    config = connect(jira)
    cold = asyncio.run(make_chain(config, cache=cache).resolve([*keys, "ABC-999"]))
    sent = jira.count()
    warm = asyncio.run(make_chain(config, cache=cache).resolve([*keys, "ABC-999"]))
    assert jira.count() == sent  # not one more request
    assert warm.issues == cold.issues
    assert "ABC-999" not in warm.issues
    assert cache.stats.hits == 151
    assert cache.stats.negative_hits == 1
    assert cache.stats.hit_rate == pytest.approx(151 / 302)


def test_positive_entries_expire_after_their_ttl(cloud_jira: FakeJira, connect: Connect) -> None:
    cloud_jira.add_issue("ABC-1")
    time = FakeTime()
    cache = _cache(time, issue_ttl=300)
    config = connect(cloud_jira)
    asyncio.run(make_chain(config, cache=cache).resolve(["ABC-1"]))
    time.advance(299)
    asyncio.run(make_chain(config, cache=cache).resolve(["ABC-1"]))
    assert cloud_jira.count() == 1
    time.advance(2)
    asyncio.run(make_chain(config, cache=cache).resolve(["ABC-1"]))
    assert cloud_jira.count() == 2


def test_negative_entries_expire_sooner(cloud_jira: FakeJira, connect: Connect) -> None:
    cloud_jira.add_issue("ABC-1")
    time = FakeTime()
    cache = _cache(time, issue_ttl=300, negative_ttl=30)
    config = connect(cloud_jira)
    asyncio.run(make_chain(config, cache=cache).resolve(["ABC-1", "ABC-2"]))
    sent = cloud_jira.count()
    cloud_jira.add_issue("ABC-2")  # created right after the first check
    time.advance(31)
    result = asyncio.run(make_chain(config, cache=cache).resolve(["ABC-1", "ABC-2"]))
    assert set(result.issues) == {"ABC-1", "ABC-2"}
    (request,) = cloud_jira.requests[sent:]
    assert request.body["issueIdsOrKeys"] == ["ABC-2"]  # ABC-1 still came from the cache


def test_entries_are_keyed_by_connection(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    first, second = jira_factory("cloud"), jira_factory("cloud")
    first.add_issue("ABC-1")
    second.add_issue("ABC-1", summary="the other one")
    cache = JiraCache()
    asyncio.run(make_chain(connect(first, "a"), cache=cache).resolve(["ABC-1"]))
    result = asyncio.run(make_chain(connect(second, "b"), cache=cache).resolve(["ABC-1"]))
    assert result.issues["ABC-1"].summary == "the other one"
    assert second.count() == 1


def test_cached_unknown_on_one_connection_falls_through_to_the_next(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    first, second = jira_factory("cloud"), jira_factory("datacenter")
    second.add_issue("DCP-1")
    cache = JiraCache()
    configs = (connect(first, "a"), connect(second, "b"))
    asyncio.run(make_chain(*configs, cache=cache).resolve(["DCP-1"]))
    sent = first.count() + second.count()
    result = asyncio.run(make_chain(*configs, cache=cache).resolve(["DCP-1"]))
    assert result.issues["DCP-1"].connection == "b"
    assert first.count() + second.count() == sent


def test_projects_and_jql_matches_are_cached(jira: FakeJira, connect: Connect) -> None:
    jira.add_issue("ABC-1", status="Done")
    jira.add_issue("ABC-2")
    cache = JiraCache()
    config = connect(jira)

    async def evaluate() -> frozenset[str]:
        chain = make_chain(config, cache=cache)
        await chain.projects()
        await chain.resolve(["ABC-1", "ABC-2"])
        return (await chain.match_jql("status = Done", ["ABC-1", "ABC-2"])).matching

    assert asyncio.run(evaluate()) == {"ABC-1"}
    sent = jira.count()
    assert asyncio.run(evaluate()) == {"ABC-1"}
    assert jira.count() == sent


def test_failures_are_not_cached(cloud_jira: FakeJira, connect: Connect) -> None:
    cloud_jira.add_issue("ABC-1")
    cloud_jira.fail(500)
    cache = JiraCache()
    config = connect(cloud_jira)
    first = asyncio.run(make_chain(config, cache=cache).resolve(["ABC-1"]))
    assert first.undetermined == {"ABC-1"}
    second = asyncio.run(make_chain(config, cache=cache).resolve(["ABC-1"]))
    assert set(second.issues) == {"ABC-1"}


def test_memory_backend_is_bounded() -> None:
    backend = MemoryBackend(max_entries=3)
    asyncio.run(backend.set_many({f"k{n}": "v" for n in range(5)}, 60))
    assert len(backend) == 3
    assert asyncio.run(backend.get_many(["k0", "k4"])) == [None, "v"]


def test_issue_data_round_trips_through_the_cache() -> None:
    issue = IssueData(
        key="ABC-1",
        current_key="XYZ-2",
        id="10001",
        summary="Ünïcode",
        status="Done",
        status_category="done",
        issue_type="Bug",
        fix_versions=("1.0", "2.0"),
        assignee="acc-1",
        connection="a",
        url="https://x/browse/XYZ-2",
        fields={"summary": "Ünïcode"},
    )
    cache = JiraCache()

    async def round_trip() -> IssueData:
        await cache.put_issues("ns", {"ABC-1": issue})
        found, _ = await cache.get_issues("ns", ["ABC-1"])
        return found["ABC-1"]

    assert asyncio.run(round_trip()) == issue


# -- Redis -----------------------------------------------------------------------------------


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_prefix() -> str:
    if not _redis_up():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379 (make test starts it)")
    return f"jirahooks-test-{uuid.uuid4().hex}"


@pytest.mark.redis
def test_redis_backend_shares_entries_between_workers(
    redis_prefix: str, cloud_jira: FakeJira, connect: Connect
) -> None:
    cloud_jira.add_issues("ABC", 3)
    config = connect(cloud_jira)
    time = FakeTime()

    async def worker() -> int:
        cache = JiraCache(RedisBackend(prefix=redis_prefix), clock=time)
        try:
            result = await make_chain(config, cache=cache).resolve(["ABC-1", "ABC-2", "ABC-9"])
            assert set(result.issues) == {"ABC-1", "ABC-2"}
            return cache.stats.hits
        finally:
            await cache.aclose()

    assert asyncio.run(worker()) == 0  # the first worker fills Redis …
    sent = cloud_jira.count()
    assert asyncio.run(worker()) == 3  # … the second is served from it
    assert cloud_jira.count() == sent


@pytest.mark.redis
def test_redis_entries_expire_by_the_cache_clock(redis_prefix: str) -> None:
    time = FakeTime()

    async def scenario() -> tuple[set[str], set[str]]:
        cache = JiraCache(RedisBackend(prefix=redis_prefix), clock=time, negative_ttl=30)
        try:
            await cache.put_issues("ns", {}, ["ABC-9"])
            _, before = await cache.get_issues("ns", ["ABC-9"])
            time.advance(31)
            _, after = await cache.get_issues("ns", ["ABC-9"])
            await cache.clear()
            return before, after
        finally:
            await cache.aclose()

    before, after = asyncio.run(scenario())
    assert before == {"ABC-9"}
    assert after == set()


@pytest.mark.redis
def test_redis_clear_removes_only_its_prefix(redis_prefix: str) -> None:
    async def scenario() -> list[str | None]:
        mine = RedisBackend(prefix=redis_prefix)
        other = RedisBackend(prefix=redis_prefix + "-other")
        try:
            await mine.set_many({"k": "mine"}, 60)
            await other.set_many({"k": "other"}, 60)
            await mine.clear()
            values = [*(await mine.get_many(["k"])), *(await other.get_many(["k"]))]
            await other.clear()
            return values
        finally:
            await mine.aclose()
            await other.aclose()

    assert asyncio.run(scenario()) == [None, "other"]


def test_an_unreachable_cache_backend_only_costs_misses(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    cloud_jira.add_issue("ABC-1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here: "Redis is down"

    async def scenario() -> tuple[set[str], int]:
        cache = JiraCache(RedisBackend(f"redis://127.0.0.1:{port}/0", prefix="down"))
        try:
            result = await make_chain(connect(cloud_jira), cache=cache).resolve(["ABC-1"])
            return set(result.issues), cache.stats.errors
        finally:
            await cache.aclose()

    found, errors = asyncio.run(scenario())
    assert found == {"ABC-1"}
    assert errors >= 2  # the lookup and the store both failed, the evaluation did not


def test_namespaces_differ_by_the_user_who_asks() -> None:
    from jirahooks.jira.cache import connection_namespace

    a = connection_namespace("jira", "https://acme.atlassian.net/", "bot-a@acme.example")
    b = connection_namespace("jira", "https://acme.atlassian.net", "bot-b@acme.example")
    assert a != b  # what Jira shows depends on the technical user
    assert a == connection_namespace("jira", "https://acme.atlassian.net", "bot-a@acme.example")
    assert "bot-a" not in a
