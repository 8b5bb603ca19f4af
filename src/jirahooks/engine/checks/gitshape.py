"""Git-shape checks: no merge commits; a single (squashed) commit."""

from __future__ import annotations

from jirahooks.engine.checks.base import CheckContext, Outcome
from jirahooks.engine.facts import Code, Context, Fact, FactStatus, Group, Source
from jirahooks.engine.plan import RulePlan, Unit


def no_merge_commits(ctx: CheckContext, unit: Unit) -> Outcome:
    """No commit of the target may be a merge commit (more than one parent; when parents are
    unknown, as in the Validation API, git's and the hosts' merge subjects). Branch and PR
    targets have no commits and pass."""
    out = Outcome()
    for commit in unit.commits:
        if commit.is_merge:
            out.passed = False
            out.facts.append(
                unit.fact(
                    Code.NOT_MATCH,
                    FactStatus.ERROR,
                    Source.CONDITION,
                    "merge.found",
                    ref=commit.hash,
                    hash=commit.short_hash,
                )
            )
    if out.passed and unit.commits:
        message = "merge.none" if len(unit.commits) == 1 else "merge.none_in_set"
        out.facts.append(
            unit.fact(
                Code.MATCH,
                FactStatus.SUCCESS,
                Source.CONDITION,
                message,
                group=Group.DETAIL,
                target=unit.noun,
            )
        )
    return out


def single_commit(ctx: CheckContext, plan: RulePlan) -> Outcome:
    """Exactly one commit (squash before merge). Counts the commits the rule looks at."""
    count = len(plan.commits)
    context = (Context.COMMITS,)
    if count == 1:
        return Outcome(
            True,
            [
                Fact(
                    Code.MATCH,
                    FactStatus.SUCCESS,
                    Source.CONDITION,
                    Group.MAIN,
                    context,
                    "single.ok",
                )
            ],
        )
    if count == 0:
        return Outcome(
            True,
            [
                Fact(
                    Code.CHECKED,
                    FactStatus.INFO,
                    Source.CONDITION,
                    Group.MAIN,
                    context,
                    "single.none",
                )
            ],
        )
    return Outcome(
        False,
        [
            Fact(
                Code.NOT_MATCH,
                FactStatus.ERROR,
                Source.CONDITION,
                Group.MAIN,
                context,
                "single.too_many",
                {"count": count},
            )
        ],
    )
