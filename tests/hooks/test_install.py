"""``jirahooks install`` / ``uninstall`` against real repositories: the script, chaining with a
hook that was there before, idempotence, core.hooksPath (relative, absolute, Husky), bare
repositories."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import GitRepo
from tests.hooks.conftest import KEY_RULES_TOML, git_run, jirahooks, stage, write_file

from jirahooks.hooks.install import MARKER

Install = Callable[..., object]


def _executable(path: Path, text: str) -> Path:
    write_file(path, text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def test_install_writes_a_tiny_script_with_the_interpreter_baked_in(
    git_repo: GitRepo, install: Install
) -> None:
    install(git_repo.path)
    hooks = git_repo.path / ".git" / "hooks"
    for name in ("commit-msg", "pre-push"):
        text = (hooks / name).read_text()
        assert text.startswith("#!/bin/sh\n")
        assert MARKER in text
        assert f"INSTALL_PYTHON={sys.executable}" in text
        assert f' {name} "$@"' in text
        assert os.access(hooks / name, os.X_OK)
    assert not (hooks / "pre-receive").exists()


def test_reinstall_is_idempotent(git_repo: GitRepo, install: Install) -> None:
    install(git_repo.path, "commit-msg")
    hook = git_repo.path / ".git" / "hooks" / "commit-msg"
    first = hook.read_text()
    result = jirahooks("install", "commit-msg", cwd=git_repo.path)
    assert result.returncode == 0
    assert "reinstalled" in result.stdout
    assert hook.read_text() == first
    assert not (hook.parent / "commit-msg.legacy").exists()


def test_existing_hook_is_kept_chained_and_restored(git_repo: GitRepo, install: Install) -> None:
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    hooks = git_repo.path / ".git" / "hooks"
    trace = git_repo.path.parent / "legacy-trace.txt"
    legacy_text = f'#!/bin/sh\necho "legacy $(head -n1 "$1")" >> {trace}\ngrep -q WIP "$1" && exit 7\nexit 0\n'
    _executable(hooks / "commit-msg", legacy_text)

    result = install(git_repo.path, "commit-msg", "--mode", "local")
    assert "commit-msg.legacy" in result.stdout  # type: ignore[attr-defined]
    assert (hooks / "commit-msg.legacy").read_text() == legacy_text

    stage(git_repo.path)
    ok = git_run(git_repo.path, "commit", "-m", "ABC-1 first")
    assert ok.returncode == 0, ok.stderr
    assert trace.read_text() == "legacy ABC-1 first\n"

    # the legacy hook fails: git stops, ours does not run (no jirahooks verdict printed)
    stage(git_repo.path)
    failed = git_run(git_repo.path, "commit", "-m", "WIP no key")
    assert failed.returncode != 0
    assert "commit-msg.legacy failed (exit 7)" in failed.stderr
    assert "jirahooks: BLOCK" not in failed.stderr

    # the legacy hook passes, ours blocks
    blocked = git_run(git_repo.path, "commit", "-m", "no key")
    assert blocked.returncode != 0
    assert "jirahooks: BLOCK" in blocked.stderr
    assert trace.read_text().splitlines()[-1] == "legacy no key"

    removed = jirahooks("uninstall", "commit-msg", cwd=git_repo.path)
    assert removed.returncode == 0, removed.stderr
    assert "previous hook is back" in removed.stdout
    assert (hooks / "commit-msg").read_text() == legacy_text
    assert not (hooks / "commit-msg.legacy").exists()


def test_legacy_pre_push_gets_the_same_stdin_and_arguments(
    make_repo: Callable[..., GitRepo], install: Install
) -> None:
    origin = make_repo("origin.git", bare=True)
    repo = make_repo("work")
    repo.git("remote", "add", "origin", str(origin.path))
    trace = repo.path.parent / "pre-push-trace.txt"
    _executable(
        repo.path / ".git" / "hooks" / "pre-push",
        f'#!/bin/sh\necho "$@" > {trace}\ncat >> {trace}\n',
    )
    write_file(repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    install(repo.path, "pre-push", "--mode", "local")
    sha = repo.commit("ABC-1 pushed")
    pushed = git_run(repo.path, "push", "origin", "main")
    assert pushed.returncode == 0, pushed.stderr
    lines = trace.read_text().splitlines()
    assert lines[0] == f"origin {origin.path}"
    assert lines[1] == f"refs/heads/main {sha} refs/heads/main {'0' * 40}"


def test_uninstall_leaves_a_foreign_hook_alone(git_repo: GitRepo) -> None:
    hook = _executable(git_repo.path / ".git" / "hooks" / "commit-msg", "#!/bin/sh\nexit 0\n")
    result = jirahooks("uninstall", cwd=git_repo.path)
    assert result.returncode == 0
    assert "left alone" in result.stdout
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"


def test_foreign_hook_and_legacy_both_present_is_refused(git_repo: GitRepo) -> None:
    hooks = git_repo.path / ".git" / "hooks"
    _executable(hooks / "commit-msg", "#!/bin/sh\nexit 0\n")
    _executable(hooks / "commit-msg.legacy", "#!/bin/sh\nexit 0\n")
    result = jirahooks("install", "commit-msg", cwd=git_repo.path)
    assert result.returncode == 4
    assert "move one of them away" in result.stderr


def test_relative_core_hooks_path_like_husky(git_repo: GitRepo, install: Install) -> None:
    """Husky (v4-v8) sets core.hooksPath=.husky and keeps its scripts there: ours goes there
    too, Husky's script is chained."""
    git_repo.git("config", "core.hooksPath", ".husky")
    trace = git_repo.path.parent / "husky-trace.txt"
    _executable(git_repo.path / ".husky" / "commit-msg", f"#!/bin/sh\necho husky >> {trace}\n")
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    result = install(git_repo.path, "commit-msg", "--mode", "local")
    assert "core.hooksPath is set" in result.stdout  # type: ignore[attr-defined]
    assert MARKER in (git_repo.path / ".husky" / "commit-msg").read_text()
    assert not (git_repo.path / ".git" / "hooks" / "commit-msg").exists()

    stage(git_repo.path)
    assert git_run(git_repo.path, "commit", "-m", "no key").returncode != 0
    assert git_run(git_repo.path, "commit", "-m", "ABC-2 key").returncode == 0
    assert trace.read_text() == "husky\nhusky\n"

    assert jirahooks("uninstall", cwd=git_repo.path).returncode == 0
    assert (
        (git_repo.path / ".husky" / "commit-msg")
        .read_text()
        .endswith("husky >> " + str(trace) + "\n")
    )


