"""Which commits of an event are exempt, once per evaluation, before any key reaches Jira.

``classify(event, settings, extract)`` reads the settings' ``exemptions`` (the presets of
``jirahooks.exemptions``) and returns, per commit hash, the exemption that applies (its rules
skip the commit with an "exempt: why" fact), the text a revert is judged by (the reverted
commit's message, so it inherits its keys) and notes (an escape token that was refused, and
why). Pure; the planner (``engine.plan``) applies the result to every rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jirahooks import exemptions as presets
from jirahooks.engine.facts import Code, Context, Fact, FactStatus, Group, Source
from jirahooks.event import Commit, Event
from jirahooks.keys import KeyMatch
from jirahooks.rules.model import Exemptions, Patterns, Settings, Target

Extract = Any  # engine.plan.Extract (text, case_insensitive) -> list[KeyMatch]
CATEGORY = ("EXEMPTION",)  # the facts' category: hook output shows them once, at the top


@dataclass(frozen=True, slots=True)
class Exemption:
    """Why one commit is exempt: ``kind`` (bot, host_merge, revert, release, escape), the
    message id of its fact and the fact's parameters."""

    kind: str
    message_id: str
    params: dict[str, Any] = field(default_factory=dict)

    def fact(self, commit: Commit) -> Fact:
        return Fact(
            Code.MATCH,
            FactStatus.SKIP,
            Source.CONDITION,
            Group.DETAIL,
            (Context.COMMIT,),
            self.message_id,
            {"hash": commit.short_hash, **self.params},
            ref=commit.hash,
            category=CATEGORY,
        )

    def record(self, commit: Commit) -> dict[str, Any]:
        """The entry of the stored document's ``exemptions`` list (docs/rules.md)."""
        out: dict[str, Any] = {"commit": commit.hash, "kind": self.kind}
        if commit.author_name or commit.author_email:
            out["author"] = commit.author_name or commit.author_email
        for name in ("reason", "bot", "tool", "reverted"):
            if self.params.get(name):
                out[name] = self.params[name]
        return out


@dataclass(slots=True)
class EventExemptions:
    """The exemptions of one event."""

    # the whole event: a pull request a bot opened (its branch and title are the bot's too)
    event: Fact | None = None
    commits: dict[str, Exemption] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # revert -> the text it is judged by
    notes: dict[str, list[Fact]] = field(default_factory=dict)  # per commit: inherited, refused
    records: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.event or self.commits or self.texts or self.notes)


@lru_cache(maxsize=32)
def _bots(config: Exemptions) -> Patterns | None:
    """The bot globs to exempt: the presets when ``bots``, and the administrator's own."""
    globs = (*(presets.BOT_PATTERNS if config.bots else ()), *config.bot_patterns)
    return Patterns(include=globs) if globs else None


def bot_name(bots: Patterns | None, names: tuple[str, ...]) -> str:
    """The first of ``names`` (author / committer name or e-mail) that is a bot, or ''."""
    if bots is None:
        return ""
    return next((name for name in names if name and bots.allows(name)), "")


def classify(event: Event, settings: Settings, extract: Extract, branch: str) -> EventExemptions:
    """The exemptions of ``event``'s commits under ``settings.exemptions`` (``branch``: the
    branch conditions look at)."""
    config = settings.exemptions
    out = EventExemptions()
    pr = event.pull_request
    if pr is not None and config.any:
        bot = bot_name(_bots(config), (pr.author, event.user))
        if bot:
            out.event = Fact(
                Code.MATCH,
                FactStatus.SKIP,
                Source.PULLREQUEST_CONDITION,
                Group.DETAIL,
                (Context.BRANCH_SOURCE,),
                "exempt.bot.pull_request",
                {"bot": bot, "id": pr.id},
                category=CATEGORY,
            )
            out.records.append({"pullRequest": pr.id, "kind": "bot", "author": bot, "bot": bot})
            return out
    if not event.commits:
        return out
    if not config.any:
        # nothing exempts; an escape token someone wrote anyway is said to be forbidden
        for commit in event.commits:
            if presets.escape_reason(commit.message, config.escape.token) is not None:
                _exemption(commit, event, settings, None, branch, out)
        return out
    bots = _bots(config)
    by_hash = {c.hash.lower(): c for c in event.commits}
    case_insensitive = Target.COMMIT in settings.case_insensitive
    for commit in event.commits:
        exemption = _exemption(commit, event, settings, bots, branch, out)
        if exemption is None and config.reverts and commit.is_revert:
            exemption = _revert(commit, by_hash, extract, case_insensitive, out)
        if exemption is not None:
            out.commits[commit.hash] = exemption
            out.records.append(exemption.record(commit))
    return out


