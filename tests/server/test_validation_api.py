"""The Validation API: every error code and status of validation-api.md, PASS / BLOCK / IGNORE,
locales, token scopes, and the evaluation it stores."""

from __future__ import annotations

from typing import Any

import pytest
from tests.server.conftest import WS, Server, compact, sign

NO_KEY = {"hash": "a" * 40, "message": "fix the login page", "authorDisplayName": "Ada"}
WITH_KEY = {"hash": "b" * 40, "message": "ABC-1 fix the login page", "authorDisplayName": "Ada"}


def push(*commits: dict[str, str], branch: str = "feature/x", **extra: Any) -> dict[str, Any]:
    return {"triggerType": "PUSH", "branchName": branch, "commits": list(commits), **extra}


@pytest.fixture
def ready(server: Server) -> tuple[Server, str]:
    """Repository ``api`` with the commit-key rule and a repository token."""
    server.add_repository("api")
    server.add_rule("commit-key-required")
    return server, server.validation_token("ci", "api")["secret"]


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "errorCode"}
    assert body["errorCode"] == code
    assert "[" not in body["error"]  # the client renders errors as markup
    assert "Traceback" not in response.text


def test_block_and_pass(ready: tuple[Server, str]) -> None:
    server, secret = ready
    blocked = server.validate(push(NO_KEY), secret)
    assert blocked.status_code == 200
    doc = blocked.json()
    assert doc["result"] == "BLOCK"
    assert isinstance(doc["timestamp"], int)
    [validation] = doc["ruleValidations"]
    assert validation["ruleStatus"] == "BLOCK"
    assert validation["rule"]["id"] == "commit-key-required"
    assert doc["errorValidations"][0]["errorMessages"]
    passed = server.validate(push(WITH_KEY), secret)
    assert passed.json()["result"] == "PASS"


def test_commit_trigger_and_branch_only(ready: tuple[Server, str]) -> None:
    server, secret = ready
    commit = {
        "triggerType": "COMMIT",
        "branchName": "main",
        "commits": [dict(NO_KEY, hash="0" * 40)],
    }
    assert server.validate(commit, secret).json()["result"] == "BLOCK"
    branch_only = server.validate(
        {"triggerType": "PUSH", "branchName": "feature/x", "commits": []}, secret
    )
    assert branch_only.status_code == 200
    assert branch_only.json()["result"] in {"PASS", "SKIP", "IGNORE"}


def test_locale_de(ready: tuple[Server, str]) -> None:
    server, secret = ready
    en = server.validate(push(NO_KEY, locale="en-US"), secret).json()
    de = server.validate(push(NO_KEY, locale="de-DE"), secret).json()
    en_facts = [f["message"] for f in en["ruleValidations"][0]["checkFacts"]]
    de_facts = [f["message"] for f in de["ruleValidations"][0]["checkFacts"]]
    assert en_facts and de_facts and en_facts != de_facts


@pytest.mark.parametrize("body", [b"", b"   ", b"{}"])
def test_empty_payload_is_ignore(ready: tuple[Server, str], body: bytes) -> None:
    server, secret = ready
    response = server.validate(None, secret, raw=body)
    assert response.status_code == 200
    assert response.json()["result"] == "IGNORE"


def test_neither_branch_nor_commits_is_ignore(ready: tuple[Server, str]) -> None:
    server, secret = ready
    response = server.validate({"triggerType": "PUSH", "branchName": "", "commits": []}, secret)
    assert response.json()["result"] == "IGNORE"


def test_repository_from_body_and_uuid(ready: tuple[Server, str]) -> None:
    server, secret = ready
    by_slug = server.validate(push(NO_KEY, repoSlug="api"), secret, repo=None)
    assert by_slug.json()["result"] == "BLOCK"
    server.ok("PATCH", f"/workspaces/{WS}/repositories/api", json={"uuid": "{1234-abcd}"})
    by_uuid = server.validate(push(NO_KEY, repositoryUuid="{1234-ABCD}"), secret, repo=None)
    assert by_uuid.json()["result"] == "BLOCK"


def test_workspace_token_covers_every_repository(ready: tuple[Server, str]) -> None:
    server, _ = ready
    server.add_repository("web")
    secret = server.validation_token("all")["secret"]
    assert server.validate(push(NO_KEY), secret, repo="web").json()["result"] == "BLOCK"


# -- errors ----------------------------------------------------------------------------------


