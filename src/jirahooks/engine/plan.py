"""Planning: which rules apply to an event, which targets they look at, which keys they hold.

Pure and cheap. Key extraction is memoised per evaluation so a commit shared by several rules is
scanned once per case mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from jirahooks.engine.exempt import EventExemptions
from jirahooks.engine.facts import Code, Context, Fact, FactStatus, Group, Source
from jirahooks.event import Commit, Event, Trigger
from jirahooks.i18n import MessageRef
from jirahooks.keys import KeyExtractor, KeyMatch
from jirahooks.rules.model import Patterns, Rule, Settings, Target

CONTEXT_OF: dict[Target, Context] = {
    Target.COMMIT: Context.COMMIT,
    Target.COMMITS: Context.COMMITS,
    Target.BRANCH: Context.BRANCH_SOURCE,
    Target.PR_TITLE: Context.PR_TITLE,
    Target.PR_DESCRIPTION: Context.PR_DESCRIPTION,
}

Extract = Callable[[str, bool], list[KeyMatch]]
# MessageRef is immutable: one per target, not one per commit
_NOUNS: dict[Target, MessageRef] = {t: MessageRef(f"target.{t.value}") for t in Target}


@dataclass(slots=True)
class Unit:
    """One thing a rule checks: a commit, the set of commits, the branch, the PR title or body."""

    target: Target
    text: str
    ref: str = ""
    commits: tuple[Commit, ...] = ()
    matches: list[KeyMatch] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # evaluated keys, first appearance first
    unknown_project_keys: list[str] = field(default_factory=list)
    # keys whose project could not be classified (a project list could not be read) and that
    # no Jira found: undetermined for every check, the Jira-unreachable policy decides
    unclassified_keys: list[str] = field(default_factory=list)

    @property
    def context(self) -> Context:
        return CONTEXT_OF[self.target]

    @property
    def noun(self) -> MessageRef:
        return _NOUNS[self.target]

    def fact(
        self,
        code: Code,
        status: FactStatus,
        source: Source,
        message_id: str,
        /,
        *,
        group: Group = Group.MAIN,
        ref: str | None = None,
        **params: object,
    ) -> Fact:
        return Fact(
            code,
            status,
            source,
            group,
            (self.context,),
            message_id,
            params,
            ref=self.ref if ref is None else ref,
        )


@dataclass(slots=True)
class RulePlan:
    rule: Rule
    condition_facts: list[Fact] = field(default_factory=list)
    skipped: bool = False
    units: list[Unit] = field(default_factory=list)
    commits: tuple[Commit, ...] = ()  # the commits the rule looks at (after commit conditions)
    commits_skipped: int = 0
    # "exempt: why" and refused escape tokens (engine/exempt.py): check facts, so that the
    # published hook client, which shows check facts, shows them under their commit
    exemption_facts: list[Fact] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        return list(dict.fromkeys(k for u in self.units for k in u.keys))

    @property
    def main_context(self) -> Context:
        return self.units[0].context if self.units else Context.GLOBAL


def branch_of(event: Event) -> str:
    """The branch conditions look at; '' for a detached HEAD."""
    branch = event.pull_request.source_branch if event.pull_request else event.branch
    if not branch and event.pull_request is None:
        branch = event.branch
    branch = branch.removeprefix("refs/heads/")
    return "" if branch == "HEAD" else branch


def make_extract(extractor: KeyExtractor) -> Extract:
    memo: dict[tuple[str, bool], list[KeyMatch]] = {}

    def extract(text: str, case_insensitive: bool) -> list[KeyMatch]:
        key = (text, case_insensitive)
        found = memo.get(key)
        if found is None:
            found = memo[key] = extractor.find(text, case_insensitive=case_insensitive)
        return found

    return extract


def applies(rule: Rule, event: Event) -> bool:
    trigger = event.trigger
    if trigger is Trigger.MERGE_COMMIT and Trigger.MERGE_COMMIT not in rule.triggers:
        return False
    return rule.enabled and trigger in rule.triggers


def plan_rule(
    rule: Rule,
    event: Event,
    settings: Settings,
    extract: Extract,
    exempt: EventExemptions | None = None,
) -> RulePlan:
    plan = RulePlan(rule)
    exempt = exempt or _NO_EXEMPTIONS
    if exempt.event is not None:  # a bot's pull request: exempt as a whole (engine/exempt.py)
        plan.exemption_facts.append(exempt.event)
        plan.skipped = True
        return plan
    _check_event_conditions(plan, event)
    if plan.skipped:
        return plan
    plan.commits = _filter_commits(plan, _exempt_commits(plan, event.commits, exempt))
    ci = settings.case_insensitive
    texts = exempt.texts  # a revert is judged by the reverted commit's text (engine/exempt.py)
    units = plan.units
    for target in rule.targets:
        insensitive = target in ci or (target is Target.COMMITS and Target.COMMIT in ci)
        for unit in _units(target, event, plan.commits, texts):
            if target is Target.COMMITS:
                matches = [
                    m
                    for c in unit.commits
                    for m in extract(texts.get(c.hash, c.message), insensitive)
                ]
            else:
                matches = extract(unit.text, insensitive)
            unit.matches = matches
            unit.keys = _evaluated_keys(matches)
            units.append(unit)
    return plan


def _evaluated_keys(matches: list[KeyMatch]) -> list[str]:
    """The distinct keys to evaluate, first appearance first (most texts hold one or none: a
    100,000-commit push asks this 100,000 times)."""
    if not matches:
        return []
    if len(matches) == 1:
        only = matches[0]
        return [] if only.escaped or only.ignored else [only.key]
    return list(dict.fromkeys(m.key for m in matches if m.evaluated))


_NO_EXEMPTIONS = EventExemptions()


def _exempt_commits(
    plan: RulePlan, commits: tuple[Commit, ...], exempt: EventExemptions
) -> tuple[Commit, ...]:
    """The commits left after the settings' exemptions, each exempt one said as a fact."""
    if not exempt:
        return commits
    kept: list[Commit] = []
    for commit in commits:
        plan.exemption_facts.extend(exempt.notes.get(commit.hash, ()))
        exemption = exempt.commits.get(commit.hash)
        if exemption is None:
            kept.append(commit)
            continue
        plan.commits_skipped += 1
        plan.exemption_facts.append(exemption.fact(commit))
    return tuple(kept)


