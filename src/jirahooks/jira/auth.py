"""How a Jira connection authenticates: the five credential kinds, the Atlassian API gateway,
and OAuth 2.0 client-credentials access tokens (fetched once, cached, refreshed single-flight).

Kinds (``ConnectionConfig.auth``; docs/jira.md says how to create each credential):

* ``api_token`` — Jira Cloud, a personal API token: Basic ``email:token`` to the site URL;
* ``scoped_api_token`` — Jira Cloud, a scoped API token (service accounts can only hold these):
  Basic ``email:token``, but only through the gateway ``https://api.atlassian.com/ex/jira/
  {cloudId}`` (the site URL answers 401 to a scoped token); the ``cloudId`` is read once from
  ``https://<site>/_edge/tenant_info`` when the connection does not name it;
* ``oauth_client_credentials`` — a service account's OAuth 2.0 client credentials: Cloud posts
  them (JSON) to ``https://auth.atlassian.com/oauth/token`` and calls the gateway; Data Center
  (``deployment: datacenter``) posts them (form-encoded) to ``<base>/rest/oauth2/latest/token``
  and calls the base URL; either way ``Authorization: Bearer <access token>``;
* ``pat`` — Data Center personal access token: ``Authorization: Bearer <PAT>``;
* ``basic`` — Data Center user name + password (Jira 11 turns basic auth off by default):
  accepted, and every connection test warns about it;
* ``auto`` (the default, the reference's four fields): ``api_token`` when an e-mail is given,
  else ``pat`` — exactly what connections did before auth kinds existed.

The Atlassian endpoints have production defaults and are configurable for tests and proxies:
per connection (``token_url``, ``gateway_url``) or process-wide with the environment variables
``JIRAHOOKS_ATLASSIAN_TOKEN_URL`` / ``JIRAHOOKS_ATLASSIAN_GATEWAY_URL`` (read when a client is
built, never at import time).

Access tokens (decision 0010): ``TokenCache`` keeps each token until ``margin`` seconds before
its ``expires_in`` (60 s, or half the lifetime of a very short one). Concurrent requests that
need a token share one fetch per credential (single-flight); a request whose token was
rejected (401) asks for a refresh *naming the rejected token*, so N requests that all saw the
same stale token cause exactly one new fetch. With Redis (``share_tokens``) the tokens are
shared by every process, encrypted with the server's secret key (``SecretBox``); they are never
written to the database.

What the answers mean is read here too: ``rejection`` tells a 401/403 apart (scope missing,
basic auth off, expired, revoked or blocked), ``token_from_answer`` reads a token endpoint's
answer (``invalid_client``, ``invalid_scope``, 5xx/429), ``rate_limit_wait`` /
``rate_limit_exhausted`` the rate-limit headers of every answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from jirahooks.errors import JiraAuthError, JiraUnavailable
from jirahooks.retry import retry_after_seconds
from jirahooks.rules.config import AuthKind, ConnectionConfig

log = logging.getLogger(__name__)

DEFAULT_TOKEN_URL = "https://auth.atlassian.com/oauth/token"
DEFAULT_GATEWAY_URL = "https://api.atlassian.com"
ENV_TOKEN_URL = "JIRAHOOKS_ATLASSIAN_TOKEN_URL"
ENV_GATEWAY_URL = "JIRAHOOKS_ATLASSIAN_GATEWAY_URL"
DC_TOKEN_PATH = "/rest/oauth2/latest/token"
TENANT_INFO_PATH = "/_edge/tenant_info"
# what the evaluation needs (docs/jira.md): Cloud classic scopes, Data Center's READ
CLOUD_SCOPES = "read:jira-work read:jira-user"
DC_SCOPES = "READ"


AUTH_KINDS = tuple(k.value for k in AuthKind)
# kinds that need an e-mail / user name with the secret, and those that need a client id
NEEDS_USER = frozenset({AuthKind.API_TOKEN, AuthKind.SCOPED_API_TOKEN, AuthKind.BASIC})
BASIC_WARNING = (
    "basic authentication (user name + password) is deprecated on Jira Data Center and off by "
    "default from Jira 11: use a personal access token (pat) or a service account "
    "(oauth_client_credentials)"
)


def effective_kind(config: ConnectionConfig) -> AuthKind:
    """The kind a connection uses (``auto`` resolved: ``api_token`` with an e-mail, else
    ``pat``)."""
    kind = AuthKind(config.auth or AuthKind.AUTO)
    if kind is AuthKind.AUTO:
        return AuthKind.API_TOKEN if config.email else AuthKind.PAT
    return kind


def is_datacenter(config: ConnectionConfig) -> bool:
    return str(config.deployment) == "datacenter"


def uses_gateway(config: ConnectionConfig) -> bool:
    """Requests go to ``api.atlassian.com/ex/jira/{cloudId}`` rather than the site URL."""
    kind = effective_kind(config)
    if kind is AuthKind.SCOPED_API_TOKEN:
        return True
    return kind is AuthKind.OAUTH_CLIENT_CREDENTIALS and not is_datacenter(config)


def gateway_url(config: ConnectionConfig) -> str:
    return (config.gateway_url or os.environ.get(ENV_GATEWAY_URL) or DEFAULT_GATEWAY_URL).rstrip(
        "/"
    )


def gateway_base(config: ConnectionConfig, cloud_id: str) -> str:
    return f"{gateway_url(config)}/ex/jira/{cloud_id}"


def token_url(config: ConnectionConfig) -> str:
    """Where client credentials are exchanged for an access token."""
    if config.token_url:
        return config.token_url
    if is_datacenter(config):
        return config.url.rstrip("/") + DC_TOKEN_PATH
    return os.environ.get(ENV_TOKEN_URL) or DEFAULT_TOKEN_URL


def scopes(config: ConnectionConfig) -> str:
    """The scopes asked for (space-separated); the defaults are what the evaluation reads."""
    given = " ".join(config.scopes.split())
    return given or (DC_SCOPES if is_datacenter(config) else CLOUD_SCOPES)


# -- access tokens ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessToken:
    value: str = ""
    expires_at: float = 0.0  # epoch seconds (time.time)
    lifetime: float = 0.0  # expires_in as the token endpoint gave it

    def __repr__(self) -> str:  # the value never
        return f"AccessToken(expires_at={self.expires_at:.0f}, lifetime={self.lifetime:.0f})"

    def fresh(self, now: float) -> bool:
        margin = 60.0 if self.lifetime >= 240 else self.lifetime / 4
        return bool(self.value) and self.expires_at - margin > now


class TokenStore(Protocol):
    """Where tokens are shared between processes (Redis); never the database."""

    async def get(self, key: str) -> AccessToken | None: ...

    async def put(self, key: str, token: AccessToken) -> None: ...

    async def drop(self, key: str) -> None: ...


class Encrypter(Protocol):
    def encrypt(self, plaintext: str) -> str: ...

    def decrypt(self, token: str) -> str: ...


class RedisTokenStore:
    """Access tokens in Redis, encrypted with the server's secret key, expiring with them."""

    def __init__(self, url: str, box: Encrypter, *, prefix: str = "jirahooks") -> None:
        import redis.asyncio  # the server extra; only when Redis is configured

        self.prefix = prefix.rstrip(":") + ":oauth:"
        self._box = box
        self._redis: Any = redis.asyncio.Redis.from_url(url, decode_responses=True)

    def __repr__(self) -> str:
        return f"RedisTokenStore(prefix={self.prefix!r})"

    async def get(self, key: str) -> AccessToken | None:
        raw = await self._redis.get(self.prefix + key)
        if not raw:
            return None
        try:
            data = json.loads(self._box.decrypt(raw))
            return AccessToken(str(data["v"]), float(data["e"]), float(data["l"]))
        except Exception:  # another key, or garbage: as if absent
            return None

    async def put(self, key: str, token: AccessToken) -> None:
        ttl = int(token.expires_at - time.time())
        if ttl <= 0:
            return
        payload = json.dumps({"v": token.value, "e": token.expires_at, "l": token.lifetime})
        await self._redis.set(self.prefix + key, self._box.encrypt(payload), ex=ttl)

    async def drop(self, key: str) -> None:
        await self._redis.delete(self.prefix + key)

    async def aclose(self) -> None:
        await self._redis.aclose()


