"""Printing a Validation API result document for a person at a terminal. Standard library only.

Used for the server's answers in remote mode and, through ``Evaluation.to_document``, for local
and pre-receive evaluations, so every hook speaks the same way. Like the reference client:

* system facts (source ``JIRA_CONNECTION`` / ``LICENSE``) are shown once, at the top;
* a check fact is shown only if its first context is ``COMMIT``, ``COMMITS``, ``BRANCH_SOURCE``
  or ``BRANCH_DESTINATION`` (verbose mode shows every fact);
* facts are grouped per section (Branch, Title, Description, Commits) and per commit
  (short hash + subject);
* blocked (and warning) rules print their error and hint, passed rules their success text;
* hint facts ("did you mean …?", ``category: ["HINT"]``) of a failing rule are shown under the
  commit they help with, marked ``→``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from jirahooks.output import short_hash

TYPE_CHECKING = False  # the hook path does not import typing
if TYPE_CHECKING:
    from typing import Any

ZERO_HASH = "0" * 40
SHOWN_CONTEXTS = frozenset({"COMMIT", "COMMITS", "BRANCH_SOURCE", "BRANCH_DESTINATION"})
SYSTEM_SOURCES = frozenset({"JIRA_CONNECTION", "LICENSE"})
SECTIONS: tuple[tuple[str, frozenset[str]], ...] = (
    ("Branch", frozenset({"BRANCH_SOURCE", "BRANCH_DESTINATION"})),
    ("Title", frozenset({"PR_TITLE"})),
    ("Description", frozenset({"PR_DESCRIPTION"})),
    ("Commits", frozenset({"COMMIT", "COMMITS"})),
)
MAX_COMMITS = 10
RULE_MARK = {"PASS": "✔", "WARNING": "!", "BLOCK": "✖", "SKIP": "-", "IGNORE": "·"}
FACT_MARK = {"ERROR": "✖", "WARNING": "!", "SUCCESS": "✔", "INFO": "i", "SKIP": "-"}
_PROBLEMS = ("ERROR", "WARNING")


HINT_MARK = "→"


def is_hint(fact: Mapping[str, Any]) -> bool:
    """A "did you mean …?" fact (``category: ["HINT"]``, engine/suggest.py)."""
    category = fact.get("category")
    return isinstance(category, list | tuple) and "HINT" in category


def _facts(validation: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    facts = [*(validation.get("conditionFacts") or ()), *(validation.get("checkFacts") or ())]
    return [f for f in facts if isinstance(f, Mapping)]


def _first_context(fact: Mapping[str, Any]) -> str:
    contexts = fact.get("contexts") or ()
    return str(contexts[0]) if isinstance(contexts, list | tuple) and contexts else ""


def _subject(validation: Mapping[str, Any], ref: str) -> str:
    commits = validation.get("commitsUnderReview")
    commit = commits.get(ref) if isinstance(commits, Mapping) else None
    message = str(commit.get("message") or "") if isinstance(commit, Mapping) else ""
    return message.split("\n", 1)[0].strip()[:72]


def failed_parts(document: Mapping[str, Any]) -> set[str]:
    """What blocked: ``"branch"`` (the branch name) and/or ``"commits"`` (commit messages), from
    the error facts of the blocking rules; empty when neither (e.g. Jira could not be asked)."""
    parts: set[str] = set()
    for validation in document.get("ruleValidations") or ():
        if not isinstance(validation, Mapping) or validation.get("ruleStatus") != "BLOCK":
            continue
        for fact in _facts(validation):
            if fact.get("status") != "ERROR":
                continue
            context = _first_context(fact)
            if context in ("BRANCH_SOURCE", "BRANCH_DESTINATION"):
                parts.add("branch")
            elif context in ("COMMIT", "COMMITS"):
                parts.add("commits")
    return parts


def rejected_line(parts: set[str]) -> str:
    """The closing line of a rejected push: it names what to fix."""
    if parts == {"branch"}:
        return (
            "jirahooks: push rejected: the branch name fails the rules above (the commits "
            "passed); push them to a branch whose name follows the rules"
        )
    if parts == {"commits"}:
        return (
            "jirahooks: push rejected: commits fail the rules above; fix those commits "
            "(git commit --amend, git rebase -i) and push again"
        )
    if parts:
        return (
            "jirahooks: push rejected: the branch name and commits fail the rules above; fix "
            "the commits (git rebase -i), then push them to a branch whose name follows the rules"
        )
    return "jirahooks: push rejected by the rules above; push again once they pass"


def system_lines(document: Mapping[str, Any], *, indent: str = "  ") -> list[str]:
    """System facts of every rule, each distinct message once."""
    seen: dict[str, str] = {}
    for validation in document.get("ruleValidations") or ():
        if not isinstance(validation, Mapping):
            continue
        for fact in _facts(validation):
            if fact.get("source") in SYSTEM_SOURCES and fact.get("status") in _PROBLEMS:
                message = str(fact.get("message") or "")
                seen.setdefault(message, FACT_MARK.get(str(fact.get("status")), "!"))
    return [f"{indent}{mark} {message}" for message, mark in seen.items()]


def exemption_lines(document: Mapping[str, Any], *, indent: str = "  ") -> list[str]:
    """The exemption facts ("exempt: why", a refused escape token), each commit's once."""
    seen: dict[str, str] = {}
    for validation in document.get("ruleValidations") or ():
        if not isinstance(validation, Mapping):
            continue
        for fact in _facts(validation):
            if fact.get("category") == ["EXEMPTION"]:
                message = str(fact.get("message") or "")
                seen.setdefault(message, FACT_MARK.get(str(fact.get("status")), "-"))
    return [f"{indent}{mark} {message}" for message, mark in seen.items()]


