"""``jirahooks install`` in a repository whose hooks Husky runs: the team's Husky hooks keep
running, jirahooks runs as a line in them, ``npx husky`` (every ``npm install``) does not remove
it, and uninstall leaves the team's scripts as they were.

Husky 9 is installed for real from the npm registry, once per test session (skipped, with the
reason, where npm is not installed). A repository whose ``core.hooksPath`` is a tracked
directory of its own (no manager) is refused with the line to add."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import GitRepo
from tests.hooks.conftest import git_run, jirahooks, write_file

RULES = "rules:\n  - template: commit-key-required\n"
TEAM_COMMIT_MSG = 'echo "team commit-msg $(head -n1 "$1")" >> "$TEAM_LOG"\n'
TEAM_PRE_COMMIT = 'echo "team pre-commit" >> "$TEAM_LOG"\n'


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the Husky tests need a real Husky 9 install")
    return npm


@pytest.fixture(scope="session")
def husky9(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``node_modules`` with Husky 9, installed once per session."""
    npm = _npm()
    base = tmp_path_factory.mktemp("husky9")
    (base / "package.json").write_text('{"name": "husky-cache", "private": true}\n', "utf-8")
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--save-dev", "husky@9"],
        cwd=base,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    version = (base / "node_modules" / "husky" / "package.json").read_text("utf-8")
    assert '"version": "9.' in version
    return base / "node_modules"


def _env(tmp_path: Path) -> dict[str, str]:
    bin_dir = Path(sys.executable).parent
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "TEAM_LOG": str(tmp_path / "team.log"),
    }


