"""Rule modes (enforce, warn, evaluate) and exemption presets in the engine (ADR 0011)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jirahooks import exemptions as presets
from jirahooks.engine import Evaluation, evaluate
from jirahooks.engine.exempt import bot_name
from jirahooks.engine.facts import FactStatus, Status, for_pusher
from jirahooks.engine.resolver import InMemoryResolver, IssueData
from jirahooks.event import Commit, Event, Trigger
from jirahooks.platforms import results
from jirahooks.rules import parse_rule
from jirahooks.rules.config import parse_settings
from jirahooks.rules.model import Mode, Patterns, Rule, Settings
from jirahooks.rules.schema import json_schema


def rule(rule_id: str = "r", **data: Any) -> Rule:
    return parse_rule({"id": rule_id, "title": f"Rule {rule_id}", **data})


KEYS = {"checks": {"key_present": True}}
VALID = {"checks": {"keys_valid": "ALL"}}


def run(
    event: Event, rules: list[Rule], settings: Settings | None = None, resolver: Any = None
) -> Evaluation:
    evaluation: Evaluation = asyncio.run(
        evaluate(event, rules, resolver, settings=settings or Settings())
    )
    return evaluation


def push(*commits: Commit, branch: str = "feature/x", user: str = "") -> Event:
    return Event(Trigger.PUSH, branch, commits, user=user)


BAD = Commit("a" * 40, "no key here", "Ada")
GOOD = Commit("b" * 40, "ABC-1 with a key", "Ada")


# --- modes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "status", "result", "enforced"),
    [
        (None, Status.BLOCK, Status.BLOCK, None),
        ("enforce", Status.BLOCK, Status.BLOCK, None),
        ("warn", Status.WARNING, Status.WARNING, Status.BLOCK),
        ("evaluate", Status.PASS, Status.PASS, Status.BLOCK),
    ],
)
def test_each_mode_on_a_failing_rule(
    mode: str | None, status: Status, result: Status, enforced: Status | None
) -> None:
    data = {**KEYS, **({"mode": mode} if mode else {})}
    evaluation = run(push(BAD), [rule(**data)])
    (rv,) = evaluation.rule_validations
    assert (rv.status, evaluation.result, rv.enforced_status) == (status, result, enforced)
    assert rv.mode is Mode(mode or "enforce")
    entry = evaluation.to_document()["ruleValidations"][0]
    assert entry["mode"] == (mode or "enforce")
    assert entry.get("wouldHaveBlocked", False) is (enforced is Status.BLOCK)
    if mode == "warn":  # shown as a warning: no error fact left
        assert {f.status for f in rv.check_facts} == {FactStatus.WARNING}
    if mode == "evaluate":  # the stored document keeps what failed
        assert any(f.status is FactStatus.ERROR for f in rv.check_facts)


def test_a_passing_rule_in_any_mode_passes_without_a_marker() -> None:
    for mode in ("warn", "evaluate"):
        evaluation = run(push(GOOD), [rule(mode=mode, **KEYS)])
        entry = evaluation.to_document()["ruleValidations"][0]
        assert entry["ruleStatus"] == "PASS" and entry["mode"] == mode
        assert "enforcedStatus" not in entry and "wouldHaveBlocked" not in entry


def test_severity_warning_is_warn_and_never_would_have_blocked() -> None:
    evaluation = run(push(BAD), [rule(severity="WARNING", **KEYS)])
    (rv,) = evaluation.rule_validations
    assert rv.mode is Mode.WARN and rv.status is Status.WARNING and rv.enforced_status is None
    # in evaluate mode it would have warned, not blocked
    evaluation = run(push(BAD), [rule(severity="WARNING", mode="evaluate", **KEYS)])
    (rv,) = evaluation.rule_validations
    assert rv.status is Status.PASS and rv.enforced_status is Status.WARNING
    assert not rv.would_have_blocked


def test_default_mode_from_the_settings_and_the_rules_own_wins() -> None:
    settings = parse_settings({"default_mode": "evaluate"})
    evaluation = run(push(BAD), [rule("a", **KEYS), rule("b", mode="enforce", **KEYS)], settings)
    statuses = {rv.rule.id: (rv.status, rv.mode) for rv in evaluation.rule_validations}
    assert statuses == {"a": (Status.PASS, Mode.EVALUATE), "b": (Status.BLOCK, Mode.ENFORCE)}
    assert evaluation.result is Status.BLOCK


def test_jira_unreachable_under_evaluate_is_recorded_not_blocking() -> None:
    resolver = InMemoryResolver([], failing=["ABC-1"])
    evaluation = run(push(GOOD), [rule(mode="evaluate", **VALID)], resolver=resolver)
    (rv,) = evaluation.rule_validations
    assert rv.status is Status.PASS and rv.would_have_blocked and rv.jira_unreachable


def test_the_pusher_view_leaves_out_evaluate_rules_only() -> None:
    rules = [rule("e", mode="evaluate", **KEYS), rule("w", mode="warn", **KEYS), rule("x", **KEYS)]
    document = run(push(BAD), rules).to_document()
    assert [rv["rule"]["id"] for rv in document["ruleValidations"]] == ["e", "w", "x"]
    shown = for_pusher(document)
    assert [rv["rule"]["id"] for rv in shown["ruleValidations"]] == ["w", "x"]
    assert len(document["ruleValidations"]) == 3  # the stored document is not changed
    assert for_pusher(run(push(BAD), [rules[2]]).to_document())["ruleValidations"]


def test_pr_status_and_report_ignore_evaluate_rules() -> None:
    evaluation = run(push(BAD), [rule("e", mode="evaluate", **KEYS)])
    assert results.passed(evaluation)
    assert results.failed_rules(evaluation) == []
    assert results.failed_checks(evaluation) == []
    evaluation = run(push(BAD), [rule("w", mode="warn", **KEYS)])
    assert results.passed(evaluation) and results.failed_checks(evaluation) == []


def test_the_mode_is_in_the_json_schema_and_a_bad_one_is_refused() -> None:
    schema = json_schema(Rule)
    mode = schema["properties"]["mode"]
    assert {"type": "string", "enum": ["enforce", "warn", "evaluate"]}.items() <= (
        mode["anyOf"][0].items()
    )
    from jirahooks.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        rule(mode="sometimes", **KEYS)
    assert "rule.mode" in str(caught.value.problems[0].path)
    assert rule(mode="EVALUATE", **KEYS).mode is Mode.EVALUATE  # enums read in any case


# --- exemption presets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "dependabot[bot]",
        "renovate[bot]",
        "github-actions[bot]",
        "49699333+dependabot[bot]@users.noreply.github.com",
        "bot@renovateapp.com",
        "project_42_bot_3f2a",
        "group_7_bot_1b",
        "Bitbucket Pipelines",
    ],
)
def test_bot_presets(name: str) -> None:
    assert bot_name(Patterns(include=presets.BOT_PATTERNS), ("", name)) == name


@pytest.mark.parametrize("name", ["Ada Lovelace", "bot", "robot@example.com", "abbot"])
def test_people_are_not_bots(name: str) -> None:
    assert bot_name(Patterns(include=presets.BOT_PATTERNS), (name,)) == ""
    assert bot_name(None, (name,)) == ""


@pytest.mark.parametrize(
    ("message", "merge", "expected"),
    [
        ("Merge pull request #12 from acme/feature-x\n\nAdd x", True, True),
        ("Merged in feature/x (pull request #3)\n\nABC-1 x", True, True),
        ("Merge pull request #4 in PROJ/repo from feature/x to main", True, True),
        ("Merge branch 'feature' into 'main'\n\nSee merge request acme/app!7", True, True),
        ("Merge branch 'feature' into 'main'", True, False),  # GitLab's, but not said so
        ("Merge branch 'main' into feature", True, False),  # a developer's local merge
        ("Merge pull request #12 from acme/feature-x", False, False),  # not a merge commit
    ],
)
def test_host_merges(message: str, merge: bool, expected: bool) -> None:
    assert presets.host_merge(message, merge) is expected


@pytest.mark.parametrize(
    ("message", "tool"),
    [
        ("chore(release): 1.2.3 [skip ci]\n\n## 1.2.3", "semantic-release"),
        ("chore(main): release 2.0.0", "release-please"),
        ("chore: release 2.0.0", "release-please"),
        ("[maven-release-plugin] prepare release app-1.4", "maven-release-plugin"),
        ("[maven-release-plugin] prepare for next development iteration", "maven-release-plugin"),
        ("[Gradle Release Plugin] - new version commit:  '1.1'.", "gradle-release-plugin"),
        ("1.4.0", "npm version"),
        ("v2.0.0-rc.1", "npm version"),
        ("Bump version: 1.0.0 → 1.1.0", "bump2version"),
        ("release the kraken", ""),
        ("chore: bump deps", ""),
    ],
)
def test_release_tools(message: str, tool: str) -> None:
    assert presets.release_tool(message) == tool


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("fix [no-jira: typo in README]", "typo in README"),
        ("fix [NO-JIRA:   spaces  ]", "spaces"),
        ("fix [no-jira]", ""),
        ("fix [no-jira: ]", ""),
        ("fix no-jira: typo", None),
        ("fix [no-jiraX: typo]", None),
    ],
)
def test_escape_token(message: str, reason: str | None) -> None:
    assert presets.escape_reason(message, "no-jira") == reason


def exempting(**config: Any) -> Settings:
    return parse_settings({"exemptions": config})


def test_exempt_commits_are_not_sent_to_jira() -> None:
    """Presets are decided before Jira is asked: a bot's key is never resolved."""
    resolver = InMemoryResolver([IssueData("ABC-1", "ABC-1", status="Open")])
    bot = Commit("c" * 40, "ABC-999 bump", "dependabot[bot]")
    evaluation = run(push(GOOD, bot), [rule(**VALID)], exempting(bots=True), resolver)
    assert resolver.calls == [("resolve", 1)]  # ABC-1 only
    assert evaluation.result is Status.PASS
    assert evaluation.exemptions == (
        {"commit": bot.hash, "kind": "bot", "author": "dependabot[bot]", "bot": "dependabot[bot]"},
    )


