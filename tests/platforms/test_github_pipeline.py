"""The GitHub adapter with the real engine and the platform-neutral result mapping
(``jirahooks.platforms.results``), the way the PR pipeline drives an adapter: webhook in →
PR and commits fetched → evaluated → in-progress, status, report and review published."""

from __future__ import annotations

from tests.fakes.fake_github import FakeGitHub, FakeRepo
from tests.platforms import github_payloads as payloads
from tests.platforms.github_support import gh_repo, github, make_adapter, run

from jirahooks.engine import InMemoryResolver, IssueData, evaluate
from jirahooks.platforms import results
from jirahooks.platforms.github import GitHub
from jirahooks.rules import parse_rule

__all__ = ["gh_repo", "github"]  # fixtures

RULES = [
    parse_rule(
        {
            "id": "commit-keys",
            "title": "Every commit names an issue",
            "triggers": ["PULL_REQUEST"],
            "targets": ["COMMIT"],
            "hint": "Start the commit message with the issue key",
            "checks": {"key_present": True, "keys_valid": "ALL"},
        }
    ),
]


def pipeline(fake: FakeGitHub, repo: FakeRepo, event: str, payload: dict[str, object]) -> str:
    """What the pipeline does with one delivery; returns the result."""
    headers, body = payloads.deliver(event, payload)
    delivery = make_adapter(fake, webhook_secret=payloads.SECRET).parse_webhook(headers, body)

    async def flow(gh: GitHub) -> str:
        details = await gh.fetch_pull_request(
            delivery.repository, delivery.pull_request_id, known=delivery
        )
        await gh.publish_status(delivery.repository, details.head, results.in_progress_status())
        resolver = InMemoryResolver([IssueData("ABC-1", status="In Progress")])
        evaluation = await evaluate(details.event(delivery.repository), RULES, resolver)
        link = "https://jirahooks.example/ui/evaluations/7"
        await gh.publish_status(
            delivery.repository, details.head, results.build_status(evaluation, url=link)
        )
        await gh.publish_report(
            delivery.repository, details.head, results.report(evaluation, link=link), replace=False
        )
        await gh.review(delivery.repository, delivery.pull_request_id, results.verdict(evaluation))
        return evaluation.result.value

    result: str = run(fake, flow)
    return result


def test_a_blocked_pr_gets_a_failing_check_with_annotations(
    github: FakeGitHub, gh_repo: FakeRepo
) -> None:
    messages = ["ABC-1 start"] + [f"wip {i}" for i in range(60)] + ["XYZ-9 unknown issue"]
    pr = github.add_pr(gh_repo, "ABC-1 Login", source="feature/ABC-1", commits=messages)
    result = pipeline(github, gh_repo, "pull_request", payloads.pull_request(github, gh_repo, pr))
    assert result == "BLOCK"
    (check,) = github.check_runs(gh_repo, pr.head)
    assert check["conclusion"] == "failure"
    assert check["details_url"] == "https://jirahooks.example/ui/evaluations/7"
    assert "Every commit names an issue" in check["output"]["summary"]
    notes = github.annotations(gh_repo, check["id"])
    # 60 commits without a key; the unknown issue twice (not found, and not all keys valid)
    assert len(notes) == 62
    assert sum("XYZ-9" in n["message"] for n in notes) == 2
    sizes = [
        len(r.body["output"].get("annotations") or [])
        for r in github.requests
        if isinstance(r.body, dict) and "output" in r.body and r.method == "PATCH"
    ]
    assert sorted(sizes, reverse=True)[:2] == [50, 12]
    assert all(len(n["message"]) <= 4000 and n["path"] == ".jirahooks.yml" for n in notes)
    assert github.review_state(gh_repo, pr) == "CHANGES_REQUESTED"


def test_fixing_the_pr_turns_the_check_green_and_approves(
    github: FakeGitHub, gh_repo: FakeRepo
) -> None:
    pr = github.add_pr(gh_repo, "ABC-1 Login", source="feature/ABC-1", commits=["no key"])
    pipeline(github, gh_repo, "pull_request", payloads.pull_request(github, gh_repo, pr))
    assert github.review_state(gh_repo, pr) == "CHANGES_REQUESTED"
    # the commit is rewritten (force push): a new head, a new check run on it
    pr.commits = [github.add_commit(gh_repo, "ABC-1 add form", parents=[pr.base_sha]).sha]
    result = pipeline(
        github, gh_repo, "pull_request", payloads.pull_request(github, gh_repo, pr, "synchronize")
    )
    assert result == "PASS"
    assert [c["conclusion"] for c in github.check_runs(gh_repo, pr.head)] == ["success"]
    assert github.review_state(gh_repo, pr) == "APPROVED"
    (check,) = github.check_runs(gh_repo, pr.head)
    assert github.annotations(gh_repo, check["id"]) == []
