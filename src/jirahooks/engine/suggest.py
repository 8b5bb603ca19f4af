"""Helping developers get it right: "did you mean …?" hints and the exact command that fixes a
failing commit. Pure: everything comes from what the evaluation already holds.

Suggestions (``annotate``) for a key that was **not found** in Jira — in this order, at most
three, never a key Jira said does not exist:

1. the branch's key, when it has the same issue number (``KAFKA-123`` in the commit,
   ``feature/KFK-123-x`` as the branch) or is within edit distance 2 of it;
2. a key that *was* found in this evaluation, with the same number, within edit distance 2
   (``KAKFA-123`` → ``KAFKA-123`` referenced by another commit);
3. the same number in a project that exists, when the key's own project is not known and a
   known one is within edit distance 1–2 (``KAKFA-123`` → ``KAFKA-123``). Known projects are the
   connections' project list when the evaluation asked for it anyway (a rule ignoring unknown
   projects) and the projects of the keys Jira found — so suggesting costs **no Jira request**.

For a commit without any key, when the branch names one: "the branch names ABC-123: start the
message with it", with the message shaped as the workspace wants it (``message_template``).

A hint is a fact of its own — status ``INFO``, ``category: ["HINT"]``, on the commit (or branch)
whose error it explains, as a detail line — so the published hook client shows it under that
commit, and our renderers show it beside the errors (docs/validation-api.md, "Hints").

``fix_advice`` is the hint's last sentence: the command that fixes the failure for the hook that
printed it (commit-msg: edit the saved message and commit again; pre-push and pre-receive:
``git commit --amend`` for the tip, else ``git rebase -i <parent of the oldest bad commit>``
naming the commits; a pull request: the same, or edit the title).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from jirahooks.engine.facts import (
    Code,
    Context,
    Fact,
    FactStatus,
    Group,
    RuleValidation,
    Source,
    Status,
)
from jirahooks.event import Commit, Event, Trigger
from jirahooks.i18n import translate
from jirahooks.keys import project_of

HINT = "HINT"
MAX_SUGGESTIONS = 3
# distinct keys that get suggestions per evaluation: a push of 10,000 commits with as many bad
# keys costs bounded time (each key is compared with every found key and known project)
MAX_HINTED_KEYS = 100
DEFAULT_TEMPLATE = "{key} {message}"
# the shapes prepare-commit-msg tries, in order, against the rules' commit naming patterns
TEMPLATE_CANDIDATES = (
    "{key} {message}",
    "[{key}] {message}",
    "{key}: {message}",
    "[{key}]: {message}",
    "{key} - {message}",
    "({key}) {message}",
    "{message} ({key})",
    "{message} [{key}]",
)
SAMPLE_KEY = "ABC-123"
SAMPLE_MESSAGE = "Fix the login page"
ZERO_HASH = "0" * 40


# --- edit distance --------------------------------------------------------------------------


def distance(a: str, b: str, limit: int = 2) -> int:
    """The optimal-string-alignment distance of ``a`` and ``b`` (insertions, deletions,
    substitutions, swaps of neighbours: ``KAKFA`` → ``KAFKA`` is 1), or ``limit + 1`` when it is
    larger than ``limit`` (banded: linear in the length for a small limit)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    if a == b:
        return 0
    big = limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [big] * len(b)
        low, high = max(1, i - limit), min(len(b), i + limit)
        for j in range(low, high + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, previous2[j - 2] + 1)
            current[j] = min(value, big)
        previous2, previous = previous, current
    return min(previous[len(b)], big)


def _number(key: str) -> str:
    return key.rsplit("-", 1)[-1]


