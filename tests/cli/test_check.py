"""``jirahooks check`` and ``jirahooks rules validate`` on real temporary git repositories."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from jirahooks.cli import main
from jirahooks.errors import (
    EXIT_BLOCKED,
    EXIT_CONFIG,
    EXIT_ENVIRONMENT,
    EXIT_OK,
    EXIT_USAGE,
)

TESTS = Path(__file__).resolve().parents[1]


def _root_conftest() -> Any:
    # Loaded by path: several test directories have a module called "conftest".
    spec = importlib.util.spec_from_file_location("_jirahooks_root_conftest", TESTS / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


synthetic_history: Callable[..., str] = _root_conftest().synthetic_history
DOCUMENT_SCHEMA = json.loads(
    (TESTS / "engine" / "validation_result.schema.json").read_text(encoding="utf-8")
)

RULES = """\
rules:
  - template: commit-key-required
  - template: branch-key-required
"""


class Run:
    """One ``jirahooks`` run through ``main(argv)``: exit code, stdout, stderr."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.out)
        return document


@pytest.fixture
def repo(git_repo: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A repository with one commit on main, the working directory, and a rules file."""
    git_repo.commit("Initial commit")
    (git_repo.path / ".jirahooks.yml").write_text(RULES, encoding="utf-8")
    monkeypatch.chdir(git_repo.path)
    return git_repo


@pytest.fixture
def jirahooks(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    def run(*argv: str) -> Run:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def rule_statuses(document: dict[str, Any]) -> dict[str, str]:
    return {rv["rule"]["id"]: rv["ruleStatus"] for rv in document["ruleValidations"]}


def check_facts(document: dict[str, Any], rule_id: str) -> list[dict[str, Any]]:
    (rv,) = [rv for rv in document["ruleValidations"] if rv["rule"]["id"] == rule_id]
    facts: list[dict[str, Any]] = rv["checkFacts"]
    return facts


def assert_clean_error(run: Run, code: int, *fragments: str) -> None:
    assert run.code == code
    assert run.err.startswith("jirahooks: error [")
    assert "Traceback" not in run.err
    for fragment in fragments:
        assert fragment in run.err


# --- ranges ----------------------------------------------------------------------------------


def test_range_that_passes(repo: Any, jirahooks: Callable[..., Run]) -> None:
    repo.checkout("-b", "feature/ABC-1-login")
    repo.commit("ABC-1 Add the login form")
    repo.commit("ABC-1 Validate the password")
    result = jirahooks("check", "--range", "main..HEAD")
    assert result.code == EXIT_OK
    assert result.out.splitlines()[0] == "jirahooks: PASS — 2 rules"
    assert result.err == ""


def test_range_that_blocks(repo: Any, jirahooks: Callable[..., Run]) -> None:
    repo.checkout("-b", "feature/ABC-1-login")
    repo.commit("ABC-1 Add the login form")
    bad = repo.commit("fix typo")
    result = jirahooks("check", "--range", "main..HEAD")
    assert result.code == EXIT_BLOCKED
    lines = result.out.splitlines()
    assert lines[0] == "jirahooks: BLOCK — 2 rules, 1 blocking"
    assert "✖ Issue key required in every commit [BLOCK]" in lines
    assert f"      {bad[:12]}  fix typo" in lines
    assert "        ✖ Commit does not contain any issue keys." in lines
    assert any(line.startswith("    hint: Start the commit message") for line in lines)
    assert "✔ 1 passed: Branch must reference an issue" in lines  # passes summarised


def test_range_uses_the_current_branch(repo: Any, jirahooks: Callable[..., Run]) -> None:
    repo.checkout("-b", "wip")
    repo.commit("ABC-1 work")
    document = jirahooks("check", "--range", "main..HEAD", "--format", "json").json()
    assert rule_statuses(document) == {
        "commit-key-required": "PASS",
        "branch-key-required": "BLOCK",
    }
    (fact,) = [f for f in check_facts(document, "branch-key-required") if f["code"] == "NO_KEYS"]
    assert fact["message"] == "Branch name does not contain any issue keys."
    assert fact["contexts"] == ["BRANCH_SOURCE"]


def test_branch_option_overrides_the_current_branch(
    repo: Any, jirahooks: Callable[..., Run]
) -> None:
    repo.checkout("-b", "wip")
    repo.commit("ABC-1 work")
    result = jirahooks("check", "--range", "main..HEAD", "--branch", "feature/abc-1-login")
    assert result.code == EXIT_OK


def test_empty_range_is_ignored_for_commit_rules(repo: Any, jirahooks: Callable[..., Run]) -> None:
    result = jirahooks("check", "--range", "HEAD..HEAD", "--format", "json")
    assert result.code == EXIT_OK
    statuses = rule_statuses(result.json())
    assert statuses["commit-key-required"] == "IGNORE"
    assert statuses["branch-key-required"] == "SKIP"  # main is excluded by the template


# --- the branch alone ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("branch", "code"),
    [("feature/ABC-1-login", EXIT_OK), ("feature/login", EXIT_BLOCKED), ("main", EXIT_OK)],
)
def test_branch_only(repo: Any, jirahooks: Callable[..., Run], branch: str, code: int) -> None:
    result = jirahooks("check", "--branch", branch, "--format", "json")
    assert result.code == code
    statuses = rule_statuses(result.json())
    assert statuses["commit-key-required"] == "IGNORE"  # no commits to look at


# --- commit-message files --------------------------------------------------------------------


def test_message_file_passes_and_strips_comment_lines(
    repo: Any, jirahooks: Callable[..., Run], tmp_path: Path
) -> None:
    message = tmp_path / "COMMIT_EDITMSG"
    message.write_text(
        "ABC-1 Add the login form\n\n# Please enter the commit message.\n# On branch main\n",
        encoding="utf-8",
    )
    result = jirahooks("check", "--message-file", str(message), "--format", "json")
    assert result.code == EXIT_OK
    document = result.json()
    assert rule_statuses(document) == {"commit-key-required": "PASS"}  # COMMIT trigger only
    (commit,) = document["ruleValidations"][0]["commitsUnderReview"].values()
    assert commit["hash"] == "0" * 40
    assert commit["message"] == "ABC-1 Add the login form"
    assert commit["authorDisplayName"] == "Ada Tester"


def test_message_file_with_the_key_only_in_a_comment_blocks(
    repo: Any, jirahooks: Callable[..., Run], tmp_path: Path
) -> None:
    message = tmp_path / "COMMIT_EDITMSG"
    message.write_text("Add the login form\n# ABC-1 is mentioned only here\n", encoding="utf-8")
    result = jirahooks("check", "--message-file", str(message))
    assert result.code == EXIT_BLOCKED
    assert "✖ Commit does not contain any issue keys." in result.out


def test_message_file_scissors_and_custom_comment_char(
    repo: Any, jirahooks: Callable[..., Run], tmp_path: Path
) -> None:
    repo.git("config", "core.commentChar", ";")
    message = tmp_path / "COMMIT_EDITMSG"
    message.write_text("; ABC-1 in a comment\n# ABC-2 is text now\n", encoding="utf-8")
    document = jirahooks("check", "--message-file", str(message), "--format", "json").json()
    (commit,) = document["ruleValidations"][0]["commitsUnderReview"].values()
    assert commit["message"] == "# ABC-2 is text now"
    assert document["result"] == "PASS"
    repo.git("config", "--unset", "core.commentChar")
    message.write_text(
        "ABC-3 text\n# ------------------------ >8 ------------------------\nABC-4 diff\n",
        encoding="utf-8",
    )
    document = jirahooks("check", "--message-file", str(message), "--format", "json").json()
    (commit,) = document["ruleValidations"][0]["commitsUnderReview"].values()
    assert commit["message"] == "ABC-3 text"


def test_message_file_with_comment_char_auto(
    repo: Any, jirahooks: Callable[..., Run], tmp_path: Path
) -> None:
    repo.git("config", "core.commentChar", "auto")
    message = tmp_path / "COMMIT_EDITMSG"
    message.write_text("add the login form ABC-1\n# Please enter the message\n", encoding="utf-8")
    document = jirahooks("check", "--message-file", str(message), "--format", "json").json()
    (commit,) = document["ruleValidations"][0]["commitsUnderReview"].values()
    assert commit["message"] == "add the login form ABC-1"
    assert document["result"] == "PASS"


def test_empty_message_file_blocks(
    repo: Any, jirahooks: Callable[..., Run], tmp_path: Path
) -> None:
    message = tmp_path / "COMMIT_EDITMSG"
    message.write_text("", encoding="utf-8")
    result = jirahooks("check", "--message-file", str(message), "--format", "json")
    assert result.code == EXIT_BLOCKED
    (fact,) = check_facts(result.json(), "commit-key-required")
    assert (fact["code"], fact["message"]) == ("NO_KEYS", "Commit does not contain any issue keys.")


def test_unreadable_message_file(repo: Any, jirahooks: Callable[..., Run], tmp_path: Path) -> None:
    result = jirahooks("check", "--message-file", str(tmp_path / "missing"))
    assert_clean_error(result, EXIT_ENVIRONMENT, "cannot read", "missing")


def test_non_ascii_message_file(repo: Any, jirahooks: Callable[..., Run], tmp_path: Path) -> None:
    message = tmp_path / "COMMIT_EDITMSG"
    message.write_text("ABC-1 Größe ändern ✓\n", encoding="utf-8")
    document = jirahooks("check", "--message-file", str(message), "--format", "json").json()
    assert document["result"] == "PASS"
    (commit,) = document["ruleValidations"][0]["commitsUnderReview"].values()
    assert commit["message"] == "ABC-1 Größe ändern ✓"


# --- git shapes ------------------------------------------------------------------------------


def test_detached_head_has_an_empty_branch(repo: Any, jirahooks: Callable[..., Run]) -> None:
    repo.checkout("-b", "feature/login")
    repo.commit("ABC-1 work")
    repo.checkout("--detach", "HEAD")
    assert repo.git("branch", "--show-current") == ""
    result = jirahooks("check", "--range", "main..HEAD", "--format", "json")
    assert result.code == EXIT_OK
    document = result.json()
    statuses = rule_statuses(document)
    # the branch of the last checkout (feature/login, no key) would block: it is not used
    assert statuses == {"commit-key-required": "PASS", "branch-key-required": "IGNORE"}
    (condition,) = document["ruleValidations"][1]["conditionFacts"]
    assert condition["message"] == "Branch 'HEAD' matches the rule's branch conditions."


def test_merge_commit(repo: Any, jirahooks: Callable[..., Run]) -> None:
    repo.checkout("-b", "feature/ABC-1-login")
    repo.commit("ABC-1 feature work")
    repo.checkout("main")
    repo.commit("ABC-2 hotfix on main")
    repo.checkout("feature/ABC-1-login")
    repo.git("merge", "--no-ff", "--no-edit", "main")
    merge = repo.head()
    assert len(repo.git("rev-list", "--parents", "-n1", "HEAD").split()) == 3
    (repo.path / ".jirahooks.yml").write_text(
        RULES + "  - template: no-merge-commits\n", encoding="utf-8"
    )
    result = jirahooks("check", "--range", "main@{1}..HEAD", "--format", "json")
    document = result.json()
    assert result.code == EXIT_BLOCKED
    statuses = rule_statuses(document)
    # the merge commit ("Merge branch 'main' into …", no key) is skipped by the template …
    assert statuses["commit-key-required"] == "PASS"
    (rv,) = [rv for rv in document["ruleValidations"] if rv["rule"]["id"] == "commit-key-required"]
    assert [f["message"] for f in rv["conditionFacts"]] == [f"Merge commit {merge[:12]} skipped."]
    # … and blocked by no-merge-commits
    assert statuses["no-merge-commits"] == "BLOCK"
    (fact,) = [f for f in check_facts(document, "no-merge-commits") if f["status"] == "ERROR"]
    assert fact["ref"] == merge
    assert fact["contexts"][0] == "COMMIT"


def test_revert_commit(repo: Any, jirahooks: Callable[..., Run]) -> None:
    repo.checkout("-b", "feature/ABC-1-login")
    repo.commit("ABC-1 work")
    repo.commit("ABC-1 experiment")
    repo.git("revert", "--no-edit", "HEAD")
    revert = repo.head()
    subject = repo.git("log", "-1", "--format=%s")
    assert subject == 'Revert "ABC-1 experiment"'
    # a revert of a commit without key: skipped by the template's skip_reverts
    repo.commit("no key, reverted below")
    repo.git("revert", "--no-edit", "HEAD")
    document = jirahooks("check", "--range", "main..HEAD", "--format", "json").json()
    (rv,) = [rv for rv in document["ruleValidations"] if rv["rule"]["id"] == "commit-key-required"]
    assert [f["message"] for f in rv["conditionFacts"]] == [
        f"Revert commit {revert[:12]} skipped.",
        f"Revert commit {repo.head()[:12]} skipped.",
    ]
    assert rv["ruleStatus"] == "BLOCK"  # "no key, reverted below" itself still has no key
    assert [f["message"] for f in rv["checkFacts"] if f["status"] == "ERROR"] == [
        "Commit does not contain any issue keys."
    ]


def test_commit_with_an_empty_message(repo: Any, jirahooks: Callable[..., Run]) -> None:
    repo.checkout("-b", "feature/ABC-1-x")
    repo.git("commit", "-q", "--allow-empty", "--allow-empty-message", "-m", "")
    empty = repo.head()
    result = jirahooks("check", "--range", "main..HEAD", "--format", "json")
    assert result.code == EXIT_BLOCKED
    document = result.json()
    # the error, then the hint that the branch names a key (engine/suggest.py)
    (fact, hint) = check_facts(document, "commit-key-required")
    assert fact["ref"] == empty
    assert hint["ref"] == empty and hint["category"] == ["HINT"]
    assert hint["message"] == "The branch names ABC-1: start the message with it, e.g. 'ABC-1 …'."
    assert document["ruleValidations"][0]["commitsUnderReview"][empty]["message"] == ""


def test_non_ascii_commit_messages(repo: Any, jirahooks: Callable[..., Run]) -> None:
    repo.checkout("-b", "feature/ABC-1-größe")
    sha = repo.commit("ABC-1 Größe ändern ✓\n\nÜberall 😀")
    result = jirahooks("check", "--range", "main..HEAD", "--format", "json")
    assert result.code == EXIT_OK
    document = result.json()
    commit = document["ruleValidations"][0]["commitsUnderReview"][sha]
    # the subject line, non-ASCII intact (the document never echoes full messages: issue 11)
    assert commit["message"] == "ABC-1 Größe ändern ✓"
    text = jirahooks("check", "--range", "main..HEAD", "--verbose")
    assert f"{sha[:12]}  ABC-1 Größe ändern ✓" in text.out


# --- big ranges ------------------------------------------------------------------------------


def test_ten_thousand_commit_range(git_repo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def message(i: int) -> str:
        return f"change {i} without key, Größe" if i % 1000 == 0 else f"ABC-{i % 97 + 1} change {i}"

    git_repo.fast_import(synthetic_history(10_000, message))
    assert git_repo.git("rev-list", "--count", "main") == "10000"
    (git_repo.path / "rules.yml").write_text(
        "- template: commit-key-required\n- template: no-merge-commits\n", encoding="utf-8"
    )
    monkeypatch.chdir(git_repo.path)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "jirahooks",
            "check",
            "--config",
            "rules.yml",
            "--range",
            "main",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    assert out.returncode == EXIT_BLOCKED, out.stderr
    document = json.loads(out.stdout)
    keys, merges = document["ruleValidations"]
    assert (keys["ruleStatus"], merges["ruleStatus"]) == ("BLOCK", "PASS")
    # bounded (issue 11): the 10 failing commits with their facts, 10 passing ones to fill the
    # default --max-lines 20, the other 9,980 counted; every failing commit named by hash
    assert len(keys["commitsUnderReview"]) == 20
    blocked = {f["ref"] for f in keys["checkFacts"] if f["code"] == "NO_KEYS"}
    assert len(blocked) == 10 and set(keys["failingCommits"]) == blocked
    assert sum(f["code"] == "KEYS_PRESENT" for f in keys["checkFacts"]) == 10
    assert {keys["commitsUnderReview"][h]["message"].split()[1] for h in blocked} == {
        str(i) for i in range(0, 10_000, 1000)
    }
    (more,) = [f for f in keys["checkFacts"] if f["source"] == "AGGREGATE"]
    assert (more["status"], more["params"]["count"]) == ("SUCCESS", 9_980)
    assert sum(f["code"] == "MATCH" for f in merges["checkFacts"]) == 20
    assert "failingCommits" not in merges


# --- output formats --------------------------------------------------------------------------


def test_json_output_is_the_validation_api_document(
    repo: Any, jirahooks: Callable[..., Run]
) -> None:
    repo.checkout("-b", "feature/ABC-1-login")
    repo.commit("ABC-1 work")
    repo.commit("no key")
    document = jirahooks("check", "--range", "main..HEAD", "--format", "json").json()
    jsonschema.validate(document, DOCUMENT_SCHEMA)
    assert check_facts(document, "commit-key-required")[1]["code"] == "NO_KEYS"
    assert document["result"] == "BLOCK"
    assert document["errorValidations"][0]["errorMessages"] == [
        {"text": "Every commit message must reference a Jira issue."}
    ]


def test_junit_output(repo: Any, jirahooks: Callable[..., Run]) -> None:
    (repo.path / ".jirahooks.yml").write_text(
        RULES + "  - template: squash-before-merge\n  - template: no-merge-commits\n",
        encoding="utf-8",
    )
    repo.checkout("-b", "feature/login")
    repo.commit("ABC-1 work")
    bad = repo.commit("no key <&>")
    result = jirahooks("check", "--range", "main..HEAD", "--format", "junit")
    assert result.code == EXIT_BLOCKED
    root = ET.fromstring(result.out)
    assert root.tag == "testsuites"
    (suite,) = root
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "2", "0")
    cases = {case.get("classname"): case for case in suite}
    assert set(cases) == {
        "jirahooks.commit-key-required",
        "jirahooks.branch-key-required",
        "jirahooks.no-merge-commits",
    }  # squash-before-merge runs on pull requests only
    failure = cases["jirahooks.commit-key-required"].find("failure")
    assert failure is not None
    assert failure.get("message") == "Every commit message must reference a Jira issue."
    assert f"[{bad[:12]}] Commit does not contain any issue keys." in (failure.text or "")
    assert cases["jirahooks.branch-key-required"].find("failure") is not None
    assert list(cases["jirahooks.no-merge-commits"]) == []


def test_junit_skipped_rules(repo: Any, jirahooks: Callable[..., Run]) -> None:
    result = jirahooks("check", "--branch", "main", "--format", "junit")
    (suite,) = ET.fromstring(result.out)
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "0", "2")


def test_locale_de(repo: Any, jirahooks: Callable[..., Run]) -> None:
    repo.checkout("-b", "feature/login")
    repo.commit("keine Nummer")
    text = jirahooks("check", "--range", "main..HEAD", "--locale", "de-DE")
    assert text.code == EXIT_BLOCKED
    assert "✖ Commit enthält keine Vorgangsschlüssel." in text.out
    assert "✖ Branch-Name enthält keine Vorgangsschlüssel." in text.out
    document = jirahooks("check", "--range", "main..HEAD", "--locale", "de_DE", "--format", "json")
    messages = [f["message"] for f in check_facts(document.json(), "commit-key-required")]
    assert messages == ["Commit enthält keine Vorgangsschlüssel."]


def test_pr_title_option(repo: Any, jirahooks: Callable[..., Run]) -> None:
    (repo.path / ".jirahooks.yml").write_text(
        "rules:\n  - template: pr-title-convention\n", encoding="utf-8"
    )
    assert jirahooks("check", "--pr-title", "ABC-1: Login").code == EXIT_OK
    result = jirahooks("check", "--pr-title", "Login", "--format", "json")
    assert result.code == EXIT_BLOCKED
    facts = check_facts(result.json(), "pr-title-convention")
    assert {f["contexts"][0] for f in facts} == {"PR_TITLE"}


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("rules: [\n  - {title: x\n", ["not valid yml (line"]),
        (
            "rules:\n  - title: x\n    chekcs: {key_present: true}\n",
            ["rules[0].chekcs", "did you mean 'checks'?"],
        ),
        (
            "rules:\n  - title: x\n    checks: {naming: '^(feature/'}\n",
            ["rules[0].checks.naming: invalid regular expression"],
        ),
        ("rules:\n  - template: nope\n", ["rules[0].template: unknown template 'nope'"]),
        ("workspace: [1]\n", ["workspace: expected a slug"]),
    ],
)
def test_malformed_rule_files(
    repo: Any, jirahooks: Callable[..., Run], text: str, fragments: list[str]
) -> None:
    (repo.path / "bad.yml").write_text(text, encoding="utf-8")
    result = jirahooks("check", "--config", "bad.yml", "--branch", "feature/ABC-1")
    assert_clean_error(result, EXIT_CONFIG, "[CONFIG_INVALID]", "bad.yml", *fragments)
    assert result.out == ""


def test_malformed_toml_rule_file(repo: Any, jirahooks: Callable[..., Run]) -> None:
    (repo.path / "bad.toml").write_text("[[rules]]\ntitle = \n", encoding="utf-8")
    result = jirahooks("check", "--config", "bad.toml", "--branch", "x")
    assert_clean_error(result, EXIT_CONFIG, "bad.toml", "not valid toml", "line 2")


def test_missing_config(
    git_repo: Any, jirahooks: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    git_repo.commit("ABC-1")
    monkeypatch.chdir(git_repo.path)
    result = jirahooks("check", "--branch", "feature/ABC-1")
    assert_clean_error(result, EXIT_CONFIG, "--config: no configuration file given and none found")
    result = jirahooks("check", "--config", "nope.yml", "--branch", "feature/ABC-1")
    assert_clean_error(result, EXIT_CONFIG, "nope.yml: file not found")


def test_config_is_found_at_the_repository_root_from_a_subdirectory(
    repo: Any, jirahooks: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = repo.path / "src" / "deep"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert jirahooks("check", "--branch", "feature/login").code == EXIT_BLOCKED


def test_nothing_to_check(repo: Any, jirahooks: Callable[..., Run]) -> None:
    result = jirahooks("check")
    assert_clean_error(result, EXIT_USAGE, "[USAGE]: nothing to check", "--range A..B")


def test_bad_git_range(repo: Any, jirahooks: Callable[..., Run]) -> None:
    result = jirahooks("check", "--range", "nope..HEAD")
    assert_clean_error(result, EXIT_ENVIRONMENT, "[GIT_FAILED]", "nope..HEAD")


def test_range_outside_a_repository(
    tmp_path: Path, jirahooks: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    monkeypatch.chdir(outside)
    result = jirahooks("check", "--range", "HEAD~1..HEAD")
    assert_clean_error(result, EXIT_ENVIRONMENT, "[GIT_FAILED]")


def test_unknown_repository(repo: Any, jirahooks: Callable[..., Run]) -> None:
    (repo.path / ".jirahooks.yml").write_text(
        RULES + "repositories:\n  - slug: api\n  - slug: web\n", encoding="utf-8"
    )
    result = jirahooks("check", "--branch", "feature/ABC-1", "--repo", "apx")
    assert_clean_error(result, EXIT_USAGE, "no repository 'apx'", "known: api, web")
    assert jirahooks("check", "--branch", "feature/ABC-1", "--repo", "api").code == EXIT_OK


def test_repository_rules_apply_with_repo(repo: Any, jirahooks: Callable[..., Run]) -> None:
    (repo.path / ".jirahooks.yml").write_text(
        RULES + "repositories:\n  - slug: api\n    disable_rules: [branch-key-required]\n",
        encoding="utf-8",
    )
    assert jirahooks("check", "--branch", "feature/login").code == EXIT_BLOCKED
    assert jirahooks("check", "--branch", "feature/login", "--repo", "api").code == EXIT_OK


def test_unknown_option_is_a_usage_error(repo: Any, jirahooks: Callable[..., Run]) -> None:
    result = jirahooks("check", "--rnage", "main..HEAD")
    assert_clean_error(result, EXIT_USAGE, "unrecognized arguments: --rnage")


# --- rules validate --------------------------------------------------------------------------


def test_rules_validate_valid(repo: Any, jirahooks: Callable[..., Run]) -> None:
    result = jirahooks("rules", "validate", ".jirahooks.yml")
    assert result.code == EXIT_OK
    assert result.out.strip() == (
        ".jirahooks.yml: valid — 2 rules, 0 repositories, 0 Jira connections"
    )


def test_rules_validate_invalid_lists_every_problem(
    tmp_path: Path, jirahooks: Callable[..., Run]
) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        '[[rules]]\ntitle = "a"\ntargets = ["COMMIT", "BRANCHES"]\n\n'
        '[[rules]]\ntitle = "b"\nseverity = "FATAL"\n[rules.checks]\nnaming = "(?<=x)"\n',
        encoding="utf-8",
    )
    result = jirahooks("rules", "validate", str(path))
    assert_clean_error(
        result,
        EXIT_CONFIG,
        "3 problems in the configuration",
        "rules[0].targets[1]: 'BRANCHES' is not one of",
        "rules[1].severity: 'FATAL' is not one of BLOCK, WARNING",
        "rules[1].checks.naming: invalid regular expression",
    )


# --- a real process --------------------------------------------------------------------------


def _jirahooks_process(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jirahooks", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )


def test_subprocess_pass_and_block(repo: Any) -> None:
    repo.checkout("-b", "feature/ABC-1-login")
    repo.commit("ABC-1 Größe ändern ✓")
    passed = _jirahooks_process(repo.path, "check", "--range", "main..HEAD")
    assert passed.returncode == EXIT_OK, passed.stderr
    assert passed.stdout.startswith("jirahooks: PASS")
    repo.commit("no key")
    blocked = _jirahooks_process(repo.path, "check", "--range", "main..HEAD")
    assert blocked.returncode == EXIT_BLOCKED
    assert "Commit does not contain any issue keys." in blocked.stdout


def test_subprocess_config_error_has_no_traceback(repo: Any) -> None:
    (repo.path / "bad.yml").write_text("rules:\n  - titel: x\n", encoding="utf-8")
    result = _jirahooks_process(repo.path, "rules", "validate", "bad.yml")
    assert result.returncode == EXIT_CONFIG
    assert "rules[0].titel: unknown field" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_pr_description_alone_is_something_to_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "rules.yml"
    config.write_text(
        "rules:\n  - id: d\n    title: Description names the issue\n    triggers: [PULL_REQUEST]\n"
        "    targets: [PR_DESCRIPTION]\n    checks: {key_present: true}\n",
        encoding="utf-8",
    )
    assert main(["check", "--config", str(config), "--pr-description", "Fixes ABC-7"]) == 0
    assert main(["check", "--config", str(config), "--pr-description", "no key"]) == 1
    assert "Pull-request description does not contain any issue keys." in capsys.readouterr().out
