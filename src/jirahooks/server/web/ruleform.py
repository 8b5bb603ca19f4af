"""The rule editor's form ↔ the rule document (``rules.config.parse_rule``'s input), the mapping
of schema problem paths to form fields, the "try it" event, and grouping of facts the way the
hook clients group them (per section, per commit)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from jirahooks.event import ZERO_HASH, Commit, Event, PullRequest, Trigger
from jirahooks.rules.model import RULE_TEXTS, KeysValid, Rule, Severity, Strategy
from jirahooks.server.web.i18n import N_

TRIGGERS = (
    ("COMMIT", N_("Commit"), N_("a commit is created (commit-msg hook)")),
    ("PUSH", N_("Push"), N_("a set of commits is pushed")),
    ("PULL_REQUEST", N_("Pull request"), N_("created, updated, re-checked or about to merge")),
    ("MERGE_COMMIT", N_("Merge commit"), N_("the final merge commit of a PR")),
)
TARGETS = (
    ("COMMIT", N_("Each commit"), N_("every commit on its own")),
    ("COMMITS", N_("Commits together"), N_("one valid commit can be enough")),
    ("BRANCH", N_("Branch name"), ""),
    ("PR_TITLE", N_("PR title"), ""),
    ("PR_DESCRIPTION", N_("PR description"), ""),
)
PATTERN_FIELDS = (
    ("branches", N_("Branches"), N_("current (commit), pushed (push) or source (PR) branch")),
    ("destination_branches", N_("PR destination branches"), ""),
    ("users", N_("Users"), N_("who pushed or opened the PR")),
    ("groups", N_("Groups"), ""),
    ("authors", N_("Commit authors"), N_("name or e-mail; excluded authors' commits are skipped")),
)
MODES = (
    ("", N_("Default of the workspace or repository")),
    ("enforce", N_("enforce — applied as its severity says")),
    ("warn", N_("warn — shown, never blocks")),
    ("evaluate", N_("evaluate — not shown; recorded as “would have blocked”")),
)
TEXT_FIELDS = ("id", "title", "description", "error", "success", "hint")
# The rule's texts in German, from the editor's "Texts in German" fields (de-DE_title, …).
TRANSLATED = ("de-DE",)
BOOL_FIELDS = ("enabled", "show_rule")
CONDITION_BOOLS = ("skip_merge_commits", "skip_reverts")
CHECK_BOOLS = (
    "key_present",
    "ignore_unknown_projects",
    "consistency",
    "no_merge_commits",
    "single_commit",
)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name)
    return values[0].strip() if values else ""


def form_to_document(form: dict[str, list[str]]) -> dict[str, Any]:
    """The rule as plain data, as the admin API takes it."""
    doc: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = _one(form, name)
        if value or name == "title":
            doc[name] = value
    for name in BOOL_FIELDS:
        doc[name] = _one(form, name) in ("on", "true", "1")
    doc["severity"] = _one(form, "severity") or Severity.BLOCK.value
    if _one(form, "mode"):  # empty: the workspace's / repository's default mode
        doc["mode"] = _one(form, "mode")
    doc["triggers"] = [t for t, _, _ in TRIGGERS if t in form.get("triggers", [])]
    doc["targets"] = [t for t, _, _ in TARGETS if t in form.get("targets", [])]
    doc["strategy"] = _one(form, "strategy") or Strategy.ALL.value
    conditions: dict[str, Any] = {}
    for name, _, _ in PATTERN_FIELDS:
        include = _lines(_one(form, f"{name}_include"))
        exclude = _lines(_one(form, f"{name}_exclude"))
        if include or exclude:
            conditions[name] = {
                **({"include": include} if include else {}),
                **({"exclude": exclude} if exclude else {}),
            }
    for name in CONDITION_BOOLS:
        if _one(form, name) in ("on", "true", "1"):
            conditions[name] = True
    if _one(form, "bypass_marker"):
        conditions["bypass_marker"] = _one(form, "bypass_marker")
    if conditions:
        doc["conditions"] = conditions
    checks: dict[str, Any] = {}
    for name in CHECK_BOOLS:
        if _one(form, name) in ("on", "true", "1"):
            checks[name] = True
    keys_valid = _one(form, "keys_valid") or KeysValid.OFF.value
    if keys_valid != KeysValid.OFF.value:
        checks["keys_valid"] = keys_valid
    for name in ("jql", "naming"):
        if _one(form, name):
            checks[name] = _one(form, name)
    doc["checks"] = checks
    translations: dict[str, dict[str, str]] = {}
    for locale in TRANSLATED:
        texts = {n: _one(form, f"{locale}_{n}") for n in RULE_TEXTS if _one(form, f"{locale}_{n}")}
        if texts:
            translations[locale] = texts
    if translations:
        doc["translations"] = translations
    return doc


def rule_to_values(rule: Rule) -> dict[str, Any]:
    """Every form field's value for an existing rule (defaults included)."""
    values: dict[str, Any] = {name: getattr(rule, name) for name in TEXT_FIELDS}
    values.update({name: getattr(rule, name) for name in BOOL_FIELDS})
    values["severity"] = rule.severity.value
    values["mode"] = rule.mode.value if rule.mode is not None else ""
    values["triggers"] = [t.value for t in rule.triggers]
    values["targets"] = [t.value for t in rule.targets]
    values["strategy"] = rule.strategy.value
    c = rule.conditions
    for name, _, _ in PATTERN_FIELDS:
        patterns = getattr(c, name)
        values[f"{name}_include"] = "\n".join(patterns.include)
        values[f"{name}_exclude"] = "\n".join(patterns.exclude)
    for name in CONDITION_BOOLS:
        values[name] = getattr(c, name)
    values["bypass_marker"] = c.bypass_marker
    for name in CHECK_BOOLS:
        values[name] = getattr(rule.checks, name)
    values["keys_valid"] = rule.checks.keys_valid.value
    values["jql"] = rule.checks.jql
    values["naming"] = rule.checks.naming
    for locale in TRANSLATED:
        texts = rule.translations.get(locale)
        for name in RULE_TEXTS:
            values[f"{locale}_{name}"] = getattr(texts, name) if texts else ""
    return values


