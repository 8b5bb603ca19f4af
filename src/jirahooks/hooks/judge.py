"""Judging one commit-msg from the rules compiled by ``jirahooks.hooks.compiled``, as the
engine would: ``evaluate(form, message, author, branch, locale)`` is the result document
(``Evaluation.to_document``) of the engine for the COMMIT event of a commit-msg — the all-zero
hash, the author's name, the current branch, no pull request, no pusher — with an offline
resolver. Each step mirrors the engine's (``engine.plan`` for conditions, targets and keys,
``engine.checks`` in the order of its registry, ``engine.core._judge`` for strategies and
statuses, ``engine.facts`` for the document); ``tests/hooks/test_compiled.py`` holds the two
side by side. On the commit-msg hook's path: ``keys``, ``i18n``, ``gitio`` and ``re`` only.
"""

from __future__ import annotations

import re
import time

from jirahooks.exemptions import escape_reason
from jirahooks.gitio import is_merge_subject, is_revert_message
from jirahooks.i18n import MessageRef, normalize_locale, translate
from jirahooks.keys import KeyExtractor, KeyMatch, compile_user_regex
from jirahooks.output import NEW_COMMIT, short_hash

TYPE_CHECKING = False  # the hook path does not import typing
if TYPE_CHECKING:
    from typing import Any

ZERO_HASH = "0" * 40
_CONTEXT_OF = {"COMMIT": "COMMIT", "COMMITS": "COMMITS", "BRANCH": "BRANCH_SOURCE"}
_WIRE_SECTION = {"COMMIT": "COMMIT", "COMMITS": "COMMIT", "BRANCH_SOURCE": "BRANCH"}
_SYSTEM_SOURCES = ("JIRA_CONNECTION", "LICENSE")
_WHERE = {"BRANCH": "branch", "COMMITS": "commits"}  # consistency's names of the places
_ORDER = ("BLOCK", "WARNING", "PASS", "SKIP", "IGNORE")
_PER_COMMIT = ("COMMIT", "COMMITS")
_PROBLEMS = ("ERROR", "WARNING")
SUBJECT_CHARS = 200  # engine/listing.py's


def _subject(message: str) -> str:
    line = message.split("\n", 1)[0].strip()
    return line if len(line) <= SUBJECT_CHARS else line[: SUBJECT_CHARS - 1] + "…"


class _Fact:
    """``engine.facts.Fact`` as far as a commit-msg needs it."""

    __slots__ = (
        "category",
        "code",
        "contexts",
        "group",
        "message_id",
        "params",
        "ref",
        "source",
        "status",
    )

    def __init__(
        self,
        code: str,
        status: str,
        source: str,
        group: str,
        contexts: tuple[str, ...],
        message_id: str,
        params: dict[str, Any] | None = None,
        ref: str = "",
        category: tuple[str, ...] = (),
    ) -> None:
        self.code, self.status, self.source, self.group = code, status, source, group
        self.contexts, self.message_id, self.params, self.ref = contexts, message_id, params, ref
        self.category = category

    def to_dict(self, locale: str, rule_title: str) -> dict[str, Any]:
        if self.group == "TARGET":
            wire = ("TARGET", "TARGET")
        elif self.source in _SYSTEM_SOURCES or not self.contexts:
            wire = ("MAIN", "MAIN")
        else:
            section = _WIRE_SECTION.get(self.contexts[0])
            wire = (section, "DETAIL") if section else ("MAIN", "MAIN")
        params = self.params or {}
        out: dict[str, Any] = {
            "message": translate(self.message_id, locale, **params),
            "code": self.code,
            "status": self.status,
            "source": self.source,
            "group": wire[0],
            "qualifier": wire[1],
            "contexts": list(self.contexts),
        }
        if self.ref:
            out["ref"] = self.ref
        if rule_title:
            out["ruleTitle"] = rule_title
        if self.category:
            out["category"] = list(self.category)
        if params:
            out["params"] = {k: v for k, v in params.items() if isinstance(v, str | int)}
        return out


class _Unit:
    """One target of a rule: the commit, the set of commits (here: the one), the branch."""

    __slots__ = ("commits", "keys", "matches", "ref", "target", "text")

    def __init__(self, target: str, text: str, ref: str, commits: tuple[str, ...]) -> None:
        self.target, self.text, self.ref, self.commits = target, text, ref, commits
        self.matches: list[KeyMatch] = []
        self.keys: list[str] = []

    @property
    def context(self) -> str:
        return _CONTEXT_OF[self.target]

    def fact(
        self,
        code: str,
        status: str,
        source: str,
        message_id: str,
        *,
        group: str = "MAIN",
        ref: str | None = None,
        **params: Any,
    ) -> _Fact:
        return _Fact(
            code,
            status,
            source,
            group,
            (self.context,),
            message_id,
            params,
            self.ref if ref is None else ref,
        )