def _section_lines(
    validation: Mapping[str, Any], facts: Sequence[Mapping[str, Any]], indent: str
) -> list[str]:
    lines: list[str] = []
    for title, contexts in SECTIONS:
        section = [f for f in facts if _first_context(f) in contexts]
        if not section:
            continue
        lines.append(f"{indent}{title}")
        by_ref: dict[str, list[Mapping[str, Any]]] = {}
        for fact in section:
            key = str(fact.get("ref") or "") if title == "Commits" else ""
            by_ref.setdefault(key, []).append(fact)
        for i, (ref, group) in enumerate(by_ref.items()):
            if ref and i >= MAX_COMMITS:
                lines.append(f"{indent}  … and {len(by_ref) - MAX_COMMITS} more commits")
                break
            inner = indent + "  "
            if ref:
                lines.append(f"{inner}{short_hash(ref)}  {_subject(validation, ref)}".rstrip())
                inner += "  "
            shown = dict.fromkeys(
                (str(f.get("status") or ""), str(f.get("message") or "")) for f in group
            )
            hints = {str(f.get("message") or "") for f in group if is_hint(f)}
            for status, message in shown:
                mark = HINT_MARK if message in hints else FACT_MARK.get(status, "-")
                lines.append(f"{inner}{mark} {message}")
    return lines


def render(document: Mapping[str, Any], *, title: str = "", verbose: bool = False) -> str:
    """The text for one result document. ``title`` names what was checked (e.g. a ref)."""
    result = str(document.get("result") or "")
    # rules in evaluate mode are not shown to the pusher (a local evaluation's document has them)
    validations = [
        v
        for v in document.get("ruleValidations") or ()
        if isinstance(v, Mapping) and v.get("mode") != "evaluate"
    ]
    statuses = [str(v.get("ruleStatus") or "") for v in validations]
    blocking, warning = statuses.count("BLOCK"), statuses.count("WARNING")
    counted = [s for s in statuses if s not in ("IGNORE",)]
    head = f"jirahooks: {result}" + (f" — {title}" if title else "")
    details = []
    if counted:
        details.append(f"{len(counted)} rule{'s' if len(counted) != 1 else ''}")
    if blocking:
        details.append(f"{blocking} blocking")
    if warning:
        details.append(f"{warning} warning{'s' if warning != 1 else ''}")
    lines = [head + (f" ({', '.join(details)})" if details else "")]
    lines.extend(system_lines(document))
    lines.extend(exemption_lines(document))
    for validation, status in zip(validations, statuses, strict=True):
        rule = validation.get("rule") if isinstance(validation.get("rule"), Mapping) else {}
        assert isinstance(rule, Mapping)
        name = str(rule.get("title") or rule.get("id") or "rule")
        failing = status in ("BLOCK", "WARNING")
        if status in ("SKIP", "IGNORE") and not verbose:
            continue
        if status == "PASS" and not verbose:
            success = str(rule.get("success") or "")
            lines.append(f"  ✔ {name}" + (f" — {success}" if success else ""))
            hints = [f for f in _facts(validation) if is_hint(f)]  # e.g. a key taken for no key
            lines.extend(_section_lines(validation, hints, "      "))
            continue
        lines.append(f"  {RULE_MARK.get(status, '?')} {name} [{status}]")
        if failing and rule.get("error"):
            lines.append(f"      {rule['error']}")
        facts = [
            f
            for f in _facts(validation)
            if f.get("source") not in SYSTEM_SOURCES or verbose
            if verbose
            or (
                _first_context(f) in SHOWN_CONTEXTS and (f.get("status") in _PROBLEMS or is_hint(f))
            )
        ]
        lines.extend(_section_lines(validation, facts, "      "))
        if failing and rule.get("hint"):
            lines.append(f"      hint: {rule['hint']}")
        if status == "PASS" and rule.get("success"):
            lines.append(f"      {rule['success']}")
    return "\n".join(lines)