def form_values(form: dict[str, list[str]]) -> dict[str, Any]:
    """The form as submitted, for re-displaying it next to validation messages."""
    doc = form_to_document(form)
    values: dict[str, Any] = {name: _one(form, name) for name in TEXT_FIELDS}
    values.update({name: doc[name] for name in BOOL_FIELDS})
    values.update(
        severity=doc["severity"],
        mode=_one(form, "mode"),
        triggers=doc["triggers"],
        targets=doc["targets"],
        strategy=doc["strategy"],
        keys_valid=_one(form, "keys_valid") or "OFF",
        jql=_one(form, "jql"),
        naming=_one(form, "naming"),
        bypass_marker=_one(form, "bypass_marker"),
    )
    for name, _, _ in PATTERN_FIELDS:
        values[f"{name}_include"] = _one(form, f"{name}_include")
        values[f"{name}_exclude"] = _one(form, f"{name}_exclude")
    for name in (*CONDITION_BOOLS, *CHECK_BOOLS):
        values[name] = _one(form, name) in ("on", "true", "1")
    for locale in TRANSLATED:
        for name in RULE_TEXTS:
            values[f"{locale}_{name}"] = _one(form, f"{locale}_{name}")
    return values


def field_for(path: str) -> str:
    """A schema problem path (``rule.conditions.branches.include[0]``) → the form field."""
    parts = path.split(".")
    if parts and parts[0] == "rule":
        parts = parts[1:]
    parts = [p.split("[", 1)[0] for p in parts]
    if not parts:
        return "_form"
    if parts[0] == "conditions" and len(parts) >= 2:
        if len(parts) >= 3 and parts[2] in ("include", "exclude"):
            return f"{parts[1]}_{parts[2]}"
        return parts[1]
    if parts[0] == "checks" and len(parts) >= 2:
        return parts[1]
    if parts[0] == "translations" and len(parts) >= 3:
        return f"{parts[1]}_{parts[2]}"
    return parts[0]


def _hash(i: int, message: str) -> str:
    return hashlib.sha1(f"{i}:{message}".encode()).hexdigest()


