"""``ConnectionChain``: the real ``Resolver`` — ordered Jira connections, batched and cached.

Resolution goes top to bottom through the connections in the admin's order. Each connection is
asked only for the keys still unresolved (its cached answers first, then Jira, in batches);
the chain stops as soon as every key is found. The connection that resolved a key is recorded
on its ``IssueData`` and JQL conditions for that key run there.

A connection that fails (token rejected, down, rate-limited past the deadline, HTML answers)
becomes a ``ConnectionProblem``; the keys it could not answer are *undetermined* unless a later
connection finds them — never "invalid". The engine applies the workspace's policy.

A deadline (seconds) bounds a whole evaluation: it starts with the first call and is shared by
``projects``, ``resolve`` and every ``match_jql``. Keys not answered when it runs out are
undetermined with a ``JIRA_TIMEOUT`` problem. ``for_evaluation()`` gives a chain with a fresh
deadline that shares connection pools and cache (a server evaluates many pushes at once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace

from jirahooks.engine.resolver import (
    ConnectionProblem,
    IssueData,
    JqlResult,
    ProjectSet,
    Resolution,
)
from jirahooks.errors import JiraError
from jirahooks.jira.api import JiraApi, Lookup
from jirahooks.jira.cache import JiraCache, ProjectIndex, connection_namespace, split_key
from jirahooks.jira.client import Clock, Deadline, JiraClient, JiraHttpError


@dataclass(frozen=True, slots=True)
class JqlCheck:
    """Jira's verdict on a rule's JQL, per connection (empty ``errors`` when valid)."""

    errors: dict[str, list[str]]
    problems: tuple[ConnectionProblem, ...] = ()

    @property
    def valid(self) -> bool:
        return not any(self.errors.values())


def without_connection(message: str, connection: str) -> str:
    """A client message without its "Jira connection 'NAME'" prefix: the fact that shows a
    ``ConnectionProblem`` names the connection already."""
    prefix = f"Jira connection '{connection}'"
    if not message.startswith(prefix):
        return message
    rest = message[len(prefix) :]
    return rest[1:].strip() if rest.startswith(":") else "Jira" + rest


def problem_from(error: JiraError, connection: str) -> ConnectionProblem:
    code = error.code
    if isinstance(error, JiraHttpError):
        code = "JIRA_BAD_RESPONSE"  # Jira refused a request it should accept
    return ConnectionProblem(
        connection, code, without_connection(error.message, connection), error.hint
    )


_TIMEOUT_MESSAGE = "Jira did not answer within the evaluation's deadline"


def _timeout_problem(connection: str) -> ConnectionProblem:
    return ConnectionProblem(
        connection,
        "JIRA_TIMEOUT",
        _TIMEOUT_MESSAGE,
        "Jira is slow or rate-limiting; the keys it did not answer are undetermined",
    )


class _Problems:
    """Every distinct problem, in order (exact duplicates — one per failed batch — once)."""

    def __init__(self) -> None:
        self._items: dict[ConnectionProblem, None] = {}

    def add(self, problem: ConnectionProblem) -> None:
        self._items.setdefault(problem, None)

    def extend(self, problems: Iterable[ConnectionProblem]) -> None:
        for problem in problems:
            self.add(problem)

    def as_tuple(self) -> tuple[ConnectionProblem, ...]:
        return tuple(self._items)


# How long a process's claim on looking keys up lasts (across processes, with Redis): others
# wait that long at most for its answers, then ask Jira themselves.
CLAIM_SECONDS = 1.5
# How long one process's claim on building a project's index lasts (others skip it meanwhile).
INDEX_BUILD_SECONDS = 600.0


class ConnectionChain:
    """Resolver over an ordered list of Jira connections (see the module docstring)."""

    def __init__(
        self,
        clients: Sequence[JiraClient],
        *,
        cache: JiraCache | None = None,
        deadline_seconds: float | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.clients = tuple(clients)
        self.cache = cache
        self.deadline_seconds = deadline_seconds
        self._clock = clock
        self._apis = {c.name: JiraApi(c) for c in self.clients}
        self._namespaces = {
            c.name: connection_namespace(c.name, c.base_url, c.identity) for c in clients
        }
        self._deadline: Deadline | None = None
        self._resolved: dict[str, IssueData] = {}
        if cache is not None:
            for c in self.clients:
                config = c.config
                lifetimes = cache.lifetimes.merged(
                    existence=config.cache_existence_seconds,
                    negative=config.cache_negative_seconds,
                    fields=config.cache_fields_seconds,
                )
                if lifetimes != cache.lifetimes:
                    cache.set_lifetimes(self._namespaces[c.name], lifetimes)

    def __repr__(self) -> str:
        names = ", ".join(c.name for c in self.clients)
        return f"ConnectionChain([{names}], deadline_seconds={self.deadline_seconds})"

    @property
    def offline(self) -> bool:
        return False

    def for_evaluation(self, deadline_seconds: float | None = None) -> ConnectionChain:
        """A chain for one more evaluation: fresh deadline and key record, shared pools and
        cache. ``deadline_seconds`` defaults to this chain's."""
        budget = self.deadline_seconds if deadline_seconds is None else deadline_seconds
        return ConnectionChain(
            self.clients, cache=self.cache, deadline_seconds=budget, clock=self._clock
        )

    def namespace_of(self, connection: str) -> str:
        """The cache namespace of one of this chain's connections."""
        return self._namespaces[connection]

    def deadline(self) -> Deadline:
        """The evaluation's deadline; it starts with the first call."""
        if self._deadline is None:
            self._deadline = Deadline(self.deadline_seconds, clock=self._clock)
        return self._deadline

    async def __aenter__(self) -> ConnectionChain:
        for client in self.clients:
            await client.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close pooled connections (only needed after ``async with`` or for a long-lived
        chain; without it every call opens and closes its own pool)."""
        for client in self.clients:
            await client.aclose()

    async def _bounded(self, work: Awaitable[None], deadline: Deadline) -> bool:
        """Await ``work`` within the deadline; False when the deadline cut it short."""
        try:
            async with asyncio.timeout(deadline.remaining()):
                await work
        except TimeoutError:
            return False
        return True

    # -- resolve ----------------------------------------------------------------------------

    async def resolve(self, keys: Collection[str]) -> Resolution:
        deadline = self.deadline()
        wanted = {k.upper() for k in keys}
        found: dict[str, IssueData] = {}
        failed: set[str] = set()
        problems = _Problems()
        pending = set(wanted)
        for client in self.clients:
            if not pending:
                break
            namespace = self._namespaces[client.name]
            known_unknown: set[str] = set()
            ask = sorted(pending)
            if self.cache is not None:
                hits, known_unknown = await self.cache.get_issues(namespace, ask)
                found.update(hits)
                ask = [k for k in ask if k not in hits and k not in known_unknown]
                if ask:  # an index proves a key "not found" without asking (decision 0009)
                    absent = await self.cache.absent_by_index(namespace, ask)
                    known_unknown |= absent
                    ask = [k for k in ask if k not in absent]
            lookup = Lookup()
            if ask:
                if deadline.expired:
                    problems.add(_timeout_problem(client.name))
                elif self.cache is not None and self.cache.coalescer is not None:
                    await self._coalesced(client, namespace, ask, deadline, lookup, problems)
                else:
                    async with client.session():
                        work = self._apis[client.name].lookup_keys(
                            ask, deadline, lookup, concurrency=client.config.max_concurrency
                        )
                        if not await self._bounded(work, deadline):
                            problems.add(_timeout_problem(client.name))
                    problems.extend(problem_from(e, client.name) for e in lookup.errors)
                    if self.cache is not None:
                        await self.cache.put_issues(namespace, lookup.found, lookup.unknown)
            failed.update(set(ask) - lookup.answered())
            found.update({k: replace(v, key=k) for k, v in lookup.found.items()})
            pending = known_unknown | lookup.unknown | (set(ask) - lookup.answered())
            pending -= found.keys()
        self._resolved.update(found)
        if self.cache is not None:
            for client in self.clients:
                mine = {i.project for i in found.values() if i.connection == client.name}
                if mine:
                    self.cache.saw_projects(self._namespaces[client.name], mine)
        undetermined = frozenset(failed - found.keys())
        return Resolution(dict(found), undetermined, problems.as_tuple())

    async def _coalesced(
        self,
        client: JiraClient,
        namespace: str,
        ask: list[str],
        deadline: Deadline,
        lookup: Lookup,
        problems: _Problems,
    ) -> None:
        """``ask`` through the cache's coalescer: keys another evaluation is already asking
        about are not asked again; near-simultaneous lookups share one bulk request."""
        cache = self.cache
        assert cache is not None
        coalescer = cache.coalescer
        assert coalescer is not None
        api = self._apis[client.name]

        async def fetch(keys: list[str]) -> tuple[dict[str, IssueData], set[str], list[JiraError]]:
            part = Lookup()
            # keys another process is looking up right now (Redis): read its answers
            mine = await cache.claim_lookups(namespace, keys, CLAIM_SECONDS)
            if len(mine) < len(keys):
                theirs = [k for k in keys if k not in mine]
                found, unknown = await self._await_others(namespace, theirs, deadline)
                part.found.update(found)
                part.unknown.update(unknown)
                mine |= set(theirs) - found.keys() - unknown  # not answered in time: ask
            ask = [k for k in keys if k in mine]
            if ask:
                async with client.session():
                    work = api.lookup_keys(
                        ask, deadline, part, concurrency=client.config.max_concurrency
                    )
                    if not await self._bounded(work, deadline):
                        part.errors.append(JiraError(_TIMEOUT_MESSAGE, code="JIRA_TIMEOUT"))
                await cache.put_issues(
                    namespace,
                    {k: v for k, v in part.found.items() if k in mine},
                    part.unknown & mine,
                )
                await cache.release_lookups(namespace, ask)
            return part.found, part.unknown, part.errors

        found, unknown, errors, unanswered = await coalescer.lookup(
            namespace, ask, fetch, deadline.remaining()
        )
        lookup.found.update(found)
        lookup.unknown.update(unknown)
        for error in errors:
            if error.code == "JIRA_TIMEOUT":
                problems.add(_timeout_problem(client.name))
            else:
                problems.add(problem_from(error, client.name))
        if unanswered and not errors:
            problems.add(_timeout_problem(client.name))

    async def _await_others(
        self, namespace: str, keys: list[str], deadline: Deadline
    ) -> tuple[dict[str, IssueData], set[str]]:
        """Wait (polling the shared cache, at most ``CLAIM_SECONDS`` and never past the
        deadline) for another process's answers about these keys."""
        cache = self.cache
        assert cache is not None
        found: dict[str, IssueData] = {}
        unknown: set[str] = set()
        waited = 0.0
        left = list(keys)
        while left:
            remaining = deadline.remaining()
            if waited >= CLAIM_SECONDS or (remaining is not None and remaining <= 0.02):
                break
            await asyncio.sleep(0.02)
            waited += 0.02
            hits, negatives = await cache.get_issues(namespace, left, count=False)
            found.update(hits)
            unknown |= negatives
            left = [k for k in left if k not in hits and k not in negatives]
        return found, unknown

    # -- JQL --------------------------------------------------------------------------------

    async def match_jql(
        self, jql: str, keys: Collection[str], *, max_age: float | None = None
    ) -> JqlResult:
        deadline = self.deadline()
        wanted = {k.upper() for k in keys}
        unseen = [k for k in wanted if k not in self._resolved]
        problems = _Problems()
        undetermined: set[str] = set()
        if unseen:
            resolution = await self.resolve(unseen)
            problems.extend(resolution.problems)
            undetermined.update(resolution.undetermined)
        by_connection: dict[str, list[IssueData]] = {}
        for key in wanted:
            issue = self._resolved.get(key)
            if issue is not None and issue.id:
                by_connection.setdefault(issue.connection, []).append(issue)
        matching: set[str] = set()
        for client in self.clients:
            issues = by_connection.get(client.name)
            if not issues:
                continue
            ids = sorted({i.id for i in issues})
            namespace = self._namespaces[client.name]
            verdicts: dict[str, bool] = {}
            if self.cache is not None:
                verdicts = await self.cache.get_jql(
                    namespace,
                    jql,
                    ids,
                    max_age=max_age,
                    projects={i.id: i.project for i in issues},
                )
            ask = [i for i in ids if i not in verdicts]
            if self.cache is not None:
                self.cache.saw_jql(namespace, jql)
            if ask:
                outcome, problem = await self._match_on(client, jql, ask, deadline)
                if problem is not None:
                    problems.add(problem)
                    undetermined.update(i.key for i in issues if i.id in ask)
                else:
                    fresh = {i: i in outcome for i in ask}
                    verdicts.update(fresh)
                    if self.cache is not None:
                        await self.cache.put_jql(namespace, jql, fresh)
            matching.update(i.key for i in issues if verdicts.get(i.id))
        return JqlResult(frozenset(matching), frozenset(undetermined), problems.as_tuple())

    async def _match_on(
        self, client: JiraClient, jql: str, ids: list[str], deadline: Deadline
    ) -> tuple[set[str], ConnectionProblem | None]:
        if deadline.expired:
            return set(), _timeout_problem(client.name)
        result: set[str] = set()

        async def work() -> None:
            result.update(await self._apis[client.name].match(jql, ids, deadline))

        try:
            async with client.session():
                if not await self._bounded(work(), deadline):
                    return set(), _timeout_problem(client.name)
        except JiraHttpError as exc:
            return set(), ConnectionProblem(
                client.name,
                "JIRA_JQL_REJECTED",
                without_connection(exc.message, client.name),
                "check the rule's JQL against this connection (jirahooks rules validate)",
            )
        except JiraError as exc:
            return set(), problem_from(exc, client.name)
        return result, None

    async def validate_jql(self, jql: str) -> JqlCheck:
        """Ask every connection whether a rule's JQL is valid (when the rule is saved)."""
        deadline = self.deadline()
        errors: dict[str, list[str]] = {}
        problems = _Problems()
        for client in self.clients:
            try:
                errors[client.name] = await self._apis[client.name].validate_jql(jql, deadline)
            except JiraError as exc:
                problems.add(problem_from(exc, client.name))
        return JqlCheck(errors, problems.as_tuple())

    # -- projects ---------------------------------------------------------------------------

    async def projects(self) -> ProjectSet:
        """Projects of every enabled connection. When a connection cannot say (down, 404, an
        SSO page, no permission), the set holds what the others listed and is not
        ``complete``: a key of an unlisted project may live on the silent connection, so the
        engine treats it as undetermined, never as "no key" or "not found"."""
        deadline = self.deadline()
        problems = _Problems()
        keys: set[str] = set()
        complete = True
        for client in self.clients:
            namespace = self._namespaces[client.name]
            cached = await self.cache.get_projects(namespace) if self.cache else None
            if cached is not None:
                keys.update(cached)
                continue
            try:
                projects = await self._apis[client.name].projects(deadline)
            except JiraError as exc:
                problems.add(problem_from(exc, client.name))
                complete = False
                continue
            if self.cache is not None:
                await self.cache.put_projects(namespace, projects)
            keys.update(projects)
        return ProjectSet(frozenset(keys), problems.as_tuple(), complete=complete)

    # -- the fallback sweep -----------------------------------------------------------------

    async def sweep(
        self,
        *,
        first_window: float = 600.0,
        longest: float = 86400.0,
        changed_keys: list[str] | None = None,
    ) -> int:
        """Ask each connection for the issues updated recently in the projects seen recently
        (one paged search per connection) and apply the updates not seen before (by Jira's
        ``updated`` value) as webhooks would: existence entries replaced, JQL verdicts about
        them stale — and re-checked at once for the JQLs in use (one match per JQL). Then record that these projects are verified
        up to the sweep's start (``JiraCache.verified``), so verdicts stay fresh for as long as
        sweeps keep succeeding. The window reaches back to the previous sweep (plus a minute),
        else ``first_window`` seconds. Returns the number of updates applied; a failing
        connection is skipped (its verdicts age normally). ``changed_keys`` (if given) gets
        the keys of the updates applied (the server re-evaluates the PRs that used them)."""
        if self.cache is None:
            return 0
        cache = self.cache
        deadline = self.deadline()
        applied = 0
        for client in self.clients:
            namespace = self._namespaces[client.name]
            projects = sorted(cache.seen_projects(namespace))
            if not projects:
                continue
            started = cache.now()
            marks = [await cache.watermark(namespace, p) for p in projects]
            lasts = [m[1] for m in marks if m is not None]
            window = first_window
            if len(lasts) == len(projects):
                window = min(longest, started - min(lasts) + 60.0)
            try:
                issues = await self._apis[client.name].updated_issues(
                    projects, int(window // 60) + 1, deadline
                )
            except JiraError:
                continue
            changed = await cache.new_updates(namespace, issues)
            for issue in changed:
                await cache.issue_changed(namespace, issue)
            if changed_keys is not None:
                changed_keys.extend(issue.key for issue in changed)
            applied += len(changed)
            # what changed is re-checked now for the JQLs in use, in one match per JQL,
            # instead of once per evaluation that meets it
            ids = sorted({i.id for i in changed if i.id})
            for jql in cache.seen_jqls(namespace) if ids else ():
                outcome, problem = await self._match_on(client, jql, ids, deadline)
                if problem is None:
                    await cache.put_jql(namespace, jql, {i: i in outcome for i in ids})
            await cache.verified(namespace, projects, started - window, started)
            await cache.index_verified(namespace, projects, started - window, started)
            await cache.remember_projects(namespace)
        return applied

    async def warm(
        self, projects: Iterable[str], *, days: float = 7.0, jqls: Sequence[str] = ()
    ) -> int:
        """Fill the cache with the issues updated in the last ``days`` in these projects (one
        paged search per connection), so the morning's first commits hit the cache: their
        existence entries and, for each of ``jqls`` (the rules' JQLs), their verdicts (one
        ``match`` per 1,000 issues). The projects join those the sweep covers. Returns the
        number of issues cached."""
        if self.cache is None:
            return 0
        cache = self.cache
        wanted = sorted({p.upper() for p in projects})
        deadline = self.deadline()
        cached = 0
        for client in self.clients:
            namespace = self._namespaces[client.name]
            started = cache.now()
            try:
                issues = await self._apis[client.name].updated_issues(
                    wanted, int(days * 1440), deadline
                )
            except JiraError:
                continue
            await cache.put_issues(namespace, {i.key: i for i in issues})
            await cache.new_updates(namespace, issues)  # known to the next sweep
            cache.saw_projects(namespace, wanted)
            cached += len(issues)
            ids = sorted({i.id for i in issues if i.id})
            for jql in dict.fromkeys(jqls):
                outcome, problem = await self._match_on(client, jql, ids, deadline)
                if problem is None and ids:
                    await cache.put_jql(namespace, jql, {i: i in outcome for i in ids})
            # the chain of sweeps starts here: the first one reaches back to this warming
            await cache.verified(namespace, wanted, started, started)
        return cached

    async def index(
        self, projects: Iterable[str], *, jqls: Sequence[str] = (), max_issues: int | None = None
    ) -> int:
        """Build the existence index of these projects (decision 0009), on every connection
        where one is not already there: one paged search per project reads every issue
        (cached as existence answers), its numbers become the project's index, complete as of
        the search's start; then each of ``jqls`` (the rules' JQLs) is matched over the
        project's issues (one ``match`` per 1,000 issues), so verdicts are warm too. A
        project of more than ``max_issues`` issues (default: the connection's
        ``index_max_issues``; 0 or less: no index) is not indexed and not tried again for a
        day. Sweeps keep indexes verified; webhooks keep them current. Returns the number of
        issues read; a failing connection or project is skipped."""
        if self.cache is None:
            return 0
        cache = self.cache
        wanted = sorted({p.upper() for p in projects})
        deadline = self.deadline()
        read = 0
        for client in self.clients:
            limit = client.config.index_max_issues if max_issues is None else max_issues
            if limit <= 0 or not wanted:
                continue
            namespace = self._namespaces[client.name]
            have = await cache.get_index(namespace, wanted)
            for project in wanted:
                if project in have or await cache.is_index_too_large(namespace, project):
                    continue
                # with Redis, one process builds a project's index; the others use it
                claim = f"index-build:{project}"
                if not await cache.claim_lookups(namespace, [claim], INDEX_BUILD_SECONDS):
                    continue
                started = cache.now()
                try:
                    issues = await self._apis[client.name].project_issues(
                        project, deadline, limit=limit
                    )
                except JiraError:
                    continue
                if issues is None:
                    await cache.index_too_large(namespace, project)
                    continue
                mine = [i for i in issues if i.project == project or not i.project]
                await cache.put_issues(namespace, {i.key: i for i in mine})
                await cache.new_updates(namespace, mine)  # known to the next sweep
                numbers = frozenset(n for i in mine if (n := _number(i.key)) is not None)
                index = ProjectIndex(numbers, started, max(numbers, default=0))
                cache.saw_projects(namespace, [project])
                read += len(mine)
                ids = sorted({i.id for i in mine if i.id})
                for jql in dict.fromkeys(jqls):
                    cache.saw_jql(namespace, jql)
                    outcome, problem = await self._match_on(client, jql, ids, deadline)
                    if problem is None and ids:
                        await cache.put_jql(namespace, jql, {i: i in outcome for i in ids})
                await cache.put_index(namespace, project, index)
                await cache.release_lookups(namespace, [claim])
                # verdicts written from here on are verified by the sweeps that follow
                await cache.verified(namespace, [project], started, started)
            await cache.remember_projects(namespace)
        return read

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent by all connections of this chain (retries included)."""
        return sum(c.stats.requests for c in self.clients)


def _number(key: str) -> int | None:
    parsed = split_key(key)
    return parsed[1] if parsed is not None else None
