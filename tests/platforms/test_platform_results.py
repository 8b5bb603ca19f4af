"""From an evaluation to build status, Code Insights report and review verdict; the registry."""

from __future__ import annotations

import asyncio
from pathlib import Path

from jirahooks import platforms
from jirahooks.engine import InMemoryResolver, IssueData, evaluate
from jirahooks.engine.facts import Evaluation
from jirahooks.event import Commit
from jirahooks.platforms import results
from jirahooks.platforms.base import BuildState, PullRequestDetails, ReviewVerdict
from jirahooks.rules import parse_rule

ROOT = Path(__file__).resolve().parents[2]
RULES = [
    parse_rule(
        {
            "id": "title-key",
            "title": "PR title names an issue",
            "triggers": ["PULL_REQUEST"],
            "targets": ["PR_TITLE"],
            "hint": "Put the issue key in the title",
            "checks": {"key_present": True, "keys_valid": "ALL"},
        }
    ),
    parse_rule(
        {
            "id": "commit-keys",
            "title": "Every commit names an issue",
            "triggers": ["PULL_REQUEST"],
            "targets": ["COMMIT"],
            "checks": {"key_present": True},
        }
    ),
]


def evaluation(title: str, *messages: str) -> Evaluation:
    details = PullRequestDetails(
        id="1",
        title=title,
        description="",
        source_branch="feature/ABC-1",
        destination_branch="main",
        head="a" * 40,
        commits=tuple(Commit(f"{i:x}" * 40, m) for i, m in enumerate(messages, 1)),
    )
    resolver = InMemoryResolver([IssueData("ABC-1", status="In Progress")])
    return asyncio.run(evaluate(details.event("api"), RULES, resolver))


def test_passing_pr() -> None:
    ev = evaluation("ABC-1 Login", "ABC-1 add form")
    status = results.build_status(ev, url="https://g.example.com/e/1", refname="feature/ABC-1")
    assert status.state is BuildState.SUCCESSFUL and status.description.startswith(
        "Passed: 2 rules"
    )
    assert status.key == results.STATUS_KEY and status.refname == "feature/ABC-1"
    report = results.report(ev)
    assert report.result == "PASSED" and report.annotations == ()
    assert results.verdict(ev) is ReviewVerdict.APPROVE


def test_failing_pr_names_the_failed_rules_and_annotates_each_failed_check() -> None:
    ev = evaluation("Login", "add form", "ABC-1 fix", "more")
    status = results.build_status(ev)
    assert status.state is BuildState.FAILED
    assert status.description == (
        "Blocked by: PR title names an issue, Every commit names an issue"
    )
    report = results.report(ev)
    assert report.result == "FAILED"
    summaries = [a.summary for a in report.annotations]
    assert len(summaries) == 3, summaries  # the title, and two commits without keys
    assert summaries[0].startswith("PR title names an issue")
    assert any("[111111111111]" in s for s in summaries)
    assert "Fix: Put the issue key in the title" in report.annotations[0].details
    assert len({a.external_id for a in report.annotations}) == 3
    assert len(report.data) <= 10
    assert results.verdict(ev) is ReviewVerdict.REQUEST_CHANGES


def test_annotations_are_capped_at_1000() -> None:
    ev = evaluation("ABC-1 ok", *[f"commit {i}" for i in range(1200)])
    assert len(results.failed_checks(ev)) == results.MAX_ANNOTATIONS


def test_platform_registry_ids_are_unique_and_documented() -> None:
    ids = [p.id for p in platforms.PLATFORMS]
    assert len(ids) == len(set(ids))
    for info in platforms.PLATFORMS:
        assert platforms.load(info.id).__name__ == info.adapter
        doc = ROOT / info.docs
        assert doc.exists(), f"{info.id}: {info.docs} is missing"
        assert info.webhook_path.split("{")[0] in doc.read_text(encoding="utf-8")
