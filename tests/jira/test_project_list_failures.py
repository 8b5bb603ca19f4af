"""A project list that cannot be read, through the real chain and ``jirahooks check`` (issue 10,
section 3): the keys whose project is not known are undetermined, never ignored, never "not
found"; the ``jira_unreachable`` policy decides and says so."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.jira.support import make_chain

from jirahooks.cli import main
from jirahooks.engine import evaluate
from jirahooks.engine.facts import Evaluation, Status
from jirahooks.event import Commit, Event, Trigger
from jirahooks.retry import RetryPolicy
from jirahooks.rules import parse_rule
from jirahooks.rules.config import ConnectionConfig, parse_settings

Connect = Callable[..., ConnectionConfig]
ALL_VALID = parse_rule({"template": "all-keys-valid", "targets": ["COMMIT"]})
KEY_PRESENT = parse_rule(
    {
        "id": "key-present",
        "title": "Commits reference an issue",
        "targets": ["COMMIT"],
        "checks": {"key_present": True, "ignore_unknown_projects": True},
    }
)


def _event(message: str) -> Event:
    return Event(Trigger.PUSH, "main", (Commit("e" * 40, message, "Ada"),))


def _evaluate(chain: Any, message: str, policy: str) -> Evaluation:
    settings = parse_settings({"jira_unreachable": policy})
    return asyncio.run(
        evaluate(_event(message), [ALL_VALID, KEY_PRESENT], chain, settings=settings)
    )


def _ids(ev: Evaluation) -> set[str]:
    return {f.message_id for rv in ev.rule_validations for f in rv.check_facts}


def test_a_timed_out_project_list_makes_keys_undetermined(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    dc = jira_factory("datacenter", context_path="/jira")
    dc.add_issue("ABC-1")
    dc.hang(30, path="/rest/api/2/project", times=-1)
    config = connect(dc, "acme-dc", timeout_seconds=0.3)
    chain = make_chain(config, retry=RetryPolicy(max_attempts=1))
    ev = _evaluate(chain, "KIP-932 support", "BLOCK")
    assert ev.result is Status.BLOCK  # b9f4856: key-present PASS, all-valid "not found"
    assert all(rv.status is Status.BLOCK for rv in ev.rule_validations)
    assert "key.invalid" not in _ids(ev)
    assert "jira.policy.block" in _ids(ev)
    codes = {p.params["code"] for p in ev.system_facts}
    assert "JIRA_TIMEOUT" in codes


def test_a_project_known_from_the_answering_connection_is_known(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    cloud = jira_factory("cloud")
    cloud.add_issue("ABC-1")
    dc = jira_factory("datacenter", context_path="/jira")
    dc.add_issue("OPS-1")
    dc.fail(404, path="/rest/api/2/project", times=-1)
    chain = make_chain(connect(cloud, "cloud"), connect(dc, "acme-dc"))
    definite = _evaluate(chain.for_evaluation(), "ABC-999 typo", "ALLOW")
    # ABC is listed by Cloud: ABC-999 is definitely not found, even with ALLOW
    assert definite.rule_validations[0].status is Status.BLOCK
    assert "key.invalid" in _ids(definite)
    pending = _evaluate(chain.for_evaluation(), "ABC-1 and KIP-932", "WARN")
    (all_valid, key_present) = pending.rule_validations
    assert all_valid.status is Status.WARNING  # KIP-932 might live on acme-dc
    assert key_present.status is Status.PASS  # ABC-1 is a key, whatever KIP-932 is
    found = _evaluate(chain.for_evaluation(), "OPS-1 deploy", "BLOCK")
    assert found.result is Status.PASS  # unlisted project, but acme-dc found the issue


def test_problems_name_the_connection_once(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    dc = jira_factory("datacenter", context_path="/jira")
    dc.fail(503, path="/rest/api/2/project", times=-1)
    dc.fail(502, path="/rest/api/2/search", times=-1)
    ev = _evaluate(make_chain(connect(dc, "acme-dc")), "KIP-932", "BLOCK")
    texts = [f.message() for f in ev.system_facts]
    assert len(texts) == 2  # 503 of the project list and 502 of the search: both kept
    assert all(t.count("acme-dc") == 1 for t in texts), texts  # b9f4856: twice


@pytest.mark.parametrize(("policy", "exit_code"), [("BLOCK", 1), ("WARN", 0), ("ALLOW", 0)])
def test_jirahooks_check_with_a_dc_whose_project_list_answers_404(
    jira_factory: Callable[..., FakeJira],
    git_repo: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    policy: str,
    exit_code: int,
) -> None:
    dc = jira_factory("datacenter", context_path="/jira")
    dc.add_issue("ABC-1")
    dc.fail(404, path="/rest/api/2/project", times=-1)
    monkeypatch.setenv("JH_TB_TOKEN", dc.token)
    document = {
        "settings": {"time_budget_seconds": 5, "jira_unreachable": policy},
        "connections": [
            {
                "name": "acme-dc",
                "url": dc.url,
                "deployment": "datacenter",
                "token": "${JH_TB_TOKEN}",
            }
        ],
        "rules": [
            {"template": "all-keys-valid", "targets": ["COMMIT"]},
            {
                "id": "key-present",
                "title": "Commits reference an issue",
                "targets": ["COMMIT"],
                "checks": {"key_present": True, "ignore_unknown_projects": True},
            },
        ],
    }
    config = tmp_path / "jirahooks.json"
    config.write_text(json.dumps(document), encoding="utf-8")
    base = git_repo.commit("start")
    git_repo.commit("KIP-932 support")
    monkeypatch.chdir(git_repo.path)
    code = main(["check", "--config", str(config), "--range", f"{base}..HEAD"])
    out = capsys.readouterr().out
    assert code == exit_code, out  # b9f4856: BLOCK says "not found" / WARN blocks
    assert "was not found" not in out
    if policy != "ALLOW":
        assert "Jira could not be reached" in out
        assert "Some issue keys do not exist in Jira." not in out
    assert "acme-dc" in out and dc.token not in out


def test_the_api_never_sends_an_escaping_jql(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    # defence in depth below the engine: a caller that skips the engine cannot send it either
    dc = jira_factory("datacenter", context_path="/jira")
    dc.add_issue("ABC-1", status="Done")
    chain = make_chain(connect(dc, "acme-dc"))

    async def run() -> Any:
        await chain.resolve(["ABC-1"])
        dc.reset_log()
        return await chain.match_jql('status = "In Progress") OR (1=1', ["ABC-1"])

    result = asyncio.run(run())
    assert result.matching == frozenset() and result.undetermined == {"ABC-1"}
    assert [p.code for p in result.problems] == ["JIRA_JQL_UNSAFE"]
    assert dc.count("/rest/api/2/search") == 0
    check = asyncio.run(chain.validate_jql("status = Done ORDER BY key"))
    assert not check.valid and "ORDER BY" in check.errors["acme-dc"][0]
