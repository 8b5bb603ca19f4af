"""A stored credential is bound to the destination and identity it was entered for.

Changing a Jira connection's URL (scheme, host, port or path), deployment, e-mail or account ID
without sending the token again is refused (422 ``TOKEN_REQUIRED``) and changes nothing, so
"Test connection" never hands the stored token to a new host: a real loopback listener records
every ``Authorization`` header it receives and must receive none. The same holds for the
Bitbucket settings (API URL, auth kind, username, Bitbucket workspace).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.fakes.loopback import LoopbackServer
from tests.server.conftest import WS, Server

from jirahooks.cli import main

W = f"/workspaces/{WS}"
STORED = "tok2-stored-secret"


class Listener:
    """A loopback HTTP server that records the Authorization header of every request."""

    def __init__(self) -> None:
        self.received: list[str] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                received.append(self.headers.get("Authorization") or "")
                body = json.dumps({"errorMessages": ["recorded"]}).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = LoopbackServer(Handler)
        self.url = f"http://127.0.0.1:{self.server.port}"


def credentials(header: str) -> str:
    """What an Authorization header carries, Basic credentials decoded."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        return base64.b64decode(value).decode()
    return value


@pytest.fixture
def listener() -> Iterator[Listener]:
    recorder = Listener()
    recorder.server.start()
    try:
        yield recorder
    finally:
        recorder.server.stop()


def _connection(server: Server, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "Jira",
        "url": "http://127.0.0.1:9/jira",  # closed port: the original host never answers
        "deployment": "datacenter",
        "email": "bot@example.com",
        "account_id": "acct-1",
        "token": STORED,
        "save_anyway": True,  # nothing answers there: saved untested
        **extra,
    }
    created: dict[str, Any] = server.ok("POST", f"{W}/connections", json=body)
    return created


def _updates(server: Server) -> int:
    audit = server.ok("GET", f"{W}/audit", params={"action": "connection.update"})
    return len(audit["items"])


