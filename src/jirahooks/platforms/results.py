"""From an evaluation to what a platform shows: build status, Code Insights report, review verdict.

Platform-neutral and pure: adapters translate these values to their own wire format.
"""

from __future__ import annotations

import hashlib
from typing import Any

from jirahooks.engine.facts import Evaluation, Fact, FactStatus, RuleValidation, Status
from jirahooks.platforms.base import (
    Annotation,
    BuildState,
    BuildStatus,
    Report,
    ReviewVerdict,
    first_line,
)

STATUS_KEY = "jirahooks-process-guardian"
STATUS_NAME = "Process Guardian (jirahooks)"
REPORT_ID = "jirahooks-process-guardian"
REPORT_TITLE = "Process Guardian"
MAX_ANNOTATIONS = 1000  # per report (Bitbucket Cloud's limit)
DESCRIPTION_LIMIT = 140


def passed(evaluation: Evaluation) -> bool:
    """Only BLOCK fails a change; warnings pass (they are shown, not enforced)."""
    return evaluation.result is not Status.BLOCK


def failed_rules(evaluation: Evaluation) -> list[str]:
    return [rv.rule.title for rv in evaluation.rule_validations if rv.status is Status.BLOCK]


def in_progress_status(url: str = "", refname: str = "") -> BuildStatus:
    return BuildStatus(
        STATUS_KEY,
        BuildState.INPROGRESS,
        STATUS_NAME,
        "Checking issue keys and rules…",
        url,
        refname,
    )


def build_status(evaluation: Evaluation, *, url: str = "", refname: str = "") -> BuildStatus:
    """SUCCESSFUL or FAILED; the description names the failed rules (one short line)."""
    if passed(evaluation):
        rvs = _shown(evaluation)
        warned = sum(1 for rv in rvs if rv.status is Status.WARNING)
        checked = sum(1 for rv in rvs if rv.status in (Status.PASS, Status.WARNING))
        text = f"Passed: {checked} rule{'s' if checked != 1 else ''}"
        if warned:
            text += f", {warned} with warnings"
        state = BuildState.SUCCESSFUL
    else:
        text = "Blocked by: " + ", ".join(failed_rules(evaluation))
        state = BuildState.FAILED
    return BuildStatus(
        STATUS_KEY, state, STATUS_NAME, first_line(text, DESCRIPTION_LIMIT), url, refname
    )


def _shown(evaluation: Evaluation) -> list[Any]:
    """The rule results a PR shows: not those of rules in evaluate mode (ADR 0011)."""
    return [rv for rv in evaluation.rule_validations if rv.mode.value != "evaluate"]


def _annotation_id(rule_id: str, index: int, text: str) -> str:
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"jh-{rule_id}-{index}-{digest}"[:100]


def failed_checks(evaluation: Evaluation, locale: str = "en-US") -> list[Annotation]:
    """One annotation per failed check (an ERROR fact of a blocking rule), at most 1000."""
    out: list[Annotation] = []
    for rv in evaluation.rule_validations:
        if rv.status is not Status.BLOCK:
            continue
        errors = [f for f in (*rv.condition_facts, *rv.check_facts) if f.status is FactStatus.ERROR]
        if not errors:
            text = rv.rule.error or rv.rule.title
            out.append(
                Annotation(_annotation_id(rv.rule.id, 0, text), first_line(text, 450), rv.rule.hint)
            )
            continue
        # the hint names the command for a pull request (rebase, edit the title: engine/suggest)
        fix = rv.hint(locale, evaluation.event.trigger)
        for index, fact in enumerate(errors):
            message = fact.message(locale)
            where = f" [{fact.ref[:12]}]" if fact.ref else ""
            summary = first_line(f"{rv.rule.title}{where}: {message}", 450)
            # "Jira could not be reached" when that is (part of) why, not only the rule's error
            reasons = rv.headlines(locale) if rv.jira_unreachable else [rv.rule.error]
            hints = [h.message(locale) for h in _hints_after(rv, fact)]
            details = "\n".join(t for t in (*reasons, *hints, fix and f"Fix: {fix}") if t)
            out.append(Annotation(_annotation_id(rv.rule.id, index, summary), summary, details))
    return out[:MAX_ANNOTATIONS]


def _hints_after(rv: RuleValidation, fact: Fact) -> list[Fact]:
    """The "did you mean …?" facts (engine/suggest.py) that follow ``fact`` in ``rv``."""
    facts = list(rv.check_facts)
    if fact not in facts:
        return []
    out: list[Fact] = []
    for following in facts[facts.index(fact) + 1 :]:
        if "HINT" not in following.category or following.ref != fact.ref:
            break
        out.append(following)
    return out


def report(evaluation: Evaluation, *, link: str = "", locale: str = "en-US") -> Report:
    ok = passed(evaluation)
    blocked = failed_rules(evaluation)
    details = (
        "Every issue key and rule check passed."
        if ok
        else f"{len(blocked)} rule{'s' if len(blocked) != 1 else ''} blocked this change: "
        + ", ".join(blocked)
    )
    if evaluation.exemptions:  # "exempt: why", counted per kind (docs/rules.md, Exemptions)
        kinds: dict[str, int] = {}
        for entry in evaluation.exemptions:
            kinds[str(entry.get("kind"))] = kinds.get(str(entry.get("kind")), 0) + 1
        details += " Exempt commits: " + ", ".join(f"{n} {k}" for k, n in kinds.items()) + "."
    data: tuple[dict[str, Any], ...] = (
        {"title": "Result", "type": "TEXT", "value": evaluation.result.value},
        {"title": "Rules evaluated", "type": "NUMBER", "value": len(_shown(evaluation))},
        {"title": "Rules blocking", "type": "NUMBER", "value": len(blocked)},
        {"title": "Duration", "type": "DURATION", "value": int(evaluation.duration_ms)},
    )
    if evaluation.exemptions:
        data += (
            {"title": "Exempt commits", "type": "NUMBER", "value": len(evaluation.exemptions)},
        )
    return Report(
        external_id=REPORT_ID,
        title=REPORT_TITLE,
        details=first_line(details, 2000),
        result="PASSED" if ok else "FAILED",
        link=link,
        data=data,
        annotations=tuple(failed_checks(evaluation, locale)),
    )


def verdict(evaluation: Evaluation) -> ReviewVerdict:
    return ReviewVerdict.APPROVE if passed(evaluation) else ReviewVerdict.REQUEST_CHANGES


def verdict_of(result: str) -> ReviewVerdict:
    """The verdict for a stored result (``Status`` value): only BLOCK requests changes."""
    return ReviewVerdict.REQUEST_CHANGES if result == Status.BLOCK.value else ReviewVerdict.APPROVE
