"""A small async client for the GitHub REST API as a GitHub App installation.

Authentication (docs/github.md, "Authentication"):

1. an **app JWT**: ``{"iat": now - 60, "exp": now + 540, "iss": app_id}`` signed RS256 with the
   App's private key (``cryptography``; PyJWT is not needed for one signature), sent as
   ``Authorization: Bearer <jwt>`` to ``/app…`` endpoints only;
2. an **installation access token** from ``POST /app/installations/{id}/access_tokens`` (valid
   one hour, ``expires_at``), sent as ``Authorization: Bearer <token>`` to every repository
   endpoint. It is kept until :data:`TOKEN_MARGIN` before ``expires_at``; concurrent requests
   share one refresh (single flight, an ``asyncio.Lock``), and a 401 on a repository endpoint
   (revoked or expired early) refreshes it once and repeats the request once;
3. the **installation** itself: the configured id, or — none configured, or GitHub no longer
   knows it (the App was uninstalled and installed again) — the one found with the App JWT from
   the repository being asked about, ``GET /repos/{owner}/{repo}/installation`` (without a
   repository: the owner's in ``GET /app/installations``), kept for the client's lifetime.

Rate limits: GitHub answers a primary limit with 403 or 429 and ``x-ratelimit-remaining: 0`` +
``x-ratelimit-reset`` (epoch seconds), a secondary limit with 403 or 429 and ``retry-after``
(seconds). Both are transient, not an auth failure: retried within the policy's ``max_wait``
(``jirahooks.retry``), else :class:`PlatformUnavailable` with ``retry_after`` so the queue
reschedules the work. While the last answer said the budget is spent, nothing is sent until its
reset. 5xx and transport errors are retried with backoff and jitter. Pagination follows ``Link:
<…>; rel="next"`` only while it stays on the configured API origin (credentials never leave it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from jirahooks.platforms.base import (
    PlatformAuthError,
    PlatformError,
    PlatformRequestError,
    PlatformUnavailable,
)
from jirahooks.retry import RetryPolicy

log = logging.getLogger("jirahooks.platforms.github")

API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
JWT_LIFETIME = 540  # GitHub accepts at most 10 minutes; 9 leaves room for clock drift
JWT_BACKDATE = 60  # "iat" a minute in the past, as GitHub recommends against clock drift
TOKEN_MARGIN = 300.0  # refresh an installation token 5 minutes before it expires
PER_PAGE = 100
GITHUB_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.5, backoff_cap=5.0, max_wait=5.0)
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_REPO_PATH = re.compile(r"/repos/([^/?#]+)/([^/?#]+)")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class GitHubAppCredentials:
    """A GitHub App's id (or client id), its PEM private key and the installation to act as.

    ``repr`` never shows the key."""

    app_id: str
    private_key: str = field(repr=False)
    installation_id: str

    def jwt(self, *, now: float | None = None) -> str:
        """The app JWT (RS256). Raises :class:`PlatformAuthError` for a key that is not an RSA
        private key in PEM."""
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        try:
            key = serialization.load_pem_private_key(self.private_key.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise PlatformAuthError(
                "the GitHub App private key cannot be read",
                hint="paste the .pem file GitHub generated for the App (-----BEGIN RSA PRIVATE "
                "KEY-----), unencrypted",
                code="GITHUB_APP_KEY_INVALID",
            ) from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise PlatformAuthError(
                "the GitHub App private key is not an RSA key",
                hint="GitHub App keys are RSA; generate one on the App's settings page",
                code="GITHUB_APP_KEY_INVALID",
            )
        issued = int(now if now is not None else time.time())
        header = {"alg": "RS256", "typ": "JWT"}
        claims = {
            "iat": issued - JWT_BACKDATE,
            "exp": issued + JWT_LIFETIME,
            "iss": str(self.app_id),
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)


@dataclass
class RateLimitState:
    """What GitHub's last ``x-ratelimit-*`` headers said."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # epoch seconds
    resource: str = ""

    def update(self, headers: Mapping[str, str]) -> None:
        def number(name: str) -> int | None:
            try:
                return int(headers.get(name, ""))
            except ValueError:
                return None

        if headers.get("x-ratelimit-remaining") is None:
            return
        self.limit = number("x-ratelimit-limit")
        self.remaining = number("x-ratelimit-remaining")
        reset = number("x-ratelimit-reset")
        self.reset = float(reset) if reset is not None else None
        self.resource = headers.get("x-ratelimit-resource", "")

    def wait(self, now: float) -> float:
        """Seconds until requests may go again (0: now)."""
        if self.remaining == 0 and self.reset is not None and self.reset > now:
            return self.reset - now
        return 0.0


