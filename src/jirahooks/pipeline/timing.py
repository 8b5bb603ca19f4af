"""Where a queued delivery's time goes, measured by the PR worker (docs/operations.md, "PR
webhooks at scale").

One :class:`Timeline` per processing attempt, carried in a context variable so the processor's
helpers add to it without passing it around. At the end of the attempt the worker reports it as
``jirahooks_evaluation_stage_duration_seconds{source=<platform>, stage=…}`` (the stage
histogram the evaluations already use; the engine's ``plan``, ``jira``, ``checks`` and ``store``
come from ``server/stages.py``):

* ``queue`` — receipt of the delivery until a worker claimed it (waiting for a slot, a poll or a
  wake-up, or an earlier delivery of the same pull request);
* ``claim`` — the claim statement that took it (shared by the deliveries of one claim);
* ``db`` — the attempt's time in database sessions, added up;
* the host's stage (``bitbucket`` for Bitbucket Cloud: ``platforms.registry.Host.stage``) — the
  attempt's time in the host's requests, added up;
* ``final`` — receipt until the final build status was sent (what a developer waits for);
* ``process`` — claim until the outcome was recorded.

The number of database sessions (transactions) of an attempt is kept too (``sessions``), for
tests and the benchmark's per-PR figure.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from jirahooks.store.database import Database


@dataclass
class Timeline:
    """One processing attempt's stage times (seconds) and database sessions."""

    seconds: dict[str, float] = field(default_factory=dict)
    sessions: int = 0
    received_at: datetime | None = None  # the delivery's receipt (for ``queue``, ``final``)
    source: str = ""  # the delivery's platform: the histogram's ``source`` label

    def since_receipt(self, stage: str, now: datetime) -> None:
        """``stage`` = receipt until ``now`` (nothing when the receipt is not known)."""
        if self.received_at is not None:
            received = self.received_at
            if received.tzinfo is None and now.tzinfo is not None:
                received = received.replace(tzinfo=now.tzinfo)
            self.add(stage, (now - received).total_seconds())

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + max(0.0, seconds)


_current: ContextVar[Timeline | None] = ContextVar("jirahooks_pr_timeline", default=None)


def use(timeline: Timeline) -> Timeline:
    """``timeline`` is the current task's (and that of the tasks it starts)."""
    _current.set(timeline)
    return timeline


def current() -> Timeline | None:
    return _current.get()


def add(stage: str, seconds: float) -> None:
    timeline = _current.get()
    if timeline is not None:
        timeline.add(stage, seconds)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block into the current timeline's ``name``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        add(name, time.perf_counter() - started)


@contextlib.asynccontextmanager
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    """``database.session()``, counted and timed (``db``) in the current timeline."""
    timeline = _current.get()
    started = time.perf_counter()
    try:
        async with database.session() as opened:
            yield opened
    finally:
        if timeline is not None:
            timeline.sessions += 1
            timeline.add("db", time.perf_counter() - started)


def report(metrics: Any, timeline: Timeline) -> None:
    """The timeline's stages into the stage histogram (``metrics``: the app's Metrics or
    None)."""
    if metrics is None:
        return
    for name, seconds in timeline.seconds.items():
        metrics.stage(timeline.source, name, seconds)
