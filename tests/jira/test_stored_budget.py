"""Stored (server) connections set the Jira budget (issue 20, migration 0009): the request
ceiling, the cache lifetimes and the index limit — through the admin API (validated), into
the resolver the evaluations use, and through ``apply`` / export."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():  # as tests/server/conftest.py: httpx is what the project ships
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient
from tests.server.conftest import WS, Server, make_settings

from jirahooks.jira.chain import ConnectionChain
from jirahooks.rules.config import load_document
from jirahooks.server import create_app
from jirahooks.server.document import apply_document, export_document
from jirahooks.store import queries

BUDGET = {
    "budget_per_minute": 120,
    "cache_existence_seconds": 7200.0,
    "cache_negative_seconds": 10.0,
    "cache_fields_seconds": 120.0,
    "index_max_issues": 5000,
}


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    app = create_app(make_settings(tmp_path, database_url))
    with TestClient(app) as client:
        first = app.state.jirahooks.first_start
        assert first is not None
        yield Server(client, make_settings(tmp_path, database_url), first.token)


def _chain(server: Server) -> ConnectionChain:
    state = server.state

    async def build() -> Any:
        async with state.database.session() as session:
            ws = await queries.workspace_by_slug(session, WS)
            assert ws is not None
            connections = await queries.connections(session, ws.id)
        return state.resolvers.resolver(connections, deadline_seconds=5)

    chain = server.client.portal.call(build)  # type: ignore[union-attr]
    assert isinstance(chain, ConnectionChain)
    return chain


def test_a_stored_connection_sets_its_budget_and_lifetimes(server: Server) -> None:
    created = server.ok(
        "POST",
        f"/workspaces/{WS}/connections",
        json={"name": "jira", "url": "https://acme.atlassian.net", "save_anyway": True, **BUDGET},
    )
    assert {k: created[k] for k in BUDGET} == BUDGET
    chain = _chain(server)
    (client,) = chain.clients
    assert client.budget is not None and client.budget.per_minute == 120
    lifetimes = chain.cache.lifetimes_for(chain.namespace_of("jira"))  # type: ignore[union-attr]
    assert (lifetimes.existence, lifetimes.negative, lifetimes.fields) == (7200, 10, 120)
    assert client.config.index_max_issues == 5000
    patched = server.ok(
        "PATCH", f"/workspaces/{WS}/connections/{created['id']}", json={"budget_per_minute": 0}
    )
    assert patched["budget_per_minute"] == 0 and patched["cache_negative_seconds"] == 10.0
    assert _chain(server).clients[0].budget is None


def test_defaults_keep_the_previous_behaviour(server: Server) -> None:
    created = server.ok(
        "POST",
        f"/workspaces/{WS}/connections",
        json={"name": "j", "url": "https://a.example", "save_anyway": True},
    )
    assert created["budget_per_minute"] == 0 and created["index_max_issues"] == 20_000
    chain = _chain(server)
    assert chain.clients[0].budget is None
    cache = chain.cache
    assert cache is not None and cache.lifetimes_for(chain.namespace_of("j")) == cache.lifetimes


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cache_negative_seconds", 3600),  # "not found" must never be trusted long
        ("budget_per_minute", -1),
        ("cache_existence_seconds", -5),
        ("index_max_issues", "many"),
    ],
)
def test_a_bad_budget_is_a_clear_error(server: Server, field: str, value: Any) -> None:
    response = server.call(
        "POST",
        f"/workspaces/{WS}/connections",
        json={"name": "j", "url": "https://a.example", "save_anyway": True, field: value},
    )
    assert response.status_code == 422, response.text
    assert field in response.text
    assert "Traceback" not in response.text


def test_apply_and_export_carry_the_budget(server: Server) -> None:
    state = server.state
    document = load_document(
        {
            "workspace": WS,
            "connections": [{"name": "jira", "url": "https://acme.atlassian.net", **BUDGET}],
        }
    )

    async def apply_then_export() -> dict[str, Any]:
        async with state.database.session() as session:
            await apply_document(session, state.secrets, document)
            await session.commit()
        async with state.database.session() as session:
            return await export_document(session, WS)

    exported = server.client.portal.call(apply_then_export)  # type: ignore[union-attr]
    (connection,) = exported["connections"]
    assert {k: connection[k] for k in BUDGET} == BUDGET
    assert _chain(server).clients[0].budget is not None
