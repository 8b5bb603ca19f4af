"""Named groups in the settings and the escape token limited to them (``settings.groups``,
``exemptions.escape.groups``; docs/rules.md, "Exemptions")."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jirahooks.engine import Evaluation, evaluate
from jirahooks.engine.facts import FactStatus, Status
from jirahooks.errors import ConfigError
from jirahooks.event import Commit, Event, Trigger
from jirahooks.rules import parse_rule
from jirahooks.rules.config import load_document, parse_settings
from jirahooks.rules.model import Settings
from jirahooks.rules.schema import json_schema

RULE = parse_rule({"id": "keys", "title": "Keys", "checks": {"key_present": True}})
ESCAPED = Commit("a" * 40, "typo [no-jira: README only]", "Ada")
GROUPS = {"release-managers": ["alice", "bob@example.com", "*@release.example.com"]}


def settings(escape_groups: dict[str, Any], groups: Any = None) -> Settings:
    return parse_settings(
        {
            "groups": GROUPS if groups is None else groups,
            "exemptions": {"escape": {"allowed": True, "groups": escape_groups}},
        }
    )


def run(user: str, configured: Settings) -> Evaluation:
    event = Event(Trigger.PUSH, "main", (ESCAPED,), user=user)
    evaluation: Evaluation = asyncio.run(evaluate(event, [RULE], settings=configured))
    return evaluation


def first_fact(evaluation: Evaluation) -> tuple[str, FactStatus, str]:
    fact = evaluation.rule_validations[0].check_facts[0]
    document = evaluation.to_document("en-US")
    message = document["ruleValidations"][0]["checkFacts"][0]["message"]
    return fact.message_id, fact.status, message


@pytest.mark.parametrize("user", ["alice", "bob@example.com", "carol@release.example.com"])
def test_a_member_may_use_the_token(user: str) -> None:
    evaluation = run(user, settings({"include": ["release-managers"]}))
    assert evaluation.result is Status.SKIP
    assert evaluation.exemptions == (
        {"commit": ESCAPED.hash, "kind": "escape", "author": "Ada", "reason": "README only"},
    )


def test_a_non_member_is_refused_and_told_why() -> None:
    evaluation = run("dave@example.com", settings({"include": ["release-managers"]}))
    assert evaluation.result is Status.BLOCK and evaluation.exemptions == ()
    message_id, status, message = first_fact(evaluation)
    assert (message_id, status) == ("escape.group", FactStatus.INFO)
    assert message == (
        "Commit aaaaaaaaaaaa: user 'dave@example.com' may not use the escape token "
        "[no-jira: …]: it is limited to the groups release-managers."
    )
    # members are matched as escape.users matches: case-sensitively, whole names
    assert run("Alice", settings({"include": ["release-managers"]})).result is Status.BLOCK
    assert run("alice2", settings({"include": ["release-managers"]})).result is Status.BLOCK


def test_a_member_of_an_excluded_group_is_refused() -> None:
    configured = settings(
        {"include": ["everyone"], "exclude": ["contractors"]},
        {"everyone": ["*"], "contractors": ["*@contractor.example.com"]},
    )
    assert run("alice", configured).result is Status.SKIP
    evaluation = run("eve@contractor.example.com", configured)
    assert evaluation.result is Status.BLOCK
    message_id, _, message = first_fact(evaluation)
    assert message_id == "escape.group_excluded"
    assert "members of the group 'contractors' are excluded" in message


def test_an_unknown_pusher_fails_closed_as_with_users() -> None:
    """The Validation API and local hooks do not know who pushed: in no group, refused."""
    evaluation = run("", settings({"include": ["release-managers"]}))
    assert evaluation.result is Status.BLOCK
    message_id, status, message = first_fact(evaluation)
    assert (message_id, status) == ("escape.group_unknown", FactStatus.INFO)
    assert message.endswith(
        "is limited to members of some groups, and who pushed is not known here."
    )
    # an exclusion cannot be decided for an unknown pusher either
    only_exclude = settings({"exclude": ["release-managers"]})
    assert first_fact(run("", only_exclude))[0] == "escape.group_unknown"
    assert run("zoe", only_exclude).result is Status.SKIP


def test_an_empty_group_has_no_members() -> None:
    configured = settings({"include": ["release-managers"]}, {"release-managers": []})
    assert run("alice", configured).result is Status.BLOCK
    assert first_fact(run("alice", configured))[0] == "escape.group"


def test_users_and_groups_must_both_allow() -> None:
    configured = parse_settings(
        {
            "groups": GROUPS,
            "exemptions": {
                "escape": {
                    "allowed": True,
                    "users": {"include": ["alice", "zoe"]},
                    "groups": {"include": ["release-managers"]},
                }
            },
        }
    )
    assert run("alice", configured).result is Status.SKIP
    assert first_fact(run("zoe", configured))[0] == "escape.group"
    assert first_fact(run("bob@example.com", configured))[0] == "escape.user"


def problems(data: Any) -> list[tuple[str, str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data)
    return [(p.path, p.message, p.hint) for p in caught.value.problems]


def test_an_undefined_group_is_a_config_error_with_did_you_mean() -> None:
    found = problems(
        {
            "groups": GROUPS,
            "exemptions": {"escape": {"allowed": True, "groups": {"include": ["release-manager"]}}},
        }
    )
    assert found == [
        (
            "settings.exemptions.escape.groups.include[0]",
            "no group named 'release-manager' in the settings' groups",
            "did you mean 'release-managers'?",
        )
    ]
    far = problems({"exemptions": {"escape": {"groups": {"exclude": ["ops"]}}}})
    assert far == [
        (
            "settings.exemptions.escape.groups.exclude[0]",
            "no group named 'ops' in the settings' groups",
            "define it under settings.groups; known: (none)",
        )
    ]


@pytest.mark.parametrize(
    ("groups", "path", "message"),
    [
        ({"release managers": ["alice"]}, "settings.groups.release managers", "not a group name"),
        ({"-x": ["alice"]}, "settings.groups.-x", "not a group name"),
        ({"rm": ["alice", ""]}, "settings.groups.rm[1]", "empty member"),
        ({"rm": [" alice"]}, "settings.groups.rm[0]", "leading or trailing spaces"),
        ({"rm": ["[bot"]}, "settings.groups.rm[0]", "'[' without a closing ']'"),
        ({"rm": [{"name": "alice"}]}, "settings.groups.rm[0]", "expected text, got a mapping"),
        ({"rm": None}, "settings.groups.rm", "expected a list, got nothing (null)"),
        (["rm"], "settings.groups", "expected a mapping, got a list"),
    ],
)
def test_bad_groups_are_refused_with_their_path(groups: Any, path: str, message: str) -> None:
    (found,) = problems({"groups": groups})
    assert found[0] == path and found[1].startswith(message)
    assert found[2]  # every problem carries a hint


def test_groups_read_leniently_and_keep_settings_hashable() -> None:
    configured = parse_settings({"groups": {"rm": "alice", "ops": ["*[[]bot]"]}})
    assert configured.groups == {"rm": ("alice",), "ops": ("*[[]bot]",)}
    assert configured.groups_of("alice") == frozenset({"rm"})
    assert configured.groups_of("ci[bot]") == frozenset({"ops"})
    assert configured.groups_of("") == frozenset()
    hash(configured)  # the engine caches per Settings (lru_cache)
    schema = json_schema(Settings)["properties"]["groups"]
    assert schema["type"] == "object" and "escape.groups" in schema["description"]


DOCUMENT: dict[str, Any] = {
    "settings": {"groups": GROUPS},
    "rules": [{"id": "keys", "title": "Keys", "checks": {"key_present": True}}],
    "repositories": [
        {
            "slug": "api",
            "settings": {
                "exemptions": {
                    "escape": {"allowed": True, "groups": {"include": ["release-managers"]}}
                }
            },
        },
        {"slug": "web"},
    ],
}


def test_a_workspace_group_serves_a_repository_rule_set() -> None:
    document = load_document(DOCUMENT)
    api = document.settings_for("api")
    assert api.groups == {"release-managers": tuple(GROUPS["release-managers"])}
    assert run("alice", api).result is Status.SKIP
    assert run("dave", api).result is Status.BLOCK
    # the workspace itself allows no token: the group alone grants nothing
    assert run("alice", document.settings_for("web")).result is Status.BLOCK


def test_a_repository_groups_override_replaces_the_workspace_groups() -> None:
    """Like every settings field, a repository's ``groups`` replace the workspace's whole."""
    data = {**DOCUMENT, "repositories": [dict(DOCUMENT["repositories"][0])]}
    data["repositories"][0]["settings"] = {
        **data["repositories"][0]["settings"],
        "groups": {"api-maintainers": ["alice"]},
    }
    with pytest.raises(ConfigError) as caught:
        load_document(data)
    (problem,) = caught.value.problems
    assert problem.path == "repositories[0].settings.exemptions.escape.groups.include[0]"
    assert "known: api-maintainers" in problem.hint
