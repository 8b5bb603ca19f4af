"""A gateway connection created only by ``apply`` (issue 15): ``scoped_api_token`` or Cloud
OAuth without a ``cloud_id``, never tested. The first evaluation discovers the site's cloudId
from ``/_edge/tenant_info``; the server stores it with the connection — once, not per request —
so the admin API, ``export`` and the UI's connection dialog show it and the next configuration
snapshot no longer discovers anything. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from tests.fakes.fake_jira import FakeJira
from tests.server.conftest import WS, Server

from jirahooks.rules.config import load_document
from jirahooks.server.document import apply_document, export_document
from jirahooks.store.models import Workspace

C = f"/workspaces/{WS}/connections"


def _push(key: str, n: int) -> dict[str, Any]:
    return {
        "triggerType": "PUSH",
        "branchName": "main",
        "commits": [{"hash": f"{n:040x}", "message": f"{key} change"}],
    }


def _scoped(jira: FakeJira, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    jira.add_scoped_token("svc@serviceaccount.atlassian.com", "applied-scoped-token")
    monkeypatch.setenv("SVC_TOKEN", "applied-scoped-token")
    return {
        "auth": "scoped_api_token",
        "email": "svc@serviceaccount.atlassian.com",
        "token": "${SVC_TOKEN}",
        "gateway_url": jira.gateway_url,
    }


def _oauth(jira: FakeJira, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    jira.add_oauth_client("applied-client", "applied-client-secret")
    monkeypatch.setenv("SVC_SECRET", "applied-client-secret")
    return {
        "auth": "oauth_client_credentials",
        "client_id": "applied-client",
        "client_secret": "${SVC_SECRET}",
        "token_url": jira.token_url,
        "gateway_url": jira.gateway_url,
    }


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira("cloud") as fake:
        for n in range(1, 6):
            fake.add_issue(f"ABC-{n}", status="In Progress")
        yield fake


def _call(server: Server, make: Callable[[], Any]) -> Any:
    return server.client.portal.call(make)  # type: ignore[union-attr]


def _version(server: Server) -> int:
    async def read() -> int:
        async with server.state.database.session() as session:
            value = await session.scalar(
                select(Workspace.config_version).where(Workspace.slug == WS)
            )
        return int(value or 0)

    return int(_call(server, read))


def _flush(server: Server) -> None:
    _call(server, server.state.resolvers.health.flush)


@pytest.mark.parametrize("make", [_scoped, _oauth], ids=["scoped_api_token", "oauth_cloud"])
def test_a_discovered_cloud_id_is_stored_once(
    server: Server, jira: FakeJira, monkeypatch: pytest.MonkeyPatch, make: Any
) -> None:
    connection = {"name": "svc", "url": jira.url, "deployment": "cloud", **make(jira, monkeypatch)}
    document = load_document({"workspace": WS, "connections": [connection]})
    state = server.state

    async def apply() -> None:
        async with state.database.session() as session:
            await apply_document(session, state.secrets, document)
            await session.commit()

    async def export() -> dict[str, Any]:
        async with state.database.session() as session:
            return await export_document(session, WS)

    _call(server, apply)
    [stored] = server.ok("GET", C)
    assert stored["cloud_id"] == "" and stored["last_test"] is None  # apply tests nothing
    server.add_repository("api")
    server.ok(
        "POST",
        f"/workspaces/{WS}/rules",
        json={
            "id": "valid-keys",
            "title": "Keys must exist",
            "targets": ["COMMIT"],
            "checks": {"key_present": True, "keys_valid": "ALL"},
        },
    )
    secret = server.validation_token("ci", "api")["secret"]
    before = _version(server)

    assert server.validate(_push("ABC-1", 1), secret).json()["result"] == "PASS"
    assert jira.count("/_edge/tenant_info") == 1
    _flush(server)
    [stored] = server.ok("GET", C)
    assert stored["cloud_id"] == jira.cloud_id
    assert _version(server) == before + 1  # the one write of the cloudId
    (exported,) = _call(server, export)["connections"]
    assert exported["cloud_id"] == jira.cloud_id

    for n in range(2, 6):  # later evaluations: no discovery, no write
        assert server.validate(_push(f"ABC-{n}", n), secret).json()["result"] == "PASS"
    _flush(server)
    assert _version(server) == before + 1
    assert jira.count("/_edge/tenant_info") == 1
    asked = [r for r in jira.requests if r.path.startswith("/rest/api/3/")]
    assert asked and all(r.gateway == jira.cloud_id for r in asked)

    form = server.client.get("/ui/login").text
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert nonce is not None
    server.client.post(
        "/ui/login", data={"csrf_token": nonce.group(1), "token": server.admin_token}
    )
    dialog = server.client.get(f"/ui/w/{WS}/connections/{stored['id']}/edit")
    assert dialog.status_code == 200
    assert re.search(r'name="cloud_id"[^>]*value="' + re.escape(jira.cloud_id) + '"', dialog.text)


def test_a_cloud_id_set_by_the_administrator_is_kept(
    server: Server, jira: FakeJira, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Discovery only fills an empty cloudId: one stored meanwhile is never overwritten."""
    from jirahooks.server.connection_health import ConnectionHealth

    connection = {
        "name": "svc",
        "url": jira.url,
        "deployment": "cloud",
        "cloud_id": "set-by-the-admin",
        **_scoped(jira, monkeypatch),
    }
    document = load_document({"workspace": WS, "connections": [connection]})
    state = server.state

    async def apply() -> None:
        async with state.database.session() as session:
            await apply_document(session, state.secrets, document)
            await session.commit()

    _call(server, apply)
    [stored] = server.ok("GET", C)
    assert stored["cloud_id"] == "set-by-the-admin"
    health = ConnectionHealth(state.database)

    async def found() -> None:
        health.cloud_id_found(stored["id"], jira.cloud_id)
        await health.flush()

    _call(server, found)
    assert health.writes == 1
    assert server.ok("GET", f"{C}/{stored['id']}")["cloud_id"] == "set-by-the-admin"
