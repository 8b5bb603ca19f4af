"""The evaluation log's hash chain (issue 16, decision 0012) over evaluations written through the
real Validation API (background writer): intact after real requests; a changed field, a deleted
row, a row deleted at the end and an inserted row are each found, with the first broken
evaluation named — by ``chain.verify`` and by ``jirahooks evidence verify``; no admin route
changes or deletes an evaluation."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
from tests.server.conftest import WS, Server

from jirahooks.cli import main
from jirahooks.store import chain
from jirahooks.store.database import Database
from jirahooks.store.models import Workspace

NO_KEY = {"hash": "a" * 40, "message": "fix the login page", "authorDisplayName": "Ada"}
WITH_KEY = {"hash": "b" * 40, "message": "ABC-1 fix the login page", "authorDisplayName": "Bo"}


def push(*commits: dict[str, str], branch: str = "feature/x") -> dict[str, Any]:
    return {"triggerType": "PUSH", "branchName": branch, "commits": list(commits)}


@pytest.fixture
def stored(server: Server) -> tuple[Server, list[int]]:
    """Four evaluations stored through the Validation API; their ids, oldest first."""
    server.add_repository("api")
    server.add_rule("commit-key-required")
    secret = server.validation_token("ci", "api")["secret"]
    for commit in (NO_KEY, WITH_KEY, NO_KEY, WITH_KEY):
        assert server.validate(push(commit), secret).status_code == 200
    items = server.ok("GET", f"/workspaces/{WS}/evaluations")["items"]  # waits for the writer
    ids = sorted(item["id"] for item in items)
    assert len(ids) == 4
    return server, ids


def verify(server: Server) -> chain.Report:
    async def run() -> chain.Report:
        database = Database(server.settings.effective_database_url)
        try:
            async with database.session() as session:
                from sqlalchemy import select

                ws = (
                    await session.execute(select(Workspace).where(Workspace.slug == WS))
                ).scalar_one()
                return await chain.verify(session, ws)
        finally:
            await database.dispose()

    return asyncio.run(run())


def tamper(server: Server, sql: str, *params: Any) -> None:
    """Raw SQL straight to the database, as someone with database access would."""
    database = Database(server.settings.effective_database_url)
    if database.dialect == "sqlite":
        with sqlite3.connect(database.sqlite_path) as conn:
            conn.execute(sql, params)
        return
    import psycopg

    with psycopg.connect(database.libpq_url, autocommit=True) as conn:
        conn.execute(sql.replace("?", "%s"), params)


def links(server: Server) -> list[tuple[int, int, str]]:
    database = Database(server.settings.effective_database_url)
    query = "SELECT id, chain_seq, chain_hash FROM evaluations ORDER BY id"
    if database.dialect == "sqlite":
        with sqlite3.connect(database.sqlite_path) as conn:
            return [tuple(r) for r in conn.execute(query)]
    import psycopg

    with psycopg.connect(database.libpq_url) as conn:
        return [tuple(r) for r in conn.execute(query)]  # type: ignore[misc]


def cli_verify(server: Server, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(
        [
            "evidence",
            "verify",
            "--database-url",
            server.settings.effective_database_url,
            "--data-dir",
            str(server.settings.data_dir),
        ]
    )
    return code, capsys.readouterr().out


def test_validations_form_an_intact_chain(
    stored: tuple[Server, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    server, ids = stored
    rows = links(server)
    assert [r[0] for r in rows] == ids
    assert [r[1] for r in rows] == [1, 2, 3, 4]  # one link per evaluation, in the order stored
    assert len({r[2] for r in rows}) == 4 and all(len(r[2]) == 64 for r in rows)
    report = verify(server)
    assert report.ok, report.problems
    assert report.links == 4 and report.head_seq == 4 and report.head_hash == rows[-1][2]
    code, out = cli_verify(server, capsys)
    assert code == 0, out
    assert f"workspace {WS}: chain intact, 4 evaluation(s)" in out
    answer = server.ok("GET", f"/workspaces/{WS}/evidence/chain")
    assert answer["ok"] is True and answer["firstBroken"] is None and answer["problems"] == []
    detail = server.ok("GET", f"/workspaces/{WS}/evaluations/{ids[2]}")
    assert (detail["chain_seq"], detail["chain_hash"]) == (3, rows[2][2])
    # the configuration version the rules were read at: the workspace's, as the request saw it
    assert isinstance(detail["config_version"], int) and detail["config_version"] > 0
    assert answer["head"] == {"seq": 4, "hash": rows[-1][2]}
    # the next evaluation continues the chain
    secret = server.validation_token("ci2", "api")["secret"]
    assert server.validate(push(NO_KEY), secret).status_code == 200
    server.ok("GET", f"/workspaces/{WS}/evaluations")
    assert verify(server).links == 5 and verify(server).ok


DOCUMENT = "REPLACE(CAST(document AS TEXT), 'BLOCK', 'PASS')"


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("UPDATE evaluations SET result = 'PASS' WHERE id = ?",) * 2,
        ("UPDATE evaluations SET branch = 'main' WHERE id = ?",) * 2,
        ("UPDATE evaluations SET created_at = '2020-01-01 00:00:00.000000' WHERE id = ?",) * 2,
        (
            f"UPDATE evaluations SET document = {DOCUMENT} WHERE id = ?",
            f"UPDATE evaluations SET document = CAST({DOCUMENT} AS JSON) WHERE id = ?",
        ),
    ],
    ids=["result", "branch", "created_at", "document"],
)
def test_a_changed_row_is_named(
    stored: tuple[Server, list[int]], sqlite: str, postgres: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server, ids = stored
    target = ids[2]  # a BLOCK (NO_KEY)
    sql = (
        sqlite if Database(server.settings.effective_database_url).dialect == "sqlite" else postgres
    )
    tamper(server, sql, target)
    report = verify(server)
    assert not report.ok
    assert report.first is not None
    assert (report.first.kind, report.first.evaluation_id) == ("CHANGED", target)
    assert len(report.problems) == 1  # the links after it still verify against their hashes
    code, out = cli_verify(server, capsys)
    assert code == 1
    assert f"chain BROKEN at evaluation {target} (CHANGED)" in out
    # the same through the admin API, for an auditor without a shell
    answer = server.ok("GET", f"/workspaces/{WS}/evidence/chain")
    assert answer["ok"] is False and answer["links"] == 4
    assert answer["firstBroken"]["kind"] == "CHANGED"
    assert answer["firstBroken"]["evaluationId"] == target


def test_a_deleted_row_is_named(
    stored: tuple[Server, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    server, ids = stored
    tamper(server, "DELETE FROM evaluations WHERE id = ?", ids[1])
    report = verify(server)
    assert report.first is not None
    assert (report.first.kind, report.first.evaluation_id, report.first.seq) == (
        "DELETED",
        ids[2],
        3,
    )
    assert "link 2 before evaluation" in report.first.message
    assert len(report.problems) == 1
    code, out = cli_verify(server, capsys)
    assert code == 1 and f"chain BROKEN at evaluation {ids[2]} (DELETED)" in out


def test_a_row_deleted_at_the_end_is_found(stored: tuple[Server, list[int]]) -> None:
    server, ids = stored
    tamper(server, "DELETE FROM evaluations WHERE id = ?", ids[3])
    report = verify(server)
    assert report.first is not None
    assert (report.first.kind, report.first.evaluation_id, report.first.seq) == (
        "DELETED",
        None,
        4,
    )
    assert f"after evaluation {ids[2]}" in report.first.message


def test_an_inserted_row_is_named(
    stored: tuple[Server, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    server, ids = stored
    columns = (
        "workspace_id, repository_id, created_at, source, trigger, branch, result, "
        "duration_ms, token_id, user_id, event, rules, document, issues, request_id"
    )
    tamper(
        server,
        f"INSERT INTO evaluations ({columns}) SELECT {columns} FROM evaluations WHERE id = ?",
        ids[0],
    )
    forged = links(server)[-1][0]
    assert forged > ids[-1]
    report = verify(server)
    assert report.first is not None
    assert (report.first.kind, report.first.evaluation_id) == ("INSERTED", forged)
    code, out = cli_verify(server, capsys)
    assert code == 1 and f"chain BROKEN at evaluation {forged} (INSERTED)" in out


def test_an_inserted_link_with_a_made_up_hash_is_named(stored: tuple[Server, list[int]]) -> None:
    """A row slipped in with the next link number but without the chain's hash."""
    server, ids = stored
    columns = (
        "workspace_id, repository_id, created_at, source, trigger, branch, result, "
        "duration_ms, token_id, user_id, event, rules, document, issues, request_id"
    )
    tamper(
        server,
        f"INSERT INTO evaluations ({columns}, chain_seq, chain_hash) SELECT {columns}, 5, "
        f"'{'f' * 64}' FROM evaluations WHERE id = ?",
        ids[0],
    )
    forged = links(server)[-1][0]
    report = verify(server)
    assert report.first is not None
    assert (report.first.kind, report.first.evaluation_id) == ("CHANGED", forged)
    assert any(p.kind == "HEAD" for p in report.problems)  # the head still says link 4


