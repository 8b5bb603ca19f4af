"""A budget per technical user: at most N Jira requests in any minute, shared by every client of
that user in this process.

Atlassian rate-limits per user; when an organisation's hooks all go through one technical user,
letting Jira answer 429 to everyone is the worst outcome (every evaluation waits, retries, and
the limit stays hit). ``RequestBudget`` keeps a sliding window of the requests sent in the last
60 seconds: a request that would exceed ``per_minute`` waits (at most ``max_wait`` seconds and
never past the evaluation's deadline) for the window to free a slot; if none frees in time, the
request is not sent and fails with ``JIRA_RATE_LIMITED`` — its keys are undetermined and the
``jira_unreachable`` policy decides, visibly. Jira's own ``Retry-After`` / ``X-RateLimit-Reset``
(a 429) pauses the whole budget until then, so other evaluations do not hit the limit again.

With Redis (``share_budgets(url)``, done by the server when it has a Redis URL) the window is
one sorted set per technical user in Redis (``SharedWindow``: an atomic script on Redis's own
clock), so every process and host of a deployment shares the ceiling; a pause is shared too.
When Redis fails, the process falls back to its own window (logged), never to no limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, pause = tonumber(ARGV[1]), tonumber(ARGV[2])
if pause > 0 then
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if now + pause > current then
    redis.call('SET', KEYS[2], now + pause, 'PX', pause + 1000)
  end
end
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then return paused - now end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], 61000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tonumber(oldest[2]) + 60000 - now
"""


class SharedWindow:
    """The 60 s window of every technical user in Redis, shared by processes and hosts."""

    def __init__(self, url: str, *, prefix: str = "jirahooks") -> None:
        import redis.asyncio  # the server extra; only when Redis is configured

        self.url = url
        self.prefix = prefix.rstrip(":") + ":budget:"
        self._redis: Any = redis.asyncio.Redis.from_url(url, decode_responses=True)
        self._script: Any = self._redis.register_script(_TAKE)

    def __repr__(self) -> str:
        return f"SharedWindow(prefix={self.prefix!r})"

    async def take(self, user: str, per_minute: int, pause: float = 0.0) -> float:
        """One request slot for ``user`` (0.0), else the seconds until one frees; ``pause``
        (seconds, from Jira's ``Retry-After``) pauses the user everywhere first."""
        digest = hashlib.sha256(user.encode()).hexdigest()[:16]
        keys = [self.prefix + digest, self.prefix + digest + ":paused"]
        args = [per_minute, int(max(0.0, pause) * 1000), uuid.uuid4().hex]
        return max(0.0, float(await self._script(keys=keys, args=args)) / 1000.0)

    async def aclose(self) -> None:
        await self._redis.aclose()


class RequestBudget:
    """See the module docstring."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_wait: float = 2.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        shared: SharedWindow | None = None,
        user: str = "",
    ) -> None:
        self.per_minute = per_minute
        self.shared = shared
        self.user = user
        self._pending_pause = 0.0
        self.shared_errors = 0
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self.granted = 0
        self.waited = 0
        self.refused = 0

    def __repr__(self) -> str:
        return (
            f"RequestBudget({self.per_minute}/min, granted={self.granted}, "
            f"waited={self.waited}, refused={self.refused})"
        )

    def _delay(self, now: float) -> float:
        while self._sent and self._sent[0] <= now - 60.0:
            self._sent.popleft()
        delay = max(0.0, self._paused_until - now)
        if len(self._sent) >= self.per_minute:
            delay = max(delay, self._sent[0] + 60.0 - now)
        return delay

    async def acquire(self, remaining: float | None = None) -> bool:
        """Take one request slot, waiting briefly if needed; False: the budget is spent for
        longer than this request may wait (``remaining``: seconds left of its deadline)."""
        limit = self.max_wait if remaining is None else min(self.max_wait, remaining)
        waited = False
        while True:
            now = self._clock()
            delay = await self._shared_delay()
            if delay is None:  # no Redis (or it failed): this process's own window
                delay = self._delay(now)
            if delay <= 0:
                self._sent.append(now)
                self.granted += 1
                self.waited += waited
                return True
            if delay > limit:
                self.refused += 1
                return False
            waited = True
            limit -= delay
            await self._sleep(delay)

    async def _shared_delay(self) -> float | None:
        if self.shared is None:
            return None
        pause, self._pending_pause = self._pending_pause, 0.0
        try:
            return await self.shared.take(self.user, self.per_minute, pause)
        except Exception as exc:  # Redis down: fall back to the process's window, visibly
            self.shared_errors += 1
            if self.shared_errors == 1 or self.shared_errors % 100 == 0:
                log.warning(
                    "shared Jira budget in Redis failed (%s): this process counts alone",
                    type(exc).__name__,
                )
            return None

    def pause(self, seconds: float) -> None:
        """Jira said to wait (``Retry-After``): no request of this user until then (with
        Redis, in every process: sent with the next request's slot)."""
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))
        self._pending_pause = max(self._pending_pause, seconds)


_BUDGETS: dict[str, RequestBudget] = {}
_SHARED: list[SharedWindow] = []


def share_budgets(redis_url: str, *, prefix: str = "jirahooks") -> None:
    """Budgets made from now on count in Redis at ``redis_url`` (shared by processes);
    an empty URL: in-process again."""
    _SHARED.clear()
    _BUDGETS.clear()
    if redis_url:
        _SHARED.append(SharedWindow(redis_url, prefix=prefix))


def budget_for(user: str, per_minute: int) -> RequestBudget:
    """The process-wide budget of one technical user (``user``: Jira URL and identity)."""
    budget = _BUDGETS.get(user)
    if budget is None or budget.per_minute != per_minute:
        shared = _SHARED[0] if _SHARED else None
        budget = _BUDGETS[user] = RequestBudget(per_minute, shared=shared, user=user)
    return budget
