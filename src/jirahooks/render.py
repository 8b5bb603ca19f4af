"""Turning an evaluation into text for people, or JUnit XML for CI. Pure string building.

Text groups facts the way the Validation API's hook clients do: per section (Branch, Title,
Description, Commits) and per commit (short hash), with each blocked rule's error and hint.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr

from jirahooks.engine.facts import Context, Evaluation, Fact, FactStatus, RuleValidation, Status
from jirahooks.output import safe

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
MAX_COMMITS_SHOWN = 20


def _subject(rv: RuleValidation, ref: str) -> str:
    for commit in rv.commits:
        if commit.hash == ref:
            return commit.subject[:72]
    return ""


def _facts_text(rv: RuleValidation, facts: Iterable[Fact], locale: str, verbose: bool) -> list[str]:
    lines: list[str] = []
    shown = [
        f
        for f in facts
        if verbose or f.status in (FactStatus.ERROR, FactStatus.WARNING, FactStatus.SKIP)
    ]
    for title, contexts in _SECTIONS:
        section = [f for f in shown if f.contexts and f.contexts[0] in contexts]
        if not section:
            continue
        lines.append(f"    {title}")
        by_ref: dict[str, list[Fact]] = {}
        for fact in section:
            by_ref.setdefault(fact.ref if title == "Commits" else "", []).append(fact)
        for i, (ref, group) in enumerate(by_ref.items()):
            if title == "Commits" and i >= MAX_COMMITS_SHOWN:
                lines.append(f"      … and {len(by_ref) - MAX_COMMITS_SHOWN} more commits")
                break
            indent = "      "
            if ref:
                lines.append(f"      {ref[:12]}  {_subject(rv, ref)}".rstrip())
                indent = "        "
            for fact in group:
                lines.append(f"{indent}{_FACT_MARK[fact.status]} {fact.message(locale)}")
    return lines


def text(evaluation: Evaluation, *, locale: str = "en-US", verbose: bool = False) -> str:
    """A human-readable report; passed rules take one line unless ``verbose``."""
    rvs = evaluation.rule_validations
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
    offline = next(
        (f for rv in rvs for f in rv.check_facts if f.message_id == "jira.offline"), None
    )
    if offline is not None:  # say once, even when every rule passed, that Jira was not asked
        lines.append(f"  {_FACT_MARK[offline.status]} {offline.message(locale)}")
    for rv in rvs:
        lines.append(f"{_MARK[rv.status]} {rv.rule.title} [{rv.status.value}]")
        failing = rv.status in (Status.BLOCK, Status.WARNING)
        if failing:
            lines.extend(
                f"    {text}"
                for text in rv.headlines(locale)
                if rv.rule.error or text != rv.rule.title
            )
        if failing or verbose or rv.status is Status.SKIP:
            facts = [*rv.condition_facts, *rv.check_facts]
            if rv.status is Status.SKIP and not verbose:
                facts = [f for f in rv.condition_facts if f.status is FactStatus.SKIP][:3]
            lines.extend(_facts_text(rv, facts, locale, verbose or rv.status is Status.SKIP))
        if failing and rv.rule.hint:
            lines.append(f"    hint: {rv.rule.hint}")
        if rv.status is Status.PASS and verbose and rv.rule.success:
            lines.append(f"    {rv.rule.success}")
    return "\n".join(lines)


def junit(evaluation: Evaluation, *, locale: str = "en-US", name: str = "jirahooks") -> str:
    """JUnit XML: one test case per rule; BLOCK is a failure, WARNING passes with system-out,
    SKIP and IGNORE are skipped."""
    rvs = evaluation.rule_validations
    failures = sum(rv.status is Status.BLOCK for rv in rvs)
    skipped = sum(rv.status in (Status.SKIP, Status.IGNORE) for rv in rvs)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<testsuites name={quoteattr(name)} tests="{len(rvs)}" failures="{failures}">',
        f'  <testsuite name={quoteattr(name)} tests="{len(rvs)}" failures="{failures}" '
        f'skipped="{skipped}" time="{evaluation.duration_ms / 1000:.3f}">',
    ]
    for rv in rvs:
        case = f"    <testcase classname={quoteattr('jirahooks.' + rv.rule.id)} name={quoteattr(rv.rule.title)}"
        details = "\n".join(
            f"[{f.ref[:12]}] {f.message(locale)}" if f.ref else f.message(locale)
            for f in (*rv.condition_facts, *rv.check_facts)
            if f.status in (FactStatus.ERROR, FactStatus.WARNING, FactStatus.SKIP)
        )
        if rv.status is Status.BLOCK:
            message = " ".join(rv.headlines(locale))
            body = details + (f"\nhint: {rv.rule.hint}" if rv.rule.hint else "")
            out.append(f"{case}>")
            out.append(f"      <failure message={quoteattr(message)}>{escape(body)}</failure>")
            out.append("    </testcase>")
        elif rv.status in (Status.SKIP, Status.IGNORE):
            out.append(f"{case}>")
            out.append(f"      <skipped message={quoteattr(rv.status.value)}/>")
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
