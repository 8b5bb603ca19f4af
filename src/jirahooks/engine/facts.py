"""The engine's output, in the Validation API vocabulary (docs: validation-api.md).

Facts hold a message id and parameters; the text is rendered in the caller's locale when the
result document is built (``Evaluation.to_document(locale)``), so one evaluation can be shown in
English and German.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from jirahooks.engine.resolver import IssueData
from jirahooks.event import Commit, Event, Trigger
from jirahooks.i18n import translate
from jirahooks.rules.model import Mode, Rule


class Status(StrEnum):
    """A rule's or the whole evaluation's result. Clients block only on BLOCK."""

    PASS = "PASS"
    WARNING = "WARNING"
    SKIP = "SKIP"
    BLOCK = "BLOCK"
    IGNORE = "IGNORE"


class Code(StrEnum):
    CHECKED = "CHECKED"
    FOUND = "FOUND"
    NOT_FOUND = "NOT_FOUND"
    KEYS_PRESENT = "KEYS_PRESENT"
    NO_KEYS = "NO_KEYS"
    VALID = "VALID"
    INVALID = "INVALID"
    ALL_VALID = "ALL_VALID"
    NOT_ALL_VALID = "NOT_ALL_VALID"
    ONE_VALID = "ONE_VALID"
    NONE_VALID = "NONE_VALID"
    ONE_ENOUGH = "ONE_ENOUGH"
    ONE_NOT_ENOUGH = "ONE_NOT_ENOUGH"
    MATCH = "MATCH"
    NOT_MATCH = "NOT_MATCH"


class FactStatus(StrEnum):
    ERROR = "ERROR"
    WARNING = "WARNING"
    INFO = "INFO"
    SUCCESS = "SUCCESS"
    SKIP = "SKIP"
    NOT_SKIP = "NOT_SKIP"


class Source(StrEnum):
    ISSUE_KEY = "ISSUE_KEY"
    JQL = "JQL"
    CONSISTENCY = "CONSISTENCY"
    NAMING = "NAMING"
    BRANCH_CONDITION = "BRANCH_CONDITION"
    PULLREQUEST_CONDITION = "PULLREQUEST_CONDITION"
    CONDITION = "CONDITION"
    JIRA_CONNECTION = "JIRA_CONNECTION"
    LICENSE = "LICENSE"
    AGGREGATE = "AGGREGATE"
    TARGET = "TARGET"


class Group(StrEnum):
    MAIN = "MAIN"
    DETAIL = "DETAIL"
    TARGET = "TARGET"


class Context(StrEnum):
    COMMIT = "COMMIT"
    COMMITS = "COMMITS"
    BRANCH_SOURCE = "BRANCH_SOURCE"
    BRANCH_DESTINATION = "BRANCH_DESTINATION"
    PR_TITLE = "PR_TITLE"
    PR_DESCRIPTION = "PR_DESCRIPTION"
    GLOBAL = "GLOBAL"
    SYSTEM = "SYSTEM"


_WIRE_SECTION = {
    Context.COMMIT: "COMMIT",
    Context.COMMITS: "COMMIT",
    Context.BRANCH_SOURCE: "BRANCH",
    Context.BRANCH_DESTINATION: "BRANCH",
    Context.PR_TITLE: "TITLE",
    Context.PR_DESCRIPTION: "DESCRIPTION",
}


@dataclass(frozen=True, slots=True)
class Fact:
    """One observation. ``message_id`` + ``params`` render to the final text per locale."""

    code: Code
    status: FactStatus
    source: Source
    group: Group
    contexts: tuple[Context, ...]
    message_id: str
    params: Mapping[str, Any] = field(default_factory=dict)
    ref: str = ""
    category: tuple[str, ...] = ()

    def message(self, locale: str = "en-US") -> str:
        return translate(self.message_id, locale, **self.params)

    def wire_group(self) -> tuple[str, str]:
        """``(group, qualifier)`` as the Validation API's clients read them.

        The published hook client never displays a fact whose ``group`` is ``MAIN`` and heads a
        rule's block ("Rule: …") only when the rule has a detail fact in a section. So every
        observation about a commit, the branch, the PR title or description is a detail line
        of its section (``COMMIT``/``BRANCH``/``TITLE``/``DESCRIPTION`` + ``DETAIL``, with the
        commit's hash in ``ref``); ``TARGET`` stays the per-target line; only rule-wide
        (``GLOBAL``) and system facts (Jira connection, licence: shown once, apart) stay
        ``MAIN``.
        """
        if self.group is Group.TARGET:
            return ("TARGET", "TARGET")
        if self.source in (Source.JIRA_CONNECTION, Source.LICENSE) or not self.contexts:
            return ("MAIN", "MAIN")
        section = _WIRE_SECTION.get(self.contexts[0])
        return (section, "DETAIL") if section else ("MAIN", "MAIN")

    def to_dict(self, locale: str = "en-US", rule_title: str = "") -> dict[str, Any]:
        # ``_value_``, not ``.value``: the same string without the enum's descriptor (a document
        # has a dozen facts per commit; this is on the Validation API's answer path)
        group, qualifier = self.wire_group()
        out: dict[str, Any] = {
            "message": self.message(locale),
            "code": self.code._value_,
            "status": self.status._value_,
            "source": self.source._value_,
            "group": group,
            "qualifier": qualifier,
            "contexts": [c._value_ for c in self.contexts],
        }
        if self.ref:
            out["ref"] = self.ref
        if rule_title:
            out["ruleTitle"] = rule_title
        if self.category:
            out["category"] = list(self.category)
        if self.params:
            out["params"] = {k: v for k, v in self.params.items() if isinstance(v, (str, int))}
        return out


@dataclass(frozen=True, slots=True)
class RuleValidation:
    """One rule's outcome for one event."""

    rule: Rule
    status: Status
    condition_facts: tuple[Fact, ...] = ()
    check_facts: tuple[Fact, ...] = ()
    issues: Mapping[str, IssueData] = field(default_factory=dict)
    commits: tuple[Commit, ...] = ()
    # why a BLOCK / WARNING: the checks failed on Jira's definite answers, and/or Jira could
    # not be asked about some keys (the Jira-unreachable policy decided)
    checks_failed: bool = False
    jira_unreachable: bool = False
    # the rule's mode (ADR 0011) and, when the mode changed the status, what enforce would have
    # said (a ``warn`` rule's BLOCK is a WARNING, an ``evaluate`` rule's BLOCK a PASS)
    mode: Mode = Mode.ENFORCE
    enforced_status: Status | None = None

    @property
    def would_have_blocked(self) -> bool:
        return self.enforced_status is Status.BLOCK

    def headlines(self, locale: str = "en-US") -> list[str]:
        """What a BLOCK or WARNING says first: the rule's error when its checks failed, "Jira
        could not be reached" when Jira could not be asked — both when both happened."""
        out: list[str] = []
        rule = self.rule.localized(locale)
        if self.checks_failed or not self.jira_unreachable:
            out.append(rule.error or rule.title)
        if self.jira_unreachable:
            out.append(translate("rule.jira_unreachable", locale, rule=rule.title))
        return out

    def hint(self, locale: str = "en-US", trigger: Trigger | None = None) -> str:
        """The rule's hint and, when commit messages failed its checks, how to fix them at the
        moment the hint is shown: at commit-msg time nothing was committed yet (no amend), at
        pre-push the commits exist (amend / rebase, then push again)."""
        advice = ""
        if (
            trigger is not None
            and self.checks_failed
            and self.status in (Status.BLOCK, Status.WARNING)
            and any(
                f.status in (FactStatus.ERROR, FactStatus.WARNING)
                and f.contexts
                and f.contexts[0] in (Context.COMMIT, Context.COMMITS)
                for f in self.check_facts
            )
        ):
            state = "BLOCK" if self.status is Status.BLOCK else "WARNING"
            advice = _fix_advice(self, trigger, state, locale)
        title = _title_advice(self, trigger, locale) if trigger is not None else ""
        return " ".join(t for t in (self.rule.localized(locale).hint, advice, title) if t)

    def __repr__(self) -> str:
        # Short on purpose: asyncio and loggers repr results, and a 10,000-commit one is large.
        return (
            f"RuleValidation(rule={self.rule.id!r}, status={self.status.value}, "
            f"facts={len(self.condition_facts) + len(self.check_facts)})"
        )

    def to_dict(
        self,
        locale: str = "en-US",
        trigger: Trigger | None = None,
        listed_commits: int | None = None,
    ) -> dict[str, Any]:
        """The rule's entry of the result document, bounded (engine/listing.py): at most
        ``listed_commits`` commits with their facts (default ``LISTED_COMMITS``; 0: all), the
        rest counted, every failing commit named in ``failingCommits``, and of each listed
        commit its subject line, never its full message."""
        from jirahooks.engine import listing as listing_module

        limit = listing_module.LISTED_COMMITS if listed_commits is None else listed_commits
        view = listing_module.listing((*self.condition_facts, *self.check_facts), limit)
        localized = self.rule.localized(locale)  # the rule's texts in the requested language
        rule = _rule_api(localized)
        if trigger is not None:
            rule["hint"] = self.hint(locale, trigger)
        rule["mode"] = self.mode.value
        if self.mode is Mode.WARN:
            rule["severity"] = "WARNING"
        title = localized.title
        check_facts = [f.to_dict(locale, title) for f in self.check_facts if view.keeps(f)]
        check_facts.extend(f.to_dict(locale, title) for f in self._summaries(view))
        out: dict[str, Any] = {
            "rule": rule,
            "ruleStatus": self.status.value,
            "mode": self.mode.value,
            "conditionFacts": [
                f.to_dict(locale, title) for f in self.condition_facts if view.keeps(f)
            ],
            "checkFacts": check_facts,
        }
        if self.enforced_status is not None:
            out["enforcedStatus"] = self.enforced_status.value
            if self.would_have_blocked:
                out["wouldHaveBlocked"] = True
        if view.failing:
            out["failingCommits"] = list(view.failing)
        if self.issues:
            named = _keys_named(self, view) if view.cut else None
            out["issuesUnderReview"] = {
                k: v.to_dict() for k, v in self.issues.items() if named is None or k in named
            }
        listed = [c for c in self.commits if view.lists(c.hash)] if view.cut else self.commits
        if listed:
            out["commitsUnderReview"] = {
                c.hash: {
                    "hash": c.hash,
                    "message": listing_module.subject(c.message),
                    "authorDisplayName": c.author_name,
                    **({"url": c.url} if c.url else {}),
                }
                for c in listed
            }
        return out

    def _summaries(self, view: Any) -> list[Fact]:
        """The facts that stand for the commits a bounded document does not list."""
        out: list[Fact] = []
        if view.unlisted_failing:
            status = FactStatus.ERROR if self.status is Status.BLOCK else FactStatus.WARNING
            out.append(_summary(status, "listing.more_failing", view.unlisted_failing))
        if view.unlisted_other:
            out.append(_summary(FactStatus.SUCCESS, "listing.more_other", view.unlisted_other))
        return out


# Rule.to_api() of the rules documents were last built for, by identity: a configuration
# snapshot's rules are the same objects request after request, and their API form is the same.
_RULE_API: dict[int, tuple[Rule, dict[str, Any]]] = {}
_RULE_API_LIMIT = 4096


def _rule_api(rule: Rule) -> dict[str, Any]:
    """``rule.to_api()``, remembered per rule object; a fresh copy of the top level each time
    (``to_dict`` sets the ``hint``). Rules are immutable, and no document is changed after it is
    built."""
    entry = _RULE_API.get(id(rule))
    if entry is None or entry[0] is not rule:
        if len(_RULE_API) >= _RULE_API_LIMIT:
            _RULE_API.clear()
        entry = _RULE_API[id(rule)] = (rule, rule.to_api())
    return dict(entry[1])


def _summary(status: FactStatus, message_id: str, count: int) -> Fact:
    return Fact(
        Code.CHECKED,
        status,
        Source.AGGREGATE,
        Group.DETAIL,
        (Context.COMMITS,),
        message_id,
        {"count": count},
    )


def _keys_named(rv: RuleValidation, view: Any) -> set[str]:
    """Issue keys the kept facts of a bounded document name (``key`` / ``keys`` parameters)."""
    named: set[str] = set()
    for fact in (*rv.condition_facts, *rv.check_facts):
        if not view.keeps(fact):
            continue
        key = fact.params.get("key")
        if isinstance(key, str):
            named.add(key)
        keys = fact.params.get("keys")
        if isinstance(keys, str):
            named.update(k.strip() for k in keys.split(",") if k.strip())
    return named


# What a developer needs of an issue to fix a commit: which issue, what it is, where it stands,
# and a link to open it. The rest (Jira's issue id, fix versions, the assignee's account ID, the
# connection's name) is for administrators: the Validation API sends it only when the
# workspace's ``share_issue_details`` setting is on (docs/validation-api.md).
DEVELOPER_ISSUE_FIELDS = frozenset(
    {"key", "currentKey", "summary", "status", "statusCategory", "issueType", "url"}
)


def without_issue_details(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with each ``issuesUnderReview`` entry cut to ``DEVELOPER_ISSUE_FIELDS``
    (a shallow copy: the full document stays as it is, e.g. for the audit trail)."""
    validations = []
    for rv in document.get("ruleValidations") or ():
        issues = rv.get("issuesUnderReview")
        if isinstance(issues, dict):
            rv = {
                **rv,
                "issuesUnderReview": {
                    key: {f: v for f, v in issue.items() if f in DEVELOPER_ISSUE_FIELDS}
                    for key, issue in issues.items()
                },
            }
        validations.append(rv)
    return {**document, "ruleValidations": validations}


_ORDER = (Status.BLOCK, Status.WARNING, Status.PASS, Status.SKIP, Status.IGNORE)


def overall(statuses: list[Status]) -> Status:
    """BLOCK beats WARNING beats PASS beats SKIP beats IGNORE; nothing at all is IGNORE."""
    for status in _ORDER:
        if status in statuses:
            return status
    return Status.IGNORE


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The Process Guardian's verdict on one event."""

    event: Event
    result: Status
    rule_validations: tuple[RuleValidation, ...] = ()
    system_facts: tuple[Fact, ...] = ()
    resolver_calls: int = 0
    duration_ms: float = 0.0
    timestamp_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    # what the settings' exemptions exempted (engine/exempt.py), the audit trail's "exempt:
    # why": one entry per commit ({commit, kind, author?, reason?, bot?, tool?, reverted?}) or
    # for a pull request a bot opened ({pullRequest, kind, author, bot}); docs/rules.md
    exemptions: tuple[dict[str, Any], ...] = ()

    def __repr__(self) -> str:
        return (
            f"Evaluation(result={self.result.value}, trigger={self.event.trigger.value}, "
            f"commits={len(self.event.commits)}, rules={len(self.rule_validations)})"
        )

    @property
    def blocked(self) -> bool:
        return self.result is Status.BLOCK

    @property
    def issues(self) -> dict[str, IssueData]:
        out: dict[str, IssueData] = {}
        for rv in self.rule_validations:
            out.update(rv.issues)
        return out

    def to_document(
        self, locale: str = "en-US", listed_commits: int | None = None
    ) -> dict[str, Any]:
        """The Validation API's 200 response document, bounded: per rule at most
        ``listed_commits`` commits with their facts (``RuleValidation.to_dict``).

        ``errorValidations`` is ``[]`` when there is nothing wrong to say: the hook clients print
        every entry under "Validation Errors", and an entry without text as "Validation failed
        without additional details". So it carries the headlines of blocked and warning rules
        and the system problems (a Jira connection that failed), never a passed rule's success
        text (the clients show that with the rule) nor an informational notice.
        """
        errors: list[dict[str, str]] = []
        warnings: list[dict[str, str]] = []
        details: list[dict[str, str]] = []
        for rv in self.rule_validations:
            if rv.status is Status.BLOCK:
                errors.extend({"text": text} for text in rv.headlines(locale) if text)
            elif rv.status is Status.WARNING:
                warnings.extend({"text": text} for text in rv.headlines(locale) if text)
        for fact in self.system_facts:
            if fact.status in (FactStatus.ERROR, FactStatus.WARNING):
                details.append({"text": fact.message(locale)})
        error_validations: list[dict[str, Any]] = []
        if errors or warnings or details:
            error_validations.append(
                {
                    "errorMessages": errors,
                    "warningMessages": warnings,
                    "successMessages": [],
                    "detailMessages": details,
                }
            )
        document: dict[str, Any] = {
            "timestamp": self.timestamp_ms,
            "result": self.result.value,
            "ruleValidations": [
                rv.to_dict(locale, self.event.trigger, listed_commits)
                for rv in self.rule_validations
            ],
            "errorValidations": error_validations,
        }
        if self.exemptions:
            document["exemptions"] = [dict(e) for e in self.exemptions]
        return document


def for_pusher(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` as the pusher sees it: without the rules in ``evaluate`` mode (their
    results are for the stored evaluation and the dashboard only, ADR 0011). A shallow copy."""
    validations = document.get("ruleValidations") or ()
    kept = [rv for rv in validations if not (isinstance(rv, dict) and rv.get("mode") == "evaluate")]
    if len(kept) == len(validations):
        return document
    return {**document, "ruleValidations": kept}


def _fix_advice(rv: RuleValidation, trigger: Trigger, state: str, locale: str) -> str:
    """The exact command that fixes ``rv``'s failing commits (``engine.suggest``)."""
    from jirahooks.engine.suggest import fix_advice

    return fix_advice(rv, trigger, state, locale)


def _title_advice(rv: RuleValidation, trigger: Trigger, locale: str) -> str:
    from jirahooks.engine.suggest import title_advice

    return title_advice(rv, trigger, locale)
