"""The role × endpoint matrix: every admin API endpoint, every role, expected allow or deny.

Roles: ``anonymous`` (no token → 401), ``outsider`` (signed in, no role in the workspace → 404,
the workspace stays invisible), ``member``, ``auditor`` (reads like a member, exports
evidence), ``repo_admin_elsewhere`` (administers repository
``web``; the endpoints target ``api``), ``repo_admin`` (administers ``api``), ``admin``
(workspace admin). Denied members get 403. Each case sets up fresh objects so allowed writes
succeed (2xx). A test checks the table covers every route the app serves under /api/v1.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from tests.server.conftest import WS, Server

ROLES = (
    "anonymous",
    "outsider",
    "member",
    "auditor",
    "repo_admin_elsewhere",
    "repo_admin",
    "admin",
)
SELF = frozenset(ROLES) - {"anonymous"}
READ = frozenset({"member", "auditor", "repo_admin_elsewhere", "repo_admin", "admin"})
REPO = frozenset({"repo_admin", "admin"})
ANY_REPO_ADMIN = frozenset({"repo_admin_elsewhere", "repo_admin", "admin"})
ADMIN = frozenset({"admin"})
EVIDENCE = frozenset({"auditor", "admin"})

W = f"/workspaces/{WS}"
R = f"{W}/repositories/api"
_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


Setup = Callable[[Server, str], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # a route path; {placeholders} filled from setup()
    allowed: frozenset[str]
    body: Callable[[], Any] | None = None
    setup: Setup | None = None
    name: str = ""
    query: str = ""  # appended to the path when called

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}{' ' + self.name if self.name else ''}"


def _connection(server: Server, _role: str) -> dict[str, Any]:
    created = server.ok(
        "POST",
        f"{W}/connections",
        json={"name": unique("c"), "url": "http://127.0.0.1:9", "save_anyway": True},
    )
    return {"connection_id": created["id"]}


def _order(server: Server, _role: str) -> dict[str, Any]:
    _connection(server, _role)
    return {"ids": [c["id"] for c in server.ok("GET", f"{W}/connections")]}


def _user(server: Server, _role: str) -> dict[str, Any]:
    name = unique("u")
    server.ok("POST", f"{W}/users", json={"name": name})
    return {"name": name}


def _my_token(server: Server, role: str) -> dict[str, Any]:
    if role == "anonymous":
        return {"token_id": 1}
    created = server.ok("POST", "/me/tokens", token=role, json={"name": "x"})
    return {"token_id": created["id"]}


def _ws_rule(server: Server, _role: str) -> dict[str, Any]:
    rule_id = unique("r")
    server.ok(
        "POST", f"{W}/rules", json={"id": rule_id, "title": "T", "checks": {"key_present": True}}
    )
    return {"rule_id": rule_id}


def _repo_rule(server: Server, _role: str) -> dict[str, Any]:
    rule_id = unique("r")
    server.ok(
        "POST", f"{R}/rules", json={"id": rule_id, "title": "T", "checks": {"key_present": True}}
    )
    return {"rule_id": rule_id}


def _fresh_repo(server: Server, _role: str) -> dict[str, Any]:
    slug = unique("repo")
    server.add_repository(slug)
    return {"repository": slug}


def _ws_token(server: Server, _role: str) -> dict[str, Any]:
    return {"token_id": server.validation_token(unique("t"))["id"]}


def _repo_token(server: Server, _role: str) -> dict[str, Any]:
    return {"token_id": server.validation_token(unique("t"), "api")["id"]}


def _evaluation(server: Server, role: str) -> dict[str, Any]:
    secret = server.validation_token(unique("t"), "api")["secret"]
    response = server.validate({"triggerType": "PUSH", "branchName": "main", "commits": []}, secret)
    assert response.status_code == 200
    items = server.ok("GET", f"{W}/evaluations")["items"]
    return {"evaluation_id": items[0]["id"]}


def _bitbucket_body() -> dict[str, Any]:
    # api_url on a closed loopback port: a queued recheck must never leave this machine
    return {"token": "t", "webhook_secret": "s", "api_url": "http://127.0.0.1:9"}


def _bitbucket(server: Server, _role: str) -> dict[str, Any]:
    server.ok("PUT", f"{W}/bitbucket", json=_bitbucket_body())
    return {}


def _gitlab_body() -> dict[str, Any]:
    # a closed loopback port: the connection test must never leave this machine
    return {"api_url": "http://127.0.0.1:9", "token": "t", "webhook_secret": "s"}


def _gitlab(server: Server, _role: str) -> dict[str, Any]:
    server.ok("PUT", f"{W}/platforms/gitlab", json=_gitlab_body())
    return {"platform": "gitlab"}


def _github(_server: Server, _role: str) -> dict[str, Any]:
    return {"platform": "github"}


def _rule_body() -> dict[str, Any]:
    return {"id": unique("r"), "title": "T", "checks": {"key_present": True}}


CASES: tuple[Case, ...] = (
    Case("GET", "/me", SELF),
    Case("GET", "/me/tokens", SELF),
    Case("POST", "/me/tokens", SELF, lambda: {"name": "n"}),
    Case("DELETE", "/me/tokens/{token_id}", SELF, setup=_my_token),
    Case("GET", "/workspaces", SELF),
    Case("GET", "/templates", SELF),
    Case("GET", W, READ),
    Case("GET", f"{W}/users", ADMIN),
    Case("POST", f"{W}/users", ADMIN, lambda: {"name": unique("u")}),
    Case("PATCH", f"{W}/users/{{name}}", ADMIN, lambda: {"role": "ADMIN"}, _user),
    Case("DELETE", f"{W}/users/{{name}}", ADMIN, setup=_user),
    Case("POST", f"{W}/users/{{name}}/tokens", ADMIN, lambda: {"name": "n"}, _user),
    Case("GET", f"{W}/repositories", READ),
    Case("POST", f"{W}/repositories", ADMIN, lambda: {"slug": unique("repo")}),
    Case("GET", R, READ),
    Case("PATCH", R, REPO, lambda: {"disabled_rules": []}),
    Case("DELETE", f"{W}/repositories/{{repository}}", ADMIN, setup=_fresh_repo),
    Case("GET", f"{W}/settings", READ),
    Case("PUT", f"{W}/settings", ADMIN, lambda: {"jira_unreachable": "WARN"}),
    Case("PATCH", f"{W}/settings", ADMIN, lambda: {"jira_unreachable": "WARN"}),
    Case("GET", f"{R}/settings", READ),
    Case("PUT", f"{R}/settings", REPO, lambda: {"enabled": True}),
    Case("PATCH", f"{R}/settings", REPO, lambda: {"enabled": True}),
    Case("GET", f"{W}/connections", READ),
    Case(
        "POST",
        f"{W}/connections",
        ADMIN,
        lambda: {"name": unique("c"), "url": "https://j.example", "save_anyway": True},
    ),
    Case("GET", f"{W}/connections/{{connection_id}}", ADMIN, setup=_connection),
    Case(
        "PATCH",
        f"{W}/connections/{{connection_id}}",
        ADMIN,
        lambda: {"email": "a@b.c", "save_anyway": True},
        _connection,
    ),
    Case("DELETE", f"{W}/connections/{{connection_id}}", ADMIN, setup=_connection),
    Case("POST", f"{W}/connections/{{connection_id}}/test", ADMIN, setup=_connection),
    Case("GET", f"{W}/connections/{{connection_id}}/jira-webhook", ADMIN, setup=_connection),
    Case("PUT", f"{W}/connections-order", ADMIN, setup=_order),
    Case("GET", f"{R}/connections", READ),
    Case(
        "PUT", f"{R}/connections/{{connection_id}}", REPO, lambda: {"enabled": False}, _connection
    ),
    Case("GET", f"{W}/rules", READ),
    Case("POST", f"{W}/rules", ADMIN, _rule_body),
    Case(
        "POST",
        f"{W}/rules/from-template",
        ADMIN,
        lambda: {"template": "commit-key-required", "overrides": {"id": unique("r")}},
    ),
    Case("GET", f"{W}/rules/{{rule_id}}", READ, setup=_ws_rule),
    Case("PUT", f"{W}/rules/{{rule_id}}", ADMIN, lambda: {"title": "New"}, _ws_rule),
    Case("DELETE", f"{W}/rules/{{rule_id}}", ADMIN, setup=_ws_rule),
    Case("GET", f"{R}/rules", READ),
    Case("GET", f"{R}/effective-rules", READ),
    Case("GET", f"{R}/rule-set", READ),
    Case("POST", f"{R}/rules", REPO, _rule_body),
    Case(
        "POST",
        f"{R}/rules/from-template",
        REPO,
        lambda: {"template": "commit-key-required", "overrides": {"id": unique("r")}},
    ),
    Case("GET", f"{R}/rules/{{rule_id}}", READ, setup=_repo_rule),
    Case("PUT", f"{R}/rules/{{rule_id}}", REPO, lambda: {"title": "New"}, _repo_rule),
    Case("DELETE", f"{R}/rules/{{rule_id}}", REPO, setup=_repo_rule),
    Case("GET", f"{W}/validation-tokens", ANY_REPO_ADMIN),
    Case(
        "POST",
        f"{W}/validation-tokens",
        ADMIN,
        lambda: {"name": unique("t")},
        name="workspace scope",
    ),
    Case(
        "POST",
        f"{W}/validation-tokens",
        REPO,
        lambda: {"name": unique("t"), "repository": "api"},
        name="repository scope",
    ),
    Case(
        "POST",
        f"{W}/validation-tokens/{{token_id}}/rotate",
        ADMIN,
        setup=_ws_token,
        name="workspace scope",
    ),
    Case(
        "POST",
        f"{W}/validation-tokens/{{token_id}}/rotate",
        REPO,
        setup=_repo_token,
        name="repository scope",
    ),
    Case(
        "DELETE",
        f"{W}/validation-tokens/{{token_id}}",
        ADMIN,
        setup=_ws_token,
        name="workspace scope",
    ),
    Case(
        "DELETE",
        f"{W}/validation-tokens/{{token_id}}",
        REPO,
        setup=_repo_token,
        name="repository scope",
    ),
    Case("GET", f"{W}/evaluations", READ),
    Case("GET", f"{W}/evaluations/{{evaluation_id}}", READ, setup=_evaluation),
    Case("GET", f"{W}/audit", ADMIN),
    Case("GET", f"{W}/evidence", EVIDENCE, query="?from=2026-01-01&to=2026-12-31"),
    Case("GET", f"{W}/evidence/chain", EVIDENCE),
    Case("GET", f"{W}/bitbucket", ADMIN),
    Case("PUT", f"{W}/bitbucket", ADMIN, _bitbucket_body),
    Case("DELETE", f"{W}/bitbucket", ADMIN, setup=_bitbucket),
    Case("POST", f"{W}/bitbucket/test", ADMIN, setup=_bitbucket),
    Case("POST", f"{R}/pull-requests/1/recheck", REPO, setup=_bitbucket),
    Case("GET", f"{W}/platforms/{{platform}}", ADMIN, setup=_github),
    Case("PUT", f"{W}/platforms/{{platform}}", ADMIN, _gitlab_body, _gitlab),
    Case("DELETE", f"{W}/platforms/{{platform}}", ADMIN, setup=_gitlab),
    Case("POST", f"{W}/platforms/{{platform}}/test", ADMIN, setup=_gitlab),
)


def _route_key(method: str, path: str) -> tuple[str, str]:
    """A concrete case path back to its route template."""
    generic = path.replace(f"/workspaces/{WS}", "/workspaces/{workspace}")
    generic = generic.replace("/repositories/api", "/repositories/{repository}")
    generic = generic.replace("/pull-requests/1/", "/pull-requests/{pr_id}/")
    return method, generic


def test_every_endpoint_is_in_the_matrix(server: Server) -> None:
    paths = server.client.get("/openapi.json").json()["paths"]
    served = {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, operations in paths.items()
        if path.startswith("/api/v1")
        for method in operations
    }
    covered = {_route_key(c.method, c.path) for c in CASES}
    assert served - covered == set(), "add these endpoints to CASES"
    assert covered - served == set(), "these CASES name no endpoint"


def expected(case: Case, role: str) -> set[int]:
    if role == "anonymous":
        return {401}
    if role in case.allowed:
        return {200, 201, 202, 204}
    if role == "outsider":
        return {404}
    return {403}


@pytest.fixture
def every_role(roles: Server) -> Server:
    """``roles`` plus ``auditor`` (the read-only AUDITOR role of the workspace)."""
    roles.ok("POST", f"{W}/users", json={"name": "auditor", "role": "AUDITOR"})
    roles.tokens["auditor"] = roles.ok("POST", f"{W}/users/auditor/tokens", json={"name": "t"})[
        "token"
    ]
    return roles


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matrix(every_role: Server, case: Case) -> None:
    server = every_role
    failures = []
    for role in ROLES:
        params = case.setup(server, role) if case.setup else {}
        path = case.path.format(**{k: v for k, v in params.items() if k != "ids"}) + case.query
        kwargs: dict[str, Any] = {}
        if case.body is not None:
            kwargs["json"] = case.body()
        elif "ids" in params:
            kwargs["json"] = {"ids": params["ids"]}
        response = server.call(case.method, path, None if role == "anonymous" else role, **kwargs)
        if response.status_code not in expected(case, role):
            failures.append(f"{role}: {response.status_code} {response.text[:200]}")
        if response.status_code in (401, 403, 404) and response.content:
            assert set(response.json()) >= {"code", "message", "hint"}
    assert not failures, "\n".join(failures)


def test_repository_admin_never_sees_credentials(roles: Server) -> None:
    server = roles
    server.ok(
        "POST",
        f"{W}/connections",
        json={
            "name": "jira",
            "url": "https://j.example",
            "email": "bot@example.com",
            "account_id": "acc-1",
            "token": "s3cr3t-token-value",
            "save_anyway": True,
        },
    )
    for role in ("member", "repo_admin"):
        listed = server.ok("GET", f"{W}/connections", token=role)
        assert listed and all(
            set(c) == {"id", "name", "url", "deployment", "position", "last_test_ok", "token_state"}
            for c in listed
        )
        text = server.call("GET", f"{R}/connections", role).text
        assert "bot@example.com" not in text and "acc-1" not in text
    admin_view = server.ok("GET", f"{W}/connections")
    assert admin_view[0]["email"] == "bot@example.com" and admin_view[0]["token_set"] is True
    assert "token" not in admin_view[0]
