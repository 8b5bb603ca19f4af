"""What every check receives and returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from jirahooks.engine.facts import Fact
from jirahooks.engine.resolver import IssueData, JqlResult, Resolution
from jirahooks.rules.model import Rule, Settings


@dataclass(frozen=True, slots=True)
class CheckContext:
    """Everything resolved for the evaluation; checks only read it."""

    rule: Rule
    settings: Settings
    resolution: Resolution
    jql: Mapping[str, JqlResult]
    offline: bool

    def issue(self, key: str) -> IssueData | None:
        return self.resolution.issues.get(key)


@dataclass(slots=True)
class Outcome:
    """A check's verdict on one target (or on the whole rule).

    ``passed`` False fails the target. ``undetermined`` holds keys whose answer depended on a
    Jira that could not be asked: the Jira-unreachable policy decides what they do.
    """

    passed: bool = True
    facts: list[Fact] = field(default_factory=list)
    undetermined: set[str] = field(default_factory=set)
