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
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RequestBudget:
    """See the module docstring."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_wait: float = 2.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.per_minute = per_minute
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

    def pause(self, seconds: float) -> None:
        """Jira said to wait (``Retry-After``): no request of this user until then."""
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))


_BUDGETS: dict[str, RequestBudget] = {}


def budget_for(user: str, per_minute: int) -> RequestBudget:
    """The process-wide budget of one technical user (``user``: Jira URL and identity)."""
    budget = _BUDGETS.get(user)
    if budget is None or budget.per_minute != per_minute:
        budget = _BUDGETS[user] = RequestBudget(per_minute)
    return budget
