"""The server's OpenAPI document, made true to what the server answers.

FastAPI's generated document is post-processed once (``install``):

* **auth**: the admin API's Bearer API token is a ``securitySchemes`` entry (``bearerAuth``) and
  every ``/api/v1`` operation requires it, so ``/docs`` ("Authorize") can send the token;
* **errors**: FastAPI's ``HTTPValidationError`` (a 422 shape the server never sends) is gone;
  every error response has the body the server really sends — ``ErrorBody`` (``code``,
  ``message``, ``hint``; ``problems`` on 422) or, on the Validation API, ``{"error",
  "errorCode"}`` (and its invalid requests answer 400, not 422);
* **statuses** that happen on every operation of a kind are added where they apply: 400 (a URL
  the boundary refuses, ``server.boundary``), 401 (admin API without a valid token), 404 (a path
  with parameters: an unknown or invisible workspace, repository or id), 413 and 422 (a body:
  too large, or not valid JSON text), 403 on every admin write in a workspace; routes declare
  the rest themselves (``errors.responses(403, 409, …)`` on the decorator).

``tests/server/test_schemathesis.py`` checks the result against the live server: no status that
is not documented, no body that does not match its schema.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response

from jirahooks.server.errors import STATUS_TEXT, ErrorBody, ValidationApiErrorBody

BEARER = "bearerAuth"
ADMIN_PREFIX = "/api/v1/"
WORKSPACE_PREFIX = "/api/v1/workspaces/{workspace}"
_BODY_METHODS = ("post", "put", "patch", "delete")  # the boundary reads (and limits) these
# Endpoints that are not the admin API: the statuses each one answers besides its success.
OTHER_STATUSES: dict[str, tuple[int, ...]] = {
    "/api/validate/": (400, 401, 403, 404, 413),
    "/webhooks/": (400, 401, 403, 404, 413),
    "/api/jira/webhook/": (400, 401, 404, 413, 422),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(status: int, schema: str) -> dict[str, Any]:
    return {
        "description": STATUS_TEXT.get(status, "Error"),
        "content": {"application/json": {"schema": _ref(schema)}},
    }


def _statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    for prefix, statuses in OTHER_STATUSES.items():
        if path.startswith(prefix):
            return set(statuses)
    found = {400, 401}
    if "{" in path:
        found.add(404)
    if method in _BODY_METHODS:
        found |= {413, 422}
        if path.startswith(WORKSPACE_PREFIX):
            found.add(403)
    if "422" in operation.get("responses", {}):
        found.add(422)
    return found


def rule_definition() -> dict[str, Any]:
    """A rule as the admin API reads it: generated from the rule model's dataclass fields
    (``rules.schema.json_schema``), plus ``template`` — so it cannot drift from the reader,
    which stays the validator (a rule that fits this schema can still be refused with 422, e.g.
    for a regular expression that does not compile)."""
    from jirahooks.rules import templates
    from jirahooks.rules.model import Rule
    from jirahooks.rules.schema import json_schema

    schema = json_schema(Rule, exclude=("scope",), required=False)
    schema["properties"]["template"] = {
        "type": "string",
        "enum": sorted(templates.BY_NAME),
        "description": "start from this built-in template; the other fields override it",
    }
    schema["anyOf"] = [{"required": ["title"]}, {"required": ["template"]}, {"required": ["id"]}]
    schema["description"] = (
        "A rule as in the configuration document (docs/rules.md). ``id`` defaults to the path's "
        "rule id (PUT) or a slug of the title; ``scope`` is set by where the rule is declared."
    )
    return schema


def _typed_bodies(doc: dict[str, Any]) -> None:
    """Operations marked ``x-jirahooks-body: NAME`` get ``#/components/schemas/NAME`` as their
    request body schema (the handler reads plain data that a reader of its own validates)."""
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            name = operation.pop("x-jirahooks-body", None)
            if name is None:
                continue
            content = operation.setdefault("requestBody", {}).setdefault("content", {})
            content["application/json"] = {"schema": _ref(name)}
            operation["requestBody"]["required"] = True


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document (see the module docstring)."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["ErrorBody"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas["ValidationApiErrorBody"] = ValidationApiErrorBody.model_json_schema()
    schemas["RuleDefinition"] = rule_definition()
    _typed_bodies(doc)
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`jh_…`): the first start prints one; create more "
            "under /api/v1/me/tokens or `jirahooks admin-token`.",
        }
    }
    for path, operations in doc.get("paths", {}).items():
        validation = path.startswith("/api/validate/")
        for method, operation in operations.items():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if validation:  # its invalid requests answer 400 (hook clients' contract)
                responses.pop("422", None)
            statuses = _statuses(path, method, operation)
            if "422" in responses and _is_fastapi_422(responses["422"]) and 422 not in statuses:
                del responses["422"]  # FastAPI's guess; these endpoints read their own bodies
            for status in sorted(statuses):
                key = str(status)
                if validation:
                    responses[key] = _error(status, "ValidationApiErrorBody")
                elif key not in responses or _is_fastapi_422(responses[key]):
                    responses[key] = _error(status, "ErrorBody")
            if path.startswith("/webhooks/"):
                responses.setdefault(
                    "200",
                    {
                        "description": "A delivery received before (the host retried it): "
                        "nothing new is stored",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                )
            if path.startswith(ADMIN_PREFIX):
                operation["security"] = [{BEARER: []}]
    return doc


def _is_fastapi_422(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


OPENAPI_URL = "/openapi.json"


def install(app: FastAPI) -> None:
    """Serve the corrected document at ``/openapi.json``, built once, on first request.

    Building it walks every route and model (~0.7 s of CPU on an idle core): FastAPI's own route
    does that on the event loop, where every other request would wait for it. Here the document
    is built and encoded on the CPU pool, one build shared by concurrent first requests, and
    later requests get the encoded bytes. ``app`` must be made with ``openapi_url=None``.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    built: dict[str, asyncio.Future[bytes]] = {}

    def encoded() -> bytes:
        return orjson.dumps(openapi())

    @app.get(OPENAPI_URL, include_in_schema=False)
    async def openapi_json(request: Request) -> Response:
        future = built.get("body")
        if future is None:
            future = built["body"] = asyncio.ensure_future(
                request.app.state.jirahooks.cpu.run(encoded)
            )
        try:
            body = await asyncio.shield(future)
        except BaseException:
            if future.done():  # a failed build is tried again by the next request
                built.pop("body", None)
            raise
        return Response(body, media_type="application/json")


DOCS_ASSETS = "/docs/assets"


def install_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI served from the installed ``swagger-ui-bundle-v2`` package (its
    assets under ``/docs/assets``), never a CDN, so it works on a server without internet."""
    import swagger_ui_bundle
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    app.mount(
        DOCS_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets"
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title=f"{app.title} — API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )
