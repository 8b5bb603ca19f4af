"""HTTP transport for one Jira connection: auth, retries, deadlines, and honest errors.

``JiraClient`` sends one logical request and either returns decoded JSON or raises a
``JiraError`` whose ``code`` is one of the connection-problem codes:

* ``JIRA_AUTH_REJECTED`` — 401/403, or ``X-Seraph-LoginReason: AUTHENTICATED_FAILED`` /
  ``AUTHENTICATION_DENIED`` on *any* response (Jira may answer 200 anonymously with bad
  credentials; without this check a rejected token would look like "issue not found");
* ``JIRA_RATE_LIMITED`` — 429 still failing after the retries the deadline allowed;
* ``JIRA_UNAVAILABLE`` — connection refused, 5xx;
* ``JIRA_TIMEOUT`` — a request timed out or the evaluation's deadline is spent;
* ``JIRA_BAD_RESPONSE`` — HTML or other non-JSON answers (login pages, proxies), broken JSON;
* ``JIRA_REQUEST_REJECTED`` — Jira refused the request itself (4xx with ``errorMessages``).

429 and 503 are retried: ``Retry-After`` is honoured exactly (retrying early only lengthens
the wait), otherwise exponential backoff with jitter. A wait that would overrun the deadline is
not started: the error is raised at once so the caller can report within its budget.

Credentials (``jirahooks.jira.auth``): Basic for ``api_token``/``scoped_api_token``/``basic``,
Bearer for ``pat`` and for OAuth 2.0 client credentials, whose access token comes from the
process's ``TokenCache``; a 401 on an OAuth token refreshes it exactly once and repeats the
request. Gateway kinds send requests to ``api.atlassian.com/ex/jira/{cloudId}`` (the cloudId
read once from the site's ``/_edge/tenant_info`` when not configured); ``base_url`` stays the
site URL (browse links, cache namespaces).

A rejected credential is told apart from what Jira says: ``TOKEN_EXPIRED`` (the answer says
expired), ``TOKEN_REVOKED`` (revoked, or blocked by the organisation's policy),
``JIRA_SCOPE_MISSING`` (the gateway's "scope does not match", or the token endpoint's
``invalid_scope``), ``OAUTH_CLIENT_REJECTED`` (the token endpoint's ``invalid_client``), else
``JIRA_AUTH_REJECTED``.

Rate limits: ``Retry-After``, ``X-RateLimit-Reset`` and ``RateLimit-Reset`` are read on every
answer, for every credential kind; an answer that says no request is left
(``X-RateLimit-Remaining``/``RateLimit-Remaining: 0``) pauses the technical user's budget until
the reset, before Jira starts answering 429. Requests in flight to one Jira instance are bounded
by ``max_concurrency`` across every client of this process (``instance_slots``), not only per
client.

Secrets never appear in messages or ``repr``.

An optional ``observer`` (the server's metrics, ``jirahooks.server.metrics``) hears about every
HTTP attempt and every wait between attempts; the client itself imports nothing for it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from jirahooks import __version__
from jirahooks.errors import (
    ConfigError,
    ConfigProblem,
    JiraAuthError,
    JiraError,
    JiraRequestError,
    JiraUnavailable,
)
from jirahooks.jira import auth
from jirahooks.jira.auth import error_messages, rate_limit_exhausted, rate_limit_wait
from jirahooks.jira.budget import RequestBudget, budget_for
from jirahooks.retry import RetryPolicy
from jirahooks.rules.config import AuthKind, ConnectionConfig, Deployment

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

SERAPH_FAILURES = frozenset({"AUTHENTICATED_FAILED", "AUTHENTICATION_DENIED"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})


class Deadline:
    """A time budget on a monotonic clock, shared by every request of one evaluation."""

    def __init__(self, seconds: float | None, *, clock: Clock = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._expires_at = None if seconds is None else clock() + seconds

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None when there is no deadline."""
        if self._expires_at is None:
            return None
        return max(0.0, self._expires_at - self._clock())

    @property
    def expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0


NO_DEADLINE = Deadline(None)


class JiraHttpError(JiraRequestError):
    """Jira rejected a request with a 4xx status; ``messages`` are Jira's ``errorMessages``."""

    def __init__(
        self, message: str, *, status: int, messages: list[str], connection: str, hint: str = ""
    ) -> None:
        super().__init__(message, hint=hint, connection=connection)
        self.status = status
        self.messages = messages