Fetch = Callable[[], Awaitable[AccessToken]]


class TokenCache:
    """See the module docstring; ``fetches`` counts token requests actually sent."""

    def __init__(self, shared: TokenStore | None = None, *, clock: Callable[[], float] = time.time):
        self.shared = shared
        self._clock = clock
        self._local: dict[str, AccessToken] = {}
        self._inflight: dict[str, asyncio.Future[AccessToken]] = {}
        self.fetches = 0
        self.shared_errors = 0

    def __repr__(self) -> str:
        return f"TokenCache(tokens={len(self._local)}, fetches={self.fetches})"

    async def token(self, key: str, fetch: Fetch, *, rejected: str = "") -> AccessToken:
        """A fresh token for ``key``: cached, shared, or fetched once for all waiting callers;
        ``rejected``: the token a 401 came back for — never handed out again."""
        now = self._clock()
        cached = self._local.get(key)
        if cached is not None and cached.value != rejected and cached.fresh(now):
            return cached
        if rejected and cached is not None and cached.value == rejected:
            self._local.pop(key, None)
            await self._shared_drop(key)
        shared = await self._shared_get(key)
        if shared is not None and shared.value != rejected and shared.fresh(now):
            self._local[key] = shared
            return shared
        loop = asyncio.get_running_loop()
        pending = self._inflight.get(key)
        while pending is not None and pending.get_loop() is loop:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise  # this caller was cancelled, not the fetch it waited for
                pending = self._inflight.get(key)  # the fetching caller gave up: try again
        future: asyncio.Future[AccessToken] = loop.create_future()
        self._inflight[key] = future
        try:
            self.fetches += 1
            token = await fetch()
        except asyncio.CancelledError:
            future.cancel()  # waiters fetch themselves (above)
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters re-raise it, nobody else must
            raise
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]
        self._local[key] = token
        await self._shared_put(key, token)
        future.set_result(token)
        return token

    def forget(self, key: str) -> None:
        self._local.pop(key, None)

    def forget_all(self) -> None:
        """Drop every token this process holds (not the shared ones)."""
        self._local.clear()

    async def _shared_get(self, key: str) -> AccessToken | None:
        if self.shared is None:
            return None
        try:
            return await self.shared.get(key)
        except Exception as exc:
            self._shared_failed(exc)
            return None

    async def _shared_put(self, key: str, token: AccessToken) -> None:
        if self.shared is not None:
            try:
                await self.shared.put(key, token)
            except Exception as exc:
                self._shared_failed(exc)

    async def _shared_drop(self, key: str) -> None:
        if self.shared is not None:
            try:
                await self.shared.drop(key)
            except Exception as exc:
                self._shared_failed(exc)

    def _shared_failed(self, exc: Exception) -> None:
        self.shared_errors += 1
        if self.shared_errors == 1 or self.shared_errors % 100 == 0:
            log.warning(
                "shared OAuth token cache in Redis failed (%s): this process fetches "
                "its own tokens",
                type(exc).__name__,
            )


