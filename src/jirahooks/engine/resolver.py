"""The engine's window on Jira: the ``Resolver`` protocol and the data it returns.

The engine never does I/O. It asks a resolver, in a constant number of calls per evaluation:

1. ``projects()`` — once, only if a rule ignores unknown project keys;
2. ``resolve(keys)`` — once, with every key of every applicable rule and target;
3. ``match_jql(jql, keys, max_age=)`` — once per distinct JQL, with the keys that resolved
   and the strictest freshness of the rules using it.

``jirahooks.jira.chain.ConnectionChain`` is the real implementation (ordered Jira connections,
batched, cached); ``InMemoryResolver`` serves tests and examples; ``OfflineResolver`` is what
runs when no Jira connection is configured (format-only checks).

A resolver reports connection trouble as ``ConnectionProblem`` values, never by raising and
never by calling a key invalid. Every key ends up in one of three states:

* *found* — a Jira answered with the issue;
* *not found* — every Jira that was asked answered that it does not exist (or is not visible to
  the connection's user);
* *undetermined* — no Jira could give a definite answer: a connection was down, timed out, was
  rate-limited or rejected the token, or (for rules that ignore unknown projects) the key's
  project could not be classified because a project list could not be read. Undetermined keys
  are never "invalid" and never silently ignored: the ``jira_unreachable`` policy decides.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from jirahooks.keys import project_of


@dataclass(frozen=True, slots=True)
class IssueData:
    """What Jira said about one requested key.

    ``key`` is the key as requested (upper case); ``current_key`` the key Jira knows the issue by
    now (differs for moved or renamed issues); ``connection`` the name of the connection that
    resolved it (JQL conditions run there).
    """

    key: str
    current_key: str = ""
    id: str = ""
    summary: str = ""
    status: str = ""
    status_category: str = ""
    issue_type: str = ""
    fix_versions: tuple[str, ...] = ()
    assignee: str = ""
    connection: str = ""
    url: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.current_key:
            object.__setattr__(self, "current_key", self.key)

    @property
    def project(self) -> str:
        return project_of(self.current_key)

    @property
    def assignee_name(self) -> str:
        """The assignee's display name as Jira sent it ("" when unknown): the audit trail shows
        it next to the account ID."""
        raw = self.fields.get("assignee") if isinstance(self.fields, Mapping) else None
        return str(raw.get("displayName") or "") if isinstance(raw, Mapping) else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "currentKey": self.current_key,
            "id": self.id,
            "summary": self.summary,
            "status": self.status,
            "statusCategory": self.status_category,
            "issueType": self.issue_type,
            "fixVersions": list(self.fix_versions),
            "assignee": self.assignee,
            "connection": self.connection,
            "url": self.url,
        }


@dataclass(frozen=True, slots=True)
class ConnectionProblem:
    """A Jira connection could not answer (down, timed out, token rejected, rate-limited).

    ``message`` does not name the connection (the fact that shows it does)."""

    connection: str
    code: str  # JIRA_AUTH_REJECTED, JIRA_UNAVAILABLE, JIRA_TIMEOUT, JIRA_RATE_LIMITED, …
    message: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class Resolution:
    """The answer to ``resolve(keys)``.

    * ``issues``: requested key → data, for keys some connection knows;
    * ``undetermined``: keys no working connection knows while at least one connection failed —
      neither valid nor invalid; the Jira-unreachable policy decides;
    * every other requested key is unknown (not found, or not visible to the connection's user).
    """

    issues: Mapping[str, IssueData] = field(default_factory=dict)
    undetermined: frozenset[str] = frozenset()
    problems: tuple[ConnectionProblem, ...] = ()
    offline: bool = False


@dataclass(frozen=True, slots=True)
class ProjectSet:
    """Project keys known to the enabled connections, and whether that list is complete.

    * ``projects``: the keys every connection that answered listed (``None``: nothing known);
    * ``complete``: every enabled connection answered. Then a key of a project outside
      ``projects`` is no issue key (``UTF-8``, ``KIP-500``). When it is not complete, such a
      key *could* belong to a connection that did not answer: it is neither ignored nor
      "invalid" but *undetermined* (unless ``resolve`` finds it), and the Jira-unreachable
      policy decides. ``complete`` defaults to ``projects is not None``.
    """

    projects: frozenset[str] | None = None
    problems: tuple[ConnectionProblem, ...] = ()
    complete: bool | None = None

    @property
    def known(self) -> frozenset[str]:
        return self.projects or frozenset()

    @property
    def is_complete(self) -> bool:
        return self.projects is not None if self.complete is None else self.complete


@dataclass(frozen=True, slots=True)
class JqlResult:
    """Which of the asked keys match a JQL query; ``undetermined`` keys could not be checked."""

    matching: frozenset[str] = frozenset()
    undetermined: frozenset[str] = frozenset()
    problems: tuple[ConnectionProblem, ...] = ()


@runtime_checkable
class Resolver(Protocol):
    """What the engine needs from Jira. Implementations batch and cache; the engine calls each
    method a constant number of times per evaluation."""

    @property
    def offline(self) -> bool:
        """True when no Jira connection is configured: Jira checks are reported as not run."""
        ...

    async def projects(self) -> ProjectSet: ...

    async def resolve(self, keys: Collection[str]) -> Resolution: ...

    async def match_jql(
        self, jql: str, keys: Collection[str], *, max_age: float | None = None
    ) -> JqlResult:
        """``keys`` are requested keys that ``resolve`` found; each JQL runs on the connection
        that resolved the key. ``max_age``: a cached answer may be this many seconds old at
        most (the rule's freshness; 0: ask Jira; None: the cache's lifetime)."""
        ...


class OfflineResolver:
    """No Jira configured: nothing resolves and Jira checks report that they did not run."""

    offline = True

    async def projects(self) -> ProjectSet:
        return ProjectSet(None)

    async def resolve(self, keys: Collection[str]) -> Resolution:
        return Resolution(offline=True)

    async def match_jql(
        self, jql: str, keys: Collection[str], *, max_age: float | None = None
    ) -> JqlResult:
        return JqlResult(undetermined=frozenset(keys))


class InMemoryResolver:
    """A resolver over a dict of issues, for tests, examples and the web UI's "try it" panel.

    ``jql`` maps a JQL string to the set of *current* keys that match it; ``moved`` maps old keys
    to current keys; ``failing`` keys are undetermined; ``projects_complete=False`` answers
    ``projects()`` with only ``projects`` known and a problem (a connection's project list could
    not be read). Every call is counted in ``calls`` so tests can assert batching.
    """

    offline = False

    def __init__(
        self,
        issues: Iterable[IssueData] = (),
        *,
        jql: Mapping[str, Collection[str]] | None = None,
        moved: Mapping[str, str] | None = None,
        projects: Collection[str] | None = None,
        failing: Collection[str] = (),
        projects_complete: bool = True,
        connection: str = "memory",
    ) -> None:
        self._issues = {i.current_key.upper(): i for i in issues}
        self._jql = {q: frozenset(k.upper() for k in ks) for q, ks in (jql or {}).items()}
        self._moved = {k.upper(): v.upper() for k, v in (moved or {}).items()}
        self._projects = (
            frozenset(p.upper() for p in projects)
            if projects is not None
            else frozenset(i.project for i in self._issues.values())
        )
        self._failing = frozenset(k.upper() for k in failing)
        self._projects_complete = projects_complete
        self.connection = connection
        self.calls: list[tuple[str, int]] = []

    def _problem(self) -> ConnectionProblem:
        return ConnectionProblem(self.connection, "JIRA_UNAVAILABLE", "connection failed")

    async def projects(self) -> ProjectSet:
        self.calls.append(("projects", 0))
        if not self._projects_complete:  # the project list could not be read: ``projects``
            problem = ConnectionProblem(self.connection, "JIRA_UNAVAILABLE", "project list failed")
            return ProjectSet(self._projects, (problem,), complete=False)
        return ProjectSet(self._projects)

    async def resolve(self, keys: Collection[str]) -> Resolution:
        self.calls.append(("resolve", len(keys)))
        found: dict[str, IssueData] = {}
        undetermined: set[str] = set()
        for key in keys:
            upper = key.upper()
            if upper in self._failing:
                undetermined.add(upper)
                continue
            current = self._moved.get(upper, upper)
            issue = self._issues.get(current)
            if issue is not None:
                found[upper] = IssueData(
                    key=upper,
                    current_key=issue.current_key,
                    id=issue.id,
                    summary=issue.summary,
                    status=issue.status,
                    status_category=issue.status_category,
                    issue_type=issue.issue_type,
                    fix_versions=issue.fix_versions,
                    assignee=issue.assignee,
                    connection=issue.connection or self.connection,
                    url=issue.url,
                    fields=issue.fields,
                )
        problems = (self._problem(),) if undetermined else ()
        return Resolution(found, frozenset(undetermined), problems)

    async def match_jql(
        self, jql: str, keys: Collection[str], *, max_age: float | None = None
    ) -> JqlResult:
        self.calls.append(("match_jql", len(keys)))
        matching_current = self._jql.get(jql, frozenset())
        matching = {k for k in keys if self._moved.get(k.upper(), k.upper()) in matching_current}
        return JqlResult(frozenset(matching))
