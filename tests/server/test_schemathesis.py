"""Property-based run of schemathesis over the server's own ``/openapi.json`` (issues 10, 14):
every operation of the admin API, the Validation API and the webhooks gets generated requests —
schema-conforming ones and deliberately invalid ones — against a live uvicorn with a configured
workspace, and every response passes schemathesis' checks: no 5xx, no status the document does
not declare for that operation, no body, content type or header that contradicts it, invalid
data rejected, a 405 whose ``Allow`` is right, authentication not ignored (``CHECKS``).
On b9f4856 this found 81 documentation gaps.

Bounded and reproducible: a fixed number of examples per operation and mode, Hypothesis
derandomized (a fixed seed, no example database), so it adds seconds, not minutes, and a failure
reproduces. Requests carry the administrator's API token, and Validation API requests are signed
with a real validation token, so generated bodies reach the parsers behind authentication.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis import checks as st_checks
from tests.support.live import UvicornThread

from jirahooks.crypto import generate_key
from jirahooks.pipeline.options import WorkerOptions
from jirahooks.server import ServerSettings, create_app

WS = "default"
# Every response check schemathesis has, except: max_response_time (a timing threshold, and the
# machine is shared), positive_data_acceptance (its premise is that a schema-conforming body is
# accepted, but a rule that reads but does not make sense, a URL that is no http URL or a Jira
# connection whose test fails is refused with a documented 422 — the reader decides, not the
# schema) and the checks that need a recorded multi-step scenario or a second user
# (use_after_free, ensure_resource_availability, object_level_authorization; the permission
# matrix in test_permissions.py covers what other users may do).
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
    st_checks.negative_data_rejection,
    st_checks.missing_required_header,
    st_checks.unsupported_method,
    st_checks.allow_header_conformance,
    st_checks.ignored_auth,
]
EXAMPLES = 6  # per operation and generation mode
VALIDATE = "/api/validate/{workspace}"
FIRST = ("/api/validate", "/webhooks/")  # before any rotation or revocation
LAST = ("/api/v1/me/tokens", "/api/v1/workspaces/{workspace}/bitbucket")


def _api(base: str, token: str, method: str, path: str, body: Any) -> Any:
    request = urllib.request.Request(
        f"{base}/api/v1{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[dict[str, str]]:
    """A live server on SQLite and on PostgreSQL: a configured workspace with a repository, a
    rule, Bitbucket (signatures not required, the PR worker off) and a validation token."""
    settings = ServerSettings(
        data_dir=tmp_path / "data", database_url=database_url, secret_key=generate_key()
    )
    app = create_app(settings)
    app.state.pr_worker_options = WorkerOptions(enabled=False)  # deliveries stored, not sent on
    with UvicornThread(app) as server:
        token = str(app.state.jirahooks.first_start.token)
        _api(server.url, token, "POST", f"/workspaces/{WS}/repositories", {"slug": "api"})
        rule = {"template": "commit-key-required"}
        _api(server.url, token, "POST", f"/workspaces/{WS}/rules/from-template", rule)
        bitbucket = {"token": "t", "require_signature": False, "api_url": "http://127.0.0.1:9"}
        _api(server.url, token, "PUT", f"/workspaces/{WS}/bitbucket", bitbucket)
        created = _api(
            server.url, token, "POST", f"/workspaces/{WS}/validation-tokens", {"name": "ci"}
        )
        yield {"url": server.url, "token": token, "secret": str(created["secret"])}


def _send(case: Any, live: dict[str, str]) -> requests.Response:
    headers = {"Authorization": f"Bearer {live['token']}"}
    if case.operation.path != VALIDATE:
        return case.call(base_url=live["url"], headers=headers, timeout=30)
    # Sign what is actually sent, as the hook clients do, so the body gets past the HMAC check.
    kwargs = case.as_transport_kwargs(base_url=live["url"], headers=headers)
    body = kwargs.pop("json", None)
    raw = kwargs.pop("data", None)
    if raw is None:
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    elif isinstance(raw, str):
        raw = raw.encode()
    signature = "sha256=" + hmac.new(live["secret"].encode(), raw, hashlib.sha256).hexdigest()
    headers = {k.lower(): v for k, v in kwargs.get("headers", {}).items()}
    if "x-hub-signature-256" in headers:  # a case without it (negative data) stays without
        headers["x-hub-signature-256"] = signature
    kwargs["headers"] = headers
    kwargs.setdefault("params", {})
    kwargs["params"] = {**(kwargs["params"] or {}), "repoSlug": "api"}
    return requests.request(data=raw, timeout=30, **kwargs)


def _check(case: Any, response: requests.Response, live: dict[str, str]) -> list[str]:
    """The checks' failures for one response (empty when all pass)."""
    try:
        case.validate_response(
            response,
            checks=CHECKS,
            headers={"Authorization": f"Bearer {live['token']}"},
            transport_kwargs={"base_url": live["url"]},
        )
    except (AssertionError, BaseExceptionGroup) as exc:  # a Failure, or a FailureGroup of them
        failures = getattr(exc, "exceptions", [exc])
        return [
            f"{case.method} {case.formatted_path} -> {response.status_code}: "
            f"{getattr(f, 'title', type(f).__name__)}: {str(getattr(f, 'message', f))[:300]}"
            for f in failures
        ]
    return []


def test_every_response_is_the_documented_one(live: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(live["url"] + "/openapi.json", timeout=60)
    failures: list[str] = []
    statuses: dict[str, set[int]] = {}
    operations = 0
    # The Validation API and webhooks first; deletions last, and last of all the ones that could revoke this run's own token or
    # configuration, so every other operation is exercised behind authentication.
    ordered = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda op: (
            op.method.upper() == "DELETE",
            op.path.startswith(LAST),
            not op.path.startswith(FIRST),
            op.path,
        ),
    )
    for operation in ordered:
        operations += 1
        fixed = {
            name: WS if name == "workspace" else "api"
            for name in ("workspace", "repository")
            if f"{{{name}}}" in operation.path
        }
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed or None)

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                response = _send(case, live)
                statuses.setdefault(case.operation.label, set()).add(response.status_code)
                failures.extend(_check(case, response, live))

            try:
                run()
            except Unsatisfiable:  # nothing to generate in this mode (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert operations > 40  # the whole API was covered, not an empty schema
    # generated requests got past authentication and the signature, into the handlers
    assert 200 in statuses["POST /api/validate/{workspace}"]
    assert sum(any(c < 300 for c in codes) for codes in statuses.values()) > 30
    assert failures == [], "\n".join(failures[:20])
