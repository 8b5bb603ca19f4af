"""The app factory: ``create_app(settings)`` builds everything; nothing happens at import time.

On startup (the lifespan) the database schema is checked — created on an empty database,
migrated when ``settings.upgrade``, otherwise an out-of-date schema stops the start — the secret
key is loaded and checked against the database (``jirahooks.store.keycheck``), and on the very first start the default workspace and a one-time admin token are
created (``jirahooks serve`` prints it).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from jirahooks import __version__
from jirahooks.server import errors, metrics_http, readiness
from jirahooks.server.bootstrap import first_start
from jirahooks.server.cpu import CpuPool
from jirahooks.server.jira_adapter import Resolvers
from jirahooks.server.settings import ServerSettings
from jirahooks.server.state import AppState
from jirahooks.store.database import Database
from jirahooks.store.keycheck import open_box

log = logging.getLogger("jirahooks.server")


DESCRIPTION = """\
jirahooks server: the **Validation API** for git hooks and CI (`POST /api/validate/{workspace}`,
HMAC-signed, wire-compatible with the Jira Hooks for Bitbucket hook clients) and the **admin API**
under `/api/v1` (Bearer API tokens): Jira connections, repositories, rules, Process Guardian
settings, validation tokens, evaluations and the audit log. Errors are JSON
`{"code", "message", "hint"}` (admin API) or `{"error", "errorCode"}` (Validation API).
"""


async def start(settings: ServerSettings) -> AppState:
    """Open the database (checking / creating its schema), the secret key, first-start data."""
    database = Database(settings.effective_database_url)
    try:
        await database.prepare(upgrade=settings.upgrade)
        # The key must be the one the stored secrets use; a new one only for an unused database.
        box = await open_box(database, settings.data_dir, settings.secret_environ())
        first = (
            await first_start(database, settings.default_workspace) if settings.bootstrap else None
        )
    except BaseException:
        await database.dispose()
        raise
    return AppState(
        settings,
        database,
        box,
        Resolvers(box, redis_url=settings.redis_url, database=database),
        first,
        cpu=CpuPool(),
    )


def create_app(settings: ServerSettings, *, state: AppState | None = None) -> FastAPI:
    """The ASGI app. ``state``: an already started AppState (the CLI starts it first, to print
    the first-start token and fail fast before binding the port)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = state is None
        app_state = state if state is not None else await start(settings)
        app.state.jirahooks = app_state
        metrics_http.attach(app, app_state)  # Jira, cache, queue figures reach /metrics
        from jirahooks.server.jira_webhooks import refresher  # Jira cache warming and sweep

        try:
            async with refresher(app_state):
                yield
        finally:
            if own:
                await app_state.aclose()
            else:
                # Whoever owns the state closes it later — maybe never: uvicorn re-raises the
                # SIGTERM it caught once it has stopped. Every answered evaluation is stored now.
                await app_state.writer.flush()

    app = FastAPI(
        title="jirahooks",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from the package's assets (server/openapi.py)
        redoc_url=None,
        openapi_url=None,  # served off the event loop (server/openapi.py)
    )
    if state is not None:
        app.state.jirahooks = state
    errors.install(app)
    from jirahooks.server import openapi

    openapi.install(app)
    openapi.install_docs(app)
    from jirahooks.server.boundary import BoundaryMiddleware

    app.add_middleware(BoundaryMiddleware, limit=settings.admin_max_body_bytes)
    # outermost: request ids, HTTP metrics, access events; /metrics and /readyz
    metrics_http.install(app, settings.metrics_token)
    readiness.install(app)

    from jirahooks.pipeline import intake
    from jirahooks.server import bitbucket_admin, jira_webhooks, message_format, validation
    from jirahooks.server.admin import ROUTERS

    app.include_router(validation.router)
    app.include_router(message_format.router)  # prepare-commit-msg's format (remote mode)
    app.include_router(intake.router)  # code host webhooks, and the PR worker's lifespan
    # Bitbucket settings (tagged "webhooks" as when they hung under the webhooks router)
    app.include_router(bitbucket_admin.router, prefix="/api/v1", tags=["webhooks"])
    app.include_router(jira_webhooks.router)  # Jira webhooks: the cache learns changes at once
    for router in ROUTERS:
        app.include_router(router, prefix="/api/v1")
    app.include_router(jira_webhooks.admin_router, prefix="/api/v1")
    from jirahooks.server.hosts_admin import router as hosts_router  # GitHub, GitLab, BBDC

    app.include_router(hosts_router, prefix="/api/v1")
    from jirahooks.server.web import install as install_web_ui  # the web UI under /ui

    install_web_ui(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
