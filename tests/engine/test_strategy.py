"""Targets (COMMIT, COMMITS, BRANCH, PR_TITLE, PR_DESCRIPTION), strategies and severity."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jirahooks.engine import Evaluation, InMemoryResolver, IssueData, evaluate
from jirahooks.engine.facts import Code, Context, FactStatus, RuleValidation, Source, Status
from jirahooks.engine.resolver import Resolver
from jirahooks.event import Commit, Event, PullRequest, Trigger
from jirahooks.rules import Rule, parse_rule
from jirahooks.rules.config import parse_settings


def rule(**data: Any) -> Rule:
    data.setdefault("id", "r")
    data.setdefault("title", "Rule under test")
    data.setdefault("checks", {"key_present": True})
    return parse_rule(data)


def judge(
    event: Event, r: Rule, resolver: Resolver | None = None, **settings: Any
) -> RuleValidation:
    evaluation: Evaluation = asyncio.run(
        evaluate(event, [r], resolver, settings=parse_settings(settings))
    )
    (rv,) = evaluation.rule_validations
    return rv


def commits(*messages: str) -> tuple[Commit, ...]:
    return tuple(Commit(f"{i + 1:x}" * 40, m) for i, m in enumerate(messages))


def pr_event(
    *messages: str, branch: str = "feature/x", title: str = "", description: str = ""
) -> Event:
    return Event(
        Trigger.PULL_REQUEST,
        branch,
        commits(*messages),
        PullRequest("42", title, description, branch, "main"),
    )


# --- targets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "context", "ref", "noun"),
    [
        ("BRANCH", Context.BRANCH_SOURCE, "", "Branch name"),
        ("PR_TITLE", Context.PR_TITLE, "42", "Pull-request title"),
        ("PR_DESCRIPTION", Context.PR_DESCRIPTION, "42", "Pull-request description"),
        ("COMMITS", Context.COMMITS, "", "The set of commits"),
    ],
)
def test_each_target_is_checked_with_its_context(
    target: str, context: Context, ref: str, noun: str
) -> None:
    event = pr_event("x", branch="feature/x", title="Login", description="Adds login")
    rv = judge(event, rule(targets=[target]))
    assert rv.status is Status.BLOCK
    (fact,) = rv.check_facts
    assert fact.contexts == (context,)
    assert fact.ref == ref
    assert fact.message() == f"{noun} does not contain any issue keys."

    event = pr_event("ABC-1", branch="feature/ABC-1", title="ABC-1 Login", description="ABC-1")
    rv = judge(event, rule(targets=[target]))
    assert rv.status is Status.PASS
    assert rv.check_facts[0].message() == f"{noun} contains issue keys: ABC-1."


def test_commit_target_checks_every_commit() -> None:
    rv = judge(Event(Trigger.PUSH, "main", commits("ABC-1", "x", "y")), rule(targets=["COMMIT"]))
    assert rv.status is Status.BLOCK
    assert [(f.ref[0], f.code) for f in rv.check_facts] == [
        ("1", Code.KEYS_PRESENT),
        ("2", Code.NO_KEYS),
        ("3", Code.NO_KEYS),
    ]


def test_commits_target_needs_a_key_in_one_commit_only() -> None:
    rv = judge(Event(Trigger.PUSH, "main", commits("x", "ABC-1", "y")), rule(targets=["COMMITS"]))
    assert rv.status is Status.PASS
    (fact,) = rv.check_facts
    assert fact.message() == "The set of commits contains issue keys: ABC-1."


@pytest.mark.parametrize("target", ["PR_TITLE", "PR_DESCRIPTION"])
def test_pr_targets_are_absent_without_a_pull_request(target: str) -> None:
    rv = judge(Event(Trigger.PUSH, "feature/ABC-1", commits("x")), rule(targets=[target]))
    assert rv.status is Status.IGNORE
    (fact,) = rv.check_facts
    assert (fact.source, fact.status) == (Source.TARGET, FactStatus.SKIP)
    assert fact.message() == "Nothing to check: the event has none of the rule's targets."


def test_commit_targets_are_absent_without_commits() -> None:
    event = Event(Trigger.PUSH, "feature/x")
    assert judge(event, rule(targets=["COMMIT"])).status is Status.IGNORE
    assert judge(event, rule(targets=["COMMITS"])).status is Status.IGNORE


def test_branch_target_is_absent_on_a_detached_head() -> None:
    for branch in ("", "HEAD"):
        event = Event(Trigger.PUSH, branch, commits("x"))
        assert judge(event, rule(targets=["BRANCH"])).status is Status.IGNORE


def test_branch_target_strips_refs_heads() -> None:
    event = Event(Trigger.PUSH, "refs/heads/feature/ABC-1-x", commits("x"))
    rv = judge(event, rule(targets=["BRANCH"]))
    assert rv.status is Status.PASS


def test_absent_targets_do_not_count_when_others_exist() -> None:
    rv = judge(
        Event(Trigger.PUSH, "feature/x", commits("ABC-1")), rule(targets=["COMMIT", "PR_TITLE"])
    )
    assert rv.status is Status.PASS
    assert [f.contexts[0] for f in rv.check_facts] == [Context.COMMIT]


# --- strategies ------------------------------------------------------------------------------


def test_all_strategy_needs_every_target() -> None:
    r = rule(targets=["BRANCH", "COMMIT"], strategy="ALL")
    rv = judge(Event(Trigger.PUSH, "feature/ABC-1", commits("no key")), r)
    assert rv.status is Status.BLOCK
    # the commit's error, then the hint that the branch names ABC-1 (engine/suggest.py)
    assert [f.status for f in rv.check_facts] == [
        FactStatus.SUCCESS,
        FactStatus.ERROR,
        FactStatus.INFO,
    ]
    assert rv.check_facts[-1].category == ("HINT",)
    assert not [f for f in rv.check_facts if f.source is Source.TARGET]


def test_at_least_one_strategy_downgrades_errors_of_other_targets() -> None:
    r = rule(targets=["BRANCH", "COMMIT"], strategy="AT_LEAST_ONE")
    rv = judge(Event(Trigger.PUSH, "feature/ABC-1", commits("no key", "none")), r)
    assert rv.status is Status.PASS
    no_keys = [f for f in rv.check_facts if f.code is Code.NO_KEYS]
    assert [f.status for f in no_keys] == [FactStatus.WARNING, FactStatus.WARNING]
    (target,) = [f for f in rv.check_facts if f.source is Source.TARGET]
    assert (target.code, target.status) == (Code.ONE_ENOUGH, FactStatus.SUCCESS)
    assert target.contexts == (Context.BRANCH_SOURCE,)
    assert target.message() == "At least one target passed (1 of 3); that is enough."


def test_at_least_one_strategy_fails_when_no_target_passes() -> None:
    r = rule(targets=["BRANCH", "COMMIT"], strategy="AT_LEAST_ONE")
    rv = judge(Event(Trigger.PUSH, "feature/x", commits("no key")), r)
    assert rv.status is Status.BLOCK
    assert [f.status for f in rv.check_facts if f.code is Code.NO_KEYS] == [FactStatus.ERROR] * 2
    (target,) = [f for f in rv.check_facts if f.source is Source.TARGET]
    assert (target.code, target.status) == (Code.ONE_NOT_ENOUGH, FactStatus.ERROR)
    assert target.message() == "None of the 2 targets passed; at least one must."


def test_at_least_one_commit_of_a_push() -> None:
    r = rule(targets=["COMMIT"], strategy="AT_LEAST_ONE")
    assert judge(Event(Trigger.PUSH, "", commits("x", "ABC-1")), r).status is Status.PASS
    assert judge(Event(Trigger.PUSH, "", commits("x", "y")), r).status is Status.BLOCK


def test_rule_level_checks_are_not_rescued_by_the_strategy() -> None:
    r = rule(
        targets=["BRANCH", "COMMIT"],
        strategy="AT_LEAST_ONE",
        checks={"key_present": True, "consistency": True},
    )
    rv = judge(Event(Trigger.PUSH, "feature/ABC-1", commits("ABC-2")), r)
    assert rv.status is Status.BLOCK
    assert [f.code for f in rv.check_facts if f.source is Source.CONSISTENCY] == [Code.NOT_MATCH]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("BLOCK", Status.BLOCK), ("WARN", Status.WARNING), ("ALLOW", Status.PASS)],
)
def test_at_least_one_passing_only_for_lack_of_jira_follows_the_policy(
    policy: str, expected: Status
) -> None:
    # The branch key could not be checked and the commit has no key: no target *definitely*
    # passed, so the Jira-unreachable policy decides (regression: it used to PASS always).
    jira = InMemoryResolver([IssueData("ABC-1")], failing=["ABC-2"])
    r = rule(
        targets=["BRANCH", "COMMIT"],
        strategy="AT_LEAST_ONE",
        checks={"key_present": True, "keys_valid": "ALL"},
    )
    event = Event(Trigger.PUSH, "feature/ABC-2-x", commits("no key"))
    rv = judge(event, r, jira, jira_unreachable=policy)
    assert rv.status is expected
    assert [f.message_id for f in rv.check_facts if f.message_id.startswith("jira.policy")] == [
        f"jira.policy.{policy.lower()}"
    ]


def test_at_least_one_with_a_definite_pass_ignores_undetermined_targets() -> None:
    jira = InMemoryResolver([IssueData("ABC-1")], failing=["ABC-2"])
    r = rule(
        targets=["BRANCH", "COMMIT"],
        strategy="AT_LEAST_ONE",
        checks={"key_present": True, "keys_valid": "ALL"},
    )
    event = Event(Trigger.PUSH, "feature/ABC-2-x", commits("ABC-1 work"))
    rv = judge(event, r, jira, jira_unreachable="BLOCK")
    assert rv.status is Status.PASS
    assert not [f for f in rv.check_facts if f.message_id.startswith("jira.policy")]


# --- severity --------------------------------------------------------------------------------


def test_severity_warning_warns_instead_of_blocking() -> None:
    rv = judge(Event(Trigger.PUSH, "", commits("no key")), rule(severity="WARNING"))
    assert rv.status is Status.WARNING
    assert rv.check_facts[0].status is FactStatus.ERROR


def test_severity_warning_rule_does_not_block_when_jira_is_unreachable() -> None:
    # A rule that can at worst warn must not block because Jira could not be asked.
    jira = InMemoryResolver(failing=["ABC-1"])
    r = rule(severity="WARNING", checks={"keys_valid": "ALL"})
    rv = judge(Event(Trigger.PUSH, "", commits("ABC-1")), r, jira, jira_unreachable="BLOCK")
    assert rv.status is Status.WARNING
    rv = judge(
        Event(Trigger.PUSH, "", commits("ABC-1")),
        rule(checks={"keys_valid": "ALL"}),
        jira,
        jira_unreachable="BLOCK",
    )
    assert rv.status is Status.BLOCK
