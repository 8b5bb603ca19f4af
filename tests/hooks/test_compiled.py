"""The commit-msg hook's compiled rules (``jirahooks.hooks.compiled``), judged by
``jirahooks.hooks.judge``, answer exactly what the engine answers: the same result document (but
its timestamp), so the same printed report and the same exit code — over generated rule files,
settings, messages, branches, authors and locales (Hypothesis), and through the installed hook
in a real repository.

The engine side is run as the hook runs it without Jira (``local.run_batch_sync`` with no
connection: the offline resolver)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import GitRepo
from tests.hooks.conftest import git_run, stage, write_file

from jirahooks.errors import ConfigError
from jirahooks.event import Commit, Event, Trigger
from jirahooks.hooks import compiled, judge, report
from jirahooks.hooks.local import LocalSetup, run_batch_sync
from jirahooks.rules.config import load_document

ZERO = "0" * 40
TARGETS = ["COMMIT", "COMMITS", "BRANCH", "PR_TITLE", "PR_DESCRIPTION"]
TRIGGERS = ["COMMIT", "PUSH", "PULL_REQUEST", "MERGE_COMMIT"]
GLOBS = ["main", "feature/*", "release/*", "*", "bot*", "Alice", "x?z", "[fh]*"]
NAMING = [r"^[A-Z][A-Z0-9_]+-[0-9]+ ", r"^(feat|fix)(\(\w+\))?: ", r"^feature/", r"\S"]
JQL = ['status = "In Progress"', "project = ABC"]
TEMPLATES = ["commit-key-required", "all-keys-valid", "issue-in-progress", "same-issue"]
WORDS = [
    "[no-jira: typo]",  # an escape token where none is allowed: said, in both
    "ABC-123",
    "abc-12",
    "XY_Z-7",
    "ABC-01",
    "\\ABC-9",
    "`DEF-4`",
    "```\nGHI-5\n```",
    "UTF-8",
    "CVE-2024-1",
    "Fix",
    "login",
    "feat: x",
    "fix(ui): y",
    "[skip jira]",
    "Merge branch 'dev'",
    'Revert "ABC-1 x"',
    "This reverts commit 1234567.",
    "Ünïcödé",
    "\u202eevil",
    "\n",
    "\n\n",
    " ",
    "x" * 90,
]


MODES = ["enforce", "warn", "evaluate"]


def _patterns() -> st.SearchStrategy[dict[str, list[str]]]:
    globs = st.lists(st.sampled_from(GLOBS), max_size=2, unique=True)
    return st.fixed_dictionaries({}, optional={"include": globs, "exclude": globs})


@st.composite
def _rule(draw: st.DrawFn, index: int) -> dict[str, Any]:
    if draw(st.booleans()):
        rule: dict[str, Any] = {"template": draw(st.sampled_from(TEMPLATES))}
        if draw(st.booleans()):
            rule["id"] = f"t{index}"  # the same template twice needs two ids
        if draw(st.booleans()):
            rule["strategy"] = draw(st.sampled_from(["ALL", "AT_LEAST_ONE"]))
        return rule
    checks = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "key_present": st.booleans(),
                "keys_valid": st.sampled_from(["OFF", "ALL", "ONE"]),
                "ignore_unknown_projects": st.booleans(),
                "jql": st.sampled_from(JQL),
                "consistency": st.booleans(),
                "naming": st.sampled_from(NAMING),
                "no_merge_commits": st.booleans(),
                "single_commit": st.booleans(),
            },
        )
    )
    conditions = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "branches": _patterns(),
                "users": _patterns(),
                "groups": _patterns(),
                "authors": _patterns(),
                "skip_merge_commits": st.booleans(),
                "skip_reverts": st.booleans(),
                "bypass_marker": st.sampled_from(["[skip jira]", "WIP"]),
            },
        )
    )
    rule = {
        "id": f"r{index}",
        "title": draw(st.sampled_from([f"Rule {index}", "Ünï rule"])),
        "targets": draw(st.lists(st.sampled_from(TARGETS), min_size=1, max_size=3, unique=True)),
        # mostly rules that a commit-msg runs; some it must leave out
        "triggers": draw(
            st.sampled_from([["COMMIT"], ["COMMIT", "PUSH"], ["COMMIT", *TRIGGERS[2:]]])
        )
        if draw(st.integers(0, 4))
        else draw(st.lists(st.sampled_from(TRIGGERS), min_size=1, max_size=3, unique=True)),
        "strategy": draw(st.sampled_from(["ALL", "AT_LEAST_ONE"])),
        "severity": draw(st.sampled_from(["BLOCK", "WARNING"])),
        "enabled": draw(st.booleans()) or draw(st.booleans()),
        "checks": checks,
        "conditions": conditions,
    }
    for text in ("error", "success", "hint"):
        if draw(st.booleans()):
            rule[text] = f"{text} of rule {index}"
    if draw(st.booleans()):
        rule["mode"] = draw(st.sampled_from(MODES))
    return rule


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    count = (
        draw(st.integers(min_value=0, max_value=3))
        if draw(st.integers(0, 9)) == 0
        else draw(st.integers(1, 3))
    )
    document: dict[str, Any] = {"rules": [draw(_rule(i)) for i in range(count)]}
    document["settings"] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "enabled": st.booleans() | st.just(True),
                "key_pattern": st.sampled_from(["[A-Z]{2,4}-[0-9]+", "[A-Z][A-Z0-9_]+-[0-9]+"]),
                "case_insensitive": st.lists(st.sampled_from(TARGETS[:3]), max_size=3, unique=True),
                "backslash_escape": st.booleans(),
                "backtick_escape": st.booleans(),
                "ignored_keys": st.lists(st.sampled_from(["CVE-*", "UTF-*", "ABC-1*"]), max_size=2),
                "default_mode": st.sampled_from(MODES),
            },
        )
    )
    return document


messages = st.lists(st.sampled_from(WORDS) | st.text(max_size=8), min_size=1, max_size=8).map(
    " ".join
)
branches = st.sampled_from(
    ["main", "feature/ABC-12-login", "feature/abc-3", "refs/heads/release/1", "HEAD", "", "bot"]
)
authors = st.sampled_from(["", "Alice", "bot-ci", "Ünï"])
locales = st.sampled_from(["en-US", "de-DE"])


def _engine_document(
    document: dict[str, Any], message: str, author: str, branch: str, locale: str
) -> dict[str, Any]:
    config = load_document(document)
    setup = LocalSetup(config, config.rules_for(None), config.settings_for(None), [])
    event = Event(Trigger.COMMIT, branch, (Commit(ZERO, message, author_name=author),))
    (evaluation,), _ = run_batch_sync([event], setup, budget=10.0)
    return evaluation.to_document(locale)


def _compiled_document(
    document: dict[str, Any], message: str, author: str, branch: str, locale: str
) -> dict[str, Any]:
    config = load_document(document)
    form = compiled.compile_rules(
        config.rules_for(None), config.settings_for(None), with_jira=False
    )
    form = json.loads(json.dumps(form))  # as the hook reads it back from .git/jirahooks/
    return judge.evaluate(form, message, author, branch, locale)


def _plain(document: dict[str, Any]) -> dict[str, Any]:
    """The document as JSON holds it (tuples as lists, enums as strings), without the time."""
    data: dict[str, Any] = json.loads(json.dumps(document))
    data.pop("timestamp")
    return data


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
@given(documents(), messages, authors, branches, locales)
def test_compiled_rules_answer_exactly_what_the_engine_answers(
    document: dict[str, Any], message: str, author: str, branch: str, locale: str
) -> None:
    try:
        expected = _engine_document(document, message, author, branch, locale)
    except ConfigError:
        return  # an invalid document never gets compiled: the hook stops with exit 3 first
    actual = _compiled_document(document, message, author, branch, locale)
    assert _plain(actual) == _plain(expected)
    for verbose in (False, True):
        assert report.render(actual, verbose=verbose) == report.render(expected, verbose=verbose)


# a few fixed cases that must be among the compared ones, whatever Hypothesis draws
FIXED = [
    ({"rules": [{"template": "commit-key-required"}]}, "ABC-1 fix", "main"),
    ({"rules": [{"template": "commit-key-required"}]}, "no key here", "main"),
    ({"rules": [{"template": "commit-key-required"}]}, "Merge branch 'x' into main", "main"),
    ({"rules": [{"template": "all-keys-valid"}, {"template": "same-issue"}]}, "ABC-1", "f/ABC-2"),
    (
        {
            "rules": [
                {
                    "id": "cc",
                    "title": "Conventional commits",
                    "targets": ["COMMIT", "BRANCH"],
                    "strategy": "AT_LEAST_ONE",
                    "severity": "WARNING",
                    "checks": {"naming": r"^(feat|fix): ", "key_present": True},
                    "conditions": {"branches": {"exclude": ["main"]}, "bypass_marker": "WIP"},
                }
            ]
        },
        "chore: ABC-1 \\ABC-2 `ABC-3`",
        "feature/x",
    ),
    ({"settings": {"enabled": False}, "rules": [{"template": "commit-key-required"}]}, "x", "m"),
    ({"rules": [{"template": "commit-key-required"}]}, "typo [no-jira: docs]", "main"),
    # modes: warn turns the BLOCK into a WARNING, evaluate into a PASS that would have blocked
    ({"rules": [{"template": "commit-key-required", "mode": "warn"}]}, "no key", "main"),
    ({"rules": [{"template": "commit-key-required", "mode": "evaluate"}]}, "no key", "main"),
    (
        {"settings": {"default_mode": "evaluate"}, "rules": [{"template": "commit-key-required"}]},
        "no key",
        "main",
    ),
    (
        {
            "rules": [
                {
                    "id": "same",
                    "title": "One issue",
                    "targets": ["COMMIT", "BRANCH", "COMMITS"],
                    "triggers": ["COMMIT"],
                    "checks": {"consistency": True, "single_commit": True},
                }
            ]
        },
        "ABC-1 and ABC-3",
        "feature/ABC-2-x",
    ),
    (
        {
            "settings": {"case_insensitive": ["COMMIT"]},
            "rules": [
                {
                    "id": "set",
                    "title": "Keys in the set",
                    "targets": ["COMMITS"],
                    "triggers": ["COMMIT"],
                    "checks": {"key_present": True, "no_merge_commits": True},
                }
            ],
        },
        "abc-7 lower case",
        "main",
    ),
]


@pytest.mark.parametrize(("document", "message", "branch"), FIXED)
@pytest.mark.parametrize("locale", ["en-US", "de-DE"])
def test_compiled_rules_on_fixed_cases(
    document: dict[str, Any], message: str, branch: str, locale: str
) -> None:
    expected = _engine_document(document, message, "Alice", branch, locale)
    actual = _compiled_document(document, message, "Alice", branch, locale)
    assert _plain(actual) == _plain(expected)
    assert report.render(actual) == report.render(expected)


def test_a_repository_with_jira_connections_is_left_to_the_engine() -> None:
    config = load_document(
        {
            "connections": [
                {"name": "j", "url": "https://j.example", "email": "a@b.c", "token": "${T}"}
            ],
            "rules": [{"template": "commit-key-required"}],
        }
    )
    rules, settings_ = config.rules_for(None), config.settings_for(None)
    assert compiled.compile_rules(rules, settings_, with_jira=False) is not None
    assert compiled.compile_rules(rules, settings_, with_jira=True) is None


def test_exemptions_are_left_to_the_engine() -> None:
    """Bots, reverts and the escape token are judged by the engine (engine/exempt.py)."""
    for exemptions in ({"bots": True}, {"reverts": True}, {"escape": {"allowed": True}}):
        config = load_document(
            {"settings": {"exemptions": exemptions}, "rules": [{"template": "commit-key-required"}]}
        )
        rules, settings_ = config.rules_for(None), config.settings_for(None)
        assert compiled.compile_rules(rules, settings_, with_jira=False) is None


# --- through the installed hook ---------------------------------------------------------------

RULES = """\
[[rules]]
template = "commit-key-required"

