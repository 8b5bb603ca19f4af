"""Timing one evaluation's stages from outside the engine (which stays pure): the engine's
callers (Validation API, PR processing) hand it a wrapped resolver (``jira``) and a wrapped CPU
runner (``plan``, ``checks``); ``store`` is timed around the write (``metrics.timed``).

``metrics.stages(state, source)`` makes one; ``evaluated()`` counts the evaluation, notes
workspace and repository in the trace and writes the ``evaluation`` log event (no branch, no
commit message).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from jirahooks import tracing

if TYPE_CHECKING:
    from jirahooks.engine.facts import Evaluation
    from jirahooks.engine.resolver import JqlResult, ProjectSet, Resolution, Resolver

# one line per evaluation: on in JSON logs, off in text logs above DEBUG (server/logs.py)
log = logging.getLogger("jirahooks.evaluations")

T = TypeVar("T")


class Counts(Protocol):
    """What a ``Stages`` reports to: ``server.metrics.Metrics`` (named here as a protocol, so
    this module needs nothing of the metrics module that imports it)."""

    def evaluated(
        self, source: str, evaluation: Evaluation, repository: str, stages: Stages
    ) -> None: ...


# The engine's CPU stages, by the function it hands the runner (engine/core.py).
CPU_STAGES = {"_plan_all": "plan", "_judge_all": "checks"}


class Stages:
    """Times one evaluation's stages from outside the engine: the resolver it is handed
    (``jira``) and the CPU runner (``plan``, ``checks``); counts undetermined keys."""

    def __init__(self, metrics: Counts | None, source: str) -> None:
        self.metrics = metrics
        self.source = source
        self.seconds: dict[str, float] = {}
        self.undetermined = 0

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def resolver(self, inner: Resolver) -> Resolver:
        return _TimedResolver(inner, self)

    def cpu(self, run: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(fn: Callable[..., T], /, *args: Any) -> T:
            started = time.perf_counter()
            try:
                result: T = await run(fn, *args)
                return result
            finally:
                stage = CPU_STAGES.get(getattr(fn, "__name__", ""))
                if stage:
                    self.add(stage, time.perf_counter() - started)

        return timed

    def evaluated(self, evaluation: Evaluation, *, workspace: str, repository: str) -> None:
        """Count the evaluation, note it in the trace, log it (no branch, no message)."""
        tracing.note(workspace=workspace, repository=repository)
        if self.metrics is not None:
            self.metrics.evaluated(self.source, evaluation, repository, self)
        if not log.isEnabledFor(logging.INFO):
            return  # the event's fields cost more than the rest of this method
        blocked = [v.rule.id for v in evaluation.rule_validations if v.status.value == "BLOCK"]
        log.info(
            "evaluated %s %s: %s",
            self.source,
            evaluation.event.trigger.value,
            evaluation.result.value,
            extra={
                "event": "evaluation",
                "source": self.source,
                "trigger": evaluation.event.trigger.value,
                "result": evaluation.result.value,
                "blocking_rules": blocked[:20],
                "duration_ms": round(evaluation.duration_ms, 3),
                "stages_ms": {k: round(v * 1000, 3) for k, v in self.seconds.items()},
            },
        )


class _TimedResolver:
    def __init__(self, inner: Resolver, stages: Stages) -> None:
        self._inner = inner
        self._stages = stages

    @property
    def offline(self) -> bool:
        return bool(self._inner.offline)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def projects(self) -> ProjectSet:
        started = time.perf_counter()
        try:
            return await self._inner.projects()
        finally:
            self._stages.add("jira", time.perf_counter() - started)

    async def resolve(self, keys: Collection[str]) -> Resolution:
        started = time.perf_counter()
        try:
            resolution = await self._inner.resolve(keys)
        finally:
            self._stages.add("jira", time.perf_counter() - started)
        self._stages.undetermined += len(resolution.undetermined)
        return resolution

    async def match_jql(
        self, jql: str, keys: Collection[str], *, max_age: float | None = None
    ) -> JqlResult:
        started = time.perf_counter()
        try:
            result = await self._inner.match_jql(jql, keys, max_age=max_age)
        finally:
            self._stages.add("jira", time.perf_counter() - started)
        self._stages.undetermined += len(result.undetermined)
        return result
