"""Evidence exports (issue 16): for a known set of stored evaluations, the exact CSV rows and JSON
records of a period (who, when, commits, keys with their Jira status and type as stored, rules
with their modes, configuration version, verdict, exemptions and escapes, chain link), the
one-page HTML summary (self-contained), reproducible samples, the CLI writing the same bytes
as the API, and who may export (workspace admins and auditors only)."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.server.conftest import WS, Server

from jirahooks.cli import main
from jirahooks.store import chain, evidence
from jirahooks.store.database import Database
from jirahooks.store.models import EvaluationRow, Repository, ValidationToken, Workspace

PERIOD = "from=2026-07-01&to=2026-09-30"
A, B, C, D = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)


def _doc(*validations: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"timestamp": 1, "result": "X", "ruleValidations": list(validations), **extra}


def _rv(rule: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"rule": {"id": rule, "title": rule.title()}, "ruleStatus": status, **extra}


def scene(server: Server) -> dict[str, Any]:
    """Five evaluations: three in the period (a push, a pull request, a merge), one the day
    before and one the day after; plus the ids and chain links as stored."""
    server.validation_token("ci", "api")

    async def run() -> dict[str, Any]:
        database = Database(server.settings.effective_database_url)
        try:
            async with database.session() as session:
                ws = (
                    await session.execute(select(Workspace).where(Workspace.slug == WS))
                ).scalar_one()
                repo = (
                    await session.execute(select(Repository).where(Repository.slug == "api"))
                ).scalar_one()
                token = (await session.execute(select(ValidationToken))).scalars().one()
                base = {"workspace_id": ws.id, "duration_ms": 3.0, "rules": []}
                rows = [
                    {
                        **base,
                        "created_at": datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC),
                        "source": "validation-api",
                        "trigger": "PUSH",
                        "branch": "before",
                        "result": "PASS",
                        "event": {"commits": []},
                        "document": _doc(),
                        "issues": {},
                    },
                    {
                        **base,
                        "created_at": datetime(2026, 7, 1, 10, 0, tzinfo=UTC),
                        "token_id": token.id,
                        "source": "validation-api",
                        "trigger": "PUSH",
                        "branch": "feature/ABC-1",
                        "result": "BLOCK",
                        "config_version": 3,
                        "request_id": "req-1",
                        "event": {
                            "repository": "",
                            "commits": [
                                {"hash": A, "message": "x", "authorDisplayName": "Ada"},
                                {"hash": B, "message": "ABC-1 y", "authorDisplayName": "Bo"},
                                {"hash": C, "message": "bump", "authorDisplayName": "Ada"},
                            ],
                        },
                        "document": _doc(
                            _rv(
                                "commit-key-required",
                                "BLOCK",
                                mode="enforce",
                                checkFacts=[{"code": "NOT_FOUND", "params": {"key": "ABC-9"}}],
                            ),
                            _rv("status-check", "PASS", mode="evaluate", wouldHaveBlocked=True),
                            exemptions=[
                                {"commit": C, "kind": "bot", "bot": "dependabot"},
                                {"commit": D, "kind": "escape", "reason": "hotfix"},
                            ],
                        ),
                        "issues": {
                            "ABC-1": {
                                "key": "ABC-1",
                                "status": "In Progress",
                                "statusCategory": "indeterminate",
                                "issueType": "Story",
                            }
                        },
                    },
                    {
                        **base,
                        "created_at": datetime(2026, 7, 15, 8, 30, tzinfo=UTC),
                        "repository_id": repo.id,
                        "source": "bitbucket-cloud",
                        "trigger": "PULL_REQUEST",
                        "branch": "feature/login",
                        "result": "PASS",
                        "event": {
                            "repository": "api",
                            "commits": [],
                            "pullRequest": {
                                "id": 7,
                                "title": "ABC-2 Login",
                                "author": {"displayName": "Cy"},
                                "destinationBranch": "main",
                                "url": "https://bitbucket.example/pr/7",
                            },
                        },
                        # no "mode" in the rule result: stored before modes, so enforce
                        "document": _doc(
                            _rv(
                                "pr-title",
                                "PASS",
                                issuesUnderReview={"ABC-2": {"status": "Done", "issueType": "Bug"}},
                            )
                        ),
                        "issues": {},
                    },
                    {
                        **base,
                        "created_at": datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC),
                        "repository_id": repo.id,
                        "source": "validation-api",
                        "trigger": "MERGE_COMMIT",
                        "branch": "=HYPERLINK(1)",
                        "result": "WARNING",
                        "config_version": 4,
                        "event": {"commits": [{"hash": D, "authorDisplayName": "Dee"}]},
                        "document": _doc(_rv("no-merge", "WARNING", mode="warn")),
                        "issues": {},
                    },
                    {
                        **base,
                        "created_at": datetime(2026, 10, 1, tzinfo=UTC),
                        "source": "validation-api",
                        "trigger": "PUSH",
                        "branch": "after",
                        "result": "PASS",
                        "event": {"commits": []},
                        "document": _doc(),
                        "issues": {},
                    },
                ]
                await chain.insert_chained(session, rows)
                await session.commit()
            async with database.session() as session:
                stored = (
                    await session.execute(
                        select(
                            EvaluationRow.id, EvaluationRow.chain_seq, EvaluationRow.chain_hash
                        ).order_by(EvaluationRow.id)
                    )
                ).all()
            return {"ids": [r[0] for r in stored], "links": [(r[1], r[2]) for r in stored]}
        finally:
            await database.dispose()

    return asyncio.run(run())


@pytest.fixture
def evidence_scene(roles: Server) -> tuple[Server, dict[str, Any]]:
    roles.ok("POST", f"/workspaces/{WS}/users", json={"name": "auditor", "role": "AUDITOR"})
    made = roles.ok("POST", f"/workspaces/{WS}/users/auditor/tokens", json={"name": "t"})
    roles.tokens["auditor"] = made["token"]
    return roles, scene(roles)


def expected_csv(s: dict[str, Any]) -> list[list[str]]:
    ids, links = s["ids"], s["links"]
    return [
        list(evidence.CSV_COLUMNS),
        [
            str(ids[1]),
            "2026-07-01T10:00:00Z",
            "",
            "push",
            "feature/ABC-1",
            "",
            "Ada, Bo",
            "validation-api",
            "ci",
            f"{A} {B} {C}",
            "ABC-1 (In Progress, Story); ABC-9 (not found, -)",
            "commit-key-required=BLOCK (enforce); status-check=PASS (evaluate)",
            "3",
            "BLOCK",
            "cccccccccccc bot: dependabot",
            "dddddddddddd escape: hotfix",
            "req-1",
            "2",
            links[1][1],
        ],
        [
            str(ids[2]),
            "2026-07-15T08:30:00Z",
            "api",
            "pull request",
            "feature/login",
            "#7 ABC-2 Login",
            "Cy",
            "bitbucket-cloud",
            "",
            "",
            "ABC-2 (Done, Bug)",
            "pr-title=PASS (enforce)",
            "",
            "PASS",
            "",
            "",
            "",
            "3",
            links[2][1],
        ],
        [
            str(ids[3]),
            "2026-09-30T23:59:59Z",
            "api",
            "merge",
            "'=HYPERLINK(1)",  # never a formula in a spreadsheet
            "",
            "Dee",
            "validation-api",
            "",
            D,
            "",
            "no-merge=WARNING (warn)",
            "4",
            "WARNING",
            "",
            "",
            "",
            "4",
            links[3][1],
        ],
    ]


def test_csv_export_holds_exactly_the_changes_of_the_period(
    evidence_scene: tuple[Server, dict[str, Any]],
) -> None:
    server, s = evidence_scene
    response = server.call("GET", f"/workspaces/{WS}/evidence?{PERIOD}&format=csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert "evidence-default-2026-07-01-2026-09-30.csv" in response.headers["content-disposition"]
    assert list(csv.reader(io.StringIO(response.text))) == expected_csv(s)
    only_api = server.call("GET", f"/workspaces/{WS}/evidence?{PERIOD}&repository=api")
    assert [r[0] for r in csv.reader(io.StringIO(only_api.text))][1:] == [
        str(s["ids"][2]),
        str(s["ids"][3]),
    ]


def test_json_export_records(evidence_scene: tuple[Server, dict[str, Any]]) -> None:
    server, s = evidence_scene
    response = server.call("GET", f"/workspaces/{WS}/evidence?{PERIOD}&format=json")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["workspace"] == WS and (body["from"], body["to"]) == ("2026-07-01", "2026-09-30")
    assert body["chainHead"] == {"seq": 5, "hash": s["links"][4][1]}
    assert [c["id"] for c in body["changes"]] == s["ids"][1:4]
    push = body["changes"][0]
    assert push == {
        "id": s["ids"][1],
        "time": "2026-07-01T10:00:00Z",
        "repository": "",
        "change": "push",
        "trigger": "PUSH",
        "branch": "feature/ABC-1",
        "who": {"authors": ["Ada", "Bo"], "pullRequestAuthor": "", "token": "ci", "user": ""},
        "source": "validation-api",
        "commits": [
            {"hash": A, "author": "Ada"},
            {"hash": B, "author": "Bo"},
            {"hash": C, "author": "Ada"},
        ],
        "keys": [
            {
                "key": "ABC-1",
                "status": "In Progress",
                "statusCategory": "indeterminate",
                "issueType": "Story",
                "found": True,
            },
            {"key": "ABC-9", "status": "", "statusCategory": "", "issueType": "", "found": False},
        ],
        "rules": [
            {
                "id": "commit-key-required",
                "title": "Commit-Key-Required",
                "mode": "enforce",
                "status": "BLOCK",
            },
            {
                "id": "status-check",
                "title": "Status-Check",
                "mode": "evaluate",
                "status": "PASS",
                "wouldHaveBlocked": True,
            },
        ],
        "configVersion": 3,
        "result": "BLOCK",
        "exemptions": [{"commit": C, "kind": "bot", "bot": "dependabot"}],
        "escapes": [{"commit": D, "kind": "escape", "reason": "hotfix"}],
        "requestId": "req-1",
        "chain": {"seq": 2, "hash": s["links"][1][1]},
    }
    pr = body["changes"][1]
    assert pr["pullRequest"] == {
        "id": 7,
        "title": "ABC-2 Login",
        "destination": "main",
        "url": "https://bitbucket.example/pr/7",
    }
    assert pr["who"]["pullRequestAuthor"] == "Cy" and pr["configVersion"] is None
    assert pr["rules"] == [
        {"id": "pr-title", "title": "Pr-Title", "mode": "enforce", "status": "PASS"}
    ]


def test_html_summary_is_one_self_contained_page(
    evidence_scene: tuple[Server, dict[str, Any]],
) -> None:
    server, s = evidence_scene
    response = server.call("GET", f"/workspaces/{WS}/evidence?{PERIOD}&format=html")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    for loaded in ("<script", "<link", "src=", "@import", "url("):
        assert loaded not in page  # nothing fetched: prints offline, no CDN
    assert '<td>changes evaluated</td><td class="num">3</td>' in page
    assert '<td>result BLOCK</td><td class="num">1</td>' in page
    assert '<td>escape tokens used</td><td class="num">1</td>' in page
    assert "<td>status-check</td><td>evaluate</td>" in page
    assert s["links"][4][1] in page  # the chain head at export


def test_samples_are_reproducible(evidence_scene: tuple[Server, dict[str, Any]]) -> None:
    server, s = evidence_scene
    in_period = s["ids"][1:4]

    def sample(seed: str, size: int = 2) -> list[int]:
        url = f"/workspaces/{WS}/evidence?{PERIOD}&format=json&sample={size}&seed={seed}"
        body = server.ok("GET", url)
        assert body["sample"] == {"size": size, "seed": seed}
        return [c["id"] for c in body["changes"]]

    # the documented rule: the changes whose sha256("seed:id") is smallest, in id order
    rank = {i: hashlib.sha256(f"q3:{i}".encode()).digest() for i in in_period}
    assert sample("q3") == sorted(sorted(in_period, key=rank.__getitem__)[:2])
    assert sample("q3") == sample("q3")
    assert sample("q3", 10) == in_period  # larger than the period: all of it
    seeds = {tuple(sample(f"seed{n}")) for n in range(8)}
    assert len(seeds) > 1  # another seed, another sample
    unseeded = server.ok("GET", f"/workspaces/{WS}/evidence?{PERIOD}&format=json&sample=1")
    seed = unseeded["sample"]["seed"]
    assert seed and [c["id"] for c in unseeded["changes"]] == sample(seed, 1)


def test_cli_writes_what_the_api_answers(
    evidence_scene: tuple[Server, dict[str, Any]], tmp_path: Path
) -> None:
    server, _s = evidence_scene
    target = tmp_path / "q3.csv"
    store = [
        "--database-url",
        server.settings.effective_database_url,
        "--data-dir",
        str(server.settings.data_dir),
    ]
    assert (
        main(["evidence", "--from", "2026-07-01", "--to", "2026-09-30", "-o", str(target), *store])
        == 0
    )
    api = server.call("GET", f"/workspaces/{WS}/evidence?{PERIOD}&format=csv")
    assert target.read_bytes() == api.content
    sampled = tmp_path / "s.json"
    args = ["evidence", "--from", "2026-07-01", "--to", "2026-09-30", "--sample", "2"]
    assert main([*args, "--seed", "q3", "-o", str(sampled), *store]) == 0
    by_api = server.ok("GET", f"/workspaces/{WS}/evidence?{PERIOD}&format=json&sample=2&seed=q3")
    by_cli = json.loads(sampled.read_text(encoding="utf-8"))
    assert by_cli["changes"] == by_api["changes"]


def test_cli_refuses_bad_periods(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    assert (
        main(["evidence", "--from", "2026-09-30", "--to", "2026-07-01", "--database-url", url]) == 2
    )
    assert "EVIDENCE_BAD_PERIOD" in capsys.readouterr().err
    assert main(["evidence", "--from", "Q3", "--to", "2026-07-01", "--database-url", url]) == 2
    assert "EVIDENCE_BAD_DATE" in capsys.readouterr().err
    assert main(["evidence", "--to", "2026-07-01", "--database-url", url]) == 2
    assert "EVIDENCE_NO_PERIOD" in capsys.readouterr().err
    # reading evidence never creates a database
    period = ["--from", "2026-07-01", "--to", "2026-09-30", "--database-url", url]
    assert main(["evidence", *period]) == 4
    assert "DATABASE_NOT_FOUND" in capsys.readouterr().err
    assert main(["evidence", "verify", "--database-url", url]) == 4
    assert not (tmp_path / "x.sqlite3").exists()


def test_who_may_export(evidence_scene: tuple[Server, dict[str, Any]]) -> None:
    server, _s = evidence_scene
    path = f"/workspaces/{WS}/evidence?{PERIOD}"
    for who in ("admin", "auditor"):
        assert server.call("GET", path, who).status_code == 200, who
    for who in ("member", "repo_admin"):
        refused = server.call("GET", path, who)
        assert refused.status_code == 403, who
        assert refused.json()["code"] == "FORBIDDEN"
        assert "AUDITOR" in refused.json()["hint"]
    assert server.call("GET", path, "outsider").status_code == 404
    assert server.call("GET", path, None).status_code == 401
    # an auditor reads, never writes
    assert server.call("GET", f"/workspaces/{WS}/evaluations", "auditor").status_code == 200
    denied = server.call(
        "POST",
        f"/workspaces/{WS}/rules/from-template",
        "auditor",
        json={"template": "commit-key-required"},
    )
    assert denied.status_code == 403
    assert server.ok("GET", f"/workspaces/{WS}", "auditor")["role"] == "AUDITOR"


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("from=2026-09-30&to=2026-07-01", 422, "EVIDENCE_BAD_PERIOD"),
        ("from=Q3&to=2026-07-01", 422, None),
        ("from=2026-07-01", 422, None),
        (f"{PERIOD}&format=pdf", 422, None),
        (f"{PERIOD}&sample=0", 422, None),
        (f"{PERIOD}&repository=nope", 404, "NOT_FOUND"),
    ],
)
def test_bad_requests_are_explained(
    evidence_scene: tuple[Server, dict[str, Any]], query: str, status: int, code: str | None
) -> None:
    server, _s = evidence_scene
    response = server.call("GET", f"/workspaces/{WS}/evidence?{query}")
    assert response.status_code == status, response.text
    body = response.json()
    assert body["message"] and "hint" in body and "Traceback" not in response.text
    if code:
        assert body["code"] == code
