"""``GET /readyz``: can this process do its work now? Distinct from ``GET /healthz`` (the
process answers at all).

Ready when, each within a few seconds:

* the database answers and its schema is the one this version needs (``current``);
* the secret key this process holds still opens the database's key check (a key rotated by
  another process, or a database restored without its key, makes it unready);
* the PR worker's loops are running (when the worker is enabled);
* the background writer has room (when it is full the Validation API answers 503);
* Redis answers a PING (when ``--redis-url`` is configured).

200 ``{"status": "ready", "checks": {...}}`` or 503 ``{"status": "unready", ...}`` with each
failed check's reason — never a URL with a password, a key or a secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

if TYPE_CHECKING:
    from jirahooks.server.state import AppState

CHECK_SECONDS = 3.0


async def _within(check: Awaitable[str | None]) -> str | None:
    """None when the check passed, else why not."""
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            return await check
    except TimeoutError:
        return f"no answer within {CHECK_SECONDS:.0f}s"
    except Exception as exc:
        return f"failed ({type(exc).__name__})"


async def _database(state: AppState) -> str | None:
    from jirahooks.store.database import DatabaseError, SchemaState

    try:
        status = await state.database.status()
    except DatabaseError:
        return "the database cannot be reached"
    if status.state is not SchemaState.CURRENT:
        return f"the schema is {status.state.value} (revision {status.current or '-'}, needs {status.head})"
    return None


async def _key(state: AppState) -> str | None:
    from jirahooks.crypto import SecretKeyError
    from jirahooks.store.keycheck import CHECK_NAME
    from jirahooks.store.models import ServerMeta

    async with state.database.session() as session:
        row = await session.get(ServerMeta, CHECK_NAME)
    if row is None:
        return "the database holds no key check"
    try:
        state.secrets.decrypt(row.value)
    except SecretKeyError:
        return "the secret key does not open this database's key check (rotated or restored?)"
    return None


async def _worker(state: AppState) -> str | None:
    worker: Any = state.extras.get("pr_worker")
    if worker is None or not worker.options.enabled:
        return None
    return None if worker.alive else "the PR worker's loop is not running"


async def _writer(state: AppState) -> str | None:
    writer: Any = getattr(state, "writer", None)
    if writer is None:
        return None
    if writer.backlog() >= writer.capacity:  # the Validation API answers 503 meanwhile
        return f"the background writer is full ({writer.backlog()} rows waiting)"
    return None


async def _redis(state: AppState) -> str | None:
    ping = getattr(state.resolvers.cache.backend, "ping", None)
    if ping is None:
        return "the Jira cache is not on Redis"
    return None if await ping() else "Redis did not answer PING"


async def checks(state: AppState) -> dict[str, str | None]:
    found = {
        "database": await _within(_database(state)),
        "secret_key": await _within(_key(state)),
        "worker": await _within(_worker(state)),
        "writer": await _within(_writer(state)),
    }
    if state.settings.redis_url:
        found["redis"] = await _within(_redis(state))
    return found


def install(app: FastAPI) -> None:
    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        state = getattr(request.app.state, "jirahooks", None)
        if state is None:
            return JSONResponse({"status": "unready", "checks": {"startup": "not started"}}, 503)
        found = await checks(state)
        ready = all(v is None for v in found.values())
        body = {
            "status": "ready" if ready else "unready",
            "checks": {
                k: ({"ok": True} if v is None else {"ok": False, "reason": v})
                for k, v in found.items()
            },
        }
        return JSONResponse(body, status_code=200 if ready else 503)
