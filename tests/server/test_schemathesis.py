"""Property-based run of schemathesis over the server's own ``/openapi.json`` (issue 10): every
operation of the admin API, the Validation API and the webhooks gets generated requests —
schema-conforming ones and deliberately invalid ones — against a live uvicorn with a configured
workspace, and not one response may be a 5xx.

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
from tests.support.live import UvicornThread

from jirahooks.crypto import generate_key
from jirahooks.server import ServerSettings, create_app
from jirahooks.server.platform_config import WorkerOptions

WS = "default"
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
        return case.call(base_url=live["url"], headers=headers)
    # Sign what is actually sent, as the hook clients do, so the body gets past the HMAC check.
    kwargs = case.as_transport_kwargs(base_url=live["url"], headers=headers)
    body = kwargs.pop("json", None)
    raw = kwargs.pop("data", None)
    if raw is None:
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    elif isinstance(raw, str):
        raw = raw.encode()
    signature = "sha256=" + hmac.new(live["secret"].encode(), raw, hashlib.sha256).hexdigest()
    kwargs["headers"] = {**kwargs.get("headers", {}), "x-hub-signature-256": signature}
    kwargs.setdefault("params", {})
    kwargs["params"] = {**(kwargs["params"] or {}), "repoSlug": "api"}
    return requests.request(data=raw, timeout=30, **kwargs)


def test_no_generated_request_gets_a_server_error(live: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(live["url"] + "/openapi.json")
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
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} {case.body!r:.300}"
                        f" -> {response.status_code} {response.text[:200]}"
                    )

            try:
                run()
            except Unsatisfiable:  # nothing to generate in this mode (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert operations > 40  # the whole API was covered, not an empty schema
    # generated requests got past authentication and the signature, into the handlers
    assert 200 in statuses["POST /api/validate/{workspace}"]
    assert sum(any(c < 300 for c in codes) for codes in statuses.values()) > 30
    assert failures == [], "\n".join(failures[:20])
