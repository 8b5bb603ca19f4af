"""The whole evaluation: which rules run, the overall result, the Validation API document,
messages per locale, and batching of resolver calls."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from jirahooks.engine import Evaluation, InMemoryResolver, IssueData, OfflineResolver, evaluate
from jirahooks.engine.facts import Context, Fact, FactStatus, Status, overall
from jirahooks.engine.resolver import Resolver
from jirahooks.event import ZERO_HASH, Commit, Event, PullRequest, Trigger
from jirahooks.i18n.catalogue import EN
from jirahooks.rules import Rule, Settings, parse_rule
from jirahooks.rules.config import parse_settings
from jirahooks.rules.model import Scope
from jirahooks.rules.templates import TEMPLATES


def rule(**data: Any) -> Rule:
    data.setdefault("title", "Rule " + str(data.get("id", "r")))
    data.setdefault("id", "r")
    data.setdefault("checks", {"key_present": True})
    return parse_rule(data)


def run(
    event: Event, rules: list[Rule], resolver: Resolver | None = None, **settings: Any
) -> Evaluation:
    return asyncio.run(evaluate(event, rules, resolver, settings=parse_settings(settings)))


def commits(*messages: str) -> tuple[Commit, ...]:
    return tuple(Commit(f"{i + 1:x}" * 40, m, "Ada") for i, m in enumerate(messages))


def push(*messages: str, branch: str = "feature/ABC-1-login") -> Event:
    return Event(Trigger.PUSH, branch, commits(*messages))


JIRA_ISSUES = [
    IssueData("ABC-1", status="In Progress", summary="Login", fix_versions=("1.0",)),
    IssueData("ABC-2", status="Done"),
]


def jira(**kwargs: Any) -> InMemoryResolver:
    return InMemoryResolver(
        JIRA_ISSUES,
        jql={'status = "In Progress"': ["ABC-1"], "fixVersion is not EMPTY": ["ABC-1"]},
        **kwargs,
    )


# --- which rules run -------------------------------------------------------------------------


def test_triggers_filter_rules() -> None:
    rules = [
        rule(id="commit-only", triggers=["COMMIT"]),
        rule(id="push-only", triggers=["PUSH"]),
        rule(id="pr-only", triggers=["PULL_REQUEST"]),
        rule(id="merge-only", triggers=["MERGE_COMMIT"]),
    ]
    for trigger, expected in [
        (Trigger.COMMIT, ["commit-only"]),
        (Trigger.PUSH, ["push-only"]),
        (Trigger.PULL_REQUEST, ["pr-only"]),
        (Trigger.MERGE_COMMIT, ["merge-only"]),
    ]:
        ev = run(Event(trigger, "main", commits("ABC-1")), rules)
        assert [rv.rule.id for rv in ev.rule_validations] == expected


def test_default_triggers_do_not_include_merge_commit() -> None:
    ev = run(Event(Trigger.MERGE_COMMIT, "main", commits("x")), [rule()])
    assert ev.rule_validations == ()
    assert ev.result is Status.IGNORE


def test_disabled_rules_are_not_evaluated() -> None:
    ev = run(push("no key"), [rule(id="off", enabled=False), rule(id="on", checks={})])
    assert [rv.rule.id for rv in ev.rule_validations] == ["on"]


def test_guardian_switched_off_ignores_everything() -> None:
    resolver = jira()
    ev = run(push("no key"), [rule()], resolver, enabled=False)
    assert ev.result is Status.IGNORE
    assert ev.rule_validations == ()
    assert [f.message() for f in ev.system_facts] == [
        "The Process Guardian is switched off for this repository."
    ]
    assert resolver.calls == []


def test_empty_event_is_ignored() -> None:
    resolver = jira()
    ev = run(Event(Trigger.PUSH), [rule()], resolver)
    assert ev.result is Status.IGNORE
    assert [f.message() for f in ev.system_facts] == ["Nothing to validate."]
    assert ev.to_document()["result"] == "IGNORE"
    assert resolver.calls == []


def test_no_rules_is_ignore() -> None:
    assert run(push("x"), []).result is Status.IGNORE


# --- overall result --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], Status.IGNORE),
        ([Status.IGNORE], Status.IGNORE),
        ([Status.IGNORE, Status.SKIP], Status.SKIP),
        ([Status.SKIP, Status.PASS, Status.IGNORE], Status.PASS),
        ([Status.PASS, Status.WARNING, Status.SKIP], Status.WARNING),
        ([Status.WARNING, Status.BLOCK, Status.PASS], Status.BLOCK),
    ],
)
def test_overall_precedence(statuses: list[Status], expected: Status) -> None:
    assert overall(statuses) is expected


def test_overall_result_of_mixed_rules() -> None:
    rules = [
        rule(id="pass"),
        rule(id="warn", severity="WARNING", targets=["COMMIT"], checks={"naming": "^ABC-1 fixed"}),
        rule(id="skip", conditions={"branches": {"include": ["release/*"]}}),
        rule(id="ignore", targets=["PR_TITLE"]),
    ]
    ev = run(push("ABC-1 wip"), rules)
    assert [(rv.rule.id, rv.status) for rv in ev.rule_validations] == [
        ("pass", Status.PASS),
        ("warn", Status.WARNING),
        ("skip", Status.SKIP),
        ("ignore", Status.IGNORE),
    ]
    assert ev.result is Status.WARNING
    assert not ev.blocked
    ev = run(push("no key"), [*rules, rule(id="block")])
    assert ev.result is Status.BLOCK and ev.blocked


# --- the Validation API document -------------------------------------------------------------

# The Validation API's result document as JSON Schema, enums exactly as in validation-api.md.
SCHEMA_FILE = Path(__file__).with_name("validation_result.schema.json")
DOCUMENT_SCHEMA: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def assert_document(document: dict[str, Any]) -> None:
    """The document validates against validation-api.md and survives JSON."""
    jsonschema.validate(document, DOCUMENT_SCHEMA)
    assert json.loads(json.dumps(document)) == document
    # the published hook client never displays group MAIN: observations about a commit or a
    # branch must be detail lines of their section; per-commit ones name their commit
    for rv in document["ruleValidations"]:
        for fact in rv["checkFacts"]:
            if fact["source"] in ("JIRA_CONNECTION", "LICENSE"):
                continue
            if fact["contexts"][0] in ("COMMIT", "BRANCH_SOURCE", "BRANCH_DESTINATION"):
                assert fact["group"] != "MAIN", fact
            if fact["contexts"][0] == "COMMIT" and fact["group"] == "COMMIT":
                assert fact.get("ref"), fact


def _scenarios() -> list[Evaluation]:
    """Evaluations that between them produce facts of every check, condition and policy."""
    rules = [parse_rule(dict(t.rule)) for t in TEMPLATES]
    rules.append(
        rule(
            id="at-least-one",
            targets=["BRANCH", "COMMIT"],
            strategy="AT_LEAST_ONE",
            checks={"key_present": True, "keys_valid": "ONE", "ignore_unknown_projects": True},
        )
    )
    rules.append(rule(id="warn", severity="WARNING", checks={"naming": "^[A-Z]+-[0-9]+ "}))
    rules.append(rule(id="authors", conditions={"authors": {"exclude": ["Bot"]}}))
    rules.append(rule(id="title-only", targets=["PR_TITLE"]))  # IGNORE without a PR
    messages = (
        "ABC-1 Größe ändern ✓",
        "no key at all",
        "",
        "ZZZ-9 \\ABC-2 `ABC-3` KIP-500",
        "Merge branch 'main' into feature",
        'Revert "ABC-1 x"\n\nThis reverts commit ' + "a" * 40 + ".",
        "ABC-2 finished",
    )
    pr = PullRequest("9", "ABC-2: Title", "Body without key", "feature/ABC-1-login", "main")
    events = [
        Event(Trigger.PUSH, "feature/ABC-1-login", commits(*messages)),
        Event(Trigger.PUSH, "release/1.0", commits(*messages)),
        Event(Trigger.PULL_REQUEST, "feature/ABC-1-login", commits(*messages), pr),
        Event(Trigger.COMMIT, "", (Commit(ZERO_HASH, "no key", "Ada"),)),
        Event(Trigger.PUSH, "main", (Commit("b" * 40, "x", "Bot"),)),
    ]
    out: list[Evaluation] = []
    for event in events:
        out.append(run(event, rules, jira(projects=["ABC"])))
        out.append(run(event, rules, jira(failing=["ABC-1"]), jira_unreachable="WARN"))
        out.append(run(event, rules, OfflineResolver()))
    out.append(run(Event(Trigger.PUSH), rules))
    out.append(run(push("x"), rules, enabled=False))
    # rule modes and exemptions (ADR 0011): the same documents, with their keys
    exemptions = {
        "bots": True,
        "reverts": True,
        "release_commits": True,
        "host_merges": True,
        "escape": {"allowed": True, "branches": {"include": ["feature/*"]}},
    }
    extra = (
        *messages,
        "chore(release): 1.0.0",
        "typo [no-jira: docs]",
        "typo [no-jira]",
        "Merge pull request #3 from acme/x",
    )
    for mode in ("warn", "evaluate"):
        event = Event(Trigger.PUSH, "feature/ABC-1-login", commits(*extra))
        out.append(run(event, rules, jira(projects=["ABC"]), default_mode=mode))
        out.append(run(event, rules, jira(projects=["ABC"]), exemptions=exemptions))
        bot = (Commit("c" * 40, "bump", "dependabot[bot]"),)
        out.append(run(Event(Trigger.PUSH, "main", bot), rules, exemptions={"bots": True}))
    return out


@pytest.fixture(scope="module")
def scenarios() -> list[Evaluation]:
    return _scenarios()


def _all_facts(evaluation: Evaluation) -> list[Fact]:
    facts = list(evaluation.system_facts)
    for rv in evaluation.rule_validations:
        facts += [*rv.condition_facts, *rv.check_facts]
    return facts


def test_scenarios_cover_every_status(scenarios: list[Evaluation]) -> None:
    statuses = {rv.status for ev in scenarios for rv in ev.rule_validations}
    assert statuses == set(Status)
    assert {ev.result for ev in scenarios} >= {Status.BLOCK, Status.IGNORE}


@pytest.mark.parametrize("locale", ["en-US", "de-DE"])
def test_documents_follow_the_validation_api(locale: str, scenarios: list[Evaluation]) -> None:
    for evaluation in scenarios:
        assert_document(evaluation.to_document(locale))


def test_every_message_id_is_in_the_catalogue(scenarios: list[Evaluation]) -> None:
    used = {f.message_id for ev in scenarios for f in _all_facts(ev)}
    assert used - set(EN) == set()
    assert len(used) > 30


def test_facts_that_must_reach_users_have_a_visible_first_context(
    scenarios: list[Evaluation],
) -> None:
    """Hook clients show a check fact only if its first context is one of these."""
    visible = {Context.COMMIT, Context.COMMITS, Context.BRANCH_SOURCE, Context.BRANCH_DESTINATION}
    for evaluation in scenarios:
        if evaluation.event.trigger not in (Trigger.COMMIT, Trigger.PUSH):
            continue
        for rv in evaluation.rule_validations:
            if rv.status not in (Status.BLOCK, Status.WARNING):
                continue
            for fact in rv.check_facts:
                if fact.status in (FactStatus.ERROR, FactStatus.WARNING):
                    assert fact.contexts[0] in visible, (rv.rule.id, fact)


def test_document_content() -> None:
    event = Event(
        Trigger.PUSH,
        "feature/ABC-1-login",
        (
            Commit("1" * 40, "ABC-1 Größe ändern ✓", "Ada", url="https://git/1"),
            Commit("2" * 40, "x", "Bob"),
        ),
    )
    r = rule(
        id="keys",
        title="Keys",
        error="Reference an issue.",
        success="All good.",
        hint="Add ABC-1.",
        checks={"key_present": True, "keys_valid": "ALL"},
    )
    ok = rule(id="ok", title="Ok", success="Branch fine.", targets=["BRANCH"])
    document = run(event, [r, ok], jira()).to_document()
    assert_document(document)
    assert document["result"] == "BLOCK"
    keys, ok_doc = document["ruleValidations"]
    assert keys["rule"]["id"] == "keys" and keys["rule"]["scope"] == "WORKSPACE"
    assert keys["ruleStatus"] == "BLOCK"
    assert keys["issuesUnderReview"]["ABC-1"]["status"] == "In Progress"
    assert keys["issuesUnderReview"]["ABC-1"]["summary"] == "Login"
    assert keys["commitsUnderReview"]["1" * 40] == {
        "hash": "1" * 40,
        "message": "ABC-1 Größe ändern ✓",
        "authorDisplayName": "Ada",
        "url": "https://git/1",
    }
    assert keys["commitsUnderReview"]["2" * 40]["authorDisplayName"] == "Bob"
    no_keys = [f for f in keys["checkFacts"] if f["code"] == "NO_KEYS"]
    no_keys[0].pop("params", None)  # optional; the target noun is not a plain parameter
    assert no_keys == [
        {
            "message": "Commit does not contain any issue keys.",
            "code": "NO_KEYS",
            "status": "ERROR",
            "source": "ISSUE_KEY",
            "group": "COMMIT",
            "qualifier": "DETAIL",
            "contexts": ["COMMIT"],
            "ref": "2" * 40,
            "ruleTitle": "Keys",
        }
    ]
    assert ok_doc["ruleStatus"] == "PASS"
    (validation,) = document["errorValidations"]
    assert validation["errorMessages"] == [{"text": "Reference an issue."}]
    # a passed rule's success text is shown with the rule, never under "Validation Errors"
    assert validation["successMessages"] == []
    assert validation["warningMessages"] == []


def test_repository_rules_say_so() -> None:
    r = parse_rule(
        {"id": "r", "title": "t", "checks": {"key_present": True}}, scope=Scope.REPOSITORY
    )
    document = run(push("ABC-1"), [r]).to_document()
    assert document["ruleValidations"][0]["rule"]["scope"] == "REPOSITORY"


def test_warnings_and_system_facts_in_error_validations() -> None:
    r = rule(severity="WARNING", error="Please add a key.")
    valid = rule(id="v", checks={"keys_valid": "ALL"})
    ev = run(push("x", "ABC-1"), [r, valid], jira(failing=["ABC-1"]), jira_unreachable="ALLOW")
    assert [rv.status for rv in ev.rule_validations] == [Status.WARNING, Status.PASS]
    document = ev.to_document()
    (validation,) = document["errorValidations"]
    assert validation["warningMessages"] == [{"text": "Please add a key."}]
    assert validation["detailMessages"] == [{"text": "Jira connection 'memory': connection failed"}]


def test_timestamp_is_now_in_milliseconds() -> None:
    import time

    before = int(time.time() * 1000)
    document = run(push("ABC-1"), [rule()]).to_document()
    assert before <= document["timestamp"] <= int(time.time() * 1000)


# --- locales ---------------------------------------------------------------------------------


def test_messages_in_english_and_german() -> None:
    ev = run(push("no key", branch="main"), [rule(targets=["COMMIT", "BRANCH"])])
    en = [f["message"] for f in ev.to_document("en-US")["ruleValidations"][0]["checkFacts"]]
    de = [f["message"] for f in ev.to_document("de-DE")["ruleValidations"][0]["checkFacts"]]
    assert en == [
        "Commit does not contain any issue keys.",
        "Branch name does not contain any issue keys.",
    ]
    assert de == [
        "Commit enthält keine Vorgangsschlüssel.",
        "Branch-Name enthält keine Vorgangsschlüssel.",
    ]
    assert ev.to_document("de")["ruleValidations"][0]["checkFacts"][1]["message"] == de[1]
    assert ev.to_document("fr-FR")["ruleValidations"][0]["checkFacts"][1]["message"] == en[1]


def test_german_messages_with_parameters() -> None:
    ev = run(push("ABC-2 fertig"), [rule(checks={"jql": 'status = "In Progress"'})], jira())
    (fact,) = ev.rule_validations[0].check_facts
    assert fact.message("de-DE") == (
        'ABC-2 (Done) erfüllt die JQL-Bedingung nicht: status = "In Progress"'
    )


# --- batching --------------------------------------------------------------------------------


def _batching_rules() -> list[Rule]:
    return [
        *(parse_rule(dict(t.rule)) for t in TEMPLATES),
        rule(id="extra-jql", checks={"keys_valid": "ALL", "jql": "assignee = currentUser()"}),
        rule(id="same-jql", checks={"jql": 'status = "In Progress"'}),
    ]


def _history(count: int) -> Event:
    commits = tuple(
        Commit(
            f"{i:040x}",
            f"ABC-{i % 50 + 1} change {i}" if i % 9 else f"change {i}",
            "Ada",
            parents=("p",),
        )
        for i in range(count)
    )
    return Event(Trigger.PUSH, "release/1.0", commits)


def test_resolver_calls_are_constant_in_the_number_of_commits() -> None:
    rules = _batching_rules()
    distinct_jql = {r.checks.jql for r in rules if r.checks.jql}
    calls: dict[int, list[tuple[str, int]]] = {}
    for count in (10, 10_000):
        resolver = InMemoryResolver(
            [IssueData(f"ABC-{i}") for i in range(1, 51)],
            jql={q: ["ABC-1"] for q in distinct_jql},
        )
        ev = run(_history(count), rules, resolver)
        names = [name for name, _ in resolver.calls]
        assert names.count("projects") <= 1
        assert names.count("resolve") == 1
        assert names.count("match_jql") <= len(distinct_jql)
        assert ev.resolver_calls == len(resolver.calls)
        calls[count] = resolver.calls
        blocked = [rv for rv in ev.rule_validations if rv.status is Status.BLOCK]
        assert blocked  # "change N" commits have no key
    assert [n for n, _ in calls[10]] == [n for n, _ in calls[10_000]]
    # every distinct key is asked for once, whatever the number of commits mentioning it
    assert dict(calls[10_000])["resolve"] == 50


def test_jql_runs_once_per_distinct_query_over_resolved_keys_only() -> None:
    resolver = jira()
    rules = [
        rule(id="a", checks={"jql": 'status = "In Progress"'}),
        rule(id="b", targets=["BRANCH"], checks={"jql": 'status = "In Progress"'}),
        rule(id="c", checks={"jql": "fixVersion is not EMPTY"}),
    ]
    run(push("ABC-1 ABC-2 ZZZ-9", branch="feature/ABC-1"), rules, resolver)
    assert resolver.calls == [("resolve", 3), ("match_jql", 2), ("match_jql", 2)]


def test_no_jira_calls_when_no_rule_needs_jira() -> None:
    resolver = jira()
    ev = run(push("ABC-1"), [rule(checks={"key_present": True, "naming": "^ABC"})], resolver)
    assert resolver.calls == [] and ev.resolver_calls == 0


def test_settings_object_is_reusable_across_evaluations() -> None:
    settings = Settings()
    first = asyncio.run(evaluate(push("ABC-1"), [rule()], settings=settings))
    second = asyncio.run(evaluate(push("x"), [rule()], settings=settings))
    assert (first.result, second.result) == (Status.PASS, Status.BLOCK)


def test_branch_only_rules_review_no_commits() -> None:
    branch_rule = rule(id="b", targets=["BRANCH"], checks={"key_present": True})
    commit_rule = rule(id="c", checks={"key_present": True})
    event = Event(Trigger.PUSH, "feature/ABC-1", (Commit("a" * 40, "ABC-1 x"),))
    document = run(event, [branch_rule, commit_rule]).to_document()
    by_id = {rv["rule"]["id"]: rv for rv in document["ruleValidations"]}
    assert "commitsUnderReview" not in by_id["b"]
    assert list(by_id["c"]["commitsUnderReview"]) == ["a" * 40]


def test_scenarios_cover_modes_and_exemptions(scenarios: list[Evaluation]) -> None:
    documents = [ev.to_document() for ev in scenarios]
    entries = [rv for d in documents for rv in d["ruleValidations"]]
    assert {rv["mode"] for rv in entries} == {"enforce", "warn", "evaluate"}
    assert any(rv.get("wouldHaveBlocked") for rv in entries)
    kinds = {e["kind"] for d in documents for e in d.get("exemptions", ())}
    # the revert of commit aaaa… reverts "typo [no-jira]", which has no key: exempt
    assert kinds == {"bot", "release", "escape", "host_merge", "revert"}
