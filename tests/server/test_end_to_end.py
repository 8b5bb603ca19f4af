"""End to end through a real uvicorn server on 127.0.0.1: a request signed exactly as the
reference hook client signs it (compact JSON, non-ASCII escaped as \\uXXXX) gets a BLOCK for a
commit without an issue key, and a PASS with one."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.server.conftest import WS, make_settings
from tests.support.live import UvicornThread

from jirahooks.server import create_app


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[tuple[UvicornThread, str]]:
    app = create_app(make_settings(tmp_path, database_url))
    with UvicornThread(app) as live:
        yield live, app.state.jirahooks.first_start.token


def test_signed_push_is_blocked_over_real_http(live: tuple[UvicornThread, str]) -> None:
    server, admin = live
    auth = {"Authorization": f"Bearer {admin}", "Content-Type": "application/json"}
    api = f"{server.url}/api/v1/workspaces/{WS}"
    assert http("POST", f"{api}/repositories", json.dumps({"slug": "api"}).encode(), auth)[0] == 201
    rule = {"template": "commit-key-required"}
    assert http("POST", f"{api}/rules/from-template", json.dumps(rule).encode(), auth)[0] == 201
    status, token = http(
        "POST",
        f"{api}/validation-tokens",
        json.dumps({"name": "hooks", "repository": "api"}).encode(),
        auth,
    )
    assert status == 201
    endpoint, secret = token["endpoint"], token["secret"]
    assert endpoint == f"{server.url}/api/validate/{WS}?repoSlug=api"

    def client_call(message: str) -> tuple[int, Any]:
        # What jhfb_hooks does: json.dumps(payload, separators=(",", ":")), HMAC over those bytes.
        payload = {
            "triggerType": "PUSH",
            "branchName": "feature/überarbeitung",
            "commits": [
                {
                    "hash": "c0ffee" * 6 + "0000",
                    "message": message,
                    "authorDisplayName": "Jürgen Müller",
                }
            ],
            "locale": "de-DE",
        }
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        assert b"\\u00fc" in body  # non-ASCII escaped, as the reference client sends it
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "x-hub-signature-256": signature}
        return http("POST", endpoint, body, headers)

    status, document = client_call("Überarbeitung der Anmeldung")
    assert status == 200
    assert document["result"] == "BLOCK"
    assert document["ruleValidations"][0]["ruleStatus"] == "BLOCK"
    status, document = client_call("ABC-12 Überarbeitung der Anmeldung")
    assert (status, document["result"]) == (200, "PASS")
    status, body = http("POST", endpoint, b"{}", {"x-hub-signature-256": "sha256=00"})
    assert (status, body["errorCode"]) == (401, "HMAC_SIGNATURE_INVALID")
