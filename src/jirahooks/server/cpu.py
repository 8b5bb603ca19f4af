"""The server's CPU pool: CPU-heavy work (parsing a 1 MiB body, key extraction, judging,
rendering and encoding big documents) runs here, never on the event loop.

One bounded ``ThreadPoolExecutor`` per app, created with the ``AppState`` and shut down with it
(docs/decisions/0004-cpu-work-off-the-event-loop.md says why threads and not processes). The
event loop still shares the GIL with these threads; the switch interval is lowered so it gets
the interpreter back within about a millisecond when it has a request to answer.

``CpuPool.run`` has the shape the engine expects for ``evaluate(..., run_cpu=...)``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

# CPython's default is 5 ms: the event loop thread, after every system call it makes (accept,
# recv, send, select), may wait that long for the GIL while a worker computes.
SWITCH_INTERVAL = 0.001


def default_workers() -> int:
    """Enough to keep several evaluations going, few enough to leave the loop room."""
    return max(2, min(4, os.cpu_count() or 2))


class CpuPool:
    """A bounded thread pool for the server's CPU-heavy steps."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._executor: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            if sys.getswitchinterval() > SWITCH_INTERVAL:
                sys.setswitchinterval(SWITCH_INTERVAL)
            self._executor = ThreadPoolExecutor(
                max_workers=self.workers, thread_name_prefix="jirahooks-cpu"
            )
        return self._executor

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(*args)`` on a pool thread; the caller's coroutine waits without blocking the
        loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), functools.partial(fn, *args))

    def shutdown(self) -> None:
        """Stop the threads (work already running finishes; queued work is dropped)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
