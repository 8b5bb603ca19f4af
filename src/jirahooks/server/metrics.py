"""Prometheus metrics at ``GET /metrics`` (``prometheus-client``), docs/operations.md "Metrics".

Every figure is counted at one central point:

* HTTP requests: one ASGI middleware (:class:`RequestMiddleware`), which also gives every
  request its id (``X-Request-Id``, ``jirahooks.tracing``) and writes the access event;
* evaluations and their stages: the engine's callers (Validation API, PR processing) wrap the
  resolver and the CPU runner they hand the engine (:func:`stages`) — the engine itself stays
  pure and imports nothing of this;
* Jira requests: the Jira client's one request function tells its ``observer``; cache lookups:
  ``CacheStats.count`` tells its ``observer``; Bitbucket requests likewise;
* webhook deliveries: the intake (received, duplicate, ignored) and the middleware (rejected:
  any 4xx/5xx answer of the webhook route); processing attempts: the PR worker;
* queue depth and the age of the oldest pending delivery: queried when scraped; database pool
  and background-writer backlog: sampled per process.

Labels are bounded: route *templates*, enumerations (results, outcomes, stages), and names an
administrator configures (repositories, rules, connections, hosts) — each of those capped at
:data:`LABEL_LIMIT` distinct values per process, the rest counted as ``_other``. Never a commit
hash, a branch name or free text.

Several worker processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (``jirahooks serve --workers
N`` sets it up, :func:`prepare_multiprocess`) every process writes its figures to that directory
and any process answering ``/metrics`` adds up all of them.

Access: ``/metrics`` answers only with ``Authorization: Bearer $JIRAHOOKS_METRICS_TOKEN``; with
no token configured it is off (404 ``METRICS_DISABLED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from jirahooks import tracing

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from jirahooks.engine.facts import Evaluation
    from jirahooks.engine.resolver import JqlResult, ProjectSet, Resolution, Resolver
    from jirahooks.server.app import AppState

log = logging.getLogger("jirahooks.server.metrics")
access_log = logging.getLogger("jirahooks.access")

T = TypeVar("T")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
TOKEN_ENV = "JIRAHOOKS_METRICS_TOKEN"
LABEL_LIMIT = 200
SAMPLE_SECONDS = 5.0
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
POLICY_FACTS = {
    "jira.policy.block": "blocked",
    "jira.policy.warn": "warned",
    "jira.policy.allow": "allowed",
}
# The engine's CPU stages, by the function it hands the runner (engine/core.py).
CPU_STAGES = {"_plan_all": "plan", "_judge_all": "checks"}
WEBHOOK_ROUTE = "/webhooks/bitbucket/{workspace}"


class Bounded:
    """One label's values: the first ``limit`` distinct ones as they are, then ``_other``."""

    def __init__(self, limit: int = LABEL_LIMIT) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: str) -> str:
        value = (value or "-")[:100]
        if value in self.seen:
            return value
        if len(self.seen) >= self.limit:
            return "_other"
        self.seen.add(value)
        return value


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


