"""The request boundary: what every request must satisfy before a route sees it (ASGI middleware).

* **URL**: the decoded path and query string hold no NUL, lone surrogate or control character
  (PostgreSQL cannot even compare such text), else 400 — ``{"error", "errorCode"}`` on the
  Validation API's paths, ``{"code", "message", "hint"}`` everywhere else.
* **Body size** of the admin API and the web UI's form posts: at most ``admin_max_body_bytes``
  (declared ``Content-Length`` or counted while streaming), else 413 ``PAYLOAD_TOO_LARGE``. The
  Validation API and the webhooks read their bodies themselves, with ``max_body_bytes``.
* **JSON bodies of the admin API**: nested at most ``MAX_JSON_DEPTH`` levels (measured on the raw
  bytes, without parsing) and every string — keys included — valid text without NUL or control
  characters other than tab and line breaks, else 422 ``REQUEST_INVALID`` with the path of the
  bad value, the same shape FastAPI's own validation answers. Bodies that are not JSON at all
  are left to FastAPI (422 ``REQUEST_INVALID``). Field-specific rules (single-line names,
  lengths, rule schema) follow in the request models and the rule reader.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jirahooks.server.errors import VALIDATION_PREFIX, ApiError
from jirahooks.textcheck import (
    MAX_JSON_DEPTH,
    Kind,
    TextError,
    check_tree,
    nesting_exceeds,
    text_problem,
)

_OWN_BODY_LIMIT = (VALIDATION_PREFIX, "/webhooks/")  # these read (and limit) their own bodies
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class TooLarge(Exception):
    pass


class BoundaryMiddleware:
    """See the module docstring. ``limit``: the admin API / web UI body size limit in bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        validation = path.startswith(VALIDATION_PREFIX)
        problem = _url_problem(scope)
        if problem is not None:
            await _answer(send, validation, 400, "BAD_REQUEST", problem, "fix the URL")
            return
        if path.startswith(_OWN_BODY_LIMIT) or scope.get("method", "GET") not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await self._read(headers, receive)
        except TooLarge:
            await _answer(
                send,
                False,
                413,
                "PAYLOAD_TOO_LARGE",
                f"the request body exceeds {self.limit} bytes",
                "send less; the limit is the server setting JIRAHOOKS_ADMIN_MAX_BODY_BYTES",
            )
            return
        if path.startswith("/api/v1/") and body.strip() and _is_json(headers):
            invalid = _json_problem(body)
            if invalid is not None:
                where, message = invalid
                await _answer(
                    send,
                    False,
                    422,
                    "REQUEST_INVALID",
                    f"{where}: {message}" if where else message,
                    "send valid UTF-8 JSON text; see /openapi.json for the request schema",
                    problems=[{"path": where, "message": message}],
                )
                return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, headers: dict[str, str], receive: Receive) -> bytes:
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            raise TooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _url_problem(scope: Scope) -> str | None:
    problem = text_problem(scope.get("path", ""), Kind.LINE)
    if problem is not None:
        return f"the path {problem}"
    query = scope.get("query_string", b"").decode("latin-1")
    if query:
        problem = text_problem(unquote_plus(query), Kind.LINE)
        if problem is not None:
            return f"the query string {problem}"
    return None


def _is_json(headers: dict[str, str]) -> bool:
    """FastAPI reads a body without a content type as JSON too."""
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return not content_type or content_type == "application/json" or content_type.endswith("+json")


def _json_problem(body: bytes) -> tuple[str, str] | None:
    if nesting_exceeds(body, MAX_JSON_DEPTH):
        return "", f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels"
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: FastAPI answers 422 with its parser's message
    try:
        check_tree(data)
    except TextError as exc:
        return exc.path, exc.message
    return None


async def _answer(
    send: Send,
    validation: bool,
    status: int,
    code: str,
    message: str,
    hint: str,
    **extra: Any,
) -> None:
    body: dict[str, Any] = (
        {"error": message, "errorCode": "PAYLOAD_VALIDATION_ERROR" if status == 400 else code}
        if validation
        else {"code": code, "message": message, "hint": hint, **extra}
    )
    payload = json.dumps(body).encode("ascii")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def read_body(request: Request, limit: int) -> bytes:
    """The body of a route that limits its own (the webhooks: ``webhook_max_body_bytes``), else
    413 ``PAYLOAD_TOO_LARGE`` — on the declared length or while streaming."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"the body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
