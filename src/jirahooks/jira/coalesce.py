"""Coalescing of existence lookups: evaluations that need the same keys share one request.

A server evaluates many hooks at once, and near-simultaneous hooks often name the same hot
issues. ``Coalescer.lookup`` (one per ``JiraCache``, so per app) keeps, per connection
namespace:

* an *in-flight* table: a key some evaluation is already asking Jira about is not asked again;
  the later evaluation awaits the same answer (within its own deadline);
* a *pending batch*: keys not in flight join the batch being formed for that connection (up to
  ``max_keys``, one bulk request). When nothing is in flight for the connection (an idle
  server), the batch leaves at the next turn of the event loop — no added latency; when lookups
  are already in flight, it waits ``window`` seconds (a few milliseconds) for company.

The evaluation that opened a batch sends it with its own client and deadline. Keys a batch
could not answer (a failure, the sender's deadline) are reported with the batch's errors to
every evaluation that waited for them; each evaluation's own deadline bounds its wait, and keys
still open when it strikes stay unanswered (undetermined, ``JIRA_TIMEOUT``). Nothing here
changes *what* is answered, only how many requests it takes.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from jirahooks.engine.resolver import IssueData
from jirahooks.errors import JiraError

Fetch = Callable[[list[str]], Awaitable[tuple[dict[str, IssueData], set[str], list[JiraError]]]]


@dataclass
class _Batch:
    fetch: Fetch
    keys: list[str] = field(default_factory=list)


@dataclass
class _Answer:
    issue: IssueData | None  # None: not found (when ``answered``)
    answered: bool
    errors: tuple[JiraError, ...] = ()


class Coalescer:
    """See the module docstring."""

    def __init__(self, *, window: float = 0.003, max_keys: int = 100) -> None:
        self.window = window
        self.max_keys = max_keys
        self.shared = 0  # keys answered by another evaluation's request
        self.requests = 0  # lookups sent (one per batch)
        self._inflight: dict[tuple[str, str], asyncio.Future[_Answer]] = {}
        self._pending: dict[str, _Batch] = {}
        self._busy: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[None]] = set()

    async def lookup(
        self, namespace: str, keys: Sequence[str], fetch: Fetch, timeout: float | None
    ) -> tuple[dict[str, IssueData], set[str], list[JiraError], set[str]]:
        """(found, unknown, errors, unanswered) for ``keys`` on one connection; ``fetch``
        asks Jira for a list of keys (used if this call opens a batch); ``timeout``: seconds
        this evaluation may wait."""
        loop = asyncio.get_running_loop()
        futures: dict[str, asyncio.Future[_Answer]] = {}
        fresh: list[str] = []
        for key in dict.fromkeys(keys):
            future = self._inflight.get((namespace, key))
            if future is not None:
                self.shared += 1
            else:
                future = loop.create_future()
                self._inflight[(namespace, key)] = future
                fresh.append(key)
            futures[key] = future
        if fresh:
            self._enqueue(namespace, fresh, fetch)
        if futures:
            await asyncio.wait(list(futures.values()), timeout=timeout)
        found: dict[str, IssueData] = {}
        unknown: set[str] = set()
        errors: list[JiraError] = []
        unanswered: set[str] = set()
        for key, future in futures.items():
            if not future.done() or future.cancelled() or future.exception() is not None:
                unanswered.add(key)
                continue
            answer = future.result()
            if not answer.answered:
                unanswered.add(key)
                errors.extend(e for e in answer.errors if e not in errors)
            elif answer.issue is None:
                unknown.add(key)
            else:
                found[key] = answer.issue
        return found, unknown, errors, unanswered

    def _enqueue(self, namespace: str, keys: list[str], fetch: Fetch) -> None:
        batch = self._pending.get(namespace)
        if batch is not None and len(batch.keys) + len(keys) <= self.max_keys:
            batch.keys.extend(keys)
            return
        batch = _Batch(fetch, list(keys))
        if len(keys) < self.max_keys:
            self._pending[namespace] = batch  # others may join until it leaves
        delay = self.window if self._busy[namespace] else 0.0
        self._busy[namespace] += 1
        task = asyncio.get_running_loop().create_task(self._send(namespace, batch, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, namespace: str, batch: _Batch, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            if self._pending.get(namespace) is batch:
                del self._pending[namespace]
            self.requests += 1
            try:
                found, unknown, errors = await batch.fetch(batch.keys)
            except Exception as exc:  # reported to the waiters, never lost
                found, unknown = {}, set()
                errors = [exc] if isinstance(exc, JiraError) else []
            for key in batch.keys:
                future = self._inflight.pop((namespace, key), None)
                if future is None or future.done():
                    continue
                if key in found:
                    future.set_result(_Answer(found[key], True))
                elif key in unknown:
                    future.set_result(_Answer(None, True))
                else:
                    future.set_result(_Answer(None, False, tuple(errors)))
        finally:
            self._busy[namespace] -= 1
            for key in batch.keys:  # cancelled mid-way: nobody may wait forever
                future = self._inflight.pop((namespace, key), None)
                if future is not None and not future.done():
                    future.set_result(_Answer(None, False))
