"""Issue 11 §4 — what the PR pipeline's hot path costs the server, counted, not timed
(docs/decisions/0019-pr-hot-path-statements.md), on SQLite and PostgreSQL:

* a webhook's intake reads the workspace and its host configuration in one statement, goes to
  the CPU pool once (the body's check and the host's parse together), and decrypts the webhook
  secret once per stored value, not once per delivery;
* a passing PR's processing runs the queue's writes as prebuilt Core statements: the only
  ORM-enabled writes left are the claim (one prebuilt statement for the deliveries it takes)
  and the creation of a new PR's row holding its lease (it returns the row).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session
from tests.fakes.fake_bitbucket import ACCESS_TOKEN, FakeBitbucket
from tests.fakes.fake_jira import FakeJira
from tests.platforms.harness import (
    FAST_OPTIONS,
    Guardian,
    LiveServer,
    configure,
    settings_for,
    wait_until,
)
from tests.platforms.processes import make_prs

from jirahooks.store.deliveries import _claim_statement


@pytest.fixture
def fakes() -> Iterator[tuple[FakeBitbucket, FakeJira]]:
    with FakeBitbucket() as bitbucket, FakeJira("cloud") as jira:
        yield bitbucket, jira


def guardian(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira], *, worker: bool
) -> Guardian:
    options = FAST_OPTIONS if worker else replace(FAST_OPTIONS, enabled=False)
    server = LiveServer(settings_for(tmp_path, database_url), options).start()
    return configure(server, *fakes, admin_token=server.state.first_start.token)


class Counted:
    """SQL statements sent on the server's engine, CPU-pool trips and decryptions."""

    def __init__(self, g: Guardian) -> None:
        self.state = g.server.state
        self.engine = self.state.database.engine.sync_engine
        self.statements: list[str] = []
        self.cpu_trips = 0
        self.decrypted = 0

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement.split(None, 1)[0].upper())

    def __enter__(self) -> Counted:
        event.listen(self.engine, "before_cursor_execute", self._statement)
        cpu, box = self.state.cpu, self.state.secrets
        self._run, self._decrypt = cpu.run, box.decrypt

        async def run(fn: Any, /, *args: Any) -> Any:
            self.cpu_trips += 1
            return await self._run(fn, *args)

        def decrypt(token: str) -> str:
            self.decrypted += 1
            return str(self._decrypt(token))

        cpu.run, box.decrypt = run, decrypt
        return self

    def __exit__(self, *exc_info: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        del self.state.cpu.run, self.state.secrets.decrypt


def test_a_webhook_intake_is_one_read_one_write_one_cpu_trip(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    g = guardian(tmp_path, database_url, fakes, worker=False)
    try:
        prs = make_prs(g.bitbucket, g.repo, 6)
        assert g.deliver(prs[0]).status_code == 202  # the secret's first decryption
        with Counted(g) as counted:
            for pr in prs[1:]:
                assert g.deliver(pr).status_code == 202
        reads = [s for s in counted.statements if s == "SELECT"]
        writes = [s for s in counted.statements if s == "INSERT"]
        assert (len(reads), len(writes)) == (5, 5), counted.statements
        assert counted.cpu_trips == 5
        assert counted.decrypted == 0  # the same stored secret: decrypted once, before
    finally:
        g.http.close()
        g.server.stop()


def test_a_changed_webhook_secret_applies_to_the_next_delivery(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    g = guardian(tmp_path, database_url, fakes, worker=False)
    try:
        first, second = make_prs(g.bitbucket, g.repo, 2)
        assert g.deliver(first).status_code == 202
        g.api(
            "PUT",
            "/workspaces/default/bitbucket",
            json={
                "auth_kind": "access_token",
                "token": ACCESS_TOKEN,
                "webhook_secret": "a-new-s3cret",
                "public_url": g.server.url,
                "bitbucket_workspace": "acme",
                "api_url": g.bitbucket.url,
            },
        )
        assert g.deliver(second).status_code == 401  # signed with the old secret
        assert g.deliver(second, secret="a-new-s3cret").status_code == 202
    finally:
        g.http.close()
        g.server.stop()


def test_a_passing_prs_queue_writes_are_core_statements(
    tmp_path: Path, database_url: str, fakes: tuple[FakeBitbucket, FakeJira]
) -> None:
    g = guardian(tmp_path, database_url, fakes, worker=True)
    orm_writes: list[str] = []
    # the claim: one prebuilt statement shared by the deliveries it takes (and every poll)
    claims = (_claim_statement(True), _claim_statement(False))

    def orm_execute(state: ORMExecuteState) -> None:
        if state.statement in claims:
            return
        if state.is_orm_statement and (state.is_update or state.is_insert or state.is_delete):
            table = getattr(state.statement, "table", None)
            orm_writes.append(str(getattr(table, "name", table)))

    try:
        warm, *prs = make_prs(g.bitbucket, g.repo, 4)
        g.deliver(warm)
        g.final_status(warm.head)
        g.settle()
        event.listen(Session, "do_orm_execute", orm_execute)
        try:
            for pr in prs:
                assert g.deliver(pr).status_code == 202
                assert g.final_status(pr.head)["state"] == "SUCCESSFUL"
            g.settle()
            assert wait_until(lambda: len(g.server.worker.timelines) == 1 + len(prs))
        finally:
            event.remove(Session, "do_orm_execute", orm_execute)
        # a PR seen for the first time: its row is created holding the lease (returning it)
        assert orm_writes == ["pull_request_results"] * len(prs)
    finally:
        g.http.close()
        g.server.stop()
