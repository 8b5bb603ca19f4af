"""Evaluating many changes with one batched Jira pass, and summing the verdicts up.

The same three steps as a push of many refs (``jirahooks.hooks.local``, whose recording and
prefetched resolvers are reused here): every change is evaluated against a resolver that only
records what the engine asks (no I/O); the real resolver is asked once — ``projects()`` if a
rule ignores unknown projects, ``resolve()`` with every key of the whole history, ``match_jql()``
once per distinct JQL — and every change is evaluated again from those answers. The Jira
client splits ``resolve`` into its batches (100 keys per request on Cloud, 500 on Data Center)
and each JQL into its own (1,000 issue ids per ``jql/match`` on Cloud), so a history costs about
``⌈keys / 100⌉`` + a few requests per connection, whatever the number of changes. There is no time budget (a hook's): the client's own timeouts and retry
policy apply, and a connection that fails leaves its keys undetermined — the settings'
``jira_unreachable`` policy decides, visibly, as in every other evaluation.

Verdicts are counted **as enforced**: a rule in ``warn`` or ``evaluate`` mode (the rule modes
of issue 16 §1, which keep what enforce would have said in ``RuleValidation.enforced_status``)
counts with that status — a replay answers "what would this rule set block once enforced?",
the step between evaluating a rule and enforcing it (docs/rules.md, Rolling out a rule).

``add`` keeps what the report needs from each evaluation (statuses per rule, and for the
changes it would block, the reasons) and drops the evaluation, so memory grows with the
failures, not with the history.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jirahooks.engine import Evaluation, Resolver, Status, evaluate
from jirahooks.engine.facts import FactStatus, RuleValidation, overall
from jirahooks.engine.resolver import JqlResult
from jirahooks.hooks.local import Prefetched, PrefetchedResolver, RecordingResolver
from jirahooks.replay.history import Change
from jirahooks.rules.model import Rule, Settings

# progress(phase, done, total): phase is "plan", "jira" or "judge"
Progress = Callable[[str, int, int], None]
REASONS_PER_RULE = 5  # facts quoted per failing rule of one change


def _quiet(phase: str, done: int, total: int) -> None:
    return None


@dataclass
class RuleTotals:
    """How often one rule blocked, warned, passed or did not apply."""

    id: str
    title: str
    counts: Counter[str] = field(default_factory=Counter)


@dataclass
class GroupTotals:
    """Changes and their verdicts for one author or one branch."""

    name: str
    counts: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class RuleFailure:
    """Why one rule blocked (or warned about) one change."""

    rule: str
    title: str
    status: str
    reasons: tuple[tuple[str, str], ...]  # (commit hash or "", message)


@dataclass(frozen=True)
class Failure:
    """A change the rule set would block or warn about."""

    ref: str
    status: str
    author: str
    branch: str
    date: str
    title: str
    commits: int
    rules: tuple[RuleFailure, ...]


@dataclass
class Summary:
    """What a replay found: the report's data (rendered by ``jirahooks.replay.report``)."""

    unit: str
    branch: str
    repository: str
    source: str  # where the rules came from
    changes: int = 0
    commits: int = 0
    not_judged: int = 0
    results: Counter[str] = field(default_factory=Counter)
    rules: dict[str, RuleTotals] = field(default_factory=dict)
    authors: dict[str, GroupTotals] = field(default_factory=dict)
    branches: dict[str, GroupTotals] = field(default_factory=dict)
    days: dict[str, Counter[str]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    keys: int = 0
    jira_calls: int = 0
    jira: str = "offline"  # offline | asked
    jira_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> int:
        return self.results[Status.BLOCK.value]


async def evaluate_changes(
    changes: Sequence[Change],
    rules: Sequence[Rule],
    resolver: Resolver,
    *,
    settings: Settings,
    progress: Progress = _quiet,
    on_result: Callable[[Change, Evaluation], None] | None = None,
    run_cpu: Any = None,
) -> tuple[int, int]:
    """Evaluate every change with one batched Jira pass; ``on_result`` sees each evaluation.
    Returns (resolver calls, distinct keys asked)."""
    total = len(changes)
    data = Prefetched()
    keys = 0
    judge: Resolver = resolver
    if not resolver.offline:
        if any(r.enabled and r.checks.ignore_unknown_projects for r in rules):
            progress("jira", 0, 1)
            data.projects = await resolver.projects()
            data.calls += 1
        known = data.projects if data.projects.projects is not None else None
        recorder = RecordingResolver(known)
        for i, change in enumerate(changes):
            await evaluate(change.event, rules, recorder, settings=settings, run_cpu=run_cpu)
            if i % 200 == 0:
                progress("plan", i, total)
        progress("plan", total, total)
        keys = len(recorder.keys)
        steps = 1 + len(recorder.jql)
        progress("jira", 0, steps)
        if recorder.keys:
            data.resolution = await resolver.resolve(list(recorder.keys))
            data.calls += 1
        progress("jira", 1, steps)
        for n, (jql, wanted) in enumerate(recorder.jql.items(), start=2):
            found = [k for k in wanted if k in data.resolution.issues]
            if found:
                data.jql[jql] = await resolver.match_jql(jql, found)
                data.calls += 1
            else:
                data.jql[jql] = JqlResult()
            progress("jira", n, steps)
        judge = PrefetchedResolver(data)
    for i, change in enumerate(changes):
        evaluation = await evaluate(change.event, rules, judge, settings=settings, run_cpu=run_cpu)
        if on_result is not None:
            on_result(change, evaluation)
        if i % 200 == 0:
            progress("judge", i, total)
    progress("judge", total, total)
    return data.calls, keys


def enforced_status(rv: RuleValidation) -> Status:
    """What ``rv``'s rule says when enforced: its mode's ``enforced_status`` where the mode
    changed the status (warn, evaluate), else its status."""
    enforced = getattr(rv, "enforced_status", None)
    return enforced if isinstance(enforced, Status) else rv.status


def enforced_result(evaluation: Evaluation) -> Status:
    """The evaluation's result with every rule enforced."""
    if not evaluation.rule_validations:
        return evaluation.result
    return overall([enforced_status(rv) for rv in evaluation.rule_validations])


def new_summary(unit: str, branch: str, repository: str, source: str) -> Summary:
    return Summary(unit=unit, branch=branch, repository=repository, source=source)


def add(summary: Summary, change: Change, evaluation: Evaluation, locale: str = "en-US") -> None:
    """Count one evaluated change into ``summary``."""
    result = enforced_result(evaluation).value
    summary.changes += 1
    summary.results[result] += 1
    author = change.author or "(unknown)"
    branch = change.event.branch or "(none)"
    summary.authors.setdefault(author, GroupTotals(author)).counts[result] += 1
    summary.branches.setdefault(branch, GroupTotals(branch)).counts[result] += 1
    summary.days.setdefault(change.date[:10] or "(undated)", Counter())[result] += 1
    failing: list[RuleFailure] = []
    for rv in evaluation.rule_validations:
        rule = rv.rule.localized(locale)
        totals = summary.rules.setdefault(rv.rule.id, RuleTotals(rv.rule.id, rule.title))
        status = enforced_status(rv)
        totals.counts[status.value] += 1
        if status in (Status.BLOCK, Status.WARNING):
            failing.append(_rule_failure(rv, status, rule.title, locale))
    for fact in evaluation.system_facts:
        if fact.status in (FactStatus.ERROR, FactStatus.WARNING):
            message = fact.message(locale)
            if message not in summary.jira_problems:
                summary.jira_problems.append(message)
    if failing:
        summary.failures.append(
            Failure(
                ref=change.ref,
                status=result,
                author=author,
                branch=branch,
                date=change.date,
                title=change.title,
                commits=len(change.event.commits),
                rules=tuple(failing),
            )
        )


def _rule_failure(rv: RuleValidation, status: Status, title: str, locale: str) -> RuleFailure:
    reasons: list[tuple[str, str]] = []
    for fact in rv.check_facts:
        if fact.status is FactStatus.ERROR or (
            status is Status.WARNING and fact.status is FactStatus.WARNING
        ):
            reasons.append((fact.ref, fact.message(locale)))
            if len(reasons) >= REASONS_PER_RULE:
                break
    if not reasons:
        reasons = [("", text) for text in rv.headlines(locale)]
    return RuleFailure(rv.rule.id, title, status.value, tuple(reasons))
