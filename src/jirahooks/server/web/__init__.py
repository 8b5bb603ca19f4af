"""The web UI under ``/ui``: server-rendered Jinja2 pages, htmx (vendored in ``static/``) for
partial updates, no JavaScript build and nothing loaded from outside the app.

``install(app)`` mounts it; the app factory calls it once. Screens (docs/web-ui.md): sign-in,
dashboard, Jira connections (workspace and repository), repositories, rules with a "try it"
panel, templates, Process Guardian settings, validation tokens, evaluations, and for workspace
administrators People (roles, API tokens) and Bitbucket Cloud.

The pages reuse the admin API's route functions (``jirahooks.server.admin``) as the service
layer: the same validation, permissions and audit entries whether a change comes from the API
or from a browser.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from jirahooks.server.errors import ApiError
from jirahooks.server.web.common import HERE, PREFIX, make_environment, render
from jirahooks.server.web.i18n import LocaleMiddleware, _
from jirahooks.server.web.session import CsrfRejected, LoginRequired


def _is_ui(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


def install(app: FastAPI) -> None:
    """Mount the web UI (routes, static files, HTML error pages for ``/ui`` paths)."""
    from jirahooks.server.web import (
        pages_admin,
        pages_auth,
        pages_bitbucket,
        pages_connections,
        pages_evaluations,
        pages_evidence,
        pages_hosts,
        pages_people,
        pages_replay,
        pages_rules,
    )

    app.state.jirahooks_web = make_environment()
    app.add_middleware(LocaleMiddleware)  # the language of every /ui request (web/i18n.py)
    app.mount(PREFIX + "/static", StaticFiles(directory=HERE / "static"), name="web-static")
    for module in (
        pages_auth,
        pages_connections,
        pages_rules,
        pages_replay,
        pages_admin,
        pages_people,
        pages_bitbucket,
        pages_hosts,
        pages_evaluations,
        pages_evidence,
    ):
        app.include_router(module.router, include_in_schema=False)

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse(PREFIX + "/", status_code=303)

    favicon = (HERE / "static" / "favicon.svg").read_bytes()

    @app.get("/favicon.ico", include_in_schema=False)
    async def _favicon() -> Response:
        # Browsers ask for /favicon.ico whatever the page links; answer with the package's icon.
        return Response(
            favicon, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
        )

    api_error = app.exception_handlers.get(ApiError)
    http_error = app.exception_handlers.get(StarletteHTTPException)

    def _error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
        return render(
            request,
            "error.html",
            {"status": status, "title": title, "message": message},
            status=status,
        )

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        from urllib.parse import quote

        target = f"{PREFIX}/login" + (f"?next={quote(exc.next_url)}" if exc.next_url else "")
        if request.headers.get("hx-request") == "true":
            return HTMLResponse("", headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, exc: CsrfRejected) -> Response:
        return _error_page(
            request,
            403,
            _("Request refused"),
            _("The form was missing its security token (CSRF). Reload the page and try again."),
        )

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Any:
        if _is_ui(request):
            titles = {403: _("Not allowed"), 404: _("Not found")}
            text = exc.message + (f" — {exc.hint}" if exc.hint else "")
            return _error_page(request, exc.status, titles.get(exc.status, _("Error")), text)
        assert api_error is not None
        return await api_error(request, exc)  # type: ignore[misc]

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        if _is_ui(request) and not request.url.path.startswith(PREFIX + "/static"):
            return _error_page(request, exc.status_code, _("Error"), str(exc.detail))
        assert http_error is not None
        return await http_error(request, exc)  # type: ignore[misc]
