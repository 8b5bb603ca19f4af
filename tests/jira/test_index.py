"""The existence index (decision 0009): a project's issue numbers, read once and kept current
by webhooks and verified by sweeps, answer "not found" without asking Jira — and the
freshness guarantees of issue 20 still hold with it on. Against the fake Jira over HTTP."""

from __future__ import annotations

import asyncio
import time as time_module
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from tests.fakes.fake_jira import FakeJira
from tests.jira.support import FakeTime, make_chain

from jirahooks.jira.cache import JiraCache, MemoryBackend
from jirahooks.rules.config import ConnectionConfig
from jirahooks.server.jira_webhooks import apply_event

Connect = Callable[..., ConnectionConfig]
IN_PROGRESS = 'status = "In Progress"'
EXISTENCE = ("/rest/api/3/issue/bulkfetch", "/rest/api/2/search")


def _cache(time: FakeTime) -> JiraCache:
    return JiraCache(MemoryBackend(clock=time), clock=time)


def _found(config: ConnectionConfig, cache: JiraCache, *keys: str) -> set[str]:
    return set(asyncio.run(make_chain(config, cache=cache).resolve(keys)).issues)


def _index(config: ConnectionConfig, cache: JiraCache, **options: Any) -> int:
    return asyncio.run(make_chain(config, cache=cache).index(["ABC"], **options))


def _deliver(
    jira: FakeJira, config: ConnectionConfig, cache: JiraCache, event: str, key: str
) -> None:
    """What the signed webhook endpoint does with one of Jira's deliveries."""
    payload = jira.webhook_payload(event, key)
    namespace = make_chain(config, cache=cache).namespace_of(config.name)
    connection = SimpleNamespace(name=config.name, url=config.url)
    asyncio.run(apply_event(cache, namespace, connection, payload))  # type: ignore[arg-type]


def _match(config: ConnectionConfig, cache: JiraCache, *keys: str) -> set[str]:
    async def run() -> set[str]:
        chain = make_chain(config, cache=cache)
        return set((await chain.match_jql(IN_PROGRESS, keys, max_age=300)).matching)

    return asyncio.run(run())


def test_an_index_answers_missing_keys_of_its_project_without_asking(
    jira: FakeJira, connect: Connect
) -> None:
    jira.add_issues("ABC", 5)
    jira.delete_issue("ABC-4")
    time = FakeTime()
    cache = _cache(time)
    config = connect(jira)
    assert _index(config, cache) == 4
    before = jira.count()
    assert _found(config, cache, "ABC-3", "ABC-4") == {"ABC-3"}  # from the index's search
    time.advance(cache.lifetimes.negative + 60)  # no "not found" entry would still serve
    assert _found(config, cache, "ABC-4") == set()  # below the highest number: not there
    assert jira.count() == before
    assert _found(config, cache, "ABC-99") == set()  # above it, verified 90 s ago: asked
    assert jira.count() == before + 1


