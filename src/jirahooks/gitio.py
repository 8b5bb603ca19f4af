"""Reading commits from git: one ``git log`` call per range, whatever its size.

The only module besides ``hooks`` that runs git. ``GIT_*`` variables that a calling hook sets
(``GIT_DIR``, ``GIT_INDEX_FILE``…) are kept only when asked: commands run from inside a hook
must not be redirected to another repository by accident.

This module sits on the hook path: it imports only ``os``, ``re``, ``signal``,
``jirahooks.errors`` and ``jirahooks.subjects`` at load time.
git runs through ``os.posix_spawnp`` with two pipes (``subprocess`` costs more to import than
a bare interpreter start); ``Commit`` and ``Path`` load when a function that returns them runs.
"""

from __future__ import annotations

import os
import signal

from jirahooks.errors import GitError

# re-exported (the commit-msg judge uses them); ``event`` imports them from ``subjects`` itself,
# so this module's type-only import of ``event.Commit`` closes no import cycle
from jirahooks.subjects import is_merge_subject as is_merge_subject
from jirahooks.subjects import is_revert_message as is_revert_message
from jirahooks.subjects import subject_of as subject_of

TYPE_CHECKING = False  # not typing's: importing typing costs more than this whole module
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from jirahooks.event import Commit


# NUL ends a record (-z); US (0x1f) separates fields.
_FORMAT = "%H%x1f%P%x1f%an%x1f%ae%x1f%cn%x1f%ce%x1f%B"


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


def run_git(
    args: Sequence[str], *, cwd: str | Path | None = None, keep_git_vars: bool = False
) -> tuple[int, bytes, bytes]:
    """Run ``git [-C cwd] ARGS`` with our standard input; return (exit code, stdout, stderr).

    stdout is read to its end before stderr: git writes at most a few lines of diagnostics, far
    below a pipe's buffer, so it never blocks on stderr while we wait on stdout."""
    command = ["git", *(["-C", os.fspath(cwd)] if cwd is not None else []), *args]
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        pid = os.posix_spawnp(
            "git",
            command,
            git_env(keep_git_vars),
            file_actions=[(os.POSIX_SPAWN_DUP2, out_write, 1), (os.POSIX_SPAWN_DUP2, err_write, 2)],
            setsigdef=(signal.SIGPIPE,),  # Python ignores SIGPIPE; git must not inherit that
        )
    except OSError as exc:
        for fd in (out_read, out_write, err_read, err_write):
            os.close(fd)
        raise GitError(
            f"git cannot be run: {exc.strerror or exc}", hint="install git and put it on PATH"
        ) from exc
    os.close(out_write)
    os.close(err_write)
    with open(out_read, "rb") as out, open(err_read, "rb") as err:
        stdout, stderr = out.read(), err.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), stdout, stderr


def git(
    args: Sequence[str],
    *,
    cwd: str | Path | None = None,
    keep_git_vars: bool = False,
    check: bool = True,
) -> str:
    """Run git and return its standard output as text (UTF-8, undecodable bytes replaced)."""
    code, stdout, stderr = run_git(args, cwd=cwd, keep_git_vars=keep_git_vars)
    if check and code != 0:
        detail = stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(
            f"git {' '.join(args[:3])} failed: {detail[-1] if detail else f'exit {code}'}",
            hint="run jirahooks inside a git repository, with a valid revision range",
        )
    return stdout.decode("utf-8", "replace")


class LogRecord:
    """One commit as ``git log`` printed it: the light form of ``event.Commit`` (same names)."""

    __slots__ = (
        "author_email",
        "author_name",
        "committer_email",
        "committer_name",
        "hash",
        "message",
        "parents",
    )

    def __init__(
        self,
        hash: str,
        parents: tuple[str, ...],
        author_name: str,
        author_email: str,
        message: str,
        committer_name: str = "",
        committer_email: str = "",
    ) -> None:
        self.hash = hash
        self.parents = parents
        self.author_name = author_name
        self.author_email = author_email
        self.message = message
        self.committer_name = committer_name
        self.committer_email = committer_email

    def to_commit(self) -> Commit:
        from jirahooks.event import Commit

        return Commit(
            hash=self.hash,
            message=self.message,
            author_name=self.author_name,
            author_email=self.author_email,
            parents=self.parents,
            committer_name=self.committer_name,
            committer_email=self.committer_email,
        )


def parse_log_records(raw: str) -> list[LogRecord]:
    records: list[LogRecord] = []
    for record in raw.split("\0"):
        record = record.lstrip("\n")
        if not record:
            continue
        parts = record.split("\x1f", 6)
        if len(parts) != 7:
            continue
        sha, parents, name, email, cname, cemail, message = parts
        records.append(
            LogRecord(sha, tuple(parents.split()), name, email, message.rstrip("\n"), cname, cemail)
        )
    return records


def parse_log(raw: str) -> list[Commit]:
    return [record.to_commit() for record in parse_log_records(raw)]


def log_records(
    revisions: Sequence[str], *, cwd: str | Path | None = None, keep_git_vars: bool = False
) -> list[LogRecord]:
    """Commits of ``git log <revisions>``, oldest first (e.g. ``["A..B"]`` or
    ``["NEW", "--not", "--all"]``)."""
    raw = git(
        ["log", "-z", "--reverse", f"--format={_FORMAT}", *revisions, "--"],
        cwd=cwd,
        keep_git_vars=keep_git_vars,
    )
    return parse_log_records(raw)


def read_commits(
    revisions: Sequence[str], *, cwd: str | Path | None = None, keep_git_vars: bool = False
) -> list[Commit]:
    """``log_records`` as ``event.Commit`` values."""
    records = log_records(revisions, cwd=cwd, keep_git_vars=keep_git_vars)
    return [record.to_commit() for record in records]


def current_branch(*, cwd: str | Path | None = None) -> str:
    """The checked-out branch's short name, or '' on a detached HEAD."""
    return git(["symbolic-ref", "--short", "-q", "HEAD"], cwd=cwd, check=False).strip()


def repo_root(*, cwd: str | Path | None = None) -> Path | None:
    from pathlib import Path

    out = git(["rev-parse", "--show-toplevel"], cwd=cwd, check=False).strip()
    return Path(out) if out else None


def config_value(name: str, *, cwd: str | Path | None = None) -> str:
    return git(["config", "--get", name], cwd=cwd, check=False).strip()


def config_values(names: Sequence[str], *, cwd: str | Path | None = None) -> dict[str, str]:
    """Several config values in one git call (the last value wins, as with ``git config``);
    keys in lower case."""
    pattern = "^(" + "|".join(n.replace(".", "\\.") for n in names) + ")$"
    raw = git(["config", "-z", "--get-regexp", pattern], cwd=cwd, check=False)
    values: dict[str, str] = {}
    for record in raw.split("\0"):
        key, _, value = record.partition("\n")
        if key:
            values[key.lower()] = value
    return values


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
