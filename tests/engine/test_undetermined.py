"""Jira trouble never passes a change and never calls a key "invalid" (issue 10, section 3).

A key is *found*, *not found* (a Jira that was asked said so) or *undetermined* (no Jira could
answer — including: its project could not be classified because a project list could not be
read). Undetermined keys go to the ``jira_unreachable`` policy, visibly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

import pytest

from jirahooks.engine import Evaluation, InMemoryResolver, IssueData, evaluate
from jirahooks.engine.facts import FactStatus, RuleValidation, Status
from jirahooks.engine.resolver import ConnectionProblem, JqlResult, ProjectSet, Resolution
from jirahooks.event import Commit, Event, Trigger
from jirahooks.rules import Rule, parse_rule
from jirahooks.rules.config import parse_settings, parse_stored_rule

KEY_PRESENT = {
    "id": "key-present",
    "title": "Commits reference an issue",
    "targets": ["COMMIT"],
    "checks": {"key_present": True, "ignore_unknown_projects": True},
    "error": "A commit does not reference a Jira issue.",
}
ALL_VALID = {"template": "all-keys-valid", "targets": ["COMMIT"]}
ONE_VALID = {
    "id": "one-valid",
    "title": "At least one valid key",
    "targets": ["COMMIT"],
    "checks": {"keys_valid": "ONE", "ignore_unknown_projects": True},
}
IN_PROGRESS = {
    "id": "in-progress",
    "title": "In progress",
    "targets": ["COMMIT"],
    "checks": {"jql": 'status = "In Progress"', "ignore_unknown_projects": True},
}
SAME = {
    "id": "same",
    "title": "Same issue",
    "targets": ["BRANCH", "COMMIT"],
    "triggers": ["PUSH"],
    "checks": {"consistency": True, "ignore_unknown_projects": True},
}


def rule(data: dict[str, Any]) -> Rule:
    return parse_rule(data)


def push(*messages: str, branch: str = "main") -> Event:
    commits = tuple(Commit(f"{i + 1:x}" * 40, m, "Ada") for i, m in enumerate(messages))
    return Event(Trigger.PUSH, branch, commits)


def run(event: Event, rules: list[Rule], resolver: Any, **settings: Any) -> Evaluation:
    return asyncio.run(evaluate(event, rules, resolver, settings=parse_settings(settings)))


def only(ev: Evaluation) -> RuleValidation:
    (rv,) = ev.rule_validations
    return rv


def ids(rv: RuleValidation) -> list[str]:
    return [f.message_id for f in rv.check_facts]


def no_project_list(*issues: str, known: Collection[str] = ()) -> InMemoryResolver:
    """A Jira whose project list could not be read (``known``: listed by another connection)."""
    return InMemoryResolver(
        [IssueData(k, status="In Progress") for k in issues],
        projects=list(known),
        projects_complete=False,
        jql={'status = "In Progress"': list(issues)},
    )


# --- nothing known: KIP-932 ---------------------------------------------------------------


def test_key_present_blocks_with_block_policy_when_the_project_list_failed() -> None:
    ev = run(
        push("KIP-932 support"), [rule(KEY_PRESENT)], no_project_list(), jira_unreachable="BLOCK"
    )
    rv = only(ev)
    assert ev.result is Status.BLOCK  # b9f4856: PASS (the rule's switch was silently off)
    assert "jira.policy.block" in ids(rv)
    assert "keys.present.undetermined" in ids(rv)
    assert "key.project_undetermined" in ids(rv)
    assert "jira.problem" in ids(rv)  # the connection problem is shown on the rule


def test_all_valid_warns_with_warn_policy_and_never_says_not_found() -> None:
    ev = run(push("KIP-932 support"), [rule(ALL_VALID)], no_project_list(), jira_unreachable="WARN")
    rv = only(ev)
    assert ev.result is Status.WARNING  # b9f4856: BLOCK, "KIP-932 was not found"
    assert "key.invalid" not in ids(rv) and "keys.not_all_valid" not in ids(rv)
    assert "jira.policy.warn" in ids(rv)


@pytest.mark.parametrize("data", [KEY_PRESENT, ALL_VALID, ONE_VALID, IN_PROGRESS])
def test_allow_passes_with_a_visible_fact(data: dict[str, Any]) -> None:
    ev = run(push("KIP-932 support"), [rule(data)], no_project_list(), jira_unreachable="ALLOW")
    rv = only(ev)
    assert ev.result is Status.PASS
    allow = [f for f in rv.check_facts if f.message_id == "jira.policy.allow"]
    assert allow and allow[0].status is FactStatus.INFO
    assert "KIP-932" in allow[0].message()


@pytest.mark.parametrize("data", [KEY_PRESENT, ALL_VALID, ONE_VALID, IN_PROGRESS])
def test_every_check_blocks_on_an_unclassified_key(data: dict[str, Any]) -> None:
    ev = run(push("KIP-932 support"), [rule(data)], no_project_list(), jira_unreachable="BLOCK")
    rv = only(ev)
    assert rv.status is Status.BLOCK
    assert rv.jira_unreachable and not rv.checks_failed


def test_consistency_with_an_unclassified_key_is_undetermined() -> None:
    event = push("ABC-1 work", "KIP-932 more", branch="feature/ABC-1-x")
    ev = run(event, [rule(SAME)], no_project_list("ABC-1", known=["ABC"]), jira_unreachable="BLOCK")
    assert only(ev).status is Status.BLOCK
    assert "jira.policy.block" in ids(only(ev))


# --- headline -----------------------------------------------------------------------------


def test_headline_says_jira_could_not_be_reached() -> None:
    ev = run(
        push("KIP-932 support"), [rule(ALL_VALID)], no_project_list(), jira_unreachable="BLOCK"
    )
    doc = ev.to_document()
    (errors,) = [m["text"] for v in doc["errorValidations"] for m in v["errorMessages"]]
    assert errors.startswith("Jira could not be reached")
    assert "do not exist" not in errors
    de = ev.to_document("de-DE")
    (text,) = [m["text"] for v in de["errorValidations"] for m in v["errorMessages"]]
    assert text.startswith("Jira war nicht erreichbar")


def test_headline_says_both_when_both_happened() -> None:
    # ABC-999 definitely does not exist (project ABC known), KIP-932 could not be classified
    jira = no_project_list("ABC-1", known=["ABC"])
    rules = [rule(ALL_VALID), rule(KEY_PRESENT)]
    ev = run(push("ABC-999 typo", "KIP-932 support"), rules, jira, jira_unreachable="BLOCK")
    texts = [m["text"] for v in ev.to_document()["errorValidations"] for m in v["errorMessages"]]
    assert "Some issue keys do not exist in Jira." in texts
    assert any(t.startswith("Jira could not be reached") for t in texts)


def test_headline_of_a_definite_failure_is_the_rules_error() -> None:
    jira = InMemoryResolver([IssueData("ABC-1")], projects=["ABC"])
    ev = run(push("ABC-999 typo"), [rule(ALL_VALID)], jira, jira_unreachable="BLOCK")
    texts = [m["text"] for v in ev.to_document()["errorValidations"] for m in v["errorMessages"]]
    assert texts == ["Some issue keys do not exist in Jira."]


# --- partial project sets -----------------------------------------------------------------


def test_a_project_known_from_one_connection_is_known() -> None:
    jira = no_project_list("ABC-1", known=["ABC"])
    ev = run(
        push("ABC-1 work"), [rule(KEY_PRESENT), rule(ALL_VALID)], jira, jira_unreachable="BLOCK"
    )
    assert ev.result is Status.PASS
    assert all("jira.policy.block" not in ids(rv) for rv in ev.rule_validations)


def test_a_missing_issue_of_a_known_project_is_not_found() -> None:
    jira = no_project_list("ABC-1", known=["ABC"])
    ev = run(push("ABC-999 typo"), [rule(ALL_VALID)], jira, jira_unreachable="ALLOW")
    rv = only(ev)
    assert rv.status is Status.BLOCK  # a Jira that was asked said it does not exist
    assert "key.invalid" in ids(rv)
    assert rv.checks_failed and not rv.jira_unreachable


def test_an_unclassified_key_that_jira_finds_is_a_key() -> None:
    jira = no_project_list("KIP-932")  # nothing listed, but the issue resolves
    ev = run(push("KIP-932 support"), [rule(KEY_PRESENT), rule(ALL_VALID)], jira)
    assert ev.result is Status.PASS
    assert all("key.project_undetermined" not in ids(rv) for rv in ev.rule_validations)


def test_known_key_beside_an_unclassified_one_is_enough_for_key_present() -> None:
    jira = no_project_list("ABC-1", known=["ABC"])
    ev = run(push("ABC-1 and KIP-932"), [rule(KEY_PRESENT)], jira, jira_unreachable="BLOCK")
    assert ev.result is Status.PASS  # the commit has a key, whatever KIP-932 is


def test_complete_project_set_still_ignores_unknown_projects() -> None:
    jira = InMemoryResolver([IssueData("ABC-1")], projects=["ABC"])
    ev = run(push("KIP-932 support"), [rule(ALL_VALID)], jira, jira_unreachable="BLOCK")
    assert ev.result is Status.PASS  # no key to check: KIP-932 is not a key
    assert "keys.unknown_project" in ids(only(ev))


def test_at_least_one_definite_target_is_enough() -> None:
    data = {
        **KEY_PRESENT,
        "targets": ["BRANCH", "COMMIT"],
        "strategy": "AT_LEAST_ONE",
        "triggers": ["PUSH"],
    }
    jira = no_project_list("ABC-1", known=["ABC"])
    ok = run(push("KIP-932", branch="feature/ABC-1"), [rule(data)], jira, jira_unreachable="BLOCK")
    assert ok.result is Status.PASS
    pending = run(push("KIP-932", branch="feature/x"), [rule(data)], jira, jira_unreachable="BLOCK")
    assert pending.result is Status.BLOCK
    assert "jira.policy.block" in ids(only(pending))


# --- problems -----------------------------------------------------------------------------


class TwoProblems:
    """One connection, two different problems of the same code (and one exact duplicate)."""

    offline = False

    def __init__(self) -> None:
        self.a = ConnectionProblem(
            "dc", "JIRA_UNAVAILABLE", "Jira is unavailable (HTTP 503, /rest/api/2/project)"
        )
        self.b = ConnectionProblem(
            "dc", "JIRA_UNAVAILABLE", "Jira is unavailable (HTTP 502, /rest/api/2/search)"
        )

    async def projects(self) -> ProjectSet:
        return ProjectSet(None, (self.a,), complete=False)

    async def resolve(self, keys: Collection[str]) -> Resolution:
        return Resolution({}, frozenset(keys), (self.b, self.a))

    async def match_jql(
        self, jql: str, keys: Collection[str], *, max_age: float | None = None
    ) -> JqlResult:
        return JqlResult()


def test_every_distinct_problem_is_kept_and_named_once() -> None:
    resolver = TwoProblems()
    ev = run(push("KIP-932"), [rule(ALL_VALID)], resolver, jira_unreachable="BLOCK")
    system = [f.params["message"] for f in ev.system_facts]
    assert system == [resolver.a.message, resolver.b.message]  # b9f4856: only the first
    for fact in ev.system_facts:
        assert fact.message().count("'dc'") == 1


# --- unsafe JQL at use --------------------------------------------------------------------


@pytest.mark.parametrize(
    "jql", ['status = "Done") OR (1=1', 'status = "In Progress" ORDER BY key', 'status = "Done']
)
def test_a_stored_unsafe_jql_is_never_sent_and_the_rule_fails(jql: str) -> None:
    stored = parse_stored_rule({**IN_PROGRESS, "checks": {"jql": jql}})
    assert stored.checks.jql == jql  # loads: nothing stored is lost
    jira = InMemoryResolver([IssueData("ABC-1", status="Done")], jql={jql: ["ABC-1"]})
    ev = run(push("ABC-1 work"), [stored], jira, jira_unreachable="ALLOW")
    assert ev.result is Status.BLOCK  # b9f4856: PASS (the JQL matched everything)
    assert "jql.unsafe" in ids(only(ev))
    assert not [c for c in jira.calls if c[0] == "match_jql"]


def test_an_unsafe_jql_fails_even_while_jira_is_down() -> None:
    stored = parse_stored_rule({**IN_PROGRESS, "checks": {"jql": "status = Done) OR (1=1"}})
    jira = InMemoryResolver([], failing=["ABC-1"], projects=["ABC"])
    ev = run(push("ABC-1 work"), [stored], jira, jira_unreachable="ALLOW")
    assert ev.result is Status.BLOCK
    assert "jql.unsafe" in ids(only(ev))
