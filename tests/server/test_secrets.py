"""Secrets stay secret: after connections and validation tokens are created through the API,
their plaintext appears in no API response (beyond the one "shown once" answer of a
validation token), no log line, and no database column."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from tests.server.conftest import WS, Server

from jirahooks.crypto import SecretBox, generate_key, load_box
from jirahooks.store.database import Database
from jirahooks.store.models import Base

JIRA_TOKEN = "ATATT-jira-plaintext-token-4711"
JIRA_TOKEN_2 = "ATATT-jira-rotated-token-0815"


def _dump_database(url: str) -> str:
    async def main() -> str:
        database = Database(url)
        try:
            async with database.engine.connect() as conn:
                rows = []
                for table in Base.metadata.sorted_tables:
                    result = await conn.execute(text(f"SELECT * FROM {table.name}"))
                    rows.extend(repr(tuple(r)) for r in result)
                return "\n".join(rows)
        finally:
            await database.dispose()

    return asyncio.run(main())


def test_plaintext_secrets_appear_nowhere(
    server: Server, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    responses: list[str] = []

    def call(method: str, path: str, **kwargs: Any) -> Any:
        response = server.call(method, path, **kwargs)
        responses.append(response.text)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    server.add_repository("api")
    body = {"name": "jira", "url": "http://127.0.0.1:9", "email": "bot@example.com"}
    refused = server.call(
        "POST", f"/workspaces/{WS}/connections", json=body | {"token": JIRA_TOKEN}
    )
    assert refused.status_code == 422  # its test failed: nothing answers there
    responses.append(refused.text)
    created = call(
        "POST",
        f"/workspaces/{WS}/connections",
        json=body | {"token": JIRA_TOKEN, "save_anyway": True},
    )
    path = f"/workspaces/{WS}/connections/{created['id']}"
    refused = server.call("PATCH", path, json={"token": JIRA_TOKEN_2})
    assert refused.status_code == 422
    responses.append(refused.text)
    call("PATCH", path, json={"token": JIRA_TOKEN_2, "save_anyway": True})
    call("POST", f"/workspaces/{WS}/connections/{created['id']}/test")
    shown_once = server.validation_token("ci", "api")["secret"]
    [token] = call("GET", f"/workspaces/{WS}/validation-tokens")
    rotated = server.ok("POST", f"/workspaces/{WS}/validation-tokens/{token['id']}/rotate")[
        "secret"
    ]
    server.add_rule()
    body = b'{"triggerType":"PUSH","branchName":"main","commits":[]}'
    validation = server.validate(None, rotated, raw=body)
    responses.append(validation.text)
    for method, path in [
        ("GET", f"/workspaces/{WS}/connections"),
        ("GET", f"/workspaces/{WS}/connections/{created['id']}"),
        ("GET", f"/workspaces/{WS}/validation-tokens"),
        ("GET", f"/workspaces/{WS}/audit"),
        ("GET", f"/workspaces/{WS}/evaluations"),
        ("GET", f"/workspaces/{WS}/repositories/api/connections"),
    ]:
        call(method, path)
    responses.append(server.client.get("/openapi.json").text)

    secrets = [JIRA_TOKEN, JIRA_TOKEN_2, shown_once, rotated]
    out, err = capfd.readouterr()
    logs = "\n".join(r.getMessage() for r in caplog.records) + out + err
    stored = _dump_database(server.settings.effective_database_url)
    assert "jira" in stored and "gAAAA" in stored  # the rows are there, encrypted (Fernet)
    for secret in secrets:
        for response in responses:
            assert secret not in response
        assert secret not in logs
        assert secret not in stored
    # the API token printed at first start is stored only as a hash
    assert server.admin_token not in stored


def test_key_file_is_created_private(tmp_path: Path) -> None:
    box = load_box(tmp_path, environ={})
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = load_box(tmp_path, environ={})
    assert again.decrypt(box.encrypt("x")) == "x"
    assert box.keys[0] not in repr(box)


def test_multifernet_rotation() -> None:
    old, new = generate_key(), generate_key()
    ciphertext = SecretBox([old]).encrypt("value")
    staged = SecretBox([new, old])
    rotated = staged.rotate(ciphertext)
    assert SecretBox([new]).decrypt(rotated) == "value"
