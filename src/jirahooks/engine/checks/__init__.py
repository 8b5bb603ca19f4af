"""The check registry: one ordered table. Each check's docstring is its documentation.

Unit checks run on every target of a rule (a commit, the commit set, the branch, the PR title or
description); rule checks run once on the whole rule. A test keeps ids unique and every check
documented in docs/rules.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from jirahooks.engine.checks import consistency, gitshape, issue, jql, naming, smart
from jirahooks.engine.checks.base import CheckContext, Outcome
from jirahooks.engine.plan import RulePlan, Unit
from jirahooks.rules.model import Checks, KeysValid

UnitCheck = Callable[[CheckContext, Unit], Outcome]
RuleCheck = Callable[[CheckContext, RulePlan], Outcome]


@dataclass(frozen=True)
class CheckSpec:
    id: str
    enabled: Callable[[Checks], bool]
    unit: UnitCheck | None = None
    rule: RuleCheck | None = None

    @property
    def doc(self) -> str:
        func = self.unit or self.rule
        return " ".join((func.__doc__ or "").split()) if func else ""


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("key_present", lambda c: c.key_present, unit=issue.key_present),
    CheckSpec("escaped_keys", lambda c: c.needs_keys, unit=issue.escaped_keys),
    CheckSpec(
        "ignore_unknown_projects", lambda c: c.ignore_unknown_projects, unit=issue.unknown_projects
    ),
    CheckSpec("keys_valid_all", lambda c: c.keys_valid is KeysValid.ALL, unit=issue.keys_valid_all),
    CheckSpec("keys_valid_one", lambda c: c.keys_valid is KeysValid.ONE, unit=issue.keys_valid_one),
    CheckSpec("jql", lambda c: bool(c.jql), unit=jql.jql_condition),
    CheckSpec("naming", lambda c: bool(c.naming), unit=naming.naming),
    CheckSpec("no_merge_commits", lambda c: c.no_merge_commits, unit=gitshape.no_merge_commits),
    CheckSpec("consistency", lambda c: c.consistency, rule=consistency.consistency),
    CheckSpec("single_commit", lambda c: c.single_commit, rule=gitshape.single_commit),
    CheckSpec("smart_commits", lambda c: c.smart_commits, unit=smart.smart_commits),
)

__all__ = ["CHECKS", "CheckContext", "CheckSpec", "Outcome"]
