"""The pre-commit recipe of docs/hooks.md (``repo: local``, the jirahooks on PATH) works with
the real pre-commit framework: nothing is installed from an index, a commit without a key is
refused, one with a key passes, and a push of a commit without a key is refused.

The configuration is read from docs/hooks.md, so the page and this test cannot drift."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import GitRepo
from tests.hooks.conftest import git_run, write_file

ROOT = Path(__file__).resolve().parents[2]
RULES = "rules:\n  - template: commit-key-required\n"


def _recipe() -> str:
    text = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    section = text.split("### The pre-commit framework", 1)[1]
    match = re.search(r"```yaml\n(# \.pre-commit-config\.yaml\n.*?)```", section, re.S)
    assert match, "docs/hooks.md lost its pre-commit recipe"
    return match.group(1)


def _pre_commit() -> str:
    tool = Path(sys.executable).with_name("pre-commit")
    if not tool.exists():
        found = shutil.which("pre-commit")
        if found is None:
            pytest.skip("pre-commit (the dev extra) is not installed")
        return found
    return str(tool)


def test_the_documented_local_hooks_run_under_pre_commit(
    make_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    tool = _pre_commit()
    origin = make_repo("origin.git", bare=True)
    repo = make_repo("work")
    repo.git("remote", "add", "origin", str(origin.path))
    write_file(repo.path / ".pre-commit-config.yaml", _recipe())
    write_file(repo.path / ".jirahooks.yml", RULES)
    repo.git("add", ".pre-commit-config.yaml", ".jirahooks.yml")
    repo.git("commit", "-q", "--no-verify", "-m", "ABC-1 set up")
    repo.git("push", "-q", "--no-verify", "origin", "main")
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
    }
    installed = subprocess.run(
        [tool, "install"],
        cwd=repo.path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "commit-msg" in installed.stdout and "pre-push" in installed.stdout

    blocked = git_run(repo.path, "commit", "--allow-empty", "-m", "no key", env=env)
    assert blocked.returncode != 0
    assert "Commit does not contain any issue keys." in blocked.stdout + blocked.stderr
    passed = git_run(repo.path, "commit", "--allow-empty", "-m", "ABC-2 with a key", env=env)
    assert passed.returncode == 0, passed.stdout + passed.stderr

    bad = repo.commit("pushed without a key")  # --no-verify
    pushed = git_run(repo.path, "push", "origin", "main", env=env)
    assert pushed.returncode != 0
    assert f"{bad[:12]}  pushed without a key" in pushed.stdout + pushed.stderr
