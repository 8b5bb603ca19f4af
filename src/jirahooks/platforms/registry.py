"""The hosts the pull-request pipeline serves: platform name → what the pipeline needs of it.

The pipeline (``jirahooks.pipeline``) knows no host. For a delivery, a stored configuration or
the ``{platform}`` of ``POST /webhooks/{platform}/{workspace}`` it asks :func:`host` for a
:class:`Host`: how a webhook is verified and parsed, and a factory of
:class:`~jirahooks.platforms.base.PlatformAdapter` from stored configurations. ``HOSTS`` is the
one ordered table of them (STYLE.md "explicit registries"); each entry's module is imported on
demand and holds a ``HOST``. Adding a host is an adapter module, a host module with its
``HOST``, a line here, its admin settings and its fake (ADR 0017).

Stored configurations are ``store.deliveries.PlatformConfig`` rows; this module names only the
fields it reads (:class:`StoredConfig`), so it imports nothing of the store.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # types only: the registry itself needs neither cryptography nor httpx
    from jirahooks.crypto import SecretBox
    from jirahooks.platforms.base import Delivery, PlatformAdapter, PullRequestDetails
    from jirahooks.retry import RetryPolicy

# platform name (as stored in deliveries and configurations) → module holding its ``HOST``
HOSTS: dict[str, str] = {
    "bitbucket-cloud": "jirahooks.platforms.bitbucket_cloud_host",
    "github": "jirahooks.platforms.github_host",
    "bitbucket-dc": "jirahooks.platforms.bitbucket_dc_host",
    "gitlab": "jirahooks.platforms.gitlab_host",
}


class StoredConfig(Protocol):
    """The fields of a stored platform configuration a host reads."""

    id: int
    platform: str
    remote_workspace: str
    api_url: str
    auth_kind: str
    username: str
    token_encrypted: str
    webhook_secret_encrypted: str
    public_url: str
    settings: dict[str, Any]  # a host's own non-secret fields (server.host_settings)
    updated_at: datetime


class Refusal(Exception):
    """A webhook delivery the host refuses before anything is stored (HTTP status, code,
    message, hint — the intake answers with them)."""

    def __init__(self, status: int, code: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.hint = status, code, message, hint


def stored_webhook_secret(config: StoredConfig, box: SecretBox) -> str:
    """The configuration's webhook secret, decrypted ("" when none is stored)."""
    return box.decrypt(config.webhook_secret_encrypted) if config.webhook_secret_encrypted else ""


@dataclass(frozen=True)
class SecretCheck:
    """How a host names its webhook authentication in refusals: the header, and the hints."""

    header: str  # "X-Hub-Signature"
    missing_hint: str  # what to set on the host
    mismatch_hint: str  # which two values differ

    def check(self, given: str, matches: Callable[[], bool], secret: str, required: bool) -> None:
        """Refuse a delivery whose header is missing or does not ``match`` the secret; with no
        secret, refuse every delivery when signatures are ``required``."""
        if secret:
            if not given:
                raise Refusal(
                    401, "SIGNATURE_MISSING", f"{self.header} is missing", self.missing_hint
                )
            if not matches():
                raise Refusal(
                    401, "SIGNATURE_INVALID", f"{self.header} does not match", self.mismatch_hint
                )
        elif required:
            raise Refusal(
                401,
                "SIGNATURE_NOT_CONFIGURED",
                "signed deliveries are required but no webhook secret is configured",
                "",  # the intake names the settings to change
            )


@dataclass(frozen=True)
class FactoryOptions:
    """What every adapter factory of a process shares: the secret box, the retry policy (None:
    the host's own), requests per credential and rolling hour (0: no budget), and Redis for
    budgets counted by every process."""

    box: SecretBox
    retry: RetryPolicy | None = None
    requests_per_hour: int = 0
    redis_url: str = ""
    redis_prefix: str = "jirahooks"


class AdapterFactory(Protocol):
    """Builds a host's adapters from stored configurations (one per process and host)."""

    observer: Any  # the server's metrics hear of every request of the host's clients

    def build(self, config: StoredConfig, remote: str) -> PlatformAdapter: ...

    async def aclose(self) -> None: ...


class PerConfigFactory:
    """The base of a factory whose adapters share nothing across configurations (each its own
    client): it keeps the options and the observer, and has nothing to close."""

    def __init__(self, options: FactoryOptions) -> None:
        self.options = options
        self.observer: Any = None

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True)
class Host:
    """One host as the pipeline sees it."""

    name: str  # the platform name: stored, in the generic webhook URL, in metrics labels
    title: str  # in messages: "Bitbucket is not configured …"
    settings_path: str  # the admin API's settings: /api/v1/workspaces/{w}/<settings_path>
    remote_field: str  # the settings field naming the host's workspace / organisation
    kept_headers: tuple[str, ...]  # delivery headers stored with the body (lower case)
    # headers, body, webhook secret ("" when none), signature required → raises Refusal
    verify: Callable[[Mapping[str, str], bytes, str, bool], None]
    parse: Callable[[Mapping[str, str], bytes], Delivery]  # pure, CPU work
    webhook_secret: Callable[[StoredConfig, SecretBox], str]
    factory: Callable[[FactoryOptions], AdapterFactory]
    stage: str  # the timing stage of its requests (pipeline.timing)
    observer: str  # the ``Metrics`` attribute observing its HTTP requests ("" for none)
    webhook_hint: str = ""  # what to fix when a body is not what the host sends
    webhook_path: str = ""  # its own URL beside /webhooks/{platform}/{workspace}, if it has one
    title_long: str = ""  # the full name: "Bitbucket Cloud"
    # the parsed delivery placed in the configuration's remote workspace (``remote_workspace``
    # as stored, "" when unset): for a host whose repositories are paths of any depth (GitLab:
    # relative to the configured group). None: the parser's workspace and repository stand.
    scoped: Callable[[Delivery, str], Delivery] | None = None
    # a PUSH delivery the host wants answered on its own head although no PR has it (GitHub's
    # merge queue): the PR-shaped commits to judge, or None for an ordinary push
    head_check: (
        Callable[[PlatformAdapter, Delivery], Awaitable[PullRequestDetails | None]] | None
    ) = None


def names() -> tuple[str, ...]:
    """Every registered platform name, in table order."""
    return tuple(HOSTS)


def host(name: str) -> Host | None:
    """The registered host called ``name`` (its module imported now), None if there is none."""
    module = HOSTS.get(name)
    if module is None:
        return None
    found = getattr(importlib.import_module(module), "HOST", None)
    if not isinstance(found, Host) or found.name != name:
        raise LookupError(f"{module} has no HOST named {name!r}")
    return found
