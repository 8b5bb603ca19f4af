"""What the Process Guardian evaluates: one event (a commit, a push, a pull request).

Events are plain frozen dataclasses built by the edges (git, the Validation API, webhooks) and
read by the pure engine. Standard library only: this module sits on the hook path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from jirahooks.subjects import is_merge_subject, is_revert_message

ZERO_HASH = "0" * 40


class Trigger(StrEnum):
    """When a rule runs (product.md: triggers)."""

    COMMIT = "COMMIT"
    PUSH = "PUSH"
    PULL_REQUEST = "PULL_REQUEST"
    MERGE_COMMIT = "MERGE_COMMIT"


@dataclass(frozen=True, slots=True)
class Commit:
    """One commit: hash, full message, author, (when known) parents and committer."""

    hash: str
    message: str
    author_name: str = ""
    author_email: str = ""
    parents: tuple[str, ...] | None = None
    url: str | None = None
    committer_name: str = ""  # from git; the Validation API's commits carry none
    committer_email: str = ""

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0].strip()

    @property
    def is_merge(self) -> bool:
        if self.parents is not None:
            return len(self.parents) > 1
        return is_merge_subject(self.subject)

    @property
    def is_revert(self) -> bool:
        return is_revert_message(self.message)

    @property
    def short_hash(self) -> str:
        from jirahooks.output import short_hash

        return short_hash(self.hash)


@dataclass(frozen=True, slots=True)
class PullRequest:
    """The pull-request part of a PULL_REQUEST / MERGE_COMMIT event."""

    id: str
    title: str
    description: str = ""
    source_branch: str = ""
    destination_branch: str = ""
    author: str = ""
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """One thing to evaluate. ``branch`` is the current (COMMIT), pushed (PUSH) or source
    (PULL_REQUEST) branch; ``user`` is who pushed or opened the PR; ``groups`` their groups."""

    trigger: Trigger
    branch: str = ""
    commits: tuple[Commit, ...] = ()
    pull_request: PullRequest | None = None
    repository: str = ""
    user: str = ""
    groups: frozenset[str] = field(default_factory=frozenset)

    def __repr__(self) -> str:
        return (
            f"Event({self.trigger.value}, branch={self.branch!r}, commits={len(self.commits)}, "
            f"pr={self.pull_request.id if self.pull_request else None!r}, repo={self.repository!r})"
        )

    @property
    def destination_branch(self) -> str:
        return self.pull_request.destination_branch if self.pull_request else ""

    @property
    def is_empty(self) -> bool:
        """Nothing to look at: no branch, no commits, no PR (e.g. a branch deletion)."""
        return not self.branch and not self.commits and self.pull_request is None
