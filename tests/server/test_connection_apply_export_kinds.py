"""``apply``/``export`` carry every Jira credential kind (issue 15: "Each in the admin API,
``apply``/``export`` …"), on SQLite and PostgreSQL: the exported document names the kind and
its fields, refers to each secret by an environment variable (never the value), and applied
again — with those variables set — gives the same connection, whose secrets still work."""

from __future__ import annotations

from typing import Any

import pytest
from tests.server.conftest import WS, Server

from jirahooks.rules.config import load_document
from jirahooks.server.document import apply_document, export_document
from jirahooks.server.jira_adapter import to_config
from jirahooks.store.models import Connection

KINDS: dict[str, dict[str, Any]] = {
    "api_token": {"deployment": "cloud", "auth": "api_token", "email": "bot@example.com"},
    "scoped_api_token": {
        "deployment": "cloud",
        "auth": "scoped_api_token",
        "email": "svc@serviceaccount.atlassian.com",
        "gateway_url": "https://gateway.example",
        "cloud_id": "a436116f-02ce-4520-8fbb-7301462a1674",
    },
    "oauth_cloud": {
        "deployment": "cloud",
        "auth": "oauth_client_credentials",
        "client_id": "cid-cloud",
        "scopes": "read:jira-work read:jira-user",
        "token_url": "https://auth.example/oauth/token",
    },
    "oauth_datacenter": {
        "deployment": "datacenter",
        "auth": "oauth_client_credentials",
        "client_id": "cid-dc",
        "scopes": "READ",
    },
    "pat": {"deployment": "datacenter", "auth": "pat"},
    "basic": {"deployment": "datacenter", "auth": "basic", "email": "jira-bot"},
}
OAUTH = ("oauth_cloud", "oauth_datacenter")


def _call(server: Server, make: Any) -> Any:
    return server.client.portal.call(make)  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", list(KINDS))
def test_apply_export_apply_keeps_the_kind(
    server: Server, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    url = "https://acme.atlassian.net" if KINDS[kind]["deployment"] == "cloud" else "https://j.acme"
    connection: dict[str, Any] = {"name": "svc", "url": url, **KINDS[kind]}
    if kind in OAUTH:
        monkeypatch.setenv("GIVEN_CLIENT_SECRET", "client-secret-value-1")
        connection["client_secret"] = "${GIVEN_CLIENT_SECRET}"
    else:
        monkeypatch.setenv("GIVEN_TOKEN", "token-value-1")
        connection["token"] = "${GIVEN_TOKEN}"
    state = server.state

    async def apply(document: dict[str, Any]) -> None:
        async with state.database.session() as session:
            await apply_document(session, state.secrets, load_document(document))
            await session.commit()

    async def export() -> dict[str, Any]:
        async with state.database.session() as session:
            return await export_document(session, WS)

    async def secrets() -> tuple[str, str]:
        async with state.database.session() as session:
            from sqlalchemy import select

            row = await session.scalar(select(Connection).where(Connection.name == "svc"))
            assert row is not None
            config = to_config(row, state.secrets)
            return config.plaintext, config.client_plaintext

    _call(server, lambda: apply({"workspace": WS, "connections": [connection]}))
    first = server.ok("GET", f"/workspaces/{WS}/connections")
    (exported,) = _call(server, export)["connections"]
    for field, value in KINDS[kind].items():
        assert exported[field] == value, (field, exported)
    assert "token-value-1" not in str(exported) and "client-secret-value-1" not in str(exported)
    if kind in OAUTH:
        assert exported["client_secret"] == "${JIRAHOOKS_CONNECTION_SVC_CLIENT_SECRET}"
        assert "token" not in exported
        monkeypatch.setenv("JIRAHOOKS_CONNECTION_SVC_CLIENT_SECRET", "client-secret-value-1")
    else:
        assert exported["token"] == "${JIRAHOOKS_CONNECTION_SVC_TOKEN}"
        assert "client_secret" not in exported
        monkeypatch.setenv("JIRAHOOKS_CONNECTION_SVC_TOKEN", "token-value-1")
    if kind == "basic":
        assert "deprecated" in first[0]["auth_warning"]

    _call(server, lambda: apply({"workspace": WS, "connections": [exported]}))
    again = server.ok("GET", f"/workspaces/{WS}/connections")
    keep = ("auth", "deployment", "email", "client_id", "scopes", "token_url", "gateway_url")
    assert [{k: c[k] for k in (*keep, "cloud_id")} for c in again] == [
        {k: c[k] for k in (*keep, "cloud_id")} for c in first
    ]
    token, client_secret = _call(server, secrets)
    if kind in OAUTH:
        assert client_secret == "client-secret-value-1" and token == ""
    else:
        assert token == "token-value-1" and client_secret == ""
