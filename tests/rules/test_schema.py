"""The declarative schema reader: types, enums, unknown fields, exact paths, dump."""

from __future__ import annotations

from typing import Any

import pytest

from jirahooks.errors import ConfigError, ConfigProblem
from jirahooks.event import Trigger
from jirahooks.rules import parse_rule
from jirahooks.rules.config import parse_settings
from jirahooks.rules.model import (
    Checks,
    Conditions,
    KeysValid,
    Patterns,
    Rule,
    Scope,
    Settings,
    Severity,
    Strategy,
    Target,
    UnreachablePolicy,
)
from jirahooks.rules.schema import Reader, dump


def problems_of(data: Any) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as excinfo:
        parse_rule(data, path="rules[0]")
    return excinfo.value.problems


def paths_of(data: Any) -> list[str]:
    return [p.path for p in problems_of(data)]


def test_minimal_rule_gets_documented_defaults() -> None:
    rule = parse_rule({"id": "r1", "title": "Keys"})
    assert rule == Rule(id="r1", title="Keys")
    assert rule.enabled is True
    assert rule.severity is Severity.BLOCK
    assert rule.triggers == frozenset({Trigger.COMMIT, Trigger.PUSH, Trigger.PULL_REQUEST})
    assert rule.targets == (Target.COMMIT,)
    assert rule.strategy is Strategy.ALL
    assert rule.scope is Scope.WORKSPACE
    assert rule.checks == Checks()
    assert rule.conditions == Conditions()


def test_full_rule_reads_every_field() -> None:
    rule = parse_rule(
        {
            "id": "full",
            "title": "Full rule",
            "enabled": False,
            "description": "d",
            "show_rule": True,
            "error": "e",
            "success": "s",
            "hint": "h",
            "severity": "WARNING",
            "triggers": ["PUSH", "MERGE_COMMIT"],
            "targets": ["BRANCH", "PR_TITLE"],
            "strategy": "AT_LEAST_ONE",
            "conditions": {
                "branches": {"include": ["feature/*"], "exclude": ["feature/skip-*"]},
                "destination_branches": {"include": ["main"]},
                "users": {"exclude": ["bot"]},
                "groups": {"include": ["devs"]},
                "authors": {"exclude": ["*@bots.example"]},
                "skip_merge_commits": True,
                "skip_reverts": True,
                "bypass_marker": "[skip jira]",
            },
            "checks": {
                "key_present": True,
                "keys_valid": "ONE",
                "ignore_unknown_projects": True,
                "jql": "status = Done",
                "consistency": True,
                "naming": "^feature/",
                "no_merge_commits": True,
                "single_commit": True,
            },
        },
        scope=Scope.REPOSITORY,
    )
    assert not rule.enabled and rule.show_rule
    assert rule.severity is Severity.WARNING
    assert rule.triggers == frozenset({Trigger.PUSH, Trigger.MERGE_COMMIT})
    assert rule.targets == (Target.BRANCH, Target.PR_TITLE)
    assert rule.strategy is Strategy.AT_LEAST_ONE
    assert rule.scope is Scope.REPOSITORY
    assert rule.conditions.branches == Patterns(("feature/*",), ("feature/skip-*",))
    assert rule.conditions.bypass_marker == "[skip jira]"
    assert rule.checks.keys_valid is KeysValid.ONE
    assert rule.checks.naming == "^feature/"
    assert rule.checks.needs_jira and rule.checks.needs_keys


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("at_least_one", Strategy.AT_LEAST_ONE),
        ("At-Least-One", Strategy.AT_LEAST_ONE),
        (" all ", Strategy.ALL),
    ],
)
def test_enums_are_case_insensitive(raw: str, expected: Strategy) -> None:
    assert parse_rule({"id": "r", "title": "t", "strategy": raw}).strategy is expected


def test_enum_lists_are_case_insensitive_and_a_single_value_is_a_list() -> None:
    rule = parse_rule({"id": "r", "title": "t", "targets": "pr_title", "triggers": "push"})
    assert rule.targets == (Target.PR_TITLE,)
    assert rule.triggers == frozenset({Trigger.PUSH})
    rule = parse_rule({"id": "r", "title": "t", "targets": ["commit", "Branch"]})
    assert rule.targets == (Target.COMMIT, Target.BRANCH)


