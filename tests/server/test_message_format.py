"""``POST /api/validate/{workspace}/message-format`` (server/message_format.py): the commit
message shape for the prepare-commit-msg hook, signed like a validation request, on SQLite
and PostgreSQL; and the hook client's reading of it (``remote.message_format``)."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import WS, Server, sign

from jirahooks.hooks.remote import message_format_url


def _ask(
    server: Server, secret: str | None, *, repo: str | None = "api", body: bytes = b"{}"
) -> Any:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["x-hub-signature-256"] = sign(secret, body)
    url = f"/api/validate/{WS}/message-format" + (f"?repoSlug={repo}" if repo else "")
    return server.client.post(url, content=body, headers=headers)


def _ready(server: Server) -> str:
    server.add_repository("api")
    server.add_rule("commit-key-required")
    secret: str = server.validation_token("hooks", "api")["secret"]
    return secret


def test_default_shape_and_key_settings(server: Server) -> None:
    secret = _ready(server)
    answer = _ask(server, secret)
    assert answer.status_code == 200, answer.text
    form = answer.json()["messageFormat"]
    assert form["template"] == "{key} {message}" and form["source"] == "default"
    assert form["caseInsensitive"] == ["BRANCH"]
    assert form["ignoredKeys"] == ["CVE-*", "UTF-*", "ISO-*"]
    # nothing was evaluated, nothing stored
    listed = server.ok("GET", f"/workspaces/{WS}/evaluations")
    assert (listed["items"] if isinstance(listed, dict) else listed) == []


def test_the_repository_setting_wins(server: Server) -> None:
    secret = _ready(server)
    path = f"/workspaces/{WS}/repositories/api/settings"
    server.ok("PATCH", path, json={"commit_message_template": "[{key}] {message}"})
    form = _ask(server, secret).json()["messageFormat"]
    assert (form["template"], form["source"]) == ("[{key}] {message}", "settings")
    bad = server.call("PATCH", path, json={"commit_message_template": "no placeholders"})
    assert bad.status_code == 422
    assert bad.json()["problems"][0]["path"].endswith("settings.commit_message_template")


def test_errors_are_the_validation_apis(server: Server) -> None:
    secret = _ready(server)
    assert _ask(server, None).json()["errorCode"] == "HMAC_AUTH_MISSING"
    assert _ask(server, "wrong").json()["errorCode"] == "HMAC_SIGNATURE_INVALID"
    missing = _ask(server, secret, repo="nope")
    assert (missing.status_code, missing.json()["errorCode"]) == (404, "REPOSITORY_NOT_FOUND")
    assert _ask(server, secret, repo=None).json()["errorCode"] == "REPOSITORY_ID_MISSING"
    not_json = _ask(server, secret, body=b"{oops")
    assert (not_json.status_code, not_json.json()["errorCode"]) == (400, "JSON_PARSE_ERROR")
    listed = _ask(server, secret, body=b"[1]")
    assert listed.json()["errorCode"] == "PAYLOAD_VALIDATION_ERROR"
    server.ok(
        "PATCH", f"/workspaces/{WS}/repositories/api/settings", json={"validation_api": False}
    )
    off = _ask(server, secret)
    assert (off.status_code, off.json()["errorCode"]) == (403, "FEATURE_DISABLED_REPO")


def test_the_client_builds_the_url_beside_the_endpoint() -> None:
    assert (
        message_format_url("https://jh.example/api/validate/acme?repoSlug=api")
        == "https://jh.example/api/validate/acme/message-format?repoSlug=api"
    )
    assert (
        message_format_url("http://h/api/validate/acme/")
        == "http://h/api/validate/acme/message-format"
    )
