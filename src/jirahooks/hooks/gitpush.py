"""What git hands a hook, turned into events. Standard library only (plus ``gitio``).

* commit-msg: ``argv[1]`` is the message file; the commit does not exist yet, so it is sent
  with the all-zero hash; author from ``git config user.name``, branch from
  ``git symbolic-ref --short HEAD`` (``""`` on a detached HEAD);
* pre-push: stdin lines ``<local_ref> <local_sha> <remote_ref> <remote_sha>``; a local sha of
  all zeros is a deletion;
* pre-receive: stdin lines ``<old_sha> <new_sha> <ref>``; update: ``argv = REF OLD NEW``; a new
  sha of all zeros is a deletion, an old sha of all zeros a creation.

On the installed hook's path (``jirahooks.hooks.entry``), so it loads only ``os``, ``gitio`` and
``errors``; the ``Event`` / ``Commit`` types load in the functions that return them.
"""

from __future__ import annotations

import os

from jirahooks import gitio
from jirahooks.errors import EnvironmentProblem, UsageError

TYPE_CHECKING = False  # the hook path does not import typing
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from jirahooks.event import Event

HEADS = "refs/heads/"
TAGS = "refs/tags/"
ZERO_HASH = "0" * 40


class RefUpdate:
    """One ref a push changes: ``old`` → ``new`` on ``ref`` (full name, e.g. refs/heads/main).
    ``local_ref`` (pre-push only) is the pushing side's ref ("HEAD" from a detached HEAD)."""

    __slots__ = ("local_ref", "new", "old", "ref")

    def __init__(self, ref: str, old: str, new: str, local_ref: str = "") -> None:
        self.ref = ref
        self.old = old
        self.new = new
        self.local_ref = local_ref

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RefUpdate):
            return NotImplemented
        return (self.ref, self.old, self.new, self.local_ref) == (
            other.ref,
            other.old,
            other.new,
            other.local_ref,
        )

    def __hash__(self) -> int:
        return hash((self.ref, self.old, self.new, self.local_ref))

    def __repr__(self) -> str:
        return f"RefUpdate({self.ref!r}, {self.old!r}, {self.new!r}, {self.local_ref!r})"

    @property
    def deletion(self) -> bool:
        return set(self.new) == {"0"}

    @property
    def creation(self) -> bool:
        return set(self.old) == {"0"}

    @property
    def is_branch(self) -> bool:
        return self.ref.startswith(HEADS)

    @property
    def is_tag(self) -> bool:
        return self.ref.startswith(TAGS)

    @property
    def branch(self) -> str:
        return self.ref[len(HEADS) :] if self.is_branch else ""


def read_commit_message(
    message_file: str, *, git_dir: str = "", cwd: str | Path | None = None
) -> tuple[str, str, str]:
    """(message, author, branch) of a commit being created: the message file with comment lines
    stripped as git does, ``user.name``, and the branch (``""`` on a detached HEAD)."""
    try:
        with open(message_file, encoding="utf-8", errors="replace") as fh:
            raw = fh.read()
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot read the commit message file {message_file}: {exc.strerror}",
            hint="git passes the message file as the hook's first argument",
        ) from exc
    names = ("core.commentchar", "core.commentstring")
    config = gitio.config_values((*names, "user.name"), cwd=cwd)
    from jirahooks.hooks.prepare import command_line_config, comment_prefix

    # git -c core.commentChar=… reaches hooks in GIT_CONFIG_PARAMETERS only; "auto" is the
    # character git chose for this message, read from its comment lines
    config.update(command_line_config(os.environ.get("GIT_CONFIG_PARAMETERS", ""), names))
    configured = config.get("core.commentstring") or config.get("core.commentchar") or ""
    message = gitio.clean_message(raw, comment_prefix(raw, configured)[:1])
    return message, config.get("user.name", ""), head_branch(git_dir, cwd=cwd)


def head_branch(git_dir: str = "", *, cwd: str | Path | None = None) -> str:
    """The checked-out branch's short name, or '' on a detached HEAD. Read from ``HEAD`` in
    ``git_dir`` when it is the usual ``ref: refs/heads/…`` or a commit id (no git call); asked
    from git otherwise (a reftable repository, an unusual symbolic ref, no ``git_dir``)."""
    if git_dir:
        try:
            with open(os.path.join(git_dir, "HEAD"), encoding="utf-8") as fh:
                head = fh.read().strip()
        except OSError:
            head = ""
        if head.startswith("ref: " + HEADS) and head != "ref: refs/heads/.invalid":
            return head[len("ref: " + HEADS) :]
        if len(head) in (40, 64) and all(c in "0123456789abcdef" for c in head):
            return ""
    return gitio.current_branch(cwd=cwd)


