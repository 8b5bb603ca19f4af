"""The structural JQL check (rules/jql.py): what could escape ``(jql) AND id in (…)`` is refused
without asking Jira, at save (schema) and before use (engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jirahooks.cli import main
from jirahooks.errors import ConfigError
from jirahooks.rules import parse_rule
from jirahooks.rules.config import parse_stored_rule
from jirahooks.rules.jql import MAX_LENGTH, _check, check

SAFE = [
    'status = "In Progress"',
    "status = Done",
    'project = ABC AND (status = "In Progress" OR status = Review)',
    'status in ("In Progress", "Review") AND fixVersion is not EMPTY',
    "assignee = currentUser()",
    'summary ~ "say \\"hi\\" (twice)"',
    "summary ~ 'it''s'",
    "NOT status = Done",
    "status changed",
    'labels = "ORDER BY"',  # the words inside a quoted value are a value
    "priority >= 2 AND created <= -1d",
    "sprint in openSprints()",
    'text ~ "a\\\\"',  # an escaped backslash, then the closing quote
]

HOSTILE = [
    ("status = Done) OR (1=1", "never opened"),
    ('status = "Done") OR (1=1', "never opened"),
    ("status = Done) OR (status != Done", "never opened"),
    ('status = "In Progress" ORDER BY key', "ORDER BY"),
    ("status = Done order\n  by created DESC", "ORDER BY"),
    ('status = "Done', "never closed"),
    ("status = 'Done", "never closed"),
    ('status = "Done\\"', "never closed"),  # the escaped quote does not close
    ('status = "Done\\', "never closed"),
    ("(status = Done", "never closed"),
    ("status = Done AND", "ends with 'AND'"),
    ("status = Done OR", "ends with 'OR'"),
    ("status =", "ends with '='"),
    ("status in", "ends with 'IN'"),
    ("AND status = Done", "no condition before"),
    ("status = Done AND OR x = 1", "no condition before"),
    ("id in ()", "empty parentheses"),
    ("status = Done AND ()", "empty parentheses"),
    ("summary ~ foo\\)", "inside a quoted value"),
    ("summary ~ foo\\", "escapes nothing"),
    ("status = Done\x00", "control character"),
    ("", "empty"),
    ("   ", "empty"),
]


@pytest.mark.parametrize("jql", SAFE)
def test_safe_jql_passes(jql: str) -> None:
    assert check(jql) is None


@pytest.mark.parametrize(("jql", "why"), HOSTILE)
def test_hostile_jql_is_refused_with_a_reason(jql: str, why: str) -> None:
    problem = check(jql)
    assert problem is not None, jql
    assert why in problem.message
    assert problem.hint


@pytest.mark.parametrize("jql", SAFE)
def test_a_safe_jql_stays_one_group_when_spliced(jql: str) -> None:
    # the property the check exists for: "(jql) AND id in (…)" closes the group where we put ')'
    spliced = f"({jql}) AND id in (1, 2)"
    assert check(spliced) is None
    tail = check(f"({jql})) OR (1=1")
    assert tail is not None and "never opened" in tail.message


def test_very_long_input_is_refused_at_once_and_deep_nesting_does_not_recurse() -> None:
    assert check("(" * (MAX_LENGTH * 100)) is not None  # length, before any scanning
    deep = "(" * 200_000 + "a = 1" + ")" * 200_000
    assert _check(deep) is None  # one pass, no recursion limit
    assert _check(deep + ")") is not None
    assert _check('"' + "x" * 500_000) is not None


@pytest.mark.parametrize(("jql", "why"), HOSTILE[:6])
def test_the_schema_refuses_it_at_save(jql: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rule({"id": "r", "title": "R", "checks": {"jql": jql}})
    (problem,) = info.value.problems
    assert problem.path == "rule.checks.jql"
    assert why in problem.message and problem.hint


def test_a_stored_rule_with_an_unsafe_jql_still_loads_as_written() -> None:
    definition = {"id": "r", "title": "R", "checks": {"jql": "status = Done) OR (1=1"}}
    rule = parse_stored_rule(definition, path="rules[r]")
    assert rule.checks.jql == "status = Done) OR (1=1"
    with pytest.raises(ConfigError):  # other problems still fail the load
        parse_stored_rule({**definition, "targets": []}, path="rules[r]")


def test_rules_validate_refuses_it_without_jira(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rules.json"
    document = {"rules": [{"id": "r", "title": "R", "checks": {"jql": "status = Done) OR (1=1"}}]}
    path.write_text(json.dumps(document), encoding="utf-8")
    assert main(["rules", "validate", str(path)]) == 3  # b9f4856: 0 (valid)
    err = capsys.readouterr().err
    assert "rules[0].checks.jql" in err and "never opened" in err
