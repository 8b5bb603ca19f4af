"""Platform webhooks: worker options and per-workspace adapters built from stored credentials.

Options come from the environment when the app starts (never at import time) and can be given
explicitly by setting ``app.state.pr_worker_options`` before the lifespan runs (tests, the
benchmark):

=================================  ===============================================================
``JIRAHOOKS_PR_WORKER``            ``0`` disables the background worker (deliveries stay queued)
``JIRAHOOKS_PUBLIC_URL``           the server's public base URL (status links) when a workspace's
                                   configuration has none
``JIRAHOOKS_RECONCILE_SECONDS``    how often open PRs are reconciled (default 300; 0 = never)
=================================  ===============================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jirahooks.crypto import SecretBox
from jirahooks.platforms.bitbucket_client import (
    API_URL,
    BITBUCKET_RETRY,
    AuthKind,
    BitbucketClient,
    BitbucketCredentials,
)
from jirahooks.platforms.bitbucket_cloud import PLATFORM, BitbucketCloud
from jirahooks.retry import RetryPolicy
from jirahooks.store.deliveries import PlatformConfig

# the web UI's evaluation detail page (server/web/pages_evaluations.py)
EVALUATION_PAGE = "/ui/w/{workspace}/evaluations/{id}"


@dataclass(frozen=True)
class WorkerOptions:
    enabled: bool = True
    poll_seconds: float = 1.0  # fallback poll; webhooks wake the worker at once
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
    public_url: str = ""
    retry: RetryPolicy = BITBUCKET_RETRY

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerOptions:
        env = os.environ if environ is None else environ
        reconcile = env.get("JIRAHOOKS_RECONCILE_SECONDS", "")
        return cls(
            enabled=env.get("JIRAHOOKS_PR_WORKER", "1").strip().lower() not in ("0", "false", "no"),
            public_url=env.get("JIRAHOOKS_PUBLIC_URL", "").rstrip("/"),
            reconcile_seconds=float(reconcile) if reconcile else cls.reconcile_seconds,
        )


def options_for(app_state: Any) -> WorkerOptions:
    given = getattr(app_state, "pr_worker_options", None)
    return given if isinstance(given, WorkerOptions) else WorkerOptions.from_env()


def credentials(config: PlatformConfig, box: SecretBox) -> BitbucketCredentials:
    secret = box.decrypt(config.token_encrypted) if config.token_encrypted else ""
    return BitbucketCredentials(AuthKind(config.auth_kind), secret, config.username)


def webhook_secret(config: PlatformConfig, box: SecretBox) -> str:
    return box.decrypt(config.webhook_secret_encrypted) if config.webhook_secret_encrypted else ""


def evaluation_link(config: PlatformConfig, options: WorkerOptions, workspace: str, id: int) -> str:
    base = (config.public_url or options.public_url).rstrip("/")
    return base + EVALUATION_PAGE.format(workspace=workspace, id=id) if base else ""


class Adapters:
    """One adapter (and HTTP connection pool) per workspace configuration, rebuilt when the
    configuration changes."""

    def __init__(self, box: SecretBox, options: WorkerOptions) -> None:
        self.box = box
        self.options = options
        self._adapters: dict[int, tuple[datetime, str, BitbucketCloud]] = {}
        self.observer: Any = None  # the server's metrics hear of every Bitbucket request

    async def get(self, config: PlatformConfig, workspace_slug: str) -> BitbucketCloud:
        if config.platform != PLATFORM:
            raise ValueError(f"no adapter for platform {config.platform!r}")
        remote = config.remote_workspace or workspace_slug
        cached = self._adapters.get(config.id)
        if cached is not None and cached[0] == config.updated_at and cached[1] == remote:
            return cached[2]
        if cached is not None:
            await cached[2].aclose()
        creds = credentials(config, self.box)
        client = BitbucketClient(
            remote, creds, base_url=config.api_url or API_URL, retry=self.options.retry
        )
        client.observer = self.observer
        adapter = BitbucketCloud(remote, creds, client=client)
        self._adapters[config.id] = (config.updated_at, remote, adapter)
        return adapter

    async def aclose(self) -> None:
        for _, _, adapter in self._adapters.values():
            await adapter.aclose()
        self._adapters.clear()
