"""Prometheus metrics at ``GET /metrics`` (``prometheus-client``), docs/operations.md "Metrics".

Every figure is counted at one central point:

* HTTP requests: one ASGI middleware (``metrics_http.RequestMiddleware``), which also gives
  every request its id (``X-Request-Id``, ``jirahooks.tracing``) and writes the access event;
  ``metrics_http`` also serves ``/metrics`` and wires the metrics into the app state;
* evaluations and their stages: the engine's callers (Validation API, PR processing) wrap the
  resolver and the CPU runner they hand the engine (:func:`stages`, ``server/stages.py``) —
  the engine itself stays pure and imports nothing of this;
* Jira requests: the Jira client's one request function tells its ``observer``; cache lookups:
  ``CacheStats.count`` tells its ``observer``; Bitbucket, GitLab and GitHub requests likewise
  (the host's ``observer`` in ``platforms.registry``; GitLab and GitHub operations as path
  templates, :func:`path_template`);
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
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jirahooks.engine.facts import Evaluation
    from jirahooks.server.stages import Stages
    from jirahooks.server.state import AppState

log = logging.getLogger("jirahooks.server.metrics")

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
WEBHOOK_ROUTE = "/webhooks/{platform}/{workspace}"  # pipeline.intake; hosts' own paths too


def webhook_platform(route: str, platform: str) -> str:
    """The registered host a webhook route template serves ("" for none): the generic route's
    ``{platform}`` when it is registered (a bounded label), or the host whose own path it is."""
    from jirahooks.platforms import registry

    if route == WEBHOOK_ROUTE:
        return platform if platform in registry.names() else ""
    for name in registry.names():
        host = registry.host(name)
        if host is not None and host.webhook_path == route:
            return name
    return ""


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


# the literal words of the GitLab and GitHub REST paths jirahooks sends; any other segment is an
# id, a hash, a ref or a name and becomes a placeholder (``path_template``)
GITLAB_WORDS = frozenset(
    [
        "user",
        "projects",
        "merge_requests",
        "commits",
        "notes",
        "approvals",
        "approve",
        "unapprove",
        "status_check_responses",
        "external_status_checks",
        "repository",
        "statuses",
    ]
)
GITHUB_WORDS = frozenset(
    [
        "app",
        "installations",
        "access_tokens",
        "repos",
        "pulls",
        "commits",
        "compare",
        "check-runs",
        "check-suites",
        "statuses",
        "status",
        "reviews",
        "issues",
        "comments",
        "rerequest",
        "annotations",
    ]
)
# a word followed by a fixed number of name segments: GitLab's project (its path URL-encoded,
# one segment), GitHub's owner and repository
GITLAB_NAMED = {"projects": ("{project}",)}
GITHUB_NAMED = {"repos": ("{owner}", "{repo}"), "installations": ("{installation}",)}


def path_template(
    path: str, words: frozenset[str], named: Mapping[str, tuple[str, ...]] | None = None
) -> str:
    """A REST path as a bounded template: ``/projects/acme%2Fapi/merge_requests/7/notes`` →
    ``/projects/{project}/merge_requests/{id}/notes``. The API root (``…/api/v4``,
    ``…/api/v3``, a context path) is dropped; segments that are not ``words`` become ``{id}``
    (several in a row one ``{id}``: a ``compare`` range of branch names with slashes), so no
    id, hash or branch name ever becomes a label value."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    for index in range(len(parts) - 1):
        if parts[index] == "api" and parts[index + 1] in ("v3", "v4"):
            parts = parts[index + 2 :]
            break
    named = named or {}
    out: list[str] = []
    index = 0
    while index < len(parts):
        part = parts[index]
        if part in named and (not out or out[-1] not in named):
            out.append(part)
            out.extend(named[part])
            index += 1 + len(named[part])
            continue
        if part in words:
            out.append(part)
        elif not out or out[-1] != "{id}":
            out.append("{id}")
        index += 1
    return "/" + "/".join(out)


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
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
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

    def _child(self, family: Any, *labels: str) -> Any:
        """``family.labels(*labels)``, remembered: prometheus-client checks and converts the
        labels and takes a lock on every ``labels()`` call, a dozen times per validation
        request. Label values are bounded (the module docstring), so is this dict; no family's
        children are ever removed."""
        key = (id(family), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*labels)
        return child

    def http(
        self, api: str, route: str, method: str, status: int, seconds: float, platform: str = ""
    ) -> None:
        """One answered request; ``platform``: the ``{platform}`` of a generic webhook URL."""
        method = method if method in METHODS else "other"
        self._child(self.http_requests, api, route, method, str(status)).inc()
        self._child(self.http_seconds, api, route).observe(seconds)
        if api == "webhooks" and method == "POST" and status >= 400:
            host = webhook_platform(route, platform)
            if host:
                self.deliveries.labels(host, "rejected").inc()

    def evaluated(
        self, source: str, evaluation: Evaluation, repository: str, stages: Stages
    ) -> None:
        result = evaluation.result.value
        trigger = evaluation.event.trigger.value
        repository = self._repository(repository)
        self._child(self.evaluations, source, trigger, repository, result).inc()
        for validation in evaluation.rule_validations:
            if validation.status.value == "BLOCK":
                self._child(self.blocking_rules, source, self._rule(validation.rule.id)).inc()
            for fact in validation.check_facts:
                decision = POLICY_FACTS.get(fact.message_id)
                if decision:
                    self._child(self.policy_decisions, decision).inc()
        if stages.undetermined:
            self.undetermined_keys.inc(stages.undetermined)
        self._child(self.evaluation_seconds, source).observe(evaluation.duration_ms / 1000)
        for stage, seconds in stages.seconds.items():
            self._child(self.stage_seconds, source, stage).observe(seconds)

    def stage(self, source: str, stage: str, seconds: float) -> None:
        self._child(self.stage_seconds, source, stage).observe(seconds)

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
        self._child(self.cache_lookups, kind or "other", "hit" if hit else "miss").inc()

    def bitbucket(self, host: str, method: str, path: str, outcome: str) -> None:
        self.platform_requests.labels(
            self._host(host), bitbucket_operation(method, path), outcome
        ).inc()

    def gitlab(self, host: str, method: str, path: str, outcome: str) -> None:
        """One HTTP attempt of the GitLab client: operation = method and path template."""
        operation = f"{_method(method)} {path_template(path, GITLAB_WORDS, GITLAB_NAMED)}"
        self._child(self.platform_requests, self._host(host), operation, outcome).inc()

    def github(self, host: str, method: str, path: str, outcome: str) -> None:
        """One HTTP attempt of the GitHub client: operation = method and path template."""
        operation = f"{_method(method)} {path_template(path, GITHUB_WORDS, GITHUB_NAMED)}"
        self._child(self.platform_requests, self._host(host), operation, outcome).inc()

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


