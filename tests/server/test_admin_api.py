"""Admin API behaviour beyond permissions: OpenAPI, first start, connections order, rules at
both scopes, settings, tokens shown once, the audit log with before/after."""

from __future__ import annotations

from tests.server.conftest import WS, Server, TestClient

from jirahooks.server import create_app


def test_openapi_document(server: Server) -> None:
    document = server.client.get("/openapi.json").json()
    assert document["info"]["title"] == "jirahooks"
    paths = document["paths"]
    assert "/api/validate/{workspace}" in paths
    assert "/api/v1/workspaces/{workspace}/connections" in paths
    schemas = document["components"]["schemas"]
    assert "token" not in schemas["ConnectionOut"]["properties"]
    assert "token" in schemas["ConnectionIn"]["properties"]


def test_first_start_happens_once(server: Server) -> None:
    assert server.ok("GET", "/me")["workspaces"][0] == {
        "id": 1,
        "slug": WS,
        "name": WS,
        "role": "ADMIN",
    }
    with TestClient(create_app(server.settings)) as again:
        assert again.app.state.jirahooks.first_start is None  # type: ignore[attr-defined]
    assert server.call("GET", "/me", token="jh_wrong").status_code == 401
    assert server.call("GET", "/me", token=None).json()["code"] == "UNAUTHENTICATED"


def test_connections_crud_and_order(server: Server) -> None:
    a = server.ok(
        "POST",
        f"/workspaces/{WS}/connections",
        json={"name": "a", "url": "https://a.example/", "save_anyway": True},
    )
    b = server.ok(
        "POST",
        f"/workspaces/{WS}/connections",
        json={"name": "b", "url": "https://b.example", "save_anyway": True},
    )
    assert (a["position"], b["position"], a["url"]) == (0, 1, "https://a.example")
    assert (
        server.call(
            "POST", f"/workspaces/{WS}/connections", json={"name": "a", "url": "https://x"}
        ).status_code
        == 409
    )
    assert (
        server.call(
            "POST", f"/workspaces/{WS}/connections", json={"name": "c", "url": "ftp://x"}
        ).status_code
        == 422
    )
    order = server.ok(
        "PUT", f"/workspaces/{WS}/connections-order", json={"ids": [b["id"], a["id"]]}
    )
    assert [c["name"] for c in order] == ["b", "a"]
    assert (
        server.call(
            "PUT", f"/workspaces/{WS}/connections-order", json={"ids": [a["id"]]}
        ).status_code
        == 422
    )
    renamed = server.ok(
        "PATCH",
        f"/workspaces/{WS}/connections/{a['id']}",
        json={"name": "a2", "token": "t", "save_anyway": True},
    )
    assert renamed["name"] == "a2" and renamed["token_set"] is True
    server.ok("DELETE", f"/workspaces/{WS}/connections/{b['id']}")
    assert [c["name"] for c in server.ok("GET", f"/workspaces/{WS}/connections")] == ["a2"]


def test_rules_at_both_scopes(server: Server) -> None:
    server.add_repository("api")
    server.add_rule("commit-key-required")
    rule = server.ok("GET", f"/workspaces/{WS}/rules/commit-key-required")
    assert rule["scope"] == "WORKSPACE" and rule["rule"]["checks"]["keyPresent"] is True
    local = server.ok(
        "POST",
        f"/workspaces/{WS}/repositories/api/rules",
        json={
            "id": "commit-key-required",
            "title": "Repository version",
            "severity": "WARNING",
            "checks": {"key_present": True},
        },
    )
    assert local["scope"] == "REPOSITORY"
    effective = server.ok("GET", f"/workspaces/{WS}/repositories/api/effective-rules")
    assert [(r["id"], r["scope"]) for r in effective] == [("commit-key-required", "REPOSITORY")]
    updated = server.ok(
        "PUT",
        f"/workspaces/{WS}/rules/commit-key-required",
        json={"title": "Renamed", "checks": {"key_present": True}},
    )
    assert updated["definition"]["title"] == "Renamed"
    assert (
        server.call(
            "PUT", f"/workspaces/{WS}/rules/commit-key-required", json={"id": "other", "title": "x"}
        ).status_code
        == 422
    )
    server.ok(
        "PATCH",
        f"/workspaces/{WS}/repositories/api",
        json={"disabled_rules": ["commit-key-required"]},
    )
    server.ok("DELETE", f"/workspaces/{WS}/repositories/api/rules/commit-key-required")
    assert server.ok("GET", f"/workspaces/{WS}/repositories/api/effective-rules") == []
    assert (
        server.call(
            "POST", f"/workspaces/{WS}/rules", json={"id": "commit-key-required", "title": "dup"}
        ).status_code
        == 409
    )


