"""The configuration document: formats, templates, ids, repositories, connections, secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jirahooks.errors import EXIT_CONFIG, ConfigError, ConfigProblem
from jirahooks.event import Trigger
from jirahooks.rules import load_document, load_file, parse_rule
from jirahooks.rules.config import (
    ConnectionConfig,
    Deployment,
    combine_rules,
    resolve_secret,
)
from jirahooks.rules.model import Scope, Target, UnreachablePolicy
from jirahooks.rules.templates import BY_NAME

YAML_DOC = """\
workspace: acme
settings:
  jira_unreachable: warn
connections:
  - name: jira-a
    url: https://acme.atlassian.net
    deployment: cloud
    email: bot@acme.example
    token: ${JIRA_A_TOKEN}
  - name: jira-b
    url: https://jira.acme.example/jira
    deployment: datacenter
    token: ${JIRA_B_TOKEN}
rules:
  - template: commit-key-required
  - id: branch
    title: Branch must reference an issue
    targets: [BRANCH]
    checks: {key_present: true}
repositories:
  - slug: api
    settings: {jira_unreachable: allow}
    connections: [jira-b]
    disable_rules: [branch]
    rules:
      - id: commit-key-required
        title: API commits need a valid key
        checks: {key_present: true, keys_valid: ALL}
  - slug: web
validation_tokens:
  - name: ci
    secret: ${JHFB_SECRET}
    repository: api
  - name: everything
    secret: ${JHFB_ALL}
"""

TOML_DOC = """\
workspace = "acme"

[settings]
jira_unreachable = "warn"

[[connections]]
name = "jira-a"
url = "https://acme.atlassian.net"
deployment = "cloud"
email = "bot@acme.example"
token = "${JIRA_A_TOKEN}"

[[connections]]
name = "jira-b"
url = "https://jira.acme.example/jira"
deployment = "datacenter"
token = "${JIRA_B_TOKEN}"

[[rules]]
template = "commit-key-required"

[[rules]]
id = "branch"
title = "Branch must reference an issue"
targets = ["BRANCH"]
checks = { key_present = true }

[[repositories]]
slug = "api"
settings = { jira_unreachable = "allow" }
connections = ["jira-b"]
disable_rules = ["branch"]

[[repositories.rules]]
id = "commit-key-required"
title = "API commits need a valid key"
checks = { key_present = true, keys_valid = "ALL" }

[[repositories]]
slug = "web"

[[validation_tokens]]
name = "ci"
secret = "${JHFB_SECRET}"
repository = "api"

