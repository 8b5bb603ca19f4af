"""Bitbucket Cloud as a host of the pull-request pipeline: its ``HOST`` entry
(``platforms.registry``).

What only Bitbucket Cloud has lives here: the ``X-Hub-Signature`` check of its webhooks, the
decoding of its stored credentials, and its adapter factory — one ``BitbucketClient`` per
configuration, and one hourly request budget per credential (shared through Redis by every
process of the deployment when there is Redis; docs/operations.md "PR webhooks at scale").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jirahooks.crypto import SecretBox
from jirahooks.platforms.base import sha256_signature_ok
from jirahooks.platforms.bitbucket_auth import credentials_from
from jirahooks.platforms.bitbucket_client import (
    API_URL,
    BITBUCKET_RETRY,
    BitbucketClient,
    BitbucketCredentials,
    HourlyBudget,
    budget_key,
)
from jirahooks.platforms.bitbucket_cloud import PLATFORM, BitbucketCloud, parse_delivery
from jirahooks.platforms.budget import Budgets
from jirahooks.platforms.registry import (
    FactoryOptions,
    Host,
    SecretCheck,
    StoredConfig,
    stored_webhook_secret,
)

SIGNATURE_HEADER = "x-hub-signature"
KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-event-key",
    "x-hook-uuid",
    "x-request-uuid",
    "x-attempt-number",
    "x-event-time",
)


def credentials(config: StoredConfig, box: SecretBox) -> BitbucketCredentials:
    """The stored credential of a configuration, decrypted."""
    secret = box.decrypt(config.token_encrypted) if config.token_encrypted else ""
    return credentials_from(config.auth_kind, secret, config.username)


SIGNATURE = SecretCheck(
    "X-Hub-Signature",
    missing_hint="set the webhook's secret in Bitbucket",
    mismatch_hint="the secrets in Bitbucket and jirahooks differ",
)


def verify(headers: Mapping[str, str], body: bytes, secret: str, required: bool) -> None:
    """``X-Hub-Signature: sha256=<hex>`` under the webhook secret (docs/bitbucket-cloud.md)."""
    header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), "")
    SIGNATURE.check(header, lambda: sha256_signature_ok(secret, body, header), secret, required)


class BitbucketAdapters:
    """Bitbucket Cloud adapters from stored configurations; one hourly budget per credential
    (a digest of it), kept when an adapter is rebuilt for a changed configuration."""

    def __init__(self, options: FactoryOptions) -> None:
        self.options = options
        self.observer: Any = None
        self.budgets = Budgets(
            options.redis_url, prefix=options.redis_prefix, namespace="bitbucket-budget"
        )

    def budget(self, base_url: str, creds: BitbucketCredentials) -> HourlyBudget:
        """The hourly budget of one credential (its window in Redis when shared)."""
        return self.budgets.get(budget_key(base_url, creds), self.options.requests_per_hour)

    def build(self, config: StoredConfig, remote: str) -> BitbucketCloud:
        creds = credentials(config, self.options.box)
        base_url = config.api_url or API_URL
        client = BitbucketClient(
            remote,
            creds,
            base_url=base_url,
            retry=self.options.retry or BITBUCKET_RETRY,
            budget=self.budget(base_url, creds),
        )
        client.observer = self.observer
        return BitbucketCloud(remote, creds, client=client)

    async def aclose(self) -> None:
        await self.budgets.aclose()


HOST = Host(
    name=PLATFORM,
    title="Bitbucket",
    settings_path="bitbucket",
    remote_field="bitbucket_workspace",
    kept_headers=KEPT_HEADERS,
    verify=verify,
    parse=parse_delivery,
    webhook_secret=stored_webhook_secret,
    factory=BitbucketAdapters,
    stage="bitbucket",
    observer="bitbucket",
    webhook_hint="Bitbucket sends UTF-8 JSON",
    webhook_path="/webhooks/bitbucket/{workspace}",
    title_long="Bitbucket Cloud",
)
