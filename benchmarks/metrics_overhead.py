"""What the metrics middleware costs per request: a trivial ASGI app called directly vs through
``RequestMiddleware`` (request id, trace, HTTP counter and histogram, route template), in
interleaved rounds in one process. Prints microseconds per request; asserts nothing."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from jirahooks.server.metrics import Metrics
from jirahooks.server.metrics_http import RequestMiddleware

ROUNDS = 7
PER_ROUND = 5_000


class _Route:
    path_format = "/x/{workspace}"


async def app(scope: Any, receive: Any, send: Any) -> None:
    scope["route"] = _Route()
    scope["path_params"] = {"workspace": "default"}
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def measure(target: Any) -> float:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    started = time.perf_counter()
    for _ in range(PER_ROUND):
        scope = {"type": "http", "method": "POST", "path": "/api/v1/x/default", "headers": []}
        await target(scope, receive, send)
    return (time.perf_counter() - started) / PER_ROUND * 1e6


async def main() -> None:
    wrapped = RequestMiddleware(app, Metrics())
    bare: list[float] = []
    timed: list[float] = []
    for _ in range(ROUNDS):
        bare.append(await measure(app))
        timed.append(await measure(wrapped))
    b, t = statistics.median(bare), statistics.median(timed)
    print(f"bare ASGI app: {b:.1f} µs/request; with RequestMiddleware: {t:.1f} µs/request")
    print(f"middleware cost: {t - b:.1f} µs per request (median of {ROUNDS} interleaved rounds)")


if __name__ == "__main__":
    asyncio.run(main())