def test_unknown_enum_value_lists_the_choices() -> None:
    (problem,) = problems_of({"id": "r", "title": "t", "checks": {"keys_valid": "SOME"}})
    assert problem.path == "rules[0].checks.keys_valid"
    assert problem.message == "'SOME' is not one of OFF, ALL, ONE"


def test_unknown_enum_in_a_list_has_the_index_in_its_path() -> None:
    (problem,) = problems_of({"id": "r", "title": "t", "targets": ["COMMIT", "BRANCHES"]})
    assert problem.path == "rules[0].targets[1]"
    assert "'BRANCHES' is not one of COMMIT, COMMITS, BRANCH, PR_TITLE, PR_DESCRIPTION" in (
        problem.message
    )


def test_unknown_field_suggests_the_closest_name() -> None:
    (problem,) = problems_of({"id": "r", "title": "t", "tagrets": ["COMMIT"]})
    assert problem.path == "rules[0].tagrets"
    assert problem.message == "unknown field"
    assert problem.hint == "did you mean 'targets'?"


def test_unknown_nested_field_suggests_the_closest_name() -> None:
    (problem,) = problems_of({"id": "r", "title": "t", "checks": {"key_presnet": True}})
    assert problem.path == "rules[0].checks.key_presnet"
    assert problem.hint == "did you mean 'key_present'?"


def test_unknown_field_without_a_close_match_lists_known_fields() -> None:
    (problem,) = problems_of({"id": "r", "title": "t", "zzzzzz": 1})
    assert problem.hint.startswith("known fields: id, title, enabled")


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"enabled": "yes"}, "rules[0].enabled", "expected true or false, got text ('yes')"),
        ({"enabled": 1}, "rules[0].enabled", "expected true or false, got a number (1)"),
        ({"title": ["a"]}, "rules[0].title", "expected text, got a list"),
        ({"title": None}, "rules[0].title", "expected text, got nothing (null)"),
        ({"checks": "key_present"}, "rules[0].checks", "expected a mapping, got text"),
        ({"targets": {"a": 1}}, "rules[0].targets", "expected a list, got a mapping"),
        (
            {"conditions": {"skip_reverts": "true"}},
            "rules[0].conditions.skip_reverts",
            "expected true or false",
        ),
        (
            {"conditions": {"branches": {"include": [True]}}},
            "rules[0].conditions.branches.include[0]",
            "expected text, got a boolean (true)",
        ),
    ],
)
def test_wrong_types_are_reported_at_their_path(
    data: dict[str, Any], path: str, message: str
) -> None:
    problems = problems_of({"id": "r", "title": "t", **data})
    assert [p.path for p in problems] == [path]
    assert message in problems[0].message


def test_numbers_are_accepted_as_text() -> None:
    assert parse_rule({"id": 42, "title": 7}).title == "7"


def test_missing_required_field() -> None:
    (problem,) = problems_of({"id": "r"})
    assert problem.path == "rules[0].title"
    assert problem.message == "required field is missing"


def test_field_checks_report_their_message() -> None:
    assert paths_of({"id": "r", "title": "t", "triggers": []}) == ["rules[0].triggers"]
    assert problems_of({"id": "r", "title": "t", "targets": []})[0].message == (
        "a rule needs at least one target"
    )
    assert problems_of({"id": "r", "title": "t", "targets": ["COMMIT", "commit"]})[0].message == (
        "a target is listed twice"
    )
    assert paths_of({"id": "bad id!", "title": "t"}) == ["rules[0].id"]
    assert paths_of({"id": "r", "title": "t", "conditions": {"branches": {"include": [" "]}}}) == [
        "rules[0].conditions.branches.include"
    ]


def test_invalid_naming_regex_is_reported_at_its_exact_path() -> None:
    (problem,) = problems_of({"id": "r", "title": "t", "checks": {"naming": "^(feature/"}})
    assert problem.path == "rules[0].checks.naming"
    assert problem.message.startswith("invalid regular expression: missing )")
    assert "RE2" in problem.hint


