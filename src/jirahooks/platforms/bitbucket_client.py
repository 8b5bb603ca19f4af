"""A small async HTTP client for the Bitbucket Cloud REST API 2.0 (one workspace).

Auth (``jirahooks.platforms.bitbucket_auth``): a repository / project / workspace access token
(``Authorization: Bearer …``) or an Atlassian API token (``Basic <account e-mail>:<token>``).
Every answer's ``RateLimit-*`` / ``X-RateLimit-*`` headers are read (``rate_limit``), whatever
the credential kind. 429 and 5xx answers and transport errors are retried with
exponential backoff and jitter, honouring ``Retry-After`` exactly; a wait longer than the policy
allows, or more failures than it allows, raises :class:`PlatformUnavailable` carrying the
``Retry-After`` seconds (``retry_after``) — the caller (the webhook worker) keeps the work and
reschedules it then, so a result is never lost and no worker sleeps through a long wait. Paginated lists are
followed through ``next`` links only while they stay on the configured API origin (credentials
never leave it).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from jirahooks.platforms.base import (
    PlatformAuthError,
    PlatformError,
    PlatformRequestError,
    PlatformUnavailable,
)
from jirahooks.platforms.bitbucket_auth import (
    AuthKind,
    BitbucketCredentials,
    RateLimit,
)
from jirahooks.platforms.budget import HourlyBudget, SharedHourlyWindow, digest, within_budget
from jirahooks.retry import RetryPolicy, retry_after_seconds

log = logging.getLogger("jirahooks.platforms.bitbucket")

API_URL = "https://api.bitbucket.org/2.0"
MAX_PAGELEN = 50  # Bitbucket answers 400 when pagelen is above an endpoint's limit (often 50/100)

__all__ = [
    "AuthKind",
    "BitbucketClient",
    "BitbucketCredentials",
    "HourlyBudget",
    "RateLimit",
    "SharedHourlyWindow",
    "budget_key",
]


def budget_key(base_url: str, credentials: BitbucketCredentials) -> str:
    """Which window a credential counts in: a digest of API origin, kind, user and secret (the
    secret never reaches Redis)."""
    return digest(base_url, credentials.kind.value, credentials.username or "", credentials.secret)


# A longer Retry-After than max_wait is not slept through: the error carries it, and the queue
# reschedules the delivery at that time (docs/bitbucket-cloud.md, "Rate limits") — a worker
# never sleeps through a rate-limit window.
BITBUCKET_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.5, backoff_cap=5.0, max_wait=5.0)


class BitbucketClient:
    """One workspace's API client; open with ``async with`` or close with ``aclose()``."""

    def __init__(
        self,
        workspace: str,
        credentials: BitbucketCredentials,
        *,
        base_url: str = API_URL,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        jitter: Callable[[], float] = random.random,
        budget: HourlyBudget | None = None,
    ) -> None:
        self.workspace = workspace
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        self.retry = retry or BITBUCKET_RETRY
        self.timeout = timeout
        self._jitter = jitter
        self.budget = budget or HourlyBudget(0)
        self._origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.base_url))
        self._http = httpx.AsyncClient(
            headers={
                "Authorization": credentials.authorization(),
                "Accept": "application/json",
                "User-Agent": "jirahooks",
            },
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )
        self.requests_sent = 0
        # the last rate-limit headers Bitbucket sent (any credential kind); None: none yet
        self.rate_limit: RateLimit | None = None
        # told about every HTTP attempt: (host, method, path, outcome) — the server's metrics
        self.observer: Callable[[str, str, str, str], None] | None = None

    def __repr__(self) -> str:
        return f"BitbucketClient({self.base_url!r}, workspace={self.workspace!r})"

    async def __aenter__(self) -> BitbucketClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def repo_path(self, repository: str, suffix: str = "") -> str:
        return f"/repositories/{self.workspace}/{repository}{suffix}"

    # -- requests -------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return self.retry.backoff(attempt, self._jitter())

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        allow: tuple[int, ...] = (),
    ) -> Any:
        """Send one request with retries; decoded JSON (``None`` for empty bodies or statuses in
        ``allow``, e.g. 404 when removing an approval that is not there)."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        if not url.startswith(self._origin + "/"):
            raise PlatformRequestError(
                f"refusing to send credentials to {urlsplit(url).netloc}",
                hint="a pagination link left the Bitbucket API origin",
            )
        attempt = 0
        while True:
            attempt += 1
            after: float | None = None
            await self._within_budget()
            self.requests_sent += 1
            try:
                response = await self._http.request(method, url, params=params, json=json)
            except httpx.TransportError as exc:
                self._observe(method, url, "unreachable")
                error: PlatformError = PlatformUnavailable(
                    f"cannot reach Bitbucket at {self._origin} ({type(exc).__name__})",
                    hint="check network, proxy and DNS; the work is retried later",
                )
                error.__cause__ = exc
                wait = self._backoff(attempt)
            else:
                self._observe(method, url, str(response.status_code))
                limit = self._read_rate_limit(response, method, url)
                if response.status_code in allow:
                    return None
                if response.status_code < 400:
                    return _decode(response)
                if response.status_code == 429 or response.status_code >= 500:
                    error = _error(response, method, url, self.credentials)
                    after = retry_after_seconds(response.headers)
                    if after is None and response.status_code == 429:
                        after = limit.reset_seconds  # RateLimit-Reset / X-RateLimit-Reset
                    wait = self._backoff(attempt) if after is None else after
                else:
                    raise _error(response, method, url, self.credentials)
            if attempt >= self.retry.max_attempts or wait > self.retry.max_wait:
                if after is not None:
                    error.retry_after = after  # the queue reschedules the work then
                raise error
            log.info("bitbucket %s %s: %s; retrying in %.2fs", method, url, error.message, wait)
            await asyncio.sleep(wait)

    def _read_rate_limit(self, response: httpx.Response, method: str, url: str) -> RateLimit:
        """Keep what the answer says about the rate limit; say so when it is nearly used up."""
        limit = RateLimit.from_headers(response.headers)
        if limit.said:
            if limit.near_limit or limit.exhausted:
                log.warning(
                    "bitbucket %s %s: rate limit nearly used up (limit %s, remaining %s, "
                    "resource %s, credential %s)",
                    method,
                    urlsplit(url).path,
                    limit.limit,
                    limit.remaining,
                    limit.resource or "?",
                    self.credentials.kind.value,
                )
            self.rate_limit = limit
        return limit

    def _observe(self, method: str, url: str, outcome: str) -> None:
        if self.observer is not None:
            self.observer(urlsplit(url).netloc, method, urlsplit(url).path, outcome)

    async def _within_budget(self) -> None:
        """Wait for the hourly budget up to the policy's ``max_wait`` in all; a longer wait
        raises :class:`PlatformUnavailable` with ``retry_after``, and the queue reschedules
        the work (``platforms.budget``)."""
        await within_budget(
            self.budget, self.retry, "Bitbucket", "JIRAHOOKS_BITBUCKET_REQUESTS_PER_HOUR"
        )

    async def paginate(
        self, path: str, *, params: Mapping[str, Any] | None = None, limit: int = 10_000
    ) -> AsyncIterator[dict[str, Any]]:
        """Every value of a paginated collection (``next`` links), at most ``limit``."""
        query = {"pagelen": MAX_PAGELEN, **(params or {})}
        page: Any = await self.request("GET", path, params=query)
        seen = 0
        while True:
            for value in (page or {}).get("values") or []:
                if isinstance(value, dict):
                    yield value
                    seen += 1
                    if seen >= limit:
                        return
            next_url = (page or {}).get("next")
            if not isinstance(next_url, str) or not next_url:
                return
            page = await self.request("GET", next_url)


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def error_text(response: httpx.Response) -> str:
    """``{"type": "error", "error": {"message", "detail"}}`` → "message (detail)"."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        detail = error.get("detail")
        if detail and isinstance(detail, str | int | float):
            return f"{message} ({detail})" if message else str(detail)
        return message or response.reason_phrase
    return response.reason_phrase


def _error(
    response: httpx.Response,
    method: str,
    url: str,
    credentials: BitbucketCredentials | None = None,
) -> PlatformError:
    status = response.status_code
    where = f"{method} {urlsplit(url).path}"
    text = error_text(response)
    if status in (401, 403):
        return PlatformAuthError(
            f"Bitbucket rejected the credentials: {where} → {status} {text}",
            hint=credentials.auth_hint()
            if credentials is not None
            else "check the workspace's access token / API token and its scopes",
            status=status,
        )
    if status == 429 or status >= 500:
        return PlatformUnavailable(
            f"Bitbucket is unavailable: {where} → {status} {text}",
            hint="rate limited or a Bitbucket outage; the work is retried later",
            status=status,
        )
    return PlatformRequestError(
        f"Bitbucket rejected {where}: {status} {text}",
        hint="see the message; the request was not retried",
        status=status,
    )
