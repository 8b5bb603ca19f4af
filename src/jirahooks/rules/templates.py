"""Built-in rule templates, as data. One ordered table; a test checks ids are unique, every
template validates, and docs/rules.md documents each one.

A configuration document uses one with ``template: <name>`` plus any overrides, deep-merged.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Template:
    name: str
    summary: str
    rule: Mapping[str, Any]

    def expand(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """The template's rule dict with ``overrides`` deep-merged on top."""
        return _merge(copy.deepcopy(dict(self.rule)), overrides)


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            base[key] = _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


_TEMPLATES: tuple[Template, ...] = (
    Template(
        "commit-key-required",
        "Issue key required in every commit",
        {
            "id": "commit-key-required",
            "title": "Issue key required in every commit",
            "triggers": ["COMMIT", "PUSH", "PULL_REQUEST"],
            "targets": ["COMMIT"],
            "conditions": {"skip_merge_commits": True, "skip_reverts": True},
            "checks": {"key_present": True},
            "error": "Every commit message must reference a Jira issue.",
            "success": "Every commit references a Jira issue.",
            # how to reword depends on the hook (commit-msg: nothing was committed yet); the
            # engine adds that advice (RuleValidation.hint)
            "hint": "Start the commit message with the issue key, e.g. 'ABC-123 Fix login'.",
        },
    ),
    Template(
        "one-commit-with-key",
        "At least one commit with an issue key",
        {
            "id": "one-commit-with-key",
            "title": "At least one commit references an issue",
            "triggers": ["PUSH", "PULL_REQUEST"],
            "targets": ["COMMITS"],
            "checks": {"key_present": True},
            "error": "None of the commits references a Jira issue.",
            "success": "The commits reference a Jira issue.",
            "hint": "Reference the issue key in at least one commit message.",
        },
    ),
    Template(
        "branch-key-required",
        "Branch must reference an issue",
        {
            "id": "branch-key-required",
            "title": "Branch must reference an issue",
            "triggers": ["PUSH", "PULL_REQUEST"],
            "targets": ["BRANCH"],
            "conditions": {"branches": {"exclude": ["main", "master", "develop", "release/*"]}},
            "checks": {"key_present": True, "keys_valid": "ALL"},
            "error": "The branch name does not reference a valid Jira issue.",
            "success": "The branch references a Jira issue.",
            "hint": "Name the branch after the issue, e.g. feature/ABC-123-login "
            "(git branch -m feature/ABC-123-login).",
        },
    ),
    Template(
        "all-keys-valid",
        "All keys must be valid",
        {
            "id": "all-keys-valid",
            "title": "All issue keys must exist in Jira",
            "targets": ["COMMIT", "BRANCH", "PR_TITLE"],
            "checks": {"keys_valid": "ALL", "ignore_unknown_projects": True},
            "error": "Some issue keys do not exist in Jira.",
            "success": "All issue keys exist in Jira.",
            "hint": "Check the key for typos; the issue may also be hidden from the Jira user "
            "of the connection.",
        },
    ),
    Template(
        "issue-in-progress",
        "Issue must be in an allowed status",
        {
            "id": "issue-in-progress",
            "title": "Referenced issues must be In Progress",
            "targets": ["COMMIT", "BRANCH"],
            "conditions": {"skip_merge_commits": True},
            "checks": {"key_present": True, "keys_valid": "ALL", "jql": 'status = "In Progress"'},
            "error": "Referenced issues must be In Progress.",
            "success": "All referenced issues are In Progress.",
            "hint": "Move the issue to In Progress in Jira, or reference an issue that is.",
        },
    ),
    Template(
        "same-issue",
        "Branch, commits and PR title reference the same issue",
        {
            "id": "same-issue",
            "title": "Branch, commits and PR title reference the same issue",
            "triggers": ["PUSH", "PULL_REQUEST"],
            "targets": ["BRANCH", "COMMIT", "PR_TITLE"],
            "conditions": {"skip_merge_commits": True},
            "checks": {"key_present": True, "consistency": True},
            "error": "Branch, commits and pull-request title reference different issues.",
            "success": "Branch, commits and pull-request title reference the same issue.",
            "hint": "Use one issue key everywhere, or split the work into one branch per issue.",
        },
    ),
    Template(
        "gitflow-branch-naming",
        "Git-flow branch naming",
        {
            "id": "gitflow-branch-naming",
            "title": "Branch names follow git-flow",
            "triggers": ["PUSH", "PULL_REQUEST"],
            "targets": ["BRANCH"],
            "conditions": {"branches": {"exclude": ["main", "master", "develop"]}},
            "checks": {
                "naming": r"^(feature|bugfix|hotfix)/[A-Za-z][A-Za-z0-9_]+-[0-9]+(-[a-z0-9._-]+)?$"
                r"|^release/[0-9]+(\.[0-9]+)*$"
            },
            "error": "The branch name does not follow git-flow naming.",
            "success": "The branch name follows git-flow naming.",
            "hint": "Use feature/ABC-123-short-text, bugfix/…, hotfix/… or release/1.2.",
        },
    ),
    Template(
        "pr-title-convention",
        "PR title convention",
        {
            "id": "pr-title-convention",
            "title": "Pull-request title starts with the issue key",
            "triggers": ["PULL_REQUEST"],
            "targets": ["PR_TITLE"],
            "checks": {"key_present": True, "naming": r"^[A-Z][A-Z0-9_]+-[0-9]+[: ] ?\S"},
            "error": "The pull-request title must start with the issue key.",
            "success": "The pull-request title follows the convention.",
            "hint": "Title the pull request 'ABC-123: What it does'.",
        },
    ),
    Template(
        "release-fix-version",
        "Release branches need a fix version",
        {
            "id": "release-fix-version",
            "title": "Changes to release branches need a fix version",
            "triggers": ["PUSH", "PULL_REQUEST"],
            "targets": ["COMMIT"],
            "conditions": {"branches": {"include": ["release/*"]}, "skip_merge_commits": True},
            "checks": {"key_present": True, "keys_valid": "ALL", "jql": "fixVersion is not EMPTY"},
            "error": "Issues changed on a release branch must have a fix version.",
            "success": "Every issue has a fix version.",
            "hint": "Set the fix version of the issue in Jira.",
        },
    ),
    Template(
        "no-merge-commits",
        "No merge commits",
        {
            "id": "no-merge-commits",
            "title": "No merge commits",
            "triggers": ["PUSH", "PULL_REQUEST"],
            "targets": ["COMMIT"],
            "checks": {"no_merge_commits": True},
            "error": "Merge commits are not allowed.",
            "success": "No merge commits.",
            "hint": "Rebase instead of merging: git pull --rebase, or git rebase origin/main.",
        },
    ),
    Template(
        "squash-before-merge",
        "Squash before merge",
        {
            "id": "squash-before-merge",
            "title": "Pull requests contain a single commit",
            "triggers": ["PULL_REQUEST"],
            "targets": ["COMMITS"],
            "checks": {"single_commit": True},
            "error": "The pull request must contain exactly one commit.",
            "success": "The pull request contains a single commit.",
            "hint": "Squash the commits: git rebase -i origin/main, then force-push.",
        },
    ),
)