def jira_endpoint(path: str) -> str:
    """A Jira REST path as a bounded kind: search, issue, project, serverInfo, myself, jql, other."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    tail = parts[3:] if len(parts) >= 3 and parts[0] == "rest" else parts
    head = tail[0] if tail else ""
    if head in ("search", "issue", "serverInfo", "myself", "jql"):
        return "search" if head == "search" or path.rstrip("/").endswith("/search/jql") else head
    if head in ("project", "projects"):
        return "project"
    return "other"


def bitbucket_operation(method: str, path: str) -> str:
    """A Bitbucket API call as a bounded kind."""
    if "/statuses/build" in path:
        return "status"
    if "/reports/" in path or path.endswith("/reports"):
        return "report"
    if path.endswith("/approve") or path.endswith("/request-changes"):
        return "review"
    if "/pullrequests" in path:
        return "pull_request" if method == "GET" else "pull_request_write"
    return "other"


class Metrics:
    """The metric families of one app, and what feeds them (see the module docstring)."""

    def __init__(self, token: str = "") -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            disable_created_metrics,
        )

        disable_created_metrics()  # type: ignore[no-untyped-call]  # no "_created" series

        self.token = token
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        # Single process: this app's own registry (several apps in one test process never
        # collide). Multiprocess: the values live in files; a registry is made per scrape.
        self.registry = CollectorRegistry(auto_describe=True)
        registry = None if self.multiprocess else self.registry
        self._repository = Bounded()
        self._rule = Bounded()
        self._connection = Bounded()
        self._host = Bounded(50)
        self._scraped = _Scraped()
        if not self.multiprocess:
            self.registry.register(self._scraped)

        def counter(name: str, doc: str, labels: Iterable[str]) -> Any:
            return Counter(name, doc, list(labels), registry=registry)

        def histogram(
            name: str, doc: str, labels: Iterable[str], buckets: tuple[float, ...] | None = None
        ) -> Any:
            extra: dict[str, Any] = {"buckets": buckets} if buckets else {}
            return Histogram(name, doc, list(labels), registry=registry, **extra)

        self.http_requests = counter(
            "jirahooks_http_requests",
            "HTTP requests answered, by part of the server, route template, method and status",
            ("api", "route", "method", "status"),
        )
        self.http_seconds = histogram(
            "jirahooks_http_request_duration_seconds",
            "HTTP request latency by part of the server (validation, webhooks, admin, ui, ops) "
            "and route template",
            ("api", "route"),
        )
        self.evaluations = counter(
            "jirahooks_evaluations",
            "Evaluations by source (validation-api, bitbucket-cloud), trigger, repository and result",
            ("source", "trigger", "repository", "result"),
        )
        self.blocking_rules = counter(
            "jirahooks_evaluation_blocking_rules",
            "Rules that blocked an evaluation, by rule id",
            ("source", "rule"),
        )
        self.evaluation_seconds = histogram(
            "jirahooks_evaluation_duration_seconds",
            "Time the engine took per evaluation (plan, Jira, checks)",
            ("source",),
            STAGE_BUCKETS,
        )
        self.stage_seconds = histogram(
            "jirahooks_evaluation_stage_duration_seconds",
            "Time per evaluation stage: plan (key extraction), jira, checks, store",
            ("source", "stage"),
            STAGE_BUCKETS,
        )
        self.policy_decisions = counter(
            "jirahooks_jira_policy_decisions",
            "Rules decided by the jira_unreachable policy because Jira could not answer",
            ("decision",),
        )
        self.undetermined_keys = counter(
            "jirahooks_jira_undetermined_keys",
            "Issue keys no Jira could give a definite answer about",
            (),
        )
        self.jira_requests = counter(
            "jirahooks_jira_requests",
            "HTTP attempts to Jira by connection, endpoint kind and outcome "
            "(ok, 4xx, 5xx, 429, timeout, unreachable)",
            ("connection", "endpoint", "outcome"),
        )
        self.jira_seconds = histogram(
            "jirahooks_jira_request_duration_seconds",
            "Jira HTTP attempt latency by connection and endpoint kind",
            ("connection", "endpoint"),
        )
        self.jira_waits = counter(
            "jirahooks_jira_retry_waits",
            "Waits before a Jira retry, by connection and reason (retry_after, backoff)",
            ("connection", "reason"),
        )
        self.jira_wait_seconds = counter(
            "jirahooks_jira_retry_wait_seconds",
            "Seconds waited before Jira retries (Retry-After honoured, or backoff)",
            ("connection", "reason"),
        )
        self.cache_lookups = counter(
            "jirahooks_jira_cache_lookups",
            "Jira cache lookups by kind (issue, projects, fields …) and result (hit, miss)",
            ("kind", "result"),
        )
        self.deliveries = counter(
            "jirahooks_webhook_deliveries",
            "Webhook deliveries by outcome: received (stored), duplicate, ignored, rejected",
            ("platform", "outcome"),
        )
        self.attempts = counter(
            "jirahooks_webhook_processing_attempts",
            "Processing attempts of queued deliveries by outcome (done, reused, closed, "
            "ignored, superseded, retry, failed)",
            ("outcome",),
        )
        self.platform_requests = counter(
            "jirahooks_platform_requests",
            "Requests to the code host (publish status/report/review, fetch) by host, "
            "operation and outcome (HTTP status or unreachable)",
            ("host", "operation", "outcome"),
        )
        gauge_mode: dict[str, Any] = {"multiprocess_mode": "livesum"} if self.multiprocess else {}
        self.pool = Gauge(
            "jirahooks_db_pool_connections",
            "Database connections of the server processes: in_use, idle",
            ["state"],
            registry=registry,
            **gauge_mode,
        )
        self.writer_backlog = Gauge(
            "jirahooks_writer_backlog",
            "Evaluations waiting in the background writer of the server processes",
            [],
            registry=registry,
            **gauge_mode,
        )

    # -- what the instrumented code calls ----------------------------------------------------

    def http(self, api: str, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.http_requests.labels(api, route, method, str(status)).inc()
        self.http_seconds.labels(api, route).observe(seconds)
        if route == WEBHOOK_ROUTE and method == "POST" and status >= 400:
            self.deliveries.labels("bitbucket-cloud", "rejected").inc()

    def evaluated(
        self, source: str, evaluation: Evaluation, repository: str, stages: Stages
    ) -> None:
        result = evaluation.result.value
        trigger = evaluation.event.trigger.value
        self.evaluations.labels(source, trigger, self._repository(repository), result).inc()
        for validation in evaluation.rule_validations:
            if validation.status.value == "BLOCK":
                self.blocking_rules.labels(source, self._rule(validation.rule.id)).inc()
            for fact in validation.check_facts:
                decision = POLICY_FACTS.get(fact.message_id)
                if decision:
                    self.policy_decisions.labels(decision).inc()
        if stages.undetermined:
            self.undetermined_keys.inc(stages.undetermined)
        self.evaluation_seconds.labels(source).observe(evaluation.duration_ms / 1000)
        for stage, seconds in stages.seconds.items():
            self.stage_seconds.labels(source, stage).observe(seconds)

    def stage(self, source: str, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(source, stage).observe(seconds)

    # the Jira client's RequestObserver
    def request(self, connection: str, path: str, outcome: str, seconds: float) -> None:
        name = self._connection(connection)
        endpoint = jira_endpoint(path)
        self.jira_requests.labels(name, endpoint, outcome).inc()
        self.jira_seconds.labels(name, endpoint).observe(seconds)

    def waited(self, connection: str, seconds: float, reason: str) -> None:
        name = self._connection(connection)
        self.jira_waits.labels(name, reason).inc()
        self.jira_wait_seconds.labels(name, reason).inc(max(0.0, seconds))

    def cache(self, kind: str, hit: bool) -> None:
        self.cache_lookups.labels(kind or "other", "hit" if hit else "miss").inc()

    def bitbucket(self, host: str, method: str, path: str, outcome: str) -> None:
        self.platform_requests.labels(
            self._host(host), bitbucket_operation(method, path), outcome
        ).inc()

    def delivery(self, outcome: str, platform: str = "bitbucket-cloud") -> None:
        self.deliveries.labels(platform, outcome).inc()

    def attempt(self, outcome: str) -> None:
        self.attempts.labels(outcome).inc()

    # -- per-process samples and scrape-time figures -----------------------------------------

    def sample(self, state: AppState) -> None:
        """This process's database pool and writer backlog."""
        pool = getattr(state.database.engine.sync_engine, "pool", None)
        checked_out = getattr(pool, "checkedout", None)
        checked_in = getattr(pool, "checkedin", None)
        if callable(checked_out) and callable(checked_in):
            self.pool.labels("in_use").set(checked_out())
            self.pool.labels("idle").set(checked_in())
        backlog = writer_backlog(state)
        if backlog is not None:
            self.writer_backlog.set(backlog)

    async def render(self, state: AppState) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest

        self.sample(state)
        self._scraped.families = await _queue_figures(state)
        if not self.multiprocess:
            return bytes(await state.cpu.run(generate_latest, self.registry))
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(self._scraped)
        return bytes(await state.cpu.run(generate_latest, registry))


