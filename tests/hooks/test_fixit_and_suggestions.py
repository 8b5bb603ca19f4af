"""Hints that fix the problem (engine/suggest.py), through the real hooks: each hook prints the
exact command for its moment — commit-msg, pre-push (tip vs. older commits), pre-receive as the
server sees it — and "did you mean …?" reaches the developer without extra Jira requests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.conftest import GitRepo
from tests.fakes.fake_jira import FakeJira
from tests.hooks.conftest import KEY_RULES_TOML, git_run, jirahooks, stage, write_file
from tests.hooks.test_pre_receive import _setup

Install = Callable[..., object]


def test_commit_msg_names_the_saved_message(git_repo: GitRepo, install: Install) -> None:
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    install(git_repo.path, "commit-msg", "--mode", "local")
    git_repo.git("checkout", "-q", "-b", "feature/ABC-5-x")
    stage(git_repo.path)
    blocked = git_run(git_repo.path, "commit", "-m", "forgot the key")
    assert blocked.returncode == 1
    assert "git commit -e -F .git/COMMIT_EDITMSG" in blocked.stderr
    # the branch's key as a hint, in the shape the workspace wants
    assert "→ The branch names ABC-5: start the message with it, e.g. 'ABC-5 forgot the key'" in (
        blocked.stderr
    )
    # and the command works: the saved message, corrected, commits
    saved = git_repo.path / ".git" / "COMMIT_EDITMSG"
    assert saved.read_text("utf-8").startswith("forgot the key")
    write_file(saved, "ABC-5 forgot the key\n")
    retried = git_run(git_repo.path, "commit", "-F", str(saved))
    assert retried.returncode == 0, retried.stderr


def test_commit_msg_in_a_linked_worktree_names_its_file(
    git_repo: GitRepo, install: Install, tmp_path: Path
) -> None:
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    git_repo.git("add", ".jirahooks.toml")
    git_repo.git("commit", "-q", "--no-verify", "-m", "ABC-1 rules")
    install(git_repo.path, "commit-msg", "--mode", "local")
    linked = tmp_path / "linked"
    git_repo.git("worktree", "add", "-q", "-b", "side", str(linked))
    stage(linked)
    blocked = git_run(linked, "commit", "-m", "no key")
    assert blocked.returncode == 1
    expected = git_repo.path / ".git" / "worktrees" / "linked" / "COMMIT_EDITMSG"
    assert f"git commit -e -F {expected}" in blocked.stderr


def _pushing(make_repo: Callable[..., GitRepo], install: Install) -> GitRepo:
    origin = make_repo("origin.git", bare=True)
    repo = make_repo("work")
    repo.git("remote", "add", "origin", str(origin.path))
    write_file(repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    install(repo.path, "pre-push", "--mode", "local")
    return repo


def test_pre_push_tip_says_amend(make_repo: Callable[..., GitRepo], install: Install) -> None:
    repo = _pushing(make_repo, install)
    repo.commit("ABC-1 fine")
    tip = repo.commit("no key at the tip")
    blocked = git_run(repo.path, "push", "origin", "main")
    assert blocked.returncode != 0
    assert f"correct the last commit ({tip[:12]}) with git commit --amend" in blocked.stderr
    assert "rebase" not in blocked.stderr.split("hint:", 1)[1]


def test_pre_push_older_commit_says_rebase_from_its_parent(
    make_repo: Callable[..., GitRepo], install: Install
) -> None:
    repo = _pushing(make_repo, install)
    base = repo.commit("ABC-1 fine")
    bad = repo.commit("no key, older")
    repo.commit("ABC-2 fine tip")
    blocked = git_run(repo.path, "push", "origin", "main")
    assert blocked.returncode != 0
    assert f"run git rebase -i {base[:12]}, mark {bad[:12]} as 'reword'" in blocked.stderr
    # following the advice works: reword the commit, and the push goes through
    editor = "sed -i 's/^pick \\([0-9a-f]*\\) no key/reword \\1 no key/'"
    message_editor = "sed -i '1s/^/ABC-3 /'"
    rebased = git_run(
        repo.path,
        "rebase",
        "-i",
        base[:12],
        env={"GIT_SEQUENCE_EDITOR": editor, "GIT_EDITOR": message_editor},
    )
    assert rebased.returncode == 0, rebased.stderr
    pushed = git_run(repo.path, "push", "origin", "main")
    assert pushed.returncode == 0, pushed.stderr


def test_pre_push_root_commit_says_rebase_root(
    make_repo: Callable[..., GitRepo], install: Install
) -> None:
    repo = _pushing(make_repo, install)
    root = repo.commit("no key at the root")
    repo.commit("ABC-2 fine tip")
    blocked = git_run(repo.path, "push", "origin", "main")
    assert f"git rebase -i --root, mark {root[:12]}" in blocked.stderr


def test_pre_receive_names_the_commits_as_the_server_sees_them(
    make_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    s = _setup(make_repo, tmp_path, KEY_RULES_TOML, name="rules.toml")
    base = s.client.commit("ABC-1 initial")
    code, err = s.push("main")
    assert code == 0, err
    bad = s.client.commit("no key on the server")
    s.client.commit("ABC-2 tip")
    code, err = s.push("main")
    assert code != 0
    assert f"run git rebase -i {base[:12]}, mark {bad[:12]} as 'reword'" in err
    s.client.git("reset", "-q", "--hard", base)
    tip = s.client.commit("no key at the tip")
    code, err = s.push("main")
    assert f"correct the last commit ({tip[:12]}) with git commit --amend" in err


# --- "did you mean" against a fake Jira -------------------------------------------------------

JIRA_YML = """\
connections:
  - name: fake
    url: {url}
    deployment: cloud
    email: bot@example.com
    token: ${{HOOKS_JIRA_TOKEN}}
