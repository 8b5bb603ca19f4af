"""A small async HTTP client for the GitLab REST API v4 (gitlab.com or a self-managed instance).

Auth: a project or group **access token** (or a service account's personal access token), sent
as ``PRIVATE-TOKEN: <token>`` (the default) or ``Authorization: Bearer <token>``. It needs the
``api`` scope (``read_api`` cannot post statuses, notes or approvals) and at least the
Developer role (docs/gitlab.md, "Access token").

429 and 5xx answers and transport errors are retried with exponential backoff and jitter,
honouring ``Retry-After`` exactly (GitLab sends it with its 429s, next to ``RateLimit-Limit``,
``RateLimit-Observed``, ``RateLimit-Remaining``, ``RateLimit-Reset`` — a Unix time, not delta
seconds as in the IETF draft — and ``RateLimit-ResetTime``); a wait longer than the policy
allows, or more failures than it allows, raises :class:`PlatformUnavailable` carrying the
seconds to wait (``retry_after``), so the caller's queue reschedules the work and no worker
sleeps through a rate-limit window. While the last answer said ``RateLimit-Remaining: 0``
nothing is sent before its reset, and an optional hourly request budget per token
(:class:`~jirahooks.platforms.budget.HourlyBudget`, the ``requests_per_hour`` setting) holds
requests back the same way before GitLab's 429s. Paginated lists follow the ``Link: rel="next"`` header, or
``x-next-page`` when there is no Link (GitLab omits ``x-total``/``x-total-pages`` above 10,000
records, so neither is relied on), only while the next URL stays on the configured origin.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from jirahooks.platforms.base import (
    PlatformAuthError,
    PlatformError,
    PlatformRequestError,
    PlatformUnavailable,
)
from jirahooks.platforms.bitbucket_auth import RateLimit
from jirahooks.platforms.budget import HourlyBudget, within_budget
from jirahooks.retry import RetryPolicy, retry_after_seconds

log = logging.getLogger("jirahooks.platforms.gitlab")

GITLAB_URL = "https://gitlab.com"
API_PREFIX = "/api/v4"
PER_PAGE = 100  # GitLab's maximum for offset pagination
REQUIRED_SCOPE = "api"

# as for Bitbucket: a longer Retry-After than max_wait goes back to the queue with the error
GITLAB_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.5, backoff_cap=5.0, max_wait=5.0)


class TokenHeader(StrEnum):
    PRIVATE_TOKEN = "private_token"  # PRIVATE-TOKEN: <token>
    BEARER = "bearer"  # Authorization: Bearer <token>


@dataclass(frozen=True)
class GitLabCredentials:
    """A project / group access token. The secret never appears in ``repr``."""

    token: str
    header: TokenHeader = TokenHeader.PRIVATE_TOKEN

    def __repr__(self) -> str:
        return f"GitLabCredentials({self.header.value}, token=***)"

    def headers(self) -> dict[str, str]:
        if self.header is TokenHeader.BEARER:
            return {"Authorization": f"Bearer {self.token}"}
        return {"PRIVATE-TOKEN": self.token}


AUTH_HINT = (
    "check the GitLab access token (expired or revoked?): a project or group access token with "
    f"the '{REQUIRED_SCOPE}' scope and at least the Developer role"
)


def api_root(base_url: str) -> str:
    """``https://gitlab.example.com`` (or ``…/api/v4``, or a relative-URL install such as
    ``https://example.com/gitlab``) → the API root ending in ``/api/v4``."""
    root = base_url.rstrip("/")
    return root if root.endswith(API_PREFIX) else root + API_PREFIX


def project_ref(project: str) -> str:
    """A project's id (digits) or its full path, URL-encoded for a path segment."""
    return project if project.isdigit() else quote(project, safe="")


def rate_limit_of(headers: Mapping[str, str], *, now: float | None = None) -> RateLimit:
    """GitLab's ``RateLimit-*`` headers; ``RateLimit-Reset`` is a Unix time (delta seconds are
    accepted too, for a proxy that follows the IETF draft)."""
    current = time.time() if now is None else now

    def number(name: str) -> float | None:
        raw = (headers.get(name) or "").strip()
        try:
            return float(raw) if raw else None
        except ValueError:
            return None

    reset = number("ratelimit-reset")
    if reset is not None and reset > 1e9:
        reset = reset - current
    return RateLimit(
        limit=number("ratelimit-limit"),
        remaining=number("ratelimit-remaining"),
        reset_seconds=None if reset is None else max(0.0, reset),
        at=current,
    )


