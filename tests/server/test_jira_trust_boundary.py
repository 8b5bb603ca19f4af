"""Jira trouble through the Validation API and the admin API (issue 10, section 3), with the
fake Jira as a real server and the store on SQLite and PostgreSQL.

* a Data Center connection whose project list answers 404 / 503 / an SSO page: ``KIP-932``
  is undetermined — the ``jira_unreachable`` policy decides and the headline says Jira could
  not be reached (not "Some issue keys do not exist in Jira");
* a Data Center connection pointed at Jira Cloud fails its test with the real reason;
* rule JQL that could escape ``(jql) AND id in (…)`` is refused at save while Jira is down,
  and a stored one is never sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, update
from tests.fakes.fake_jira import FakeJira
from tests.server.conftest import WS, Server

from jirahooks.store.models import RuleRow

KIP = {
    "triggerType": "PUSH",
    "branchName": "main",
    "commits": [{"hash": "c" * 40, "message": "KIP-932 support"}],
}
ABC = {
    "triggerType": "PUSH",
    "branchName": "main",
    "commits": [{"hash": "d" * 40, "message": "ABC-1 login"}],
}

FAULTS: dict[str, Callable[[FakeJira], Any]] = {
    "404": lambda f: f.fail(404, path="/rest/api/2/project", times=-1),
    "503": lambda f: f.fail(503, path="/rest/api/2/project", times=-1),
    "sso-page": lambda f: f.serve_html(path="/rest/api/2/project", times=-1),
    "403": lambda f: f.fail(403, path="/rest/api/2/project", times=-1),
}


@pytest.fixture
def dc() -> Iterator[FakeJira]:
    with FakeJira("datacenter", context_path="/jira") as fake:
        fake.add_issue("ABC-1", status="Done")
        yield fake


def _wire(server: Server, fake: FakeJira, *, deployment: str = "datacenter", **rule: Any) -> Any:
    server.add_repository("api")
    connection = server.ok(
        "POST",
        f"/workspaces/{WS}/connections",
        json={
            "name": "acme-dc",
            "url": fake.url,
            "deployment": deployment,
            "email": fake.user.email if fake.deployment == "cloud" else "",
            "token": fake.token,
            "save_anyway": True,  # these tests look at what the test says
        },
    )
    if rule:
        server.ok("POST", f"/workspaces/{WS}/rules", json=rule)
    return connection


def _policy(server: Server, policy: str) -> None:
    server.ok("PUT", f"/workspaces/{WS}/settings", json={"jira_unreachable": policy})


def _texts(document: dict[str, Any], kind: str) -> list[str]:
    return [m["text"] for v in document["errorValidations"] for m in v[kind]]


def _facts(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for rv in document["ruleValidations"] for f in rv["checkFacts"]]


ALL_VALID = {
    "id": "all-valid",
    "title": "All issue keys must exist in Jira",
    "targets": ["COMMIT"],
    "checks": {"keys_valid": "ALL", "ignore_unknown_projects": True},
    "error": "Some issue keys do not exist in Jira.",
}
KEY_PRESENT = {
    "id": "key-present",
    "title": "Commits reference an issue",
    "targets": ["COMMIT"],
    "checks": {"key_present": True, "ignore_unknown_projects": True},
    "error": "A commit does not reference a Jira issue.",
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_project_list_failure_blocks_with_block_policy(
    server: Server, dc: FakeJira, fault: str
) -> None:
    _wire(server, dc, **KEY_PRESENT)
    _policy(server, "BLOCK")
    FAULTS[fault](dc)
    secret = server.validation_token("ci", "api")["secret"]
    document = server.validate(KIP, secret).json()
    assert document["result"] == "BLOCK"  # b9f4856: PASS
    (headline,) = _texts(document, "errorMessages")
    assert headline.startswith("Jira could not be reached")
    messages = [f["message"] for f in _facts(document)]
    assert any("could not be asked about KIP-932" in m for m in messages)
    problems = [m for m in messages if m.startswith("Jira connection 'acme-dc'")]
    assert problems and all(m.count("acme-dc") == 1 for m in problems)
    # unlisted, but Jira found the issue: a key after all, definitely present
    assert server.validate(ABC, secret).json()["result"] == "PASS"


@pytest.mark.parametrize("fault", ["404", "503"])
def test_project_list_failure_warns_with_warn_policy_and_never_says_not_found(
    server: Server, dc: FakeJira, fault: str
) -> None:
    _wire(server, dc, **ALL_VALID)
    _policy(server, "WARN")
    FAULTS[fault](dc)
    secret = server.validation_token("ci", "api")["secret"]
    document = server.validate(KIP, secret).json()
    assert document["result"] == "WARNING"  # b9f4856: BLOCK, "KIP-932 was not found"
    assert not any("was not found" in f["message"] for f in _facts(document))
    (headline,) = _texts(document, "warningMessages")
    assert headline.startswith("Jira could not be reached")
    assert "do not exist" not in headline
    german = server.validate({**KIP, "locale": "de-DE"}, secret).json()
    assert german["result"] == "WARNING"
    (headline,) = _texts(german, "warningMessages")
    assert headline.startswith("Jira war nicht erreichbar")


def test_project_list_failure_passes_with_allow_policy_and_says_so(
    server: Server, dc: FakeJira
) -> None:
    _wire(server, dc, **ALL_VALID)
    _policy(server, "ALLOW")
    FAULTS["404"](dc)
    secret = server.validation_token("ci", "api")["secret"]
    document = server.validate(KIP, secret).json()
    assert document["result"] == "PASS"
    allowed = [f for f in _facts(document) if "allowed by policy" in f["message"]]
    assert allowed and allowed[0]["status"] == "INFO"


def test_dc_connection_pointed_at_cloud_fails_its_test_with_the_real_reason(
    server: Server,
) -> None:
    with FakeJira("cloud") as cloud:
        connection = _wire(server, cloud, deployment="datacenter")
        result = server.ok("POST", f"/workspaces/{WS}/connections/{connection['id']}/test")
    assert result["ok"] is False
    assert result["code"] == "JIRA_DEPLOYMENT_MISMATCH"  # b9f4856: ok (or a 404 later)
    assert "set deployment to cloud" in result["hint"]
    codes = [p["code"] for p in result["problems"]]
    assert "JIRA_SEARCH_UNAVAILABLE" in codes  # the 410 of the removed search
    search = next(p for p in result["problems"] if p["code"] == "JIRA_SEARCH_UNAVAILABLE")
    assert "410" in search["message"] and "removed on Jira Cloud" in search["message"]
    assert all("acme-dc" not in p["message"] for p in result["problems"])


def test_cloud_connection_pointed_at_data_center_is_told_so(server: Server, dc: FakeJira) -> None:
    connection = _wire(server, dc, deployment="cloud")
    result = server.ok("POST", f"/workspaces/{WS}/connections/{connection['id']}/test")
    assert result["ok"] is False and result["code"] == "JIRA_DEPLOYMENT_MISMATCH"
    assert "set deployment to datacenter" in result["hint"]


def test_a_healthy_connection_still_passes_its_test(server: Server, dc: FakeJira) -> None:
    connection = _wire(server, dc)
    result = server.ok("POST", f"/workspaces/{WS}/connections/{connection['id']}/test")
    assert result["ok"] is True and result["problems"] == []
    assert result["deployment"] == "datacenter"


def test_project_list_problem_is_reported_by_the_test(server: Server, dc: FakeJira) -> None:
    connection = _wire(server, dc)
    FAULTS["404"](dc)
    result = server.ok("POST", f"/workspaces/{WS}/connections/{connection['id']}/test")
    assert result["ok"] is False and result["code"] == "JIRA_PROJECTS_UNREADABLE"


ESCAPES = [
    'status = "Done") OR (1=1',
    'status = "In Progress" ORDER BY key',
    'status = "In Progress',
    "status = Done AND",
]


@pytest.mark.parametrize("jql", ESCAPES)
def test_escaping_jql_is_refused_at_save_while_jira_is_down(
    server: Server, dc: FakeJira, jql: str
) -> None:
    _wire(server, dc)
    dc.reset_log()  # saving the connection tested it (a search among its calls)
    dc.fail(503, times=-1)  # Jira cannot validate anything
    rule = {"id": "escape", "title": "Escape", "checks": {"jql": jql}}
    response = server.call("POST", f"/workspaces/{WS}/rules", json=rule)
    assert response.status_code == 422, response.text  # b9f4856: 201 with a warning
    body = response.json()
    assert body["code"] == "CONFIG_INVALID"
    assert body["problems"][0]["path"] == "rule.checks.jql"
    assert body["problems"][0]["hint"]
    assert dc.count("/rest/api/2/search") == 0  # decided without Jira


def test_a_stored_escaping_jql_is_never_sent(server: Server, dc: FakeJira) -> None:
    _wire(server, dc)
    server.ok(
        "POST",
        f"/workspaces/{WS}/rules",
        json={
            "id": "progress",
            "title": "In progress",
            "checks": {"jql": 'status = "In Progress"'},
        },
    )
    # a rule stored before the check existed (written behind the API)
    engine = create_engine(server.settings.database_url)
    with engine.begin() as db:
        db.execute(
            update(RuleRow)
            .where(RuleRow.rule_id == "progress")
            .values(
                definition={"id": "progress", "title": "In progress", "checks": {"jql": ESCAPES[0]}}
            )
        )
    engine.dispose()
    _policy(server, "ALLOW")  # a configuration write: snapshots reload; and the laxest policy
    secret = server.validation_token("ci", "api")["secret"]
    dc.reset_log()
    document = server.validate(ABC, secret).json()
    # b9f4856 sent it (the fake Jira rejected it; a real one may match every issue) and the
    # ALLOW policy passed the change; now it is never sent and the rule fails closed
    assert document["result"] == "BLOCK"
    assert any("was not sent to Jira" in f["message"] for f in _facts(document))
    sent = [r.body.get("jql", "") for r in dc.requests_to("/rest/api/2/search")]
    assert not any("1=1" in jql for jql in sent)
    listed = server.ok("GET", f"/workspaces/{WS}/rules")
    assert any(r["id"] == "progress" for r in listed)  # nothing stored is lost


def test_apply_refuses_an_escaping_jql_and_keeps_what_is_stored(
    tmp_path: Any, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from jirahooks.cli import main

    monkeypatch.delenv("JIRAHOOKS_SECRET_KEY", raising=False)
    monkeypatch.delenv("JIRAHOOKS_DATABASE_URL", raising=False)
    args = ["--data-dir", str(tmp_path / "data"), "--database-url", database_url]
    good = tmp_path / "good.yml"
    good.write_text(
        "workspace: acme\nrules:\n  - id: progress\n    title: In progress\n"
        "    checks: {jql: 'status = \"In Progress\"'}\n",
        encoding="utf-8",
    )
    assert main(["apply", str(good), *args]) == 0
    bad = tmp_path / "bad.yml"
    bad.write_text(
        good.read_text(encoding="utf-8").replace(
            "'status = \"In Progress\"'", "'status = \"Done\") OR (1=1'"
        ),
        encoding="utf-8",
    )
    capsys.readouterr()
    assert main(["apply", str(bad), *args]) == 3  # b9f4856: 0, the rule replaced
    err = capsys.readouterr().err
    assert "rules[0].checks.jql" in err and "never opened" in err
    out = tmp_path / "export.yml"
    assert main(["export", "--workspace", "acme", "-o", str(out), *args]) == 0
    exported = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert exported["rules"][0]["checks"]["jql"] == 'status = "In Progress"'  # nothing lost
