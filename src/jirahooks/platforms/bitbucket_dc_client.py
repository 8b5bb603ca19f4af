"""A small async HTTP client for the Bitbucket Data Center REST API (9.x), one instance.

Auth: an **HTTP access token** (project- or repository-scoped; it acts as a generated bot user)
or a **personal access token** of a (technical) user — both sent as ``Authorization: Bearer …``
(docs/bitbucket-datacenter.md, "Credentials"). The instance base URL may carry a context path
(``https://git.example.com/bitbucket``); request paths start at ``/rest/…``.

Like the Cloud client (``bitbucket_client``): 429, 5xx and transport errors are retried with
the shared :class:`~jirahooks.retry.RetryPolicy` (``Retry-After`` honoured exactly); a wait
longer than the policy allows raises :class:`PlatformUnavailable` carrying ``retry_after`` so the
queue reschedules the work. An optional hourly request budget per token
(:class:`~jirahooks.platforms.budget.HourlyBudget`, the ``requests_per_hour`` setting, off by
default) holds requests back the same way before they are sent. Data Center's token-bucket rate limiter answers 429 with
``Retry-After`` and ``X-RateLimit-*`` headers; they are read from every answer
(:class:`~jirahooks.platforms.bitbucket_auth.RateLimit`). Errors come as
``{"errors": [{"context", "message", "exceptionName"}]}``. Paged collections are followed by
``start`` / ``nextPageStart`` until ``isLastPage``.
"""

from __future__ import annotations

import asyncio
import logging
import random
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

log = logging.getLogger("jirahooks.platforms.bitbucket_dc")

API = "/rest/api/latest"
INSIGHTS = "/rest/insights/latest"
PAGE_LIMIT = 100  # Data Center caps ``limit`` at its configured maximum; nextPageStart is followed

DC_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.5, backoff_cap=5.0, max_wait=5.0)


class DataCenterAuthKind(StrEnum):
    HTTP_ACCESS_TOKEN = "http_access_token"  # project / repository HTTP access token (Bearer)
    PERSONAL_ACCESS_TOKEN = "personal_access_token"  # a user's personal access token (Bearer)


@dataclass(frozen=True)
class DataCenterCredentials:
    """A Bearer token for Bitbucket Data Center. The secret never appears in ``repr``."""

    kind: DataCenterAuthKind
    secret: str

    def __repr__(self) -> str:
        return f"DataCenterCredentials({self.kind.value}, secret=***)"

    def authorization(self) -> str:
        return f"Bearer {self.secret}"

    def auth_hint(self) -> str:
        """What to check when Data Center refuses the token (401/403)."""
        if self.kind is DataCenterAuthKind.PERSONAL_ACCESS_TOKEN:
            return (
                "check the personal access token (expired or revoked?), that its user can read "
                "the repository (Repository read is enough), and the token's permission: "
                "'Repository read' or higher"
            )
        return (
            "check the HTTP access token (expired or revoked?; Project or Repository settings "
            "→ HTTP access tokens), that it belongs to this project / repository, and its "
            "permission: 'Project read' (project token) or 'Repository read' (repository "
            "token) is what build status, Code Insights and the reviewer status need; a "
            "repository token cannot act on another repository"
        )