def commit_msg_event(message_file: str, *, cwd: str | Path | None = None) -> Event:
    """The COMMIT event for a commit being created (the all-zero hash: it does not exist yet)."""
    from jirahooks.event import Commit, Event, Trigger

    message, author, branch = read_commit_message(message_file, cwd=cwd)
    return Event(Trigger.COMMIT, branch, (Commit(ZERO_HASH, message, author_name=author),))


def parse_pre_push(text: str) -> list[RefUpdate]:
    """pre-push stdin → updates (remote ref, remote sha → local sha), deletions included."""
    updates: list[RefUpdate] = []
    for line in text.splitlines():
        parts = line.rsplit(maxsplit=3)
        if len(parts) != 4:
            continue
        local_ref, local_sha, remote_ref, remote_sha = parts
        updates.append(RefUpdate(remote_ref, remote_sha, local_sha, local_ref))
    return updates


def pre_commit_push(environ: Mapping[str, str] | None = None) -> list[RefUpdate] | None:
    """The push as the pre-commit framework describes it in its environment, if it does.

    pre-commit consumes git's pre-push stdin and passes the first pushed ref on as
    ``PRE_COMMIT_TO_REF`` / ``PRE_COMMIT_LOCAL_BRANCH`` / ``PRE_COMMIT_REMOTE_BRANCH``.
    """
    env = os.environ if environ is None else environ
    to_ref = env.get("PRE_COMMIT_TO_REF", "")
    if not to_ref:
        return None
    local = env.get("PRE_COMMIT_LOCAL_BRANCH", "") or "HEAD"
    remote = env.get("PRE_COMMIT_REMOTE_BRANCH", "") or local
    return [RefUpdate(remote, env.get("PRE_COMMIT_FROM_REF", "") or ZERO_HASH, to_ref, local)]


def parse_pre_receive(text: str) -> list[RefUpdate]:
    """pre-receive stdin (``<old> <new> <ref>`` lines) → updates."""
    updates: list[RefUpdate] = []
    for line in text.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3:
            old, new, ref = parts
            updates.append(RefUpdate(ref.strip(), old, new))
    return updates


def update_args(args: list[str]) -> RefUpdate:
    """The update hook's ``REF OLD NEW`` arguments."""
    if len(args) != 3:
        raise UsageError(
            "the update hook takes three arguments: REF OLD NEW",
            hint="git calls it as: hooks/update <ref> <old-sha> <new-sha>",
        )
    return RefUpdate(args[0], args[1], args[2])


def pushed_branch_name(update: RefUpdate) -> str:
    """The branch name the reference client sends for a pushed ref: the local ref's short name
    (``HEAD`` from a detached HEAD), else the remote ref's."""
    for ref in (update.local_ref, update.ref):
        if ref.startswith(HEADS):
            return ref[len(HEADS) :]
        if ref:
            return ref
    return ""


def pre_push_request(
    updates: list[RefUpdate], *, cwd: str | Path | None = None
) -> tuple[str, list[gitio.LogRecord]] | None:
    """What the reference client sends for a whole pre-push: the last pushed branch's name and
    the union of the commits not yet on any remote. None when only deletions (and tags) are
    pushed: nothing to ask."""
    pushed = [u for u in updates if not u.deletion and not u.is_tag]
    if not pushed:
        return None
    shas = list(dict.fromkeys(u.new for u in pushed))
    commits = gitio.log_records([*shas, "--not", "--remotes"], cwd=cwd)
    return pushed_branch_name(pushed[-1]), commits


def ref_events(
    updates: list[RefUpdate],
    *,
    exclude: list[str],
    keep_git_vars: bool = False,
    cwd: str | Path | None = None,
    user: str = "",
    repository: str = "",
) -> list[tuple[RefUpdate, Event]]:
    """One PUSH event per pushed branch with the commits new to it: ``git log NEW --not
    <exclude>`` (``--all`` in pre-receive: refs are not updated yet, so that is exactly what
    the repository already has; ``--remotes`` in pre-push). Deletions and tags are skipped."""
    from jirahooks.event import Event, Trigger

    events: list[tuple[RefUpdate, Event]] = []
    for update in updates:
        if update.deletion or not update.is_branch:
            continue
        commits = gitio.read_commits(
            [update.new, "--not", *exclude], cwd=cwd, keep_git_vars=keep_git_vars
        )
        event = Event(Trigger.PUSH, update.branch, tuple(commits), repository=repository, user=user)
        events.append((update, event))
    return events