def test_committer_patterns() -> None:
    commit = Commit("c" * 40, "regenerate", "Ada", committer_name="ci-robot")
    assert run(push(commit), [rule(**KEYS)], exempting(bot_patterns=["ci-*"])).result is (
        Status.SKIP
    )
    assert run(push(commit), [rule(**KEYS)], exempting(bots=True)).result is Status.BLOCK


def test_a_revert_inherits_the_keys_of_the_reverted_commit() -> None:
    original = Commit("d" * 40, "ABC-7 add the widget", "Ada")
    revert = Commit(
        "e" * 40,
        f'Revert "add the widget"\n\nThis reverts commit {original.hash}.',
        "Ada",
    )
    settings = exempting(reverts=True)
    evaluation = run(push(original, revert), [rule(**KEYS)], settings)
    assert evaluation.result is Status.PASS
    messages = [f.message() for f in evaluation.rule_validations[0].check_facts]
    assert f"Commit {'e' * 12} reverts {'d' * 12}: checked with its issue keys (ABC-7)." in messages
    # the reverted commit not in the push: its subject, quoted by git, carries the key
    alone = Commit("e" * 40, 'Revert "ABC-8 add"\n\nThis reverts commit 1234567890ab.', "Ada")
    assert run(push(alone), [rule(**KEYS)], settings).result is Status.PASS
    # nothing to inherit: exempt (it undoes a commit that referenced no issue)
    keyless = Commit("f" * 40, 'Revert "bump deps"\n\nThis reverts commit 1234567890ab.', "Ada")
    evaluation = run(push(keyless), [rule(**KEYS)], settings)
    assert evaluation.result is Status.SKIP
    assert evaluation.exemptions[0]["kind"] == "revert"
    # without the preset a revert is judged by its own text
    assert run(push(keyless), [rule(**KEYS)]).result is Status.BLOCK