def _npx_husky(repo: Path) -> None:
    """What ``npm install`` runs through the ``prepare`` script."""
    done = subprocess.run(
        ["npx", "--no", "husky"], cwd=repo, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def husky_repo(
    make_repo: Callable[..., GitRepo], husky9: Path, tmp_path: Path
) -> tuple[GitRepo, Path]:
    repo = make_repo("team")
    (repo.path / "node_modules").symlink_to(husky9)
    write_file(
        repo.path / "package.json",
        '{"name": "team", "private": true, "scripts": {"prepare": "husky"},\n'
        ' "devDependencies": {"husky": "^9"}}\n',
    )
    write_file(repo.path / ".husky" / "commit-msg", TEAM_COMMIT_MSG)
    write_file(repo.path / ".husky" / "pre-commit", TEAM_PRE_COMMIT)
    write_file(repo.path / ".jirahooks.yml", RULES)
    _npx_husky(repo.path)
    assert repo.git("config", "core.hooksPath").strip() == ".husky/_"
    return repo, tmp_path / "team.log"


def _snapshot(directory: Path) -> dict[str, str]:
    return {
        p.name: p.read_text(encoding="utf-8", errors="replace")
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


def _commit(repo: GitRepo, message: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return git_run(repo.path, "commit", "--allow-empty", "-m", message, env=env)


def _team_ran(log: Path) -> list[str]:
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def test_install_joins_husky_9_and_survives_npx_husky(husky_repo: tuple[GitRepo, Path]) -> None:
    repo, log = husky_repo
    env = _env(repo.path.parent)
    stubs = _snapshot(repo.path / ".husky" / "_")

    installed = jirahooks("install", cwd=repo.path, env=env)
    assert installed.returncode == 0, installed.stderr
    blocked = _commit(repo, "no key here", env)
    assert blocked.returncode != 0
    assert "Commit does not contain any issue keys." in blocked.stderr
    assert _team_ran(log) == ["team pre-commit", "team commit-msg no key here"]

    assert "Husky 9" in installed.stdout
    assert _snapshot(repo.path / ".husky" / "_") == stubs  # Husky's own directory untouched
    team_script = (repo.path / ".husky" / "commit-msg").read_text(encoding="utf-8")
    assert team_script.startswith(TEAM_COMMIT_MSG)  # the team's line stays first

    passed = _commit(repo, "ABC-1 with a key", env)
    assert passed.returncode == 0, passed.stderr
    assert _team_ran(log) == ["team pre-commit", "team commit-msg ABC-1 with a key"]

    _npx_husky(repo.path)  # npm install regenerates .husky/_
    again = _commit(repo, "still no key", env)
    assert again.returncode != 0
    assert "Commit does not contain any issue keys." in again.stderr
    assert _team_ran(log) == ["team pre-commit", "team commit-msg still no key"]

    reinstalled = jirahooks("install", cwd=repo.path, env=env)
    assert reinstalled.returncode == 0, reinstalled.stderr
    assert (repo.path / ".husky" / "commit-msg").read_text(encoding="utf-8") == team_script


def test_pre_push_runs_through_husky_with_gits_stdin(
    husky_repo: tuple[GitRepo, Path], make_repo: Callable[..., GitRepo]
) -> None:
    repo, log = husky_repo
    env = _env(repo.path.parent)
    origin = make_repo("origin.git", bare=True)
    repo.git("remote", "add", "origin", str(origin.path))
    repo.commit("ABC-1 first")
    repo.git("push", "-q", "--no-verify", "origin", "main")
    installed = jirahooks("install", "pre-push", cwd=repo.path, env=env)
    assert installed.returncode == 0, installed.stderr
    bad = repo.commit("pushed without a key")  # committed with --no-verify
    pushed = git_run(repo.path, "push", "origin", "main", env=env)
    assert pushed.returncode != 0
    assert f"{bad[:12]}  pushed without a key" in pushed.stderr
    repo.git("commit", "-q", "--amend", "--no-verify", "-m", "ABC-2 now with a key")
    pushed = git_run(repo.path, "push", "origin", "main", env=env)
    assert pushed.returncode == 0, pushed.stderr
    _team_ran(log)


def test_uninstall_leaves_the_teams_scripts_as_they_were(
    husky_repo: tuple[GitRepo, Path],
) -> None:
    repo, log = husky_repo
    env = _env(repo.path.parent)
    assert jirahooks("install", cwd=repo.path, env=env).returncode == 0
    removed = jirahooks("uninstall", cwd=repo.path, env=env)
    assert removed.returncode == 0, removed.stderr
    assert (repo.path / ".husky" / "commit-msg").read_text(encoding="utf-8") == TEAM_COMMIT_MSG
    assert not (repo.path / ".husky" / "pre-push").exists()  # it held only our lines
    passed = _commit(repo, "no key, not checked any more", env)
    assert passed.returncode == 0, passed.stderr
    assert _team_ran(log) == ["team pre-commit", "team commit-msg no key, not checked any more"]


def test_a_fresh_clone_before_npm_install_is_recognised(
    make_repo: Callable[..., GitRepo], husky9: Path, tmp_path: Path
) -> None:
    """Husky's prepare script has not run: no core.hooksPath yet. A hook in .git/hooks would
    stop running as soon as it does; jirahooks goes where Husky will look."""
    repo = make_repo("clone")
    write_file(repo.path / "package.json", '{"devDependencies": {"husky": "^9"}}\n')
    write_file(repo.path / ".husky" / "commit-msg", TEAM_COMMIT_MSG)
    write_file(repo.path / ".jirahooks.yml", RULES)
    env = _env(tmp_path)
    installed = jirahooks("install", "commit-msg", cwd=repo.path, env=env)
    assert installed.returncode == 0, installed.stderr
    assert not (repo.path / ".git" / "hooks" / "commit-msg").exists()
    (repo.path / "node_modules").symlink_to(husky9)
    _npx_husky(repo.path)  # npm install
    blocked = _commit(repo, "no key", env)
    assert blocked.returncode != 0
    assert _team_ran(tmp_path / "team.log") == ["team commit-msg no key"]


def test_husky_5_to_8_scripts_get_the_line(git_repo: GitRepo, tmp_path: Path) -> None:
    """Husky 5–8: core.hooksPath is .husky and git runs the team's scripts themselves."""
    husky = git_repo.path / ".husky"
    write_file(husky / "_" / "husky.sh", "#!/usr/bin/env sh\n")
    team = '#!/usr/bin/env sh\n. "$(dirname -- "$0")/_/husky.sh"\n' + TEAM_COMMIT_MSG
    write_file(husky / "commit-msg", team).chmod(0o755)
    git_repo.git("config", "core.hooksPath", ".husky")
    write_file(git_repo.path / ".jirahooks.yml", RULES)
    env = _env(tmp_path)
    installed = jirahooks("install", cwd=git_repo.path, env=env)
    assert installed.returncode == 0, installed.stderr
    assert not (husky / "commit-msg.legacy").exists()
    assert os.access(husky / "pre-push", os.X_OK)  # created runnable, as git needs it
    blocked = _commit(git_repo, "no key", env)
    assert blocked.returncode != 0
    assert _team_ran(tmp_path / "team.log") == ["team commit-msg no key"]
    assert jirahooks("uninstall", cwd=git_repo.path, env=env).returncode == 0
    assert (husky / "commit-msg").read_text(encoding="utf-8") == team
    assert not (husky / "pre-push").exists()


def test_a_tracked_hooks_directory_is_not_clobbered(git_repo: GitRepo, tmp_path: Path) -> None:
    hooks = git_repo.path / ".githooks"
    write_file(hooks / "commit-msg", "#!/bin/sh\n" + TEAM_COMMIT_MSG).chmod(0o755)
    git_repo.git("add", ".githooks")
    git_repo.git("commit", "-q", "--no-verify", "-m", "ABC-1 team hooks")
    git_repo.git("config", "core.hooksPath", ".githooks")
    before = (hooks / "commit-msg").read_text(encoding="utf-8")
    refused = jirahooks("install", "commit-msg", cwd=git_repo.path, env=_env(tmp_path))
    assert refused.returncode == 4
    assert "tracked by git" in refused.stderr
    assert 'jirahooks hook commit-msg "$@"' in refused.stderr  # the line to add
    assert (hooks / "commit-msg").read_text(encoding="utf-8") == before
    assert not (hooks / "commit-msg.legacy").exists()
