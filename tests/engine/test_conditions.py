"""Rule conditions: branches, PR destinations, users, groups, authors, commit content."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jirahooks.engine import Evaluation, evaluate
from jirahooks.engine.facts import Code, Context, FactStatus, RuleValidation, Source, Status
from jirahooks.event import Commit, Event, PullRequest, Trigger
from jirahooks.rules import Rule, parse_rule

KEY_RULE: dict[str, Any] = {"checks": {"key_present": True}}


def rule(**data: Any) -> Rule:
    data.setdefault("id", "r")
    data.setdefault("title", "Rule under test")
    for key, value in KEY_RULE.items():
        data.setdefault(key, value)
    return parse_rule(data)


def judge(event: Event, r: Rule) -> RuleValidation:
    evaluation: Evaluation = asyncio.run(evaluate(event, [r]))
    (rv,) = evaluation.rule_validations
    return rv


def push(
    branch: str, *messages: str, user: str = "", groups: frozenset[str] = frozenset()
) -> Event:
    commits = tuple(Commit(f"{i + 1:x}" * 40, m, "Ada") for i, m in enumerate(messages))
    return Event(Trigger.PUSH, branch, commits, user=user, groups=groups)


def pr(source: str, destination: str, *messages: str) -> Event:
    commits = tuple(Commit(f"{i + 1:x}" * 40, m) for i, m in enumerate(messages))
    return Event(
        Trigger.PULL_REQUEST,
        source,
        commits,
        PullRequest("1", "ABC-1 title", "", source, destination),
    )


# --- branches --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("branch", "applies"),
    [
        ("feature/ABC-1", True),
        ("feature/deep/ABC-1", True),  # '*' crosses '/'
        ("feature/skip-me", False),  # exclude wins over include
        ("main", False),
        ("refs/heads/feature/ABC-1", True),  # a full ref name counts as its short name
    ],
)
def test_branch_include_exclude(branch: str, applies: bool) -> None:
    r = rule(conditions={"branches": {"include": ["feature/*"], "exclude": ["feature/skip-*"]}})
    rv = judge(push(branch, "no key"), r)
    assert rv.status is (Status.BLOCK if applies else Status.SKIP)
    (fact,) = rv.condition_facts
    assert fact.source is Source.BRANCH_CONDITION
    assert fact.contexts == (Context.BRANCH_SOURCE,)
    assert (fact.code, fact.status) == (
        (Code.MATCH, FactStatus.NOT_SKIP) if applies else (Code.NOT_MATCH, FactStatus.SKIP)
    )
    if not applies:
        assert rv.check_facts == ()
        assert fact.message().startswith("Rule skipped: branch '")


def test_branch_patterns_are_case_sensitive() -> None:
    r = rule(conditions={"branches": {"exclude": ["release/*"]}})
    assert judge(push("Release/1.0", "x"), r).status is Status.BLOCK
    assert judge(push("release/1.0", "x"), r).status is Status.SKIP


def test_branch_condition_on_a_detached_head() -> None:
    r = rule(conditions={"branches": {"include": ["feature/*"]}})
    rv = judge(push("HEAD", "no key"), r)
    assert rv.status is Status.SKIP
    assert rv.condition_facts[0].message() == (
        "Rule skipped: branch 'HEAD' is excluded by the rule's branch conditions."
    )
    rv = judge(push("", "no key"), rule(conditions={"branches": {"exclude": ["main"]}}))
    assert rv.status is Status.BLOCK


def test_branch_condition_uses_the_pr_source_branch() -> None:
    r = rule(conditions={"branches": {"include": ["feature/*"]}})
    event = Event(
        Trigger.PULL_REQUEST,
        "main",
        (Commit("1" * 40, "no key"),),
        PullRequest("1", "t", "", "feature/ABC-1", "main"),
    )
    assert judge(event, r).status is Status.BLOCK


# --- PR destination --------------------------------------------------------------------------


def test_destination_include_exclude() -> None:
    r = rule(
        conditions={
            "destination_branches": {"include": ["main", "release/*"], "exclude": ["release/old*"]}
        }
    )
    assert judge(pr("feature/x", "main", "no key"), r).status is Status.BLOCK
    assert judge(pr("feature/x", "release/2", "no key"), r).status is Status.BLOCK
    rv = judge(pr("feature/x", "release/old-1", "no key"), r)
    assert rv.status is Status.SKIP
    (fact,) = rv.condition_facts
    assert (fact.source, fact.contexts) == (
        Source.PULLREQUEST_CONDITION,
        (Context.BRANCH_DESTINATION,),
    )
    assert fact.message() == (
        "Rule skipped: destination branch 'release/old-1' is excluded by the rule's conditions."
    )
    assert judge(pr("feature/x", "develop", "no key"), r).status is Status.SKIP


def test_destination_condition_is_ignored_without_a_pull_request() -> None:
    r = rule(conditions={"destination_branches": {"include": ["main"]}})
    rv = judge(push("feature/x", "no key"), r)
    assert rv.status is Status.BLOCK
    assert rv.condition_facts == ()


# --- users and groups ------------------------------------------------------------------------


def test_user_conditions() -> None:
    r = rule(conditions={"users": {"exclude": ["*-bot", "jenkins"]}})
    assert judge(push("main", "no key", user="ada"), r).status is Status.BLOCK
    rv = judge(push("main", "no key", user="renovate-bot"), r)
    assert rv.status is Status.SKIP
    (fact,) = rv.condition_facts
    assert fact.source is Source.CONDITION
    assert (
        fact.message() == "Rule skipped: user 'renovate-bot' is excluded by the rule's conditions."
    )
    r = rule(conditions={"users": {"include": ["ada"]}})
    assert judge(push("main", "no key", user="ada"), r).status is Status.BLOCK
    assert judge(push("main", "no key", user="bob"), r).status is Status.SKIP
    assert judge(push("main", "no key"), r).status is Status.SKIP  # unknown user is not 'ada'


def test_group_conditions() -> None:
    r = rule(conditions={"groups": {"include": ["developers"], "exclude": ["service-accounts"]}})
    assert (
        judge(push("main", "x", groups=frozenset({"developers", "qa"})), r).status is Status.BLOCK
    )
    assert judge(push("main", "x", groups=frozenset({"qa"})), r).status is Status.SKIP
    rv = judge(push("main", "x", groups=frozenset({"developers", "service-accounts"})), r)
    assert rv.status is Status.SKIP
    assert rv.condition_facts[0].message() == (
        "Rule skipped: the user's groups are excluded by the rule's conditions."
    )
    assert judge(push("main", "x"), r).status is Status.SKIP


# --- commit conditions -----------------------------------------------------------------------


def test_authors_condition_skips_excluded_authors_commits() -> None:
    r = rule(conditions={"authors": {"exclude": ["*@bots.example", "Dependabot"]}})
    commits = (
        Commit("1" * 40, "no key", "Ada", "ada@example.com"),
        Commit("2" * 40, "no key", "Renovate", "renovate@bots.example"),
        Commit("3" * 40, "no key", "Dependabot", ""),
    )
    rv = judge(Event(Trigger.PUSH, "main", commits), r)
    assert rv.status is Status.BLOCK
    assert [c.hash[0] for c in rv.commits] == ["1"]
    assert [f.message() for f in rv.condition_facts] == [
        f"Commit {'2' * 12} skipped: author 'Renovate' is excluded.",
        f"Commit {'3' * 12} skipped: author 'Dependabot' is excluded.",
    ]
    assert all(f.ref and f.contexts == (Context.COMMIT,) for f in rv.condition_facts)


def test_authors_include() -> None:
    r = rule(conditions={"authors": {"include": ["*@example.com"]}})
    commits = (
        Commit("1" * 40, "no key", "Ada", "ada@example.com"),
        Commit("2" * 40, "x", "Eve", "eve@evil.example"),
    )
    rv = judge(Event(Trigger.PUSH, "main", commits), r)
    assert [c.hash[0] for c in rv.commits] == ["1"]


def test_skip_merge_commits() -> None:
    r = rule(conditions={"skip_merge_commits": True})
    commits = (
        Commit("1" * 40, "ABC-1 work", parents=("a",)),
        Commit("2" * 40, "Merge branch 'main' into feature", parents=("a", "b")),
    )
    rv = judge(Event(Trigger.PUSH, "f", commits), r)
    assert rv.status is Status.PASS
    assert [f.message() for f in rv.condition_facts] == [f"Merge commit {'2' * 12} skipped."]
    assert rv.condition_facts[0].status is FactStatus.SKIP
    assert judge(Event(Trigger.PUSH, "f", commits), rule()).status is Status.BLOCK


def test_skip_merge_commits_uses_the_subject_when_parents_are_unknown() -> None:
    r = rule(conditions={"skip_merge_commits": True})
    commits = (Commit("1" * 40, "Merge pull request #4 from acme/x"),)
    assert judge(Event(Trigger.PUSH, "f", commits), r).status is Status.SKIP


@pytest.mark.parametrize(
    "message",
    [
        'Revert "ABC-1 login"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.',
        'Revert "wip"',
        "Undo the change\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.",
    ],
)
def test_skip_reverts(message: str) -> None:
    r = rule(conditions={"skip_reverts": True})
    commits = (Commit("1" * 40, "ABC-1 work"), Commit("2" * 40, message))
    rv = judge(Event(Trigger.PUSH, "f", commits), r)
    assert [c.hash[0] for c in rv.commits] == ["1"]
    assert rv.condition_facts[0].message() == f"Revert commit {'2' * 12} skipped."


def test_bypass_marker() -> None:
    r = rule(conditions={"bypass_marker": "[skip jira]"})
    commits = (Commit("1" * 40, "Fix typo [skip jira]"), Commit("2" * 40, "no key"))
    rv = judge(Event(Trigger.PUSH, "f", commits), r)
    assert rv.status is Status.BLOCK
    assert [c.hash[0] for c in rv.commits] == ["2"]
    assert rv.condition_facts[0].message() == (
        f"Commit {'1' * 12} skipped: it contains the bypass marker '[skip jira]'."
    )
    assert judge(Event(Trigger.PUSH, "f", commits[:1]), r).status is Status.SKIP


def test_every_commit_skipped_skips_the_rule() -> None:
    r = rule(conditions={"skip_merge_commits": True})
    commits = (Commit("1" * 40, "Merge branch 'x'", parents=("a", "b")),)
    rv = judge(Event(Trigger.PUSH, "main", commits), r)
    assert rv.status is Status.SKIP
    assert rv.commits == ()


def test_commit_conditions_do_not_affect_branch_targets() -> None:
    r = rule(targets=["BRANCH", "COMMIT"], conditions={"bypass_marker": "[skip]"})
    commits = (Commit("1" * 40, "[skip] no key"),)
    rv = judge(Event(Trigger.PUSH, "feature/x", commits), r)
    assert rv.status is Status.BLOCK
    assert [f.contexts[0] for f in rv.check_facts] == [Context.BRANCH_SOURCE]


def test_all_conditions_must_hold() -> None:
    r = rule(
        conditions={
            "branches": {"include": ["feature/*"]},
            "users": {"exclude": ["bot"]},
        }
    )
    assert judge(push("feature/x", "x", user="ada"), r).status is Status.BLOCK
    assert judge(push("feature/x", "x", user="bot"), r).status is Status.SKIP
    assert judge(push("main", "x", user="ada"), r).status is Status.SKIP
