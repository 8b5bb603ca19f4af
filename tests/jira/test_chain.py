"""ConnectionChain (the real Resolver) against fake Jiras, Cloud and Data Center."""

from __future__ import annotations

import asyncio
import math
import socket
from collections.abc import Callable

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.jira.support import FakeTime, make_chain

from jirahooks.engine.resolver import Resolution, Resolver
from jirahooks.jira import build_resolver
from jirahooks.jira.chain import ConnectionChain
from jirahooks.rules.config import ConnectionConfig, Deployment

Connect = Callable[..., ConnectionConfig]


def existence_requests(fake: FakeJira) -> int:
    if fake.deployment == "cloud":
        return fake.count("/rest/api/3/issue/bulkfetch")
    return fake.count("/rest/api/2/search")


def resolve(chain: ConnectionChain, keys: list[str] | set[str]) -> Resolution:
    return asyncio.run(chain.resolve(keys))


def test_chain_is_a_resolver(jira: FakeJira, connect: Connect) -> None:
    resolver = build_resolver([connect(jira)])
    assert isinstance(resolver, Resolver)
    assert resolver.offline is False


def test_no_connections_is_offline() -> None:
    assert build_resolver([]).offline is True


def test_found_and_unknown_keys(jira: FakeJira, connect: Connect) -> None:
    jira.add_issue("ABC-1", summary="Login", status="In Progress", fix_versions=["1.0"])
    jira.add_issue("ABC-2", assignee="someone")
    result = resolve(make_chain(connect(jira, "main")), ["ABC-1", "ABC-2", "ABC-3"])
    assert set(result.issues) == {"ABC-1", "ABC-2"}
    issue = result.issues["ABC-1"]
    assert (issue.summary, issue.status, issue.status_category) == (
        "Login",
        "In Progress",
        "indeterminate",
    )
    assert issue.fix_versions == ("1.0",)
    assert issue.connection == "main"
    assert issue.url == f"{jira.url}/browse/ABC-1"
    assert result.issues["ABC-2"].assignee == "someone"
    assert result.undetermined == frozenset()
    assert result.problems == ()


def test_moved_keys_map_back_to_the_requested_key(jira: FakeJira, connect: Connect) -> None:
    jira.add_issues("ABC", 5)
    jira.move_issue("ABC-2", "XYZ-10")
    jira.move_issue("ABC-4", "XYZ-11")
    result = resolve(make_chain(connect(jira)), ["ABC-1", "ABC-2", "ABC-3", "ABC-4", "ABC-99"])
    assert result.issues["ABC-2"].current_key == "XYZ-10"
    assert result.issues["ABC-4"].current_key == "XYZ-11"
    assert result.issues["ABC-2"].key == "ABC-2"
    assert result.issues["ABC-1"].current_key == "ABC-1"
    assert "ABC-99" not in result.issues


def test_old_and_new_key_in_the_same_push_both_resolve(jira: FakeJira, connect: Connect) -> None:
    jira.add_issue("ABC-1")
    jira.move_issue("ABC-1", "ABC-7")  # renamed within the project; Jira answers it once
    result = resolve(make_chain(connect(jira)), ["ABC-1", "ABC-7"])
    assert result.issues["ABC-1"].current_key == "ABC-7"
    assert result.issues["ABC-7"].current_key == "ABC-7"


def test_case_variants_resolve_under_the_upper_case_key(jira: FakeJira, connect: Connect) -> None:
    jira.add_issue("ABC-1")
    result = resolve(make_chain(connect(jira)), ["abc-1", "Abc-1"])
    assert set(result.issues) == {"ABC-1"}
    assert existence_requests(jira) == 1


def test_unknown_project_keys_are_unknown_not_errors(jira: FakeJira, connect: Connect) -> None:
    jira.add_issue("ABC-1")
    result = resolve(make_chain(connect(jira)), ["ABC-1", "NOPE-1", "UTF-8"])
    assert set(result.issues) == {"ABC-1"}
    assert result.undetermined == frozenset()
    assert result.problems == ()