def test_workspace_context_missing(ready: tuple[Server, str]) -> None:
    server, secret = ready
    body = compact(push(NO_KEY))
    headers = {"x-hub-signature-256": sign(secret, body)}
    assert_error(
        server.client.post("/api/validate", content=body, headers=headers),
        400,
        "WORKSPACE_CONTEXT_MISSING",
    )
    assert_error(
        server.validate(push(NO_KEY), secret, workspace="nope"), 400, "WORKSPACE_CONTEXT_MISSING"
    )


def test_json_parse_error(ready: tuple[Server, str]) -> None:
    server, secret = ready
    assert_error(
        server.validate(None, secret, raw=b'{"triggerType": "PUSH",'), 400, "JSON_PARSE_ERROR"
    )


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2],
        {"triggerType": "PUSH", "commits": {"hash": "x"}},
        {"triggerType": "PUSH", "commits": [{"message": "no hash"}]},
        {"triggerType": "PUSH", "commits": ["text"]},
        {"triggerType": "PUSH", "branchName": 7},
        {"branchName": "main"},
        {"triggerType": 3, "branchName": "main"},
    ],
)
def test_payload_validation_error(ready: tuple[Server, str], payload: Any) -> None:
    server, secret = ready
    assert_error(server.validate(payload, secret), 400, "PAYLOAD_VALIDATION_ERROR")


@pytest.mark.parametrize("trigger", ["PULL_REQUEST", "MERGE_COMMIT", "push"])
def test_unsupported_trigger(ready: tuple[Server, str], trigger: str) -> None:
    server, secret = ready
    payload = {"triggerType": trigger, "branchName": "main", "commits": [NO_KEY]}
    assert_error(server.validate(payload, secret), 400, "UNSUPPORTED_TRIGGER_TYPE")


def test_repository_id_missing(ready: tuple[Server, str]) -> None:
    server, _ = ready
    secret = server.validation_token("all")["secret"]
    assert_error(server.validate(push(NO_KEY), secret, repo=None), 400, "REPOSITORY_ID_MISSING")


def test_repository_not_found(ready: tuple[Server, str]) -> None:
    server, _ = ready
    secret = server.validation_token("all")["secret"]
    assert_error(server.validate(push(NO_KEY), secret, repo="ghost"), 404, "REPOSITORY_NOT_FOUND")
    # unknown repositories are not registered by the call
    assert server.call("GET", f"/workspaces/{WS}/repositories/ghost").status_code == 404


def test_hmac_auth_missing(ready: tuple[Server, str]) -> None:
    server, _ = ready
    assert_error(server.validate(push(NO_KEY), None), 401, "HMAC_AUTH_MISSING")


def test_hmac_secret_not_configured(server: Server) -> None:
    server.add_repository("api")
    assert_error(server.validate(push(NO_KEY), "anything"), 401, "HMAC_SECRET_NOT_CONFIGURED")


def test_hmac_signature_invalid(ready: tuple[Server, str]) -> None:
    server, secret = ready
    assert_error(server.validate(push(NO_KEY), secret + "x"), 401, "HMAC_SIGNATURE_INVALID")
    body = compact(push(NO_KEY))
    for header in ["sha1=" + sign(secret, body)[7:], sign(secret, body)[7:], "sha256="]:
        response = server.validate(None, None, raw=body, headers={"x-hub-signature-256": header})
        assert_error(response, 401, "HMAC_SIGNATURE_INVALID")
    # the signature covers the raw bytes: a re-serialised body does not verify
    pretty = b'{"triggerType": "PUSH", "branchName": "x", "commits": []}'
    compact_sig = sign(secret, compact({"triggerType": "PUSH", "branchName": "x", "commits": []}))
    response = server.validate(None, None, raw=pretty, headers={"x-hub-signature-256": compact_sig})
    assert_error(response, 401, "HMAC_SIGNATURE_INVALID")


def test_repository_token_is_scoped(ready: tuple[Server, str]) -> None:
    server, secret = ready  # a token of repository api
    server.add_repository("web")
    server.validation_token("web-token", "web")
    assert_error(server.validate(push(NO_KEY), secret, repo="web"), 401, "HMAC_SIGNATURE_INVALID")
    body_scoped = server.validate(push(NO_KEY, repoSlug="web"), secret, repo=None)
    assert_error(body_scoped, 401, "HMAC_SIGNATURE_INVALID")


