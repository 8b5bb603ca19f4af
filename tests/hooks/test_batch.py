"""``hooks.local.evaluate_batch``: a push of several refs asks the resolver as often as one
ref would, gives the same verdicts as evaluating each ref alone, and honours the time budget."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from jirahooks.engine import InMemoryResolver, IssueData, evaluate
from jirahooks.engine.resolver import Resolution
from jirahooks.event import Commit, Event, Trigger
from jirahooks.hooks.local import evaluate_batch
from jirahooks.rules.config import load_document

DOCUMENT = {
    "rules": [
        {"template": "all-keys-valid"},
        {"template": "issue-in-progress", "targets": ["COMMIT"]},
        {
            "id": "release-only",
            "title": "Release commits name a Done issue",
            "triggers": ["PUSH"],
            "targets": ["COMMIT"],
            "conditions": {"branches": {"include": ["release/*"]}},
            "checks": {"jql": "status = Done"},
        },
    ]
}


def _resolver() -> InMemoryResolver:
    issues = [
        IssueData("ABC-1", status="In Progress"),
        IssueData("ABC-2", status="In Progress"),
        IssueData("ABC-3", status="Done"),
    ]
    return InMemoryResolver(
        issues,
        jql={'status = "In Progress"': ["ABC-1", "ABC-2"], "status = Done": ["ABC-3"]},
    )


def _events() -> list[Event]:
    def commits(*messages: str) -> tuple[Commit, ...]:
        return tuple(Commit(f"{i:040x}", m) for i, m in enumerate(messages, 1))

    return [
        Event(Trigger.PUSH, "main", commits("ABC-1 a", "ABC-2 b")),
        Event(Trigger.PUSH, "release/1.0", commits("ABC-3 c")),
        Event(Trigger.PUSH, "feature/ABC-9", commits("ABC-1 d", "XYZ-5 unknown project")),
    ]


def test_batch_asks_once_and_matches_separate_evaluations() -> None:
    document = load_document(DOCUMENT)
    rules, settings = document.rules_for(None), document.settings
    batched = _resolver()
    evaluations, calls = asyncio.run(evaluate_batch(_events(), rules, batched, settings=settings))
    # projects once, resolve once, each distinct JQL once — for three refs
    kinds = [kind for kind, _ in batched.calls]
    assert kinds.count("projects") == 1
    assert kinds.count("resolve") == 1
    assert kinds.count("match_jql") == 2
    assert calls == len(batched.calls) == 4

    separate = _resolver()
    for event, evaluation in zip(_events(), evaluations, strict=True):
        alone = asyncio.run(evaluate(event, rules, separate, settings=settings))
        assert evaluation.result == alone.result
        assert [rv.status for rv in evaluation.rule_validations] == [
            rv.status for rv in alone.rule_validations
        ]
        assert evaluation.to_document()["ruleValidations"] == alone.to_document()["ruleValidations"]
    assert len(separate.calls) > len(batched.calls)
    assert [e.result.value for e in evaluations] == ["PASS", "BLOCK", "BLOCK"]


class _SlowResolver(InMemoryResolver):
    async def resolve(self, keys: Collection[str]) -> Resolution:
        await asyncio.sleep(5)
        return await super().resolve(keys)


def test_time_budget_makes_keys_undetermined_and_the_policy_decides() -> None:
    for policy, expected in (("BLOCK", "BLOCK"), ("WARN", "WARNING"), ("ALLOW", "PASS")):
        document = load_document(
            {"settings": {"jira_unreachable": policy}, "rules": [{"template": "all-keys-valid"}]}
        )
        slow = _SlowResolver([IssueData("ABC-1")])
        event = Event(Trigger.PUSH, "main", (Commit("1" * 40, "ABC-1 x"),))
        (evaluation,), _ = asyncio.run(
            evaluate_batch(
                [event], document.rules_for(None), slow, settings=document.settings, budget=0.2
            )
        )
        assert evaluation.result.value == expected, policy
        text = str(evaluation.to_document())
        assert "JIRA_TIMEOUT" in text


def test_no_events_no_calls() -> None:
    resolver = _resolver()
    assert asyncio.run(evaluate_batch([], [], resolver, settings=load_document({}).settings)) == (
        [],
        0,
    )
    assert resolver.calls == []