def test_hidden_issues_are_unknown(jira: FakeJira, connect: Connect) -> None:
    jira.add_issue("SEC-1", hidden=True)
    result = resolve(make_chain(connect(jira)), ["SEC-1"])
    assert result.issues == {}
    assert result.problems == ()


def test_101_keys_take_two_bulkfetch_requests_on_cloud(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    keys = cloud_jira.add_issues("ABC", 101)
    result = resolve(make_chain(connect(cloud_jira)), keys)
    assert len(result.issues) == 101
    sizes = sorted(
        len(r.body["issueIdsOrKeys"]) for r in cloud_jira.requests_to("/rest/api/3/issue/bulkfetch")
    )
    assert sizes == [1, 100]


def test_101_keys_take_one_search_on_datacenter(dc_jira: FakeJira, connect: Connect) -> None:
    keys = dc_jira.add_issues("ABC", 101)
    result = resolve(make_chain(connect(dc_jira)), keys)
    assert len(result.issues) == 101
    assert dc_jira.count("/rest/api/2/search") == 1


def test_10000_keys_in_few_requests(jira: FakeJira, connect: Connect) -> None:
    keys = jira.add_issues("BIG", 10_000)
    result = resolve(make_chain(connect(jira, max_concurrency=8)), keys)
    assert len(result.issues) == 10_000
    expected = math.ceil(10_000 / (100 if jira.deployment == "cloud" else 500))
    assert existence_requests(jira) == expected


def test_datacenter_searches_without_validation(dc_jira: FakeJira, connect: Connect) -> None:
    dc_jira.add_issue("ABC-1")
    result = resolve(make_chain(connect(dc_jira)), ["ABC-1", "ABC-999"])
    assert set(result.issues) == {"ABC-1"}
    first = dc_jira.requests_to("/rest/api/2/search")[0]
    assert first.body["validateQuery"] is False
    assert first.body["jql"] == 'key in ("ABC-1", "ABC-999")'
    assert first.status == 200
    assert first.response["warningMessages"] == [
        "An issue with key 'ABC-999' does not exist for field 'key'."
    ]


def test_datacenter_pages_through_a_small_server_cap(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    fake = jira_factory("datacenter", max_results_cap=7)
    keys = fake.add_issues("ABC", 30)
    result = resolve(make_chain(connect(fake)), keys)
    assert len(result.issues) == 30
    searches = fake.requests_to("/rest/api/2/search")
    assert [r.body["startAt"] for r in searches] == [0, 7, 14, 21, 28]
    assert all(r.response["maxResults"] == 7 for r in searches)


def test_cloud_never_calls_the_removed_search(cloud_jira: FakeJira, connect: Connect) -> None:
    cloud_jira.add_issues("ABC", 3)
    chain = make_chain(connect(cloud_jira))
    resolution = resolve(chain, ["ABC-1", "ABC-2", "ABC-9"])
    asyncio.run(chain.match_jql("project = ABC", list(resolution.issues)))
    paths = {r.path for r in cloud_jira.requests}
    assert not paths & {"/rest/api/3/search", "/rest/api/2/search"}


def test_mixed_connections_ask_each_only_for_unresolved_keys(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    first = jira_factory("cloud")
    second = jira_factory("datacenter", context_path="/jira")
    first.add_issues("ABC", 3)
    second.add_issues("DCP", 3)
    chain = make_chain(connect(first, "cloud-a"), connect(second, "dc-b"))
    result = resolve(chain, ["ABC-1", "ABC-2", "DCP-1", "DCP-3", "ZZZ-1"])
    assert {k: v.connection for k, v in result.issues.items()} == {
        "ABC-1": "cloud-a",
        "ABC-2": "cloud-a",
        "DCP-1": "dc-b",
        "DCP-3": "dc-b",
    }
    asked_second = second.requests_to("/rest/api/2/search")[0].body["jql"]
    assert "ABC-" not in asked_second  # resolved above: never asked below
    assert '"DCP-1"' in asked_second and '"ZZZ-1"' in asked_second


def test_the_chain_stops_once_every_key_is_found(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    first, second = jira_factory("cloud"), jira_factory("cloud")
    first.add_issue("ABC-1")
    resolve(make_chain(connect(first), connect(second)), ["ABC-1"])
    assert second.count() == 0


def test_one_connection_down_the_other_still_answers(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    down = jira_factory("cloud")
    up = jira_factory("datacenter")
    up.add_issue("DCP-1")
    down.fail(503, times=-1)
    chain = make_chain(connect(down, "down"), connect(up, "up"))
    result = resolve(chain, ["ABC-1", "DCP-1"])
    assert set(result.issues) == {"DCP-1"}
    assert result.undetermined == {"ABC-1"}  # never "invalid": the policy decides
    (problem,) = result.problems
    assert (problem.connection, problem.code) == ("down", "JIRA_UNAVAILABLE")


def test_an_unreachable_connection_is_a_problem(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    up = jira_factory("cloud")
    up.add_issue("ABC-1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gone = connect(up, "gone", url=f"http://127.0.0.1:{port}")
    result = resolve(make_chain(gone, connect(up, "up")), ["ABC-1", "ABC-2"])
    assert set(result.issues) == {"ABC-1"}
    assert result.undetermined == {"ABC-2"}
    assert [(p.connection, p.code) for p in result.problems] == [("gone", "JIRA_UNAVAILABLE")]


def test_rejected_token_makes_keys_undetermined_not_invalid(
    jira: FakeJira, connect: Connect
) -> None:
    keys = [f"ABC-{n}" for n in range(1, 2001)]  # 20 Cloud batches, 4 Data Center ones
    result = resolve(make_chain(connect(jira, "main", token="revoked")), keys)
    assert result.issues == {}
    assert result.undetermined == frozenset(keys)
    (problem,) = result.problems
    assert problem.code == "JIRA_AUTH_REJECTED"
    assert "rotate it" in problem.hint
    assert "revoked" not in problem.message + problem.hint
    # The first rejection stops further batches: only those already in flight were sent.
    assert jira.count() <= make_chain(connect(jira)).clients[0].config.max_concurrency


def test_seraph_failure_on_anonymous_200_is_not_issue_not_found(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    fake = jira_factory("cloud", anonymous_access=True)
    fake.add_issue("ABC-1")
    result = resolve(make_chain(connect(fake, token="wrong")), ["ABC-1"])
    assert result.undetermined == {"ABC-1"}
    assert result.problems[0].code == "JIRA_AUTH_REJECTED"


def test_html_answers_are_a_bad_response_problem(jira: FakeJira, connect: Connect) -> None:
    jira.add_issue("ABC-1")
    jira.serve_html(times=-1)
    result = resolve(make_chain(connect(jira)), ["ABC-1"])
    assert result.undetermined == {"ABC-1"}
    assert result.problems[0].code == "JIRA_BAD_RESPONSE"


def test_rate_limit_retried_within_the_deadline(jira: FakeJira, connect: Connect) -> None:
    jira.add_issue("ABC-1")
    time = FakeTime()
    jira.fail(429, retry_after="2", times=2)
    chain = make_chain(connect(jira), deadline=10, time=time)
    result = resolve(chain, ["ABC-1"])
    assert set(result.issues) == {"ABC-1"}
    assert time.sleeps == [2.0, 2.0]


def test_rate_limit_past_the_deadline_is_reported(jira: FakeJira, connect: Connect) -> None:
    jira.add_issue("ABC-1")
    time = FakeTime()
    jira.fail(429, retry_after="60", times=-1)
    result = resolve(make_chain(connect(jira), deadline=5, time=time), ["ABC-1"])
    assert result.undetermined == {"ABC-1"}
    assert result.problems[0].code == "JIRA_RATE_LIMITED"
    assert time.sleeps == []


def test_rate_limit_without_retry_after_is_bounded_by_the_deadline(
    jira: FakeJira, connect: Connect
) -> None:
    jira.add_issue("ABC-1")
    time = FakeTime()
    jira.fail(429, times=-1)
    from jirahooks.retry import RetryPolicy

    retry = RetryPolicy(max_attempts=50, backoff_base=1.0, backoff_cap=4.0)
    result = resolve(make_chain(connect(jira), deadline=10, time=time, retry=retry), ["ABC-1"])
    assert result.problems[0].code == "JIRA_RATE_LIMITED"
    assert sum(time.sleeps) <= 10
    assert len(time.sleeps) < 49  # stopped by the deadline, not by max_attempts


def test_deadline_cuts_a_hanging_jira_short(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    slow = jira_factory("cloud")
    slow.add_issue("ABC-1")
    slow.hang(30, times=-1)
    chain = make_chain(connect(slow, "slow", timeout_seconds=30), deadline=0.5)
    result = resolve(chain, ["ABC-1"])
    assert result.undetermined == {"ABC-1"}
    assert [p.code for p in result.problems] == ["JIRA_TIMEOUT"]


def test_answers_received_before_the_deadline_are_kept(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    fake = jira_factory("cloud")
    keys = fake.add_issues("ABC", 200)
    fake.hang(30, path="/rest/api/3/issue/bulkfetch", times=1)
    chain = make_chain(connect(fake, max_concurrency=2, timeout_seconds=30), deadline=1.0)
    result = resolve(chain, keys)
    assert len(result.issues) == 100  # the batch that answered
    assert len(result.undetermined) == 100  # the batch that hung
    assert result.problems[0].code == "JIRA_TIMEOUT"


def test_expired_deadline_skips_later_connections(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    first, second = jira_factory("cloud"), jira_factory("cloud")
    time = FakeTime()
    chain = make_chain(connect(first, "a"), connect(second, "b"), deadline=1, time=time)
    chain.deadline()  # the evaluation starts …
    time.advance(5)  # … and its budget is spent
    result = resolve(chain, ["ABC-1"])
    assert result.undetermined == {"ABC-1"}
    assert {(p.connection, p.code) for p in result.problems} == {
        ("a", "JIRA_TIMEOUT"),
        ("b", "JIRA_TIMEOUT"),
    }
    assert first.count() == second.count() == 0


def test_for_evaluation_starts_a_fresh_deadline(cloud_jira: FakeJira, connect: Connect) -> None:
    cloud_jira.add_issue("ABC-1")
    time = FakeTime()
    chain = make_chain(connect(cloud_jira), deadline=1, time=time)
    chain.deadline()
    time.advance(5)
    fresh = chain.for_evaluation()
    assert set(resolve(fresh, ["ABC-1"]).issues) == {"ABC-1"}


# -- JQL -------------------------------------------------------------------------------------


def test_match_jql_runs_on_the_resolving_connection(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    cloud = jira_factory("cloud")
    dc = jira_factory("datacenter", context_path="/jira")
    cloud.add_issue("ABC-1", status="In Progress")
    cloud.add_issue("ABC-2", status="Done")
    dc.add_issue("DCP-1", status="In Progress")
    dc.add_issue("DCP-2", status="To Do")
    chain = make_chain(connect(cloud, "c"), connect(dc, "d"))

    async def run() -> tuple[Resolution, frozenset[str]]:
        resolution = await chain.resolve(["ABC-1", "ABC-2", "DCP-1", "DCP-2"])
        result = await chain.match_jql('status = "In Progress"', list(resolution.issues))
        assert result.problems == ()
        return resolution, result.matching

    _, matching = asyncio.run(run())
    assert matching == {"ABC-1", "DCP-1"}
    (match,) = cloud.requests_to("/rest/api/3/jql/match")
    assert sorted(match.body["issueIds"]) == sorted(
        int(cloud.find(k).id)
        for k in ("ABC-1", "ABC-2")  # type: ignore[union-attr]
    )
    dc_query = dc.requests_to("/rest/api/2/search")[-1].body["jql"]
    assert dc_query.startswith('(status = "In Progress") AND id in (')


def test_match_jql_for_moved_keys(jira: FakeJira, connect: Connect) -> None:
    jira.add_issue("ABC-1", fix_versions=["2.0"])
    jira.move_issue("ABC-1", "NEW-1")
    chain = make_chain(connect(jira))
    result = asyncio.run(chain.match_jql("fixVersion is not EMPTY AND project = NEW", ["ABC-1"]))
    assert result.matching == {"ABC-1"}


def test_match_jql_current_user(jira: FakeJira, connect: Connect) -> None:
    me = jira.user.account_id if jira.deployment == "cloud" else jira.user.name
    jira.add_issue("ABC-1", assignee=me)
    jira.add_issue("ABC-2", assignee="someone-else")
    jira.add_issue("ABC-3")
    chain = make_chain(connect(jira))
    result = asyncio.run(chain.match_jql("assignee = currentUser()", ["ABC-1", "ABC-2", "ABC-3"]))
    assert result.matching == {"ABC-1"}


def test_invalid_jql_is_a_problem_with_undetermined_keys(jira: FakeJira, connect: Connect) -> None:
    jira.add_issue("ABC-1")
    result = asyncio.run(make_chain(connect(jira)).match_jql("colour = red", ["ABC-1"]))
    assert result.undetermined == {"ABC-1"}
    assert result.problems[0].code == "JIRA_JQL_REJECTED"
    assert "colour" in result.problems[0].message


def test_unknown_keys_never_match(jira: FakeJira, connect: Connect) -> None:
    result = asyncio.run(make_chain(connect(jira)).match_jql("project = ABC", ["ABC-404"]))
    assert result.matching == frozenset()
    assert result.undetermined == frozenset()


def test_validate_jql_when_a_rule_is_saved(jira: FakeJira, connect: Connect) -> None:
    jira.add_project("ABC")
    chain = make_chain(connect(jira, "main"))
    assert asyncio.run(chain.validate_jql("project = ABC AND status = Done")).valid
    check = asyncio.run(chain.validate_jql("project = NOPE"))
    assert not check.valid
    assert check.errors["main"] == ["The value 'NOPE' does not exist for the field 'project'."]


# -- projects --------------------------------------------------------------------------------


def test_projects_of_all_connections(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    cloud = jira_factory("cloud")
    dc = jira_factory("datacenter")
    for n in range(130):  # more than one page of /project/search
        cloud.add_project(f"P{n:03d}")
    dc.add_project("DCP")
    projects = asyncio.run(make_chain(connect(cloud), connect(dc)).projects())
    assert projects.problems == ()
    assert projects.projects is not None
    assert len(projects.projects) == 131
    assert cloud.count("/rest/api/3/project/search") == 2


def test_projects_incomplete_when_a_connection_fails(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    # what the answering connection listed stays known; the set is marked incomplete, so the
    # engine treats keys of other projects as undetermined (not as "no key")
    ok, broken = jira_factory("cloud"), jira_factory("cloud")
    ok.add_project("ABC")
    broken.fail(401, times=-1)
    projects = asyncio.run(make_chain(connect(ok), connect(broken, "broken")).projects())
    assert projects.projects == {"ABC"}
    assert not projects.is_complete
    assert [(p.connection, p.code) for p in projects.problems] == [("broken", "JIRA_AUTH_REJECTED")]


def test_build_resolver_reads_tokens_from_the_environment(
    cloud_jira: FakeJira, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jirahooks.errors import ConfigError

    config = connect(cloud_jira)
    monkeypatch.delenv(config.token[2:-1])
    with pytest.raises(ConfigError) as info:
        build_resolver([config])
    assert "is not set" in str(info.value)


def test_failed_deployment_detection_is_a_problem(jira: FakeJira, connect: Connect) -> None:
    jira.fail(503, times=-1, path="/serverInfo")
    result = resolve(make_chain(connect(jira, "auto", deployment=Deployment.AUTO)), ["ABC-1"])
    assert result.undetermined == {"ABC-1"}
    assert [(p.connection, p.code) for p in result.problems] == [("auto", "JIRA_UNAVAILABLE")]