class GitLabClient:
    """One GitLab instance's API client; open with ``async with`` or close with ``aclose()``."""

    def __init__(
        self,
        credentials: GitLabCredentials,
        *,
        base_url: str = GITLAB_URL,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        jitter: Callable[[], float] = random.random,
        budget: HourlyBudget | None = None,
    ) -> None:
        self.credentials = credentials
        self.base_url = api_root(base_url)
        self.retry = retry or GITLAB_RETRY
        # the token's hourly request budget (the ``requests_per_hour`` setting; 0: none)
        self.budget = budget or HourlyBudget(0)
        self._jitter = jitter
        self._origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.base_url))
        self._http = httpx.AsyncClient(
            headers={
                **credentials.headers(),
                "Accept": "application/json",
                "User-Agent": "jirahooks",
            },
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )
        self.requests_sent = 0
        self.rate_limit: RateLimit | None = None
        # time.time() before which nothing is sent (GitLab said RateLimit-Remaining: 0)
        self._hold_until = 0.0
        # told about every HTTP attempt: (host, method, path, outcome) — the server's metrics
        self.observer: Callable[[str, str, str, str], None] | None = None

    def __repr__(self) -> str:
        return f"GitLabClient({self.base_url!r})"

    async def __aenter__(self) -> GitLabClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def project_path(self, project: str, suffix: str = "") -> str:
        return f"/projects/{project_ref(project)}{suffix}"

    async def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        allow: tuple[int, ...] = (),
    ) -> Any:
        """Decoded JSON of one request with retries (``None`` for an empty body or a status in
        ``allow``)."""
        response = await self.send(method, path_or_url, params=params, json=json, allow=allow)
        if response.status_code in allow:
            return None
        return _decode(response)

    async def send(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        """The response of one request with retries; raises the platform error tree."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        if not url.startswith(self._origin + "/"):
            raise PlatformRequestError(
                f"refusing to send credentials to {urlsplit(url).netloc}",
                hint="a pagination link left the GitLab origin",
            )
        attempt = 0
        while True:
            attempt += 1
            after: float | None = None
            await self._within_rate_limit()
            await within_budget(
                self.budget, self.retry, "GitLab", "requests_per_hour in its settings"
            )
            self.requests_sent += 1
            try:
                response = await self._http.request(method, url, params=params, json=json)
            except httpx.TransportError as exc:
                self._observe(method, url, "unreachable")
                error: PlatformError = PlatformUnavailable(
                    f"cannot reach GitLab at {self._origin} ({type(exc).__name__})",
                    hint="check network, proxy and DNS; the work is retried later",
                )
                error.__cause__ = exc
                wait = self.retry.backoff(attempt, self._jitter())
            else:
                self._observe(method, url, str(response.status_code))
                limit = self._read_rate_limit(response, method, url)
                if response.status_code in allow or response.status_code < 400:
                    return response
                if response.status_code == 429 or response.status_code >= 500:
                    error = gitlab_error(response, method, url)
                    after = retry_after_seconds(response.headers)
                    if after is None and response.status_code == 429:
                        after = limit.reset_seconds
                    wait = self.retry.backoff(attempt, self._jitter()) if after is None else after
                else:
                    raise gitlab_error(response, method, url)
            if attempt >= self.retry.max_attempts or wait > self.retry.max_wait:
                if after is not None:
                    error.retry_after = after  # the queue reschedules the work then
                raise error
            log.info("gitlab %s %s: %s; retrying in %.2fs", method, url, error.message, wait)
            await asyncio.sleep(wait)

    async def _within_rate_limit(self) -> None:
        """After an answer that GitLab gave with ``RateLimit-Remaining: 0``, nothing is sent
        before its ``RateLimit-Reset``: a short wait is slept, a longer one goes back to the
        queue (:class:`PlatformUnavailable` with ``retry_after``) — sending anyway would only
        earn a 429. (A 429 itself raises with its ``Retry-After``, and the queue reschedules
        that work; the hold is for the requests after the last one GitLab allowed.)"""
        wait = self._hold_until - time.time()
        if wait <= 0:
            return
        if wait > self.retry.max_wait:
            limit = self.rate_limit.limit if self.rate_limit is not None else None
            raise PlatformUnavailable(
                f"the GitLab rate limit ({limit or '?'} requests) is used up",
                hint="the work is retried after GitLab's RateLimit-Reset",
                retry_after=wait,
            )
        await asyncio.sleep(wait)

    def _read_rate_limit(self, response: httpx.Response, method: str, url: str) -> RateLimit:
        limit = rate_limit_of(response.headers)
        if limit.exhausted and limit.reset_seconds and response.status_code < 400:
            self._hold_until = limit.at + limit.reset_seconds
        if limit.said:
            if limit.exhausted:
                log.warning(
                    "gitlab %s %s: rate limit used up (limit %s, resets in %ss)",
                    method,
                    urlsplit(url).path,
                    limit.limit,
                    limit.reset_seconds,
                )
            self.rate_limit = limit
        return limit

    def _observe(self, method: str, url: str, outcome: str) -> None:
        if self.observer is not None:
            self.observer(urlsplit(url).netloc, method, urlsplit(url).path, outcome)

    async def paginate(
        self, path: str, *, params: Mapping[str, Any] | None = None, limit: int = 10_000
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paginated list (offset pagination), at most ``limit``."""
        query: dict[str, Any] = {"per_page": PER_PAGE, **(params or {})}
        response = await self.send("GET", path, params=query)
        seen = 0
        while True:
            page = _decode(response)
            for item in page if isinstance(page, list) else []:
                if isinstance(item, dict):
                    yield item
                    seen += 1
                    if seen >= limit:
                        return
            next_link = response.links.get("next", {}).get("url")
            if next_link:
                response = await self.send("GET", next_link)
                continue
            next_page = (response.headers.get("x-next-page") or "").strip()
            if not next_page.isdigit():
                return
            response = await self.send("GET", path, params={**query, "page": int(next_page)})


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def error_text(response: httpx.Response) -> str:
    """GitLab's error bodies: ``{"message": "…"}`` (a string, a list, or a field → messages
    object), ``{"error": "…", "error_description": "…"}`` (OAuth-style, 401/403), or text."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if not isinstance(data, dict):
        return response.reason_phrase
    message = data.get("message")
    if isinstance(message, str):
        return message[:500]
    if isinstance(message, list):
        return "; ".join(str(m) for m in message)[:500]
    if isinstance(message, dict):
        parts = [
            f"{key} {'; '.join(map(str, value)) if isinstance(value, list) else value}"
            for key, value in message.items()
        ]
        return "; ".join(parts)[:500]
    error = data.get("error")
    if isinstance(error, str):
        described = data.get("error_description")
        return f"{error}: {described}"[:500] if isinstance(described, str) else error[:500]
    return response.reason_phrase


def missing_scope(response: httpx.Response) -> str:
    """The scope a 403 ``insufficient_scope`` names ("" when it is not that)."""
    try:
        data = response.json()
    except ValueError:
        return ""
    if isinstance(data, dict) and data.get("error") == "insufficient_scope":
        return str(data.get("scope") or REQUIRED_SCOPE)
    return ""


def gitlab_error(response: httpx.Response, method: str, url: str) -> PlatformError:
    status = response.status_code
    where = f"{method} {urlsplit(url).path}"
    text = error_text(response)
    if status == 401:
        return PlatformAuthError(
            f"GitLab rejected the access token: {where} → 401 {text}",
            hint=AUTH_HINT,
            status=status,
        )
    if status == 403:
        scope = missing_scope(response)
        hint = (
            f"the access token lacks the '{scope}' scope: create one with the '{scope}' scope"
            if scope
            else f"the token's role is too low for this: give it at least the Developer role "
            f"(and the '{REQUIRED_SCOPE}' scope)"
        )
        return PlatformAuthError(f"GitLab refused {where}: 403 {text}", hint=hint, status=status)
    if status == 429 or status >= 500:
        return PlatformUnavailable(
            f"GitLab is unavailable: {where} → {status} {text}",
            hint="rate limited or a GitLab outage; the work is retried later",
            status=status,
        )
    return PlatformRequestError(
        f"GitLab rejected {where}: {status} {text}",
        hint="see the message; the request was not retried",
        status=status,
    )