class HealthObserver(Protocol):
    """Told when a connection's credentials worked (``ok``) or were rejected (``failed``): the
    server records the last successful use and flags a connection that started failing."""

    def ok(self, connection: str) -> None: ...

    def failed(self, connection: str, error: JiraError) -> None: ...

    # Optional (looked up with getattr, older observers lack it): ``cloud_id_found(connection,
    # cloud_id)`` — the gateway's cloudId was discovered at runtime for a connection that did
    # not name one; the server stores it with the connection (once).


_SLOTS: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Semaphore, int]] = {}


def instance_slots(url: str, size: int) -> asyncio.Semaphore:
    """The process-wide bound on requests in flight to the Jira at ``url`` (per event loop)."""
    loop = asyncio.get_running_loop()
    size = max(1, size)
    found = _SLOTS.get(url)
    if found is None or found[0] is not loop or found[2] != size:
        found = _SLOTS[url] = (loop, asyncio.Semaphore(size), size)
    return found[1]


class RequestObserver(Protocol):
    """Told about each HTTP attempt (``outcome``: ok, 4xx, 5xx, 429, timeout, unreachable) and
    each wait before a retry (``reason``: retry_after or backoff)."""

    def request(self, connection: str, path: str, outcome: str, seconds: float) -> None: ...

    def waited(self, connection: str, seconds: float, reason: str) -> None: ...


def outcome_of(status: int) -> str:
    if status == 429:
        return "429"
    if status >= 500:
        return "5xx"
    return "4xx" if status >= 400 else "ok"


@dataclass
class RequestStats:
    """Requests sent by one client (HTTP attempts, retries included)."""

    requests: int = 0
    retries: int = 0
    by_path: dict[str, int] = field(default_factory=dict)