def test_absolute_core_hooks_path_is_created_and_used(
    git_repo: GitRepo, install: Install, tmp_path: Path
) -> None:
    shared = tmp_path / "shared-hooks"
    git_repo.git("config", "core.hooksPath", str(shared))
    write_file(git_repo.path / ".jirahooks.toml", KEY_RULES_TOML)
    install(git_repo.path, "commit-msg", "--mode", "local")
    assert MARKER in (shared / "commit-msg").read_text()
    stage(git_repo.path)
    blocked = git_run(git_repo.path, "commit", "-m", "no key")
    assert blocked.returncode != 0
    assert "jirahooks: BLOCK" in blocked.stderr


def test_install_from_a_subdirectory_targets_the_repository(
    git_repo: GitRepo, install: Install
) -> None:
    sub = git_repo.path / "src" / "deep"
    sub.mkdir(parents=True)
    install(sub, "commit-msg")
    assert (git_repo.path / ".git" / "hooks" / "commit-msg").exists()


def test_bare_repository_gets_pre_receive_and_needs_a_config(
    make_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    bare = make_repo("server.git", bare=True)
    missing = jirahooks("install", cwd=bare.path)
    assert missing.returncode == 2
    assert "--config" in missing.stderr
    client = jirahooks("install", "commit-msg", "--config", "x.toml", cwd=bare.path)
    assert client.returncode == 2
    assert "bare" in client.stderr

    invalid = write_file(tmp_path / "bad.toml", "[[rules]]\ntemplate = 'no-such-template'\n")
    bad = jirahooks("install", "--config", str(invalid), cwd=bare.path)
    assert bad.returncode == 3
    assert "no-such-template" in bad.stderr

    config = write_file(tmp_path / "rules.toml", KEY_RULES_TOML)
    ok = jirahooks("install", "--config", str(config), "--repo", "api", cwd=bare.path)
    assert ok.returncode == 0, ok.stderr
    text = (bare.path / "hooks" / "pre-receive").read_text()
    assert f"--config {config}" in text and "--repo api" in text
    assert not (bare.path / "hooks" / "commit-msg").exists()


def test_missing_interpreter_falls_back_or_fails_closed(
    git_repo: GitRepo, install: Install
) -> None:
    install(git_repo.path, "commit-msg")
    hook = git_repo.path / ".git" / "hooks" / "commit-msg"
    hook.write_text(hook.read_text().replace(sys.executable, "/nonexistent/python"))
    stage(git_repo.path)
    result = git_run(git_repo.path, "commit", "-m", "x", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert "jirahooks: not found" in result.stderr


def test_not_a_repository(tmp_path: Path) -> None:
    result = jirahooks("install", cwd=tmp_path)
    assert result.returncode == 4
    assert "not a git repository" in result.stderr