class _Scraped:
    """A collector of the figures computed when scraped (the queue, from the database)."""

    def __init__(self) -> None:
        self.families: list[Any] = []

    def collect(self) -> Iterable[Any]:
        return list(self.families)

    def describe(self) -> Iterable[Any]:
        return []


async def _queue_figures(state: AppState) -> list[Any]:
    """The delivery queue as gauges: depth by state, failed deliveries, the oldest pending
    delivery's age — the same figures whichever process is scraped."""
    from prometheus_client.core import GaugeMetricFamily
    from sqlalchemy import func, select

    from jirahooks.store.deliveries import DeliveryRow

    up = GaugeMetricFamily(
        "jirahooks_metrics_database_up", "1 when the scrape could read the queue from the database"
    )
    try:
        async with asyncio.timeout(5), state.database.session() as session:
            rows = (
                await session.execute(
                    select(DeliveryRow.state, func.count(), func.min(DeliveryRow.received_at))
                    .where(DeliveryRow.state.in_(("pending", "processing", "failed")))
                    .group_by(DeliveryRow.state)
                )
            ).all()
    except Exception as exc:
        log.warning("metrics: cannot read the delivery queue (%s)", type(exc).__name__)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    depth = GaugeMetricFamily(
        "jirahooks_webhook_queue_depth",
        "Deliveries waiting (pending) or being worked on (processing); failed: given up",
        labels=["state"],
    )
    counts = {"pending": 0, "processing": 0, "failed": 0}
    oldest: datetime | None = None
    for row_state, count, first in rows:
        counts[str(row_state)] = int(count)
        if row_state != "failed" and first is not None:
            first = first if first.tzinfo else first.replace(tzinfo=UTC)
            oldest = first if oldest is None else min(oldest, first)
    for name, count in counts.items():
        depth.add_metric([name], count)
    age = GaugeMetricFamily(
        "jirahooks_webhook_queue_oldest_age_seconds",
        "Age of the oldest delivery still pending or processing (0: none)",
    )
    age.add_metric([], (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0)
    return [up, depth, age]


def writer_backlog(state: AppState) -> float | None:
    """HOOK POINT for the background writer (``jirahooks.server.writer.backlog()``, added by the
    scale work): evaluations queued in this process and not yet written; None without one."""
    try:
        from jirahooks.server import writer  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return None
    backlog = getattr(writer, "backlog", None)
    if not callable(backlog):
        return None
    try:
        value = backlog(state)
    except TypeError:
        value = backlog()
    return float(value) if value is not None else None


# -- evaluations: stage timing at the engine's callers ---------------------------------------


class Stages:
    """Times one evaluation's stages from outside the engine: the resolver it is handed
    (``jira``) and the CPU runner (``plan``, ``checks``); counts undetermined keys."""

    def __init__(self, metrics: Metrics | None, source: str) -> None:
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


# -- the one-line calls of the instrumented modules --------------------------------------------


def of(state: Any) -> Metrics | None:
    """The app's metrics (None before :func:`attach`, e.g. in a bare Processor test)."""
    extras = getattr(state, "extras", None)
    found = extras.get("metrics") if isinstance(extras, dict) else None
    return found if isinstance(found, Metrics) else None


def stages(state: Any, source: str) -> Stages:
    return Stages(of(state), source)


def delivery(state: Any, outcome: str) -> None:
    found = of(state)
    if found is not None:
        found.delivery(outcome)


def attempt(state: Any, outcome: str) -> None:
    found = of(state)
    if found is not None:
        found.attempt(outcome)


@contextlib.asynccontextmanager
async def timed(state: Any, stage: str, source: str) -> AsyncIterator[None]:
    """``async with database.writing(), metrics.timed(state, "store", source):``"""
    started = time.perf_counter()
    try:
        yield
    finally:
        found = of(state)
        if found is not None:
            found.stage(source, stage, time.perf_counter() - started)


# -- the app: middleware, route, wiring -------------------------------------------------------


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
                self.metrics.http(api, route, method, status, seconds)
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


def prepare_multiprocess(workers: int, data_dir: Path) -> None:
    """For ``serve --workers N`` (N > 1), before any worker starts: give every process one
    metrics directory (``$PROMETHEUS_MULTIPROC_DIR``, default ``<data dir>/metrics``), emptied
    of a previous run's files."""
    if workers <= 1:
        return
    directory = Path(os.environ.get(MULTIPROC_ENV) or data_dir / "metrics")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in directory.glob("*.db"):  # only prometheus-client's own files
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
