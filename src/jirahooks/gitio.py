"""Reading commits from git: one ``git log`` call per range, whatever its size.

The only module besides ``hooks`` that runs git. ``GIT_*`` variables that a calling hook sets
(``GIT_DIR``, ``GIT_INDEX_FILE``…) are kept only when asked: commands run from inside a hook
must not be redirected to another repository by accident.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from jirahooks.errors import GitError
from jirahooks.event import Commit

# NUL ends a record (-z); US (0x1f) separates fields.
_FORMAT = "%H%x1f%P%x1f%an%x1f%ae%x1f%B"


def git_env(keep_git_vars: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    if not keep_git_vars:
        for name in list(env):
            if name.startswith("GIT_") and name not in (
                "GIT_CONFIG_NOSYSTEM",
                "GIT_TERMINAL_PROMPT",
            ):
                del env[name]
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


def git(
    args: Sequence[str],
    *,
    cwd: str | Path | None = None,
    input: bytes | None = None,
    keep_git_vars: bool = False,
    check: bool = True,
) -> str:
    """Run git and return its standard output as text (UTF-8, undecodable bytes replaced)."""
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=input,
            capture_output=True,
            env=git_env(keep_git_vars),
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH", hint="install git") from exc
    if check and proc.returncode != 0:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(
            f"git {' '.join(args[:3])} failed: {detail[-1] if detail else f'exit {proc.returncode}'}",
            hint="run jirahooks inside a git repository, with a valid revision range",
        )
    return proc.stdout.decode("utf-8", "replace")


def parse_log(raw: str) -> list[Commit]:
    commits: list[Commit] = []
    for record in raw.split("\0"):
        record = record.lstrip("\n")
        if not record:
            continue
        parts = record.split("\x1f", 4)
        if len(parts) != 5:
            continue
        sha, parents, name, email, message = parts
        commits.append(
            Commit(
                hash=sha,
                message=message.rstrip("\n"),
                author_name=name,
                author_email=email,
                parents=tuple(parents.split()),
            )
        )
    return commits


def read_commits(
    revisions: Sequence[str], *, cwd: str | Path | None = None, keep_git_vars: bool = False
) -> list[Commit]:
    """Commits of ``git log <revisions>``, oldest first (e.g. ``["A..B"]`` or
    ``["NEW", "--not", "--all"]``)."""
    raw = git(
        ["log", "-z", "--reverse", f"--format={_FORMAT}", *revisions, "--"],
        cwd=cwd,
        keep_git_vars=keep_git_vars,
    )
    return parse_log(raw)


def current_branch(*, cwd: str | Path | None = None) -> str:
    """The checked-out branch's short name, or '' on a detached HEAD."""
    return git(["symbolic-ref", "--short", "-q", "HEAD"], cwd=cwd, check=False).strip()


def repo_root(*, cwd: str | Path | None = None) -> Path | None:
    out = git(["rev-parse", "--show-toplevel"], cwd=cwd, check=False).strip()
    return Path(out) if out else None


def config_value(name: str, *, cwd: str | Path | None = None) -> str:
    return git(["config", "--get", name], cwd=cwd, check=False).strip()


def clean_message(text: str, comment_char: str = "#") -> str:
    """A commit message as git would store it: comment lines and the scissors section removed,
    trailing blank lines dropped (``git commit --cleanup=strip``, roughly)."""
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith(f"{comment_char} ------------------------ >8"):
            break
        if comment_char and line.startswith(comment_char):
            continue
        lines.append(line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines)
