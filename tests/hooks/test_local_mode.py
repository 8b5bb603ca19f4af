"""Local mode: the engine runs inside commit-msg / pre-push with the repository's rules file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import GitRepo
from tests.hooks.conftest import KEY_RULES_TOML, git_run, jirahooks, stage, write_file

Install = Callable[..., object]

BRANCH_RULES_YML = """\
rules:
  - template: commit-key-required
  - id: feature-branches
    title: Feature branches are named after an issue
    triggers: [COMMIT, PUSH]
    targets: [BRANCH]
    conditions:
      branches:
        include: ["feature/*"]
    checks: {naming: '^feature/[A-Z]+-[0-9]+-'}
    error: Feature branches are named feature/<KEY>-<words>.
    hint: git branch -m feature/ABC-1-what-it-does
"""


def test_commit_passes_and_blocks(git_repo: GitRepo, install: Install) -> None:
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    install(git_repo.path, "--mode", "local")
    stage(git_repo.path)
    blocked = git_run(git_repo.path, "commit", "-m", "fix the thing")
    assert blocked.returncode != 0
    assert "jirahooks: BLOCK" in blocked.stderr
    assert "(new commit)  fix the thing" in blocked.stderr
    assert "Commit does not contain any issue keys." in blocked.stderr
    assert "hint: Start the commit message with the issue key" in blocked.stderr
    assert git_run(git_repo.path, "rev-parse", "-q", "--verify", "HEAD").returncode != 0

    passed = git_run(git_repo.path, "commit", "-m", "ABC-12 fix the thing")
    assert passed.returncode == 0, passed.stderr
    assert "jirahooks: PASS" in passed.stderr
    assert git_repo.git("log", "--format=%s") == "ABC-12 fix the thing"


def test_comment_lines_are_stripped_with_core_comment_char(
    git_repo: GitRepo, install: Install
) -> None:
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    install(git_repo.path, "commit-msg", "--mode", "local")
    message = git_repo.path.parent / "msg.txt"
    # a key only in a comment line does not count
    write_file(message, "no key in the message\n# ABC-1 only in a comment\n")
    stage(git_repo.path)
    blocked = git_run(git_repo.path, "commit", "--cleanup=strip", "-F", str(message))
    assert blocked.returncode != 0
    git_repo.git("config", "core.commentChar", ";")
    write_file(message, "ABC-1 real message\n; a comment\n")
    passed = git_run(git_repo.path, "commit", "--cleanup=strip", "-F", str(message))
    assert passed.returncode == 0, passed.stderr
    # with ';' as comment char, '#' lines are message lines
    write_file(message, "no key\n; ABC-2 comment\n")
    stage(git_repo.path)
    assert git_run(git_repo.path, "commit", "--cleanup=strip", "-F", str(message)).returncode != 0


def test_branch_conditions_use_the_current_branch(git_repo: GitRepo, install: Install) -> None:
    write_file(git_repo.path / ".jirahooks.yml", BRANCH_RULES_YML)
    install(git_repo.path, "commit-msg", "--mode", "local")
    stage(git_repo.path)
    assert git_run(git_repo.path, "commit", "-m", "ABC-1 on main").returncode == 0
    git_repo.checkout("-b", "feature/login")
    stage(git_repo.path)
    blocked = git_run(git_repo.path, "commit", "-m", "ABC-1 on a badly named branch")
    assert blocked.returncode != 0
    assert "Feature branches are named feature/<KEY>-<words>." in blocked.stderr
    assert "Branch" in blocked.stderr
    git_repo.git("branch", "-m", "feature/ABC-1-login")
    assert git_run(git_repo.path, "commit", "-m", "ABC-1 now fine").returncode == 0
    # a detached HEAD has no branch: branch rules with include patterns do not apply
    git_repo.checkout("--detach")
    stage(git_repo.path)
    assert git_run(git_repo.path, "commit", "-m", "ABC-1 detached").returncode == 0


def test_explicit_config_baked_into_the_hook(
    git_repo: GitRepo, install: Install, tmp_path: Path
) -> None:
    config = write_file(tmp_path / "central" / "rules.toml", KEY_RULES_TOML)
    install(git_repo.path, "commit-msg", "--mode", "local", "--config", str(config))
    stage(git_repo.path)
    assert git_run(git_repo.path, "commit", "-m", "nothing").returncode != 0


def test_no_configuration_warns_and_passes(git_repo: GitRepo, install: Install) -> None:
    install(git_repo.path)
    stage(git_repo.path)
    result = git_run(git_repo.path, "commit", "-m", "no rules anywhere")
    assert result.returncode == 0, result.stderr
    assert "warning: not configured" in result.stderr


def test_invalid_rules_file_blocks_with_exit_3(git_repo: GitRepo) -> None:
    write_file(git_repo.path / ".jirahooks.toml", "[[rules]]\ntemplate = 'nope'\n")
    message = write_file(git_repo.path.parent / "m.txt", "ABC-1 x\n")
    result = jirahooks("hook", "commit-msg", str(message), cwd=git_repo.path)
    assert result.returncode == 3
    assert "unknown template 'nope'" in result.stderr


def test_empty_message_is_left_to_git(git_repo: GitRepo) -> None:
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    message = write_file(git_repo.path.parent / "m.txt", "# only comments\n\n")
    result = jirahooks("hook", "commit-msg", str(message), cwd=git_repo.path)
    assert result.returncode == 0
    assert result.stderr == ""


def test_pre_push_checks_each_pushed_branch(
    make_repo: Callable[..., GitRepo], install: Install
) -> None:
    origin = make_repo("origin.git", bare=True)
    repo = make_repo("work")
    repo.git("remote", "add", "origin", str(origin.path))
    write_file(repo.path / ".jirahooks.yml", BRANCH_RULES_YML)
    install(repo.path, "pre-push", "--mode", "local")
    repo.commit("ABC-1 base")
    assert git_run(repo.path, "push", "-q", "origin", "main").returncode == 0

    repo.checkout("-b", "feature/bad-name")
    bad = repo.commit("ABC-2 work")
    blocked = git_run(repo.path, "push", "origin", "feature/bad-name")
    assert blocked.returncode != 0
    assert "push to refs/heads/feature/bad-name" in blocked.stderr
    assert "Feature branches are named" in blocked.stderr
    # pushing the same commits to a well-named branch is fine
    ok = git_run(repo.path, "push", "origin", f"{bad}:refs/heads/feature/ABC-2-work")
    assert ok.returncode == 0, ok.stderr

    repo.checkout("main")
    repo.commit("no key on main")
    blocked = git_run(repo.path, "push", "origin", "main")
    assert blocked.returncode != 0
    assert "no key on main" in blocked.stderr
    # only commits not yet on a remote are checked: the old ones pass through a deletion
    deleted = git_run(repo.path, "push", "origin", ":feature/ABC-2-work")
    assert deleted.returncode == 0, deleted.stderr