def test_escape_token_rules() -> None:
    escaped = Commit("a" * 40, "typo [no-jira: docs]", "Ada")
    allowed = {"allowed": True, "branches": {"include": ["hotfix/*"]}}
    settings = exempting(escape=allowed)
    assert run(push(escaped, branch="hotfix/1"), [rule(**KEYS)], settings).result is Status.SKIP
    refused = run(push(escaped, branch="feature/1"), [rule(**KEYS)], settings)
    assert refused.result is Status.BLOCK and refused.exemptions == ()
    # forbidden entirely (the default): said, and judged as usual
    forbidden = run(push(escaped), [rule(**KEYS)])
    assert forbidden.result is Status.BLOCK
    facts = forbidden.rule_validations[0].check_facts
    assert [f.message_id for f in facts] == ["escape.forbidden", "keys.none.commit"]
    # users: the pusher must be known and allowed
    by_user = exempting(escape={"allowed": True, "users": {"include": ["alice"]}})
    assert run(push(escaped, user="alice"), [rule(**KEYS)], by_user).result is Status.SKIP
    assert run(push(escaped, user="bob"), [rule(**KEYS)], by_user).result is Status.BLOCK
    unknown = run(push(escaped), [rule(**KEYS)], by_user)
    assert unknown.rule_validations[0].check_facts[0].message_id == "escape.user_unknown"
    # groups: the settings' named groups; an unknown pusher is in none of them (refused)
    by_group = parse_settings(
        {
            "groups": {"release-managers": ["carol"]},
            "exemptions": {
                "escape": {"allowed": True, "groups": {"include": ["release-managers"]}}
            },
        }
    )
    assert run(push(escaped, user="carol"), [rule(**KEYS)], by_group).result is Status.SKIP
    none = run(push(escaped), [rule(**KEYS)], by_group)
    assert none.rule_validations[0].check_facts[0].message_id == "escape.group_unknown"
    # a custom token
    custom = exempting(escape={"allowed": True, "token": "skip-jira"})
    other = Commit("a" * 40, "typo [skip-jira: docs]", "Ada")
    assert run(push(other), [rule(**KEYS)], custom).result is Status.SKIP