[[rules]]
id = "cc"
title = "Conventional subject"
targets = ["COMMIT"]
severity = "WARNING"
checks = { naming = "^(feat|fix): " }
"""


def _forms(repo: Path) -> list[Path]:
    """The cache entries holding a compiled commit-msg form."""
    entries = sorted((repo / ".git" / "jirahooks").glob("rules-*.json"))
    return [e for e in entries if "commit_msg" in json.loads(e.read_text(encoding="utf-8"))]


def test_the_installed_hook_prints_the_same_from_the_compiled_form(
    git_repo: GitRepo, install: Any
) -> None:
    """The first commit runs the engine and leaves the form; the next ones use it. Each
    message is judged once by the engine (no form) and once from the form: same output, same
    exit code, in both locales."""
    write_file(git_repo.path / ".jirahooks.toml", RULES)
    install(git_repo.path, "commit-msg", "--mode", "local")
    cases = ["feat: ABC-1 login", "ABC-2 no prefix", "no key at all", "Merge branch 'x'"]
    for locale in ("en-US", "de-DE"):
        for message in cases:
            runs = []
            for _ in range(2):
                stage(git_repo.path)
                if not runs:  # the engine's turn: no cache entry, no form
                    for form in _forms(git_repo.path):
                        form.unlink()
                result = git_run(
                    git_repo.path, "commit", "-m", message, env={"JIRAHOOKS_LOCALE": locale}
                )
                runs.append((result.returncode, result.stderr))
                assert _forms(git_repo.path), result.stderr  # the engine's run left the form
            assert runs[0] == runs[1]


def test_a_changed_rules_file_is_not_judged_by_its_old_form(
    git_repo: GitRepo, install: Any
) -> None:
    write_file(git_repo.path / ".jirahooks.toml", '[[rules]]\ntemplate = "commit-key-required"\n')
    install(git_repo.path, "commit-msg", "--mode", "local")
    stage(git_repo.path)
    assert git_run(git_repo.path, "commit", "-m", "ABC-1 first").returncode == 0
    assert _forms(git_repo.path)
    # now every commit must also follow a naming convention: the old form would let this pass
    write_file(git_repo.path / ".jirahooks.toml", RULES.replace('"WARNING"', '"BLOCK"'))
    stage(git_repo.path)
    blocked = git_run(git_repo.path, "commit", "-m", "ABC-2 not conventional")
    assert blocked.returncode == 1, blocked.stderr
    assert "Conventional subject [BLOCK]" in blocked.stderr
    stage(git_repo.path)
    again = git_run(git_repo.path, "commit", "-m", "ABC-2 still not conventional")
    assert again.returncode == 1 and "Conventional subject [BLOCK]" in again.stderr


def test_a_forged_or_corrupt_form_is_ignored_and_rewritten(git_repo: GitRepo, install: Any) -> None:
    write_file(git_repo.path / ".jirahooks.toml", '[[rules]]\ntemplate = "commit-key-required"\n')
    install(git_repo.path, "commit-msg", "--mode", "local")
    stage(git_repo.path)
    assert git_run(git_repo.path, "commit", "-m", "ABC-1 first").returncode == 0
    (entry,) = _forms(git_repo.path)
    cached = json.loads(entry.read_text(encoding="utf-8"))
    slot = cached["commit_msg"]
    # a form without rules would let anything through: under another key, or of another
    # layout version, it is not used
    empty = {**slot, "form": {**slot["form"], "rules": []}}
    for forged in (
        {**cached, "key": cached["key"] + " ", "commit_msg": empty},
        {**cached, "commit_msg": {**empty, "version": -1}},
        {**cached, "commit_msg": {**empty, "form": {**empty["form"], "version": -1}}},
        {**cached, "commit_msg": {**empty, "repository": "other"}},
    ):
        entry.write_text(json.dumps(forged), encoding="utf-8")
        stage(git_repo.path)
        blocked = git_run(git_repo.path, "commit", "-m", "no key")
        assert blocked.returncode == 1 and "Issue key required" in blocked.stderr
    entry.write_text("{not json", encoding="utf-8")
    stage(git_repo.path)
    blocked = git_run(git_repo.path, "commit", "-m", "no key")
    assert blocked.returncode == 1 and "Issue key required" in blocked.stderr
    assert json.loads(entry.read_text(encoding="utf-8"))["commit_msg"]["form"]["rules"]