rules:
  - id: keys-exist
    title: Every key exists in Jira
    targets: [COMMIT]
    checks: {{key_present: true, keys_valid: ALL}}
"""


@pytest.fixture
def jira(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeJira]:
    with FakeJira("cloud") as fake:
        monkeypatch.setenv("HOOKS_JIRA_TOKEN", fake.token)
        fake.add_project("KAFKA")
        fake.add_issue("KAFKA-123", status="In Progress")
        fake.add_issue("KAFKA-7", status="In Progress")
        yield fake


def _check(repo: GitRepo, config: Path, *args: str) -> tuple[int, str]:
    result = jirahooks("check", "--config", str(config), *args, cwd=repo.path)
    return result.returncode, result.stdout + result.stderr


def test_did_you_mean_costs_no_jira_request(
    git_repo: GitRepo, tmp_path: Path, jira: FakeJira
) -> None:
    config = write_file(tmp_path / "jira.yml", JIRA_YML.format(url=jira.url))
    base = git_repo.commit("ABC-0 outside the range")
    git_repo.commit("KAFKA-7 found: project KAFKA exists")
    git_repo.commit("KAKFA-123 typo in the project")
    jira.reset_log()
    code, out = _check(git_repo, config, "--range", f"{base}..HEAD")
    assert code == 1
    assert "→ Did you mean KAFKA-123? Project KAFKA exists." in out
    with_hint = list(jira.paths())

    git_repo.git("reset", "-q", "--hard", "HEAD~1")
    git_repo.commit("NOPE-123 nothing close")
    jira.reset_log()
    code, out = _check(git_repo, config, "--range", f"{base}..HEAD")
    assert code == 1
    assert "Did you mean" not in out
    # the same requests with and without a suggestion: hints come from what was fetched
    assert len(list(jira.paths())) == len(with_hint), (with_hint, list(jira.paths()))


def test_did_you_mean_the_branch_key(git_repo: GitRepo, tmp_path: Path, jira: FakeJira) -> None:
    config = write_file(tmp_path / "jira.yml", JIRA_YML.format(url=jira.url))
    git_repo.commit("KAFKA-7 base")
    base = git_repo.head()
    git_repo.checkout("-b", "feature/KAFKA-123-login")
    git_repo.commit("KAFKA-132 swapped digits")
    code, out = _check(git_repo, config, "--range", f"{base}..HEAD")
    assert code == 1
    assert "→ Did you mean KAFKA-123? The branch names it." in out
    result = jirahooks(
        "check",
        "--config",
        str(config),
        "--range",
        f"{base}..HEAD",
        "--format",
        "json",
        cwd=git_repo.path,
    )
    document = json.loads(result.stdout)
    facts = [f for rv in document["ruleValidations"] for f in rv["checkFacts"]]
    hints = [f for f in facts if f.get("category") == ["HINT"]]
    assert [h["params"]["suggestion"] for h in hints] == ["KAFKA-123"]
    # shown by the published client: a detail line of the commit, first context COMMIT
    assert hints[0]["group"] == "COMMIT" and hints[0]["contexts"][0] == "COMMIT"
    assert hints[0]["ref"] == git_repo.head()


IGNORING_YML = """\
connections:
  - name: fake
    url: {url}
    deployment: cloud
    email: bot@example.com
    token: ${{HOOKS_JIRA_TOKEN}}
rules:
  - template: all-keys-valid
"""


def test_a_key_ignored_as_no_projects_gets_its_hint_even_when_the_rule_passes(
    git_repo: GitRepo, tmp_path: Path, jira: FakeJira
) -> None:
    """all-keys-valid ignores keys of unknown projects (UTF-8, KIP-500): a typo in the project
    would pass unseen. The project list it asked for anyway says KAFKA exists."""
    config = write_file(tmp_path / "jira.yml", IGNORING_YML.format(url=jira.url))
    base = git_repo.commit("ABC-0 outside the range")
    git_repo.commit("KAKFA-123 typo in the project")
    jira.reset_log()
    code, out = _check(git_repo, config, "--range", f"{base}..HEAD")
    assert code == 0, out
    assert "→ Did you mean KAFKA-123? Project KAFKA exists." in out
    with_hint = list(jira.paths())
    git_repo.git("reset", "-q", "--hard", base)
    git_repo.commit("UTF-8 is no key")
    jira.reset_log()
    code, out = _check(git_repo, config, "--range", f"{base}..HEAD")
    assert code == 0 and "Did you mean" not in out
    assert len(list(jira.paths())) == len(with_hint)
