"""Which commits a rule's result document lists, so its size grows with failures, not passes.

A push of 100,000 commits must not come back as 100,000 commits × every rule's facts (the answer
was ~1.9 KB per commit, 18.9 MB for 10,000 commits, to a hook that prints only failures). Per
rule, the document lists at most ``limit`` commits with all their facts — the failing ones first
(a commit with an ``ERROR`` or ``WARNING`` fact), then the others in push order while room is
left — and says the rest in two summary facts ("… and N more commits fail this rule", "N more
commits without problems"). Every failing commit is still named, by hash, in the rule's
``failingCommits``. Facts that are not about one commit (the branch, the PR, the rule as a
whole, Jira) are always kept: there are few of them.

Pure: facts in, a ``Listing`` out (docs/validation-api.md, "Bounded answers").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from jirahooks.engine.facts import Context, Fact, FactStatus

# Commits listed with their facts per rule: what a hook prints (hooks/report.py shows 10).
LISTED_COMMITS = 10
# A commit's subject in ``commitsUnderReview`` is cut here: the answer never echoes messages.
SUBJECT_CHARS = 200

_PROBLEMS = (FactStatus.ERROR, FactStatus.WARNING)
_PER_COMMIT = (Context.COMMIT, Context.COMMITS)


def commit_ref(fact: Fact) -> str:
    """The hash a fact is about, or ``""`` for a fact that is not about one commit."""
    if fact.ref and fact.contexts and fact.contexts[0] in _PER_COMMIT:
        return fact.ref
    return ""


@dataclass(frozen=True, slots=True)
class Listing:
    """What a rule's document shows of its per-commit facts."""

    listed: frozenset[str] | None  # hashes whose facts are kept; None: every commit
    failing: tuple[str, ...]  # every commit with a problem, in push order
    unlisted_failing: int = 0
    unlisted_other: int = 0

    @property
    def cut(self) -> bool:
        return self.listed is not None

    def keeps(self, fact: Fact) -> bool:
        ref = commit_ref(fact)
        return not ref or self.listed is None or ref in self.listed

    def lists(self, commit_hash: str) -> bool:
        return self.listed is None or commit_hash in self.listed


def listing(facts: Iterable[Fact], limit: int = LISTED_COMMITS) -> Listing:
    """The commits to list out of ``facts`` (``limit`` 0: all of them)."""
    failing_by_ref: dict[str, bool] = {}  # push order of first appearance
    for fact in facts:
        ref = commit_ref(fact)
        if ref:
            failing_by_ref[ref] = failing_by_ref.get(ref, False) or fact.status in _PROBLEMS
    failing = tuple(ref for ref, bad in failing_by_ref.items() if bad)
    if not limit or len(failing_by_ref) <= limit:
        return Listing(None, failing)
    listed = set(failing[:limit])
    room = limit - len(listed)
    for ref, bad in failing_by_ref.items():
        if room <= 0:
            break
        if not bad:
            listed.add(ref)
            room -= 1
    unlisted_failing = len(failing) - min(len(failing), limit)
    unlisted_other = len(failing_by_ref) - len(listed) - unlisted_failing
    return Listing(frozenset(listed), failing, unlisted_failing, unlisted_other)


def subject(message: str) -> str:
    """A commit message's first line, at most ``SUBJECT_CHARS`` characters."""
    line = message.split("\n", 1)[0].strip()
    return line if len(line) <= SUBJECT_CHARS else line[: SUBJECT_CHARS - 1] + "…"
