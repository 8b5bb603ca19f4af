"""A TTL cache of what Jira said, keyed by connection, over a pluggable backend.

Four kinds of entries, each with its own lifetime (``Lifetimes``; decisions 0001 and 0005):

* issue data per requested key — the *existence* answer (``existence``, hours by default:
  issues rarely disappear, and Jira's webhooks replace or drop the entry when one does);
* "not found or not visible" per key (``negative``, short: an issue created a minute ago must
  pass soon);
* the project list of a connection (``projects``);
* whether an issue (by id) matches a JQL — the *fields* answer (``fields``; a rule may ask for
  fresher, see ``get_jql(max_age=)``). A change Jira reports (webhook) marks the issue id
  changed, and every verdict written before the mark is stale at once.

Lifetimes are per connection (``set_lifetimes``), defaulting to the cache's.

Entries are namespaced by the connection's name *and* URL, so pointing a connection elsewhere
never serves the old instance's answers. Expiry is decided here, from an injectable wall clock
(``time.time``: several workers sharing Redis agree on it); backends only store strings and may
drop entries earlier (the backend TTL merely collects garbage).

``MemoryBackend`` serves one process; ``RedisBackend`` (redis-py asyncio) is shared by workers.
``JiraCache.stats`` counts hits and misses per lookup, so the hit rate is observable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from jirahooks.engine.resolver import IssueData
from jirahooks.jira.client import Clock
from jirahooks.jira.coalesce import Coalescer

_NEGATIVE = "-"
# An index answers "not found" for a key this far above the highest verified number while it
# was verified this recently (decision 0009): typos are far off, new issues come next in line.
INDEX_SLACK = 1000
INDEX_RECENT = 300.0
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long each kind of answer is trusted, in seconds (decision 0005)."""

    existence: float = 6 * 3600.0  # a found issue still exists
    negative: float = 30.0  # a key was not found: re-asked soon
    fields: float = 300.0  # JQL verdicts (status, fix version, type): a rule may say otherwise
    projects: float = 3600.0

    def merged(self, **overrides: float) -> Lifetimes:
        """These lifetimes with the positive overrides applied (0 or less: keep)."""
        chosen = {k: v for k, v in overrides.items() if v and v > 0}
        return Lifetimes(**{**{f: getattr(self, f) for f in self.__slots__}, **chosen})


# What jirahooks did before decision 0005: one lifetime for existence and fields.
UNTIERED = Lifetimes(existence=300.0, negative=60.0, fields=300.0, projects=3600.0)


class CacheBackend(Protocol):
    """Where cache entries live: plain string values with a best-effort TTL."""

    async def get_many(self, keys: Sequence[str]) -> list[str | None]: ...

    async def set_many(self, items: Mapping[str, str], ttl_seconds: float) -> None: ...

    async def delete_many(self, keys: Sequence[str]) -> None: ...

    async def clear(self) -> None: ...

    async def aclose(self) -> None: ...