@pytest.mark.parametrize(
    "change",
    [
        {"url": "LISTENER"},
        {"url": "https://127.0.0.1:9/jira"},  # scheme
        {"url": "http://127.0.0.1:10/jira"},  # port
        {"url": "http://127.0.0.1:9/other"},  # path
        {"url": "http://localhost:9/jira"},  # host
        {"email": "someone@example.com"},
        {"account_id": "acct-2"},
        {"deployment": "cloud"},
        {"url": "LISTENER", "email": "x@example.com", "name": "renamed"},
    ],
    ids=lambda c: "+".join(c),
)
def test_changing_destination_or_identity_without_the_token_is_refused(
    server: Server, listener: Listener, change: dict[str, str]
) -> None:
    created = _connection(server)
    path = f"{W}/connections/{created['id']}"
    body = {k: listener.url if v == "LISTENER" else v for k, v in change.items()}
    updates = _updates(server)
    response = server.call("PATCH", path, json=body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["code"] == "TOKEN_REQUIRED"
    assert answer["message"].startswith("token: ") and answer["hint"]
    assert STORED not in response.text
    # nothing changed, nothing audited
    assert server.ok("GET", path) == created
    assert _updates(server) == updates
    # "Test" uses what is stored: the listener never hears from us
    server.ok("POST", f"{path}/test")
    assert listener.received == []


def test_the_new_token_goes_to_the_new_url(server: Server, listener: Listener) -> None:
    """The positive control: with the token given, the change is saved and Test reaches the
    listener with the *new* token (so the listener above would have seen a leak)."""
    created = _connection(server)
    path = f"{W}/connections/{created['id']}"
    saved = server.ok(
        "PATCH", path, json={"url": listener.url, "token": "tok3-new", "save_anyway": True}
    )
    assert saved["url"] == listener.url and saved["token_set"]
    server.ok("POST", f"{path}/test")
    assert listener.received
    assert all(credentials(h).endswith("tok3-new") for h in listener.received)


@pytest.mark.parametrize(
    "same",
    [
        "http://127.0.0.1:9/jira/",
        "http://127.0.0.1:9/jira//",
    ],
)
def test_the_same_destination_written_differently_keeps_the_token(
    server: Server, same: str
) -> None:
    created = _connection(server)
    path = f"{W}/connections/{created['id']}"
    saved = server.ok(
        "PATCH",
        path,
        json={"url": same, "name": "Renamed", "timeout_seconds": 5, "save_anyway": True},
    )
    assert saved["token_set"] and saved["name"] == "Renamed"


def test_default_ports_are_the_same_destination(server: Server) -> None:
    created = _connection(server, url="https://jira.example.com")
    path = f"{W}/connections/{created['id']}"
    saved = server.ok(
        "PATCH", path, json={"url": "https://JIRA.example.com:443/", "save_anyway": True}
    )
    assert saved["token_set"]


def test_without_a_stored_token_nothing_is_bound(server: Server, listener: Listener) -> None:
    created = _connection(server, token="")
    path = f"{W}/connections/{created['id']}"
    saved = server.ok(
        "PATCH", path, json={"url": listener.url, "email": "x@example.com", "save_anyway": True}
    )
    assert saved["url"] == listener.url and not saved["token_set"]


def test_clearing_the_token_with_the_change_is_allowed(server: Server, listener: Listener) -> None:
    created = _connection(server)
    path = f"{W}/connections/{created['id']}"
    saved = server.ok("PATCH", path, json={"url": listener.url, "token": "", "save_anyway": True})
    assert saved["url"] == listener.url and not saved["token_set"]
    server.ok("POST", f"{path}/test")
    assert not any(STORED in credentials(h) for h in listener.received)


# -- Bitbucket -------------------------------------------------------------------------------


def _bitbucket(server: Server) -> dict[str, Any]:
    body = {
        "auth_kind": "api_token",
        "username": "bot@example.com",
        "token": STORED,
        "webhook_secret": "hook-secret",
        "api_url": "http://127.0.0.1:9/2.0",
        "bitbucket_workspace": "acme",
    }
    saved: dict[str, Any] = server.ok("PUT", f"{W}/bitbucket", json=body)
    return body | {"saved": saved}


@pytest.mark.parametrize(
    "change",
    [
        {"api_url": "http://127.0.0.1:10/2.0"},
        {"api_url": ""},  # back to api.bitbucket.org
        {"username": "someone-else@example.com"},
        {"auth_kind": "access_token"},
        {"bitbucket_workspace": "other"},
        {"bitbucket_workspace": ""},  # the jirahooks workspace's slug, not "acme"
    ],
    ids=lambda c: "+".join(f"{k}={v}" for k, v in c.items()),
)
def test_bitbucket_token_is_bound_to_api_user_and_workspace(
    server: Server, change: dict[str, str]
) -> None:
    body = _bitbucket(server)
    saved = body.pop("saved")
    body.pop("token")
    body.pop("webhook_secret")
    response = server.call("PUT", f"{W}/bitbucket", json={**body, **change})
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["code"] == "TOKEN_REQUIRED" and answer["message"].startswith("token: ")
    assert STORED not in response.text
    assert server.ok("GET", f"{W}/bitbucket") == saved


def test_bitbucket_change_with_a_new_token_or_unchanged_binding_is_saved(server: Server) -> None:
    body = _bitbucket(server)
    body.pop("saved")
    body.pop("token")
    # same binding (trailing slash), other options: kept
    kept = server.ok(
        "PUT",
        f"{W}/bitbucket",
        json={**body, "api_url": "http://127.0.0.1:9/2.0/", "public_url": ""},
    )
    assert kept["token_set"]
    moved = server.ok(
        "PUT",
        f"{W}/bitbucket",
        json={**body, "username": "other@example.com", "token": "new-secret"},
    )
    assert moved["username"] == "other@example.com" and moved["token_set"]


# -- jirahooks apply ------------------------------------------------------------------------


def _document(
    url: str = "https://a.example.net", email: str = "bot@example.com", token: bool = True
) -> str:
    lines = [
        "workspace: acme",
        "connections:",
        "  - name: jira-a",
        f"    url: {url}",
        "    deployment: datacenter",
        f"    email: {email}",
    ]
    if token:
        lines.append("    token: ${JIRA_A_TOKEN}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def apply_store(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setenv("JIRA_A_TOKEN", STORED)
    monkeypatch.delenv("JIRAHOOKS_SECRET_KEY", raising=False)
    monkeypatch.delenv("JIRAHOOKS_DATABASE_URL", raising=False)
    args = ["--data-dir", str(tmp_path / "data"), "--database-url", database_url]
    doc = tmp_path / "jirahooks.yml"
    doc.write_text(_document(), encoding="utf-8")
    assert main(["apply", str(doc), *args]) == 0
    return {"doc": doc, "args": args, "export": tmp_path / "export.yml"}


def _exported(store: dict[str, Any]) -> dict[str, Any]:
    assert main(["export", "--workspace", "acme", "-o", str(store["export"]), *store["args"]]) == 0
    data: dict[str, Any] = yaml.safe_load(store["export"].read_text(encoding="utf-8"))
    connection: dict[str, Any] = data["connections"][0]
    return connection


@pytest.mark.parametrize(
    "change",
    [
        {"url": "http://127.0.0.1:9"},
        {"url": "https://a.example.net:8443"},
        {"url": "https://a.example.net/jira"},
        {"email": "other@example.com"},
        {"url": "http://127.0.0.1:9", "token": False},  # no token line at all
    ],
    ids=lambda c: "+".join(f"{k}={v}" for k, v in c.items()),
)
def test_apply_refuses_to_move_a_stored_token(
    apply_store: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, Any],
) -> None:
    monkeypatch.delenv("JIRA_A_TOKEN")  # the reference is unset: "keep the stored token"
    refused = _document(**change).replace(
        "workspace: acme\n", "workspace: acme\nsettings:\n  jira_unreachable: WARN\n"
    )
    apply_store["doc"].write_text(refused, encoding="utf-8")
    capsys.readouterr()
    assert main(["apply", str(apply_store["doc"]), *apply_store["args"]]) == 3
    err = capsys.readouterr().err
    assert "connections[0].token" in err and "requires the token again" in err
    assert STORED not in err
    kept = _exported(apply_store)
    assert (kept["url"], kept["email"]) == ("https://a.example.net", "bot@example.com")
    assert "WARN" not in apply_store["export"].read_text(encoding="utf-8")  # nothing applied
    # with the token supplied, the same change applies
    monkeypatch.setenv("JIRA_A_TOKEN", "tok3-new")
    apply_store["doc"].write_text(_document(**{**change, "token": True}), encoding="utf-8")
    assert main(["apply", str(apply_store["doc"]), *apply_store["args"]]) == 0
    moved = _exported(apply_store)
    assert moved["url"] == change.get("url", kept["url"])
    assert moved["email"] == change.get("email", kept["email"])


def test_apply_reapplies_an_export_with_unset_references(
    apply_store: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JIRA_A_TOKEN")
    _exported(apply_store)
    assert main(["apply", str(apply_store["export"]), *apply_store["args"]]) == 0
