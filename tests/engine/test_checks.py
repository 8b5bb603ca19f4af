"""Every check of the registry, passing and failing, through ``evaluate``."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

import pytest

from jirahooks.engine import Evaluation, InMemoryResolver, IssueData, OfflineResolver, evaluate
from jirahooks.engine.facts import Code, Context, Fact, FactStatus, Source, Status
from jirahooks.engine.resolver import JqlResult, Resolver
from jirahooks.event import Commit, Event, PullRequest, Trigger
from jirahooks.rules import Rule, parse_rule
from jirahooks.rules.config import parse_settings

H1, H2, H3 = "1" * 40, "2" * 40, "3" * 40


def rule(**data: Any) -> Rule:
    data.setdefault("id", "r")
    data.setdefault("title", "Rule under test")
    return parse_rule(data)


def run(
    event: Event, rules: Rule | list[Rule], resolver: Resolver | None = None, **settings: Any
) -> Evaluation:
    rules = [rules] if isinstance(rules, Rule) else rules
    return asyncio.run(evaluate(event, rules, resolver, settings=parse_settings(settings)))


def push(*messages: str, branch: str = "main", parents: tuple[str, ...] | None = None) -> Event:
    commits = tuple(
        Commit(f"{i + 1:x}" * 40, m, "Ada", parents=parents) for i, m in enumerate(messages)
    )
    return Event(Trigger.PUSH, branch, commits)


def facts(evaluation: Evaluation) -> list[Fact]:
    (rv,) = evaluation.rule_validations
    return list(rv.check_facts)


def status(evaluation: Evaluation) -> Status:
    (rv,) = evaluation.rule_validations
    return rv.status


def by_code(evaluation: Evaluation, code: Code) -> list[Fact]:
    return [f for f in facts(evaluation) if f.code is code]


def messages(evaluation: Evaluation) -> list[str]:
    return [f.message() for f in facts(evaluation)]


JIRA = InMemoryResolver(
    [
        IssueData("ABC-1", status="In Progress", summary="Login"),
        IssueData("ABC-2", status="Done"),
        IssueData("NEW-7", status="Open"),
    ],
    jql={'status = "In Progress"': ["ABC-1"], "status != Done": ["ABC-1", "NEW-7"]},
    moved={"OLD-1": "NEW-7"},
)


# --- key_present -----------------------------------------------------------------------------


def test_key_present_passes() -> None:
    ev = run(push("ABC-1 Fix login"), rule(checks={"key_present": True}))
    assert ev.result is Status.PASS
    (fact,) = facts(ev)
    assert (fact.code, fact.status, fact.source) == (
        Code.KEYS_PRESENT,
        FactStatus.SUCCESS,
        Source.ISSUE_KEY,
    )
    assert fact.contexts == (Context.COMMIT,)
    assert fact.ref == H1
    assert fact.message() == "Commit contains issue keys: ABC-1."


def test_key_present_fails_per_commit() -> None:
    ev = run(push("ABC-1 ok", "no key here"), rule(checks={"key_present": True}))
    assert ev.result is Status.BLOCK
    (fact,) = by_code(ev, Code.NO_KEYS)
    assert fact.status is FactStatus.ERROR
    assert fact.ref == "2" * 40
    assert fact.message() == "Commit does not contain any issue keys."


def test_key_present_on_the_branch() -> None:
    ev = run(push(branch="main"), rule(targets=["BRANCH"], checks={"key_present": True}))
    assert ev.result is Status.BLOCK
    (fact,) = facts(ev)
    assert fact.contexts == (Context.BRANCH_SOURCE,)
    assert fact.message() == "Branch name does not contain any issue keys."


def test_key_present_branch_is_case_insensitive_by_default_commits_are_not() -> None:
    r = rule(targets=["BRANCH", "COMMIT"], checks={"key_present": True})
    ev = run(push("abc-1 lower case", branch="feature/abc-1-login"), r)
    assert [(f.contexts[0], f.code) for f in facts(ev)] == [
        (Context.BRANCH_SOURCE, Code.KEYS_PRESENT),
        (Context.COMMIT, Code.NO_KEYS),
        (Context.COMMIT, Code.CHECKED),  # the hint: the branch names ABC-1 (engine/suggest.py)
    ]
    assert facts(ev)[-1].category == ("HINT",) and facts(ev)[-1].params["key"] == "ABC-1"
    ev = run(push("abc-1 lower case"), r, case_insensitive=["COMMIT"])
    assert by_code(ev, Code.KEYS_PRESENT)


# --- escaped_keys ----------------------------------------------------------------------------


def test_escaped_keys_are_reported_and_do_not_count() -> None:
    ev = run(push("Revisit \\ABC-1 and `ABC-2` later"), rule(checks={"key_present": True}))
    assert ev.result is Status.BLOCK
    escaped = by_code(ev, Code.FOUND)
    assert [f.message() for f in escaped] == [
        "ABC-1 is escaped and not evaluated.",
        "ABC-2 is escaped and not evaluated.",
    ]
    assert all(f.status is FactStatus.INFO for f in escaped)
    assert by_code(ev, Code.NO_KEYS)


def test_escaped_keys_are_never_sent_to_jira() -> None:
    jira = InMemoryResolver([IssueData("ABC-1")])
    ev = run(push("ABC-1 see ```\nZZZ-9\n```"), rule(checks={"keys_valid": "ALL"}), jira)
    assert ev.result is Status.PASS
    assert jira.calls == [("resolve", 1)]
    assert not by_code(ev, Code.INVALID)


def test_escaped_keys_check_never_fails_on_its_own() -> None:
    ev = run(push("ABC-1 and \\DEF-2"), rule(checks={"key_present": True}))
    assert ev.result is Status.PASS
    assert [f.code for f in facts(ev)] == [Code.KEYS_PRESENT, Code.FOUND]


# --- ignore_unknown_projects -----------------------------------------------------------------


def test_unknown_projects_are_ignored_when_asked() -> None:
    jira = InMemoryResolver([IssueData("ABC-1")], projects=["ABC"])
    r = rule(checks={"keys_valid": "ALL", "ignore_unknown_projects": True})
    ev = run(push("ABC-1 bump KIP-500 support"), r, jira)
    assert ev.result is Status.PASS
    (ignored,) = by_code(ev, Code.NOT_FOUND)
    assert ignored.status is FactStatus.INFO
    assert ignored.message() == "KIP-500 is ignored: no Jira connection knows project KIP."
    assert jira.calls == [("projects", 0), ("resolve", 1)]


def test_unknown_projects_are_invalid_keys_without_the_option() -> None:
    jira = InMemoryResolver([IssueData("ABC-1")], projects=["ABC"])
    ev = run(push("ABC-1 bump KIP-500 support"), rule(checks={"keys_valid": "ALL"}), jira)
    assert ev.result is Status.BLOCK
    assert [f.message() for f in by_code(ev, Code.INVALID)] == [
        "KIP-500 was not found or is not visible to the Jira connection's user."
    ]


def test_unknown_project_keys_do_not_count_as_present() -> None:
    jira = InMemoryResolver([IssueData("ABC-1")], projects=["ABC"])
    r = rule(checks={"key_present": True, "ignore_unknown_projects": True})
    ev = run(push("KIP-500 support"), r, jira)
    assert ev.result is Status.BLOCK
    assert by_code(ev, Code.NO_KEYS) and by_code(ev, Code.NOT_FOUND)


def test_unknown_projects_are_not_asked_offline() -> None:
    r = rule(checks={"key_present": True, "ignore_unknown_projects": True})
    ev = run(push("KIP-500 support"), r, OfflineResolver())
    assert ev.result is Status.PASS  # without Jira there is no project list to drop keys by
    assert ev.resolver_calls == 0


# --- keys_valid_all / keys_valid_one ---------------------------------------------------------


def test_keys_valid_all_passes() -> None:
    ev = run(push("ABC-1 and ABC-2"), rule(checks={"keys_valid": "ALL"}), JIRA)
    assert ev.result is Status.PASS
    assert [f.message() for f in by_code(ev, Code.VALID)] == [
        "ABC-1 is a valid issue (In Progress).",
        "ABC-2 is a valid issue (Done).",
    ]
    (fact,) = by_code(ev, Code.ALL_VALID)
    assert fact.message() == "All issue keys are valid: ABC-1, ABC-2."


def test_keys_valid_all_fails_on_one_unknown_key() -> None:
    ev = run(push("ABC-1 and ZZZ-9"), rule(checks={"keys_valid": "ALL"}), JIRA)
    assert ev.result is Status.BLOCK
    (invalid,) = by_code(ev, Code.INVALID)
    assert invalid.status is FactStatus.ERROR and invalid.ref == H1
    (summary,) = by_code(ev, Code.NOT_ALL_VALID)
    assert summary.message() == "Not all issue keys are valid: ZZZ-9 not found."
    assert not by_code(ev, Code.ALL_VALID)


def test_keys_valid_all_without_keys_leaves_it_to_key_present() -> None:
    ev = run(push("no key"), rule(checks={"keys_valid": "ALL"}), JIRA)
    assert ev.result is Status.PASS
    (fact,) = facts(ev)
    assert (fact.code, fact.status) == (Code.CHECKED, FactStatus.INFO)
    assert fact.message() == "Commit has no issue keys to check."


def test_keys_valid_one_passes_with_one_valid_key() -> None:
    ev = run(push("ZZZ-9 and ABC-1"), rule(checks={"keys_valid": "ONE"}), JIRA)
    assert ev.result is Status.PASS
    (fact,) = by_code(ev, Code.ONE_VALID)
    assert fact.message() == "At least one issue key is valid: ABC-1."


def test_keys_valid_one_fails_when_none_is_valid() -> None:
    ev = run(push("ZZZ-9 and YYY-8"), rule(checks={"keys_valid": "ONE"}), JIRA)
    assert ev.result is Status.BLOCK
    (fact,) = by_code(ev, Code.NONE_VALID)
    assert fact.status is FactStatus.ERROR
    assert fact.message() == "None of the issue keys is valid: ZZZ-9, YYY-8."


def test_keys_valid_one_without_keys_fails() -> None:
    ev = run(push("no key"), rule(checks={"keys_valid": "ONE"}), JIRA)
    assert ev.result is Status.BLOCK
    assert by_code(ev, Code.NONE_VALID)[0].message() == "None of the issue keys is valid: -."


def test_moved_keys_are_valid_and_name_the_current_key() -> None:
    ev = run(push("OLD-1 continue"), rule(checks={"keys_valid": "ALL"}), JIRA)
    assert ev.result is Status.PASS
    (fact,) = by_code(ev, Code.VALID)
    assert fact.message() == "OLD-1 is a valid issue, now NEW-7 (Open)."
    (rv,) = ev.rule_validations
    assert rv.issues["OLD-1"].current_key == "NEW-7"


# --- jql -------------------------------------------------------------------------------------


def test_jql_passes() -> None:
    ev = run(push("ABC-1 work"), rule(checks={"jql": 'status = "In Progress"'}), JIRA)
    assert ev.result is Status.PASS
    (fact,) = by_code(ev, Code.MATCH)
    assert fact.source is Source.JQL
    assert fact.message() == 'ABC-1 matches the JQL condition (status = "In Progress").'


def test_jql_fails_with_the_issue_status() -> None:
    ev = run(push("ABC-2 work"), rule(checks={"jql": 'status = "In Progress"'}), JIRA)
    assert ev.result is Status.BLOCK
    (fact,) = by_code(ev, Code.NOT_MATCH)
    assert (fact.status, fact.source) == (FactStatus.ERROR, Source.JQL)
    assert fact.message() == 'ABC-2 (Done) does not match the JQL condition: status = "In Progress"'


def test_jql_leaves_unknown_keys_to_the_validity_checks() -> None:
    ev = run(push("ZZZ-9 work"), rule(checks={"jql": 'status = "In Progress"'}), JIRA)
    assert ev.result is Status.PASS
    assert facts(ev) == []
    ev = run(
        push("ZZZ-9 work"),
        rule(checks={"keys_valid": "ALL", "jql": 'status = "In Progress"'}),
        JIRA,
    )
    assert ev.result is Status.BLOCK
    assert by_code(ev, Code.INVALID) and not by_code(ev, Code.NOT_MATCH)


def test_jql_follows_moved_keys() -> None:
    ev = run(push("OLD-1 work"), rule(checks={"jql": "status != Done"}), JIRA)
    assert ev.result is Status.PASS
    assert by_code(ev, Code.MATCH)


class _JqlDown(InMemoryResolver):
    """Resolves keys, but the JQL search cannot be run (a connection failed mid-evaluation)."""

    async def match_jql(
        self, jql: str, keys: Collection[str], *, max_age: float | None = None
    ) -> JqlResult:
        self.calls.append(("match_jql", len(keys)))
        problem = self._problem()
        return JqlResult(undetermined=frozenset(keys), problems=(problem,))


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("BLOCK", Status.BLOCK), ("WARN", Status.WARNING), ("ALLOW", Status.PASS)],
)
def test_jql_undetermined_follows_the_unreachable_policy(policy: str, expected: Status) -> None:
    jira = _JqlDown([IssueData("ABC-1")])
    ev = run(push("ABC-1"), rule(checks={"jql": "status = X"}), jira, jira_unreachable=policy)
    assert status(ev) is expected
    assert not by_code(ev, Code.NOT_MATCH)
    (undetermined,) = [f for f in facts(ev) if f.message_id == "jql.undetermined"]
    assert undetermined.source is Source.JIRA_CONNECTION


# --- naming ----------------------------------------------------------------------------------


def test_naming_on_the_branch() -> None:
    r = rule(targets=["BRANCH"], checks={"naming": r"^(feature|bugfix)/[A-Z]+-[0-9]+"})
    ev = run(push(branch="feature/ABC-1-login"), r)
    assert ev.result is Status.PASS
    (fact,) = facts(ev)
    assert (fact.code, fact.source) == (Code.MATCH, Source.NAMING)
    assert fact.message() == "Branch name 'feature/ABC-1-login' follows the naming convention."
    ev = run(push(branch="wip"), r)
    assert ev.result is Status.BLOCK
    (fact,) = facts(ev)
    assert (fact.code, fact.status) == (Code.NOT_MATCH, FactStatus.ERROR)
    assert fact.message() == (
        "Branch name 'wip' does not match the naming convention: ^(feature|bugfix)/[A-Z]+-[0-9]+"
    )


def test_naming_on_each_commit_shows_the_subject_only() -> None:
    r = rule(checks={"naming": r"^[A-Z]+-[0-9]+ \S"})
    ev = run(push("ABC-1 Fix", "fix stuff\n\nABC-1 in the body"), r)
    assert ev.result is Status.BLOCK
    fails = by_code(ev, Code.NOT_MATCH)
    assert [f.ref for f in fails] == ["2" * 40]
    assert fails[0].message().startswith("Commit 'fix stuff' does not match")


def test_naming_on_the_commit_set_checks_every_message() -> None:
    r = rule(targets=["COMMITS"], checks={"naming": r"^[A-Z]+-[0-9]+ "})
    ev = run(push("ABC-1 a", "ABC-2 b", "c"), r)
    assert ev.result is Status.BLOCK
    assert [f.ref for f in by_code(ev, Code.MATCH)] == [H1, H2]
    (fail,) = by_code(ev, Code.NOT_MATCH)
    assert fail.ref == H3
    assert fail.message() == "Commit 'c' does not match the naming convention: ^[A-Z]+-[0-9]+ "
    assert all(f.contexts == (Context.COMMITS,) for f in facts(ev))


def test_naming_shortens_long_texts() -> None:
    r = rule(targets=["PR_TITLE"], checks={"naming": "^ABC"})
    pr = PullRequest("1", "x" * 200)
    ev = run(Event(Trigger.PULL_REQUEST, "f", (), pr), r)
    assert "'" + "x" * 77 + "...'" in facts(ev)[0].message()


def test_naming_with_a_catastrophic_pattern_completes() -> None:
    # (a+)+$ backtracks exponentially on Python's re; RE2 answers in linear time.
    r = rule(targets=["PR_TITLE"], checks={"naming": "(a+)+$"})
    pr = PullRequest("1", "a" * 50_000 + "!")
    ev = run(Event(Trigger.PULL_REQUEST, "f", (), pr), r)
    assert ev.result is Status.BLOCK
    assert by_code(ev, Code.NOT_MATCH)


# --- no_merge_commits ------------------------------------------------------------------------


def test_no_merge_commits_passes_for_ordinary_commits() -> None:
    ev = run(push("ABC-1", parents=("p",)), rule(checks={"no_merge_commits": True}))
    assert ev.result is Status.PASS
    (fact,) = facts(ev)
    assert fact.message() == "Commit is not a merge commit."


def test_no_merge_commits_fails_on_two_parents() -> None:
    ev = run(push("ABC-1 merge", parents=("p1", "p2")), rule(checks={"no_merge_commits": True}))
    assert ev.result is Status.BLOCK
    (fact,) = facts(ev)
    assert (fact.code, fact.status, fact.ref) == (Code.NOT_MATCH, FactStatus.ERROR, H1)
    assert fact.message() == (f"Commit {H1[:12]} is a merge commit; merge commits are not allowed.")


@pytest.mark.parametrize(
    "subject",
    [
        "Merge branch 'feature/x' into main",
        "Merge pull request #12 from acme/feature",
        "Merge remote-tracking branch 'origin/main'",
        "Merged in feature/ABC-1 (pull request #3)",
    ],
)
def test_no_merge_commits_recognises_merge_subjects_without_parents(subject: str) -> None:
    ev = run(push(subject), rule(checks={"no_merge_commits": True}))
    assert ev.result is Status.BLOCK


def test_merge_subject_is_not_used_when_parents_are_known() -> None:
    ev = run(push("Merge branch 'x'", parents=("p",)), rule(checks={"no_merge_commits": True}))
    assert ev.result is Status.PASS


def test_no_merge_commits_on_the_commit_set() -> None:
    r = rule(targets=["COMMITS"], checks={"no_merge_commits": True})
    assert messages(run(push("a", "b", parents=("p",)), r)) == ["No merge commits."]


def test_no_merge_commits_ignores_branch_targets() -> None:
    r = rule(targets=["BRANCH"], checks={"no_merge_commits": True})
    ev = run(push("Merge branch 'x'", branch="feature/x"), r)
    assert ev.result is Status.PASS
    assert facts(ev) == []


# --- consistency -----------------------------------------------------------------------------


def _pr_event(branch: str, title: str, *messages: str) -> Event:
    commits = tuple(Commit(f"{i + 1:x}" * 40, m) for i, m in enumerate(messages))
    return Event(Trigger.PULL_REQUEST, branch, commits, PullRequest("7", title, "", branch, "main"))


CONSISTENT = {"targets": ["BRANCH", "COMMIT", "PR_TITLE"], "checks": {"consistency": True}}


def test_consistency_passes() -> None:
    ev = run(_pr_event("feature/ABC-1-x", "ABC-1: Login", "ABC-1 a", "ABC-1 b"), rule(**CONSISTENT))
    assert ev.result is Status.PASS
    (fact,) = facts(ev)
    assert (fact.code, fact.source) == (Code.MATCH, Source.CONSISTENCY)
    assert fact.message() == "All targets reference the same issue: ABC-1."
    assert fact.contexts == (Context.BRANCH_SOURCE,)


def test_consistency_fails_and_lists_where_each_key_is() -> None:
    ev = run(_pr_event("feature/ABC-1-x", "ABC-2: Login", "ABC-1 a"), rule(**CONSISTENT))
    assert ev.result is Status.BLOCK
    (fact,) = facts(ev)
    assert (fact.code, fact.status) == (Code.NOT_MATCH, FactStatus.ERROR)
    assert fact.message() == (
        "The targets reference different issues: "
        f"ABC-1 (branch, commit {'1' * 12}); ABC-2 (PR title)."
    )


def test_consistency_treats_a_moved_key_as_its_current_key() -> None:
    ev = run(_pr_event("feature/OLD-1-x", "NEW-7 Login", "NEW-7 a"), rule(**CONSISTENT), JIRA)
    assert ev.result is Status.PASS
    assert facts(ev)[0].message() == "All targets reference the same issue: NEW-7."


def test_consistency_without_keys_is_left_to_key_present() -> None:
    ev = run(_pr_event("feature/x", "Login", "a"), rule(**CONSISTENT))
    assert ev.result is Status.PASS
    assert facts(ev)[0].message() == "No issue key to compare across the targets."


# --- single_commit ---------------------------------------------------------------------------


def test_single_commit_passes_with_one() -> None:
    ev = run(push("ABC-1"), rule(targets=["COMMITS"], checks={"single_commit": True}))
    assert ev.result is Status.PASS
    (fact,) = facts(ev)
    assert (fact.code, fact.contexts, fact.message()) == (
        Code.MATCH,
        (Context.COMMITS,),
        "Exactly one commit.",
    )


def test_single_commit_fails_with_more() -> None:
    ev = run(push("a", "b", "c"), rule(targets=["COMMITS"], checks={"single_commit": True}))
    assert ev.result is Status.BLOCK
    (fact,) = facts(ev)
    assert fact.message() == "There are 3 commits; squash them into one."


def test_single_commit_without_commits() -> None:
    ev = run(push(branch="feature/x"), rule(targets=["BRANCH"], checks={"single_commit": True}))
    assert ev.result is Status.PASS
    assert facts(ev)[0].message() == "There are no commits."


def test_single_commit_counts_only_the_commits_the_rule_looks_at() -> None:
    r = rule(
        targets=["COMMITS"],
        conditions={"skip_merge_commits": True},
        checks={"single_commit": True},
    )
    commits = (Commit(H1, "ABC-1", parents=("p",)), Commit(H2, "Merge", parents=("a", "b")))
    ev = run(Event(Trigger.PULL_REQUEST, "f", commits), r)
    assert ev.result is Status.PASS


# --- unreachable Jira ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "rule_status", "fact_status"),
    [
        ("BLOCK", Status.BLOCK, FactStatus.ERROR),
        ("WARN", Status.WARNING, FactStatus.WARNING),
        ("ALLOW", Status.PASS, FactStatus.INFO),
    ],
)
def test_undetermined_keys_follow_the_unreachable_policy(
    policy: str, rule_status: Status, fact_status: FactStatus
) -> None:
    jira = InMemoryResolver([IssueData("ABC-1")], failing=["ABC-2"], connection="jira-a")
    r = rule(checks={"key_present": True, "keys_valid": "ALL", "jql": "status = X"})
    ev = run(push("ABC-2 work"), r, jira, jira_unreachable=policy)
    assert status(ev) is rule_status
    assert ev.result is rule_status
    all_facts = facts(ev)
    assert not [f for f in all_facts if f.code in (Code.INVALID, Code.NOT_ALL_VALID)]
    (undetermined,) = [f for f in all_facts if f.message_id == "key.undetermined"]
    assert undetermined.source is Source.JIRA_CONNECTION
    assert undetermined.message() == "ABC-2 could not be checked: Jira was not reachable."
    policy_facts = [f for f in all_facts if f.message_id.startswith("jira.policy.")]
    assert [(f.status, f.source, f.contexts) for f in policy_facts] == [
        (fact_status, Source.JIRA_CONNECTION, (Context.COMMIT, Context.SYSTEM))
    ]
    assert "ABC-2" in policy_facts[0].message()
    problem_facts = [f for f in all_facts if f.message_id == "jira.problem"]
    assert problem_facts and problem_facts[0].params["connection"] == "jira-a"
    assert [f.source for f in ev.system_facts] == [Source.JIRA_CONNECTION]


def test_an_invalid_key_still_fails_when_another_is_undetermined() -> None:
    jira = InMemoryResolver([IssueData("ABC-1")], failing=["ABC-2"])
    ev = run(
        push("ABC-2 ZZZ-9"), rule(checks={"keys_valid": "ALL"}), jira, jira_unreachable="ALLOW"
    )
    assert ev.result is Status.BLOCK
    assert [f.message_id for f in facts(ev) if f.code is Code.INVALID] == ["key.invalid"]
    assert not [f for f in facts(ev) if f.message_id.startswith("jira.policy")]


def test_one_valid_key_is_enough_even_when_another_is_undetermined() -> None:
    jira = InMemoryResolver([IssueData("ABC-1")], failing=["ABC-2"])
    ev = run(push("ABC-1 ABC-2"), rule(checks={"keys_valid": "ONE"}), jira)
    assert ev.result is Status.PASS


# --- offline ---------------------------------------------------------------------------------


def test_offline_resolver_reports_not_checked_once_per_rule() -> None:
    r = rule(checks={"key_present": True, "keys_valid": "ALL", "jql": "status = X"})
    ev = run(push("ABC-1", "ABC-2", "ZZZ-9"), r, OfflineResolver())
    assert ev.result is Status.PASS
    assert ev.resolver_calls == 0
    offline = [f for f in facts(ev) if f.message_id == "jira.offline"]
    assert len(offline) == 1
    assert offline[0].status is FactStatus.INFO
    assert offline[0].message() == (
        "Issue keys were not checked against Jira: no Jira connection is configured."
    )
    assert not by_code(ev, Code.INVALID)


def test_default_resolver_is_offline() -> None:
    ev = run(push("ABC-1"), rule(checks={"keys_valid": "ALL"}))
    assert [f.message_id for f in facts(ev)] == ["jira.offline"]


def test_offline_still_runs_format_checks() -> None:
    r = rule(checks={"key_present": True, "keys_valid": "ALL"})
    assert run(push("no key"), r, OfflineResolver()).result is Status.BLOCK