def credential_key(url: str, client_id: str, scope: str, secret: str) -> str:
    """The cache key of one credential: a rotated secret or other scopes get their own token."""
    raw = "\0".join((url, client_id, scope, secret)).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


_CACHE: list[TokenCache] = []
# cloudIds discovered from tenant_info, by site URL (a site keeps its cloudId)
CLOUD_IDS: dict[str, str] = {}


def token_cache() -> TokenCache:
    """The process-wide cache (made on first use; ``share_tokens`` replaces it)."""
    if not _CACHE:
        _CACHE.append(TokenCache())
    return _CACHE[0]


def share_tokens(redis_url: str, box: Encrypter | None, *, prefix: str = "jirahooks") -> None:
    """From now on access tokens are shared through Redis, encrypted with ``box``; an empty
    URL: kept in this process only."""
    _CACHE.clear()
    shared = RedisTokenStore(redis_url, box, prefix=prefix) if redis_url and box else None
    _CACHE.append(TokenCache(shared))


# -- what Jira and the token endpoints answer -------------------------------------------------


def _header_int(headers: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = (headers.get(name) or "").strip()
        if value:
            try:
                return int(float(value.split(",")[0].split(";")[0]))
            except ValueError:
                continue
    return None


def rate_limit_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds Jira asks to wait: ``Retry-After``, ``X-RateLimit-Reset`` (ISO time), or the
    IETF ``RateLimit-Reset`` (seconds); ``None`` when none says."""
    wait = retry_after_seconds(headers)
    if wait is not None:
        return wait
    reset = _header_int(headers, "ratelimit-reset")
    return float(max(0, reset)) if reset is not None else None


def rate_limit_exhausted(headers: Mapping[str, str]) -> bool:
    """The answer says no request is left in the current window (every credential kind)."""
    return _header_int(headers, "x-ratelimit-remaining", "ratelimit-remaining") == 0


def _answer(response: httpx.Response) -> Mapping[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, Mapping) else {}


def error_messages(data: Any) -> list[str]:
    """``{"errorMessages": [...], "errors": {field: msg}}`` → a flat list of messages."""
    if not isinstance(data, Mapping):
        return []
    messages = [str(m) for m in data.get("errorMessages") or [] if m]
    errors = data.get("errors")
    if isinstance(errors, Mapping):
        messages.extend(f"{k}: {v}" for k, v in errors.items())
    return messages


def _said(response: httpx.Response) -> str:
    """What a 401/403 says (Jira's ``errorMessages``/``errors``, the gateway's ``message``, an
    OAuth ``error``), lower-cased."""
    data = _answer(response)
    parts = error_messages(data)
    parts += [str(data.get(k) or "") for k in ("message", "error", "error_description")]
    return " ".join(parts).lower()


def needed_scope(path: str) -> str:
    """The Cloud classic scope a request path needs (what a missing-scope error names)."""
    return "read:jira-user" if path.endswith("/myself") else "read:jira-work"


def rejection(
    response: httpx.Response, path: str, config: ConnectionConfig, detail: str
) -> JiraAuthError | None:
    """A 401/403 told apart by what it says — scope missing, basic auth off, expired, revoked
    or blocked — or ``None`` (a plain rejection: the caller's ``JIRA_AUTH_REJECTED``)."""
    if response.status_code not in (401, 403):
        return None
    text = _said(response)
    name = config.name
    if "scope does not match" in text or ("scope" in text and "missing" in text):
        scope = needed_scope(path)
        return JiraAuthError(
            f"Jira connection '{name}': scope missing: {scope} ({detail})",
            hint=f"the token was issued without the scope {scope}: create the scoped token / "
            "OAuth credential again with read:jira-work and read:jira-user (Data Center: READ)",
            code="JIRA_SCOPE_MISSING",
            connection=name,
        )
    if "basic auth" in text and "disabled" in text:
        return JiraAuthError(
            f"Jira connection '{name}': this Jira Data Center refuses basic authentication "
            f"({detail})",
            hint="basic auth is off (Jira 11's default): create a personal access token for "
            "the connection's user and set the connection's auth to pat",
            code="JIRA_BASIC_AUTH_DISABLED",
            connection=name,
        )
    if "expired" in text:
        return JiraAuthError(
            f"Jira connection '{name}': token expired ({detail})",
            hint=f"create a new token for the connection's user and update {config.token_label}",
            code="TOKEN_EXPIRED",
            connection=name,
        )
    if "revoked" in text or "blocked" in text or "policy" in text:
        return JiraAuthError(
            f"Jira connection '{name}': the token was revoked or blocked by your organisation "
            f"({detail})",
            hint="an organisation admin revoked the token or blocks API tokens by policy "
            "(Atlassian Administration → Security): ask them, or use a service account's "
            "credential the policy allows",
            code="TOKEN_REVOKED",
            connection=name,
        )
    return None


class TokenEndpointUnavailable(JiraUnavailable):
    """The authorization server is down, overloaded or rate-limiting (retried)."""

    def __init__(self, message: str, *, hint: str, code: str, connection: str, wait: float | None):
        super().__init__(message, hint=hint, code=code, connection=connection)
        self.retry_after = wait


def token_from_answer(response: httpx.Response, config: ConnectionConfig) -> AccessToken:
    """The access token of a token endpoint's answer (``access_token``, ``expires_in``), else
    the error it means: ``invalid_scope`` → ``JIRA_SCOPE_MISSING``, ``invalid_client`` and the
    rest → ``OAUTH_CLIENT_REJECTED`` (``TOKEN_EXPIRED`` when it says expired), 5xx/429 →
    ``TokenEndpointUnavailable``."""
    data = _answer(response)
    status = response.status_code
    name = config.name
    if status == 200 and data.get("access_token"):
        lifetime = float(data.get("expires_in") or 3600)
        return AccessToken(str(data["access_token"]), time.time() + lifetime, lifetime)
    error = str(data.get("error") or "")
    why = str(data.get("error_description") or "")
    detail = f"HTTP {status}" + (f", {error}" if error else "") + (f": {why}" if why else "")
    if status >= 500 or status == 429:
        raise TokenEndpointUnavailable(
            f"Jira connection '{name}': the OAuth token endpoint failed ({detail})",
            hint="Atlassian's (or Jira's) authorization server is unavailable; retry later",
            code="JIRA_RATE_LIMITED" if status == 429 else "JIRA_UNAVAILABLE",
            connection=name,
            wait=rate_limit_wait(response.headers),
        )
    if error == "invalid_scope":
        raise JiraAuthError(
            f"Jira connection '{name}': scope missing: {scopes(config)} refused by the token "
            f"endpoint ({detail})",
            hint="give the service account's OAuth credential the scopes read:jira-work and "
            "read:jira-user (Data Center: READ), or fix the connection's scopes",
            code="JIRA_SCOPE_MISSING",
            connection=name,
        )
    expired = "expired" in why.lower()
    raise JiraAuthError(
        f"Jira connection '{name}': the OAuth client credentials were rejected ({detail})",
        hint="the client secret expired: create a new OAuth credential for the service account "
        "and enter it"
        if expired
        else "wrong client ID or secret, or the credential was revoked or the service account "
        "deactivated by your organisation: create a new OAuth credential and enter its client "
        "ID and secret",
        code="TOKEN_EXPIRED" if expired else "OAUTH_CLIENT_REJECTED",
        connection=name,
    )
