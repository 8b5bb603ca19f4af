"""How jirahooks authenticates to Bitbucket Cloud, and what Bitbucket says about its rate limits.

Credential kinds (docs/bitbucket-cloud.md, "Credentials"):

- ``api_token``: an Atlassian **API token with scopes** of a (technical) user, sent as
  ``Basic <Atlassian account e-mail>:<token>``. The user name is the account's *e-mail*, not
  the Bitbucket username — Bitbucket answers 401 to the username (the commonest mistake when
  moving off app passwords), so the e-mail is checked before anything is stored.
- ``access_token``: a repository, project or workspace **access token**, sent as
  ``Bearer <token>``; it has no user name.
- ``app_password``: accepted only as a migration alias. Bitbucket stopped creating app passwords
  on 9 Sep 2025 and removed them afterwards; a configuration that says ``app_password`` is
  stored as ``api_token`` (:func:`normalize_kind`) and the caller warns (:data:`APP_PASSWORD_
  WARNING`). A row stored as ``app_password`` by an older jirahooks still authenticates with
  Basic (Bitbucket then refuses it, and the settings say why).

Rate limits (:class:`RateLimit`): Bitbucket sends ``X-RateLimit-Limit``,
``X-RateLimit-Resource`` and ``X-RateLimit-NearLimit`` on the scaled ``/2.0/repositories/*``
endpoints (for access tokens, its docs say), and ``Retry-After`` on some 429s; a proxy in front
of it may add the IETF draft's ``RateLimit-Limit`` / ``RateLimit-Remaining`` /
``RateLimit-Reset`` (delta seconds) or ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset``. They
are read from every answer whatever the credential kind — nothing here assumes which kinds get
them.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class AuthKind(StrEnum):
    API_TOKEN = "api_token"  # Atlassian API token with scopes: Basic <account e-mail>:<token>
    ACCESS_TOKEN = "access_token"  # repository / project / workspace access token (Bearer)
    APP_PASSWORD = "app_password"  # removed by Bitbucket: only read from old rows (Basic)


# what the admin API, ``apply`` and the web UI accept (``app_password``: the alias)
ACCEPTED_KINDS = ("access_token", "api_token", "app_password")

APP_PASSWORD_WARNING = (
    "auth_kind 'app_password' is a deprecated alias and was stored as 'api_token': Bitbucket "
    "Cloud no longer accepts app passwords (creation stopped 9 Sep 2025, then removed). The "
    "token must be an Atlassian API token with scopes and the user name the Atlassian account "
    "e-mail; or use a repository / project / workspace access token (auth_kind 'access_token')"
)
STORED_APP_PASSWORD_WARNING = (
    "the stored credential is an app password, which Bitbucket Cloud no longer accepts: "
    "replace it with an API token (auth_kind 'api_token', user name = the Atlassian account "
    "e-mail) or an access token (auth_kind 'access_token')"
)

# an e-mail address as Atlassian accounts have them: something@domain.tld, no spaces
_EMAIL = re.compile(r"[^@\s:]+@[^@\s:]+\.[^@\s:.]+")


def normalize_kind(value: str) -> tuple[AuthKind, bool]:
    """The kind to store for ``value`` and whether ``value`` was the ``app_password`` alias."""
    if value == AuthKind.APP_PASSWORD.value:
        return AuthKind.API_TOKEN, True
    return AuthKind(value), False


def email_problem(username: str) -> str | None:
    """Why ``username`` cannot be the user name of an API token (None: it looks right)."""
    if not username.strip():
        return "required with an API token: the Atlassian account e-mail"
    if not _EMAIL.fullmatch(username.strip()):
        return (
            f"'{username}' is not an e-mail address: an API token authenticates with the "
            "Atlassian account e-mail, not the Bitbucket username"
        )
    return None


EMAIL_HINT = (
    "use the e-mail of the Atlassian account that created the API token (Bitbucket: Personal "
    "settings → Email aliases), not the Bitbucket username"
)


@dataclass(frozen=True)
class BitbucketCredentials:
    """How jirahooks authenticates to Bitbucket. The secret never appears in ``repr``.

    ``username`` is the Atlassian account e-mail for ``api_token`` (the Bitbucket username only
    for an ``app_password`` row left from before); an access token has none."""

    kind: AuthKind
    secret: str
    username: str = ""

    def __repr__(self) -> str:
        who = f", username={self.username!r}" if self.username else ""
        return f"BitbucketCredentials({self.kind.value}{who}, secret=***)"

    @property
    def basic(self) -> bool:
        return self.kind is not AuthKind.ACCESS_TOKEN

    def authorization(self) -> str:
        if self.basic:
            raw = f"{self.username}:{self.secret}".encode()
            return "Basic " + base64.b64encode(raw).decode("ascii")
        return f"Bearer {self.secret}"

    def auth_hint(self) -> str:
        """What to check when Bitbucket refuses these credentials (401/403)."""
        if self.kind is AuthKind.APP_PASSWORD:
            return STORED_APP_PASSWORD_WARNING
        if self.kind is AuthKind.API_TOKEN:
            problem = email_problem(self.username)
            prefix = f"{problem}; " if problem else ""
            return (
                f"{prefix}check the API token (expired or revoked?), that the user name is the "
                "Atlassian account e-mail, and its scopes (read:repository:bitbucket, "
                "read:pullrequest:bitbucket, write:repository:bitbucket; "
                "write:pullrequest:bitbucket for the reviewer veto)"
            )
        return (
            "check the access token (expired or revoked?) and its scopes (repository, "
            "pullrequest, repository:write; pullrequest:write for the reviewer veto)"
        )


def credentials_from(auth_kind: str, secret: str, username: str) -> BitbucketCredentials:
    """Credentials for a stored configuration; an unknown kind is an access token (Bearer)."""
    try:
        kind = AuthKind(auth_kind)
    except ValueError:
        kind = AuthKind.ACCESS_TOKEN
    return BitbucketCredentials(kind, secret, username)


def _number(headers: Mapping[str, str], name: str) -> float | None:
    raw = (headers.get(name) or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


@dataclass(frozen=True)
class RateLimit:
    """What one Bitbucket answer said about the rate limit (None: not said)."""

    limit: float | None = None
    remaining: float | None = None
    reset_seconds: float | None = None  # from now
    resource: str = ""
    near_limit: bool = False
    at: float = 0.0  # time.time() when read

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], *, now: float | None = None) -> RateLimit:
        """Parse ``RateLimit-*`` (IETF draft: ``Reset`` in delta seconds) and ``X-RateLimit-*``
        (Bitbucket: ``Limit``, ``Resource``, ``NearLimit``; elsewhere ``Remaining`` and
        ``Reset`` as epoch seconds or delta seconds). ``headers`` must be case-insensitive
        (``httpx.Headers``) or lower-case."""
        current = time.time() if now is None else now
        limit = _number(headers, "ratelimit-limit")
        if limit is None:
            limit = _number(headers, "x-ratelimit-limit")
        remaining = _number(headers, "ratelimit-remaining")
        if remaining is None:
            remaining = _number(headers, "x-ratelimit-remaining")
        reset = _number(headers, "ratelimit-reset")
        if reset is None:
            reset = _number(headers, "x-ratelimit-reset")
            # a large value is an epoch timestamp (GitHub style), a small one delta seconds
            if reset is not None and reset > 1e9:
                reset = reset - current
        near = (headers.get("x-ratelimit-nearlimit") or "").strip().lower() == "true"
        return cls(
            limit=limit,
            remaining=remaining,
            reset_seconds=None if reset is None else max(0.0, reset),
            resource=(headers.get("x-ratelimit-resource") or "").strip()[:100],
            near_limit=near,
            at=current,
        )

    @property
    def said(self) -> bool:
        return (
            self.limit is not None
            or self.remaining is not None
            or self.reset_seconds is not None
            or self.near_limit
        )

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def to_dict(self) -> dict[str, object]:
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "reset_seconds": self.reset_seconds,
            "resource": self.resource,
            "near_limit": self.near_limit,
        }
