"""The PR path's evaluations are links of the same hash chain as the Validation API's, and their
evidence names the pull request, its author, and each key's Jira status and type as the fake
Jira gave them when the PR was checked — even after the issue moves on (issue 16)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.fakes.fake_bitbucket import FakeBitbucket
from tests.fakes.fake_jira import FakeJira
from tests.platforms.harness import WS, Guardian, LiveServer, configure, settings_for

from jirahooks.store import chain
from jirahooks.store.database import Database
from jirahooks.store.models import Workspace


@pytest.fixture
def guardian(tmp_path: Path, database_url: str) -> Iterator[Guardian]:
    with FakeBitbucket() as bitbucket, FakeJira("cloud") as jira:
        jira.add_issue("ABC-1", status="In Progress", issue_type="Story")
        jira.add_issue("ABC-2", status="Done")
        server = LiveServer(settings_for(tmp_path, database_url)).start()
        try:
            made = configure(server, bitbucket, jira, admin_token=server.state.first_start.token)
            yield made
            made.http.close()
        finally:
            server.stop()


def verify(url: str) -> chain.Report:
    async def run() -> chain.Report:
        database = Database(url)
        try:
            async with database.session() as session:
                ws = (
                    await session.execute(select(Workspace).where(Workspace.slug == WS))
                ).scalar_one()
                return await chain.verify(session, ws)
        finally:
            await database.dispose()

    return asyncio.run(run())


def test_pull_request_evaluations_are_chained_and_exported(guardian: Guardian) -> None:
    g = guardian
    pr = g.bitbucket.add_pr(g.repo, "Login form", source="feature/login", commits=["wip"])
    assert g.deliver(pr).status_code == 202
    assert g.final_status(pr.head)["state"] == "FAILED"
    pr.title = "ABC-1 Login form"
    fixed = g.bitbucket.push(g.repo, pr, "ABC-1 add the login form")
    pr.commits.remove(pr.commits[0])
    assert g.deliver(pr, "pullrequest:updated").status_code == 202
    assert g.final_status(fixed.hash)["state"] == "SUCCESSFUL"
    issue = next(i for i in g.jira.issues.values() if i.key == "ABC-1")
    issue.status = "Done"  # Jira moves on; the evidence keeps what was seen

    report = verify(g.server.settings.effective_database_url)
    assert report.ok, report.problems
    assert report.links == 2

    today = datetime.now(UTC).date().isoformat()
    body = g.api("GET", f"/workspaces/{WS}/evidence?from={today}&to={today}&format=json")
    changes = body["changes"]
    assert [c["result"] for c in changes] == ["BLOCK", "PASS"]
    assert [c["chain"]["seq"] for c in changes] == [1, 2]
    passed = changes[1]
    assert passed["change"] == "pull request" and passed["source"] == "bitbucket-cloud"
    assert passed["pullRequest"]["title"] == "ABC-1 Login form"
    assert passed["pullRequest"]["destination"]
    assert passed["commits"] == [{"hash": fixed.hash, "author": passed["commits"][0]["author"]}]
    assert {k["key"]: (k["status"], k["issueType"]) for k in passed["keys"]} == {
        "ABC-1": ("In Progress", "Story")
    }
    assert {r["id"]: (r["status"], r["mode"]) for r in passed["rules"]} == {
        "title-key": ("PASS", "enforce"),
        "commit-keys": ("PASS", "enforce"),
    }
    assert isinstance(passed["configVersion"], int) and passed["configVersion"] > 0
