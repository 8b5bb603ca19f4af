"""GitLab as a host of the pull-request pipeline: its ``HOST`` entry (``platforms.registry``).

What only GitLab has lives here: the ``X-Gitlab-Token`` check of its webhooks (the secret token
sent verbatim, compared in constant time — not an HMAC), the placing of a delivery's project in
the configured group (``namespace``: repositories are paths relative to it, of any depth), and
the adapter factory — one :class:`~jirahooks.platforms.gitlab.GitLab` per stored configuration,
built from ``server.host_settings.adapter_config`` (docs/gitlab.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from jirahooks.platforms.base import Delivery
from jirahooks.platforms.budget import BudgetedFactory, digest
from jirahooks.platforms.gitlab import GitLab
from jirahooks.platforms.gitlab_client import GITLAB_RETRY, GitLabClient
from jirahooks.platforms.gitlab_hooks import (
    PLATFORM,
    TOKEN_HEADER,
    parse_delivery,
    split_project,
    token_ok,
)
from jirahooks.platforms.registry import (
    Host,
    SecretCheck,
    StoredConfig,
    stored_webhook_secret,
)

KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-gitlab-event",
    "x-gitlab-instance",
    "x-gitlab-webhook-uuid",
    "x-gitlab-event-uuid",
    "idempotency-key",
)


TOKEN = SecretCheck(
    "X-Gitlab-Token",
    missing_hint="set the webhook's secret token in GitLab",
    mismatch_hint="the secret tokens in GitLab and jirahooks differ",
)


def verify(headers: Mapping[str, str], body: bytes, secret: str, required: bool) -> None:
    """``X-Gitlab-Token`` equal to the webhook secret (constant time; docs/gitlab.md)."""
    given = next((v for k, v in headers.items() if k.lower() == TOKEN_HEADER), "")
    TOKEN.check(given, lambda: token_ok(headers, (secret,)), secret, required)


def scoped(delivery: Delivery, namespace: str) -> Delivery:
    """``delivery`` with its repository relative to ``namespace`` (the configured group or
    project path). A project outside it keeps its own owner path as workspace, which the intake
    refuses (403 ``WORKSPACE_MISMATCH``); with no namespace the repository is the full project
    path and any project of the instance is accepted."""
    if not delivery.repository:
        return delivery
    full = f"{delivery.workspace}/{delivery.repository}".strip("/")
    if not namespace.strip("/"):
        return replace(delivery, workspace="", repository=full)
    workspace, repository = split_project(full, namespace)
    return replace(delivery, workspace=workspace, repository=repository)


class GitLabAdapters(BudgetedFactory):
    """GitLab adapters from stored configurations: one client each, one hourly request budget
    per token (the ``requests_per_hour`` setting; GitLab's own 429s with ``Retry-After`` and
    its ``RateLimit-Remaining``/``-Reset`` are honoured besides)."""

    platform = PLATFORM

    def build(self, config: StoredConfig, remote: str) -> GitLab:
        # ``remote`` (the workspace's slug when no namespace is stored) is not used: an empty
        # namespace means full project paths (:func:`scoped`)
        from jirahooks.server.host_settings import adapter_config  # the server's settings table

        made = adapter_config(PLATFORM, config, self.options.box)
        credentials, *_ = made.args
        base_url = made.kwargs["base_url"]
        client = GitLabClient(
            credentials,
            base_url=base_url,
            retry=self.options.retry or GITLAB_RETRY,
            budget=self.budgets.get(
                digest(base_url, credentials.header.value, credentials.token),
                made.requests_per_hour,
            ),
        )
        client.observer = self.observer
        adapter: GitLab = made.build(client=client)
        return adapter


HOST = Host(
    name=PLATFORM,
    title="GitLab",
    settings_path=f"platforms/{PLATFORM}",
    remote_field="namespace",
    kept_headers=KEPT_HEADERS,
    verify=verify,
    parse=parse_delivery,  # owner path / name: ``scoped`` places it in the configured group
    webhook_secret=stored_webhook_secret,
    factory=GitLabAdapters,
    stage="gitlab",
    observer="gitlab",
    webhook_hint="GitLab sends UTF-8 JSON",
    title_long="GitLab",
    scoped=scoped,
)