# The templates' texts in German (a rule's ``translations``): hooks and pages that ask in de-DE
# get them instead of the English ones.
GERMAN: dict[str, dict[str, str]] = {
    "commit-key-required": {
        "title": "Vorgangsschlüssel in jedem Commit",
        "error": "Jede Commit-Nachricht muss auf einen Jira-Vorgang verweisen.",
        "success": "Jeder Commit verweist auf einen Jira-Vorgang.",
        "hint": "Beginnen Sie die Commit-Nachricht mit dem Vorgangsschlüssel, z. B. 'ABC-123 Login korrigiert'.",
    },
    "one-commit-with-key": {
        "title": "Mindestens ein Commit verweist auf einen Vorgang",
        "error": "Keiner der Commits verweist auf einen Jira-Vorgang.",
        "success": "Die Commits verweisen auf einen Jira-Vorgang.",
        "hint": "Nennen Sie den Vorgangsschlüssel in mindestens einer Commit-Nachricht.",
    },
    "branch-key-required": {
        "title": "Branch muss auf einen Vorgang verweisen",
        "error": "Der Branch-Name verweist auf keinen gültigen Jira-Vorgang.",
        "success": "Der Branch verweist auf einen Jira-Vorgang.",
        "hint": "Benennen Sie den Branch nach dem Vorgang, z. B. feature/ABC-123-login.",
    },
    "all-keys-valid": {
        "title": "Alle Vorgangsschlüssel müssen in Jira existieren",
        "error": "Einige Vorgangsschlüssel existieren in Jira nicht.",
        "success": "Alle Vorgangsschlüssel existieren in Jira.",
        "hint": "Prüfen Sie den Schlüssel auf Tippfehler; der Vorgang kann auch für den Jira-Benutzer der Verbindung unsichtbar sein.",
    },
    "issue-in-progress": {
        "title": "Referenzierte Vorgänge müssen in Arbeit sein",
        "error": "Referenzierte Vorgänge müssen in Arbeit sein.",
        "success": "Alle referenzierten Vorgänge sind in Arbeit.",
        "hint": "Setzen Sie den Vorgang in Jira auf In Arbeit oder verweisen Sie auf einen, der es ist.",
    },
    "same-issue": {
        "title": "Branch, Commits und PR-Titel verweisen auf denselben Vorgang",
        "error": "Branch, Commits und Pull-Request-Titel verweisen auf verschiedene Vorgänge.",
        "success": "Branch, Commits und Pull-Request-Titel verweisen auf denselben Vorgang.",
        "hint": "Verwenden Sie überall einen Vorgangsschlüssel oder teilen Sie die Arbeit in einen Branch pro Vorgang.",
    },
    "gitflow-branch-naming": {
        "title": "Branch-Namen folgen git-flow",
        "error": "Der Branch-Name folgt nicht der git-flow-Benennung.",
        "success": "Der Branch-Name folgt der git-flow-Benennung.",
        "hint": "Verwenden Sie feature/ABC-123-kurzer-text, bugfix/…, hotfix/… oder release/1.2.",
    },
    "pr-title-convention": {
        "title": "Pull-Request-Titel beginnt mit dem Vorgangsschlüssel",
        "error": "Der Pull-Request-Titel muss mit dem Vorgangsschlüssel beginnen.",
        "success": "Der Pull-Request-Titel folgt der Konvention.",
        "hint": "Nennen Sie den Pull-Request 'ABC-123: Was er tut'.",
    },
    "release-fix-version": {
        "title": "Änderungen an Release-Branches brauchen eine Lösungsversion",
        "error": "Auf einem Release-Branch geänderte Vorgänge müssen eine Lösungsversion haben.",
        "success": "Jeder Vorgang hat eine Lösungsversion.",
        "hint": "Setzen Sie die Lösungsversion des Vorgangs in Jira.",
    },
    "no-merge-commits": {
        "title": "Keine Merge-Commits",
        "error": "Merge-Commits sind nicht erlaubt.",
        "success": "Keine Merge-Commits.",
        "hint": "Rebasen statt mergen: git pull --rebase oder git rebase origin/main.",
    },
    "squash-before-merge": {
        "title": "Pull-Requests enthalten einen einzigen Commit",
        "error": "Der Pull-Request muss genau einen Commit enthalten.",
        "success": "Der Pull-Request enthält einen einzigen Commit.",
        "hint": "Fassen Sie die Commits zusammen: git rebase -i origin/main, dann force-push.",
    },
}

