"""commit-msg reads the message as git stores it whatever ``core.commentChar`` says: with
``auto`` git comments with a character no message line starts with (``;`` when a line starts
with ``#``), and ``git -c core.commentChar=…`` reaches hooks only in GIT_CONFIG_PARAMETERS.
Before, ``auto`` was read as ``#``: "#42 ABC-1 fixed" lost its only line and was blocked, and
git's ``;`` comment lines were judged as the message."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import GitRepo
from tests.hooks.conftest import KEY_RULES_TOML, git_run, stage, write_file

Install = Callable[..., object]


def _repo(git_repo: GitRepo, install: Install) -> GitRepo:
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    install(git_repo.path, "commit-msg", "--mode", "local")
    return git_repo


def test_auto_comment_char_keeps_a_hash_line(git_repo: GitRepo, install: Install) -> None:
    repo = _repo(git_repo, install)
    repo.git("config", "core.commentChar", "auto")
    stage(repo.path)
    ok = git_run(repo.path, "commit", "-e", "-m", "#42 ABC-1 fixed", env={"GIT_EDITOR": "true"})
    assert ok.returncode == 0, ok.stderr
    assert repo.git("log", "-1", "--format=%s") == "#42 ABC-1 fixed"
    stage(repo.path)
    blocked = git_run(repo.path, "commit", "-e", "-m", "#42 no key", env={"GIT_EDITOR": "true"})
    assert blocked.returncode == 1
    assert "(new commit)  #42 no key" in blocked.stderr  # the message, not git's comments
    assert "Please enter the commit message" not in blocked.stderr


def test_comment_char_from_git_dash_c(git_repo: GitRepo, install: Install) -> None:
    repo = _repo(git_repo, install)
    stage(repo.path)
    ok = git_run(
        repo.path,
        "-c",
        "core.commentChar=;",
        "commit",
        "-e",
        "-m",
        "#7 ABC-1 from the tracker",
        env={"GIT_EDITOR": "true"},
    )
    assert ok.returncode == 0, ok.stderr