def test_exemptions_apply_to_every_rule_and_the_document_lists_them_once() -> None:
    bot = Commit("c" * 40, "bump", "renovate[bot]")
    evaluation = run(push(bot, GOOD), [rule("a", **KEYS), rule("b", **KEYS)], exempting(bots=True))
    document = evaluation.to_document("de-DE")
    assert document["exemptions"] == [
        {"commit": bot.hash, "kind": "bot", "author": "renovate[bot]", "bot": "renovate[bot]"}
    ]
    for rv in document["ruleValidations"]:
        fact, checked = rv["checkFacts"]  # the exemption first, then the other commit's
        assert checked["ref"] == GOOD.hash
        assert (
            fact["message"]
            == "Commit cccccccccccc ausgenommen: vom Bot 'renovate[bot]' geschrieben."
        )
        assert fact["category"] == ["EXEMPTION"] and fact["contexts"] == ["COMMIT"]
        assert fact["ref"] == bot.hash  # shown under the commit by the published client
    assert "exemptions" not in run(push(GOOD), [rule(**KEYS)]).to_document()


def test_a_bad_exemption_setting_is_refused_with_its_path() -> None:
    from jirahooks.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_settings({"exemptions": {"escape": {"token": "no jira!"}}})
    assert caught.value.problems[0].path == "settings.exemptions.escape.token"
    with pytest.raises(ConfigError) as caught:
        parse_settings({"exemptions": {"bot": True}})
    assert "did you mean 'bots'" in caught.value.problems[0].hint


def test_pr_report_counts_no_evaluate_rules_and_names_exemptions() -> None:
    bot = Commit("c" * 40, "bump", "dependabot[bot]")
    rules = [rule("e", mode="evaluate", **KEYS), rule("x", **KEYS)]
    evaluation = run(push(bot, GOOD), rules, exempting(bots=True))
    status = results.build_status(evaluation)
    assert status.description == "Passed: 1 rule"
    report = results.report(evaluation)
    data = {d["title"]: d["value"] for d in report.data}
    assert data["Rules evaluated"] == 1 and data["Exempt commits"] == 1
    assert "Exempt commits: 1 bot." in report.details


def test_a_pull_request_a_bot_opened_is_exempt_as_a_whole() -> None:
    from jirahooks.event import PullRequest

    bump = PullRequest("7", "Bump lodash", "", "dependabot/npm/lodash", "main", "dependabot[bot]")
    branch_rule = rule("b", targets=["BRANCH", "PR_TITLE"], triggers=["PULL_REQUEST"], **KEYS)
    event = Event(
        Trigger.PULL_REQUEST,
        "dependabot/npm/lodash",
        (Commit("c" * 40, "Bump lodash", "dependabot[bot]"),),
        bump,
        user="dependabot[bot]",
    )
    assert run(event, [branch_rule]).result is Status.BLOCK  # without the preset
    evaluation = run(event, [branch_rule], exempting(bots=True))
    assert evaluation.result is Status.SKIP
    (fact,) = evaluation.rule_validations[0].check_facts
    assert fact.message() == "Pull request 7 exempt: opened by the bot 'dependabot[bot]'."
    assert evaluation.exemptions == (
        {"pullRequest": "7", "kind": "bot", "author": "dependabot[bot]", "bot": "dependabot[bot]"},
    )
    # a person's pull request is judged
    human = PullRequest("8", "Fix", "", "feature/x", "main", "Ada")
    other = Event(Trigger.PULL_REQUEST, "feature/x", (), human, user="Ada")
    assert run(other, [branch_rule], exempting(bots=True)).result is Status.BLOCK
