"""Hourly request budgets per host credential, for every host's HTTP client.

A budget holds a client to at most ``limit`` requests in any rolling hour with one credential,
so a burst stops *before* the host's 429s. Bitbucket Cloud's comes from
``JIRAHOOKS_BITBUCKET_REQUESTS_PER_HOUR`` (1,000, Bitbucket's limit); the other hosts' from the
``requests_per_hour`` field of their admin settings (``server.host_settings``: GitHub 5,000, an
App installation's limit; GitLab 120,000, GitLab.com's 2,000 per minute; Data Center 0, none) —
docs/operations.md "Host request budgets".

- :class:`HourlyBudget`: one credential's window, in this process or, with a
  :class:`SharedHourlyWindow`, in Redis for every process and host of the deployment;
- :class:`Budgets`: a factory's budgets by credential digest (kept when an adapter is rebuilt
  for a changed configuration);
- :func:`within_budget`: what a client's request function awaits before each attempt — a wait
  longer than its retry policy allows raises :class:`PlatformUnavailable` with
  ``retry_after``, and the queue reschedules the delivery with that message (never dropped,
  never passed).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from jirahooks.platforms.base import PlatformUnavailable
from jirahooks.platforms.registry import FactoryOptions, PerConfigFactory
from jirahooks.retry import RetryPolicy

log = logging.getLogger("jirahooks.platforms.budget")

WINDOW = 3600.0


class HourlyBudget:
    """At most ``limit`` requests in any rolling hour. ``await acquire()`` takes one request
    slot (0.0) or says how many seconds until one frees (nothing taken); ``limit`` 0: no
    budget.

    In this process (``shared`` None) the window is this object's: one per credential and
    process. With ``shared`` (a :class:`SharedHourlyWindow` in Redis, when the server has a
    Redis URL) the window of ``key`` — a digest of the credential — is one sorted set that every
    process and host of the deployment counts in, so N processes sharing a credential together
    stay under ``limit`` (a deployment-wide figure). When Redis fails, the process counts in
    its own window (logged), never without a limit — the same rule as the Jira budget
    (jira/budget.py).
    """

    def __init__(
        self,
        limit: int,
        *,
        clock: Callable[[], float] | None = None,
        shared: SharedHourlyWindow | None = None,
        key: str = "",
    ) -> None:
        self.limit = max(0, limit)
        self.shared = shared
        self.key = key
        self.shared_errors = 0
        self._clock = clock or time.monotonic
        self._sent: collections.deque[float] = collections.deque()

    def __repr__(self) -> str:
        where = "shared" if self.shared is not None else "process"
        return f"HourlyBudget({self.limit}/h, {where})"

    def wait(self) -> float:
        """Seconds until this process's window has a free slot (0: now)."""
        if not self.limit:
            return 0.0
        now = self._clock()
        while self._sent and self._sent[0] <= now - WINDOW:
            self._sent.popleft()
        if len(self._sent) < self.limit:
            return 0.0
        return self._sent[0] + WINDOW - now

    def take(self) -> None:
        if self.limit:
            self._sent.append(self._clock())

    async def acquire(self) -> float:
        """Take one slot now (0.0), else the seconds until one frees (nothing taken)."""
        if not self.limit:
            return 0.0
        if self.shared is not None:
            try:
                return await self.shared.take(self.key, self.limit)
            except Exception as exc:  # Redis down: this process's window, visibly
                self.shared_errors += 1
                if self.shared_errors == 1 or self.shared_errors % 100 == 0:
                    log.warning(
                        "shared request budget in Redis failed (%s): this process counts alone",
                        type(exc).__name__,
                    )
        wait = self.wait()
        if wait <= 0:
            self.take()
        return wait


