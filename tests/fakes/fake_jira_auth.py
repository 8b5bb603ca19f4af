"""The fake Jira's credentials (see fake_jira.py): API tokens, scoped API tokens, PATs, basic
auth, OAuth 2.0 client credentials (Cloud's auth.atlassian.com and Data Center's
``/rest/oauth2/latest/token`` shapes), the api.atlassian.com gateway and ``/_edge/tenant_info``.

Answers as Atlassian gives them (docs/jira.md, "Credentials"):

* a scoped API token sent to the site URL → 401 (it works only through the gateway);
* a gateway request whose token lacks the scope → 401 ``{"code": 401, "message":
  "Unauthorized; scope does not match"}``;
* an expired or unknown OAuth access token → 401 ``{"code": 401, "message": "Unauthorized"}``;
* a token blocked by the organisation → 401 with Jira's ``errorMessages`` saying so;
* the token endpoint: 200 ``{access_token, expires_in, token_type, scope}``, 401
  ``{"error": "invalid_client"}``, 400 ``{"error": "invalid_scope"}``;
* Data Center with ``basic_auth = False`` (Jira 11's default) refuses Basic with 401.
"""

from __future__ import annotations

import base64
import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from .fake_jira import FakeJira, FakeUser, RecordedRequest

CLOUD_TOKEN_PATH = "/oauth/token"
DC_TOKEN_PATH = "/rest/oauth2/latest/token"
TENANT_INFO_PATH = "/_edge/tenant_info"
GATEWAY_UNAUTHORIZED = {"code": 401, "message": "Unauthorized"}
SCOPE_MISMATCH = {"code": 401, "message": "Unauthorized; scope does not match"}
BLOCKED = (
    "API token access is blocked by your organization's admin (organization policy). "
    "Contact your admin to find out why."
)
BASIC_DISABLED = "Basic authentication is disabled on this instance. Use a personal access token."
JSON = "application/json;charset=UTF-8"
_SEQUENCE = itertools.count(1)


@dataclass
class FakeOAuthClient:
    client_id: str
    secret: str
    user: FakeUser
    scopes: frozenset[str]
    lifetime: int = 3600


@dataclass
class FakeAccessToken:
    value: str
    client: FakeOAuthClient
    scopes: frozenset[str]
    expires_at: float


@dataclass
class Credentials:
    """What the fake knows about credentials beyond user tokens."""

    cloud_id: str = "a436116f-02ce-4520-8fbb-7301462a1674"
    basic_auth: bool = True  # Data Center: False as Jira 11 ships (PAT only)
    clients: dict[str, FakeOAuthClient] = field(default_factory=dict)
    tokens: dict[str, FakeAccessToken] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)  # user tokens blocked by the org's policy
    token_requests: int = 0


def needed_scope(path: str) -> str:
    if path.endswith("/serverInfo"):
        return ""
    return "read:jira-user" if path.endswith("/myself") else "read:jira-work"


def token_endpoint(fake: FakeJira, req: RecordedRequest) -> tuple[int, Any]:
    """``POST /oauth/token`` (Cloud, JSON) or ``/rest/oauth2/latest/token`` (DC, form)."""
    creds = fake.creds
    with fake.lock:
        creds.token_requests += 1
    body = req.body
    if isinstance(body, str):  # form-encoded (Data Center)
        body = {k: v[0] for k, v in parse_qs(body).items()}
    if not isinstance(body, dict):
        return 400, {"error": "invalid_request", "error_description": "no parameters"}
    if body.get("grant_type") != "client_credentials":
        return 400, {"error": "unsupported_grant_type", "error_description": "client_credentials"}
    with fake.lock:
        client = creds.clients.get(str(body.get("client_id") or ""))
        if client is None or client.secret != body.get("client_secret"):
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        asked = frozenset(str(body.get("scope") or "").split()) or client.scopes
        if not asked <= client.scopes:
            return 400, {
                "error": "invalid_scope",
                "error_description": f"scopes not granted: {' '.join(sorted(asked - client.scopes))}",
            }
        value = f"fake-access-{next(_SEQUENCE)}"
        creds.tokens[value] = FakeAccessToken(value, client, asked, time.time() + client.lifetime)
    return 200, {
        "access_token": value,
        "expires_in": client.lifetime,
        "token_type": "Bearer",
        "scope": " ".join(sorted(asked)),
    }


def authenticate(
    fake: FakeJira, req: RecordedRequest
) -> tuple[FakeUser | None, bool, tuple[int, Any] | None]:
    """(user, credentials_failed, a rejection to answer as it is) for a request."""
    header = req.headers.get("authorization", "")
    if not header:
        return None, False, None
    scheme, _, value = header.partition(" ")
    gateway = bool(req.gateway)
    creds = fake.creds
    with fake.lock:
        if scheme.lower() == "basic":
            try:
                login, _, secret = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None, True, None
            if fake.deployment == "datacenter" and not creds.basic_auth:
                return None, True, (401, {"errorMessages": [BASIC_DISABLED], "errors": {}})
            for user in fake.users:
                if secret and user.token == secret and login in (user.email, user.name):
                    if secret in creds.blocked:
                        return None, True, (401, {"errorMessages": [BLOCKED], "errors": {}})
                    if user.scoped and not gateway:
                        return None, True, None  # scoped tokens work only via the gateway
                    if user.scoped and not _has_scope(user.scopes, req.path):
                        return None, True, (401, SCOPE_MISMATCH)
                    return user, False, None
            return None, True, (401, GATEWAY_UNAUTHORIZED) if gateway else None
        if scheme.lower() != "bearer" or not value:
            return None, True, None
        token = creds.tokens.get(value)
        if token is not None:
            cloud_token = fake.deployment == "cloud"
            if cloud_token and not gateway:
                return None, True, None  # OAuth tokens are for api.atlassian.com
            if token.expires_at <= time.time():
                return None, True, (401, GATEWAY_UNAUTHORIZED) if gateway else None
            if cloud_token and not _has_scope(token.scopes, req.path):
                return None, True, (401, SCOPE_MISMATCH)
            return token.client.user, False, None
        if fake.deployment == "datacenter":
            for user in fake.users:
                if user.token == value:
                    return user, False, None
        return None, True, (401, GATEWAY_UNAUTHORIZED) if gateway else None


def _has_scope(granted: frozenset[str], path: str) -> bool:
    needed = needed_scope(path)
    return (
        not needed
        or needed in granted
        or ("write:jira-work" in granted and needed == "read:jira-work")
    )