# smart commits (engine/checks/smart.py), kept apart from the tables above
_TEMPLATES += (
    Template(
        "smart-commits",
        "Smart-commit commands Jira understands",
        {
            "id": "smart-commits",
            "title": "Smart-commit commands are well formed",
            "severity": "WARNING",
            "triggers": ["COMMIT", "PUSH", "PULL_REQUEST"],
            "targets": ["COMMIT"],
            "conditions": {"skip_merge_commits": True, "skip_reverts": True},
            "checks": {
                "smart_commits": True,
                "smart_commit_transitions": [
                    "start-progress",
                    "stop-progress",
                    "resolve-issue",
                    "close-issue",
                    "reopen-issue",
                    "to-do",
                    "in-progress",
                    "in-review",
                    "done",
                ],
            },
            "error": "A smart-commit command would do nothing in Jira.",
            "success": "Smart-commit commands are well formed.",
            "hint": "Write e.g. 'ABC-123 #time 1w 2d 4h 30m #comment Fixed it #done'; list your "
            "workflow's transitions in checks.smart_commit_transitions.",
        },
    ),
)
GERMAN["smart-commits"] = {
    "title": "Smart-Commit-Befehle sind korrekt",
    "error": "Ein Smart-Commit-Befehl würde in Jira nichts bewirken.",
    "success": "Smart-Commit-Befehle sind korrekt.",
    "hint": "Schreiben Sie z. B. 'ABC-123 #time 1w 2d 4h 30m #comment Behoben #done'; tragen Sie "
    "die Übergänge Ihres Workflows in checks.smart_commit_transitions ein.",
}

TEMPLATES: tuple[Template, ...] = tuple(
    Template(t.name, t.summary, {**t.rule, "translations": {"de-DE": GERMAN[str(t.rule["id"])]}})
    for t in _TEMPLATES
)

BY_NAME: dict[str, Template] = {t.name: t for t in TEMPLATES}


def get(name: str) -> Template | None:
    return BY_NAME.get(name)
