"""Web sign-in: session cookies and CSRF protection.

A person signs in with an **API token** (the one ``jirahooks serve`` prints on first start, or
one an administrator created for them with ``POST /api/v1/workspaces/{ws}/users/{name}/tokens``).
The server has no passwords, so the token is the credential, exactly as for the admin API.

Signing in creates a *session token*: a fresh API token row named ``web session`` (stored as a
SHA-256 hash, like every API token, so it shows in ``GET /api/v1/me/tokens`` and can be revoked
there). The browser never sees that token in clear: the cookie holds it encrypted with the
server's secret key (Fernet, authenticated), together with the id of the token used to sign in
and the time of sign-in. A request is signed in when

* the cookie decrypts and is younger than ``SESSION_HOURS``;
* the session token is not revoked (sign-out revokes it: server-side logout);
* the API token used to sign in is not revoked either (revoking it ends its web sessions).

Roles are then exactly the admin API's (``jirahooks.server.auth.Principal``).

CSRF: every state-changing request must carry ``X-CSRF-Token`` (htmx sends it, see
``base.html``) or a ``csrf_token`` form field equal to HMAC(session token, "csrf"), compared in
constant time; the cookie is also ``SameSite=Lax`` and ``HttpOnly``. The sign-in form itself
uses a double-submit cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.errors import JirahooksError
from jirahooks.server.auth import Principal, Session, hash_token, load_principal, new_api_token
from jirahooks.store.models import ApiToken, utcnow

COOKIE = "jirahooks_session"
LOGIN_COOKIE = "jirahooks_login"
SESSION_HOURS = 12
SESSION_TOKEN_NAME = "web session"
_PURPOSE = "jirahooks-web-session:"


class LoginRequired(Exception):
    """Not signed in (or the session ended): answered with a redirect to the sign-in page."""

    def __init__(self, next_url: str = "") -> None:
        super().__init__("sign-in required")
        self.next_url = next_url


class CsrfRejected(Exception):
    """A state-changing request without a valid CSRF token."""


@dataclass
class WebUser:
    """The signed-in person: their principal (roles) and the CSRF token of their session."""

    principal: Principal
    csrf: str
    session_token_id: int

    @property
    def name(self) -> str:
        return self.principal.name


def csrf_for(session_token: str) -> str:
    return hmac.new(session_token.encode("utf-8"), b"csrf", hashlib.sha256).hexdigest()


def _box(request: Request) -> Any:
    return request.app.state.jirahooks.secrets


def secure_cookie(request: Request) -> bool:
    return request.url.scheme == "https"


async def sign_in(
    request: Request, db: AsyncSession, api_token: str
) -> tuple[Principal, str] | None:
    """Check an API token; on success create a session token and return the cookie value."""
    principal = await load_principal(db, api_token.strip())
    if principal is None:
        return None
    via = (
        await db.execute(
            select(ApiToken.id).where(ApiToken.token_hash == hash_token(api_token.strip()))
        )
    ).scalar_one()
    token, token_hash, prefix = new_api_token()
    row = ApiToken(
        user_id=principal.user.id, name=SESSION_TOKEN_NAME, token_hash=token_hash, prefix=prefix
    )
    db.add(row)
    await db.flush()
    payload = {"k": token, "sid": row.id, "via": via, "iat": int(time.time())}
    cookie = _box(request).encrypt(_PURPOSE + json.dumps(payload, separators=(",", ":")))
    await db.commit()
    return principal, cookie


def _payload(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        text = _box(request).decrypt(raw)
    except JirahooksError:
        return None
    if not text.startswith(_PURPOSE):
        return None
    try:
        data = json.loads(text[len(_PURPOSE) :])
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("k"), str):
        return None
    issued = data.get("iat")
    if not isinstance(issued, int) or time.time() - issued > SESSION_HOURS * 3600:
        return None
    return data


async def current_user(request: Request, db: AsyncSession) -> WebUser | None:
    data = _payload(request)
    if data is None:
        return None
    principal = await load_principal(db, data["k"])
    if principal is None:
        return None
    via = await db.get(ApiToken, data.get("via"))
    if via is None or via.revoked_at is not None or via.user_id != principal.user.id:
        await db.rollback()  # not this session's token: no last_used_at for it
        return None
    # last_used_at now, in its own short write: left pending, the page's next query would flush
    # it and hold SQLite's write lock for the rest of the request (its Jira calls, its wait for
    # the background writer), and every other writer would wait behind it
    await db.commit()
    return WebUser(principal, csrf_for(data["k"]), int(data.get("sid", 0)))


async def sign_out(request: Request, db: AsyncSession) -> None:
    data = _payload(request)
    if data is None:
        return
    row = await db.get(ApiToken, data.get("sid"))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        await db.commit()


def _next_url(request: Request) -> str:
    path = request.url.path
    if request.headers.get("hx-request") or request.method != "GET":
        path = request.headers.get("hx-current-url", "") or "/ui/"
        if "://" in path:
            path = "/" + path.split("://", 1)[1].split("/", 1)[-1]
    elif request.url.query:
        path += "?" + request.url.query
    return path


async def web_user_dependency(request: Request, db: Session) -> WebUser:
    user = await current_user(request, db)
    if user is None:
        raise LoginRequired(_next_url(request))
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        await check_csrf(request, user.csrf)
    return user


async def check_csrf(request: Request, expected: str) -> None:
    given = request.headers.get("x-csrf-token", "")
    if not given:
        form = await request.form()
        value = form.get("csrf_token", "")
        given = value if isinstance(value, str) else ""
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfRejected()


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)


WebUserDep = Annotated[WebUser, Depends(web_user_dependency)]
