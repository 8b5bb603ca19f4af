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

Secrets never appear in messages or ``repr``.
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
from typing import Any

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
from jirahooks.jira.budget import RequestBudget, budget_for
from jirahooks.retry import RetryPolicy, retry_after_seconds
from jirahooks.rules.config import ConnectionConfig, Deployment

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


def error_messages(data: Any) -> list[str]:
    """``{"errorMessages": [...], "errors": {field: msg}}`` → a flat list of messages."""
    if not isinstance(data, Mapping):
        return []
    messages = [str(m) for m in data.get("errorMessages") or [] if m]
    errors = data.get("errors")
    if isinstance(errors, Mapping):
        messages.extend(f"{k}: {v}" for k, v in errors.items())
    return messages


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
    ) -> None:
        self.config = config
        self.name = config.name
        # who asks Jira (answers depend on it): the user, or a digest of the PAT when there is none
        self.identity = (
            config.email or config.account_id or hashlib.sha256(secret.encode()).hexdigest()[:16]
        )
        self.base_url = config.url.rstrip("/")
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
        if self._secret:
            if self.config.email:
                raw = f"{self.config.email}:{self._secret}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
            else:
                headers["Authorization"] = f"Bearer {self._secret}"
        return headers

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
        url = self.base_url + path
        attempt = 0
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
            try:
                response = await self._http.request(
                    method, url, params=params, json=body, timeout=timeout
                )
            except httpx.TimeoutException as exc:
                error: JiraError = self._timeout_error(path, deadline=False)
                error.__cause__ = exc
            except httpx.TransportError as exc:
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
                self._check_auth(response)
                if response.status_code not in RETRY_STATUSES:
                    return self._decode(response, path)
                error = self._retryable_error(response, path)
                wait = retry_after_seconds(response.headers)
                if wait is not None and self.budget is not None:
                    self.budget.pause(wait)  # every evaluation of this user waits
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
            await self._sleep(wait)

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

    def _check_auth(self, response: httpx.Response) -> None:
        reason = response.headers.get("x-seraph-loginreason", "")
        rejected = any(r.strip() in SERAPH_FAILURES for r in reason.split(","))
        if response.status_code in (401, 403) or rejected:
            detail = f"HTTP {response.status_code}"
            if reason:
                detail += f", X-Seraph-LoginReason: {reason}"
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
