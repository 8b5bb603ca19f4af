"""The rule model (product.md: Rule, Process Guardian settings), declared once as dataclasses.

Field docs and checks live in the field metadata and feed both validation (``schema.Reader``)
and the reference in docs/rules.md.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

from jirahooks.event import Trigger
from jirahooks.keys import DEFAULT_IGNORED_KEYS, DEFAULT_KEY_PATTERN, compile_user_regex
from jirahooks.rules.jql import HINT as JQL_HINT
from jirahooks.rules.jql import error as jql_error
from jirahooks.rules.schema import field


class Target(StrEnum):
    """What a rule looks at."""

    COMMIT = "COMMIT"  # every commit on its own
    COMMITS = "COMMITS"  # the commits as one set (one commit with a key can be enough)
    BRANCH = "BRANCH"  # the branch name (current, pushed, or PR source)
    PR_TITLE = "PR_TITLE"
    PR_DESCRIPTION = "PR_DESCRIPTION"


class Strategy(StrEnum):
    """Whether every target must pass or one passing target is enough."""

    ALL = "ALL"
    AT_LEAST_ONE = "AT_LEAST_ONE"


class Severity(StrEnum):
    """What a failing rule does: block the change, or only warn."""

    BLOCK = "BLOCK"
    WARNING = "WARNING"


class Mode(StrEnum):
    """How a rule's failure reaches the pusher (docs/rules.md, "Rule modes"; ADR 0011).

    ``enforce``: as its severity says (BLOCK blocks). ``warn``: shown, never blocks — what
    ``severity: WARNING`` always meant. ``evaluate``: not shown to the pusher; a failure is
    recorded in the stored evaluation as "would have blocked" (or warned), so an administrator
    sees on the dashboard when the rule is safe to enforce."""

    ENFORCE = "enforce"
    WARN = "warn"
    EVALUATE = "evaluate"


class KeysValid(StrEnum):
    OFF = "OFF"
    ALL = "ALL"  # every key must resolve in Jira
    ONE = "ONE"  # at least one key must resolve


class Scope(StrEnum):
    WORKSPACE = "WORKSPACE"
    REPOSITORY = "REPOSITORY"


class UnreachablePolicy(StrEnum):
    """What happens when Jira cannot be asked (down, token rejected, out of time)."""

    BLOCK = "BLOCK"
    WARN = "WARN"
    ALLOW = "ALLOW"


def _regex_error(value: str) -> str | None:
    if not value:
        return None
    try:
        compile_user_regex(value)
    except ValueError as exc:
        return f"invalid regular expression: {exc}"
    return None


def _globs(values: tuple[str, ...]) -> str | None:
    for v in values:
        if not v.strip():
            return "empty pattern"
    return None


@dataclass(frozen=True)
class Patterns:
    """Include / exclude glob patterns (``*``, ``?``, ``[abc]``), matched case-sensitively.

    A value passes when it matches some include pattern (or there are none) and no exclude one.
    """

    include: tuple[str, ...] = field((), doc="globs; empty means everything", check=_globs)
    exclude: tuple[str, ...] = field(
        (), doc="globs that take precedence over include", check=_globs
    )

    @cached_property
    def _include(self) -> re.Pattern[str] | None:
        return _compile_globs(self.include)

    @cached_property
    def _exclude(self) -> re.Pattern[str] | None:
        return _compile_globs(self.exclude)

    @property
    def empty(self) -> bool:
        return not self.include and not self.exclude

    def allows(self, value: str) -> bool:
        if self._include is not None and not self._include.match(value):
            return False
        return not (self._exclude is not None and self._exclude.match(value))

    def allows_any(self, values: frozenset[str] | set[str]) -> bool:
        """For group conditions: include if any value is included, exclude if any is excluded."""
        if self._exclude is not None and any(self._exclude.match(v) for v in values):
            return False
        return self._include is None or any(self._include.match(v) for v in values)


def _compile_globs(globs: tuple[str, ...]) -> re.Pattern[str] | None:
    # fnmatch.translate output is safe from catastrophic backtracking on Python >= 3.9.
    return re.compile("|".join(fnmatch.translate(g) for g in globs)) if globs else None


@dataclass(frozen=True)
class Conditions:
    """All conditions must hold, else the rule is skipped (commit conditions skip single commits)."""

    branches: Patterns = field(
        factory=Patterns, doc="current branch (COMMIT), pushed branch (PUSH), source branch (PR)"
    )
    destination_branches: Patterns = field(
        factory=Patterns, doc="pull-request destination branch; ignored when there is no PR"
    )
    users: Patterns = field(factory=Patterns, doc="who pushed or opened the PR")
    groups: Patterns = field(factory=Patterns, doc="groups of that user")
    authors: Patterns = field(
        factory=Patterns, doc="commit author name or e-mail; excluded authors' commits are skipped"
    )
    skip_merge_commits: bool = field(False, doc="merge commits are not evaluated")
    skip_reverts: bool = field(False, doc="revert commits are not evaluated")
    bypass_marker: str = field(
        "", doc="a commit whose message contains this text is not evaluated (e.g. [skip jira])"
    )


def _freshness_error(value: float) -> str | None:
    if not 0 <= value <= 7 * 86400:
        return "between 0 (always ask Jira) and 604800 seconds (a week)"
    return None


@dataclass(frozen=True)
class Checks:
    """What a rule checks on each target. See the check registry in ``jirahooks.engine.checks``."""

    key_present: bool = field(False, doc="the target contains an issue key")
    keys_valid: KeysValid = field(
        KeysValid.OFF, doc="OFF, ALL (every key resolves in Jira) or ONE (at least one does)"
    )
    ignore_unknown_projects: bool = field(
        False, doc="keys of projects no enabled Jira connection knows are not keys (UTF-8, KIP-500)"
    )
    jql: str = field(
        "",
        doc="every referenced issue must match this JQL (one condition: balanced parentheses, "
        "closed quotes, no ORDER BY — checked without Jira when saved and before each use)",
        check=jql_error,
        hint=JQL_HINT,
    )
    jql_freshness_seconds: float = field(
        300.0,
        doc="the JQL's answer may be this many seconds old at most (0: ask Jira every time)",
        check=_freshness_error,
    )
    consistency: bool = field(
        False, doc="all keys in the selected targets reference one and the same issue"
    )
    naming: str = field(
        "",
        doc="a regular expression (RE2 syntax) the target text must match (search; anchor with ^ $)",
        check=_regex_error,
        hint="RE2 syntax: no backreferences or lookaround",
    )
    no_merge_commits: bool = field(False, doc="no commit may be a merge commit")
    single_commit: bool = field(False, doc="exactly one commit (squash before merge)")
    # smart commits (engine/checks/smart.py): appended here, separate from the checks above
    smart_commits: bool = field(
        False,
        doc="Jira smart-commit commands in commit messages (#comment, #time 1w 2d 4h 30m, "
        "#<transition>) are well formed, and transitions are ones smart_commit_transitions lists",
    )
    smart_commit_transitions: tuple[str, ...] = field(
        (),
        doc="transition names smart commits may use, as written after # (spaces as '-', any "
        "case: start-progress, close); empty: transition names are not checked",
        check=lambda v: _transition_names_error(v),
    )

    @property
    def needs_keys(self) -> bool:
        return (
            self.key_present
            or self.keys_valid is not KeysValid.OFF
            or bool(self.jql)
            or self.consistency
        )

    @property
    def needs_jira(self) -> bool:
        return self.keys_valid is not KeysValid.OFF or bool(self.jql) or self.consistency


def _id_error(value: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", value):
        return "ids are 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"
    return None


def _triggers_error(value: frozenset[Trigger]) -> str | None:
    return "a rule needs at least one trigger" if not value else None


def _targets_error(value: tuple[Target, ...]) -> str | None:
    if not value:
        return "a rule needs at least one target"
    if len(set(value)) != len(value):
        return "a target is listed twice"
    return None


DEFAULT_TRIGGERS = frozenset({Trigger.COMMIT, Trigger.PUSH, Trigger.PULL_REQUEST})

RULE_TEXTS = ("title", "description", "error", "success", "hint")


@dataclass(frozen=True)
class RuleTexts:
    """A rule's texts in one more language; an empty text falls back to the rule's own."""

    title: str = field("", doc="the title in this language")
    description: str = field("", doc="the description in this language")
    error: str = field("", doc="the error message in this language")
    success: str = field("", doc="the success message in this language")
    hint: str = field("", doc="the hint in this language")


def _translations_error(value: dict[str, RuleTexts]) -> str | None:
    from jirahooks.i18n import LOCALES

    unknown = [k for k in value if k not in LOCALES]
    if unknown:
        return f"unknown locale '{unknown[0]}'"
    return None


@dataclass(frozen=True)
class Rule:
    """One compliance policy."""

    id: str = field(
        doc="unique within its scope; repository rules override workspace rules by id",
        check=_id_error,
    )
    title: str = field(doc="short name shown with every result")
    enabled: bool = field(True, doc="disabled rules are not evaluated")
    description: str = field("", doc="what the rule is for")
    show_rule: bool = field(False, doc="show the rule on a PR even when its conditions skip it")
    error: str = field("", doc="shown when the rule blocks")
    success: str = field("", doc="shown when the rule passes")
    hint: str = field("", doc="how to fix a failure")
    severity: Severity = field(Severity.BLOCK, doc="BLOCK, or WARNING to only warn")
    mode: Mode | None = field(
        None,
        doc="enforce, warn (shown, never blocks) or evaluate (not shown; recorded as would have "
        "blocked); unset: the settings' default_mode",
    )
    triggers: frozenset[Trigger] = field(
        DEFAULT_TRIGGERS, doc="COMMIT, PUSH, PULL_REQUEST, MERGE_COMMIT", check=_triggers_error
    )
    targets: tuple[Target, ...] = field(
        (Target.COMMIT,),
        doc="COMMIT, COMMITS, BRANCH, PR_TITLE, PR_DESCRIPTION",
        check=_targets_error,
    )
    strategy: Strategy = field(Strategy.ALL, doc="ALL targets must pass, or AT_LEAST_ONE")
    conditions: Conditions = field(factory=Conditions, doc="when the rule applies")
    checks: Checks = field(factory=Checks, doc="what the rule checks")
    scope: Scope = field(Scope.WORKSPACE, doc="set by where the rule is declared")
    translations: dict[str, RuleTexts] = dataclasses.field(
        default_factory=dict,
        hash=False,
        metadata={
            "doc": "title, description, error, success and hint per locale (de-DE: …), shown "
            "to hooks and pages that ask in that language",
            "check": _translations_error,
            "hint": "locales: en-US, de-DE",
        },
    )

    def localized(self, locale: str) -> Rule:
        """The rule with its texts in ``locale`` where it has them (by language: de-AT → de-DE);
        the rule itself when it has none."""
        if not self.translations:
            return self
        from jirahooks.i18n import normalize_locale

        texts = self.translations.get(normalize_locale(locale))
        if texts is None:
            return self
        changes = {name: getattr(texts, name) for name in RULE_TEXTS if getattr(texts, name)}
        return dataclasses.replace(self, **changes) if changes else self

    def effective_mode(self, default: Mode = Mode.ENFORCE) -> Mode:
        """The mode the rule runs in: its own, else ``default`` (the settings' ``default_mode``);
        ``severity: WARNING`` makes ``enforce`` a ``warn`` (the two say the same)."""
        mode = self.mode or default
        if mode is Mode.ENFORCE and self.severity is Severity.WARNING:
            return Mode.WARN
        return mode

    def to_api(self) -> dict[str, Any]:
        """The rule as the Validation API shows it (camelCase)."""
        from jirahooks.rules.schema import dump

        checks = dump(self.checks)
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "error": self.error,
            "success": self.success,
            "hint": self.hint,
            "scope": self.scope.value,
            "showRule": self.show_rule,
            "enabled": self.enabled,
            "severity": self.severity.value,
            **({"mode": self.mode.value} if self.mode is not None else {}),
            "triggers": sorted(t.value for t in self.triggers),
            "target": [t.value for t in self.targets],
            "strategy": self.strategy.value,
            "checks": {_camel(k): v for k, v in checks.items()},
            "conditions": dump(self.conditions),
        }


@dataclass(frozen=True)
class BrokenRule(Rule):
    """A stored rule that no longer reads (written by an older version, or edited in the
    database). It is never evaluated: it reports ``problem`` as an error fact of its own, and
    fails closed — BLOCK, or WARNING when its stored severity says so — while every other rule of
    the workspace is judged as usual. Only the server builds these (``store.queries.row_rule``);
    the schema reader never does, so no document can declare one."""

    problem: str = ""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _key_pattern_error(value: str) -> str | None:
    if value == DEFAULT_KEY_PATTERN:
        return None
    message = _regex_error(value)
    if message:
        return message
    # a '-' inside a character class ([A-Z]) is a range, not the key's separator
    if "-" not in re.sub(r"\[(?:\\.|[^\]])*\]", "", value):
        return "an issue-key pattern must match '<PROJECT>-<number>' (it has no '-' separator)"
    return None


def _token_error(value: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}", value):
        return "1-40 letters, digits, '.', '_' or '-', starting with a letter or digit"
    return None


@dataclass(frozen=True)
class Escape:
    """The escape token: ``[no-jira: reason]`` in a commit message exempts that commit where it
    is allowed. Every use is a fact of the stored evaluation (the audit trail) and counted on
    the dashboard."""

    allowed: bool = field(False, doc="the token is accepted at all (false: forbidden entirely)")
    token: str = field(
        "no-jira",
        doc="the word inside the brackets: [no-jira: reason]",
        check=_token_error,
        hint="e.g. no-jira",
    )
    branches: Patterns = field(
        factory=Patterns, doc="branches where it is accepted (current, pushed or PR source)"
    )
    users: Patterns = field(
        factory=Patterns, doc="who may use it (pusher or PR author); unknown user: refused"
    )
    groups: Patterns = field(
        factory=Patterns,
        doc="names of the settings' groups whose members may use it (include) or may not "
        "(exclude); unknown user: refused",
    )


@dataclass(frozen=True)
class Exemptions:
    """Commits exempt from every rule, decided before Jira is asked; each one is shown in the
    result as "exempt: why" (docs/rules.md, "Exemptions")."""

    bots: bool = field(
        False, doc="commits by Dependabot, Renovate and the GitHub, GitLab, Bitbucket bots"
    )
    bot_patterns: tuple[str, ...] = field(
        (), doc="more bot globs on a commit's author or committer name or e-mail", check=_globs
    )
    host_merges: bool = field(
        False, doc="merge commits the code host wrote (Merge pull request #1 …, Merged in …)"
    )
    reverts: bool = field(
        False, doc="a revert is judged with the reverted commit's keys (exempt when it has none)"
    )
    release_commits: bool = field(
        False, doc="release-tool commits (semantic-release, [maven-release-plugin], release-please)"
    )
    escape: Escape = field(factory=Escape, doc="the escape token [no-jira: reason]")

    @property
    def any(self) -> bool:
        return (
            self.bots
            or bool(self.bot_patterns)
            or self.host_merges
            or self.reverts
            or self.release_commits
            or self.escape.allowed
        )


GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
GROUP_NAME_HINT = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
_MEMBER_HINT = (
    "a user name, an e-mail address or a glob, e.g. alice, bob@example.com, *@example.com"
)


def _member_error(value: str) -> str | None:
    """One member of a group: a glob as ``Patterns`` matches it (``escape.users``)."""
    if not value.strip():
        return "empty member"
    if value != value.strip():
        return "leading or trailing spaces (no user name or e-mail address has them)"
    if len(value) > 320:
        return "longer than 320 characters"
    i = 0
    while i < len(value):  # fnmatch reads a '[' without its ']' as a literal '[': say so
        if value[i] == "[":
            j = i + 1
            if j < len(value) and value[j] == "!":
                j += 1
            if j < len(value) and value[j] == "]":
                j += 1
            j = value.find("]", j)
            if j < 0:
                return "'[' without a closing ']' (write '[[]' for a literal '[')"
            i = j
        i += 1
    return None


@dataclass(frozen=True)
class Settings:
    """Process Guardian settings: workspace defaults, repository overrides."""

    enabled: bool = field(True, doc="the Process Guardian evaluates events at all")
    key_pattern: str = field(
        DEFAULT_KEY_PATTERN,
        doc="regular expression for one issue key (RE2 syntax)",
        check=_key_pattern_error,
        hint="e.g. '[A-Z][A-Z0-9]+-[0-9]+'",
    )
    case_insensitive: frozenset[Target] = field(
        frozenset({Target.BRANCH}), doc="targets where keys are found in any case (abc-1 → ABC-1)"
    )
    backslash_escape: bool = field(True, doc=r"\ABC-1 is not evaluated")
    backtick_escape: bool = field(True, doc="`ABC-1` and fenced code blocks are not evaluated")
    ignored_keys: tuple[str, ...] = field(
        DEFAULT_IGNORED_KEYS, doc="globs of keys that are never keys (CVE-*, UTF-8)"
    )
    jira_unreachable: UnreachablePolicy = field(
        UnreachablePolicy.BLOCK, doc="BLOCK, WARN or ALLOW when Jira cannot be asked"
    )
    review_pull_requests: bool = field(
        False, doc="the Guardian approves passing PRs and requests changes on failing ones"
    )
    validation_api: bool = field(True, doc="the Validation API answers for this scope")
    share_issue_details: bool = field(
        False,
        doc="workspace only: the Validation API's answers also carry each issue's Jira id, fix "
        "versions, assignee account ID and connection name (every hook user sees them)",
    )
    time_budget_seconds: float = field(
        10.0,
        doc="overall deadline for Jira calls in one evaluation",
        check=lambda v: None if v > 0 else "must be > 0",
    )
    # the prepare-commit-msg hook (hooks/prepare.py): appended here, separate from the above
    commit_message_template: str = field(
        "",
        doc="how prepare-commit-msg adds the branch's issue key to a message without one, e.g. "
        "'{key} {message}' or '[{key}] {message}'; empty: the form the rules' commit naming "
        "patterns accept, else '{key} {message}'",
        check=lambda v: _message_template_error(v),
        hint="a text with {key} and {message}, e.g. '[{key}] {message}'",
    )
    default_mode: Mode = field(
        Mode.ENFORCE, doc="the mode of rules that set none: enforce, warn or evaluate"
    )
    exemptions: Exemptions = field(
        factory=Exemptions, doc="bots, host merges, reverts, release commits, the escape token"
    )
    groups: dict[str, tuple[str, ...]] = dataclasses.field(
        default_factory=dict,
        hash=False,  # a dict; Settings stay hashable (the engine caches per Settings)
        metadata={
            "doc": "named groups of users for exemptions.escape.groups: name -> members (user "
            "names, e-mail addresses or globs, matched as escape.users matches)",
            "check": None,
            "hint": "e.g. groups: {release-managers: [alice, '*@release.example.com']}",
        },
    )

    @cached_property
    def _group_members(self) -> dict[str, Patterns | None]:
        # an empty group has no members (``Patterns()`` alone would allow everyone)
        return {name: Patterns(include=m) if m else None for name, m in self.groups.items()}

    def groups_of(self, user: str) -> frozenset[str]:
        """The names of the ``groups`` ``user`` is a member of, matched as ``escape.users``
        matches (``Patterns.allows``); none for an unknown user ('')."""
        if not user:
            return frozenset()
        return frozenset(
            name
            for name, members in self._group_members.items()
            if members is not None and members.allows(user)
        )

    def schema_problems(self) -> list[tuple[str, str, str]]:
        """What no single field can say (``schema.Reader``): group names and members, and
        every group ``exemptions.escape.groups`` names is one of ``groups``."""
        from jirahooks.rules.schema import did_you_mean

        out: list[tuple[str, str, str]] = []
        for name, members in self.groups.items():
            if not GROUP_NAME.fullmatch(name):
                out.append((f"groups.{name}", "not a group name", GROUP_NAME_HINT))
            for i, member in enumerate(members):
                problem = _member_error(member)
                if problem:
                    out.append((f"groups.{name}[{i}]", problem, _MEMBER_HINT))
        named = self.exemptions.escape.groups
        for part, names in (("include", named.include), ("exclude", named.exclude)):
            for i, name in enumerate(names):
                if name in self.groups:
                    continue
                defined = ", ".join(sorted(self.groups)) or "(none)"
                out.append(
                    (
                        f"exemptions.escape.groups.{part}[{i}]",
                        f"no group named '{name}' in the settings' groups",
                        did_you_mean(
                            name, self.groups, f"define it under settings.groups; known: {defined}"
                        ),
                    )
                )
        return out

    def extractor(self) -> Any:
        from jirahooks.keys import KeyExtractor

        return KeyExtractor(
            self.key_pattern,
            ignored=self.ignored_keys,
            backslash_escape=self.backslash_escape,
            backtick_escape=self.backtick_escape,
        )


def _message_template_error(value: str) -> str | None:
    """``Settings.commit_message_template``: empty, or a text with ``{key}`` and ``{message}``
    once each on one line."""
    if not value:
        return None
    if value.count("{key}") != 1 or value.count("{message}") != 1:
        return "needs {key} and {message}, once each"
    if "\n" in value or "\r" in value:
        return "one line (the template shapes the subject line)"
    return None


def _transition_names_error(values: tuple[str, ...]) -> str | None:
    """``Checks.smart_commit_transitions``: names as written after ``#``."""
    for value in values:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,99}", value.lstrip("#")):
            return f"'{value}' is not a smart-commit transition name (letters, digits, '-', '_')"
    return None