[[validation_tokens]]
name = "everything"
secret = "${JHFB_ALL}"
"""


def problems(data: Any) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as excinfo:
        load_document(data)
    assert excinfo.value.exit_code == EXIT_CONFIG
    return excinfo.value.problems


def paths(data: Any) -> list[str]:
    return [p.path for p in problems(data)]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- formats ---------------------------------------------------------------------------------


def test_yaml_toml_and_json_documents_load_the_same(tmp_path: Path) -> None:
    import yaml

    from_yaml = load_file(_write(tmp_path, "c.yml", YAML_DOC))
    from_yaml2 = load_file(_write(tmp_path, "c.yaml", YAML_DOC))
    from_toml = load_file(_write(tmp_path, "c.toml", TOML_DOC))
    from_json = load_file(_write(tmp_path, "c.json", json.dumps(yaml.safe_load(YAML_DOC))))
    from_dict = load_document(yaml.safe_load(YAML_DOC))
    assert from_yaml == from_toml == from_json == from_dict == from_yaml2


def test_document_content(tmp_path: Path) -> None:
    doc = load_file(_write(tmp_path, "c.yml", YAML_DOC))
    assert doc.workspace == "acme"
    assert doc.settings.jira_unreachable is UnreachablePolicy.WARN
    assert [c.name for c in doc.connections] == ["jira-a", "jira-b"]
    assert doc.connections[0].deployment is Deployment.CLOUD
    assert doc.connections[1].deployment is Deployment.DATACENTER
    assert [r.id for r in doc.rules] == ["commit-key-required", "branch"]
    assert all(r.scope is Scope.WORKSPACE for r in doc.rules)
    assert [r.slug for r in doc.repositories] == ["api", "web"]
    assert [t.name for t in doc.validation_tokens] == ["ci", "everything"]


def test_a_file_with_only_a_list_of_rules_is_a_document(tmp_path: Path) -> None:
    path = _write(tmp_path, "rules.yml", "- template: no-merge-commits\n")
    doc = load_file(path)
    assert [r.id for r in doc.rules] == ["no-merge-commits"]
    assert doc.workspace == "default"


def test_empty_file_is_an_empty_document(tmp_path: Path) -> None:
    doc = load_file(_write(tmp_path, "empty.yml", ""))
    assert doc.rules == () and doc.connections == () and doc.repositories == ()


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("bad.yml", "rules: [\n  - {\n", "not valid yml (line "),
        ("bad.toml", "[[rules]]\ntitle = \n", "not valid toml: "),
        ("bad.json", '{"rules": [', "not valid json: "),
    ],
)
def test_syntax_errors_name_the_file_and_the_line(
    tmp_path: Path, name: str, text: str, fragment: str
) -> None:
    path = _write(tmp_path, name, text)
    with pytest.raises(ConfigError) as excinfo:
        load_file(path)
    (problem,) = excinfo.value.problems
    assert problem.path == str(path)
    assert fragment in problem.message
    assert "line" in problem.message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_file(tmp_path / "nope.yml")
    assert excinfo.value.problems[0].message == "file not found"


def test_error_message_names_the_source_and_lists_every_problem(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "c.yml",
        "rules:\n  - title: a\n    chekcs: {}\n  - title: b\n    checks: {naming: '('}\n",
    )
    with pytest.raises(ConfigError) as excinfo:
        load_file(path)
    text = str(excinfo.value)
    assert text.startswith(f"{path}: 2 problems in the configuration")
    assert "rules[0].chekcs: unknown field (hint: did you mean 'checks'?)" in text
    assert "rules[1].checks.naming: invalid regular expression" in text


# --- top level -------------------------------------------------------------------------------


def test_unknown_top_level_field_suggests_a_name() -> None:
    (problem,) = problems({"rulez": []})
    assert problem.path == "rulez"
    assert problem.hint == "did you mean 'rules'?"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ([1], "(top level)"),
        ({"rules": "x"}, "rules"),
        ({"repositories": {"api": {}}}, "repositories"),
        ({"connections": {"a": 1}}, "connections"),
        ({"settings": ["x"]}, "settings"),
        ({"workspace": "bad slug!"}, "workspace"),
    ],
)
def test_wrong_shapes(data: Any, path: str) -> None:
    assert paths(data) == [path]


# --- templates and ids -----------------------------------------------------------------------


def test_template_expansion_with_deep_merged_overrides() -> None:
    doc = load_document(
        {
            "rules": [
                {
                    "template": "branch-key-required",
                    "severity": "WARNING",
                    "conditions": {"branches": {"include": ["feature/*"]}},
                    "checks": {"keys_valid": "OFF"},
                }
            ]
        }
    )
    (rule,) = doc.rules
    template = BY_NAME["branch-key-required"].rule
    assert rule.id == "branch-key-required"
    assert rule.title == template["title"]
    assert rule.hint == template["hint"]
    # nested mappings merge: the template's exclude list stays next to the new include list
    assert rule.conditions.branches.include == ("feature/*",)
    assert rule.conditions.branches.exclude == tuple(template["conditions"]["branches"]["exclude"])
    # the template's other checks stay, the overridden one changes
    assert rule.checks.key_present is True
    assert rule.checks.keys_valid.value == "OFF"
    assert rule.severity.value == "WARNING"


def test_template_overrides_do_not_leak_into_the_template() -> None:
    before = json.dumps(BY_NAME["branch-key-required"].rule, sort_keys=True)
    load_document(
        {
            "rules": [
                {
                    "template": "branch-key-required",
                    "conditions": {"branches": {"exclude": ["x"]}},
                }
            ]
        }
    )
    assert json.dumps(BY_NAME["branch-key-required"].rule, sort_keys=True) == before


def test_lists_in_overrides_replace_the_template_list() -> None:
    (rule,) = load_document(
        {"rules": [{"template": "commit-key-required", "targets": ["COMMITS"]}]}
    ).rules
    assert rule.targets == (Target.COMMITS,)


def test_the_same_template_twice_needs_distinct_ids() -> None:
    (problem,) = problems(
        {"rules": [{"template": "no-merge-commits"}, {"template": "no-merge-commits"}]}
    )
    assert problem.path == "rules[1].id"
    assert "duplicate rule id 'no-merge-commits' (also rules[0])" in problem.message
    doc = load_document(
        {
            "rules": [
                {"template": "no-merge-commits"},
                {"template": "no-merge-commits", "id": "no-merge-commits-2"},
            ]
        }
    )
    assert [r.id for r in doc.rules] == ["no-merge-commits", "no-merge-commits-2"]


def test_unknown_template_suggests_a_name() -> None:
    (problem,) = problems({"rules": [{"template": "commit-key-requried"}]})
    assert problem.path == "rules[0].template"
    assert problem.hint == "did you mean 'commit-key-required'?"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Issue key required", "issue-key-required"),
        ("  PR title: ABC-1 first!  ", "pr-title-abc-1-first"),
        ("Größe prüfen", "gr-e-pr-fen"),
        ("!!!", "rule"),
        ("x" * 150, "x" * 100),
    ],
)
def test_id_is_derived_from_the_title(title: str, expected: str) -> None:
    assert parse_rule({"title": title}).id == expected


def test_derived_ids_collide_like_written_ones() -> None:
    (problem,) = problems({"rules": [{"title": "Keys!"}, {"title": "keys"}]})
    assert problem.path == "rules[1].id"


def test_duplicate_ids_within_a_repository() -> None:
    assert paths({"repositories": [{"slug": "api", "rules": [{"id": "a", "title": "x"}] * 2}]}) == [
        "repositories[0].rules[1].id"
    ]


def test_every_problem_of_a_document_is_reported() -> None:
    found = paths(
        {
            "rules": [{"title": "a", "checks": {"naming": "("}}, {"title": "b", "enabld": 1}],
            "connections": [{"name": "j", "url": "nope"}],
            "repositories": [{"slug": "api", "settings": {"enabled": "no"}}],
        }
    )
    assert sorted(found) == [
        "connections[0].url",
        "repositories[0].settings.enabled",
        "rules[0].checks.naming",
        "rules[1].enabld",
    ]


# --- connections and secrets -----------------------------------------------------------------


def test_secrets_must_be_environment_references() -> None:
    (problem,) = problems(
        {"connections": [{"name": "a", "url": "https://x.example", "token": "s3cr3t"}]}
    )
    assert problem.path == "connections[0].token"
    assert problem.message == "secrets are never written literally in a configuration document"
    assert "${JIRA_TOKEN}" in problem.hint
    assert "s3cr3t" not in str(problem)
    (problem,) = problems({"validation_tokens": [{"name": "t", "secret": "plain"}]})
    assert problem.path == "validation_tokens[0].secret"


def test_connection_fields_are_validated() -> None:
    assert paths({"connections": [{"name": " ", "url": "ftp://x"}]}) == [
        "connections[0].name",
        "connections[0].url",
    ]
    assert paths({"connections": [{"url": "https://x.example"}]}) == ["connections[0].name"]
    assert paths(
        {"connections": [{"name": "a", "url": "https://x.example", "deployment": "server"}]}
    ) == ["connections[0].deployment"]


def test_duplicate_connection_names() -> None:
    conn = {"name": "a", "url": "https://x.example"}
    assert paths({"connections": [conn, conn]}) == ["connections[1].name"]


def test_resolve_secret_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JH_TEST_TOKEN", "tok-123")
    assert resolve_secret("${JH_TEST_TOKEN}", "connections[0].token") == "tok-123"
    conn = ConnectionConfig(name="a", url="https://x.example", token="${JH_TEST_TOKEN}")
    assert conn.secret() == "tok-123"
    assert ConnectionConfig(name="b", url="https://x.example").secret() == ""


def test_resolve_secret_unset_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JH_TEST_MISSING", raising=False)
    with pytest.raises(ConfigError) as excinfo:
        resolve_secret("${JH_TEST_MISSING}", "connections[0].token")
    (problem,) = excinfo.value.problems
    assert problem.path == "connections[0].token"
    assert problem.message == "environment variable JH_TEST_MISSING is not set"
    assert "export JH_TEST_MISSING=" in problem.hint


def test_resolve_secret_empty_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JH_TEST_EMPTY", "")
    with pytest.raises(ConfigError) as excinfo:
        resolve_secret("${JH_TEST_EMPTY}", "x")
    assert excinfo.value.problems[0].message == "environment variable JH_TEST_EMPTY is not set"


def test_resolve_secret_rejects_a_literal() -> None:
    with pytest.raises(ConfigError) as excinfo:
        resolve_secret("literal-token", "connections[0].token")
    assert excinfo.value.problems[0].message == "not a ${ENV_VAR} reference"


# --- repositories ----------------------------------------------------------------------------


def test_repository_settings_override_workspace_settings(tmp_path: Path) -> None:
    doc = load_file(_write(tmp_path, "c.yml", YAML_DOC))
    assert doc.settings_for("api").jira_unreachable is UnreachablePolicy.ALLOW
    assert doc.settings_for("web").jira_unreachable is UnreachablePolicy.WARN
    assert doc.settings_for("unknown") == doc.settings
    assert doc.settings_for(None) == doc.settings
    api = doc.repository("api")
    assert api is not None and api.settings_overrides == {"jira_unreachable": "allow"}


def test_repository_settings_keep_other_workspace_settings() -> None:
    doc = load_document(
        {
            "settings": {"ignored_keys": ["KIP-*"], "enabled": True},
            "repositories": [{"slug": "api", "settings": {"enabled": False}}],
        }
    )
    api = doc.settings_for("api")
    assert api.enabled is False
    assert api.ignored_keys == ("KIP-*",)


def test_connections_enabled_by_name(tmp_path: Path) -> None:
    doc = load_file(_write(tmp_path, "c.yml", YAML_DOC))
    assert [c.name for c in doc.connections_for("api")] == ["jira-b"]
    assert [c.name for c in doc.connections_for("web")] == ["jira-a", "jira-b"]
    assert [c.name for c in doc.connections_for(None)] == ["jira-a", "jira-b"]


def test_connections_keep_the_admins_order() -> None:
    doc = load_document(
        {
            "connections": [
                {"name": "a", "url": "https://a.example"},
                {"name": "b", "url": "https://b.example"},
            ],
            "repositories": [{"slug": "api", "connections": ["b", "a"]}, {"slug": "none"}],
        }
    )
    assert [c.name for c in doc.connections_for("api")] == ["a", "b"]


def test_repository_can_disable_every_connection() -> None:
    doc = load_document(
        {
            "connections": [{"name": "a", "url": "https://a.example"}],
            "repositories": [{"slug": "api", "connections": []}],
        }
    )
    assert doc.connections_for("api") == []


def test_unknown_connection_name() -> None:
    (problem,) = problems(
        {
            "connections": [{"name": "jira-a", "url": "https://a.example"}],
            "repositories": [{"slug": "api", "connections": ["jira-a", "jira-c"]}],
        }
    )
    assert problem.path == "repositories[0].connections[1]"
    assert problem.message == "no workspace connection named 'jira-c'"
    assert problem.hint == "known: jira-a"


def test_disable_rules_and_override_by_id(tmp_path: Path) -> None:
    doc = load_file(_write(tmp_path, "c.yml", YAML_DOC))
    api_rules = doc.rules_for("api")
    assert [r.id for r in api_rules] == ["commit-key-required"]
    (api_rule,) = api_rules
    assert api_rule.title == "API commits need a valid key"
    assert api_rule.scope is Scope.REPOSITORY
    assert [r.id for r in doc.rules_for("web")] == ["commit-key-required", "branch"]
    assert [r.id for r in doc.rules_for(None)] == ["commit-key-required", "branch"]


def test_combine_rules() -> None:
    ws = [parse_rule({"id": i, "title": i}) for i in ("a", "b", "c")]
    repo = [
        parse_rule({"id": "b", "title": "repo b"}, scope=Scope.REPOSITORY),
        parse_rule({"id": "d", "title": "d"}, scope=Scope.REPOSITORY),
    ]
    combined = combine_rules(ws, repo, ["c", "not-there"])
    assert [(r.id, r.title) for r in combined] == [("a", "a"), ("b", "repo b"), ("d", "d")]
    assert combine_rules(ws, []) == ws


def test_repository_problems() -> None:
    assert paths({"repositories": [{"settings": {}}]}) == ["repositories[0].slug"]
    assert paths({"repositories": [{"slug": "api"}, {"slug": "api"}]}) == ["repositories[1].slug"]
    (problem,) = problems({"repositories": [{"slug": "api", "rulez": []}]})
    assert problem.path == "repositories[0].rulez"
    assert "known fields: slug, settings" in problem.hint
    assert paths({"repositories": ["api"]}) == ["repositories[0]"]
    assert paths({"repositories": [{"slug": "api", "disable_rules": [{"id": "x"}]}]}) == [
        "repositories[0].disable_rules[0]"
    ]


def test_repository_rules_are_repository_scoped() -> None:
    doc = load_document({"repositories": [{"slug": "api", "rules": [{"template": "same-issue"}]}]})
    api = doc.repository("api")
    assert api is not None
    assert api.rules[0].scope is Scope.REPOSITORY
    assert Trigger.PULL_REQUEST in api.rules[0].triggers


def test_validation_token_repository_must_exist() -> None:
    (problem,) = problems(
        {
            "repositories": [{"slug": "api"}],
            "validation_tokens": [{"name": "t", "secret": "${S}", "repository": "web"}],
        }
    )
    assert problem.path == "validation_tokens[0].repository"
    assert problem.message == "no repository 'web' in this document"
    doc = load_document(
        {
            "repositories": [{"slug": "api"}],
            "validation_tokens": [
                {"name": "t", "secret": "${S}", "repository": "api"},
                {"name": "w", "secret": "${S}"},
            ],
        }
    )
    assert [t.repository for t in doc.validation_tokens] == ["api", ""]


def test_invalid_workspace_settings_are_reported_once_at_their_path() -> None:
    found = paths(
        {
            "settings": {"enabeld": True, "time_budget_seconds": -1},
            "repositories": [
                {"slug": "api"},
                {"slug": "web", "settings": {"jira_unreachable": "sometimes"}},
            ],
        }
    )
    assert found == [
        "settings.enabeld",
        "settings.time_budget_seconds",
        "repositories[1].settings.jira_unreachable",
    ]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bom.json", '{"rules": [{"template": "no-merge-commits"}]}'),
        ("bom.toml", '[[rules]]\ntemplate = "no-merge-commits"\n'),
        ("bom.yml", "rules:\n  - template: no-merge-commits\n"),
    ],
)
def test_files_with_a_byte_order_mark(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert [r.id for r in load_file(path).rules] == ["no-merge-commits"]