def _method(method: str) -> str:
    return method if method in METHODS else "other"


class _Scraped:
    """A collector of the figures computed when scraped (the queue, from the database)."""

    def __init__(self) -> None:
        self.families: list[Any] = []

    def collect(self) -> Iterable[Any]:
        return list(self.families)

    def describe(self) -> Iterable[Any]:
        return []


async def _queue_figures(state: AppState) -> list[Any]:
    """The delivery queue as gauges (``store.deliveries.queue_depth``, the queue's own
    definition): pending (of which due now), processing, failed, and the age of the oldest
    delivery that is due — the same figures whichever process is scraped."""
    from prometheus_client.core import GaugeMetricFamily
    from sqlalchemy import func, select

    from jirahooks.store.deliveries import DeliveryRow, queue_depth

    up = GaugeMetricFamily(
        "jirahooks_metrics_database_up", "1 when the scrape could read the queue from the database"
    )
    try:
        async with asyncio.timeout(5), state.database.session() as session:
            queue = await queue_depth(session)
            failed = await session.scalar(
                select(func.count()).select_from(DeliveryRow).where(DeliveryRow.state == "failed")
            )
    except Exception as exc:
        log.warning("metrics: cannot read the delivery queue (%s)", type(exc).__name__)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    depth = GaugeMetricFamily(
        "jirahooks_webhook_queue_depth",
        "Deliveries pending (due: of those, due now), processing, and failed (given up)",
        labels=["state"],
    )
    depth.add_metric(["pending"], queue.pending)
    depth.add_metric(["due"], queue.due)
    depth.add_metric(["processing"], queue.processing)
    depth.add_metric(["failed"], int(failed or 0))
    age = GaugeMetricFamily(
        "jirahooks_webhook_queue_oldest_age_seconds",
        "Age of the oldest delivery that is due and not yet taken (0: none)",
    )
    age.add_metric([], queue.oldest_due_seconds)
    return [up, depth, age]


def writer_backlog(state: AppState) -> float | None:
    """HOOK POINT for the background writer of the scale work (``server/writer.py``): the rows
    this process has queued and not yet committed, ``state.writer.backlog()``; None while the
    server has no writer."""
    backlog = getattr(getattr(state, "writer", None), "backlog", None)
    if not callable(backlog):
        return None
    value = backlog()
    return float(value) if value is not None else None


# -- the one-line calls of the instrumented modules --------------------------------------------


def of(state: Any) -> Metrics | None:
    """The app's metrics (None before :func:`attach`, e.g. in a bare Processor test)."""
    extras = getattr(state, "extras", None)
    found = extras.get("metrics") if isinstance(extras, dict) else None
    return found if isinstance(found, Metrics) else None


def stages(state: Any, source: str) -> Stages:
    """Stage timing for one evaluation (``jirahooks.server.stages``)."""
    from jirahooks.server.stages import Stages

    return Stages(of(state), source)


def delivery(state: Any, outcome: str, platform: str = "bitbucket-cloud") -> None:
    found = of(state)
    if found is not None:
        found.delivery(outcome, platform)


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
