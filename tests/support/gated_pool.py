"""A CPU pool for tests that prove work runs off the event loop: every job announces itself from
its pool thread and waits there for the test's go-ahead. While a job waits, the event loop is
free by construction; the test checks it answers (``/healthz``) and then lets the job run."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from jirahooks.server.cpu import CpuPool


class GatedPool(CpuPool):
    """A CpuPool whose every job announces itself from its pool thread and then waits for the
    test's go-ahead before it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.started: queue.Queue[str] = queue.Queue()
        self.go = threading.Semaphore(0)
        self.ran: list[str] = []

    async def run(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        def gated() -> Any:
            name = getattr(fn, "__name__", repr(fn))
            self.started.put(name)
            if not self.go.acquire(timeout=120):
                raise RuntimeError("the test never let the job run")
            self.ran.append(name)
            return fn(*args)

        return await super().run(gated)


def next_job(pool: GatedPool, pending: Callable[[], bool]) -> str | None:
    """The next job waiting in the pool; None once the request is no longer ``pending``."""
    for _ in range(600):  # up to a minute for the next step of the request to reach the pool
        try:
            return pool.started.get(timeout=0.1)
        except queue.Empty:
            if not pending():
                return None
    raise AssertionError("no CPU job reached the pool: the request is evaluated on the event loop")