def test_no_route_changes_or_deletes_an_evaluation(stored: tuple[Server, list[int]]) -> None:
    server, ids = stored
    path = f"/workspaces/{WS}/evaluations/{ids[0]}"
    for method in ("PUT", "PATCH", "DELETE"):
        assert server.call(method, path, json={"result": "PASS"}).status_code == 405
    assert server.call("DELETE", f"/workspaces/{WS}/evaluations").status_code == 405
    routes = server.client.app.routes  # type: ignore[attr-defined]
    for route in routes:
        if "evaluation" in getattr(route, "path", ""):
            assert set(getattr(route, "methods", set()) or set()) <= {"GET", "HEAD"}, route.path
    assert verify(server).ok


def test_deleting_the_repository_and_its_token_keeps_the_chain(
    stored: tuple[Server, list[int]],
) -> None:
    """``ON DELETE SET NULL`` rewrites the references of stored evaluations: they are not part of
    a link, so the chain still verifies (the repository's slug is in the event)."""
    server, ids = stored
    server.ok("DELETE", f"/workspaces/{WS}/repositories/api")
    rows = server.ok("GET", f"/workspaces/{WS}/evaluations")["items"]
    assert {r["repository"] for r in rows} == {None} and {r["token"] for r in rows} == {None}
    report = verify(server)
    assert report.ok, report.problems
    assert report.links == len(ids)