def _exemption(
    commit: Commit,
    event: Event,
    settings: Settings,
    bots: Patterns | None,
    branch: str,
    out: EventExemptions,
) -> Exemption | None:
    config = settings.exemptions
    bot = bot_name(
        bots,
        (commit.author_name, commit.author_email, commit.committer_name, commit.committer_email),
    )
    if bot:
        return Exemption("bot", "exempt.bot", {"bot": bot})
    if config.host_merges and presets.host_merge(commit.message, commit.is_merge):
        return Exemption("host_merge", "exempt.host_merge")
    if config.release_commits:
        tool = presets.release_tool(commit.message)
        if tool:
            return Exemption("release", "exempt.release", {"tool": tool})
    reason = presets.escape_reason(commit.message, config.escape.token)
    if reason is None:
        return None
    refused = escape_refusal(settings, reason, branch, event.user)
    if refused is None:
        return Exemption("escape", "exempt.escape", {"reason": reason})
    message_id, params = refused
    out.notes.setdefault(commit.hash, []).append(
        Fact(
            Code.NOT_MATCH,
            FactStatus.INFO,
            Source.CONDITION,
            Group.DETAIL,
            (Context.COMMIT,),
            message_id,
            {"hash": commit.short_hash, "token": f"[{config.escape.token}: …]", **params},
            ref=commit.hash,
            category=CATEGORY,
        )
    )
    return None


def escape_refusal(
    settings: Settings, reason: str, branch: str, user: str
) -> tuple[str, dict[str, Any]] | None:
    """Why an escape token is not accepted here (message id, parameters), or None.

    ``escape.groups`` names groups of the settings (``Settings.groups``); the user's groups are
    the ones whose members match ``user`` as ``escape.users`` does. Who is unknown ('': the
    Validation API, local hooks) is in no group, so a group restriction refuses the token."""
    escape = settings.exemptions.escape
    if not escape.allowed:
        return "escape.forbidden", {}
    if not reason:
        return "escape.no_reason", {}
    if not escape.branches.empty and not escape.branches.allows(branch):
        return "escape.branch", {"branch": branch or "HEAD"}
    if not escape.users.empty and (not user or not escape.users.allows(user)):
        return ("escape.user", {"user": user}) if user else ("escape.user_unknown", {})
    if not escape.groups.empty:
        if not user:
            return "escape.group_unknown", {}
        member_of = settings.groups_of(user)
        # the names are the settings' own (validated: no globs), so membership is exact
        excluded = next((g for g in escape.groups.exclude if g in member_of), "")
        if excluded:
            return "escape.group_excluded", {"user": user, "group": excluded}
        if escape.groups.include and not any(g in member_of for g in escape.groups.include):
            return "escape.group", {"user": user, "groups": ", ".join(escape.groups.include)}
    return None


def _revert(
    commit: Commit,
    by_hash: dict[str, Commit],
    extract: Extract,
    case_insensitive: bool,
    out: EventExemptions,
) -> Exemption | None:
    """A revert is judged as the commit it reverts was: with that commit's message when it is in
    the event, else the quoted subject ``Revert "…"``; exempt when that holds no key."""
    target = presets.reverted(commit.message)
    if target is None:
        return None
    sha, subject = target
    original = _find(by_hash, sha) if sha else None
    text = original.message if original is not None else subject
    matches: list[KeyMatch] = extract(text, case_insensitive) if text else []
    label = (original.short_hash if original is not None else sha[:12]) or subject[:60]
    if not any(m.evaluated for m in matches):
        return Exemption("revert", "exempt.revert", {"reverted": label})
    out.texts[commit.hash] = text
    keys = ", ".join(dict.fromkeys(m.key for m in matches if m.evaluated))
    out.notes.setdefault(commit.hash, []).append(
        Fact(
            Code.MATCH,
            FactStatus.INFO,
            Source.CONDITION,
            Group.DETAIL,
            (Context.COMMIT,),
            "exempt.revert.inherits",
            {"hash": commit.short_hash, "reverted": label, "keys": keys},
            ref=commit.hash,
            category=CATEGORY,
        )
    )
    return None


def _find(by_hash: dict[str, Commit], sha: str) -> Commit | None:
    found = by_hash.get(sha)
    if found is not None:
        return found
    matches = [c for h, c in by_hash.items() if h.startswith(sha)]
    return matches[0] if len(matches) == 1 else None
