"""engine/suggest.py (edit distance, suggestions, message templates, fix-it for PRs) and the
smart-commit check (engine/checks/smart.py), on the engine with an in-memory resolver."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jirahooks.engine import InMemoryResolver, IssueData, evaluate
from jirahooks.engine.facts import Evaluation
from jirahooks.engine.suggest import distance, message_template, suggestions
from jirahooks.event import Commit, Event, PullRequest, Trigger
from jirahooks.rules import templates
from jirahooks.rules.config import parse_rule
from jirahooks.rules.model import Settings


def _rule(**fields: Any) -> Any:
    return parse_rule({"id": "r", "title": "R", **fields})


def _run(event: Event, *rules: Any, resolver: Any = None) -> Evaluation:
    return asyncio.run(evaluate(event, list(rules), resolver))


def test_distance() -> None:
    assert distance("KAKFA", "KAFKA") == 1  # a swap of neighbours
    assert distance("KAFKA-123", "KAFKA-132") == 1
    assert distance("ABC-1234", "ABC-123") == 1
    assert distance("ABC", "XYZ") == 3  # past the limit: limit + 1
    assert distance("A" * 1000, "B" * 1000) == 3


def test_suggestions_order_and_sources() -> None:
    got = suggestions(
        "KAKFA-123", branch_keys=["KAFKA-123"], found=["KAFKA-7"], projects=["KAFKA", "ABC"]
    )
    assert got == [("KAFKA-123", "branch")]
    assert suggestions("KAKFA-123", branch_keys=[], found=[], projects=["KAFKA"]) == [
        ("KAFKA-123", "project")
    ]
    assert suggestions("ABC-1234", branch_keys=[], found=["ABC-123"], projects=[]) == [
        ("ABC-123", "found")
    ]
    # a key Jira said does not exist is never suggested
    assert (
        suggestions("KAKFA-1", branch_keys=[], found=[], projects=["KAFKA"], not_found=["KAFKA-1"])
        == []
    )
    assert suggestions("ZZZ-1", branch_keys=[], found=["ABC-9"], projects=["ABC"]) == []


def test_message_template_from_settings_naming_and_default() -> None:
    bracket = _rule(targets=["COMMIT"], checks={"naming": r"^\[[A-Z]+-[0-9]+\] "})
    colon = _rule(targets=["COMMIT"], checks={"naming": r"^[A-Z]+-[0-9]+: "})
    branch_only = _rule(targets=["BRANCH"], checks={"naming": r"^\["})
    assert message_template([bracket], Settings()) == ("[{key}] {message}", "naming")
    assert message_template([colon], Settings()) == ("{key}: {message}", "naming")
    assert message_template([branch_only], Settings()) == ("{key} {message}", "default")
    explicit = Settings(commit_message_template="{message} ({key})")
    assert message_template([bracket], explicit) == ("{message} ({key})", "settings")


def test_hints_ride_on_the_failing_commit_and_cost_no_call() -> None:
    rule = _rule(targets=["COMMIT"], checks={"key_present": True, "keys_valid": "ALL"})
    resolver = InMemoryResolver([IssueData("KAFKA-7", status="Open")])
    commits = (Commit("a" * 40, "KAFKA-7 fine"), Commit("b" * 40, "KAKFA-123 typo"))
    evaluation = _run(Event(Trigger.PUSH, "main", commits), rule, resolver=resolver)
    (rv,) = evaluation.rule_validations
    hints = [f for f in rv.check_facts if f.category == ("HINT",)]
    assert [(h.ref, h.message()) for h in hints] == [
        ("b" * 40, "Did you mean KAFKA-123? Project KAFKA exists.")
    ]
    assert evaluation.resolver_calls == 1  # the one batched resolve
    document = evaluation.to_document("de-DE")
    facts = document["ruleValidations"][0]["checkFacts"]
    shown = [f for f in facts if f.get("category") == ["HINT"]]
    assert shown[0]["message"] == "Meinten Sie KAFKA-123? Das Projekt KAFKA existiert."
    assert (shown[0]["group"], shown[0]["qualifier"]) == ("COMMIT", "DETAIL")


def test_no_hints_on_passing_rules() -> None:
    rule = _rule(targets=["COMMIT"], checks={"key_present": True}, severity="BLOCK")
    ok = _run(Event(Trigger.PUSH, "feature/ABC-1", (Commit("a" * 40, "ABC-1 x"),)), rule)
    assert not [f for f in ok.rule_validations[0].check_facts if f.category]


def test_pr_title_hint_says_edit_the_title() -> None:
    rule = parse_rule(dict(templates.get("pr-title-convention").rule))  # type: ignore[union-attr]
    pr = PullRequest(
        id="7", title="fix stuff", source_branch="feature/ABC-1", destination_branch="main"
    )
    event = Event(Trigger.PULL_REQUEST, "feature/ABC-1", (), pull_request=pr)
    hint = _run(event, rule).to_document()["ruleValidations"][0]["rule"]["hint"]
    assert "Edit the pull request's title" in hint


def test_pr_commits_hint_names_the_rebase() -> None:
    rule = _rule(targets=["COMMIT"], checks={"key_present": True})
    commits = (
        Commit("a" * 40, "ABC-1 fine", parents=("0" * 39 + "1",)),
        Commit("b" * 40, "no key", parents=("a" * 40,)),
        Commit("c" * 40, "ABC-2 tip", parents=("b" * 40,)),
    )
    pr = PullRequest(
        id="7", title="ABC-1 x", source_branch="feature/ABC-1", destination_branch="main"
    )
    event = Event(Trigger.PULL_REQUEST, "feature/ABC-1", commits, pull_request=pr)
    hint = _run(event, rule).to_document()["ruleValidations"][0]["rule"]["hint"]
    assert f"git rebase -i {'a' * 12}" in hint and "b" * 12 in hint
    assert "--force-with-lease" in hint


# --- smart commits -----------------------------------------------------------------------------


SMART = {
    "targets": ["COMMIT"],
    "checks": {
        "smart_commits": True,
        "smart_commit_transitions": ["start-progress", "close-issue", "done"],
    },
}


@pytest.mark.parametrize(
    ("message", "passed", "messages"),
    [
        ("ABC-1 #time 1w 2d 4h 30m #comment fixed it #done", True, []),
        ("ABC-1 #time 1.5h #start", True, []),  # the start of one transition
        ("ABC-1 see #123 in the other tracker", True, []),  # a number is no command
        ("no key here #tim 2hours", True, []),  # not a smart-commit line
        (
            "ABC-1 #time 2hours",
            False,
            [
                "'#time 2hours' is not a time Jira reads (e.g. #time 1w 2d 4h 30m): no work would be logged."
            ],
        ),
        ("ABC-1 #comment", False, ["'#comment' has no text: Jira would add no comment."]),
        (
            "ABC-1 #dnoe",
            False,
            ["'#dnoe' is not a transition of the workflow: did you mean #done?"],
        ),
        (
            "ABC-1 #deploy",
            False,
            [
                "'#deploy' is not a transition of the workflow (start-progress, close-issue, done): Jira would do nothing."
            ],
        ),
    ],
)
def test_smart_commits(message: str, passed: bool, messages: list[str]) -> None:
    rule = _rule(**SMART)
    evaluation = _run(Event(Trigger.PUSH, "main", (Commit("a" * 40, message),)), rule)
    (rv,) = evaluation.rule_validations
    errors = [f.message() for f in rv.check_facts if f.status.value == "ERROR"]
    assert errors == messages
    assert (rv.status.value == "PASS") is passed


def test_smart_commits_without_a_transition_list_checks_only_time_and_comment() -> None:
    rule = _rule(targets=["COMMIT"], checks={"smart_commits": True})
    ok = _run(Event(Trigger.PUSH, "main", (Commit("a" * 40, "ABC-1 #anything #time 3d"),)), rule)
    assert ok.result.value == "PASS"


def test_the_smart_commits_template() -> None:
    rule = parse_rule(dict(templates.get("smart-commits").rule))  # type: ignore[union-attr]
    bad = _run(Event(Trigger.COMMIT, "main", (Commit("0" * 40, "ABC-1 #clsoe-issue"),)), rule)
    assert bad.result.value == "WARNING"
    text = bad.to_document("de-DE")["ruleValidations"][0]["checkFacts"][0]["message"]
    assert text == "'#clsoe-issue' ist kein Übergang des Workflows: meinten Sie #close-issue?"


def test_hints_are_bounded_on_a_big_push() -> None:
    """10,000 commits with as many unknown keys: at most MAX_HINTED_KEYS keys are compared with
    the found ones (each suggestion is a bounded edit-distance pass), the rest get no hint."""
    from jirahooks.engine.suggest import MAX_HINTED_KEYS

    checks = {"key_present": True, "keys_valid": "ALL", "ignore_unknown_projects": True}
    rule = _rule(targets=["COMMIT"], checks=checks)
    resolver = InMemoryResolver([IssueData(f"ABC-{n}") for n in range(1, 501)])
    # ABD is no project, ABC is: every key gets "did you mean ABC-n?" — up to the bound
    commits = tuple(Commit(f"{n:040x}", f"ABD-{n} x") for n in range(1, 10_001))
    evaluation = _run(Event(Trigger.PUSH, "main", commits), rule, resolver=resolver)
    (rv,) = evaluation.rule_validations
    hinted = {f.params["key"] for f in rv.check_facts if f.category == ("HINT",)}
    assert 0 < len(hinted) <= MAX_HINTED_KEYS
    assert evaluation.resolver_calls == 1  # the project list; no key was left to resolve
