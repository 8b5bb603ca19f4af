"""The PR pipeline's options and per-workspace adapters built from stored configurations.

Options come from the environment when the app starts (never at import time) and can be given
explicitly by setting ``app.state.pr_worker_options`` before the lifespan runs (tests, the
benchmark):

=================================  ===============================================================
``JIRAHOOKS_PR_WORKER``            ``0`` disables the background worker (deliveries stay queued)
``JIRAHOOKS_PUBLIC_URL``           the server's public base URL (status links) when a workspace's
                                   configuration has none
``JIRAHOOKS_RECONCILE_SECONDS``    how often open PRs are reconciled (default 300; 0 = never); one
                                   process of the deployment does it (the leader)
``JIRAHOOKS_PR_CONCURRENCY``       pull requests processed at once by this process (default 8,
                                   1–64); see "PR webhooks at scale" in docs/operations.md
``JIRAHOOKS_DELIVERY_RETENTION_DAYS``  finished deliveries (done, reused, superseded, ignored,
                                   closed) older than this are deleted by the reconciliation
                                   leader, once an hour (default 14, 0–3650; 0 = keep all);
                                   failed ones are kept
``JIRAHOOKS_PR_LEASE_SECONDS``     a claimed delivery whose worker stops renewing it is taken by
                                   another after this long (default 15, 2–300); the heartbeat
                                   renews it every third of that
``JIRAHOOKS_PR_POLL_SECONDS``      how often an idle worker looks for deliveries received by
                                   another process (default 0.5, 0.05–60)
``JIRAHOOKS_BITBUCKET_REQUESTS_PER_HOUR``  requests sent with one Bitbucket credential in
                                   any rolling hour (default 1000, Bitbucket's limit; 0 = no
                                   budget): with Redis (``JIRAHOOKS_REDIS_URL``) counted by every
                                   process and host together — a deployment-wide figure; without
                                   Redis per process (several processes sharing a token then
                                   split it, e.g. 500 each for two)
=================================  ===============================================================

A value that is not a number in its range stops the start with a ``UsageError`` naming the
variable and the range.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jirahooks.crypto import SecretBox
from jirahooks.errors import UsageError
from jirahooks.platforms import registry
from jirahooks.platforms.base import PlatformAdapter
from jirahooks.platforms.registry import AdapterFactory, FactoryOptions
from jirahooks.retry import RetryPolicy
from jirahooks.store.deliveries import PlatformConfig

# the web UI's evaluation detail page (server/web/pages_evaluations.py)
EVALUATION_PAGE = "/ui/w/{workspace}/evaluations/{id}"


@dataclass(frozen=True)
class WorkerOptions:
    enabled: bool = True
    # fallback poll; a webhook wakes the worker of the process that received it at once, the
    # other processes find it on their next poll
    poll_seconds: float = 0.5
    # pull requests processed at once by one process; at ~4 Bitbucket requests per evaluation
    # the hourly rate limit, not this, bounds a deployment's throughput (docs/operations.md)
    concurrency: int = 8
    reuse_seconds: float = 60.0
    reconcile_seconds: float = 300.0
    # a claimed delivery whose lease is not renewed for this long is taken again: the worker
    # renews it every ``heartbeat_seconds`` while it works, so only a crashed one loses it
    lease_seconds: float = 15.0
    heartbeat_seconds: float = 5.0
    max_tries: int = 40  # ~ a day of backoff, then the delivery is marked failed (kept)
    backoff_base: float = 2.0
    backoff_cap: float = 1800.0
    retry_after_cap: float = 900.0  # a longer Retry-After is cut to this (15 min)
    # how often a process checks that one process leads reconciliation (pipeline.leader)
    leader_seconds: float = 5.0
    # Bitbucket requests per credential in any rolling hour (0: none); a longer wait for the
    # budget reschedules the delivery like a Retry-After does
    requests_per_hour: int = 1000
    # finished deliveries older than this are purged by the leader (0: kept for ever)
    retention_days: float = 14.0
    public_url: str = ""
    retry: RetryPolicy | None = None  # None: each host's own policy

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerOptions:
        env = os.environ if environ is None else environ
        lease = _number(env, "JIRAHOOKS_PR_LEASE_SECONDS", cls.lease_seconds, 2.0, 300.0)
        return cls(
            enabled=env.get("JIRAHOOKS_PR_WORKER", "1").strip().lower() not in ("0", "false", "no"),
            public_url=env.get("JIRAHOOKS_PUBLIC_URL", "").rstrip("/"),
            reconcile_seconds=_number(
                env, "JIRAHOOKS_RECONCILE_SECONDS", cls.reconcile_seconds, 0.0, 86400.0
            ),
            concurrency=int(_number(env, "JIRAHOOKS_PR_CONCURRENCY", cls.concurrency, 1, 64, 1)),
            lease_seconds=lease,
            heartbeat_seconds=min(cls.heartbeat_seconds, lease / 3),
            poll_seconds=_number(env, "JIRAHOOKS_PR_POLL_SECONDS", cls.poll_seconds, 0.05, 60.0),
            retention_days=_number(
                env, "JIRAHOOKS_DELIVERY_RETENTION_DAYS", cls.retention_days, 0.0, 3650.0
            ),
            requests_per_hour=int(
                _number(
                    env,
                    "JIRAHOOKS_BITBUCKET_REQUESTS_PER_HOUR",
                    cls.requests_per_hour,
                    0,
                    1_000_000,
                    1,
                )
            ),
        )


def _number(
    env: Mapping[str, str],
    name: str,
    default: float,
    low: float,
    high: float,
    step: float = 0.0,
) -> float:
    """``env[name]`` as a number in [low, high] (a whole one when ``step``), else a UsageError
    saying so; ``default`` when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    whole = not step or value == int(value) if math.isfinite(value) else False
    if not (math.isfinite(value) and low <= value <= high and whole):
        kind = "a whole number" if step else "a number"
        raise UsageError(
            f"{name}={raw!r} is not {kind} from {low:g} to {high:g}",
            hint=f"e.g. {name}={default:g} (the default), or unset it",
        )
    return value