def suggestions(
    key: str,
    *,
    branch_keys: Sequence[str],
    found: Iterable[str],
    projects: Iterable[str],
    not_found: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """``(suggestion, reason)`` pairs for a key Jira did not find; reason ``branch``, ``found``
    or ``project``. ``not_found``: keys Jira said do not exist (never suggested)."""
    bad = set(not_found) | {key}
    found_set = set(found)
    out: dict[str, str] = {}
    for candidate in branch_keys:
        if candidate in bad:
            continue
        if _number(candidate) == _number(key) or distance(candidate, key) <= 2:
            out.setdefault(candidate, "branch")
    for candidate in sorted(found_set):
        if abs(len(candidate) - len(key)) > 2 or candidate in bad:
            continue
        if 1 <= distance(candidate, key) <= 2:
            out.setdefault(candidate, "found")
    project = project_of(key)
    known = set(projects)
    if project not in known:
        close = sorted((distance(project, p), p) for p in known if 1 <= distance(project, p) <= 2)
        for _, candidate_project in close:
            candidate = f"{candidate_project}-{_number(key)}"
            if candidate not in bad:
                out.setdefault(candidate, "project")
    return list(out.items())[:MAX_SUGGESTIONS]


# --- the message shape ----------------------------------------------------------------------


def render_template(template: str, key: str, message: str) -> str:
    """``template`` with ``{key}`` and ``{message}`` filled (plain replacement: other braces in
    the template are text)."""
    return template.replace("{key}", key).replace("{message}", message)


def message_template(rules: Sequence[Any], settings: Any) -> tuple[str, str]:
    """``(template, source)``: how a key goes into a commit message for this workspace. The
    setting ``commit_message_template`` when set (source ``settings``); else the first of
    ``TEMPLATE_CANDIDATES`` every commit naming pattern of the rules accepts (``naming``); else
    ``{key} {message}`` (``default``)."""
    explicit = getattr(settings, "commit_message_template", "") or ""
    if explicit:
        return explicit, "settings"
    return _template_for(tuple(_commit_naming_patterns(rules)))


@lru_cache(maxsize=64)
def _template_for(patterns: tuple[str, ...]) -> tuple[str, str]:
    """The first candidate shape every pattern accepts (compiled once per set of patterns)."""
    if patterns:
        from jirahooks.keys import compile_user_regex

        compiled = []
        for pattern in patterns:
            try:
                compiled.append(compile_user_regex(pattern))
            except ValueError:
                continue
        for candidate in TEMPLATE_CANDIDATES:
            text = render_template(candidate, SAMPLE_KEY, SAMPLE_MESSAGE)
            if compiled and all(r.search(text) is not None for r in compiled):
                return candidate, "naming"
    return DEFAULT_TEMPLATE, "default"


def _commit_naming_patterns(rules: Sequence[Any]) -> list[str]:
    out: list[str] = []
    for rule in rules:
        checks = getattr(rule, "checks", None)
        pattern = getattr(checks, "naming", "") if checks is not None else ""
        if not pattern or not getattr(rule, "enabled", False):
            continue
        targets = {getattr(t, "value", t) for t in getattr(rule, "targets", ())}
        triggers = {getattr(t, "value", t) for t in getattr(rule, "triggers", ())}
        if targets & {"COMMIT", "COMMITS"} and "COMMIT" in triggers:
            out.append(pattern)
    return out


# --- hint facts -----------------------------------------------------------------------------


def _hint(origin: Fact, message_id: str, **params: object) -> Fact:
    return Fact(
        Code.CHECKED,
        FactStatus.INFO,
        Source.ISSUE_KEY,
        Group.DETAIL,
        origin.contexts[:1] or (Context.COMMIT,),
        message_id,
        params,
        ref=origin.ref,
        category=(HINT,),
    )


def is_hint(fact: Fact) -> bool:
    return HINT in fact.category


def annotate(
    validations: Sequence[RuleValidation],
    event: Event,
    *,
    found: Iterable[str],
    projects: Iterable[str],
    branch_keys: Sequence[str],
    template: str = DEFAULT_TEMPLATE,
) -> list[RuleValidation]:
    """``validations`` with a hint fact after each "not found" key that has a suggestion, and
    after each commit without a key when the branch names one (failing rules); and after each
    key ignored because no connection knows its project (``ignore_unknown_projects``), in any
    rule — ``KAKFA-123`` would otherwise pass as "not a key"."""
    found_keys = list(found)
    known = {project_of(k) for k in found_keys} | set(projects)
    # found keys are candidates only with the key's own number (KAKFA-123 → KAFKA-123): one
    # dict lookup per key instead of an edit-distance pass over every key of a big push
    by_number: dict[str, list[str]] = {}
    for candidate in dict.fromkeys(found_keys):
        by_number.setdefault(_number(candidate), []).append(candidate)
    not_found = {
        str(f.params.get("key"))
        for rv in validations
        for f in rv.check_facts
        if f.message_id == "key.invalid"
    }
    subjects = {c.hash: c.subject for c in event.commits}
    memo: dict[str, list[tuple[str, str]]] = {}
    out: list[RuleValidation] = []
    for rv in validations:
        failing = rv.status in (Status.BLOCK, Status.WARNING)
        facts: list[Fact] = []
        added = False
        for fact in rv.check_facts:
            facts.append(fact)
            if not failing and fact.message_id != "keys.unknown_project":
                continue  # a passing rule: only a key it ignored as no project's may be a typo
            for hint in _hints_for(
                fact, branch_keys, by_number, known, not_found, subjects, template, memo
            ):
                facts.append(hint)
                added = True
        out.append(dataclasses.replace(rv, check_facts=tuple(facts)) if added else rv)
    return out


def _hints_for(
    fact: Fact,
    branch_keys: Sequence[str],
    by_number: dict[str, list[str]],
    known: set[str],
    not_found: set[str],
    subjects: dict[str, str],
    template: str,
    memo: dict[str, list[tuple[str, str]]],
) -> list[Fact]:
    if fact.message_id in ("key.invalid", "keys.unknown_project"):
        key = str(fact.params.get("key") or "")
        pairs = memo.get(key)
        if pairs is None:
            if len(memo) >= MAX_HINTED_KEYS:
                return []
            found = by_number.get(_number(key), [])
            pairs = memo[key] = suggestions(
                key, branch_keys=branch_keys, found=found, projects=known, not_found=not_found
            )
        return [
            _hint(
                fact,
                f"suggest.{reason}",
                key=key,
                suggestion=suggestion,
                project=project_of(suggestion),
            )
            for suggestion, reason in pairs
        ]
    if fact.message_id in ("keys.none.commit", "keys.none") and fact.contexts[:1] in (
        (Context.COMMIT,),
        (Context.COMMITS,),
    ):
        usable = [k for k in branch_keys if k not in not_found]
        if not usable:
            return []
        subject = subjects.get(fact.ref, "") or "…"
        example = render_template(template, usable[0], subject)
        return [_hint(fact, "suggest.branch_key", key=usable[0], example=example)]
    return []


# --- fix-it commands ------------------------------------------------------------------------

_COMMIT_CONTEXTS = (Context.COMMIT, Context.COMMITS)


def _failing_refs(rv: RuleValidation) -> list[str]:
    refs = dict.fromkeys(
        f.ref
        for f in rv.check_facts
        if f.ref
        and f.status in (FactStatus.ERROR, FactStatus.WARNING)
        and f.contexts[:1] in ((Context.COMMIT,), (Context.COMMITS,))
    )
    return list(refs)


def _commit_command(rv: RuleValidation, trigger: Trigger, state: str, locale: str) -> str:
    """The exact command for failing commit messages of an existing push or PR."""
    commits: tuple[Commit, ...] = rv.commits
    failing = [r for r in _failing_refs(rv) if r != ZERO_HASH]
    order = {c.hash: i for i, c in enumerate(commits)}  # push order: oldest first, tip last
    failing = sorted((r for r in failing if r in order), key=lambda r: order[r])
    if not failing:
        return translate(f"fix.commits.{trigger.value}.{state}", locale)
    suffix = "push" if trigger is not Trigger.PULL_REQUEST else "pr"
    force = state == "WARNING" or trigger is Trigger.PULL_REQUEST
    tip = commits[-1]
    if failing == [tip.hash] and trigger is not Trigger.PULL_REQUEST:
        return translate(
            f"fix.{suffix}.amend" + (".force" if force else ""), locale, commit=tip.hash[:12]
        )
    oldest = next(c for c in commits if c.hash == failing[0])
    if oldest.parents is None:
        base = f"{oldest.hash[:12]}~1"
    elif oldest.parents:
        base = oldest.parents[0][:12]
    else:
        base = "--root"
    names = ", ".join(r[:12] for r in failing[:5]) + (" …" if len(failing) > 5 else "")
    return translate(
        f"fix.{suffix}.rebase" + (".force" if force else ""), locale, base=base, commits=names
    )


def fix_advice(rv: RuleValidation, trigger: Trigger, state: str, locale: str) -> str:
    """What to run to fix the failing commits of ``rv``, for the hook that shows it."""
    if trigger in (Trigger.PUSH, Trigger.PULL_REQUEST) and rv.commits:
        return _commit_command(rv, trigger, state, locale)
    return translate(f"fix.commits.{trigger.value}.{state}", locale)


def title_advice(rv: RuleValidation, trigger: Trigger, locale: str) -> str:
    """For a pull request whose title fails: edit the title."""
    if trigger is not Trigger.PULL_REQUEST or rv.status not in (Status.BLOCK, Status.WARNING):
        return ""
    if any(
        f.status in (FactStatus.ERROR, FactStatus.WARNING) and f.contexts[:1] == (Context.PR_TITLE,)
        for f in rv.check_facts
    ):
        return translate("fix.pr.title", locale)
    return ""