def test_naming_regex_features_re2_lacks_are_invalid() -> None:
    (problem,) = problems_of({"id": "r", "title": "t", "checks": {"naming": "(?!wip)"}})
    assert problem.path == "rules[0].checks.naming"


def test_every_problem_of_a_rule_is_reported_at_once() -> None:
    paths = paths_of(
        {
            "id": "r",
            "title": "t",
            "enabled": "no",
            "strategy": "MOST",
            "checks": {"naming": "(", "keys_valid": 3},
        }
    )
    assert sorted(paths) == [
        "rules[0].checks.keys_valid",
        "rules[0].checks.naming",
        "rules[0].enabled",
        "rules[0].strategy",
    ]


def test_rule_that_is_not_a_mapping() -> None:
    (problem,) = problems_of(["key_present"])
    assert problem.path == "rules[0]"
    assert problem.message == "expected a mapping (a rule)"


def test_scope_cannot_be_written_in_a_rule() -> None:
    (problem,) = problems_of({"id": "r", "title": "t", "scope": "REPOSITORY"})
    assert problem.path == "rules[0].scope"


def test_reader_collects_problems_without_raising() -> None:
    reader = Reader()
    assert reader.read(Patterns, {"include": "main", "exclud": []}, "x") is None
    assert [str(p) for p in reader.problems] == [
        "x.exclud: unknown field (hint: did you mean 'exclude'?)"
    ]
    assert reader.read(Patterns, None, "y") == Patterns()


def test_settings_defaults_and_overrides() -> None:
    assert parse_settings(None) == Settings()
    settings = parse_settings(
        {"jira_unreachable": "warn", "case_insensitive": ["commit", "BRANCH"]},
        base={"enabled": False},
    )
    assert settings.enabled is False
    assert settings.jira_unreachable is UnreachablePolicy.WARN
    assert settings.case_insensitive == frozenset({Target.COMMIT, Target.BRANCH})


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"key_pattern": "[A-Z]+-(\\d+"}, "settings.key_pattern"),
        ({"key_pattern": r"\w+\d+"}, "settings.key_pattern"),  # no "-" at all
        ({"time_budget_seconds": 0}, "settings.time_budget_seconds"),
        ({"jira_unreachable": "maybe"}, "settings.jira_unreachable"),
        ({"enabeld": False}, "settings.enabeld"),
    ],
)
def test_invalid_settings(data: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_settings(data)
    assert [p.path for p in excinfo.value.problems] == [path]


def test_dump_round_trips_a_rule() -> None:
    rule = parse_rule(
        {
            "id": "r",
            "title": "t",
            "targets": ["BRANCH", "COMMIT"],
            "triggers": ["PUSH"],
            "conditions": {"branches": {"exclude": ["main"]}, "skip_merge_commits": True},
            "checks": {"key_present": True, "keys_valid": "ALL", "naming": "^x"},
        }
    )
    data = dump(rule)
    assert data["targets"] == ["BRANCH", "COMMIT"]
    assert data["triggers"] == ["PUSH"]
    assert "enabled" not in data  # defaults are dropped
    data.pop("scope", None)
    assert parse_rule(data) == rule


def test_to_api_uses_camel_case_and_api_names() -> None:
    rule = parse_rule(
        {
            "id": "r",
            "title": "t",
            "show_rule": True,
            "targets": ["COMMIT", "BRANCH"],
            "checks": {"key_present": True, "no_merge_commits": True},
        }
    )
    api = rule.to_api()
    assert api["showRule"] is True
    assert api["target"] == ["COMMIT", "BRANCH"]
    assert api["checks"] == {"keyPresent": True, "noMergeCommits": True}
    assert api["scope"] == "WORKSPACE"
    assert api["triggers"] == ["COMMIT", "PULL_REQUEST", "PUSH"]


def test_custom_key_pattern_needs_a_separator_outside_character_classes() -> None:
    from jirahooks.rules.model import _key_pattern_error

    assert _key_pattern_error("[A-Z]+_[0-9]+") is not None  # '-' only inside [A-Z]
    assert _key_pattern_error("[A-Z]+-[0-9]+") is None
    assert _key_pattern_error(r"[A-Z]+\-[0-9]+") is None
