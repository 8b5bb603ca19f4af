"""The Process Guardian: ``evaluate(event, rules, resolver) -> Evaluation``.

Pure apart from the resolver it is handed. Batched by design:

1. plan every applicable rule (conditions, targets, keys) — no I/O;
2. ask the resolver for project sets (once, only if a rule ignores unknown projects); when a
   project list could not be read, keys of projects no answering connection lists are
   *undetermined* (not ignored, not invalid) unless step 3 finds them;
3. resolve every key of every rule in one call;
4. run each distinct JQL once over the keys that resolved (a JQL that fails the structural
   check of ``rules.jql`` is never sent: its rule fails closed);
5. judge each rule with the check registry; combine statuses.

So the number of resolver calls per evaluation is at most ``2 + distinct JQLs`` whatever the
number of commits.

Steps 1 and 5 are the CPU-heavy ones (key extraction over every commit, the checks of every
rule): ``run_cpu``, when given, runs them — the server hands its thread pool so the event loop
keeps answering while a 10,000-commit push is judged. Without it they run inline (hooks, CLI).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import Any, Protocol, TypeVar

from jirahooks.engine.checks import CHECKS, CheckContext
from jirahooks.engine.exempt import EventExemptions, classify
from jirahooks.engine.facts import (
    Code,
    Context,
    Evaluation,
    Fact,
    FactStatus,
    Group,
    RuleValidation,
    Source,
    Status,
    overall,
)
from jirahooks.engine.plan import RulePlan, applies, branch_of, make_extract, plan_rule
from jirahooks.engine.resolver import (
    ConnectionProblem,
    JqlResult,
    OfflineResolver,
    ProjectSet,
    Resolution,
    Resolver,
)
from jirahooks.event import Commit, Event
from jirahooks.keys import KeyExtractor, project_of
from jirahooks.rules.jql import check as jql_problem
from jirahooks.rules.model import (
    BrokenRule,
    Mode,
    Rule,
    Settings,
    Severity,
    Strategy,
    Target,
    UnreachablePolicy,
)

T = TypeVar("T")


class RunCpu(Protocol):
    """Runs ``fn(*args)`` somewhere (a thread pool) and awaits its result."""

    def __call__(self, fn: Callable[..., T], /, *args: Any) -> Awaitable[T]: ...


async def _inline(fn: Callable[..., T], /, *args: Any) -> T:
    return fn(*args)


@lru_cache(maxsize=32)
def _extractor(settings: Settings) -> KeyExtractor:
    extractor: KeyExtractor = settings.extractor()
    return extractor


async def evaluate(
    event: Event,
    rules: Sequence[Rule],
    resolver: Resolver | None = None,
    *,
    settings: Settings | None = None,
    run_cpu: RunCpu | None = None,
) -> Evaluation:
    """Evaluate ``event`` against ``rules``. ``resolver`` defaults to offline (format checks only).
    ``run_cpu`` runs the CPU stages (planning, judging); default inline."""
    run = run_cpu or _inline
    started = time.perf_counter()
    settings = settings or Settings()
    resolver = resolver or OfflineResolver()
    if not settings.enabled:
        return _system_only(event, Status.IGNORE, "guardian.disabled", started)
    if event.is_empty:
        return _system_only(event, Status.IGNORE, "event.empty", started)

    # 1. plan every applicable rule (key extraction); a stored rule that cannot be read is not
    # planned: it reports its own error (fails closed) and the others are judged as usual
    broken = {
        r.id: with_mode(_broken(r, event), settings.default_mode)
        for r in rules
        if isinstance(r, BrokenRule) and r.enabled
    }
    readable = [r for r in rules if not isinstance(r, BrokenRule)]
    plans, exempt = await run(_plan_all, event, readable, settings)
    active = [p for p in plans if not p.skipped and p.units]
    calls = 0
    offline = bool(resolver.offline)

    # 2. project sets, for rules that ignore unknown project keys
    projects = ProjectSet()
    if not offline and any(p.rule.checks.ignore_unknown_projects for p in active):
        projects = await resolver.projects()
        calls += 1
        for plan in active:
            if plan.rule.checks.ignore_unknown_projects:
                _drop_unknown_projects(plan, projects)

    # 3. every key of every rule that needs Jira, in one call (with the keys whose project
    # could not be classified: a Jira that finds one settles it)
    wanted = list(
        dict.fromkeys(
            [
                *(k for p in active if p.rule.checks.needs_jira for k in p.keys),
                *(k for p in active for u in p.units for k in u.unclassified_keys),
            ]
        )
    )
    resolution = Resolution(offline=offline)
    if wanted and not offline:
        resolution = await resolver.resolve(wanted)
        calls += 1
    _classify_found(active, resolution)

    # 4. each distinct JQL once, over the keys that resolved
    jql_results: dict[str, JqlResult] = {}
    if not offline:
        by_jql: dict[str, dict[str, None]] = {}
        max_age: dict[str, float] = {}  # the strictest freshness of the rules sharing a JQL
        for plan in active:
            # a JQL that could escape "(jql) AND id in (…)" is never sent (its check fails)
            if plan.rule.checks.jql and jql_problem(plan.rule.checks.jql) is None:
                jql = plan.rule.checks.jql
                keys = by_jql.setdefault(jql, {})
                keys.update((k, None) for k in plan.keys if k in resolution.issues)
                freshness = plan.rule.checks.jql_freshness_seconds
                max_age[jql] = min(max_age.get(jql, freshness), freshness)
        for jql, keys in by_jql.items():
            if keys:
                jql_results[jql] = await resolver.match_jql(jql, list(keys), max_age=max_age[jql])
                calls += 1
            else:
                jql_results[jql] = JqlResult()

    problems = _distinct_problems(
        [
            *projects.problems,
            *resolution.problems,
            *(p for r in jql_results.values() for p in r.problems),
        ]
    )
    # 5. judge each rule
    # ... with the "did you mean" hints over the failing facts: one trip to the runner
    judged = await run(
        _judge_all,
        plans,
        settings,
        resolution,
        jql_results,
        offline,
        problems,
        event,
        projects,
        rules,
    )
    by_id = {v.rule.id: v for v in judged}
    validations = [v for v in (broken.get(r.id) or by_id.get(r.id) for r in rules) if v is not None]
    system = tuple(_problem_fact(p, Context.SYSTEM) for p in problems)
    return Evaluation(
        event,
        overall([v.status for v in validations]),
        tuple(validations),
        system,
        resolver_calls=calls,
        duration_ms=(time.perf_counter() - started) * 1000,
        exemptions=tuple(exempt.records),
    )


def _plan_all(
    event: Event, rules: Sequence[Rule], settings: Settings
) -> tuple[list[RulePlan], EventExemptions]:
    extract = make_extract(_extractor(settings))
    exempt = classify(event, settings, extract, branch_of(event))
    plans = [
        plan_rule(rule, event, settings, extract, exempt) for rule in rules if applies(rule, event)
    ]
    return plans, exempt


def _judge_all(
    plans: list[RulePlan],
    settings: Settings,
    resolution: Resolution,
    jql_results: dict[str, JqlResult],
    offline: bool,
    problems: list[ConnectionProblem],
    event: Event,
    projects: ProjectSet,
    rules: Sequence[Rule],
) -> list[RuleValidation]:
    """Every rule's verdict in its mode, with the "did you mean" hints of the failing ones: the
    CPU steps after the Jira round trips, in one job for the runner."""
    judged = [
        with_mode(
            _judge(plan, settings, resolution, jql_results, offline, problems),
            settings.default_mode,
        )
        for plan in plans
    ]
    return _with_suggestions(judged, event, settings, resolution, projects, rules)


def with_mode(rv: RuleValidation, default: Mode) -> RuleValidation:
    """``rv`` as its rule's mode has it reach the pusher (ADR 0011): ``warn`` turns a BLOCK into
    a WARNING (errors into warnings); ``evaluate`` turns a BLOCK or WARNING into a PASS the
    pusher is not shown. What enforce would have said stays in ``enforced_status``."""
    from dataclasses import replace

    mode = rv.rule.effective_mode(default)
    if mode is Mode.ENFORCE or rv.status not in (Status.BLOCK, Status.WARNING):
        return replace(rv, mode=mode) if mode is not Mode.ENFORCE else rv
    if mode is Mode.WARN:
        if rv.status is Status.WARNING:
            return replace(rv, mode=mode)
        return replace(
            rv,
            status=Status.WARNING,
            mode=mode,
            enforced_status=rv.status,
            condition_facts=tuple(_downgrade(list(rv.condition_facts))),
            check_facts=tuple(_downgrade(list(rv.check_facts))),
        )
    return replace(rv, status=Status.PASS, mode=mode, enforced_status=rv.status)


def _system_only(event: Event, status: Status, message_id: str, started: float) -> Evaluation:
    fact = Fact(
        Code.CHECKED, FactStatus.INFO, Source.AGGREGATE, Group.MAIN, (Context.GLOBAL,), message_id
    )
    return Evaluation(
        event, status, (), (fact,), duration_ms=(time.perf_counter() - started) * 1000
    )


def _broken(rule: BrokenRule, event: Event) -> RuleValidation:
    """A stored rule that cannot be read fails closed, visibly: its own error fact, shown where
    the hook clients display facts (the commits, or the branch)."""
    warn = rule.severity is Severity.WARNING
    fact = Fact(
        Code.CHECKED,
        FactStatus.WARNING if warn else FactStatus.ERROR,
        Source.AGGREGATE,
        Group.TARGET,
        (Context.COMMITS if event.commits else Context.BRANCH_SOURCE, Context.SYSTEM),
        "rule.broken.warn" if warn else "rule.broken",
        {"rule": rule.id, "problem": rule.problem},
        category=("SYSTEM",),
    )
    return RuleValidation(rule, Status.WARNING if warn else Status.BLOCK, (), (fact,))


def _drop_unknown_projects(plan: RulePlan, projects: ProjectSet) -> None:
    """Keys of projects no connection lists are no keys — when every connection answered.
    When a project list could not be read, such a key may belong to the silent connection:
    it becomes *unclassified* (undetermined) until ``resolve`` finds it."""
    known = projects.known
    for unit in plan.units:
        kept = [k for k in unit.keys if project_of(k) in known]
        unknown = [k for k in unit.keys if project_of(k) not in known]
        if projects.is_complete:
            unit.unknown_project_keys = unknown
        else:
            unit.unclassified_keys = unknown
        unit.keys = kept


def _classify_found(plans: list[RulePlan], resolution: Resolution) -> None:
    """An unclassified key that a Jira found is an issue key after all (in text order)."""
    for plan in plans:
        for unit in plan.units:
            if not unit.unclassified_keys:
                continue
            found = {k for k in unit.unclassified_keys if k in resolution.issues}
            if found:
                keep = set(unit.keys) | found
                order = dict.fromkeys(m.key for m in unit.matches if m.evaluated)
                unit.keys = [k for k in order if k in keep]
                unit.unclassified_keys = [k for k in unit.unclassified_keys if k not in found]


def _distinct_problems(problems: list[ConnectionProblem]) -> list[ConnectionProblem]:
    """Every problem, in order; only exact duplicates (the same problem reported by
    ``projects``, ``resolve`` and ``match_jql``) are dropped."""
    return list(dict.fromkeys(problems))


def _problem_fact(
    problem: ConnectionProblem, context: Context, status: FactStatus = FactStatus.WARNING
) -> Fact:
    return Fact(
        Code.CHECKED,
        status,
        Source.JIRA_CONNECTION,
        Group.MAIN,
        (context, Context.SYSTEM) if context is not Context.SYSTEM else (context,),
        "jira.problem",
        {"connection": problem.connection, "message": problem.message, "code": problem.code},
        category=("SYSTEM",),
    )


def _downgrade(facts: list[Fact]) -> list[Fact]:
    """Errors of targets that did not count (one passing target was enough) become warnings."""
    from dataclasses import replace

    return [
        replace(f, status=FactStatus.WARNING) if f.status is FactStatus.ERROR else f for f in facts
    ]


def _judge(
    plan: RulePlan,
    settings: Settings,
    resolution: Resolution,
    jql: dict[str, JqlResult],
    offline: bool,
    problems: list[ConnectionProblem],
) -> RuleValidation:
    rule = plan.rule
    conditions = tuple(plan.condition_facts)
    exempted = tuple(plan.exemption_facts)  # first among the check facts
    if plan.skipped:
        return RuleValidation(rule, Status.SKIP, conditions, exempted)
    if not plan.units:
        status = Status.SKIP if plan.commits_skipped else Status.IGNORE
        absent = Fact(
            Code.CHECKED,
            FactStatus.SKIP,
            Source.TARGET,
            Group.TARGET,
            (Context.GLOBAL,),
            "target.absent",
        )
        return RuleValidation(
            rule, status, conditions, (*exempted, absent), commits=_reviewed(plan)
        )

    ctx = CheckContext(rule, settings, resolution, jql, offline)
    specs = [c for c in CHECKS if c.enabled(rule.checks)]
    facts: list[Fact] = list(exempted)
    unit_results: list[bool] = []
    unit_facts: list[list[Fact]] = []
    unit_undetermined: list[set[str]] = []
    offline_reported = False
    for unit in plan.units:
        passed = True
        collected: list[Fact] = []
        pending: set[str] = set()
        for spec in specs:
            if spec.unit is None:
                continue
            outcome = spec.unit(ctx, unit)
            if offline and any(f.message_id == "jira.offline" for f in outcome.facts):
                # say "not checked against Jira" once per rule, not once per commit
                if offline_reported:
                    outcome.facts = [f for f in outcome.facts if f.message_id != "jira.offline"]
                offline_reported = True
            passed &= outcome.passed
            collected.extend(outcome.facts)
            pending |= outcome.undetermined
        unit_results.append(passed)
        unit_facts.append(collected)
        unit_undetermined.append(pending if passed else set())

    undetermined: set[str] = set()
    if rule.strategy is Strategy.AT_LEAST_ONE:
        targets_pass = any(unit_results)
        for ok, collected in zip(unit_results, unit_facts, strict=True):
            facts.extend(_downgrade(collected) if targets_pass and not ok else collected)
        total, passed_count = len(unit_results), sum(unit_results)
        facts.append(
            Fact(
                Code.ONE_ENOUGH if targets_pass else Code.ONE_NOT_ENOUGH,
                FactStatus.SUCCESS if targets_pass else FactStatus.ERROR,
                Source.TARGET,
                Group.TARGET,
                (plan.main_context,),
                "target.one_enough" if targets_pass else "target.one_not_enough",
                {"passed": passed_count, "total": total},
            )
        )
        # One target that passed on Jira's definite answer is enough; otherwise the pass rests
        # on keys Jira could not be asked about, and the policy decides.
        passing = [u for ok, u in zip(unit_results, unit_undetermined, strict=True) if ok]
        if passing and all(passing):
            undetermined = set().union(*passing)
    else:
        targets_pass = all(unit_results)
        for collected in unit_facts:
            facts.extend(collected)
        if targets_pass:
            undetermined = set().union(*unit_undetermined)

    rule_pass = True
    for spec in specs:
        if spec.rule is None:
            continue
        outcome = spec.rule(ctx, plan)
        rule_pass &= outcome.passed
        facts.extend(outcome.facts)
        undetermined |= outcome.undetermined

    failed = not (targets_pass and rule_pass)
    # Jira could not be asked about some of the rule's keys: said in the headline, whether the
    # policy decided (nothing else failed) or the rule also failed on definite answers
    unreachable = bool(undetermined) or any(f.message_id in _UNDETERMINED for f in facts)
    status = Status.PASS
    if failed:
        status = Status.BLOCK if rule.severity is Severity.BLOCK else Status.WARNING
    elif undetermined:
        policy = settings.jira_unreachable
        if policy is UnreachablePolicy.BLOCK and rule.severity is Severity.WARNING:
            # a rule that only warns when it fails must not block when its answer is unknown
            policy = UnreachablePolicy.WARN
        keys = ", ".join(sorted(undetermined)[:10]) + (" …" if len(undetermined) > 10 else "")
        policy_status = {
            UnreachablePolicy.BLOCK: (Status.BLOCK, FactStatus.ERROR, "jira.policy.block"),
            UnreachablePolicy.WARN: (Status.WARNING, FactStatus.WARNING, "jira.policy.warn"),
            UnreachablePolicy.ALLOW: (Status.PASS, FactStatus.INFO, "jira.policy.allow"),
        }[policy]
        status = policy_status[0]
        for problem in problems:
            facts.append(_problem_fact(problem, plan.main_context, policy_status[1]))
        facts.append(
            Fact(
                Code.CHECKED,
                policy_status[1],
                Source.JIRA_CONNECTION,
                Group.MAIN,
                (plan.main_context, Context.SYSTEM),
                policy_status[2],
                {"keys": keys},
            )
        )
    rule_keys = plan.keys
    issues = {k: resolution.issues[k] for k in rule_keys if k in resolution.issues}
    return RuleValidation(
        rule,
        status,
        conditions,
        tuple(facts),
        issues,
        _reviewed(plan),
        checks_failed=failed,
        jira_unreachable=unreachable and status in (Status.BLOCK, Status.WARNING),
    )


# facts that say Jira could not give an answer about a key
_UNDETERMINED = frozenset(
    {
        "key.undetermined",
        "key.project_undetermined",
        "keys.present.undetermined",
        "jql.undetermined",
    }
)


def _reviewed(plan: RulePlan) -> tuple[Commit, ...]:
    """The commits a rule looked at: none for branch- and PR-only rules."""
    if Target.COMMIT in plan.rule.targets or Target.COMMITS in plan.rule.targets:
        return plan.commits
    return ()


def _with_suggestions(
    judged: list[RuleValidation],
    event: Event,
    settings: Settings,
    resolution: Resolution,
    projects: ProjectSet,
    rules: Sequence[Rule],
) -> list[RuleValidation]:
    """ "Did you mean …?" hints (``engine.suggest``) from what this evaluation already knows:
    the keys Jira found, the project list when it was asked for, the branch's key. No request."""
    if not any(v.status in (Status.BLOCK, Status.WARNING) for v in judged) and not any(
        f.message_id == "keys.unknown_project" for v in judged for f in v.check_facts
    ):
        return judged
    from jirahooks.engine import suggest
    from jirahooks.engine.plan import branch_of

    branch = branch_of(event)
    insensitive = Target.BRANCH in settings.case_insensitive
    branch_keys = _extractor(settings).keys(branch, case_insensitive=insensitive) if branch else []
    known = projects.known if projects.projects is not None else frozenset()
    found = [*resolution.issues, *(i.current_key for i in resolution.issues.values())]
    template, _ = suggest.message_template(rules, settings)
    return suggest.annotate(
        judged, event, found=found, projects=known, branch_keys=branch_keys, template=template
    )
