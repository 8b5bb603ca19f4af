"""Exemption presets: which commits no rule judges, decided from the commit alone, before Jira is
asked (docs/rules.md, "Exemptions"; ADR 0011).

Bots (Dependabot, Renovate, the GitHub, GitLab and Bitbucket bots, and the patterns an
administrator adds), merge commits the code host wrote, release-tool commits, reverts (judged
with the reverted commit's keys) and the escape token ``[no-jira: reason]``. The engine
(``engine.exempt``) and the commit-msg judge (``hooks.judge``) both read them from here, so the
two cannot drift. Standard library only: this module sits on the hook path.
"""

from __future__ import annotations

import re

# Who the code hosts' and the common dependency tools' bots commit as (globs, matched as
# ``rules.model.Patterns`` matches): GitHub Apps are
# ``name[bot]`` (dependabot[bot], renovate[bot], github-actions[bot]) with the e-mail
# ``…[bot]@users.noreply.github.com``; GitLab's project and group access tokens commit as
# ``project_<id>_bot_<suffix>`` / ``group_<id>_bot_<suffix>``; Renovate self-hosted and the
# older Dependabot write their own names; Bitbucket Pipelines commits as "Bitbucket Pipelines".
BOT_PATTERNS = (
    "*[[]bot]",
    "*[[]bot]@users.noreply.github.com",
    "dependabot*",
    "Dependabot*",
    "renovate*",
    "Renovate*",
    "bot@renovateapp.com",
    "project_*_bot*",
    "group_*_bot*",
    "GitLab Bot",
    "gitlab-bot",
    "Bitbucket Pipelines",
    "bitbucket-pipelines",
)

# Subjects the code hosts write when they merge a pull / merge request themselves.
_HOST_MERGE = re.compile(
    r"^(?:Merge pull request #\d+ from \S"  # GitHub
    r"|Merge pull request #\d+ in \S+ from \S"  # Bitbucket Data Center
    r"|Merged in \S+ \(pull request #\d+\)"  # Bitbucket Cloud
    r"|Merge branch '[^'\n]+' into '[^'\n]+'$)"  # GitLab (with "See merge request" below)
)

# Subjects release tools write: semantic-release / standard-version / lerna
# (``chore(release): 1.2.3``), release-please (``chore(main): release 1.2.3``), Maven's and
# Gradle's release plugins, npm version (``1.2.3``), bump2version.
_RELEASE = (
    ("semantic-release", re.compile(r"^chore\(release\):\s")),
    ("release-please", re.compile(r"^chore(?:\([^)\n]*\))?!?: release \S")),
    ("maven-release-plugin", re.compile(r"^\[maven-release-plugin\]\s")),
    ("gradle-release-plugin", re.compile(r"^\[Gradle Release Plugin\]\s")),
    ("npm version", re.compile(r"^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")),
    ("bump2version", re.compile(r"^Bump version: \S+ \u2192 \S+$")),
)

_REVERTED_HASH = re.compile(r"This reverts commit ([0-9a-fA-F]{7,40})")
_REVERT_QUOTED = re.compile(r'^Revert "(.*)"$')

REASON_CHARS = 200  # the longest escape reason kept (the rest is cut)


def host_merge(message: str, is_merge: bool) -> bool:
    """A merge commit the code host wrote (GitHub, Bitbucket Cloud and Data Center, GitLab)."""
    if not is_merge:
        return False
    subject = message.split("\n", 1)[0].strip()
    if not _HOST_MERGE.match(subject):
        return False
    return not subject.startswith("Merge branch ") or "See merge request " in message


def release_tool(message: str) -> str:
    """The release tool that wrote this commit, or ''."""
    subject = message.split("\n", 1)[0].strip()
    for tool, pattern in _RELEASE:
        if pattern.match(subject):
            return tool
    return ""


def reverted(message: str) -> tuple[str, str] | None:
    """``(hash, subject)`` of the commit a ``git revert`` message reverts (either may be ''),
    or None when it is no revert."""
    if "This reverts commit " not in message and not message.startswith("Revert "):
        return None
    match = _REVERTED_HASH.search(message)
    quoted = _REVERT_QUOTED.match(message.split("\n", 1)[0].strip())
    if match is None and quoted is None:
        return None
    return (match.group(1).lower() if match else "", quoted.group(1) if quoted else "")


def escape_regex(token: str) -> str:
    return r"\[" + re.escape(token) + r"(?::([^\]\n]*))?\]"


_CACHE: dict[tuple[str, int], re.Pattern[str]] = {}


def _compiled(pattern: str, flags: int) -> re.Pattern[str]:
    """``re.compile`` memoised here: ``re``'s own cache costs a lookup with flag checks per call,
    and these run once per commit of a push."""
    found = _CACHE.get((pattern, flags))
    if found is None:
        if len(_CACHE) > 64:
            _CACHE.clear()
        found = _CACHE[(pattern, flags)] = re.compile(pattern, flags)
    return found


def escape_reason(message: str, token: str) -> str | None:
    """The reason of the escape token in ``message``: None without a token, '' for a token
    without a reason (``[no-jira]``, ``[no-jira: ]``)."""
    if "[" not in message:  # the common case, without a regular expression
        return None
    match = _compiled(escape_regex(token), re.IGNORECASE).search(message)
    if match is None:
        return None
    return (match.group(1) or "").strip()[:REASON_CHARS]