_TAKE_HOURLY = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class SharedHourlyWindow:
    """The rolling-hour windows of a host's credentials in Redis, shared by processes and
    hosts: one sorted set per credential digest (``<prefix>:<namespace>:<digest>``; Bitbucket
    Cloud's namespace is ``bitbucket-budget``, the others ``<platform>-budget``), taken by one
    atomic script on Redis's own clock (like ``jira.budget.SharedWindow``)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "jirahooks",
        window: float = WINDOW,
        namespace: str = "bitbucket-budget",
    ) -> None:
        import redis.asyncio  # the server extra; only when Redis is configured

        self.prefix = f"{prefix.rstrip(':')}:{namespace}:"
        self.window_ms = int(window * 1000)
        self._redis: Any = redis.asyncio.Redis.from_url(url, decode_responses=True)
        self._script: Any = self._redis.register_script(_TAKE_HOURLY)

    def __repr__(self) -> str:
        return f"SharedHourlyWindow(prefix={self.prefix!r})"

    async def take(self, key: str, limit: int) -> float:
        """One slot of ``key``'s window (0.0), else the seconds until one frees."""
        args = [limit, self.window_ms, uuid.uuid4().hex]
        waited = await self._script(keys=[self.prefix + key], args=args)
        return max(0.0, float(waited) / 1000.0)

    async def aclose(self) -> None:
        await self._redis.aclose()


def digest(base_url: str, *identity: str) -> str:
    """Which window a credential counts in: a digest of the API origin and what identifies the
    credential (kind, user, secret — the secret never reaches Redis)."""
    raw = "\0".join((base_url.rstrip("/"), *identity))
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


class Budgets:
    """One host factory's budgets, one per credential digest, shared through Redis when the
    deployment has a Redis URL. A budget is kept across adapter rebuilds; a changed limit
    (the host setting) applies to the same window."""

    def __init__(self, redis_url: str = "", *, prefix: str = "jirahooks", namespace: str) -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self.namespace = namespace
        self.shared: SharedHourlyWindow | None = None
        self._budgets: dict[str, HourlyBudget] = {}

    def get(self, key: str, limit: int) -> HourlyBudget:
        """The budget of the credential digest ``key`` (``limit`` per hour, 0: none)."""
        if limit and self.redis_url and self.shared is None:
            self.shared = SharedHourlyWindow(
                self.redis_url, prefix=self.prefix, namespace=self.namespace
            )
        budget = self._budgets.get(key)
        if budget is None:
            budget = self._budgets[key] = HourlyBudget(limit, shared=self.shared, key=key)
        budget.limit = max(0, limit)
        if budget.shared is None:
            budget.shared = self.shared
        return budget

    async def aclose(self) -> None:
        if self.shared is not None:
            await self.shared.aclose()
            self.shared = None


async def within_budget(budget: HourlyBudget, retry: RetryPolicy, host: str, hint: str) -> None:
    """Wait for one slot of ``budget`` up to ``retry.max_wait`` in all; a longer wait raises
    :class:`PlatformUnavailable` with ``retry_after`` (the queue reschedules the work, and the
    delivery row keeps the message). ``host``: "GitLab"; ``hint``: the setting to raise."""
    waited = 0.0
    while (wait := await budget.acquire()) > 0:
        if waited + wait > retry.max_wait:
            raise PlatformUnavailable(
                f"the {host} request budget ({budget.limit} per hour) is used up",
                hint=f"the work is retried when the budget allows; see {hint}",
                retry_after=wait,
            )
        await asyncio.sleep(wait)
        waited += wait


class BudgetedFactory(PerConfigFactory):
    """The base of a host's adapter factory whose configurations each have their own client
    but whose credentials' hourly budgets outlive a rebuilt adapter: ``self.budgets``, in
    Redis under ``<platform>-budget`` when the deployment has a Redis URL."""

    platform = ""

    def __init__(self, options: FactoryOptions) -> None:
        super().__init__(options)
        self.budgets = Budgets(
            options.redis_url, prefix=options.redis_prefix, namespace=f"{self.platform}-budget"
        )

    async def aclose(self) -> None:
        await self.budgets.aclose()
