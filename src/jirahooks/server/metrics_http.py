"""The metrics' part of the app: one ASGI middleware for every HTTP request (its id, the trace,
the HTTP figures, the access event), the ``/metrics`` route and its token, the per-process
sampler, and the wiring into a started app state (``attach``)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from jirahooks import tracing
from jirahooks.server.metrics import SAMPLE_SECONDS, TOKEN_ENV, Metrics

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from jirahooks.server.state import AppState

log = logging.getLogger("jirahooks.server.metrics")
access_log = logging.getLogger("jirahooks.access")


def api_of(path: str) -> str:
    """Which part of the server a path belongs to (a bounded label)."""
    if path.startswith("/api/validate"):
        return "validation"
    if path.startswith("/webhooks/"):
        return "webhooks"
    if path.startswith("/api/v1/") or path == "/api/v1":
        return "admin"
    if path.startswith("/ui/") or path in ("/ui", "/"):
        return "ui"
    if path in ("/metrics", "/healthz", "/readyz"):
        return "ops"
    return "other"


def route_template(scope: Scope) -> str:
    """The matched route's template (``/api/v1/workspaces/{workspace}/rules``), never the raw
    path; ``unmatched`` when no route matched (404s, answers given before routing)."""
    route = scope.get("route")
    path = str(scope.get("path", ""))
    if route is None:
        return "/ui/static/{path}" if path.startswith("/ui/static/") else "unmatched"
    template = str(getattr(route, "path_format", "") or getattr(route, "path", ""))
    params = scope.get("path_params") or {}
    try:
        rendered = template.format(**{k: str(v) for k, v in params.items()})
    except (KeyError, IndexError, ValueError):
        return template or "unmatched"
    # an included router's prefix is not in the route's own template: it is what precedes it
    if rendered and path.endswith(rendered):
        return path[: len(path) - len(rendered)] + template
    return template or "unmatched"


class RequestMiddleware:
    """Per HTTP request: its id (an incoming sane ``X-Request-Id`` or a new one, answered in
    the same header), the trace, the HTTP metrics, the access event."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = tracing.sane(incoming) or tracing.new_id()
        token = tracing.begin(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            path = str(scope.get("path", ""))
            route = route_template(scope)
            api = api_of(path)
            method = str(scope.get("method", ""))
            try:
                params = scope.get("path_params") or {}
                platform = str(params.get("platform", "")) if api == "webhooks" else ""
                self.metrics.http(api, route, method, status, seconds, platform)
            except Exception:  # metrics never fail a request
                log.exception("metrics: recording the request failed")
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %s",
                    method,
                    route,
                    status,
                    extra={
                        "event": "http.request",
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                    },
                )
            tracing.end(token)


def install(app: FastAPI, token: str = "") -> Metrics:
    """Add the metrics to an app (the factory calls it once): middleware, ``/metrics``."""
    from fastapi import APIRouter

    metrics = Metrics(token)
    app.state.jirahooks_metrics = metrics
    app.add_middleware(RequestMiddleware, metrics=metrics)

    @contextlib.asynccontextmanager
    async def sampler(app: FastAPI) -> AsyncIterator[None]:
        state = getattr(app.state, "jirahooks", None)
        task = asyncio.create_task(_sample_loop(metrics, state)) if state is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if metrics.multiprocess:
                from prometheus_client import multiprocess

                multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    router = APIRouter(lifespan=sampler)

    @router.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        if not metrics.token:
            return JSONResponse(
                {
                    "code": "METRICS_DISABLED",
                    "message": "metrics are off on this server",
                    "hint": f"set {TOKEN_ENV} and scrape with 'Authorization: Bearer <token>'",
                },
                status_code=404,
            )
        given = request.headers.get("authorization", "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, f"Bearer {metrics.token}".encode()):
            return JSONResponse(
                {
                    "code": "METRICS_TOKEN_INVALID",
                    "message": "a valid metrics token is required",
                    "hint": f"send 'Authorization: Bearer <{TOKEN_ENV}>'",
                },
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        from prometheus_client import CONTENT_TYPE_LATEST

        body = await metrics.render(request.app.state.jirahooks)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
    return metrics


async def _sample_loop(metrics: Metrics, state: AppState) -> None:
    while True:
        try:
            metrics.sample(state)
        except Exception:
            log.exception("metrics: sampling failed")
        await asyncio.sleep(SAMPLE_SECONDS)


def attach(app: FastAPI, state: AppState) -> None:
    """Wire the app's metrics into its started state (the lifespan calls it): the Jira clients'
    and the cache's observers, and ``state.extras["metrics"]`` for the instrumented modules."""
    metrics = getattr(app.state, "jirahooks_metrics", None)
    if not isinstance(metrics, Metrics):
        return
    state.extras["metrics"] = metrics
    state.resolvers.observer = metrics
    state.resolvers.cache.stats.observer = metrics.cache
