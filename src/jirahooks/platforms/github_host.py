"""GitHub (a GitHub App) as a host of the pull-request pipeline: its ``HOST`` entry
(``platforms.registry``).

What only GitHub has lives here: the ``X-Hub-Signature-256`` check of its webhooks (HMAC-SHA256
of the raw body under the App's webhook secret, constant time), the adapter factory — the
stored row of (workspace, ``github``) turned into a :class:`~jirahooks.platforms.github.GitHub`
by ``server.host_settings.adapter_config`` (App id, installation id, owner, private key), one
``GitHubClient`` (and its cached installation token) per configuration — and the merge queue:
a ``merge_group`` delivery is judged on its own head (:func:`head_check`), or the queue waits
for ever for the required check (docs/github.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from jirahooks.platforms.base import Delivery, PlatformAdapter, PullRequestDetails
from jirahooks.platforms.budget import BudgetedFactory, digest
from jirahooks.platforms.github import (
    PLATFORM,
    SIGNATURE_HEADER,
    GitHub,
    is_merge_group,
    parse_delivery,
    signature_ok,
)
from jirahooks.platforms.github_client import GITHUB_RETRY, GitHubClient
from jirahooks.platforms.registry import (
    Host,
    SecretCheck,
    StoredConfig,
    stored_webhook_secret,
)

KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-github-event",  # the parser needs it again when the worker processes the delivery
    "x-github-delivery",
    "x-github-hook-id",
    "x-github-hook-installation-target-id",
    "x-github-hook-installation-target-type",
)


SIGNATURE = SecretCheck(
    "X-Hub-Signature-256",
    missing_hint="set the webhook secret on the GitHub App (its settings page, 'Webhook')",
    mismatch_hint="the webhook secrets of the GitHub App and of jirahooks differ",
)


def verify(headers: Mapping[str, str], body: bytes, secret: str, required: bool) -> None:
    """``X-Hub-Signature-256: sha256=<hex>`` under the App's webhook secret (docs/github.md)."""
    header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), "")
    SIGNATURE.check(header, lambda: signature_ok(secret, body, header), secret, required)


async def head_check(adapter: PlatformAdapter, delivery: Delivery) -> PullRequestDetails | None:
    """A merge queue's ``merge_group`` delivery: the commits it adds to its base branch, to be
    judged and answered with the check run on its head; None for an ordinary push."""
    if not is_merge_group(delivery) or not isinstance(adapter, GitHub):
        return None
    return await adapter.fetch_merge_group(delivery.repository, delivery)


class GitHubAdapters(BudgetedFactory):
    """GitHub adapters from stored configurations: one client, and so one cached installation
    token, per configuration (rebuilt with the adapter when the configuration changes); one
    hourly request budget per App installation (GitHub counts its limit per installation)."""

    platform = PLATFORM

    def build(self, config: StoredConfig, remote: str) -> GitHub:
        # imported here: the server's settings table is needed only once an adapter is built
        from jirahooks.server.host_settings import adapter_config

        made = adapter_config(PLATFORM, config, self.options.box)
        _, credentials = made.args
        base_url = str(made.kwargs["base_url"])
        client = GitHubClient(
            credentials,
            base_url=base_url,
            retry=self.options.retry or GITHUB_RETRY,
            budget=self.budgets.get(
                digest(base_url, credentials.app_id, credentials.installation_id),
                made.requests_per_hour,
            ),
        )
        client.observer = self.observer
        adapter: GitHub = made.build(client=client)
        return adapter


HOST = Host(
    name=PLATFORM,
    title="GitHub",
    settings_path=f"platforms/{PLATFORM}",
    remote_field="owner",
    kept_headers=KEPT_HEADERS,
    verify=verify,
    parse=parse_delivery,
    webhook_secret=stored_webhook_secret,
    factory=GitHubAdapters,
    stage="github",
    observer="github",
    webhook_hint="GitHub sends UTF-8 JSON (the App's webhook content type application/json)",
    title_long="GitHub",
    head_check=head_check,
)
