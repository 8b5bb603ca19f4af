"""Two configuration files side by side (issue 13 B.12): ``.jirahooks.toml`` used to win over
``.jirahooks.yml`` silently, so edits to the YAML file did nothing. Now ``jirahooks check`` and
the installed hooks refuse with a configuration error naming both files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import GitRepo
from tests.hooks.conftest import KEY_RULES_TOML, git_run, stage, write_file

from jirahooks.cli import main
from jirahooks.errors import EXIT_CONFIG

YML = "rules:\n  - template: branch-key-required\n"


@pytest.mark.parametrize(
    "names",
    [(".jirahooks.toml", ".jirahooks.yml"), (".jirahooks.yml", ".jirahooks.yaml")],
)
def test_check_refuses_two_files(
    git_repo: GitRepo,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    names: tuple[str, str],
) -> None:
    git_repo.commit("ABC-1 initial")
    for name in names:
        text = KEY_RULES_TOML if name.endswith(".toml") else YML
        write_file(git_repo.path / name, text)
    monkeypatch.chdir(git_repo.path)
    code = main(["check", "--branch", "feature/ABC-1"])
    err = capsys.readouterr().err
    assert code == EXIT_CONFIG
    assert "more than one configuration file" in err
    assert all(name in err for name in names), err
    assert "Traceback" not in err
    # an explicit --config says which one is meant
    assert main(["check", "--branch", "feature/ABC-1", "--config", names[1]]) == 0


def test_the_hook_refuses_two_files(git_repo: GitRepo, install: Callable[..., object]) -> None:
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    write_file(git_repo.path / ".jirahooks.yml", YML)
    install(git_repo.path, "commit-msg", "--mode", "local")
    stage(git_repo.path)
    result = git_run(git_repo.path, "commit", "-m", "ABC-1 fine")
    assert result.returncode != 0
    assert "more than one configuration file" in result.stderr
    assert ".jirahooks.toml" in result.stderr and ".jirahooks.yml" in result.stderr
    assert "Traceback" not in result.stderr
    assert Path(git_repo.path, ".jirahooks.yml").is_file()