class DataCenterClient:
    """One Data Center instance's API client; close with ``aclose()`` or ``async with``."""

    def __init__(
        self,
        base_url: str,
        credentials: DataCenterCredentials,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        jitter: Callable[[], float] = random.random,
        budget: HourlyBudget | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.retry = retry or DC_RETRY
        # the credential's hourly request budget (the ``requests_per_hour`` setting; 0: none)
        self.budget = budget or HourlyBudget(0)
        self._jitter = jitter
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PlatformRequestError(
                f"{base_url!r} is not an http(s) URL",
                hint="set the Bitbucket Data Center base URL, e.g. https://git.example.com",
            )
        self._http = httpx.AsyncClient(
            headers={
                "Authorization": credentials.authorization(),
                "Accept": "application/json",
                "User-Agent": "jirahooks",
                # Data Center refuses state-changing requests without it when XSRF checks are on
                "X-Atlassian-Token": "no-check",
            },
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )
        self.requests_sent = 0
        self.rate_limit: RateLimit | None = None
        # the authenticated user's name as Data Center reports it (``X-AUSERNAME``)
        self.user_name = ""
        self.observer: Callable[[str, str, str, str], None] | None = None

    def __repr__(self) -> str:
        return f"DataCenterClient({self.base_url!r})"

    async def __aenter__(self) -> DataCenterClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @staticmethod
    def repo_path(project: str, repository: str, suffix: str = "", *, root: str = API) -> str:
        return (
            f"{root}/projects/{quote(project, safe='')}/repos/{quote(repository, safe='')}{suffix}"
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        allow: tuple[int, ...] = (),
    ) -> Any:
        """One request with retries; decoded JSON (``None`` for empty bodies or an ``allow``
        status, e.g. 404 when deleting a report that is not there)."""
        if "://" in path:
            raise PlatformRequestError("absolute URLs are not followed (credentials stay here)")
        url = self.base_url + path
        attempt = 0
        while True:
            attempt += 1
            after: float | None = None
            await within_budget(
                self.budget,
                self.retry,
                "Bitbucket Data Center",
                "requests_per_hour in its settings",
            )
            self.requests_sent += 1
            try:
                response = await self._http.request(method, url, params=params, json=json)
            except httpx.TransportError as exc:
                self._observe(method, path, "unreachable")
                error: PlatformError = PlatformUnavailable(
                    f"cannot reach Bitbucket Data Center at {self.base_url} ({type(exc).__name__})",
                    hint="check network, proxy, DNS and TLS; the work is retried later",
                )
                error.__cause__ = exc
                wait = self.retry.backoff(attempt, self._jitter())
            else:
                self._observe(method, path, str(response.status_code))
                limit = self._read_headers(response, method, path)
                if response.status_code in allow:
                    return None
                if response.status_code < 400:
                    return _decode(response)
                if response.status_code == 429 or response.status_code >= 500:
                    error = _error(response, method, path, self.credentials)
                    after = retry_after_seconds(response.headers)
                    if after is None and response.status_code == 429:
                        after = limit.reset_seconds
                    wait = self.retry.backoff(attempt, self._jitter()) if after is None else after
                else:
                    raise _error(response, method, path, self.credentials)
            if attempt >= self.retry.max_attempts or wait > self.retry.max_wait:
                if after is not None:
                    error.retry_after = after
                raise error
            log.info("bitbucket-dc %s %s: %s; retrying in %.2fs", method, path, error.message, wait)
            await asyncio.sleep(wait)

    def _read_headers(self, response: httpx.Response, method: str, path: str) -> RateLimit:
        user = (response.headers.get("x-ausername") or "").strip()
        if user:
            self.user_name = user[:255]
        limit = RateLimit.from_headers(response.headers)
        if limit.said:
            if limit.near_limit or limit.exhausted:
                log.warning(
                    "bitbucket-dc %s %s: rate limit nearly used up (limit %s, remaining %s)",
                    method,
                    path,
                    limit.limit,
                    limit.remaining,
                )
            self.rate_limit = limit
        return limit

    def _observe(self, method: str, path: str, outcome: str) -> None:
        if self.observer is not None:
            self.observer(urlsplit(self.base_url).netloc, method, path, outcome)

    async def paginate(
        self, path: str, *, params: Mapping[str, Any] | None = None, limit: int = 10_000
    ) -> AsyncIterator[dict[str, Any]]:
        """Every value of a paged collection (``start`` / ``nextPageStart`` / ``isLastPage``),
        at most ``limit``."""
        query: dict[str, Any] = {**(params or {}), "limit": PAGE_LIMIT}
        start = 0
        seen = 0
        while True:
            page: Any = await self.request("GET", path, params={**query, "start": start})
            page = page if isinstance(page, dict) else {}
            for value in page.get("values") or []:
                if isinstance(value, dict):
                    yield value
                    seen += 1
                    if seen >= limit:
                        return
            following = page.get("nextPageStart")
            if page.get("isLastPage", True) or not isinstance(following, int):
                return
            if following <= start:  # a server that does not move on would loop for ever
                raise PlatformRequestError(
                    f"Bitbucket Data Center paged {path} without moving on (nextPageStart "
                    f"{following} after start {start})"
                )
            start = following


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def error_text(response: httpx.Response) -> str:
    """``{"errors": [{"context", "message", "exceptionName"}]}`` → "message (context); …"."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return response.reason_phrase
    parts = []
    for item in errors[:3]:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message") or "").strip()
        context = item.get("context")
        parts.append(f"{message} ({context})" if context else message)
    return "; ".join(p for p in parts if p)[:500] or response.reason_phrase


def _error(
    response: httpx.Response, method: str, path: str, credentials: DataCenterCredentials
) -> PlatformError:
    status = response.status_code
    where = f"{method} {path.split('?', 1)[0]}"
    text = error_text(response)
    if status in (401, 403):
        return PlatformAuthError(
            f"Bitbucket Data Center rejected the credentials: {where} → {status} {text}",
            hint=credentials.auth_hint(),
            status=status,
        )
    if status == 429 or status >= 500:
        return PlatformUnavailable(
            f"Bitbucket Data Center is unavailable: {where} → {status} {text}",
            hint="rate limited or an outage; the work is retried later",
            status=status,
        )
    return PlatformRequestError(
        f"Bitbucket Data Center rejected {where}: {status} {text}",
        hint="see the message; the request was not retried",
        status=status,
    )
