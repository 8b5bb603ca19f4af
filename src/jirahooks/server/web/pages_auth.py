"""Sign-in with an API token, sign-out, and the landing redirect (see ``session``)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from jirahooks.server.admin.users import workspaces
from jirahooks.server.auth import Session
from jirahooks.server.web import i18n
from jirahooks.server.web.common import PREFIX, first, form_data, redirect, render
from jirahooks.server.web.i18n import _
from jirahooks.server.web.session import (
    COOKIE,
    LOGIN_COOKIE,
    SESSION_HOURS,
    WebUserDep,
    current_user,
    new_login_nonce,
    secure_cookie,
    sign_in,
    sign_out,
)

router = APIRouter()


def _safe_next(value: str) -> str:
    """Only local paths under the UI (no open redirect)."""
    if value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX + "/"


def _login_page(
    request: Request, next_url: str, error: str = "", status: int = 200, flash: str = ""
) -> Response:
    nonce = new_login_nonce()
    response = render(
        request,
        "login.html",
        {"next": _safe_next(next_url), "error": error, "nonce": nonce, "flash": flash},
        status=status,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(request),
        path=PREFIX + "/login",
        max_age=3600,
    )
    return response


@router.get(PREFIX + "/login")
async def login_form(
    request: Request, db: Session, next: str = "", signed_out: str = ""
) -> Response:
    if await current_user(request, db) is not None:
        return redirect(_safe_next(next))
    flash = _("You are signed out. Sign in again with your API token.") if signed_out else ""
    return _login_page(request, next, flash=flash)


@router.get(PREFIX + "/language")
async def choose_language(request: Request, lang: str = "", next: str = "") -> Response:
    """The language switch in the page header: remembered in a cookie for a year."""
    response = redirect(_safe_next(next))
    if lang in i18n.LOCALES:
        response.set_cookie(
            i18n.COOKIE,
            lang,
            httponly=True,
            samesite="lax",
            secure=secure_cookie(request),
            path="/",
            max_age=365 * 24 * 3600,
        )
    return response


@router.post(PREFIX + "/login")
async def login(request: Request, db: Session) -> Response:
    form = await form_data(request)
    next_url = first(form, "next")
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    given = first(form, "csrf_token")
    if not nonce or not hmac.compare_digest(nonce.encode(), given.encode()):
        return _login_page(
            request, next_url, _("The sign-in form expired. Please try again."), status=403
        )
    token = first(form, "token")
    if not token:
        return _login_page(request, next_url, _("Enter your API token."), status=422)
    signed_in = await sign_in(request, db, token)
    if signed_in is None:
        return _login_page(
            request, next_url, _("That API token is unknown or revoked."), status=401
        )
    cookie = signed_in[1]
    response = redirect(_safe_next(next_url))
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=secure_cookie(request),
        path="/",
        max_age=SESSION_HOURS * 3600,
    )
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX + "/login")
    return response


@router.post(PREFIX + "/logout")
async def logout(request: Request, db: Session, user: WebUserDep) -> Response:
    await sign_out(request, db)
    response = redirect(PREFIX + "/login?signed_out=1")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get(PREFIX + "/")
async def home(request: Request, db: Session, user: WebUserDep) -> Response:
    mine = await workspaces(db, user.principal)
    if not mine:
        return render(
            request,
            "error.html",
            {
                "status": 200,
                "title": _("No workspace yet"),
                "message": _(
                    "You are not a member of any workspace. Ask a workspace administrator."
                ),
                "user": user,
                "csrf": user.csrf,
            },
        )
    return redirect(f"{PREFIX}/w/{mine[0].slug}")


@router.get(PREFIX)
async def bare(request: Request) -> HTMLResponse:
    return redirect(PREFIX + "/")