def test_settings_defaults_and_overrides(server: Server) -> None:
    server.add_repository("api")
    server.ok(
        "PUT",
        f"/workspaces/{WS}/settings",
        json={"jira_unreachable": "WARN", "key_pattern": "[A-Z]{2,}-[0-9]+"},
    )
    repo = server.ok(
        "PUT", f"/workspaces/{WS}/repositories/api/settings", json={"jira_unreachable": "ALLOW"}
    )
    assert repo["effective"]["jira_unreachable"] == "ALLOW"
    assert repo["effective"]["key_pattern"] == "[A-Z]{2,}-[0-9]+"
    bad = server.call("PUT", f"/workspaces/{WS}/settings", json={"jira_unreachable": "MAYBE"})
    assert (
        bad.status_code == 422 and bad.json()["problems"][0]["path"] == "settings.jira_unreachable"
    )


def test_tokens_shown_once_and_audited(server: Server) -> None:
    server.add_repository("api")
    created = server.validation_token("ci", "api")
    assert created["secret"].startswith("jhv_") and created["endpoint"].endswith(
        f"/api/validate/{WS}?repoSlug=api"
    )
    [listed] = server.ok("GET", f"/workspaces/{WS}/validation-tokens")
    assert "secret" not in listed and listed["repository"] == "api"
    assert (
        server.call("POST", f"/workspaces/{WS}/validation-tokens", json={"name": "ci"}).status_code
        == 409
    )
    server.ok(
        "POST",
        f"/workspaces/{WS}/connections",
        json={"name": "j", "url": "https://j.example", "token": "tok-1", "save_anyway": True},
    )
    audit = server.ok("GET", f"/workspaces/{WS}/audit")["items"]
    actions = [e["action"] for e in audit]
    assert actions[:3] == ["connection.create", "validation_token.create", "repository.create"]
    assert audit[0]["actor"] == "user:admin" and audit[0]["after"]["token"] == "(redacted)"
    page = server.ok(
        "GET", f"/workspaces/{WS}/audit", params={"limit": 1, "action": "repository.create"}
    )
    assert [e["target"] for e in page["items"]] == ["repository:api"]


def test_users_and_api_tokens(server: Server) -> None:
    server.add_repository("api")
    user = server.ok(
        "POST",
        f"/workspaces/{WS}/users",
        json={"name": "rita", "role": "MEMBER", "repository_admin": ["api"]},
    )
    assert user["repository_admin"] == ["api"]
    token = server.ok("POST", f"/workspaces/{WS}/users/rita/tokens", json={"name": "laptop"})[
        "token"
    ]
    me = server.ok("GET", "/me", token=token)
    assert me["name"] == "rita" and me["workspaces"][0]["role"] == "MEMBER"
    mine = server.ok("GET", "/me/tokens", token=token)
    server.ok("DELETE", f"/me/tokens/{mine[0]['id']}", token=token)
    assert server.call("GET", "/me", token=token).status_code == 401
    changed = server.ok("PATCH", f"/workspaces/{WS}/users/rita", json={"repository_admin": []})
    assert changed == {**user, "repository_admin": []}
    assert (
        server.call("PATCH", f"/workspaces/{WS}/users/admin", json={"role": "MEMBER"}).status_code
        == 409
    )


def test_an_admin_cannot_mint_tokens_that_reach_into_other_workspaces(server: Server) -> None:
    """A token acts in every workspace of its user: an admin of one workspace must not be able
    to create a token for someone who is (also) an admin of another."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session as SyncSession

    from jirahooks.store.models import Membership, User, Workspace

    engine = create_engine(server.settings.effective_database_url)
    try:
        with SyncSession(engine) as session:
            other = Workspace(slug="other", name="Other")
            boss = User(name="boss")
            session.add_all([other, boss])
            session.flush()
            session.add(Membership(user_id=boss.id, workspace_id=other.id, role="ADMIN"))
            session.commit()
    finally:
        engine.dispose()
    # boss is only in 'other': invisible from this workspace
    assert (
        server.call("POST", f"/workspaces/{WS}/users/boss/tokens", json={"name": "x"}).status_code
        == 404
    )
    # once boss is also a member here, this workspace's admin still cannot act as boss elsewhere
    server.ok("POST", f"/workspaces/{WS}/users", json={"name": "boss", "role": "MEMBER"})
    refused = server.call("POST", f"/workspaces/{WS}/users/boss/tokens", json={"name": "x"})
    assert refused.status_code == 403
    assert "workspaces you do not administer" in refused.json()["message"]
    # people of this workspace only still get tokens from its admins
    server.ok("POST", f"/workspaces/{WS}/users", json={"name": "rita", "role": "MEMBER"})
    assert server.ok("POST", f"/workspaces/{WS}/users/rita/tokens", json={"name": "x"})["token"]
