"""``/openapi.json`` tells the truth and ``/docs`` works without internet (issue 14, "the API as
people use it").

On b9f4856 the document declared no auth scheme (``/docs`` could not send the token), a 422
shape the server never returns (FastAPI's ``HTTPValidationError``) and none of the
401/403/404/409/413 it does, rule bodies as untyped objects, a 405 ``Allow`` naming one method,
and ``/docs`` loaded Swagger UI from a CDN. The live-server run over every operation is
test_schemathesis.py; these are the direct checks.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import jsonschema
import pytest
from tests.server.conftest import WS, Server
from tests.server.test_permissions import CASES, READ

from jirahooks.rules import templates
from jirahooks.rules.config import parse_rule
from jirahooks.rules.model import Rule
from jirahooks.rules.schema import dump


@pytest.fixture
def doc(server: Server) -> dict[str, Any]:
    document: dict[str, Any] = server.client.get("/openapi.json").json()
    return document


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(p, m, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def test_the_bearer_token_is_the_admin_apis_auth_scheme(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    admin = [(p, m, op) for p, m, op in _operations(doc) if p.startswith("/api/v1/")]
    assert len(admin) > 40
    assert all(op.get("security") == [{"bearerAuth": []}] for _, _, op in admin)
    assert all("401" in op["responses"] for _, _, op in admin)


def test_error_responses_have_the_shape_the_server_sends(
    server: Server, doc: dict[str, Any]
) -> None:
    text = str(doc)
    assert "HTTPValidationError" not in text and "#/components/schemas/ValidationError" not in text
    error = doc["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"code", "message", "hint"}
    for path, method, op in _operations(doc):
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            ref = response["content"]["application/json"]["schema"]["$ref"]
            wanted = "ValidationApiErrorBody" if path.startswith("/api/validate/") else "ErrorBody"
            assert ref.endswith("/" + wanted), (method, path, status)
    # the real answers match: a 422, a 404, a 401 from the admin API
    answers = [
        server.call("POST", f"/workspaces/{WS}/repositories", json={"slug": ""}),
        server.call("GET", f"/workspaces/{WS}/connections/999"),
        server.call("GET", "/me", token=None),
    ]
    assert [a.status_code for a in answers] == [422, 404, 401]
    for answer in answers:
        jsonschema.validate(answer.json(), error)
    invalid = server.client.post(f"/api/validate/{WS}", content=b"{")
    assert invalid.status_code in (400, 401)
    jsonschema.validate(invalid.json(), doc["components"]["schemas"]["ValidationApiErrorBody"])
    assert "422" not in doc["paths"]["/api/validate/{workspace}"]["post"]["responses"]


def test_every_status_of_the_permission_matrix_is_declared(doc: dict[str, Any]) -> None:
    """403 is declared exactly where a role of the workspace is refused (the matrix in
    test_permissions.py, which runs every case against the server, is the oracle); 404 where
    the path names something; 409 where a name can be taken."""
    for case in CASES:
        path = "/api/v1" + re.sub(r"/workspaces/default", "/workspaces/{workspace}", case.path)
        path = path.replace("/repositories/api", "/repositories/{repository}")
        path = path.replace("/pull-requests/1/", "/pull-requests/{pr_id}/")
        op = doc["paths"].get(path, {}).get(case.method.lower())
        assert op is not None, case.id
        refused = not case.allowed >= READ and path.startswith("/api/v1/workspaces/")
        assert ("403" in op["responses"]) == refused, case.id
        if "{" in path:
            assert "404" in op["responses"], case.id
    for path, method in [
        ("/api/v1/workspaces/{workspace}/connections", "post"),
        ("/api/v1/workspaces/{workspace}/repositories", "post"),
        ("/api/v1/workspaces/{workspace}/rules", "post"),
        ("/api/v1/workspaces/{workspace}/users", "post"),
        ("/api/v1/workspaces/{workspace}/validation-tokens", "post"),
    ]:
        assert "409" in doc["paths"][path][method]["responses"], (method, path)
        assert "413" in doc["paths"][path][method]["responses"], (method, path)
    # Bitbucket's webhook: 202 accepted or ignored, 200 for a delivery received before
    webhook = doc["paths"]["/webhooks/bitbucket/{workspace}"]["post"]["responses"]
    assert {"200", "202", "400", "401", "403", "404", "413"} <= set(webhook)


def test_rule_bodies_are_typed_from_the_rule_model(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for path in (
        "/api/v1/workspaces/{workspace}/rules",
        "/api/v1/workspaces/{workspace}/repositories/{repository}/rules",
    ):
        body = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"] == {"$ref": "#/components/schemas/RuleDefinition"}
    put = doc["paths"]["/api/v1/workspaces/{workspace}/rules/{rule_id}"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/RuleDefinition"
    )
    rule = schemas["RuleDefinition"]
    # generated from the dataclass: every field the reader reads, nothing else
    fields = {f.name for f in dataclasses.fields(Rule) if f.init} - {"scope"}
    assert set(rule["properties"]) == fields | {"template"}
    assert rule["additionalProperties"] is False
    assert set(rule["properties"]["checks"]["properties"]) >= {"jql", "keys_valid", "naming"}
    # every built-in template, as stored, fits the schema; an unknown field does not
    for template in templates.TEMPLATES:
        jsonschema.validate(dict(template.rule), rule)  # as written
        stored = dump(parse_rule({"template": template.name}))  # as the API stores it
        jsonschema.validate({k: v for k, v in stored.items() if k != "scope"}, rule)
        jsonschema.validate({"template": template.name, "title": "Mine"}, rule)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"title": "x", "colour": "red"}, rule)


def test_405_allow_names_every_method_of_the_path(server: Server) -> None:
    answer = server.call("PUT", f"/workspaces/{WS}/connections")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    answer = server.call("POST", f"/workspaces/{WS}/connections/1")
    assert answer.headers["allow"] == "GET, PATCH, DELETE"
    assert set(answer.json()) == {"code", "message", "hint"}
    answer = server.client.get(f"/api/validate/{WS}")
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"


def test_docs_load_swagger_ui_from_the_server_itself(server: Server) -> None:
    page = server.client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(
        r"url: '([^']+)'", page.text
    )
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    for url in urls:
        asset = server.client.get(url)
        assert asset.status_code == 200, url
    bundle = server.client.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in bundle.headers["content-type"] and len(bundle.content) > 100_000


def test_the_document_is_built_off_the_event_loop_once(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building the document takes ~0.7 s of CPU; on FastAPI's own route it ran on the event
    loop, so every other request waited for the first ``/openapi.json`` (CI saw it exceed a 10 s
    client timeout on a loaded machine)."""
    import threading

    from jirahooks.server import openapi

    built_on: list[str] = []
    real = openapi.document

    def recording(app: Any) -> dict[str, Any]:
        built_on.append(threading.current_thread().name)
        return real(app)

    monkeypatch.setattr(openapi, "document", recording)
    first = server.client.get("/openapi.json")
    second = server.client.get("/openapi.json")
    assert first.status_code == second.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.content == second.content and first.json()["openapi"].startswith("3.")
    assert len(built_on) == 1 and built_on[0].startswith("jirahooks-cpu"), built_on
