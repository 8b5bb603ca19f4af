"""Fixtures for the server tests: a database on SQLite *and* PostgreSQL, an app with a signed-in
administrator, users in every role, and request signing as the hook clients do it.

PostgreSQL tests (marker ``postgres``) each get a freshly created database, dropped afterwards;
they are skipped, saying why, when nothing listens on 127.0.0.1:5432.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    # Starlette 1.x suggests httpx2 for its TestClient; httpx is what the project ships.
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient


from jirahooks.crypto import generate_key
from jirahooks.server import ServerSettings, create_app

WS = "default"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def compact(payload: Any) -> bytes:
    """The body exactly as the reference hook client sends it (non-ASCII as \\uXXXX)."""
    return json.dumps(payload, separators=(",", ":")).encode("ascii")


@dataclass
class Server:
    """A running app (TestClient) with the first-start administrator's token."""

    client: TestClient
    settings: ServerSettings
    admin_token: str
    tokens: dict[str, str] = field(default_factory=dict)  # role name -> API token

    @property
    def state(self) -> Any:
        return self.client.app.state.jirahooks  # type: ignore[attr-defined]

    def call(self, method: str, path: str, token: str | None = "admin", **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token is not None:
            value = self.admin_token if token == "admin" else self.tokens.get(token, token)
            headers["Authorization"] = f"Bearer {value}"
        return self.client.request(method, "/api/v1" + path, headers=headers, **kwargs)

    def ok(self, method: str, path: str, token: str | None = "admin", **kwargs: Any) -> Any:
        response = self.call(method, path, token, **kwargs)
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def add_repository(self, slug: str) -> dict[str, Any]:
        result: dict[str, Any] = self.ok(
            "POST", f"/workspaces/{WS}/repositories", json={"slug": slug}
        )
        return result

    def add_rule(self, template: str = "commit-key-required", repository: str | None = None) -> Any:
        scope = f"/workspaces/{WS}" + (f"/repositories/{repository}" if repository else "")
        return self.ok("POST", f"{scope}/rules/from-template", json={"template": template})

    def validation_token(self, name: str, repository: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        if repository:
            body["repository"] = repository
        result: dict[str, Any] = self.ok("POST", f"/workspaces/{WS}/validation-tokens", json=body)
        return result

    def validate(
        self,
        payload: Any,
        secret: str | None,
        *,
        repo: str | None = "api",
        workspace: str = WS,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        body = raw if raw is not None else compact(payload)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if secret is not None:
            all_headers["x-hub-signature-256"] = sign(secret, body)
        url = f"/api/validate/{workspace}" + (f"?repoSlug={repo}" if repo else "")
        return self.client.post(url, content=body, headers=all_headers)


def make_settings(tmp_path: Path, database_url: str, **extra: Any) -> ServerSettings:
    return ServerSettings(
        data_dir=tmp_path / "data", database_url=database_url, secret_key=generate_key(), **extra
    )


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    settings = make_settings(tmp_path, database_url)
    app = create_app(settings)
    with TestClient(app) as client:
        first = app.state.jirahooks.first_start
        assert first is not None
        yield Server(client, settings, first.token)


@pytest.fixture
def roles(server: Server) -> Server:
    """Repositories ``api`` and ``web`` and a user in every role, each with an API token:
    ``member``, ``repo_admin`` (of api), ``repo_admin_elsewhere`` (of web), ``outsider`` (no role
    in the workspace)."""
    server.add_repository("api")
    server.add_repository("web")
    people = {
        "member": {"role": "MEMBER"},
        "repo_admin": {"role": "MEMBER", "repository_admin": ["api"]},
        "repo_admin_elsewhere": {"role": "MEMBER", "repository_admin": ["web"]},
        "outsider": {"role": "MEMBER"},
    }
    for name, body in people.items():
        server.ok("POST", f"/workspaces/{WS}/users", json={"name": name, **body})
        created = server.ok("POST", f"/workspaces/{WS}/users/{name}/tokens", json={"name": "t"})
        server.tokens[name] = created["token"]
    server.ok("DELETE", f"/workspaces/{WS}/users/outsider")
    return server