class MemoryBackend:
    """In-process backend: a bounded dict (oldest entries dropped first)."""

    def __init__(self, *, max_entries: int = 200_000, clock: Clock = time.time) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        now = self._clock()
        values: list[str | None] = []
        for key in keys:
            entry = self._data.get(key)
            if entry is not None and entry[0] <= now:
                del self._data[key]
                entry = None
            values.append(entry[1] if entry else None)
        return values

    async def set_many(self, items: Mapping[str, str], ttl_seconds: float) -> None:
        expires = self._clock() + ttl_seconds
        for key, value in items.items():
            self._data.pop(key, None)
            self._data[key] = (expires, value)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    async def delete_many(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._data.pop(key, None)

    async def clear(self) -> None:
        self._data.clear()

    async def aclose(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._data)


class RedisBackend:
    """Shared backend on Redis (``redis`` extra). Keys are prefixed; ``clear`` only removes
    keys with this prefix."""

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "jirahooks") -> None:
        import redis.asyncio  # the server extra; imported only when Redis is configured

        self.prefix = prefix.rstrip(":") + ":"
        self._redis: Any = redis.asyncio.Redis.from_url(url, decode_responses=True)

    async def get_many(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        values = await self._redis.mget([self.prefix + k for k in keys])
        return [v if isinstance(v, str) else None for v in values]

    async def set_many(self, items: Mapping[str, str], ttl_seconds: float) -> None:
        if not items:
            return
        milliseconds = max(1, int(ttl_seconds * 1000))
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, value in items.items():
                pipe.set(self.prefix + key, value, px=milliseconds)
            await pipe.execute()

    async def delete_many(self, keys: Sequence[str]) -> None:
        if keys:
            await self._redis.delete(*(self.prefix + k for k in keys))

    async def claim_many(self, keys: Sequence[str], ttl_seconds: float) -> list[bool]:
        """Take a short lock on each key (``SET NX PX``): True where this caller got it."""
        if not keys:
            return []
        milliseconds = max(1, int(ttl_seconds * 1000))
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.set(self.prefix + key, "1", nx=True, px=milliseconds)
            return [bool(v) for v in await pipe.execute()]

    async def clear(self) -> None:
        batch: list[str] = []
        async for key in self._redis.scan_iter(match=self.prefix + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await self._redis.delete(*batch)
                batch = []
        if batch:
            await self._redis.delete(*batch)

    async def ping(self) -> bool:
        """Whether Redis answers (the server's readiness check)."""
        return bool(await self._redis.ping())

    async def aclose(self) -> None:
        await self._redis.aclose()


@dataclass
class CacheStats:
    """Lookups answered from the cache (hits) or not (misses), by kind."""

    hits: int = 0
    misses: int = 0
    negative_hits: int = 0
    errors: int = 0  # backend failures (each also counted as misses)
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [hits, misses]
    # told about every lookup (the server's metrics: jirahooks.server.metrics)
    observer: Callable[[str, bool], None] | None = field(default=None, repr=False)

    def count(self, kind: str, hit: bool) -> None:
        entry = self.by_kind.setdefault(kind, [0, 0])
        entry[0 if hit else 1] += 1
        if self.observer is not None:
            self.observer(kind, hit)

    @property
    def lookups(self) -> int:
        return self.hits + self.misses

    @property
    def hit_rate(self) -> float:
        return self.hits / self.lookups if self.lookups else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "negativeHits": self.negative_hits,
            "errors": self.errors,
            "hitRate": round(self.hit_rate, 4),
            "byKind": {k: {"hits": h, "misses": m} for k, (h, m) in self.by_kind.items()},
        }


def connection_namespace(name: str, url: str, identity: str = "") -> str:
    """Cache namespace of a connection: its name and a digest of its URL and of who asks.

    What Jira answers depends on the technical user (an issue hidden from one user "does not
    exist" for it), so two connections to the same Jira with different users — e.g. in two
    workspaces sharing one Redis — never share entries. ``identity`` is the user's e-mail or
    account ID, or a digest of the token for a Data Center PAT.
    """
    material = url.rstrip("/") + "\0" + identity
    digest = hashlib.sha256(material.encode()).hexdigest()[:16]
    return f"{name}@{digest}"


def _issue_to_json(issue: IssueData) -> dict[str, Any]:
    data = issue.to_dict()
    data["fields"] = dict(issue.fields)
    return data


def _issue_from_json(data: Mapping[str, Any]) -> IssueData:
    return IssueData(
        key=str(data["key"]),
        current_key=str(data.get("currentKey") or data["key"]),
        id=str(data.get("id") or ""),
        summary=str(data.get("summary") or ""),
        status=str(data.get("status") or ""),
        status_category=str(data.get("statusCategory") or ""),
        issue_type=str(data.get("issueType") or ""),
        fix_versions=tuple(str(v) for v in data.get("fixVersions") or ()),
        assignee=str(data.get("assignee") or ""),
        connection=str(data.get("connection") or ""),
        url=str(data.get("url") or ""),
        fields=dict(data.get("fields") or {}),
    )


class JiraCache:
    """Typed cache operations over a ``CacheBackend`` (see the module docstring)."""

    def __init__(
        self,
        backend: CacheBackend | None = None,
        *,
        lifetimes: Lifetimes | None = None,
        issue_ttl: float = 0.0,
        negative_ttl: float = 0.0,
        projects_ttl: float = 0.0,
        jql_ttl: float = 0.0,
        coalesce: bool = False,
        clock: Clock = time.time,
    ) -> None:
        """``lifetimes`` default to ``Lifetimes()``; the ``*_ttl`` arguments override one kind
        (``issue_ttl`` is the existence lifetime, ``jql_ttl`` the fields one). ``coalesce``:
        concurrent lookups of the same keys share one request (``jira.coalesce``)."""
        self.backend: CacheBackend = backend if backend is not None else MemoryBackend(clock=clock)
        self.lifetimes = (lifetimes or Lifetimes()).merged(
            existence=issue_ttl, negative=negative_ttl, projects=projects_ttl, fields=jql_ttl
        )
        self.stats = CacheStats()
        self.coalescer: Coalescer | None = Coalescer() if coalesce else None
        self._clock = clock
        self._per_connection: dict[str, Lifetimes] = {}
        self._seen: dict[str, set[str]] = {}
        self._jqls: dict[str, dict[str, None]] = {}

    def set_lifetimes(self, namespace: str, lifetimes: Lifetimes) -> None:
        """Lifetimes for one connection's entries (its configuration)."""
        self._per_connection[namespace] = lifetimes

    def lifetimes_for(self, namespace: str) -> Lifetimes:
        return self._per_connection.get(namespace, self.lifetimes)

    # The lifetimes of connections without their own (kept for callers of the 0001 API).
    @property
    def issue_ttl(self) -> float:
        return self.lifetimes.existence

    @property
    def negative_ttl(self) -> float:
        return self.lifetimes.negative

    @property
    def jql_ttl(self) -> float:
        return self.lifetimes.fields

    @property
    def projects_ttl(self) -> float:
        return self.lifetimes.projects

    def __repr__(self) -> str:
        return f"JiraCache(backend={type(self.backend).__name__}, {self.stats.to_dict()})"

    # -- envelope ---------------------------------------------------------------------------

    async def _get(
        self, keys: Sequence[str], kind: str = "", *, written: list[float] | None = None
    ) -> list[Any]:
        """Values still fresh by our clock, else None; counts hits and misses. ``written``
        receives each entry's write time (0 when absent)."""
        try:
            raw = await self.backend.get_many(keys)
        except Exception as exc:  # any backend failure (Redis down, …) is only a miss
            self._backend_failed(exc)
            raw = [None] * len(keys)
        now = self._clock()
        envelope: Any = None
        values: list[Any] = []
        for text in raw:
            value = None
            if text is not None:
                try:
                    envelope = json.loads(text)
                except ValueError:
                    envelope = None
                if isinstance(envelope, dict) and float(envelope.get("e", 0)) > now:
                    value = envelope.get("v")
            if written is not None:
                written.append(float(envelope.get("t", 0)) if value is not None else 0.0)
            if kind:
                if value is None:
                    self.stats.misses += 1
                else:
                    self.stats.hits += 1
                self.stats.count(kind, value is not None)
            values.append(value)
        return values

    async def _set(self, items: Mapping[str, Any], ttl: float) -> None:
        if not items:
            return
        now = self._clock()
        expires = now + ttl
        encoded = {
            k: json.dumps({"e": expires, "t": now, "v": v}, separators=(",", ":"))
            for k, v in items.items()
        }
        # The backend keeps entries a little longer than we trust them; expiry is ours.
        try:
            await self.backend.set_many(encoded, ttl + 1.0)
        except Exception as exc:  # the cache is an optimisation: never fail an evaluation
            self._backend_failed(exc)

    def _backend_failed(self, exc: Exception) -> None:
        self.stats.errors += 1
        if self.stats.errors == 1 or self.stats.errors % 100 == 0:
            log.warning(
                "Jira cache backend %s failed (%s): answering without the cache",
                type(self.backend).__name__,
                type(exc).__name__,
            )

    # -- issues -----------------------------------------------------------------------------

    async def get_issues(
        self, namespace: str, keys: Sequence[str], *, count: bool = True
    ) -> tuple[dict[str, IssueData], set[str]]:
        """Cached answers for these keys on one connection: (found, known unknown).
        ``count=False``: not counted in the stats (waiting for another process's answer)."""
        values = await self._get([f"{namespace}:issue:{k}" for k in keys], "issue" if count else "")
        found: dict[str, IssueData] = {}
        unknown: set[str] = set()
        for key, value in zip(keys, values, strict=True):
            if value == _NEGATIVE:
                unknown.add(key)
                self.stats.negative_hits += count
            elif isinstance(value, dict):
                found[key] = _issue_from_json(value)
        return found, unknown

    async def put_issues(
        self, namespace: str, found: Mapping[str, IssueData], unknown: Iterable[str] = ()
    ) -> None:
        lifetimes = self.lifetimes_for(namespace)
        await self._set(
            {f"{namespace}:issue:{k}": _issue_to_json(v) for k, v in found.items()},
            lifetimes.existence,
        )
        await self._set({f"{namespace}:issue:{k}": _NEGATIVE for k in unknown}, lifetimes.negative)

    async def claim_lookups(self, namespace: str, keys: Sequence[str], seconds: float) -> set[str]:
        """Across processes (a backend with ``claim_many``, i.e. Redis): the keys this process
        may look up now; the others are being looked up by another process, whose answers
        arrive in the cache within ``seconds``. Without such a backend: every key."""
        claim = getattr(self.backend, "claim_many", None)
        if claim is None or not keys:
            return set(keys)
        try:
            owned = await claim([f"{namespace}:lookup:{k}" for k in keys], seconds)
        except Exception as exc:
            self._backend_failed(exc)
            return set(keys)
        return {k for k, mine in zip(keys, owned, strict=True) if mine}

    async def release_lookups(self, namespace: str, keys: Iterable[str]) -> None:
        try:
            await self.backend.delete_many([f"{namespace}:lookup:{k}" for k in keys])
        except Exception as exc:
            self._backend_failed(exc)

    # -- projects ---------------------------------------------------------------------------

    async def get_projects(self, namespace: str) -> frozenset[str] | None:
        (value,) = await self._get([f"{namespace}:projects"], "projects")
        return frozenset(value) if isinstance(value, list) else None

    async def put_projects(self, namespace: str, projects: Iterable[str]) -> None:
        await self._set(
            {f"{namespace}:projects": sorted(projects)}, self.lifetimes_for(namespace).projects
        )

    # -- JQL matches ------------------------------------------------------------------------

    @staticmethod
    def _jql_key(namespace: str, jql: str, issue_id: str) -> str:
        digest = hashlib.sha256(jql.encode()).hexdigest()[:16]
        return f"{namespace}:jql:{digest}:{issue_id}"

    async def get_jql(
        self,
        namespace: str,
        jql: str,
        ids: Sequence[str],
        *,
        max_age: float | None = None,
        projects: Mapping[str, str] | None = None,
    ) -> dict[str, bool]:
        """Cached match results by issue id (ids not cached are absent). A verdict is served
        only if it is younger than ``max_age`` (a rule's freshness; ``0``: never) and was
        written after the last change Jira reported for the issue (``mark_changed``).

        Its age counts from when it was last *verified*: a sweep (``verified``) that covered
        the issue's project (``projects``: id → project) without interruption since the
        verdict was written, and reported every change in between, makes it as good as new
        as of the sweep."""
        if max_age is None:
            max_age = self.lifetimes_for(namespace).fields
        if max_age <= 0:
            return {}
        projects = projects or {}
        written: list[float] = []
        keys = [self._jql_key(namespace, jql, i) for i in ids]
        scopes = sorted(set(projects.values()))
        both = await self._get(
            [
                *keys,
                *(f"{namespace}:changed:{i}" for i in ids),
                *(f"{namespace}:verified:{p}" for p in scopes),
            ],
            written=written,
        )
        values, marks = both[: len(ids)], both[len(ids) : 2 * len(ids)]
        watermarks = dict(zip(scopes, both[2 * len(ids) :], strict=True))
        now = self._clock()
        verdicts: dict[str, bool] = {}
        for i, value, at, mark in zip(ids, values, written[: len(ids)], marks, strict=True):
            checked = at
            watermark = watermarks.get(projects.get(i, ""))
            if isinstance(watermark, list) and len(watermark) == 2 and watermark[0] <= at:
                checked = max(at, float(watermark[1]))
            fresh = (
                value is not None
                and now - checked <= max_age
                and (mark is None or float(mark) < at)
            )
            self.stats.count("fields", fresh)
            if fresh:
                self.stats.hits += 1
                verdicts[i] = bool(value)
            else:
                self.stats.misses += 1
        return verdicts

    async def put_jql(self, namespace: str, jql: str, results: Mapping[str, bool]) -> None:
        await self._set(
            {self._jql_key(namespace, jql, i): int(m) for i, m in results.items()},
            self._verdicts_kept(namespace),
        )

    def _verdicts_kept(self, namespace: str) -> float:
        """Verdicts are kept as long as existence answers: a sweep may keep verifying them;
        the freshness asked for (``fields``, a rule's ``max_age``) decides when they serve."""
        lifetimes = self.lifetimes_for(namespace)
        return max(lifetimes.fields, lifetimes.existence)

    def now(self) -> float:
        """The cache's clock (wall time shared by processes)."""
        return self._clock()

    async def verified(
        self, namespace: str, projects: Iterable[str], since: float, at: float
    ) -> None:
        """A sweep found every change in these projects between ``since`` and ``at`` (and they
        were applied): verdicts written since ``since`` are verified as of ``at``. A sweep that
        continues the previous one without a gap keeps its ``since``."""
        projects = list(projects)
        previous = await self._get([f"{namespace}:verified:{p}" for p in projects])
        items = {}
        for project, mark in zip(projects, previous, strict=True):
            start = since
            if isinstance(mark, list) and len(mark) == 2 and float(mark[1]) >= since:
                start = min(since, float(mark[0]))  # no gap: the chain goes on
            items[f"{namespace}:verified:{project}"] = [start, at]
        await self._set(items, 7 * 86400.0)

    async def watermark(self, namespace: str, project: str) -> tuple[float, float] | None:
        (mark,) = await self._get([f"{namespace}:verified:{project}"])
        if isinstance(mark, list) and len(mark) == 2:
            return float(mark[0]), float(mark[1])
        return None

    async def new_updates(self, namespace: str, issues: Sequence[IssueData]) -> list[IssueData]:
        """The issues whose Jira ``updated`` value differs from what an earlier sweep saw (an
        issue seen for the first time counts as changed); records the values seen."""
        if not issues:
            return []
        keys = [f"{namespace}:updated:{i.id}" for i in issues]
        seen = await self._get(keys)
        stamps = {i.id: str(i.fields.get("updated") or "") for i in issues}
        fresh = [i for i, s in zip(issues, seen, strict=True) if not s or s != stamps[i.id]]
        await self._set(
            {f"{namespace}:updated:{i.id}": stamps[i.id] or "?" for i in fresh},
            self._verdicts_kept(namespace),
        )
        return fresh

    async def remember_projects(self, namespace: str) -> None:
        """Keep the projects seen in the backend (a restarted process warms them)."""
        seen = sorted(self.seen_projects(namespace))
        if seen:
            await self._set({f"{namespace}:projects-seen": seen}, 7 * 86400.0)

    async def recall_projects(self, namespace: str) -> list[str]:
        (value,) = await self._get([f"{namespace}:projects-seen"])
        return [str(p) for p in value] if isinstance(value, list) else []

    def saw_jql(self, namespace: str, jql: str) -> None:
        """A rule's JQL ran on this connection (the sweep re-checks changed issues for it)."""
        self._jqls.setdefault(namespace, {})[jql] = None

    def seen_jqls(self, namespace: str) -> list[str]:
        return list(self._jqls.get(namespace, {}))[-20:]

    def saw_projects(self, namespace: str, projects: Iterable[str]) -> None:
        """Projects whose issues this process resolved (what a sweep covers)."""
        self._seen.setdefault(namespace, set()).update(projects)

    def seen_projects(self, namespace: str) -> frozenset[str]:
        return frozenset(self._seen.get(namespace, ()))

    async def mark_changed(self, namespace: str, issue_ids: Iterable[str]) -> None:
        """Jira reported a change of these issues: every JQL verdict about them written
        before now is stale (whatever the JQL)."""
        now = self._clock()
        lifetime = max(self._verdicts_kept(namespace), self.lifetimes.existence)
        await self._set({f"{namespace}:changed:{i}": now for i in issue_ids}, lifetime)

    # -- the existence index (decision 0009) -------------------------------------------------

    @staticmethod
    def _index_key(namespace: str, project: str) -> str:
        return f"{namespace}:index:{project}"

    async def get_index(self, namespace: str, projects: Sequence[str]) -> dict[str, ProjectIndex]:
        """The indexes of these projects that exist (absent: not indexed, or too large)."""
        values = await self._get([self._index_key(namespace, p) for p in projects])
        indexes: dict[str, ProjectIndex] = {}
        for project, value in zip(projects, values, strict=True):
            index = ProjectIndex.from_json(value)
            if index is not None:
                indexes[project] = index
        return indexes

    async def put_index(self, namespace: str, project: str, index: ProjectIndex) -> None:
        """Store a project's index; it lives as long as the existence answers it was read
        with (it is rebuilt after), so a number added late never outlives its issue's entry."""
        await self._set(
            {self._index_key(namespace, project): index.to_json()},
            self.lifetimes_for(namespace).existence,
        )

    async def index_too_large(self, namespace: str, project: str) -> None:
        """This project holds more issues than the connection indexes: not tried for a day."""
        await self._set({f"{namespace}:index-too-large:{project}": 1}, 86400.0)

    async def is_index_too_large(self, namespace: str, project: str) -> bool:
        (value,) = await self._get([f"{namespace}:index-too-large:{project}"])
        return value is not None

    async def _index_edit(self, namespace: str, add: Iterable[str], remove: Iterable[str]) -> None:
        """Jira created, moved or deleted issues: their numbers join or leave the indexes of
        their projects (indexes do not *verify* from this: only a search or sweep does)."""
        edits: dict[str, tuple[set[int], set[int]]] = {}
        for keys, slot in ((add, 0), (remove, 1)):
            for key in keys:
                parsed = split_key(key)
                if parsed is not None:
                    edits.setdefault(parsed[0], (set(), set()))[slot].add(parsed[1])
        if not edits:
            return
        projects = sorted(edits)
        indexes = await self.get_index(namespace, projects)
        for project, index in indexes.items():
            added, removed = edits[project]
            numbers = (index.numbers | added) - removed
            if numbers != index.numbers:
                await self.put_index(namespace, project, replace(index, numbers=frozenset(numbers)))

    async def absent_by_index(self, namespace: str, keys: Sequence[str]) -> set[str]:
        """The keys an index proves "not found" without asking Jira: in an indexed project,
        not in its index, and either at most the highest number the index held when last
        verified (Jira numbers issues upwards in a project, so a lower number not in a
        complete index does not exist), or verified no longer ago than the negative
        lifetime (an issue created since would be "not found" that long from the cache
        anyway), or more than ``INDEX_SLACK`` numbers above it while the index was verified
        within ``INDEX_RECENT`` seconds (such a key exists only if more than 1,000 issues were
        created in the project since, which the next sweep reports). Every other key is asked
        as before."""
        by_project: dict[str, list[tuple[str, int]]] = {}
        for key in keys:
            parsed = split_key(key)
            if parsed is not None:
                by_project.setdefault(parsed[0], []).append((key, parsed[1]))
        if not by_project:
            return set()
        indexes = await self.get_index(namespace, sorted(by_project))
        negative = self.lifetimes_for(namespace).negative
        now = self._clock()
        absent: set[str] = set()
        for project, index in indexes.items():
            for key, number in by_project[project]:
                age = now - index.verified_at
                proven = number not in index.numbers and (
                    number <= index.verified_max
                    or age <= negative
                    or (number > index.verified_max + INDEX_SLACK and age <= INDEX_RECENT)
                )
                self.stats.count("index", proven)
                if proven:
                    absent.add(key)
        self.stats.negative_hits += len(absent)
        return absent

    async def index_verified(
        self, namespace: str, projects: Iterable[str], since: float, at: float
    ) -> None:
        """A sweep saw every update of these projects between ``since`` and ``at``, and
        applied them: an index verified at ``since`` or later is complete as of ``at``. An
        index last verified before ``since`` missed updates (a gap): it is dropped, and
        rebuilt by the next ``ConnectionChain.index``."""
        projects = sorted(set(projects))
        indexes = await self.get_index(namespace, projects)
        for project, index in indexes.items():
            if index.verified_at >= since:
                verified = replace(
                    index, verified_at=at, verified_max=max(index.numbers, default=0)
                )
                await self.put_index(namespace, project, verified)
            else:
                try:
                    await self.backend.delete_many([self._index_key(namespace, project)])
                except Exception as exc:
                    self._backend_failed(exc)

    # -- what Jira told us changed (webhooks, the sweep) -------------------------------------

    async def issue_changed(
        self, namespace: str, issue: IssueData, old_keys: Iterable[str] = ()
    ) -> None:
        """Jira created or updated this issue: its existence entry (and those of keys it was
        known by) is replaced at once — a "not found" for the key is gone — and every JQL
        verdict about it written before now is stale."""
        keys = [issue.key.upper(), *(k.upper() for k in old_keys)]
        await self.put_issues(
            namespace, {k: IssueData(**{**_fields_of(issue), "key": k}) for k in keys}
        )
        if issue.id:
            await self.mark_changed(namespace, [issue.id])
        await self._index_edit(namespace, keys, ())

    async def issue_deleted(self, namespace: str, key: str, issue_id: str = "") -> None:
        """Jira deleted this issue: the key is "not found" (for the short negative lifetime)."""
        await self.put_issues(namespace, {}, [key.upper()])
        if issue_id:
            await self.mark_changed(namespace, [issue_id])
        await self._index_edit(namespace, (), [key.upper()])

    async def forget_projects(self, namespace: str) -> None:
        """A project was created, renamed or deleted: the project list is asked again."""
        try:
            await self.backend.delete_many([f"{namespace}:projects"])
        except Exception as exc:
            self._backend_failed(exc)

    async def clear(self) -> None:
        await self.backend.clear()

    async def aclose(self) -> None:
        await self.backend.aclose()


def split_key(key: str) -> tuple[str, int] | None:
    """``"ABC-12"`` → ``("ABC", 12)``; None for anything else."""
    project, _, number = key.upper().rpartition("-")
    if not project or not number.isdigit():
        return None
    return project, int(number)


@dataclass(frozen=True, slots=True)
class ProjectIndex:
    """Which issue numbers exist in one project (decision 0009): complete as of
    ``verified_at`` (the start of the search that read it, or of the last sweep that
    continued it without a gap), when the highest number was ``verified_max``. Webhooks add
    and remove numbers in between."""

    numbers: frozenset[int]
    verified_at: float
    verified_max: int

    def to_json(self) -> dict[str, Any]:
        return {"n": sorted(self.numbers), "at": self.verified_at, "max": self.verified_max}

    @classmethod
    def from_json(cls, value: Any) -> ProjectIndex | None:
        if not isinstance(value, dict) or not isinstance(value.get("n"), list):
            return None
        try:
            return cls(frozenset(int(n) for n in value["n"]), float(value["at"]), int(value["max"]))
        except (KeyError, TypeError, ValueError):
            return None


def _fields_of(issue: IssueData) -> dict[str, Any]:
    return {name: getattr(issue, name) for name in IssueData.__slots__}
