"""Replaying the evaluations a server stored: "try these rules on the last N changes".

A stored evaluation keeps its event as the Validation API and the PR worker wrote it (trigger,
branch, commits with hash, message and author, and a pull request's title, description and
branches). ``change_from_stored`` turns one back into a ``Change``; ``compare`` sets the verdict
a rule set gives now beside the verdict that was stored: *newly blocked* (stored anything but
BLOCK, BLOCK now), *newly passing* (stored BLOCK, not BLOCK now), or unchanged — "now" with
every rule enforced, as in the replay of a history (``replay.run.enforced_status``). Pure: the web
page (``server.web.pages_replay``) reads the rows and runs the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jirahooks.engine import Evaluation, Status
from jirahooks.engine.facts import FactStatus
from jirahooks.event import Commit, Event, PullRequest, Trigger
from jirahooks.replay.history import Change
from jirahooks.replay.run import enforced_result, enforced_status


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return value if isinstance(value, str) else ""


def change_from_stored(
    ref: str, event: Any, repository: str, date: str, user: str = ""
) -> Change | None:
    """The change a stored event describes, or None when the row holds no readable event."""
    if not isinstance(event, Mapping):
        return None
    try:
        trigger = Trigger(_text(event, "trigger") or "PUSH")
    except ValueError:
        return None
    commits = tuple(
        Commit(
            hash=_text(c, "hash"),
            message=_text(c, "message"),
            author_name=_text(c, "authorDisplayName"),
            url=_text(c, "url") or None,
        )
        for c in event.get("commits") or ()
        if isinstance(c, Mapping)
    )
    pr = None
    raw_pr = event.get("pullRequest")
    if isinstance(raw_pr, Mapping):
        pr = PullRequest(
            id=str(raw_pr.get("id") or ""),
            title=_text(raw_pr, "title"),
            description=_text(raw_pr, "description"),
            source_branch=_text(raw_pr, "sourceBranch"),
            destination_branch=_text(raw_pr, "destinationBranch"),
            author=_author(raw_pr.get("author")),
            url=_text(raw_pr, "url") or None,
        )
    branch = _text(event, "branch")
    authors = list(dict.fromkeys(c.author_name for c in commits if c.author_name))
    author = user or (pr.author if pr and pr.author else ", ".join(authors[:3]))
    if pr is not None:
        title = pr.title
    elif commits:
        title = commits[-1].subject
    else:
        title = branch
    return Change(
        ref,
        Event(trigger, branch, commits, pr, repository=repository, user=user),
        author,
        date,
        title,
    )


def _author(value: Any) -> str:
    """A pull request's author as stored: a name, or the host's user object."""
    if isinstance(value, Mapping):
        value = value.get("displayName") or value.get("name")
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Difference:
    """One change whose verdict the rule set would change."""

    change: Change
    stored: str
    now: str
    reasons: tuple[str, ...]  # why it blocks now (newly blocked), empty otherwise


@dataclass
class Comparison:
    """Stored verdicts against the verdicts of the rule set tried."""

    changes: int = 0
    newly_blocked: list[Difference] = field(default_factory=list)
    newly_passing: list[Difference] = field(default_factory=list)
    still_blocked: int = 0
    unchanged: int = 0
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> title, counts

    def add(self, change: Change, stored: str, evaluation: Evaluation, locale: str) -> None:
        now = enforced_result(evaluation).value
        self.changes += 1
        for rv in evaluation.rule_validations:
            entry = self.rules.setdefault(
                rv.rule.id,
                {"title": rv.rule.localized(locale).title, "BLOCK": 0, "WARNING": 0, "PASS": 0},
            )
            status = enforced_status(rv).value
            if status in entry:
                entry[status] += 1
        blocked_now = now == Status.BLOCK.value
        blocked_then = stored == Status.BLOCK.value
        if blocked_now and not blocked_then:
            self.newly_blocked.append(Difference(change, stored, now, _reasons(evaluation, locale)))
        elif blocked_then and not blocked_now:
            self.newly_passing.append(Difference(change, stored, now, ()))
        elif blocked_now:
            self.still_blocked += 1
        else:
            self.unchanged += 1


def _reasons(evaluation: Evaluation, locale: str, limit: int = 3) -> tuple[str, ...]:
    out: list[str] = []
    for rv in evaluation.rule_validations:
        if enforced_status(rv) is not Status.BLOCK:
            continue
        title = rv.rule.localized(locale).title
        facts = [f for f in rv.check_facts if f.status is FactStatus.ERROR][:limit]
        if facts:
            out.extend(f"{title}: {f.message(locale)}" for f in facts)
        else:
            out.extend(f"{title}: {text}" for text in rv.headlines(locale))
    return tuple(out)