def split_commits(text: str) -> list[str]:
    """Commit messages typed in: separated by lines holding only ``---``, else one per line."""
    if any(line.strip() == "---" for line in text.splitlines()):
        chunks: list[list[str]] = [[]]
        for line in text.splitlines():
            if line.strip() == "---":
                chunks.append([])
            else:
                chunks[-1].append(line)
        return ["\n".join(c).strip() for c in chunks if "\n".join(c).strip()]
    return _lines(text)


@dataclass(frozen=True)
class TryInput:
    trigger: str = "PUSH"
    branch: str = ""
    commits: str = ""
    pr_title: str = ""
    pr_description: str = ""
    destination: str = "main"
    author: str = "Ada Tester"

    @classmethod
    def from_form(cls, form: dict[str, list[str]]) -> TryInput:
        trigger = _one(form, "try_trigger") or "PUSH"
        if trigger not in {t for t, _, _ in TRIGGERS}:
            trigger = "PUSH"
        values = form.get("try_commits")
        return cls(
            trigger=trigger,
            branch=_one(form, "try_branch"),
            commits=values[0] if values else "",
            pr_title=_one(form, "try_pr_title"),
            pr_description=(form.get("try_pr_description") or [""])[0],
            destination=_one(form, "try_destination") or "main",
        )

    def event(self, repository: str = "") -> Event:
        trigger = Trigger(self.trigger)
        messages = split_commits(self.commits)
        if trigger is Trigger.COMMIT:
            messages = messages[:1]
        commits = tuple(
            Commit(
                hash=ZERO_HASH if trigger is Trigger.COMMIT else _hash(i, m),
                message=m,
                author_name=self.author,
            )
            for i, m in enumerate(messages)
        )
        pr = None
        if trigger in (Trigger.PULL_REQUEST, Trigger.MERGE_COMMIT):
            pr = PullRequest(
                id="1",
                title=self.pr_title,
                description=self.pr_description,
                source_branch=self.branch,
                destination_branch=self.destination,
                author=self.author,
            )
        return Event(trigger, self.branch, commits, pr, repository, self.author)


SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (N_("Branch"), ("BRANCH_SOURCE", "BRANCH_DESTINATION")),
    (N_("Title"), ("PR_TITLE",)),
    (N_("Description"), ("PR_DESCRIPTION",)),
    (N_("Commits"), ("COMMIT", "COMMITS")),
    ("Jira", ("SYSTEM", "GLOBAL")),
)


@dataclass
class FactGroup:
    ref: str
    subject: str
    facts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The commit's short hash as every output shows it (``output.short_hash``)."""
        from jirahooks.output import short_hash

        return short_hash(self.ref)


@dataclass
class Section:
    title: str
    groups: list[FactGroup] = field(default_factory=list)


def group_facts(rule_validation: dict[str, Any]) -> list[Section]:
    """A rule validation's facts per section (Branch, Title, Description, Commits, Jira) and,
    for commits, per commit — as the hook clients print them."""
    facts = [
        *rule_validation.get("conditionFacts", []),
        *rule_validation.get("checkFacts", []),
    ]
    commits = rule_validation.get("commitsUnderReview", {}) or {}
    sections: list[Section] = []
    placed: set[int] = set()
    for title, contexts in SECTIONS:
        section = Section(title)
        by_ref: dict[str, FactGroup] = {}
        for i, fact in enumerate(facts):
            ctx = (fact.get("contexts") or ["GLOBAL"])[0]
            if ctx not in contexts:
                continue
            placed.add(i)
            ref = str(fact.get("ref", "")) if title == "Commits" else ""
            if ref not in by_ref:
                message = str(commits.get(ref, {}).get("message", "")) if ref else ""
                by_ref[ref] = FactGroup(ref, message.split("\n", 1)[0][:72])
            by_ref[ref].facts.append(fact)
        section.groups = list(by_ref.values())
        if section.groups:
            sections.append(section)
    rest = [f for i, f in enumerate(facts) if i not in placed]
    if rest:
        sections.append(Section(N_("Other"), [FactGroup("", "", rest)]))
    return sections
