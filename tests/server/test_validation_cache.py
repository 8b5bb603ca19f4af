"""The Validation API's configuration snapshots (store/config_cache.py) and the version that
invalidates them (store/versioning.py): a warm request makes at most one statement, and every
configuration change applies to the very next request of this process, and reaches another one
sharing the database (SQLite: its next request; PostgreSQL: by notification, within the
watcher's bound — tests/server/test_config_watch.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, select, update
from tests.server.conftest import WS, Server, TestClient

from jirahooks.server import create_app
from jirahooks.store.database import Database
from jirahooks.store.models import (
    Connection,
    EvaluationRow,
    Repository,
    RepositoryConnection,
    RuleRow,
    ValidationToken,
    Workspace,
    utcnow,
)
from jirahooks.store.versioning import NOT_CONFIGURATION

NO_KEY = {"hash": "a" * 40, "message": "fix the login page", "authorDisplayName": "Ada"}
WITH_KEY = {"hash": "b" * 40, "message": "ABC-1 fix the login page", "authorDisplayName": "Ada"}


def push(*commits: dict[str, str]) -> dict[str, Any]:
    return {"triggerType": "PUSH", "branchName": "feature/x", "commits": list(commits)}


@pytest.fixture
def warm(server: Server) -> tuple[Server, str]:
    """Repository ``api``, the commit-key rule, a repository token, and one request served (so
    the snapshot is in memory before the change under test)."""
    server.add_repository("api")
    server.add_rule("commit-key-required")
    secret: str = server.validation_token("ci", "api")["secret"]
    assert server.validate(push(NO_KEY), secret).json()["result"] == "BLOCK"
    return server, secret


def config_version(server: Server) -> int:
    async def read() -> int:
        async with server.state.database.session() as session:
            result = await session.execute(
                select(Workspace.config_version).where(Workspace.slug == WS)
            )
            return int(result.scalar_one())

    return asyncio.run(read())


def count_statements(server: Server) -> Any:
    """A context manager collecting the SQL statements the app's engine runs for requests (the
    background tasks', such as the writer's, which stores evaluations after the answer, are
    left out)."""
    engine = server.state.database.engine.sync_engine

    class Recorder:
        statements: list[str]

        def __enter__(self) -> list[str]:
            self.statements = []
            event.listen(engine, "before_cursor_execute", self.record)
            return self.statements

        def __exit__(self, *exc: object) -> None:
            event.remove(engine, "before_cursor_execute", self.record)

        def record(self, _conn: Any, _cursor: Any, statement: str, *args: Any) -> None:
            task = asyncio.current_task()
            # the server's own background tasks ("jirahooks-audit-writer", "jirahooks-pr-worker"
            # claiming from the queue, …) are not the answer path; every request has a task
            if task is None or not task.get_name().startswith("jirahooks-"):
                self.statements.append(statement.split()[0].upper())

    return Recorder()


def test_a_warm_request_makes_at_most_the_version_read(warm: tuple[Server, str]) -> None:
    server, secret = warm
    version = config_version(server)
    with count_statements(server) as statements:
        assert server.validate(push(WITH_KEY), secret).json()["result"] == "PASS"
    # the version read (none on SQLite: read by SqliteVersionProbe, outside SQLAlchemy); the
    # evaluation and last_used_at are written by the background writer (decision 0007)
    assert statements in ([], ["SELECT"])
    server.ok("GET", f"/workspaces/{WS}/evaluations")  # the writer's barrier
    # stamping last_used_at is usage, not configuration: the snapshot stays valid
    assert config_version(server) == version
    [token] = server.ok("GET", f"/workspaces/{WS}/validation-tokens")
    assert token["last_used_at"] is not None


def test_revoked_token_fails_on_the_next_request(warm: tuple[Server, str]) -> None:
    server, secret = warm
    [token] = server.ok("GET", f"/workspaces/{WS}/validation-tokens")
    server.ok("DELETE", f"/workspaces/{WS}/validation-tokens/{token['id']}")
    response = server.validate(push(NO_KEY), secret)
    assert response.status_code == 401
    assert response.json()["errorCode"] == "HMAC_SECRET_NOT_CONFIGURED"


def test_rotated_token_switches_secrets_on_the_next_request(warm: tuple[Server, str]) -> None:
    server, secret = warm
    [token] = server.ok("GET", f"/workspaces/{WS}/validation-tokens")
    rotated = server.ok("POST", f"/workspaces/{WS}/validation-tokens/{token['id']}/rotate")
    assert server.validate(push(NO_KEY), secret).json()["errorCode"] == "HMAC_SIGNATURE_INVALID"
    assert server.validate(push(NO_KEY), rotated["secret"]).json()["result"] == "BLOCK"


def test_a_new_token_works_on_the_next_request(warm: tuple[Server, str]) -> None:
    server, _ = warm
    other = server.validation_token("ci-2")["secret"]  # workspace-wide
    assert server.validate(push(NO_KEY), other).json()["result"] == "BLOCK"


def test_rule_changes_apply_to_the_next_request(warm: tuple[Server, str]) -> None:
    server, secret = warm
    server.ok("DELETE", f"/workspaces/{WS}/rules/commit-key-required")
    assert server.validate(push(NO_KEY), secret).json()["result"] != "BLOCK"
    server.add_rule("commit-key-required", repository="api")
    assert server.validate(push(NO_KEY), secret).json()["result"] == "BLOCK"
    server.ok("DELETE", f"/workspaces/{WS}/repositories/api/rules/commit-key-required")
    server.add_rule("commit-key-required")
    assert server.validate(push(NO_KEY), secret).json()["result"] == "BLOCK"
    server.ok(
        "PATCH",
        f"/workspaces/{WS}/repositories/api",
        json={"disabled_rules": ["commit-key-required"]},
    )
    assert server.validate(push(NO_KEY), secret).json()["result"] != "BLOCK"


def test_setting_changes_apply_to_the_next_request(warm: tuple[Server, str]) -> None:
    server, secret = warm
    server.ok("PUT", f"/workspaces/{WS}/settings", json={"validation_api": False})
    assert server.validate(push(NO_KEY), secret).json()["errorCode"] == "FEATURE_DISABLED_GLOBAL"
    server.ok("PUT", f"/workspaces/{WS}/settings", json={})
    server.ok("PUT", f"/workspaces/{WS}/repositories/api/settings", json={"enabled": False})
    assert server.validate(push(NO_KEY), secret).json()["result"] == "IGNORE"


def test_repository_deleted_and_recreated(warm: tuple[Server, str]) -> None:
    server, secret = warm
    server.ok("DELETE", f"/workspaces/{WS}/repositories/api")
    # its token went with it
    assert server.validate(push(NO_KEY), secret).json()["errorCode"] == (
        "HMAC_SECRET_NOT_CONFIGURED"
    )
    server.add_repository("api")
    fresh = server.validation_token("ci-again", "api")["secret"]
    assert server.validate(push(NO_KEY), fresh).json()["result"] == "BLOCK"


def test_unknown_repositories_are_not_remembered(warm: tuple[Server, str]) -> None:
    server, _ = warm
    workspace_wide = server.validation_token("ci-ws")["secret"]
    for n in range(5):
        response = server.validate(push(NO_KEY), workspace_wide, repo=f"nope-{n}")
        assert response.json()["errorCode"] == "REPOSITORY_NOT_FOUND"
    assert server.validate(push(NO_KEY), workspace_wide).json()["result"] == "BLOCK"
    snapshot = server.state.config_cache._snapshots[WS]
    assert set(snapshot._by_slug) == {"api"}


@pytest.fixture
def second_process(server: Server, tmp_path: Path) -> Iterator[TestClient]:
    """Another server on the same database and secret key, like a second worker."""
    app = create_app(server.settings)
    with TestClient(app) as client:
        yield client


def test_changes_reach_other_processes(
    warm: tuple[Server, str], second_process: TestClient
) -> None:
    server, secret = warm
    other = Server(second_process, server.settings, server.admin_token)
    assert other.validate(push(NO_KEY), secret).json()["result"] == "BLOCK"  # warm there too
    server.ok("PUT", f"/workspaces/{WS}/repositories/api/settings", json={"validation_api": False})
    # SQLite: the next request there; PostgreSQL: once the notification has arrived, at most
    # the watcher's bound later (decision 0020) — polled for, not timed
    poll(
        lambda: (
            other.validate(push(NO_KEY), secret).json().get("errorCode") == "FEATURE_DISABLED_REPO"
        ),
        "the other process sees the repository's switch",
    )
    [token] = server.ok("GET", f"/workspaces/{WS}/validation-tokens")
    server.ok("DELETE", f"/workspaces/{WS}/validation-tokens/{token['id']}")
    poll(
        lambda: other.validate(push(NO_KEY), secret).status_code == 401,
        "the other process refuses the deleted token",
    )


def poll(check: Callable[[], bool], what: str, deadline: float = 30.0) -> None:
    until = time.monotonic() + deadline
    while not check():
        if time.monotonic() > until:
            raise AssertionError(f"not within {deadline:.0f} s: {what}")
        time.sleep(0.02)


def test_bulk_statements_on_configuration_tables_bump_every_workspace(database_url: str) -> None:
    async def run() -> list[int]:
        database = Database(database_url)
        try:
            await database.upgrade()
            versions = []
            async with database.session() as session:
                session.add_all([Workspace(slug="a"), Workspace(slug="b")])
                await session.commit()

                async def current() -> int:
                    rows = await session.execute(select(Workspace.config_version))
                    return sum(rows.scalars())

                versions.append(await current())
                marked = update(ValidationToken).values(last_used_at=utcnow())
                await session.execute(marked.execution_options(**{NOT_CONFIGURATION: True}))
                await session.commit()
                versions.append(await current())
                await session.execute(update(ValidationToken).values(revoked_at=utcnow()))
                await session.commit()
                versions.append(await current())
                await session.execute(delete(RuleRow))
                await session.commit()
                versions.append(await current())
            return versions
        finally:
            await database.dispose()

    assert asyncio.run(run()) == [0, 0, 2, 4]


def test_every_configuration_write_bumps_its_workspace(database_url: str) -> None:
    async def run() -> dict[str, int]:
        database = Database(database_url)
        steps: dict[str, int] = {}
        try:
            await database.upgrade()
            async with database.session() as session:

                async def step(name: str) -> None:
                    await session.commit()
                    result = await session.execute(
                        select(Workspace.config_version).where(Workspace.slug == "w")
                    )
                    steps[name] = int(result.scalar_one())

                ws = Workspace(slug="w")
                other = Workspace(slug="other")
                session.add_all([ws, other])
                await step("workspace created")
                repo = Repository(workspace_id=ws.id, slug="r")
                session.add(repo)
                await step("repository")
                ws.settings = {"validation_api": False}
                await step("settings")
                token = ValidationToken(workspace_id=ws.id, name="t", secret_encrypted="x")
                session.add(token)
                await step("token")
                token.last_used_at = utcnow()
                await step("token used")
                connection = Connection(workspace_id=ws.id, name="c", url="https://jira")
                session.add(connection)
                await step("connection")
                switch = RepositoryConnection(
                    repository_id=repo.id, connection_id=connection.id, enabled=False
                )
                session.add(switch)
                await step("connection switched off")
                session.add(
                    EvaluationRow(
                        workspace_id=ws.id,
                        source="validation-api",
                        trigger="PUSH",
                        result="PASS",
                        event={},
                        document={},
                    )
                )
                await step("evaluation stored")
                session.add(RuleRow(workspace_id=ws.id, rule_id="x", definition={}))
                await step("rule")
                token.revoked_at = utcnow()
                await step("token revoked")
                await session.delete(repo)
                await step("repository deleted")
                other.settings = {"validation_api": False}
                await step("another workspace changed")
            return steps
        finally:
            await database.dispose()

    assert asyncio.run(run()) == {
        "workspace created": 0,
        "repository": 1,
        "settings": 2,
        "token": 3,
        "token used": 3,
        "connection": 4,
        "connection switched off": 5,
        "evaluation stored": 5,
        "rule": 6,
        "token revoked": 7,
        "repository deleted": 8,
        "another workspace changed": 8,
    }
