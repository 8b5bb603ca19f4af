"""JQL condition: every referenced issue matches the rule's JQL."""

from __future__ import annotations

from jirahooks.engine.checks.base import CheckContext, Outcome
from jirahooks.engine.facts import Code, FactStatus, Group, Source
from jirahooks.engine.plan import Unit
from jirahooks.rules.jql import check as jql_problem


def jql_condition(ctx: CheckContext, unit: Unit) -> Outcome:
    """Every key of the target that resolves must match the rule's ``jql`` (run on the
    connection that resolved the key). Keys that do not resolve are left to the validity checks.
    A JQL that fails the structural check (unbalanced parentheses or quotes, ``ORDER BY``, a
    dangling operator) is not sent to Jira and fails the target, even offline. Facts: MATCH /
    NOT_MATCH per issue."""
    jql = ctx.rule.checks.jql
    problem = jql_problem(jql)
    if problem is not None:
        # stored before the check existed, or edited behind the schema: never sent to Jira
        fact = unit.fact(
            Code.NOT_MATCH, FactStatus.ERROR, Source.JQL, "jql.unsafe", problem=problem.message
        )
        return Outcome(False, [fact])
    if ctx.offline:
        return Outcome(True, [unit.fact(Code.CHECKED, FactStatus.INFO, Source.JQL, "jira.offline")])
    result = ctx.jql.get(jql)
    out = Outcome()
    # a key whose project could not be classified may be an issue the JQL was never asked about
    out.undetermined.update(unit.unclassified_keys)
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
