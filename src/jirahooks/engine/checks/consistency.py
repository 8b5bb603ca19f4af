"""Consistency: every key in the rule's targets references one and the same issue."""

from __future__ import annotations

from jirahooks.engine.checks.base import CheckContext, Outcome
from jirahooks.engine.facts import Code, Fact, FactStatus, Group, Source
from jirahooks.engine.plan import RulePlan
from jirahooks.rules.model import Target

_WHERE = {
    Target.BRANCH: "branch",
    Target.PR_TITLE: "PR title",
    Target.PR_DESCRIPTION: "PR description",
    Target.COMMITS: "commits",
}


def _commit_where(ref: str) -> str:
    # the commit a commit-msg hook checks has no hash yet: output.short_hash's "(new commit)"
    from jirahooks.output import NEW_COMMIT, short_hash

    label = short_hash(ref)
    return "the new commit" if label == NEW_COMMIT else f"commit {label}"


def consistency(ctx: CheckContext, plan: RulePlan) -> Outcome:
    """All keys in the selected targets (branch ``feature/ABC-1-x``, commits ``ABC-1``, PR title
        ``ABC-1``) must reference the same issue. Moved keys count as their current key when Jira
        resolved them, so ``OLD-1`` and ``NEW-7`` for the same issue are consistent. Targets without
        keys are left to ``key_present``. Keys whose project could not be classified leave a pass
    undetermined. Facts: MATCH / NOT_MATCH."""
    issues: dict[str, dict[str, None]] = {}  # issue -> ordered set of places
    for unit in plan.units:
        where = _commit_where(unit.ref) if unit.target is Target.COMMIT else _WHERE[unit.target]
        for key in unit.keys:
            issue = ctx.issue(key)
            current = issue.current_key if issue is not None else key
            issues.setdefault(current, {})[where] = None
    context = (plan.main_context,)
    # a key whose project could not be classified might reference another issue
    unclassified = {k for unit in plan.units for k in unit.unclassified_keys}
    if not issues:
        return Outcome(
            True,
            [
                Fact(
                    Code.CHECKED,
                    FactStatus.INFO,
                    Source.CONSISTENCY,
                    Group.MAIN,
                    context,
                    "consistency.none",
                )
            ],
            unclassified,
        )
    if len(issues) == 1:
        (key,) = issues
        return Outcome(
            True,
            [
                Fact(
                    Code.MATCH,
                    FactStatus.SUCCESS,
                    Source.CONSISTENCY,
                    Group.MAIN,
                    context,
                    "consistency.match",
                    {"key": key},
                )
            ],
            unclassified,
        )
    listed = "; ".join(
        f"{key} ({', '.join(list(places)[:3])}{', …' if len(places) > 3 else ''})"
        for key, places in issues.items()
    )
    return Outcome(
        False,
        [
            Fact(
                Code.NOT_MATCH,
                FactStatus.ERROR,
                Source.CONSISTENCY,
                Group.MAIN,
                context,
                "consistency.not_match",
                {"keys": listed},
            )
        ],
    )