class JiraClient:
    """An async client for one Jira connection (Cloud or Data Center).

    Cloud authenticates with Basic ``email:api_token``; Data Center with a personal access token
    as ``Authorization: Bearer`` (used whenever no e-mail is configured). The deployment comes
    from the configuration or is detected once from ``/rest/api/2/serverInfo`` (served by both).

    Connections are pooled for as long as a ``session()`` is open (``async with client:`` keeps
    one open until ``aclose()``); concurrent sessions share the pool.
    """

    def __init__(
        self,
        config: ConnectionConfig,
        *,
        secret: str,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        jitter: Callable[[], float] = random.random,
        observer: RequestObserver | None = None,
        client_secret: str = "",
        health: HealthObserver | None = None,
        tokens: auth.TokenCache | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.observer = observer
        self.health = health
        self.kind = auth.effective_kind(config)
        # who asks Jira (answers depend on it): the user, the OAuth client, or a PAT's digest
        self.identity = (
            config.email
            or config.account_id
            or (config.client_id if self.kind is AuthKind.OAUTH_CLIENT_CREDENTIALS else "")
            or hashlib.sha256(secret.encode()).hexdigest()[:16]
        )
        self.base_url = config.url.rstrip("/")  # the site: browse links, cache namespaces
        self.cloud_id = config.cloud_id
        # where requests go: the site, or the gateway once the cloudId is known
        self.api_url = "" if auth.uses_gateway(config) else self.base_url
        if self.api_url == "" and self.cloud_id:
            self.api_url = auth.gateway_base(config, self.cloud_id)
        self._client_secret = client_secret
        self._tokens = tokens
        self._access = auth.AccessToken()
        self.token_refreshes = 0
        self.retry = retry or RetryPolicy()
        self.stats = RequestStats()
        self.budget: RequestBudget | None = None
        if config.budget_per_minute > 0:
            self.budget = budget_for(self.base_url + "\0" + self.identity, config.budget_per_minute)
        self._secret = secret
        self._transport = transport
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._deployment: Deployment | None = (
            None if config.deployment == Deployment.AUTO else Deployment(config.deployment)
        )
        if auth.uses_gateway(config):
            self._deployment = Deployment.CLOUD  # the gateway serves only Cloud sites
        self._verify = self._tls_context()
        self._http: httpx.AsyncClient | None = None
        self._users = 0
        self._pinned = False
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"JiraClient(name={self.name!r}, url={self.base_url!r})"

    # -- sessions -------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext | bool:
        """A context trusting ``ca_bundle`` (self-signed / in-house CAs), loaded now so a bad
        path fails when the resolver is built, not in the middle of an evaluation."""
        if not self.config.ca_bundle:
            return True
        try:
            return ssl.create_default_context(cafile=self.config.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                [
                    ConfigProblem(
                        f"connections[{self.name}].ca_bundle",
                        f"cannot load the CA bundle {self.config.ca_bundle}: {exc}",
                        "a PEM file with the certificate(s) of the CA that signed Jira's",
                    )
                ]
            ) from exc

    def _headers(self) -> dict[str, str]:
        headers = {
            "Accept": "application/json",
            "User-Agent": f"jirahooks/{__version__}",
            "X-Atlassian-Token": "no-check",
        }
        if self.kind is AuthKind.OAUTH_CLIENT_CREDENTIALS:
            return headers  # the access token is set per request (it is refreshed)
        if self._secret:
            if self.kind in auth.NEEDS_USER and self.config.email:
                raw = f"{self.config.email}:{self._secret}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
            else:
                headers["Authorization"] = f"Bearer {self._secret}"
        return headers

    # -- credentials that need a request first ------------------------------------------------

    async def prepare(self, deadline: Deadline) -> None:
        """The gateway's cloudId (gateway kinds) and an access token (OAuth), once."""
        if not self.api_url:
            if not self.cloud_id:
                self.cloud_id = await self.discover_cloud_id(deadline)
                found = getattr(self.health, "cloud_id_found", None)
                if found is not None:  # the server stores it: export and the UI show it
                    found(self.name, self.cloud_id)
            self.api_url = auth.gateway_base(self.config, self.cloud_id)
        if self.kind is AuthKind.OAUTH_CLIENT_CREDENTIALS and not self._access.fresh(time.time()):
            self._access = await self._token(deadline=deadline)

    async def discover_cloud_id(self, deadline: Deadline = NO_DEADLINE) -> str:
        """The site's cloudId from ``<site>/_edge/tenant_info`` (anonymous), kept per site."""
        known = auth.CLOUD_IDS.get(self.base_url)
        if known:
            return known
        assert self._http is not None
        url = self.base_url + auth.TENANT_INFO_PATH
        try:
            response = await self._send_anonymous("GET", url, self._timeout(deadline))
            data = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError) as exc:
            raise self._no_cloud_id(type(exc).__name__) from exc
        cloud_id = str(data.get("cloudId") or "") if isinstance(data, Mapping) else ""
        if not cloud_id:
            raise self._no_cloud_id(f"HTTP {response.status_code}")
        auth.CLOUD_IDS[self.base_url] = cloud_id
        return cloud_id

    async def _send_anonymous(
        self, method: str, url: str, timeout: float, **kwargs: Any
    ) -> httpx.Response:
        """A request without the connection's credentials (tenant_info, the token endpoint)."""
        assert self._http is not None
        request = self._http.build_request(method, url, timeout=timeout, **kwargs)
        request.headers.pop("Authorization", None)
        return await self._http.send(request)

    def _no_cloud_id(self, why: str) -> JiraError:
        return JiraUnavailable(
            f"Jira connection '{self.name}': cannot read the site's cloudId from "
            f"{self.base_url}{auth.TENANT_INFO_PATH} ({why})",
            hint="scoped API tokens and service-account OAuth go through api.atlassian.com, "
            "which needs the site's cloudId: check the URL is the Cloud site "
            "(https://<site>.atlassian.net), or set the connection's cloud_id",
            code="JIRA_CLOUD_ID_UNKNOWN",
            connection=self.name,
        )

    def _timeout(self, deadline: Deadline) -> float:
        remaining = deadline.remaining()
        timeout = self.config.timeout_seconds
        return timeout if remaining is None else max(0.001, min(timeout, remaining))

    async def _token(
        self, rejected: str = "", deadline: Deadline = NO_DEADLINE
    ) -> auth.AccessToken:
        url = auth.token_url(self.config)
        scope = auth.scopes(self.config)
        key = auth.credential_key(url, self.config.client_id, scope, self._client_secret)
        cache = self._tokens or auth.token_cache()
        return await cache.token(
            key, lambda: self._fetch_token(url, scope, deadline), rejected=rejected
        )

    async def _fetch_token(self, url: str, scope: str, deadline: Deadline) -> auth.AccessToken:
        """``_fetch_token_once``, retried like Jira requests when the authorization server is
        unreachable, overloaded or rate-limiting (``Retry-After`` honoured), within the
        deadline of the request that needs the token."""
        attempt = 0
        while True:
            attempt += 1
            if deadline.expired:
                raise self._timeout_error("the OAuth token endpoint", deadline=True)
            try:
                return await self._fetch_token_once(url, scope, self._timeout(deadline))
            except JiraUnavailable as exc:
                if attempt >= self.retry.max_attempts:
                    raise
                wait = exc.retry_after if isinstance(exc, auth.TokenEndpointUnavailable) else None
                wait = self._backoff(attempt) if wait is None else wait
                remaining = deadline.remaining()
                if wait > self.retry.max_wait or (remaining is not None and wait >= remaining):
                    raise
                self.stats.retries += 1
                if self.observer is not None:
                    self.observer.waited(self.name, wait, "backoff")
                await self._sleep(wait)

    async def _fetch_token_once(self, url: str, scope: str, timeout: float) -> auth.AccessToken:
        """POST the client credentials (Cloud: JSON, as Atlassian's examples; Data Center:
        form-encoded, as its docs) and read ``access_token``/``expires_in``."""
        assert self._http is not None
        fields = {
            "grant_type": "client_credentials",
            "client_id": self.config.client_id,
            "client_secret": self._client_secret,
        }
        if scope:
            fields["scope"] = scope
        send: dict[str, Any] = (
            {"data": fields} if auth.is_datacenter(self.config) else {"json": fields}
        )
        sent = time.perf_counter()
        try:
            response = await self._send_anonymous("POST", url, timeout, **send)
        except httpx.TimeoutException as exc:
            self._observe("oauth/token", "timeout", sent)
            raise self._timeout_error("the OAuth token endpoint", deadline=False) from exc
        except httpx.TransportError as exc:
            self._observe("oauth/token", "unreachable", sent)
            raise JiraUnavailable(
                f"Jira connection '{self.name}': cannot reach the OAuth token endpoint {url} "
                f"({type(exc).__name__})",
                hint="check the token URL, DNS, proxy and firewall",
                connection=self.name,
            ) from exc
        self._observe("oauth/token", outcome_of(response.status_code), sent)
        return auth.token_from_answer(response, self.config)

    def _open(self) -> httpx.AsyncClient:
        limits = httpx.Limits(
            max_connections=max(1, self.config.max_concurrency),
            max_keepalive_connections=max(1, self.config.max_concurrency),
        )
        return httpx.AsyncClient(
            headers=self._headers(),
            timeout=self.config.timeout_seconds,
            limits=limits,
            verify=self._verify,
            transport=self._transport,
            follow_redirects=False,
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[JiraClient]:
        """Keep one connection pool open for the requests inside the block."""
        if self._http is None:
            self._http = self._open()
        self._users += 1
        try:
            yield self
        finally:
            self._users -= 1
            if self._users == 0 and not self._pinned and self._http is not None:
                http, self._http = self._http, None
                await http.aclose()

    async def __aenter__(self) -> JiraClient:
        if self._http is None:
            self._http = self._open()
        self._pinned = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._pinned = False
        if self._http is not None and self._users == 0:
            http, self._http = self._http, None
            await http.aclose()

    # -- requests -------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return self.retry.backoff(attempt, self._jitter())

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        deadline: Deadline = NO_DEADLINE,
    ) -> Any:
        """Send one request (retrying as the module docstring says); return decoded JSON."""
        async with self.session():
            return await self._request(method, path, params, json, deadline)

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        deadline: Deadline,
    ) -> Any:
        assert self._http is not None
        try:
            await self.prepare(deadline)
        except JiraAuthError as exc:
            if self.health is not None:
                self.health.failed(self.name, exc)
            raise
        url = self.api_url + path
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            remaining = deadline.remaining()
            if remaining is not None and remaining <= 0:
                raise self._timeout_error(path, deadline=True)
            if self.budget is not None and not await self.budget.acquire(remaining):
                raise self._budget_error()
            remaining = deadline.remaining()
            timeout = self.config.timeout_seconds
            if remaining is not None:
                timeout = max(0.001, min(timeout, remaining))
            self.stats.requests += 1
            self.stats.by_path[path] = self.stats.by_path.get(path, 0) + 1
            wait: float | None = None
            sent = time.perf_counter()
            headers = None
            sent_token = self._access.value  # what a 401 rejects (others may refresh meanwhile)
            if self.kind is AuthKind.OAUTH_CLIENT_CREDENTIALS:
                headers = {"Authorization": f"Bearer {sent_token}"}
            try:
                async with instance_slots(self.api_url, self.config.max_concurrency):
                    response = await self._http.request(
                        method, url, params=params, json=body, timeout=timeout, headers=headers
                    )
            except httpx.TimeoutException as exc:
                self._observe(path, "timeout", sent)
                error: JiraError = self._timeout_error(path, deadline=False)
                error.__cause__ = exc
            except httpx.TransportError as exc:
                self._observe(path, "unreachable", sent)
                untrusted = "CERTIFICATE_VERIFY_FAILED" in str(exc)
                error = JiraUnavailable(
                    f"Jira connection '{self.name}': cannot reach {self.base_url} "
                    f"({'certificate not trusted' if untrusted else type(exc).__name__})",
                    hint="set the connection's ca_bundle to the PEM file of the CA that signed "
                    "Jira's certificate"
                    if untrusted
                    else "check the URL, DNS, proxy and firewall; is Jira up?",
                    connection=self.name,
                )
                error.__cause__ = exc
            else:
                self._observe(path, outcome_of(response.status_code), sent)
                if (
                    response.status_code == 401
                    and self.kind is AuthKind.OAUTH_CLIENT_CREDENTIALS
                    and not refreshed
                ):
                    # the access token expired early or was revoked: one refresh, then again
                    refreshed = True
                    self.token_refreshes += 1
                    try:
                        self._access = await self._token(rejected=sent_token, deadline=deadline)
                    except JiraAuthError as exc:
                        if self.health is not None:
                            self.health.failed(self.name, exc)
                        raise
                    attempt -= 1
                    continue
                try:
                    self._check_auth(response, path)
                except JiraAuthError as exc:
                    if self.health is not None:
                        self.health.failed(self.name, exc)
                    raise
                self._note_rate_limit(response)
                if response.status_code not in RETRY_STATUSES:
                    decoded = self._decode(response, path)
                    if self.health is not None:
                        self.health.ok(self.name)
                    return decoded
                error = self._retryable_error(response, path)
                wait = rate_limit_wait(response.headers)
                if wait is not None and self.budget is not None:
                    self.budget.pause(wait)  # every evaluation of this user waits
            reason = "backoff" if wait is None else "retry_after"
            if wait is None:
                wait = self._backoff(attempt)
            if attempt >= self.retry.max_attempts:
                raise error
            remaining = deadline.remaining()
            if remaining is not None and wait >= remaining:
                error.hint = (
                    f"Jira asked to wait {wait:.1f}s but only {remaining:.1f}s of the deadline "
                    f"were left; {error.hint}"
                )
                raise error
            self.stats.retries += 1
            if self.observer is not None:
                self.observer.waited(self.name, wait, reason)
            await self._sleep(wait)

    def _observe(self, path: str, outcome: str, sent: float) -> None:
        if self.observer is not None:
            self.observer.request(self.name, path, outcome, time.perf_counter() - sent)

    def _budget_error(self) -> JiraError:
        assert self.budget is not None
        return JiraError(
            f"Jira connection '{self.name}': the request budget of {self.budget.per_minute} "
            "per minute for its technical user is spent",
            hint="the keys are undetermined and the Jira-unreachable policy applies; raise "
            "budget_per_minute (within Jira's rate limits) or lower the cache's misses",
            code="JIRA_RATE_LIMITED",
            connection=self.name,
        )

    def _timeout_error(self, path: str, *, deadline: bool) -> JiraUnavailable:
        what = "the evaluation's deadline was reached" if deadline else "a request timed out"
        return JiraUnavailable(
            f"Jira connection '{self.name}' did not answer in time: {what} ({path})",
            hint="Jira is slow or unreachable; raise timeout_seconds or the deadline if this "
            "persists",
            code="JIRA_TIMEOUT",
            connection=self.name,
        )

    def _note_rate_limit(self, response: httpx.Response) -> None:
        """An answer that says the window is spent pauses this user's budget until its reset."""
        if self.budget is None or response.status_code == 429:
            return
        if rate_limit_exhausted(response.headers):
            wait = rate_limit_wait(response.headers)
            if wait:
                self.budget.pause(wait)

    def _check_auth(self, response: httpx.Response, path: str = "") -> None:
        reason = response.headers.get("x-seraph-loginreason", "")
        rejected = any(r.strip() in SERAPH_FAILURES for r in reason.split(","))
        if response.status_code in (401, 403) or rejected:
            detail = f"HTTP {response.status_code}"
            if reason:
                detail += f", X-Seraph-LoginReason: {reason}"
            said = auth.rejection(response, path, self.config, detail)
            if said is not None:
                raise said
            if "AUTHENTICATION_DENIED" in reason:
                hint = (
                    "too many failed logins: Jira now demands a CAPTCHA; log in once in a browser "
                    f"as this user, then fix the token ({self.config.token_label})"
                )
            else:
                hint = (
                    f"token rejected — rotate it: create a new API token / personal access "
                    f"token for the connection's user and update {self.config.token_label}"
                )
            raise JiraAuthError(
                f"Jira connection '{self.name}' rejected the credentials ({detail})",
                hint=hint,
                connection=self.name,
            )

    def _retryable_error(self, response: httpx.Response, path: str) -> JiraError:
        status = response.status_code
        if status == 429:
            return JiraUnavailable(
                f"Jira connection '{self.name}' is rate-limiting requests (HTTP 429, {path})",
                hint="Jira's rate limit was hit; the answer came too late for this evaluation",
                code="JIRA_RATE_LIMITED",
                connection=self.name,
            )
        return JiraUnavailable(
            f"Jira connection '{self.name}' is unavailable (HTTP {status}, {path})",
            hint="Jira or a proxy in front of it is down or overloaded; retry later",
            connection=self.name,
        )

    def _decode(self, response: httpx.Response, path: str) -> Any:
        status = response.status_code
        content_type = response.headers.get("content-type", "")
        if status == 204:
            return None
        if "json" not in content_type.lower():
            raise JiraUnavailable(
                f"Jira connection '{self.name}' answered HTTP {status} with "
                f"'{content_type.split(';')[0] or 'no content type'}' instead of JSON ({path})",
                hint="a login page, SSO or proxy is answering: check the URL (with the context "
                "path) and that the token is accepted",
                code="JIRA_BAD_RESPONSE",
                connection=self.name,
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise JiraUnavailable(
                f"Jira connection '{self.name}' sent broken JSON (HTTP {status}, {path})",
                hint="a proxy may be truncating answers",
                code="JIRA_BAD_RESPONSE",
                connection=self.name,
            ) from exc
        if 200 <= status < 300:
            return data
        messages = error_messages(data)
        text = "; ".join(messages) or "no error message"
        if status >= 500:
            raise JiraUnavailable(
                f"Jira connection '{self.name}' failed (HTTP {status}, {path}): {text}",
                hint="a Jira server error; retry later or ask the Jira admin",
                connection=self.name,
            )
        raise JiraHttpError(
            f"Jira connection '{self.name}' rejected the request (HTTP {status}, {path}): {text}",
            status=status,
            messages=messages,
            connection=self.name,
        )

    # -- connection facts -----------------------------------------------------------------

    async def server_info(self, deadline: Deadline = NO_DEADLINE) -> dict[str, Any]:
        """``/rest/api/2/serverInfo`` (both deployments; anonymous — not an auth check)."""
        data = await self.request("GET", "/rest/api/2/serverInfo", deadline=deadline)
        return data if isinstance(data, dict) else {}

    async def deployment(self, deadline: Deadline = NO_DEADLINE) -> Deployment:
        """The configured deployment, or the one detected (once) from serverInfo."""
        if self._deployment is not None:
            return self._deployment
        async with self._lock:
            if self._deployment is None:
                info = await self.server_info(deadline)
                kind = str(info.get("deploymentType", "")).lower()
                self._deployment = Deployment.CLOUD if kind == "cloud" else Deployment.DATACENTER
        return self._deployment

    @property
    def deployment_configured(self) -> bool:
        return self.config.deployment != Deployment.AUTO

    async def myself(self, deadline: Deadline = NO_DEADLINE) -> dict[str, Any]:
        """The account the credentials belong to (401 → ``JiraAuthError``)."""
        version = "3" if await self.deployment(deadline) == Deployment.CLOUD else "2"
        data = await self.request("GET", f"/rest/api/{version}/myself", deadline=deadline)
        return data if isinstance(data, dict) else {}