def rate_limit_wait(response: httpx.Response, now: float) -> float | None:
    """Seconds GitHub asks us to wait when ``response`` is a rate-limit answer, else None.

    Secondary limits carry ``retry-after`` (or only say "secondary rate limit": a minute, as
    GitHub advises); primary ones ``x-ratelimit-remaining: 0`` and the reset time. A 403 with
    none of these is a permission problem, not a rate limit."""
    if response.status_code not in (403, 429):
        return None
    after = response.headers.get("retry-after", "").strip()
    if after:
        try:
            return max(0.0, float(after))
        except ValueError:
            pass
    if response.headers.get("x-ratelimit-remaining", "").strip() == "0":
        try:
            return max(0.0, float(response.headers.get("x-ratelimit-reset", "")) - now)
        except ValueError:
            return 60.0  # GitHub's advice without a reset: wait at least a minute
    if response.status_code == 429 or "rate limit" in response.text[:500].lower():
        return 60.0  # GitHub's advice for a secondary limit without retry-after: a minute
    return None


class GitHubClient:
    """One App installation's API client; open with ``async with`` or close with ``aclose()``."""

    def __init__(
        self,
        credentials: GitHubAppCredentials,
        *,
        base_url: str = API_URL,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        self.retry = retry or GITHUB_RETRY
        self._jitter = jitter
        # when a cached installation token counts as expired (tests move it; the JWT and the
        # rate-limit reset use the wall clock, as GitHub does)
        self._clock = clock
        self._origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.base_url))
        self._http = httpx.AsyncClient(
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": "jirahooks",
            },
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )
        # the account whose installation this is (the adapter's owner): finds the installation
        # when none is configured and no repository is at hand (the connection test)
        self.owner = ""
        self._installation = credentials.installation_id.strip()
        self._installation_found = False
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self.tokens_fetched = 0
        self.requests_sent = 0
        self.rate_limit = RateLimitState()
        # told about every HTTP attempt: (host, method, path, outcome) — the server's metrics
        self.observer: Callable[[str, str, str, str], None] | None = None

    def __repr__(self) -> str:
        return (
            f"GitHubClient({self.base_url!r}, app={self.credentials.app_id!r}, "
            f"installation={self.credentials.installation_id!r})"
        )

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the installation token -----------------------------------------------------------

    @property
    def installation_id(self) -> str:
        """The installation acted as: the configured one, or the one found (``""``: not yet)."""
        return self._installation

    async def installation_token(self, *, stale: str | None = None, url: str = "") -> str:
        """The cached installation token, fetched when missing or about to expire. ``stale``:
        a token GitHub just refused — refreshed unless another request already replaced it.
        ``url``: the request that needs it; its repository finds the installation when none is
        configured or the configured one is gone (404)."""
        async with self._token_lock:
            now = self._clock()
            if (
                self._token is not None
                and self._token != stale
                and now < self._token_expires - TOKEN_MARGIN
            ):
                return self._token
            if not self._installation:
                self._installation = await self.find_installation(url)
                self._installation_found = True
            path = f"/app/installations/{self._installation}/access_tokens"
            data = await self.request("POST", path, app_auth=True, allow=(404,))
            if data is None and not self._installation_found:
                # the configured installation is gone (uninstalled, installed again): the
                # App's installation on this account now, once
                gone = self._installation
                self._installation = await self.find_installation(url)
                self._installation_found = True
                log.warning(
                    "github: installation %s is gone; acting as installation %s (found from "
                    "the account) — update installation_id in the settings",
                    gone,
                    self._installation,
                )
                path = f"/app/installations/{self._installation}/access_tokens"
                data = await self.request("POST", path, app_auth=True, allow=(404,))
            if data is None:
                raise PlatformAuthError(
                    f"GitHub knows no installation {self._installation} of App "
                    f"{self.credentials.app_id}",
                    hint="install the App on the account (or check app_id); leave "
                    "installation_id empty to have it found",
                    code="GITHUB_INSTALLATION_MISSING",
                    status=404,
                )
            token = (data or {}).get("token") if isinstance(data, dict) else None
            if not isinstance(token, str) or not token:
                raise PlatformAuthError(
                    "GitHub answered the installation token request without a token",
                    hint="check the App id and installation id",
                    code="GITHUB_TOKEN_MISSING",
                )
            self._token = token
            self._token_expires = _expiry(data.get("expires_at"), now)
            self.tokens_fetched += 1
            return token

    async def find_installation(self, url: str = "") -> str:
        """The App's installation that covers the repository in ``url`` (``GET /repos/{owner}/
        {repo}/installation`` with the App JWT), else the installation on :attr:`owner`'s
        account (``GET /app/installations``). Raises :class:`PlatformAuthError` when the App is
        not installed there."""
        found = _REPO_PATH.match(urlsplit(url).path[len(urlsplit(self.base_url).path) :])
        if found is not None:
            data = await self.request(
                "GET", f"/repos/{found[1]}/{found[2]}/installation", app_auth=True, allow=(404,)
            )
            where = f"the repository {found[1]}/{found[2]}"
        elif self.owner:
            data = await self._owner_installation(self.owner)
            where = f"the account {self.owner}"
        else:
            raise PlatformAuthError(
                "no GitHub App installation is configured and no repository names one",
                hint="set installation_id (the number at the end of the installation's "
                "settings URL), or the owner",
                code="GITHUB_INSTALLATION_MISSING",
            )
        number = data.get("id") if isinstance(data, dict) else None
        if not isinstance(number, int) or isinstance(number, bool):
            raise PlatformAuthError(
                f"the GitHub App {self.credentials.app_id} is not installed on {where}",
                hint="install the App on the account (all or selected repositories) and "
                "include the repository",
                code="GITHUB_INSTALLATION_MISSING",
                status=404,
            )
        log.info("github: %s is in installation %s", where, number)
        return str(number)

    async def _owner_installation(self, owner: str) -> dict[str, Any] | None:
        page = 1
        while True:
            items = await self.request(
                "GET",
                "/app/installations",
                params={"per_page": PER_PAGE, "page": page},
                app_auth=True,
            )
            for item in items if isinstance(items, list) else []:
                account = item.get("account") if isinstance(item, dict) else None
                login = account.get("login") if isinstance(account, dict) else None
                if isinstance(login, str) and login.lower() == owner.lower():
                    found: dict[str, Any] = item
                    return found
            if not isinstance(items, list) or len(items) < PER_PAGE:
                return None
            page += 1

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
        app_auth: bool = False,
    ) -> Any:
        """Decoded JSON of one request (``None`` for an empty body or a status in ``allow``)."""
        response = await self.send(
            method, path_or_url, params=params, json=json, allow=allow, app_auth=app_auth
        )
        if response is None or response.status_code in allow:
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
        app_auth: bool = False,
    ) -> httpx.Response | None:
        """One request with retries; the response (its status < 400 or in ``allow``)."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        if not url.startswith(self._origin + "/"):
            raise PlatformRequestError(
                f"refusing to send credentials to {urlsplit(url).netloc}",
                hint="a pagination link left the GitHub API origin",
            )
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            after: float | None = None
            await self._within_rate_limit()
            if app_auth:
                authorization = "Bearer " + self.credentials.jwt()
                token = None
            else:
                token = await self.installation_token(url=url)
                authorization = "Bearer " + token
            self.requests_sent += 1
            try:
                response = await self._http.request(
                    method, url, params=params, json=json, headers={"Authorization": authorization}
                )
            except httpx.TransportError as exc:
                self._observe(method, url, "unreachable")
                error: PlatformError = PlatformUnavailable(
                    f"cannot reach GitHub at {self._origin} ({type(exc).__name__})",
                    hint="check network, proxy and DNS; the work is retried later",
                )
                error.__cause__ = exc
                wait = self._backoff(attempt)
            else:
                self._observe(method, url, str(response.status_code))
                self.rate_limit.update(response.headers)
                status = response.status_code
                if status in allow or status < 400:
                    return response
                if status == 401 and token is not None and not refreshed:
                    # revoked or expired before its time: one new token, the request once more
                    refreshed = True
                    attempt -= 1
                    await self.installation_token(stale=token)
                    continue
                after = rate_limit_wait(response, time.time())
                if after is not None or status >= 500:
                    error = _error(response, method, url, rate_limited=after is not None)
                    wait = self._backoff(attempt) if after is None else after
                else:
                    raise _error(response, method, url, app_auth=app_auth)
            if attempt >= self.retry.max_attempts or wait > self.retry.max_wait:
                if after is not None:
                    error.retry_after = after  # the queue reschedules the work then
                raise error
            log.info("github %s %s: %s; retrying in %.2fs", method, url, error.message, wait)
            await asyncio.sleep(wait)

    async def _within_rate_limit(self) -> None:
        wait = self.rate_limit.wait(time.time())
        if wait > self.retry.max_wait:
            raise PlatformUnavailable(
                f"the GitHub rate limit ({self.rate_limit.limit} per hour) is used up",
                hint="the work is retried after GitHub's reset time",
                retry_after=wait,
            )
        if wait > 0:
            await asyncio.sleep(wait)

    def _observe(self, method: str, url: str, outcome: str) -> None:
        if self.observer is not None:
            self.observer(urlsplit(url).netloc, method, urlsplit(url).path, outcome)

    async def paginate(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        limit: int = 10_000,
        items: Callable[[Any], Any] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paginated list (``Link: rel="next"``), at most ``limit``. ``items``
        picks the list out of a page that is an object (``compare``'s ``commits``)."""
        query: Mapping[str, Any] | None = {"per_page": PER_PAGE, **(params or {})}
        url = path
        seen = 0
        while True:
            response = await self.send("GET", url, params=query)
            page = _decode(response) if response is not None else None
            values = items(page) if items is not None else page
            for value in values if isinstance(values, list) else []:
                if isinstance(value, dict):
                    yield value
                    seen += 1
                    if seen >= limit:
                        return
            found = _LINK_NEXT.search(response.headers.get("link", "")) if response else None
            if found is None:
                return
            url, query = found.group(1), None  # the next link carries the query


