"""Helpers for the Jira adapter tests: fake time and chains built from connections."""

from __future__ import annotations

from jirahooks.jira.cache import JiraCache
from jirahooks.jira.chain import ConnectionChain
from jirahooks.jira.client import JiraClient
from jirahooks.retry import RetryPolicy
from jirahooks.rules.config import ConnectionConfig

# Retries stay on, but tests never wait long for a backoff.
FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_cap=0.05)


class FakeTime:
    """A clock and an async sleep that only advances the clock: retry waits are recorded,
    never slept. Give the same instance to clients and chain so deadlines follow it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_client(
    config: ConnectionConfig, *, time: FakeTime | None = None, retry: RetryPolicy = FAST_RETRY
) -> JiraClient:
    if time is None:
        return JiraClient(config, secret=config.secret(), retry=retry)
    return JiraClient(config, secret=config.secret(), retry=retry, sleep=time.sleep, clock=time)


def make_chain(
    *configs: ConnectionConfig,
    cache: JiraCache | None = None,
    deadline: float | None = None,
    time: FakeTime | None = None,
    retry: RetryPolicy = FAST_RETRY,
) -> ConnectionChain:
    clients = [make_client(c, time=time, retry=retry) for c in configs]
    if time is None:
        return ConnectionChain(clients, cache=cache, deadline_seconds=deadline)
    return ConnectionChain(clients, cache=cache, deadline_seconds=deadline, clock=time)
