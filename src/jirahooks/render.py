"""Turning an evaluation into text for people, or JUnit XML for CI. Pure string building.

Text groups facts the way the Validation API's hook clients do: per section (Branch, Title,
Description, Commits) and per commit (short hash), with each blocked rule's error and hint.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr

from jirahooks.engine.facts import Context, Evaluation, Fact, FactStatus, RuleValidation, Status
from jirahooks.i18n import translate
from jirahooks.output import safe, short_hash
from jirahooks.rules.model import Mode

_MARK = {
    Status.PASS: "✔",
    Status.WARNING: "!",
    Status.BLOCK: "✖",
    Status.SKIP: "-",
    Status.IGNORE: "·",
}
_FACT_MARK = {
    FactStatus.ERROR: "✖",
    FactStatus.WARNING: "!",
    FactStatus.SUCCESS: "✔",
    FactStatus.INFO: "i",
    FactStatus.SKIP: "-",
    FactStatus.NOT_SKIP: "✔",
}
_SECTIONS: tuple[tuple[str, tuple[Context, ...]], ...] = (
    ("Branch", (Context.BRANCH_SOURCE, Context.BRANCH_DESTINATION)),
    ("Title", (Context.PR_TITLE,)),
    ("Description", (Context.PR_DESCRIPTION,)),
    ("Commits", (Context.COMMIT, Context.COMMITS)),
    ("Rule", (Context.GLOBAL,)),
    ("Jira", (Context.SYSTEM,)),
)
_HINT = "HINT"  # a "did you mean …?" fact's category (engine/suggest.py)
_HINT_MARK = "→"
MAX_LINES = 20  # entries (commits, facts) listed per failing rule; ``--max-lines`` widens it
_SEVERITY = {FactStatus.ERROR: 0, FactStatus.WARNING: 1}


def _subject(rv: RuleValidation, ref: str) -> str:
    for commit in rv.commits:
        if commit.hash == ref:
            return commit.subject[:72]
    return ""


def _rank(facts: list[Fact]) -> int:
    return min((_SEVERITY.get(f.status, 2) for f in facts), default=2)


def _facts_text(
    rv: RuleValidation, facts: Iterable[Fact], locale: str, verbose: bool, max_lines: int
) -> list[str]:
    """A rule's facts per section and commit: the commits with errors first, then those with
    warnings, then the rest (verbose); at most ``max_lines`` commits per section (0: all)."""
    lines: list[str] = []
    shown = [
        f
        for f in facts
        if verbose or f.status in (FactStatus.ERROR, FactStatus.WARNING) or _HINT in f.category
    ]
    for title, contexts in _SECTIONS:
        section = [f for f in shown if f.contexts and f.contexts[0] in contexts]
        if not section:
            continue
        lines.append(f"    {title}")
        by_ref: dict[str, list[Fact]] = {}
        for fact in section:
            by_ref.setdefault(fact.ref if title == "Commits" else "", []).append(fact)
        groups = sorted(by_ref.items(), key=lambda item: _rank(item[1]))  # stable: git order
        for i, (ref, group) in enumerate(groups):
            if max_lines and i >= max_lines:
                rest = groups[i:]
                failing = sum(_rank(g) < 2 for _, g in rest)
                problems = translate("report.more_problems", locale, count=failing)
                more = translate(
                    "report.more",
                    locale,
                    count=len(rest),
                    problems=problems if failing else "",
                    total=len(groups),
                )
                lines.append(f"      {more}")
                break
            indent = "      "
            if ref:
                lines.append(f"      {short_hash(ref)}  {_subject(rv, ref)}".rstrip())
                indent = "        "
            for fact in sorted(group, key=lambda f: _SEVERITY.get(f.status, 2)):
                mark = _HINT_MARK if _HINT in fact.category else _FACT_MARK[fact.status]
                lines.append(f"{indent}{mark} {fact.message(locale)}")
    return lines


def _is_offline(fact: Fact) -> bool:
    """A "Jira was not asked" notice (no connection configured, or ``--offline``)."""
    return fact.message_id in ("jira.offline", "jira.offline.requested")


def _not_asked(rv: RuleValidation, locale: str) -> str:
    """Why a rule that passed was not really checked: its Jira checks did not run."""
    notice = next((f for f in rv.check_facts if _is_offline(f)), None)
    return notice.message(locale) if notice is not None else ""


def _skip_reason(rv: RuleValidation, locale: str) -> str:
    reasons = [f for f in rv.condition_facts if f.status is FactStatus.SKIP and not f.ref]
    return reasons[0].message(locale) if reasons else ""


def _commits_not_checked(rv: RuleValidation) -> int:
    return sum(1 for f in rv.condition_facts if f.status is FactStatus.SKIP and f.ref)


def shown(evaluation: Evaluation) -> tuple[RuleValidation, ...]:
    """The rule results a pusher is shown: not those of rules in ``evaluate`` mode (ADR 0011)."""
    return tuple(rv for rv in evaluation.rule_validations if rv.mode is not Mode.EVALUATE)


def exemption_facts(evaluation: Evaluation) -> list[Fact]:
    """The exemption facts ("exempt: why", a refused escape token) once per commit."""
    seen: dict[tuple[str, str], Fact] = {}
    for rv in evaluation.rule_validations:
        for fact in rv.check_facts:
            if fact.category == ("EXEMPTION",):
                seen.setdefault((fact.message_id, fact.ref), fact)
    return list(seen.values())


def text(
    evaluation: Evaluation,
    *,
    locale: str = "en-US",
    verbose: bool = False,
    max_lines: int = MAX_LINES,
) -> str:
    """A human-readable report. Blocked and warning rules come first, each with its failures
    first (at most ``max_lines`` commits per section; 0 lists all); passed and skipped rules
    are summarised in one line each group unless ``verbose``. Rules in ``evaluate`` mode are
    not shown (``verbose`` counts them); exempt commits are said once, before the rules."""
    rvs = shown(evaluation)
    evaluated = [rv for rv in evaluation.rule_validations if rv.mode is Mode.EVALUATE]
    blocked = sum(rv.status is Status.BLOCK for rv in rvs)
    warned = sum(rv.status is Status.WARNING for rv in rvs)
    head = f"jirahooks: {evaluation.result.value}"
    if rvs:
        head += f" — {len(rvs)} rule{'s' if len(rvs) != 1 else ''}"
        if blocked:
            head += f", {blocked} blocking"
        if warned:
            head += f", {warned} warning{'s' if warned != 1 else ''}"
    lines = [head]
    for fact in evaluation.system_facts:
        lines.append(f"  {_FACT_MARK[fact.status]} {fact.message(locale)}")
    for fact in exemption_facts(evaluation):
        lines.append(f"  {_FACT_MARK[fact.status]} {fact.message(locale)}")
    if verbose and evaluated:
        blocked_later = sum(rv.would_have_blocked for rv in evaluated)
        notice = translate("report.evaluated", locale, count=len(evaluated), blocked=blocked_later)
        lines.append(f"  i {notice}")
    offline = next((f for rv in rvs for f in rv.check_facts if _is_offline(f)), None)
    if offline is not None:  # say once, even when every rule passed, that Jira was not asked
        lines.append(f"  {_FACT_MARK[offline.status]} {offline.message(locale)}")
    order = {Status.BLOCK: 0, Status.WARNING: 1, Status.PASS: 2, Status.SKIP: 3, Status.IGNORE: 4}
    passed: list[RuleValidation] = []
    skipped: list[RuleValidation] = []
    for rv in sorted(rvs, key=lambda r: order[r.status]):
        failing = rv.status in (Status.BLOCK, Status.WARNING)
        if not failing and not verbose:
            (passed if rv.status is Status.PASS else skipped).append(rv)
            continue
        lines.append(f"{_MARK[rv.status]} {rv.rule.title} [{rv.status.value}]")
        if failing:
            lines.extend(
                f"    {text}"
                for text in rv.headlines(locale)
                if rv.rule.error or text != rv.rule.title
            )
        facts = [*rv.check_facts, *rv.condition_facts]
        lines.extend(_facts_text(rv, facts, locale, verbose, max_lines))
        not_checked = _commits_not_checked(rv)
        if failing and not verbose and not_checked:
            lines.append(f"    - {translate('report.not_checked', locale, count=not_checked)}")
        hint = rv.hint(locale, evaluation.event.trigger) if failing else ""
        if hint:
            lines.append(f"    hint: {hint}")
        if rv.status is Status.PASS and verbose and rv.rule.success:
            lines.append(f"    {rv.rule.success}")
    if passed:
        names = ", ".join(rv.rule.title for rv in passed)
        summary = translate("report.passed", locale, count=len(passed), names=names)
        lines.append(f"{_MARK[Status.PASS]} {summary}")
        for rv in passed:  # a passing rule's hints: a key it ignored may be a typo
            hints = [f for f in rv.check_facts if _HINT in f.category]
            if hints:
                lines.append(f"    {rv.rule.title}")
                lines.extend(_facts_text(rv, hints, locale, verbose, max_lines))
    if skipped:
        lines.append(
            f"{_MARK[Status.SKIP]} {translate('report.skipped', locale, count=len(skipped))}"
        )
        for rv in skipped:
            reason = _skip_reason(rv, locale)
            lines.append(f"    {rv.rule.title}" + (f" — {reason}" if reason else ""))
    return safe("\n".join(lines))


def junit(evaluation: Evaluation, *, locale: str = "en-US", name: str = "jirahooks") -> str:
    """JUnit XML: one test case per rule; BLOCK is a failure, WARNING passes with system-out,
    SKIP and IGNORE are skipped — and so is a rule that passed without its Jira checks having
    run (no connection, ``--offline``): a CI report must not count it as checked. Rules in
    ``evaluate`` mode are not listed."""
    rvs = shown(evaluation)
    not_asked = {
        id(rv): reason
        for rv in rvs
        if rv.status is Status.PASS and (reason := _not_asked(rv, locale))
    }
    failures = sum(rv.status is Status.BLOCK for rv in rvs)
    skipped = sum(rv.status in (Status.SKIP, Status.IGNORE) for rv in rvs) + len(not_asked)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name={quoteattr(name)} tests="{len(rvs)}" failures="{failures}">',
        f'  <testsuite name={quoteattr(name)} tests="{len(rvs)}" failures="{failures}" '
        f'skipped="{skipped}" time="{evaluation.duration_ms / 1000:.3f}">',
    ]
    for rv in rvs:
        case = f"    <testcase classname={quoteattr('jirahooks.' + rv.rule.id)} name={quoteattr(rv.rule.title)}"
        details = "\n".join(
            f"[{short_hash(f.ref)}] {f.message(locale)}" if f.ref else f.message(locale)
            for f in (*rv.condition_facts, *rv.check_facts)
            if f.status in (FactStatus.ERROR, FactStatus.WARNING, FactStatus.SKIP)
        )
        if rv.status is Status.BLOCK:
            message = " ".join(rv.headlines(locale))
            hint = rv.hint(locale, evaluation.event.trigger)
            body = details + (f"\nhint: {hint}" if hint else "")
            out.append(f"{case}>")
            out.append(f"      <failure message={quoteattr(message)}>{escape(body)}</failure>")
            out.append("    </testcase>")
        elif rv.status in (Status.SKIP, Status.IGNORE):
            reason = _skip_reason(rv, locale)
            message = f"{rv.status.value}: {reason}" if reason else rv.status.value
            out.append(f"{case}>")
            out.append(f"      <skipped message={quoteattr(message)}/>")
            out.append("    </testcase>")
        elif id(rv) in not_asked:
            out.append(f"{case}>")
            out.append(f"      <skipped message={quoteattr(not_asked[id(rv)])}/>")
            out.append("    </testcase>")
        elif rv.status is Status.WARNING:
            out.append(f"{case}>")
            out.append(f"      <system-out>{escape(details)}</system-out>")
            out.append("    </testcase>")
        else:
            out.append(f"{case}/>")
    out.append("  </testsuite>")
    out.append("</testsuites>")
    # commit messages and PR titles may hold control characters XML 1.0 forbids (ESC)
    return safe("\n".join(out))
