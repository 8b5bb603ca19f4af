"""A TTL cache of what Jira said, keyed by connection, over a pluggable backend.

Four kinds of entries, each with its own time to live (docs/decisions/0001-jira-cache.md):

* issue data per requested key (positive, ``issue_ttl``);
* "not found or not visible" per key (negative, the shorter ``negative_ttl``: an issue created a
  minute ago must not stay invalid for long);
* the project list of a connection (``projects_ttl``);
* whether an issue (by id) matches a JQL (``jql_ttl``).

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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from jirahooks.engine.resolver import IssueData
from jirahooks.jira.client import Clock

_NEGATIVE = "-"
log = logging.getLogger(__name__)


class CacheBackend(Protocol):
    """Where cache entries live: plain string values with a best-effort TTL."""

    async def get_many(self, keys: Sequence[str]) -> list[str | None]: ...

    async def set_many(self, items: Mapping[str, str], ttl_seconds: float) -> None: ...

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

    async def clear(self) -> None:
        batch: list[str] = []
        async for key in self._redis.scan_iter(match=self.prefix + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await self._redis.delete(*batch)
                batch = []
        if batch:
            await self._redis.delete(*batch)

    async def aclose(self) -> None:
        await self._redis.aclose()


@dataclass
class CacheStats:
    """Lookups answered from the cache (hits) or not (misses), by kind."""

    hits: int = 0
    misses: int = 0
    negative_hits: int = 0
    errors: int = 0  # backend failures (each also counted as misses)

    @property
    def lookups(self) -> int:
        return self.hits + self.misses

    @property
    def hit_rate(self) -> float:
        return self.hits / self.lookups if self.lookups else 0.0

    def to_dict(self) -> dict[str, float]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "negativeHits": self.negative_hits,
            "errors": self.errors,
            "hitRate": round(self.hit_rate, 4),
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
        issue_ttl: float = 300.0,
        negative_ttl: float = 60.0,
        projects_ttl: float = 3600.0,
        jql_ttl: float = 300.0,
        clock: Clock = time.time,
    ) -> None:
        self.backend: CacheBackend = backend if backend is not None else MemoryBackend(clock=clock)
        self.issue_ttl = issue_ttl
        self.negative_ttl = negative_ttl
        self.projects_ttl = projects_ttl
        self.jql_ttl = jql_ttl
        self.stats = CacheStats()
        self._clock = clock

    def __repr__(self) -> str:
        return f"JiraCache(backend={type(self.backend).__name__}, {self.stats.to_dict()})"

    # -- envelope ---------------------------------------------------------------------------

    async def _get(self, keys: Sequence[str]) -> list[Any]:
        """Values still fresh by our clock, else None; counts hits and misses."""
        try:
            raw = await self.backend.get_many(keys)
        except Exception as exc:  # any backend failure (Redis down, …) is only a miss
            self._backend_failed(exc)
            raw = [None] * len(keys)
        now = self._clock()
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
            if value is None:
                self.stats.misses += 1
            else:
                self.stats.hits += 1
            values.append(value)
        return values

    async def _set(self, items: Mapping[str, Any], ttl: float) -> None:
        if not items:
            return
        expires = self._clock() + ttl
        encoded = {
            k: json.dumps({"e": expires, "v": v}, separators=(",", ":")) for k, v in items.items()
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
        self, namespace: str, keys: Sequence[str]
    ) -> tuple[dict[str, IssueData], set[str]]:
        """Cached answers for these keys on one connection: (found, known unknown)."""
        values = await self._get([f"{namespace}:issue:{k}" for k in keys])
        found: dict[str, IssueData] = {}
        unknown: set[str] = set()
        for key, value in zip(keys, values, strict=True):
            if value == _NEGATIVE:
                unknown.add(key)
                self.stats.negative_hits += 1
            elif isinstance(value, dict):
                found[key] = _issue_from_json(value)
        return found, unknown

    async def put_issues(
        self, namespace: str, found: Mapping[str, IssueData], unknown: Iterable[str] = ()
    ) -> None:
        await self._set(
            {f"{namespace}:issue:{k}": _issue_to_json(v) for k, v in found.items()},
            self.issue_ttl,
        )
        await self._set({f"{namespace}:issue:{k}": _NEGATIVE for k in unknown}, self.negative_ttl)

    # -- projects ---------------------------------------------------------------------------

    async def get_projects(self, namespace: str) -> frozenset[str] | None:
        (value,) = await self._get([f"{namespace}:projects"])
        return frozenset(value) if isinstance(value, list) else None

    async def put_projects(self, namespace: str, projects: Iterable[str]) -> None:
        await self._set({f"{namespace}:projects": sorted(projects)}, self.projects_ttl)

    # -- JQL matches ------------------------------------------------------------------------

    @staticmethod
    def _jql_key(namespace: str, jql: str, issue_id: str) -> str:
        digest = hashlib.sha256(jql.encode()).hexdigest()[:16]
        return f"{namespace}:jql:{digest}:{issue_id}"

    async def get_jql(self, namespace: str, jql: str, ids: Sequence[str]) -> dict[str, bool]:
        """Cached match results by issue id (ids not cached are absent)."""
        values = await self._get([self._jql_key(namespace, jql, i) for i in ids])
        return {i: bool(v) for i, v in zip(ids, values, strict=True) if v is not None}

    async def put_jql(self, namespace: str, jql: str, results: Mapping[str, bool]) -> None:
        await self._set(
            {self._jql_key(namespace, jql, i): int(m) for i, m in results.items()}, self.jql_ttl
        )

    async def clear(self) -> None:
        await self.backend.clear()

    async def aclose(self) -> None:
        await self.backend.aclose()