def test_revoked_and_rotated_tokens(ready: tuple[Server, str]) -> None:
    server, secret = ready
    [token] = server.ok("GET", f"/workspaces/{WS}/validation-tokens")
    rotated = server.ok("POST", f"/workspaces/{WS}/validation-tokens/{token['id']}/rotate")
    assert rotated["secret"] != secret
    assert_error(server.validate(push(NO_KEY), secret), 401, "HMAC_SIGNATURE_INVALID")
    assert server.validate(push(NO_KEY), rotated["secret"]).status_code == 200
    server.ok("DELETE", f"/workspaces/{WS}/validation-tokens/{token['id']}")
    assert_error(
        server.validate(push(NO_KEY), rotated["secret"]), 401, "HMAC_SECRET_NOT_CONFIGURED"
    )


def test_payload_too_large(ready: tuple[Server, str]) -> None:
    server, secret = ready
    limit = server.settings.max_body_bytes
    big = push(dict(NO_KEY, message="x" * (limit + 10)))
    assert_error(server.validate(big, secret), 413, "PAYLOAD_TOO_LARGE")


def test_feature_disabled(ready: tuple[Server, str]) -> None:
    server, secret = ready
    server.ok("PUT", f"/workspaces/{WS}/repositories/api/settings", json={"validation_api": False})
    assert_error(server.validate(push(NO_KEY), secret), 403, "FEATURE_DISABLED_REPO")
    server.ok("PUT", f"/workspaces/{WS}/settings", json={"validation_api": False})
    assert_error(server.validate(push(NO_KEY), secret), 403, "FEATURE_DISABLED_GLOBAL")
    server.ok("PUT", f"/workspaces/{WS}/repositories/api/settings", json={})
    assert_error(server.validate(push(NO_KEY), secret), 403, "FEATURE_DISABLED_GLOBAL")
    # off for the workspace is off everywhere, whatever a repository says
    server.ok("PUT", f"/workspaces/{WS}/repositories/api/settings", json={"validation_api": True})
    assert_error(server.validate(push(NO_KEY), secret), 403, "FEATURE_DISABLED_GLOBAL")
    server.ok("PUT", f"/workspaces/{WS}/settings", json={})
    assert server.validate(push(NO_KEY), secret).status_code == 200


def test_guardian_off_is_ignore(ready: tuple[Server, str]) -> None:
    server, secret = ready
    server.ok("PUT", f"/workspaces/{WS}/repositories/api/settings", json={"enabled": False})
    assert server.validate(push(NO_KEY), secret).json()["result"] == "IGNORE"


def test_internal_error(ready: tuple[Server, str], monkeypatch: pytest.MonkeyPatch) -> None:
    server, secret = ready

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database exploded at /secret/path")

    monkeypatch.setattr(server.state.resolvers, "resolver", broken)
    response = server.validate(push(NO_KEY), secret)
    assert_error(response, 500, "INTERNAL_ERROR")
    assert "exploded" not in response.text


def test_wrong_method_answers_in_the_protocol_format(ready: tuple[Server, str]) -> None:
    server, _ = ready
    response = server.client.get(f"/api/validate/{WS}")
    assert response.status_code == 405
    assert set(response.json()) == {"error", "errorCode"}


def test_evaluations_are_stored(ready: tuple[Server, str]) -> None:
    server, secret = ready
    server.validate(push(NO_KEY), secret)
    server.validate(push(WITH_KEY), secret)
    page = server.ok("GET", f"/workspaces/{WS}/evaluations")
    assert [e["result"] for e in page["items"]] == ["PASS", "BLOCK"]
    newest = page["items"][0]
    assert newest["token"] == "ci" and newest["repository"] == "api" and newest["trigger"] == "PUSH"
    assert newest["rules"][0]["status"] == "PASS"
    blocked = server.ok("GET", f"/workspaces/{WS}/evaluations", params={"result": "BLOCK"})
    assert len(blocked["items"]) == 1
    detail = server.ok("GET", f"/workspaces/{WS}/evaluations/{blocked['items'][0]['id']}")
    assert detail["event"]["commits"][0]["message"] == NO_KEY["message"]
    assert detail["document"]["result"] == "BLOCK"
    assert detail["duration_ms"] >= 0
    by_repo = server.ok(
        "GET", f"/workspaces/{WS}/evaluations", params={"repository": "api", "limit": 1}
    )
    assert len(by_repo["items"]) == 1 and by_repo["next_before"] is not None
    future = server.ok(
        "GET", f"/workspaces/{WS}/evaluations", params={"since": "2999-01-01T00:00:00Z"}
    )
    assert future["items"] == []
