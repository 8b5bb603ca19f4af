"""JQL condition: every referenced issue matches the rule's JQL."""

from __future__ import annotations

from jirahooks.engine.checks.base import CheckContext, Outcome
from jirahooks.engine.facts import Code, FactStatus, Group, Source
from jirahooks.engine.plan import Unit


def jql_condition(ctx: CheckContext, unit: Unit) -> Outcome:
    """Every key of the target that resolves must match the rule's ``jql`` (run on the
    connection that resolved the key). Keys that do not resolve are left to the validity checks.
    Facts: MATCH / NOT_MATCH per issue."""
    jql = ctx.rule.checks.jql
    if ctx.offline:
        return Outcome(True, [unit.fact(Code.CHECKED, FactStatus.INFO, Source.JQL, "jira.offline")])
    result = ctx.jql.get(jql)
    out = Outcome()
    for key in unit.keys:
        issue = ctx.issue(key)
        if issue is None:
            if key in ctx.resolution.undetermined:
                out.undetermined.add(key)
            continue
        if result is not None and key in result.matching:
            out.facts.append(
                unit.fact(
                    Code.MATCH,
                    FactStatus.SUCCESS,
                    Source.JQL,
                    "jql.match",
                    group=Group.DETAIL,
                    key=key,
                    jql=jql,
                )
            )
        elif result is None or key in result.undetermined:
            out.undetermined.add(key)
            out.facts.append(
                unit.fact(
                    Code.CHECKED,
                    FactStatus.WARNING,
                    Source.JIRA_CONNECTION,
                    "jql.undetermined",
                    group=Group.DETAIL,
                    key=key,
                )
            )
        else:
            out.passed = False
            out.facts.append(
                unit.fact(
                    Code.NOT_MATCH,
                    FactStatus.ERROR,
                    Source.JQL,
                    "jql.not_match",
                    key=key,
                    status=issue.status or "?",
                    jql=jql,
                )
            )
    if not out.passed:
        out.undetermined.clear()
    return out