def options_for(app_state: Any) -> WorkerOptions:
    given = getattr(app_state, "pr_worker_options", None)
    return given if isinstance(given, WorkerOptions) else WorkerOptions.from_env()


def evaluation_link(config: PlatformConfig, options: WorkerOptions, workspace: str, id: int) -> str:
    base = (config.public_url or options.public_url).rstrip("/")
    return base + EVALUATION_PAGE.format(workspace=workspace, id=id) if base else ""


class Adapters:
    """One adapter (and HTTP connection pool) per workspace configuration, rebuilt when the
    configuration changes; built by the factory its host registered (``platforms.registry``),
    one factory per host and process."""

    def __init__(
        self,
        box: SecretBox,
        options: WorkerOptions,
        *,
        redis_url: str = "",
        redis_prefix: str = "jirahooks",
    ) -> None:
        self.box = box
        self.options = options
        self._shared = FactoryOptions(
            box,
            retry=options.retry,
            requests_per_hour=options.requests_per_hour,
            redis_url=redis_url,
            redis_prefix=redis_prefix,
        )
        self._factories: dict[str, AdapterFactory] = {}
        self._adapters: dict[int, tuple[datetime, str, PlatformAdapter]] = {}
        self.metrics: Any = None  # the server's metrics: their observers hear every request

    def factory(self, platform: str) -> AdapterFactory:
        found = self._factories.get(platform)
        if found is None:
            host = registry.host(platform)
            if host is None:
                raise ValueError(f"no adapter for platform {platform!r}")
            found = self._factories[platform] = host.factory(self._shared)
            found.observer = getattr(self.metrics, host.observer, None) if host.observer else None
        return found

    async def get(self, config: PlatformConfig, workspace_slug: str) -> PlatformAdapter:
        factory = self.factory(config.platform)
        remote = config.remote_workspace or workspace_slug
        cached = self._adapters.get(config.id)
        if cached is not None and cached[0] == config.updated_at and cached[1] == remote:
            return cached[2]
        if cached is not None:
            await cached[2].aclose()
        adapter = factory.build(config, remote)
        self._adapters[config.id] = (config.updated_at, remote, adapter)
        return adapter

    async def aclose(self) -> None:
        for _, _, adapter in self._adapters.values():
            await adapter.aclose()
        self._adapters.clear()
        for factory in self._factories.values():
            await factory.aclose()
        self._factories.clear()