def _expiry(value: Any, now: float) -> float:
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return now + 3600.0  # GitHub's documented lifetime


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def error_text(response: httpx.Response) -> str:
    """``{"message": …, "errors": [...]}`` → "message (first error)"."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if not isinstance(data, dict):
        return response.reason_phrase
    message = str(data.get("message") or response.reason_phrase)
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        detail = first.get("message") or first.get("code") if isinstance(first, dict) else first
        if detail:
            return f"{message} ({detail})"
    return message


def _error(
    response: httpx.Response,
    method: str,
    url: str,
    *,
    rate_limited: bool = False,
    app_auth: bool = False,
) -> PlatformError:
    status = response.status_code
    where = f"{method} {urlsplit(url).path}"
    text = error_text(response)
    if rate_limited:
        return PlatformUnavailable(
            f"GitHub rate limit: {where} → {status} {text}",
            hint="the work is retried when GitHub's limit allows",
            status=status,
        )
    if status >= 500:
        return PlatformUnavailable(
            f"GitHub is unavailable: {where} → {status} {text}",
            hint="a GitHub outage; the work is retried later",
            status=status,
        )
    if status in (401, 403):
        hint = (
            "check the App id and private key, and that the App is installed (installation id)"
            if app_auth or status == 401
            else "the App lacks a permission for this request: see docs/github.md, "
            "'Permissions', and accept the new permissions on the installation"
        )
        return PlatformAuthError(
            f"GitHub rejected the App's credentials: {where} → {status} {text}",
            hint=hint,
            status=status,
        )
    return PlatformRequestError(
        f"GitHub rejected {where}: {status} {text}",
        hint="see the message; the request was not retried",
        status=status,
    )
