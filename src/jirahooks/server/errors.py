"""Admin API errors: every problem is JSON ``{"code", "message", "hint"}`` (STYLE rule 5).

The Validation API has its own wire format (``{"error", "errorCode"}``, see
``jirahooks.server.validation``); these handlers leave its paths to it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from jirahooks.errors import ConfigError, JirahooksError
from jirahooks.textcheck import scrub

log = logging.getLogger("jirahooks.server")

VALIDATION_PREFIX = "/api/validate"


class ErrorBody(BaseModel):
    """Every admin API, webhook and web error body: a code, a message and a hint (STYLE rule 5).
    422 answers add ``problems`` (each with its ``path``); some errors add fields of their own
    (``CONNECTION_TEST_FAILED`` carries the connection test as ``test``)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(examples=["NOT_FOUND"])
    message: str
    hint: str
    problems: list[dict[str, str]] | None = Field(
        None, description="422: every problem found, each with the path of the bad value"
    )


class ValidationApiErrorBody(BaseModel):
    """The Validation API's error body (wire-compatible with the hook clients)."""

    error: str
    errorCode: str  # the wire name


STATUS_TEXT = {
    400: "The URL holds text that cannot be handled (NUL, a lone surrogate, a control character)"
    " or the body is not what this endpoint reads",
    401: "No API token, or an unknown or revoked one (``WWW-Authenticate: Bearer``)",
    403: "The token's user may not do this here (the role needed is in the message)",
    404: "The workspace (or the resource in the path) does not exist or is not visible to you",
    409: "The name is taken, or the change conflicts with what is stored",
    413: "The request body is larger than the server accepts",
    422: "The request is invalid: ``problems`` names each bad value with its path",
    502: "Jira answered with an error the request could not get past",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route decorator: these error statuses, with ``ErrorBody``."""
    return {s: {"model": ErrorBody, "description": STATUS_TEXT[s]} for s in statuses}


class ApiError(Exception):
    """An admin API error with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, hint: str = "", **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "hint": self.hint, **self.extra}


def not_found(what: str, name: object) -> ApiError:
    return ApiError(
        404, "NOT_FOUND", f"no {what} '{name}'", f"list them with GET on the {what} collection"
    )


def forbidden(message: str, hint: str = "ask a workspace administrator") -> ApiError:
    return ApiError(403, "FORBIDDEN", message, hint)


def conflict(message: str, hint: str = "") -> ApiError:
    return ApiError(409, "CONFLICT", message, hint)


def config_error(exc: ConfigError) -> ApiError:
    return ApiError(
        422,
        exc.code,
        exc.message,
        exc.hint,
        problems=[{"path": p.path, "message": p.message, "hint": p.hint} for p in exc.problems],
    )


def _validation_body(request: Request, status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "errorCode": code}, status_code=status)


_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method of every route whose path matches this request's, for a 405's ``Allow``."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    return ", ".join(allowed)


def install(app: FastAPI) -> None:
    """Register the JSON error handlers."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(ConfigError)
    async def _config_error(request: Request, exc: ConfigError) -> JSONResponse:
        error = config_error(exc)
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(JirahooksError)
    async def _jirahooks_error(request: Request, exc: JirahooksError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=502 if exc.code.startswith("JIRA") else 500)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [  # scrubbed: a location may be a key the client sent (a lone surrogate…)
            {
                "path": scrub(".".join(str(p) for p in err.get("loc", ()) if p != "body")),
                "message": scrub(str(err.get("msg", ""))),
            }
            for err in exc.errors()
        ]
        if request.url.path.startswith(VALIDATION_PREFIX):
            return _validation_body(request, 400, "PAYLOAD_VALIDATION_ERROR", "invalid request")
        first = problems[0] if problems else {"path": "", "message": "invalid request"}
        return JSONResponse(
            {
                "code": "REQUEST_INVALID",
                "message": f"{first['path']}: {first['message']}"
                if first["path"]
                else first["message"],
                "hint": "see /openapi.json for the request schema",
                "problems": problems,
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
        message = str(exc.detail) if exc.detail else code
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:  # Starlette names only the first route's methods
            headers["Allow"] = allowed_methods(request)
        if request.url.path.startswith(VALIDATION_PREFIX):
            response = _validation_body(request, exc.status_code, code, message)
            response.headers.update(headers)
            return response
        return JSONResponse(
            {"code": code, "message": message, "hint": "see /openapi.json for the API"},
            status_code=exc.status_code,
            headers=headers or None,
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
        # A value the database cannot hold (an id beyond 64 bits, text longer than its column):
        # invalid input that got past the request models, not a server fault.
        log.warning("value out of range on %s %s: %s", request.method, request.url.path, exc)
        message = "a value in the request is out of range (too large a number, or too long)"
        if request.url.path.startswith(VALIDATION_PREFIX):
            return _validation_body(request, 400, "PAYLOAD_VALIDATION_ERROR", message)
        return JSONResponse(
            {"code": "VALUE_OUT_OF_RANGE", "message": message, "hint": "check ids and lengths"},
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        if request.url.path.startswith(VALIDATION_PREFIX):
            return _validation_body(request, 500, "INTERNAL_ERROR", "internal error")
        return JSONResponse(
            {"code": "INTERNAL", "message": "internal error", "hint": "see the server log"},
            status_code=500,
        )
