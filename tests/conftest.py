"""Fixtures shared by every test package: real temporary git repositories with a pinned identity.

``git_repo`` gives a ``GitRepo`` (a real repository in tmp_path); ``make_repo`` makes more
(bare ones too). Git runs with a private HOME and no system config, so the developer's own
configuration and hooks never leak into tests.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# database_url (SQLite and PostgreSQL) for the server, platform and web tests
pytest_plugins = ["tests.support.databases"]

IDENTITY = {
    "GIT_AUTHOR_NAME": "Ada Tester",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Tester",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_AUTHOR_DATE": "2026-01-01T12:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T12:00:00Z",
}


@pytest.fixture(autouse=True)
def _isolated_git(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path_factory.mktemp("home")
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Ada Tester\n\temail = ada@example.com\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in list(os.environ):
        if name.startswith("GIT_") and name not in ("GIT_CONFIG_NOSYSTEM",):
            monkeypatch.delenv(name, raising=False)


class GitRepo:
    """A real git repository for tests."""

    def __init__(self, path: Path, *, bare: bool = False) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", *(["--bare"] if bare else []), "-b", "main")
        self._counter = 0

    def git(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> str:
        full_env = {**os.environ, **IDENTITY, **(env or {})}
        proc = subprocess.run(
            ["git", *args],
            cwd=self.path,
            input=input,
            capture_output=True,
            text=True,
            env=full_env,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc.stdout.strip()

    def commit(self, message: str, *, file: str | None = None) -> str:
        """Commit a change to ``file`` (a fresh one by default) with ``message``; returns the sha."""
        self._counter += 1
        name = file or f"file{self._counter}.txt"
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as fh:
            fh.write(f"change {self._counter}\n")
        self.git("add", name)
        self.git("commit", "-q", "--no-verify", "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def checkout(self, *args: str) -> None:
        self.git("checkout", "-q", *args)

    def fast_import(self, stream: str) -> None:
        """Feed ``git fast-import`` (for histories of thousands of commits in a second)."""
        self.git("fast-import", "--quiet", input=stream)


@pytest.fixture
def make_repo(tmp_path: Path) -> Iterator[Callable[..., GitRepo]]:
    def make(name: str = "repo", *, bare: bool = False) -> GitRepo:
        return GitRepo(tmp_path / name, bare=bare)

    yield make


@pytest.fixture
def git_repo(make_repo: Callable[..., GitRepo]) -> GitRepo:
    return make_repo("repo")


def synthetic_history(count: int, message: Callable[[int], str], *, branch: str = "main") -> str:
    """A ``git fast-import`` stream of ``count`` commits on ``branch``, each touching one file."""
    lines: list[str] = []
    for i in range(count):
        msg = message(i).encode("utf-8")
        lines += [
            f"commit refs/heads/{branch}",
            f"mark :{i + 1}",
            f"committer Ada Tester <ada@example.com> {1767268800 + i} +0000",
            f"data {len(msg)}",
            msg.decode("utf-8"),
        ]
        if i:
            lines.append(f"from :{i}")
        lines += ["M 644 inline f.txt", f"data {len(str(i)) + 1}", str(i), ""]
    return "\n".join(lines) + "\n"