def _units(
    target: Target, event: Event, commits: tuple[Commit, ...], texts: dict[str, str]
) -> list[Unit]:
    pr = event.pull_request
    if target is Target.COMMIT:
        return [Unit(target, texts.get(c.hash, c.message), c.hash, (c,)) for c in commits]
    if target is Target.COMMITS:
        return [Unit(target, "\n".join(c.message for c in commits), "", commits)] if commits else []
    if target is Target.BRANCH:
        branch = branch_of(event)
        return [Unit(target, branch)] if branch else []
    if target is Target.PR_TITLE:
        return [Unit(target, pr.title, pr.id)] if pr else []
    return [Unit(target, pr.description, pr.id)] if pr else []


def _condition_fact(
    source: Source, context: Context, ok: bool, message_id: str, **params: object
) -> Fact:
    return Fact(
        Code.MATCH if ok else Code.NOT_MATCH,
        FactStatus.NOT_SKIP if ok else FactStatus.SKIP,
        source,
        Group.MAIN,
        (context,),
        message_id,
        params,
    )


def _check_event_conditions(plan: RulePlan, event: Event) -> None:
    cond = plan.rule.conditions
    if not cond.branches.empty:
        branch = branch_of(event)
        ok = cond.branches.allows(branch)
        plan.condition_facts.append(
            _condition_fact(
                Source.BRANCH_CONDITION,
                Context.BRANCH_SOURCE,
                ok,
                "condition.branch.match" if ok else "condition.branch.not_match",
                branch=branch or "HEAD",
            )
        )
        plan.skipped |= not ok
    if not cond.destination_branches.empty and event.pull_request is not None:
        dest = event.destination_branch
        ok = cond.destination_branches.allows(dest)
        plan.condition_facts.append(
            _condition_fact(
                Source.PULLREQUEST_CONDITION,
                Context.BRANCH_DESTINATION,
                ok,
                "condition.destination.match" if ok else "condition.destination.not_match",
                branch=dest,
            )
        )
        plan.skipped |= not ok
    if not cond.users.empty and not cond.users.allows(event.user):
        plan.condition_facts.append(
            _condition_fact(
                Source.CONDITION, Context.GLOBAL, False, "condition.user.not_match", user=event.user
            )
        )
        plan.skipped = True
    if not cond.groups.empty and not cond.groups.allows_any(event.groups):
        plan.condition_facts.append(
            _condition_fact(Source.CONDITION, Context.GLOBAL, False, "condition.group.not_match")
        )
        plan.skipped = True


def _author_allowed(patterns: Patterns, commit: Commit) -> bool:
    if patterns.empty:
        return True
    names = {commit.author_name, commit.author_email} - {""}
    return patterns.allows_any(names) if names else patterns.allows("")


def _filter_commits(plan: RulePlan, commits: tuple[Commit, ...]) -> tuple[Commit, ...]:
    cond = plan.rule.conditions
    if not (
        cond.skip_merge_commits or cond.skip_reverts or cond.bypass_marker or not cond.authors.empty
    ):
        return commits
    kept: list[Commit] = []
    for commit in commits:
        reason: tuple[str, dict[str, object]] | None = None
        if cond.skip_merge_commits and commit.is_merge:
            reason = ("condition.commit.merge", {})
        elif cond.skip_reverts and commit.is_revert:
            reason = ("condition.commit.revert", {})
        elif cond.bypass_marker and cond.bypass_marker in commit.message:
            reason = ("condition.commit.bypass", {"marker": cond.bypass_marker})
        elif not _author_allowed(cond.authors, commit):
            reason = (
                "condition.commit.author",
                {"author": commit.author_name or commit.author_email},
            )
        if reason is None:
            kept.append(commit)
            continue
        message_id, params = reason
        plan.commits_skipped += 1
        plan.condition_facts.append(
            Fact(
                Code.MATCH,
                FactStatus.SKIP,
                Source.CONDITION,
                Group.DETAIL,
                (Context.COMMIT,),
                message_id,
                {"hash": commit.short_hash, **params},
                ref=commit.hash,
            )
        )
    return tuple(kept)
