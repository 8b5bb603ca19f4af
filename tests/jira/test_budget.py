"""The Jira budget (issue 20): tiered lifetimes, a rule's JQL freshness, invalidation by what
Jira reports, and coalescing of concurrent lookups — against the fake Jira over HTTP."""

from __future__ import annotations

import asyncio
import time as time_module
from collections.abc import Callable

from tests.fakes.fake_jira import FakeJira
from tests.jira.support import FakeTime, make_chain

from jirahooks.jira.cache import JiraCache, Lifetimes, MemoryBackend
from jirahooks.rules.config import ConnectionConfig

Connect = Callable[..., ConnectionConfig]
IN_PROGRESS = 'status = "In Progress"'


def _cache(time: FakeTime, **options: object) -> JiraCache:
    return JiraCache(MemoryBackend(clock=time), clock=time, **options)  # type: ignore[arg-type]


def test_existence_is_trusted_for_hours_and_not_found_only_briefly(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    cloud_jira.add_issue("ABC-1")
    time = FakeTime()
    cache = _cache(time)
    config = connect(cloud_jira)
    first = asyncio.run(make_chain(config, cache=cache).resolve(["ABC-1", "ABC-2"]))
    assert set(first.issues) == {"ABC-1"}
    cloud_jira.add_issue("ABC-2")  # created in Jira a moment after the "not found"
    sent = cloud_jira.count("/rest/api/3/issue/bulkfetch")
    time.advance(2 * 3600)  # two hours later
    later = asyncio.run(make_chain(config, cache=cache).resolve(["ABC-1"]))
    assert set(later.issues) == {"ABC-1"}
    assert cloud_jira.count("/rest/api/3/issue/bulkfetch") == sent  # existence from the cache
    again = asyncio.run(make_chain(config, cache=cache).resolve(["ABC-2"]))
    assert set(again.issues) == {"ABC-2"}  # "not found" was not kept for hours
    assert cloud_jira.count("/rest/api/3/issue/bulkfetch") == sent + 1


def test_a_created_issue_passes_within_the_negative_lifetime(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    time = FakeTime()
    cache = _cache(time)
    config = connect(cloud_jira)
    assert "ABC-7" not in asyncio.run(make_chain(config, cache=cache).resolve(["ABC-7"])).issues
    cloud_jira.add_issue("ABC-7")
    time.advance(cache.lifetimes.negative - 1)
    cached = asyncio.run(make_chain(config, cache=cache).resolve(["ABC-7"]))
    assert "ABC-7" not in cached.issues  # still the cached "not found" …
    time.advance(2)  # … but only until the negative lifetime ends
    assert "ABC-7" in asyncio.run(make_chain(config, cache=cache).resolve(["ABC-7"])).issues
    assert cache.lifetimes.negative <= 30


def test_lifetimes_are_configurable_per_connection(cloud_jira: FakeJira, connect: Connect) -> None:
    cloud_jira.add_issue("ABC-1")
    time = FakeTime()
    cache = _cache(time)
    short = connect(cloud_jira, name="short", cache_existence_seconds=60)
    default = connect(cloud_jira, name="default")
    for config in (short, default):
        asyncio.run(make_chain(config, cache=cache).resolve(["ABC-1"]))
    sent = cloud_jira.count()
    time.advance(61)
    asyncio.run(make_chain(default, cache=cache).resolve(["ABC-1"]))
    assert cloud_jira.count() == sent  # the default connection still trusts it
    asyncio.run(make_chain(short, cache=cache).resolve(["ABC-1"]))
    assert cloud_jira.count() == sent + 1  # its own 60 s existence lifetime


def _match(config: ConnectionConfig, cache: JiraCache, max_age: float | None) -> set[str]:
    async def run() -> set[str]:
        chain = make_chain(config, cache=cache)
        await chain.resolve(["ABC-1"])
        result = await chain.match_jql(IN_PROGRESS, ["ABC-1"], max_age=max_age)
        return set(result.matching)

    return asyncio.run(run())


def test_jql_answers_are_never_older_than_the_rules_freshness(
    jira: FakeJira, connect: Connect
) -> None:
    jira.add_issue("ABC-1", status="In Progress")
    time = FakeTime()
    cache = _cache(time, lifetimes=Lifetimes(fields=3600))
    config = connect(jira)
    assert _match(config, cache, 120) == {"ABC-1"}
    jira.set_status("ABC-1", "To Do")  # no webhook: only the lifetime protects us
    time.advance(100)
    assert _match(config, cache, 120) == {"ABC-1"}  # within this rule's 120 s
    assert _match(config, cache, 60) == set()  # a stricter rule asks Jira
    time.advance(30)  # 130 s after the first answer (and 30 s after the stricter rule's)
    assert _match(config, cache, 120) == set()
    before = jira.count()
    assert _match(config, cache, 0) == set()  # "exact": always asks
    assert jira.count() > before


def test_a_reported_change_makes_cached_answers_stale_at_once(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    cloud_jira.add_issue("ABC-1", status="To Do")
    time = FakeTime()
    cache = _cache(time, lifetimes=Lifetimes(fields=3600))
    config = connect(cloud_jira)
    assert _match(config, cache, 3600) == set()
    issue = cloud_jira.set_status("ABC-1", "In Progress")
    time.advance(1)
    assert _match(config, cache, 3600) == set()  # Jira said nothing yet: cached
    from jirahooks.jira.api import parse_issue

    namespace = make_chain(config, cache=cache)._namespaces[config.name]
    bean = cloud_jira.webhook_payload("jira:issue_updated", issue.key)["issue"]
    asyncio.run(
        cache.issue_changed(namespace, parse_issue(bean, connection=config.name, base_url=""))
    )
    time.advance(1)
    assert _match(config, cache, 3600) == {"ABC-1"}


def test_concurrent_evaluations_share_one_lookup(cloud_jira: FakeJira, connect: Connect) -> None:
    cloud_jira.add_issues("ABC", 5)
    cloud_jira.latency = 0.2
    cache = JiraCache(coalesce=True)
    chain = make_chain(connect(cloud_jira), cache=cache)

    async def run() -> list[set[str]]:
        async with chain:
            results = await asyncio.gather(
                *(chain.for_evaluation().resolve(["ABC-1", f"ABC-{1 + n % 5}"]) for n in range(10))
            )
        return [set(r.issues) for r in results]

    found = asyncio.run(run())
    assert found[0] == {"ABC-1"} and found[1] == {"ABC-1", "ABC-2"}
    assert cloud_jira.count("/rest/api/3/issue/bulkfetch") == 1  # ten evaluations, one request


def test_without_coalescing_concurrent_evaluations_each_ask(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    """The baseline the lever is measured against (and what b9f4856 always did)."""
    cloud_jira.add_issues("ABC", 1)
    cloud_jira.latency = 0.2
    chain = make_chain(connect(cloud_jira), cache=JiraCache())

    async def run() -> None:
        async with chain:
            await asyncio.gather(*(chain.for_evaluation().resolve(["ABC-1"]) for _ in range(4)))

    asyncio.run(run())
    assert cloud_jira.count("/rest/api/3/issue/bulkfetch") == 4


def test_a_shared_lookup_that_fails_leaves_every_waiter_undetermined(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    cloud_jira.add_issues("ABC", 2)
    cloud_jira.latency = 0.1
    cloud_jira.fail(500, times=10, path="/rest/api/3/issue/bulkfetch")
    chain = make_chain(connect(cloud_jira), cache=JiraCache(coalesce=True))

    async def run() -> list[tuple[frozenset[str], set[str]]]:
        async with chain:
            results = await asyncio.gather(
                *(chain.for_evaluation().resolve(["ABC-1", "ABC-2"]) for _ in range(3))
            )
        return [(r.undetermined, {p.code for p in r.problems}) for r in results]

    for undetermined, codes in asyncio.run(run()):
        assert undetermined == {"ABC-1", "ABC-2"}  # never "not found"
        assert codes == {"JIRA_UNAVAILABLE"}
    assert cloud_jira.count("/rest/api/3/issue/bulkfetch") == 1


def test_a_waiter_keeps_its_own_deadline(cloud_jira: FakeJira, connect: Connect) -> None:
    cloud_jira.add_issues("ABC", 1)
    cloud_jira.hang(1.0, times=1, path="/rest/api/3/issue/bulkfetch")
    chain = make_chain(connect(cloud_jira), cache=JiraCache(coalesce=True))

    async def run() -> tuple[frozenset[str], set[str], set[str]]:
        async with chain:
            slow = asyncio.create_task(chain.for_evaluation(5).resolve(["ABC-1"]))
            await asyncio.sleep(0.05)
            hurried = await chain.for_evaluation(0.2).resolve(["ABC-1"])
            patient = await slow
        return hurried.undetermined, {p.code for p in hurried.problems}, set(patient.issues)

    undetermined, codes, patient = asyncio.run(run())
    assert undetermined == {"ABC-1"} and codes == {"JIRA_TIMEOUT"}
    assert patient == {"ABC-1"}


def test_the_sweep_keeps_answers_verified_and_applies_changes(
    jira: FakeJira, connect: Connect
) -> None:
    jira.add_issue("ABC-1", status="To Do")
    jira.add_issue("XYZ-1", status="To Do")  # a project nobody asked about: not swept
    time = FakeTime()
    cache = _cache(time)
    config = connect(jira)
    assert _match(config, cache, 300) == set()
    sweeps = jira.count()
    # ABC-1 was created a moment ago: new to the sweep, so its verdict is asked again once
    assert asyncio.run(make_chain(config, cache=cache).sweep()) == 1
    time.advance(1)
    assert _match(config, cache, 300) == set()
    time.advance(200)
    assert asyncio.run(make_chain(config, cache=cache).sweep()) == 0  # nothing new
    sweep_requests = [r for r in jira.requests[sweeps:] if "updated >=" in str(r.body)]
    assert len(sweep_requests) == 2
    assert all('project in ("ABC")' in r.body["jql"] for r in sweep_requests)
    time.advance(200)  # 400 s after the verdict, 200 s after the last sweep
    before = jira.count()
    assert _match(config, cache, 300) == set()
    assert jira.count() == before  # verified by the sweeps: served
    time_module.sleep(0.01)  # Jira's "updated" has millisecond precision
    jira.set_status("ABC-1", "In Progress")
    assert asyncio.run(make_chain(config, cache=cache).sweep()) == 1
    time.advance(1)
    assert _match(config, cache, 300) == {"ABC-1"}  # the sweep reported the change


def test_a_failed_sweep_stops_the_verification(cloud_jira: FakeJira, connect: Connect) -> None:
    cloud_jira.add_issue("ABC-1", status="To Do")
    time = FakeTime()
    cache = _cache(time)
    config = connect(cloud_jira)
    assert _match(config, cache, 300) == set()
    asyncio.run(make_chain(config, cache=cache).sweep())
    cloud_jira.set_status("ABC-1", "In Progress")
    cloud_jira.fail(503, times=20, path="/rest/api/3/search/jql")
    time.advance(200)
    asyncio.run(make_chain(config, cache=cache).sweep())  # fails: nothing verified
    cloud_jira.clear_faults()
    time.advance(200)
    assert _match(config, cache, 300) == {"ABC-1"}  # 400 s old, unverified: Jira is asked


def test_the_budget_per_technical_user_caps_requests_per_minute(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    cloud_jira.add_issues("ABC", 3)
    config = connect(cloud_jira, budget_per_minute=2)

    async def run() -> list[tuple[set[str], frozenset[str], set[str]]]:
        out = []
        for key in ("ABC-1", "ABC-2", "ABC-3"):  # three evaluations, three chains, one user
            r = await make_chain(config).resolve([key])
            out.append((set(r.issues), r.undetermined, {p.code for p in r.problems}))
        return out

    first, second, third = asyncio.run(run())
    assert first[0] == {"ABC-1"} and second[0] == {"ABC-2"}
    assert third == (set(), frozenset({"ABC-3"}), {"JIRA_RATE_LIMITED"})  # policy decides
    assert cloud_jira.count("/rest/api/3/issue/bulkfetch") == 2  # Jira never saw the third


def test_retry_after_pauses_every_evaluation_of_that_user(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    cloud_jira.add_issues("ABC", 2)
    config = connect(cloud_jira, budget_per_minute=100)
    cloud_jira.fail(429, retry_after="30", times=1, path="/rest/api/3/issue/bulkfetch")

    async def run() -> tuple[set[str], set[str]]:
        first = await make_chain(config, deadline=5).resolve(["ABC-1"])
        second = await make_chain(config, deadline=5).resolve(["ABC-2"])
        return {p.code for p in first.problems}, {p.code for p in second.problems}

    first, second = asyncio.run(run())
    assert first == {"JIRA_RATE_LIMITED"} and second == {"JIRA_RATE_LIMITED"}
    assert cloud_jira.count("/rest/api/3/issue/bulkfetch") == 1  # the second did not knock


def test_a_short_wait_for_the_budget_is_waited() -> None:
    from jirahooks.jira.budget import RequestBudget

    time = FakeTime()
    budget = RequestBudget(1, clock=time, sleep=time.sleep, max_wait=5)
    assert asyncio.run(budget.acquire())
    time.advance(57)
    assert asyncio.run(budget.acquire())  # waited the 3 s left of the minute
    assert time.sleeps == [3.0] and budget.waited == 1
    assert not asyncio.run(budget.acquire(remaining=1.0))  # 60 s away: refused at once
    assert budget.refused == 1


def test_warming_fills_existence_and_verdicts(jira: FakeJira, connect: Connect) -> None:
    jira.add_issues("ABC", 3, status="In Progress")
    jira.add_issue("OLD-1")
    jira.find("OLD-1").updated -= 30 * 86400  # type: ignore[union-attr]  # a month ago
    time = FakeTime()
    cache = _cache(time)
    config = connect(jira)
    assert asyncio.run(make_chain(config, cache=cache).warm(["ABC", "OLD"], jqls=[IN_PROGRESS]))
    before = jira.count()
    assert _match(config, cache, 300) == {"ABC-1"}
    assert jira.count() == before  # the morning's first commit: all from the cache
    asyncio.run(make_chain(config, cache=cache).resolve(["OLD-1"]))
    assert jira.count() == before + 1  # not updated for a month: not warmed
