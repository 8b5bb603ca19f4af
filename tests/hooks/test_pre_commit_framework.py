"""``.pre-commit-hooks.yaml`` is valid, names existing commands, and the entries work the way
the pre-commit framework calls them (commit-msg: args then the message file; pre-push: no stdin,
the push described in PRE_COMMIT_* variables)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.conftest import GitRepo
from tests.hooks.conftest import KEY_RULES_TOML, ValidationStub, jirahooks, write_file

from jirahooks.cli import COMMANDS
from jirahooks.cli.hook import HOOK_NAMES

ROOT = Path(__file__).resolve().parents[2]
STAGES = {"commit-msg", "pre-push", "pre-commit", "prepare-commit-msg", "post-commit", "manual"}


def _hooks() -> list[dict[str, Any]]:
    data = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def test_manifest_is_valid_and_names_existing_commands() -> None:
    hooks = _hooks()
    ids = [h["id"] for h in hooks]
    assert len(ids) == len(set(ids))
    assert {h["stages"][0] for h in hooks} == {"commit-msg", "pre-push", "prepare-commit-msg"}
    for hook in hooks:
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python"
        assert set(hook["stages"]) <= STAGES
        program, command, name = shlex.split(hook["entry"])
        assert program == "jirahooks"
        assert command in {c.name for c in COMMANDS}
        assert name in HOOK_NAMES
        assert name == hook["stages"][0]
    pre_push = next(h for h in hooks if h["stages"] == ["pre-push"])
    assert pre_push["pass_filenames"] is False


def _entry(stage: str) -> list[str]:
    hook = next(h for h in _hooks() if h["stages"] == [stage])
    return shlex.split(hook["entry"])[1:]


def test_commit_msg_entry_with_args_and_message_file(git_repo: GitRepo) -> None:
    write_file(git_repo.path / "rules" / "jira.toml", KEY_RULES_TOML)
    message = write_file(git_repo.path / ".git" / "COMMIT_EDITMSG", "no key\n")
    args = [*_entry("commit-msg"), "--mode", "local", "--config", "rules/jira.toml", str(message)]
    blocked = jirahooks(*args, cwd=git_repo.path)
    assert blocked.returncode == 1, blocked.stderr
    write_file(message, "ABC-1 key\n")
    assert jirahooks(*args, cwd=git_repo.path).returncode == 0


@pytest.mark.parametrize(("subject", "code"), [("ABC-1 fine", 0), ("no key", 1)])
def test_pre_push_entry_reads_the_push_from_the_environment(
    git_repo: GitRepo, stub: ValidationStub, subject: str, code: int
) -> None:
    sha = git_repo.commit(subject)
    env = stub.env(
        PRE_COMMIT_FROM_REF="0" * 40,
        PRE_COMMIT_TO_REF=sha,
        PRE_COMMIT_LOCAL_BRANCH="refs/heads/main",
        PRE_COMMIT_REMOTE_BRANCH="refs/heads/main",
        PRE_COMMIT_REMOTE_NAME="origin",
    )
    result = jirahooks(*_entry("pre-push"), cwd=git_repo.path, env=env, input="")
    assert result.returncode == code, result.stderr
    (request,) = stub.received
    assert request.body["branchName"] == "main"
    assert [c["hash"] for c in request.body["commits"]] == [sha]
