"""Reading a history as the changes a rule set would have judged: commits, pushes or pull requests.

Two git calls, whatever the size of the history: one ``git log`` for every commit of the range
(hash, parents, author, committer date, message) and one ``git log --first-parent`` for the
line of the target branch. The rest is done here, in memory:

* ``commit`` — every commit on its own, as the push of that one commit;
* ``push`` — one change per commit on the first-parent line: that commit with everything it
  brought in (for a merge, the merged branch's commits), i.e. ``P^1..P`` — what the branch
  received at that point, the closest to "one push" a history still shows;
* ``pr`` — the merge commits on the first-parent line whose subject a host wrote for a merged
  pull request (Bitbucket Cloud ``Merged in BRANCH (pull request #N)``, Bitbucket Data Center
  ``Merge pull request #N in P/R from BRANCH to TARGET``, GitHub ``Merge pull request #N from
  OWNER/BRANCH``, GitLab ``See merge request …!N`` in the body): one pull-request change with
  the PR's commits (``P^1..P^2``), its title from the message, its source branch from the
  subject. Other first-parent commits (direct pushes, squash merges the host's message does not
  mark) are counted, not judged.

``push`` in memory: walking the first-parent line oldest first, every commit reachable from
``P^1`` inside the range already belongs to an earlier change, so ``P^1..P`` is ``P`` plus the
commits reached from its other parents that no earlier change took.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path

from jirahooks import gitio
from jirahooks.errors import UsageError
from jirahooks.event import Commit, Event, PullRequest, Trigger


class Unit(StrEnum):
    """What one replayed change is."""

    COMMIT = "commit"
    PUSH = "push"
    PR = "pr"


@dataclass(frozen=True, slots=True)
class HistoryCommit:
    """One commit of the history, with its committer date (ISO 8601)."""

    commit: Commit
    date: str

    @property
    def hash(self) -> str:
        return self.commit.hash


@dataclass(frozen=True, slots=True)
class Change:
    """One thing the rules judge: its event, who made it, when, and what to call it."""

    ref: str  # the commit hash, the push's head, or "#N" for a pull request
    event: Event
    author: str
    date: str
    title: str


@dataclass(frozen=True)
class History:
    """The changes of a history and what was read to find them."""

    unit: Unit
    branch: str
    changes: tuple[Change, ...]
    commits: int  # commits read
    not_judged: int = 0  # first-parent commits that are no pull request (unit pr)


# NUL ends a record (-z); US (0x1f) separates fields.
_FORMAT = "%H%x1f%P%x1f%an%x1f%ae%x1f%cI%x1f%B"

# Subjects (and a body line) that hosts write for the merge of a pull request.
_PR_SUBJECTS = (
    # Bitbucket Data Center / Server
    re.compile(r"^Merge pull request #(?P<id>\d+) in \S+ from (?P<source>\S+) to (?P<target>\S+)"),
    # Bitbucket Cloud
    re.compile(r"^Merged in (?P<source>\S+) \(pull request #(?P<id>\d+)\)"),
    # GitHub ("from owner/branch"; the owner is dropped below)
    re.compile(r"^Merge pull request #(?P<id>\d+) from (?P<source>\S+)"),
)
_GITLAB_SUBJECT = re.compile(r"^Merge branch '(?P<source>[^']+)' into '?(?P<target>[^' ]+)'?")
_GITLAB_BODY = re.compile(r"^See merge request \S+!(?P<id>\d+)\s*$", re.MULTILINE)


def parse_since(value: str) -> str:
    """``--since``: an ISO 8601 date or date-time, checked here (git takes almost anything and
    silently reads nonsense as "now")."""
    text = value.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        raise UsageError(
            f"--since: not an ISO 8601 date: {value!r}",
            hint="give a date like 2026-01-31 or a date-time like 2026-01-31T12:00:00+01:00",
            code="BAD_DATE",
        ) from None


def revisions(range_: str | None, since: str | None, *, cwd: str | Path | None = None) -> list[str]:
    """The ``git log`` revision arguments for ``--range`` / ``--since`` (default: all of HEAD);
    each end of a range is checked, so a typo is a usage error that says which end."""
    if range_ is not None:
        text = range_.strip()
        ends = re.split(r"\.{2,3}", text, maxsplit=1)
        if not text or text.startswith("-") or len(ends) != 2 or not all(ends):
            raise UsageError(
                f"--range: expected A..B, got {range_!r}",
                hint="for example --range origin/main~500..origin/main, or --since 2026-01-01",
                code="BAD_RANGE",
            )
        for end in ends:
            _verify(end, cwd)
        spec = [text]
    else:
        _verify("HEAD", cwd)
        spec = ["HEAD"]
    return [f"--since={since}", *spec] if since else spec


def _verify(revision: str, cwd: str | Path | None) -> None:
    if revision.startswith("-"):
        raise UsageError(
            f"--range: {revision!r} is not a revision",
            hint="a branch, tag or commit",
            code="BAD_RANGE",
        )
    code, _, _ = gitio.run_git(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"], cwd=cwd
    )
    if code == 0:
        return
    if gitio.repo_root(cwd=cwd) is None:
        raise UsageError(
            "not inside a git repository",
            hint="run jirahooks replay in the repository whose history you want to replay",
            code="NOT_A_REPOSITORY",
        )
    what = "HEAD has no commits yet" if revision == "HEAD" else f"unknown revision {revision!r}"
    raise UsageError(
        f"--range: {what}",
        hint="check the name (git branch -a, git tag); fetch first if it is a remote branch",
        code="BAD_RANGE",
    )


def read_history(
    unit: Unit,
    revs: Sequence[str],
    *,
    branch: str,
    repository: str = "",
    cwd: str | Path | None = None,
) -> History:
    """The changes of ``git log REVS`` as ``unit`` says (see the module docstring)."""
    raw = gitio.git(["log", "-z", "--reverse", f"--format={_FORMAT}", *revs, "--"], cwd=cwd)
    commits = _parse(raw)
    if unit is Unit.COMMIT:
        changes = tuple(
            Change(
                c.hash,
                Event(
                    Trigger.PUSH,
                    branch,
                    (c.commit,),
                    repository=repository,
                    user=c.commit.author_name,
                ),
                c.commit.author_name,
                c.date,
                c.commit.subject,
            )
            for c in commits
        )
        return History(unit, branch, changes, len(commits))
    line = gitio.git(
        ["log", "--first-parent", "--reverse", "--format=%H", *revs, "--"], cwd=cwd
    ).split()
    by_hash = {c.hash: c for c in commits}
    order = {c.hash: i for i, c in enumerate(commits)}
    taken: set[str] = set()
    out: list[Change] = []
    not_judged = 0
    for head in line:
        top = by_hash.get(head)
        if top is None:
            continue
        brought = _brought_in(top, by_hash, taken)
        brought.sort(key=order.__getitem__)
        if unit is Unit.PUSH:
            out.append(
                Change(
                    head,
                    Event(
                        Trigger.PUSH,
                        branch,
                        tuple(by_hash[h].commit for h in brought),
                        repository=repository,
                        user=top.commit.author_name,
                    ),
                    top.commit.author_name,
                    top.date,
                    top.commit.subject,
                )
            )
            continue
        change = _pull_request(top, [by_hash[h] for h in brought if h != head], branch, repository)
        if change is None:
            not_judged += 1
        else:
            out.append(change)
    return History(unit, branch, tuple(out), len(commits), not_judged)


def _brought_in(
    top: HistoryCommit, by_hash: dict[str, HistoryCommit], taken: set[str]
) -> list[str]:
    """``top`` and the commits only its other parents reach (iterative: histories are deep)."""
    taken.add(top.hash)
    found = [top.hash]
    parents = top.commit.parents or ()
    stack = [p for p in parents[1:] if p in by_hash and p not in taken]
    while stack:
        sha = stack.pop()
        if sha in taken:
            continue
        taken.add(sha)
        found.append(sha)
        stack.extend(
            p for p in by_hash[sha].commit.parents or () if p in by_hash and p not in taken
        )
    return found


def _pull_request(
    merge: HistoryCommit, commits: list[HistoryCommit], target: str, repository: str
) -> Change | None:
    """The pull-request change a host's merge commit stands for, or None."""
    if len(merge.commit.parents or ()) < 2:
        return None
    message = merge.commit.message
    subject = merge.commit.subject
    number = source = ""
    for pattern in _PR_SUBJECTS:
        found = pattern.match(subject)
        if found:
            number, source = found["id"], found["source"]
            if pattern is _PR_SUBJECTS[2] and "/" in source:  # GitHub: OWNER/BRANCH
                source = source.split("/", 1)[1]
            break
    else:
        gitlab = _GITLAB_BODY.search(message)
        branch = _GITLAB_SUBJECT.match(subject)
        if gitlab is None or branch is None:
            return None
        number, source = gitlab["id"], branch["source"]
    title, description = _title_and_description(message)
    pr = PullRequest(
        id=number,
        title=title,
        description=description,
        source_branch=source,
        destination_branch=target,
        author=merge.commit.author_name,
    )
    event = Event(
        Trigger.PULL_REQUEST,
        source,
        tuple(c.commit for c in commits),
        pr,
        repository=repository,
        user=merge.commit.author_name,
    )
    return Change(f"#{number}", event, merge.commit.author_name, merge.date, title or subject)


def _title_and_description(message: str) -> tuple[str, str]:
    """A host's merge message: the subject line, then the PR's title, then its description
    (Bitbucket and GitHub both put the title in the first paragraph of the body)."""
    body = message.split("\n", 1)[1] if "\n" in message else ""
    lines = [line.rstrip() for line in body.strip("\n").splitlines()]
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return "", ""
    rest = "\n".join(lines[1:]).strip("\n")
    rest = _GITLAB_BODY.sub("", rest).strip()
    return lines[0].strip(), rest


def _parse(raw: str) -> list[HistoryCommit]:
    out: list[HistoryCommit] = []
    for record in raw.split("\0"):
        record = record.lstrip("\n")
        if not record:
            continue
        parts = record.split("\x1f", 5)
        if len(parts) != 6:
            continue
        sha, parents, name, email, when, message = parts
        commit = Commit(
            hash=sha,
            message=message.rstrip("\n"),
            author_name=name,
            author_email=email,
            parents=tuple(parents.split()),
        )
        out.append(HistoryCommit(commit, when))
    return out