def _allows(globs: list[str | None], value: str) -> bool:
    include, exclude = globs
    if include is not None and not re.match(include, value):
        return False
    return not (exclude is not None and re.match(exclude, value))


def _shown(text: str) -> str:
    first = text.split("\n", 1)[0]
    return first if len(first) <= 80 else first[:77] + "..."


class _Judge:
    """One evaluation: the message, its author and branch, and the key extraction."""

    def __init__(self, form: dict[str, Any], message: str, author: str, branch: str) -> None:
        self.form, self.message, self.author = form, message, author
        branch = branch.removeprefix("refs/heads/")
        self.branch = "" if branch == "HEAD" else branch
        self.extractor = KeyExtractor(
            form["key_pattern"],
            ignored=form["ignored_keys"],
            backslash_escape=form["backslash_escape"],
            backtick_escape=form["backtick_escape"],
        )
        self.case_insensitive = set(form["case_insensitive"])
        self.escape_note = escape_reason(message, form["escape_token"]) is not None

    def rule(self, rule: dict[str, Any]) -> tuple[str, list[_Fact], list[_Fact], bool, bool]:
        """(status, condition facts, check facts, commits reviewed, checks failed)."""
        conditions: list[_Fact] = []
        skipped = False
        if rule["branches"] is not None:
            ok = _allows(rule["branches"], self.branch)
            conditions.append(
                _Fact(
                    "MATCH" if ok else "NOT_MATCH",
                    "NOT_SKIP" if ok else "SKIP",
                    "BRANCH_CONDITION",
                    "MAIN",
                    ("BRANCH_SOURCE",),
                    "condition.branch.match" if ok else "condition.branch.not_match",
                    {"branch": self.branch or "HEAD"},
                )
            )
            skipped |= not ok
        if rule["users_skip"]:
            conditions.append(
                _Fact(
                    "NOT_MATCH",
                    "SKIP",
                    "CONDITION",
                    "MAIN",
                    ("GLOBAL",),
                    "condition.user.not_match",
                    {"user": ""},
                )
            )
            skipped = True
        if rule["groups_skip"]:
            conditions.append(
                _Fact(
                    "NOT_MATCH",
                    "SKIP",
                    "CONDITION",
                    "MAIN",
                    ("GLOBAL",),
                    "condition.group.not_match",
                )
            )
            skipped = True
        if skipped:
            return "SKIP", conditions, [], False, False

        notes: list[_Fact] = []
        if self.escape_note:  # engine.exempt.classify: a forbidden escape token is said
            notes.append(
                _Fact(
                    "NOT_MATCH",
                    "INFO",
                    "CONDITION",
                    "DETAIL",
                    ("COMMIT",),
                    "escape.forbidden",
                    {"hash": short_hash(ZERO_HASH), "token": f"[{self.form['escape_token']}: …]"},
                    ZERO_HASH,
                    ("EXEMPTION",),
                )
            )
        commits: tuple[str, ...] = (ZERO_HASH,)
        reason = self._skip_reason(rule)
        if reason is not None:
            message_id, params = reason
            commits = ()
            conditions.append(
                _Fact(
                    "MATCH",
                    "SKIP",
                    "CONDITION",
                    "DETAIL",
                    ("COMMIT",),
                    message_id,
                    {"hash": short_hash(ZERO_HASH), **params},
                    ZERO_HASH,
                )
            )
        reviewed = bool(commits) and bool({"COMMIT", "COMMITS"} & set(rule["targets"]))
        units = self._units(rule, commits)
        if not units:
            absent = _Fact("CHECKED", "SKIP", "TARGET", "TARGET", ("GLOBAL",), "target.absent")
            return ("SKIP" if reason else "IGNORE"), conditions, [*notes, absent], reviewed, False
        facts, failed = self._checks(rule, units, commits)
        facts[:0] = notes  # engine.plan: exemption facts come first among the check facts
        status = "PASS"
        if failed:
            status = "BLOCK" if rule["severity"] == "BLOCK" else "WARNING"
        return status, conditions, facts, reviewed, failed

    def _skip_reason(self, rule: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        subject = self.message.split("\n", 1)[0].strip()
        if rule["skip_merge_commits"] and is_merge_subject(subject):
            return "condition.commit.merge", {}
        if rule["skip_reverts"] and is_revert_message(self.message):
            return "condition.commit.revert", {}
        marker = rule["bypass_marker"]
        if marker and marker in self.message:
            return "condition.commit.bypass", {"marker": marker}
        if rule["authors"] is not None and not _allows(rule["authors"], self.author):
            return "condition.commit.author", {"author": self.author}
        return None

    def _units(self, rule: dict[str, Any], commits: tuple[str, ...]) -> list[_Unit]:
        units: list[_Unit] = []
        ci = self.case_insensitive
        for target in rule["targets"]:
            if target == "COMMIT" and commits:
                unit = _Unit(target, self.message, ZERO_HASH, commits)
            elif target == "COMMITS" and commits:
                unit = _Unit(target, self.message, "", commits)
            elif target == "BRANCH" and self.branch:
                unit = _Unit(target, self.branch, "", ())
            else:
                continue  # no commit left, no branch, or a pull-request target
            insensitive = target in ci or (target == "COMMITS" and "COMMIT" in ci)
            unit.matches = self.extractor.find(unit.text, case_insensitive=insensitive)
            unit.keys = list(dict.fromkeys(m.key for m in unit.matches if m.evaluated))
            units.append(unit)
        return units

    def _unit_checks(self, rule: dict[str, Any], unit: _Unit) -> list[tuple[bool, list[_Fact]]]:
        """The unit checks' outcomes in the order of the engine's check registry."""
        noun = MessageRef(f"target.{unit.target}")
        out: list[tuple[bool, list[_Fact]]] = []
        if rule["key_present"]:
            if unit.keys:
                fact = unit.fact(
                    "KEYS_PRESENT",
                    "SUCCESS",
                    "ISSUE_KEY",
                    "keys.present",
                    target=noun,
                    keys=", ".join(unit.keys),
                )
                out.append((True, [fact]))
            else:
                message_id = "keys.none.commit" if unit.target == "COMMIT" else "keys.none"
                out.append(
                    (False, [unit.fact("NO_KEYS", "ERROR", "ISSUE_KEY", message_id, target=noun)])
                )
        if rule["needs_keys"]:
            escaped = [
                unit.fact("FOUND", "INFO", "ISSUE_KEY", "keys.escaped", group="DETAIL", key=m.key)
                for m in unit.matches
                if m.escaped
            ]
            out.append((True, escaped))
        # ignore_unknown_projects: offline, no project list is read and no key is dropped
        if rule["keys_valid"] != "OFF":  # ALL or ONE, offline: not checked against Jira
            out.append((True, [unit.fact("CHECKED", "INFO", "ISSUE_KEY", "jira.offline")]))
        if rule["jql"]:
            if rule["jql_problem"] is not None:
                fact = unit.fact(
                    "NOT_MATCH", "ERROR", "JQL", "jql.unsafe", problem=rule["jql_problem"]
                )
                out.append((False, [fact]))
            else:
                out.append((True, [unit.fact("CHECKED", "INFO", "JQL", "jira.offline")]))
        if rule["naming"]:
            out.append(self._naming(rule["naming"], unit))
        if rule["no_merge_commits"]:
            out.append(self._no_merge(unit, noun))
        return out

    def _naming(self, pattern: str, unit: _Unit) -> tuple[bool, list[_Fact]]:
        regex = compile_user_regex(pattern)
        if unit.target == "COMMITS":
            texts, noun = [(self.message, h) for h in unit.commits], MessageRef("target.COMMIT")
        else:
            texts, noun = [(unit.text, unit.ref)], MessageRef(f"target.{unit.target}")
        passed, facts = True, []
        for text, ref in texts:
            if regex.search(text) is not None:
                facts.append(
                    unit.fact(
                        "MATCH",
                        "SUCCESS",
                        "NAMING",
                        "naming.match",
                        ref=ref,
                        target=noun,
                        text=_shown(text),
                    )
                )
            else:
                passed = False
                facts.append(
                    unit.fact(
                        "NOT_MATCH",
                        "ERROR",
                        "NAMING",
                        "naming.not_match",
                        ref=ref,
                        target=noun,
                        text=_shown(text),
                        pattern=pattern,
                    )
                )
        return passed, facts

    def _no_merge(self, unit: _Unit, noun: MessageRef) -> tuple[bool, list[_Fact]]:
        facts: list[_Fact] = []
        merge = is_merge_subject(self.message.split("\n", 1)[0].strip())
        for commit in unit.commits:
            if merge:
                facts.append(
                    unit.fact(
                        "NOT_MATCH",
                        "ERROR",
                        "CONDITION",
                        "merge.found",
                        ref=commit,
                        hash=short_hash(commit),
                    )
                )
        passed = not facts
        if passed and unit.commits:
            message_id = "merge.none" if len(unit.commits) == 1 else "merge.none_in_set"
            facts.append(
                unit.fact("MATCH", "SUCCESS", "CONDITION", message_id, group="DETAIL", target=noun)
            )
        return passed, facts

    def _checks(
        self, rule: dict[str, Any], units: list[_Unit], commits: tuple[str, ...]
    ) -> tuple[list[_Fact], bool]:
        results: list[bool] = []
        per_unit: list[list[_Fact]] = []
        offline_reported = False
        for unit in units:
            passed, collected = True, []
            for ok, found in self._unit_checks(rule, unit):
                if any(f.message_id == "jira.offline" for f in found):
                    # "not checked against Jira" once per rule, not once per commit
                    if offline_reported:
                        found = [f for f in found if f.message_id != "jira.offline"]
                    offline_reported = True
                passed &= ok
                collected.extend(found)
            results.append(passed)
            per_unit.append(collected)

        main_context = units[0].context
        facts: list[_Fact] = []
        if rule["strategy"] == "AT_LEAST_ONE":
            targets_pass = any(results)
            for ok, collected in zip(results, per_unit, strict=True):
                for fact in collected:
                    if targets_pass and not ok and fact.status == "ERROR":
                        fact.status = "WARNING"  # a target that did not count only warns
                    facts.append(fact)
            facts.append(
                _Fact(
                    "ONE_ENOUGH" if targets_pass else "ONE_NOT_ENOUGH",
                    "SUCCESS" if targets_pass else "ERROR",
                    "TARGET",
                    "TARGET",
                    (main_context,),
                    "target.one_enough" if targets_pass else "target.one_not_enough",
                    {"passed": sum(results), "total": len(results)},
                )
            )
        else:
            targets_pass = all(results)
            for collected in per_unit:
                facts.extend(collected)

        rule_pass = True
        if rule["consistency"]:
            ok, fact = self._consistency(units, main_context)
            rule_pass &= ok
            facts.append(fact)
        if rule["single_commit"]:
            count = len(commits)
            if count == 1:
                fact = _Fact("MATCH", "SUCCESS", "CONDITION", "MAIN", ("COMMITS",), "single.ok")
            else:
                fact = _Fact("CHECKED", "INFO", "CONDITION", "MAIN", ("COMMITS",), "single.none")
            facts.append(fact)  # a commit-msg has one commit, or none left by the conditions
        return facts, not (targets_pass and rule_pass)

    def _consistency(self, units: list[_Unit], context: str) -> tuple[bool, _Fact]:
        issues: dict[str, dict[str, None]] = {}  # issue -> ordered set of places
        for unit in units:
            if unit.target == "COMMIT":
                label = short_hash(unit.ref)
                where = "the new commit" if label == NEW_COMMIT else f"commit {label}"
            else:
                where = _WHERE[unit.target]
            for key in unit.keys:  # offline: every key stands for itself
                issues.setdefault(key, {})[where] = None
        if not issues:
            return True, _Fact(
                "CHECKED", "INFO", "CONSISTENCY", "MAIN", (context,), "consistency.none"
            )
        if len(issues) == 1:
            (key,) = issues
            return True, _Fact(
                "MATCH",
                "SUCCESS",
                "CONSISTENCY",
                "MAIN",
                (context,),
                "consistency.match",
                {"key": key},
            )
        listed = "; ".join(
            f"{key} ({', '.join(list(places)[:3])}{', …' if len(places) > 3 else ''})"
            for key, places in issues.items()
        )
        return False, _Fact(
            "NOT_MATCH",
            "ERROR",
            "CONSISTENCY",
            "MAIN",
            (context,),
            "consistency.not_match",
            {"keys": listed},
        )


def evaluate(
    form: dict[str, Any], message: str, author: str, branch: str, locale: str
) -> dict[str, Any]:
    """The result document (``Evaluation.to_document``) of the engine for this commit-msg."""
    timestamp = int(time.time() * 1000)
    if not form["enabled"]:  # the Process Guardian is off: one informational system fact
        return {
            "timestamp": timestamp,
            "result": "IGNORE",
            "ruleValidations": [],
            "errorValidations": [],
        }
    judge = _Judge(form, message, author, branch)
    validations: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    warnings: list[dict[str, str]] = []
    language = normalize_locale(locale)
    for rule in form["rules"]:
        status, conditions, facts, reviewed, failed = judge.rule(rule)
        mode, enforced = rule["mode"], None  # engine.core.with_mode
        if mode == "warn" and status == "BLOCK":
            status, enforced = "WARNING", "BLOCK"
            for fact in (*conditions, *facts):
                if fact.status == "ERROR":
                    fact.status = "WARNING"
        elif mode == "evaluate" and status in ("BLOCK", "WARNING"):
            status, enforced = "PASS", status
        texts = rule["translations"].get(language, rule)  # Rule.localized
        title = texts["title"]
        api = dict(texts["api"])
        advice = ""
        if (
            failed
            and status in ("BLOCK", "WARNING")
            and any(
                f.status in ("ERROR", "WARNING") and f.contexts[0] in ("COMMIT", "COMMITS")
                for f in facts
                if f.contexts
            )
        ):
            advice = translate(f"fix.commits.COMMIT.{status}", locale)
        api["hint"] = " ".join(t for t in (texts["hint"], advice) if t)
        api["mode"] = mode
        if mode == "warn":
            api["severity"] = "WARNING"
        validation: dict[str, Any] = {
            "rule": api,
            "ruleStatus": status,
            "mode": mode,
            "conditionFacts": [f.to_dict(locale, title) for f in conditions],
            "checkFacts": [f.to_dict(locale, title) for f in facts],
        }
        if status in ("BLOCK", "WARNING"):
            _branch_key_hints(validation, judge, form, message, locale, title)
        if enforced is not None:
            validation["enforcedStatus"] = enforced
            if enforced == "BLOCK":
                validation["wouldHaveBlocked"] = True
        # as engine/listing.py bounds a document: the failing commit named, its subject only
        if any(
            f.ref and f.contexts and f.contexts[0] in _PER_COMMIT and f.status in _PROBLEMS
            for f in (*conditions, *facts)
        ):
            validation["failingCommits"] = [ZERO_HASH]
        if reviewed:
            validation["commitsUnderReview"] = {
                ZERO_HASH: {
                    "hash": ZERO_HASH,
                    "message": _subject(message),
                    "authorDisplayName": author,
                }
            }
        validations.append(validation)
        headline = texts["error"] or title
        if status == "BLOCK" and headline:
            errors.append({"text": headline})
        elif status == "WARNING" and headline:
            warnings.append({"text": headline})
    statuses = [v["ruleStatus"] for v in validations]
    result = next((s for s in _ORDER if s in statuses), "IGNORE")
    error_validations: list[dict[str, Any]] = []
    if errors or warnings:
        error_validations.append(
            {
                "errorMessages": errors,
                "warningMessages": warnings,
                "successMessages": [],
                "detailMessages": [],
            }
        )
    return {
        "timestamp": timestamp,
        "result": result,
        "ruleValidations": validations,
        "errorValidations": error_validations,
    }


def _branch_key_hints(
    validation: dict[str, Any],
    judge: _Judge,
    form: dict[str, Any],
    message: str,
    locale: str,
    title: str,
) -> None:
    """The engine's "the branch names ABC-123" hint (``engine.suggest.annotate``) after a
    commit's "no issue keys" fact: the branch's key, the message shaped by the template."""
    if not judge.branch:
        return
    insensitive = "BRANCH" in judge.case_insensitive
    keys = judge.extractor.keys(judge.branch, case_insensitive=insensitive)
    if not keys:
        return
    template = str(form.get("message_template") or "{key} {message}")
    out: list[dict[str, Any]] = []
    for fact in validation["checkFacts"]:
        out.append(fact)
        contexts = fact.get("contexts") or []
        if fact.get("code") != "NO_KEYS" or contexts[:1] not in (["COMMIT"], ["COMMITS"]):
            continue
        ref = str(fact.get("ref") or "")
        subject = message.split("\n", 1)[0].strip() if ref == ZERO_HASH else ""
        example = template.replace("{key}", keys[0]).replace("{message}", subject or "…")
        params = {"key": keys[0], "example": example}
        hint = {
            "message": translate("suggest.branch_key", locale, **params),
            "code": "CHECKED",
            "status": "INFO",
            "source": "ISSUE_KEY",
            "group": "COMMIT",
            "qualifier": "DETAIL",
            "contexts": contexts[:1],
        }
        if ref:
            hint["ref"] = ref
        if title:
            hint["ruleTitle"] = title
        hint["category"] = ["HINT"]
        hint["params"] = params
        out.append(hint)
    validation["checkFacts"] = out