def test_a_typo_key_is_not_found_without_a_request_right_after_a_sweep(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    cloud_jira.add_issues("ABC", 3)
    time = FakeTime()
    cache = _cache(time)
    config = connect(cloud_jira)
    _index(config, cache)
    time.advance(600)
    asyncio.run(make_chain(config, cache=cache).sweep())
    time.advance(cache.lifetimes.negative - 5)
    before = cloud_jira.count()
    assert _found(config, cache, "ABC-12345") == set()
    assert cloud_jira.count() == before  # the sweep verified the index moments ago


def test_with_the_index_a_created_issue_passes_within_the_negative_lifetime(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    cloud_jira.add_issues("ABC", 3)
    time = FakeTime()
    cache = _cache(time)
    config = connect(cloud_jira)
    _index(config, cache)
    cloud_jira.add_issue("ABC-4")  # created after the index was read; no webhook
    assert _found(config, cache, "ABC-4") == set()  # "not found", as a cached negative would
    time.advance(cache.lifetimes.negative + 1)
    assert _found(config, cache, "ABC-4") == {"ABC-4"}  # within the negative lifetime
    cloud_jira.add_issue("ABC-5")
    _deliver(cloud_jira, config, cache, "jira:issue_created", "ABC-5")
    before = cloud_jira.count()
    assert _found(config, cache, "ABC-5") == {"ABC-5"}  # with the webhook: at once
    assert cloud_jira.count() == before


def test_with_the_index_a_deleted_issue_fails(cloud_jira: FakeJira, connect: Connect) -> None:
    cloud_jira.add_issues("ABC", 3)
    time = FakeTime()
    cache = _cache(time)
    config = connect(cloud_jira)
    _index(config, cache)
    bean = cloud_jira.webhook_payload("jira:issue_deleted", "ABC-2")
    cloud_jira.delete_issue("ABC-2")
    namespace = make_chain(config, cache=cache).namespace_of(config.name)
    connection = SimpleNamespace(name=config.name, url=config.url)
    asyncio.run(apply_event(cache, namespace, connection, bean))  # type: ignore[arg-type]
    assert _found(config, cache, "ABC-2") == set()
    time.advance(cache.lifetimes.negative + 1)  # the negative entry is gone …
    before = cloud_jira.count()
    assert _found(config, cache, "ABC-2") == set()  # … the index still says so
    assert cloud_jira.count() == before
    assert _found(config, cache, "ABC-1", "ABC-3") == {"ABC-1", "ABC-3"}


def test_with_the_index_a_status_change_by_webhook_reaches_the_next_evaluation(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    cloud_jira.add_issues("ABC", 3, status="To Do")
    time = FakeTime()
    cache = _cache(time)
    config = connect(cloud_jira)
    _index(config, cache, jqls=[IN_PROGRESS])
    before = cloud_jira.count()
    assert _match(config, cache, "ABC-1", "ABC-2") == set()
    assert cloud_jira.count() == before  # verdicts warmed with the index
    cloud_jira.set_status("ABC-2", "In Progress")
    _deliver(cloud_jira, config, cache, "jira:issue_updated", "ABC-2")
    time.advance(1)
    assert _match(config, cache, "ABC-1", "ABC-2") == {"ABC-2"}


def test_a_sweep_adds_created_issues_to_the_index(cloud_jira: FakeJira, connect: Connect) -> None:
    cloud_jira.add_issues("ABC", 3)
    time = FakeTime()
    cache = _cache(time)
    config = connect(cloud_jira)
    _index(config, cache)
    time_module.sleep(0.01)  # Jira's "updated" has millisecond precision
    cloud_jira.add_issue("ABC-4")  # no webhook
    time.advance(60)
    assert asyncio.run(make_chain(config, cache=cache).sweep()) >= 1
    time.advance(cache.lifetimes.negative + 60)
    before = cloud_jira.count()
    assert _found(config, cache, "ABC-4") == {"ABC-4"}  # the sweep's answer
    assert _found(config, cache, "ABC-2") == {"ABC-2"}
    assert cloud_jira.count() == before


def test_a_project_larger_than_the_limit_is_not_indexed(jira: FakeJira, connect: Connect) -> None:
    jira.add_issues("ABC", 5)
    time = FakeTime()
    cache = _cache(time)
    config = connect(jira, index_max_issues=3)
    assert _index(config, cache) == 0
    before = jira.count()
    assert _found(config, cache, "ABC-9") == set()
    assert jira.count() == before + 1  # asked, as without an index
    assert _index(config, cache) == 0
    assert jira.count() == before + 1  # not read again today


def test_a_gap_in_the_sweeps_drops_the_index(cloud_jira: FakeJira, connect: Connect) -> None:
    cloud_jira.add_issues("ABC", 3)
    time = FakeTime()
    cache = _cache(time)
    config = connect(cloud_jira)
    namespace = make_chain(config, cache=cache).namespace_of(config.name)
    _index(config, cache)
    time.advance(300)
    asyncio.run(make_chain(config, cache=cache).sweep())  # continues the index's verification
    kept = asyncio.run(cache.get_index(namespace, ["ABC"]))
    assert kept["ABC"].verified_at == time.now and kept["ABC"].numbers == {1, 2, 3}
    time.advance(3600)
    # a sweep that cannot reach back to the last verification (here: 10 minutes at most)
    asyncio.run(make_chain(config, cache=cache).sweep(longest=600))
    assert asyncio.run(cache.get_index(namespace, ["ABC"])) == {}
    before = cloud_jira.count()
    assert _found(config, cache, "ABC-2") == {"ABC-2"}  # existence answers stay
    assert _found(config, cache, "ABC-3000") == set()
    assert cloud_jira.count() == before + 1  # nothing proves a key missing: asked again


def test_the_index_is_off_when_the_connection_says_so(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    cloud_jira.add_issues("ABC", 3)
    time = FakeTime()
    cache = _cache(time)
    config = connect(cloud_jira, index_max_issues=0)
    before = cloud_jira.count()
    assert _index(config, cache) == 0
    assert cloud_jira.count() == before  # nothing read


def test_a_key_far_above_the_highest_number_is_not_found_while_the_index_is_recent(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    cloud_jira.add_issues("ABC", 3)
    time = FakeTime()
    cache = _cache(time)
    config = connect(cloud_jira)
    _index(config, cache)
    time.advance(cache.lifetimes.negative + 60)  # past the negative lifetime, within 300 s
    before = cloud_jira.count()
    assert _found(config, cache, "ABC-5000") == set()  # a typo: 1,000s above ABC-3
    assert cloud_jira.count() == before
    assert _found(config, cache, "ABC-5") == set()  # next in line: could be new, so asked
    assert cloud_jira.count() == before + 1
    time.advance(300)  # the index was not verified for 6 minutes: every such key is asked
    assert _found(config, cache, "ABC-6000") == set()
    assert cloud_jira.count() == before + 2
