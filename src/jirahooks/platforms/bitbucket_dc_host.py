"""Bitbucket Data Center as a host of the pull-request pipeline: its ``HOST`` entry
(``platforms.registry``).

What only Data Center has lives here: the ``X-Hub-Signature`` check of its webhooks
(HMAC-SHA256 of the raw body, compared in constant time by
:func:`~jirahooks.platforms.bitbucket_dc.verify_signature`), the webhook secret of the stored
row, and its adapter factory — one :class:`~jirahooks.platforms.bitbucket_dc.BitbucketDataCenter`
per stored configuration, built from the row the admin settings wrote
(``server.host_settings.adapter_config``: base URL, project key, token kind, token). Deliveries
arrive at ``POST /webhooks/bitbucket-dc/{workspace}`` (docs/bitbucket-datacenter.md).

Data Center limits requests with its own token bucket (429 + ``Retry-After``, which the client
turns into a rescheduled delivery); an hourly budget per token is the ``requests_per_hour``
setting (0 by default: none), counted through Redis by every process when there is Redis
(``platforms.budget``).
"""

from __future__ import annotations

from collections.abc import Mapping

from jirahooks.platforms.base import WebhookError
from jirahooks.platforms.bitbucket_dc import (
    PLATFORM,
    BitbucketDataCenter,
    parse_delivery,
    verify_signature,
)
from jirahooks.platforms.bitbucket_dc_client import DC_RETRY, DataCenterClient
from jirahooks.platforms.budget import BudgetedFactory, digest
from jirahooks.platforms.registry import (
    Host,
    Refusal,
    StoredConfig,
    stored_webhook_secret,
)

KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-event-key",
    "x-request-id",
)
# the adapter's codes → the intake's (the same as Bitbucket Cloud's on the generic URL)
_CODES = {
    "WEBHOOK_SIGNATURE_MISSING": "SIGNATURE_MISSING",
    "WEBHOOK_SIGNATURE_INVALID": "SIGNATURE_INVALID",
}


def verify(headers: Mapping[str, str], body: bytes, secret: str, required: bool) -> None:
    """``X-Hub-Signature: sha256=<hex>`` under the webhook secret; without a secret a delivery
    passes only when signatures are not required."""
    if not secret:
        if required:
            raise Refusal(
                401,
                "SIGNATURE_NOT_CONFIGURED",
                "signed deliveries are required but no webhook secret is configured",
                "",  # the intake names the settings to change
            )
        return
    try:
        verify_signature(secret, headers, body)
    except WebhookError as exc:
        raise Refusal(401, _CODES.get(exc.code, exc.code), exc.message, exc.hint) from None


class DataCenterAdapters(BudgetedFactory):
    """Data Center adapters from stored configurations (one HTTP client each; one hourly
    budget per token)."""

    platform = PLATFORM

    def build(self, config: StoredConfig, remote: str) -> BitbucketDataCenter:
        # imported here: the admin settings table (and the store models) load with the first
        # adapter, not with the registry
        from jirahooks.server.host_settings import adapter_config

        made = adapter_config(PLATFORM, config, self.options.box)
        base_url, _, credentials = made.args
        client = DataCenterClient(
            base_url,
            credentials,
            retry=self.options.retry or DC_RETRY,
            budget=self.budgets.get(
                digest(base_url, credentials.kind.value, credentials.secret),
                made.requests_per_hour,
            ),
        )
        client.observer = self.observer
        adapter: BitbucketDataCenter = made.build(client=client)
        return adapter


HOST = Host(
    name=PLATFORM,
    title="Bitbucket Data Center",
    settings_path=f"platforms/{PLATFORM}",
    remote_field="project_key",
    kept_headers=KEPT_HEADERS,
    verify=verify,
    parse=parse_delivery,
    webhook_secret=stored_webhook_secret,
    factory=DataCenterAdapters,
    stage="bitbucket-dc",
    observer="bitbucket",
    webhook_hint="Bitbucket Data Center sends UTF-8 JSON",
    title_long="Bitbucket Data Center",
)
