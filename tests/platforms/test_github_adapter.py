"""The GitHub adapter against the fake GitHub over a real socket: PRs and their commits (500
included), open PRs by branch, check runs with batched annotations, the commit-status
fallback, reviews, and a GitHub Enterprise Server base URL."""

from __future__ import annotations

from typing import Any

import pytest
from tests.fakes.fake_github import BOT_LOGIN, FakeGitHub, FakeRepo
from tests.platforms import github_payloads as payloads
from tests.platforms.github_support import OWNER, gh_repo, github, make_adapter, run

from jirahooks.platforms.base import (
    Annotation,
    BuildState,
    BuildStatus,
    PlatformRequestError,
    Report,
    ReviewVerdict,
)
from jirahooks.platforms.github import CHECK_NAME, GitHub, parse_delivery

__all__ = ["gh_repo", "github"]  # fixtures


def _report(count: int, result: str = "FAILED") -> Report:
    notes = tuple(Annotation(f"jh-{i}", f"problem {i}", f"details {i}") for i in range(count))
    return Report(
        "jirahooks-process-guardian",
        "Process Guardian",
        f"{min(count, 1)} rule blocked this change",
        result,
        link="https://jirahooks.example/ui/evaluations/1",
        data=({"title": "Rules evaluated", "type": "NUMBER", "value": 3},),
        annotations=notes,
    )


def test_fetch_pull_request(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(
        gh_repo,
        "ABC-1 Login",
        source="feature/ABC-1",
        body="Fixes ABC-1",
        commits=["ABC-1 one", "ABC-1 two", "ABC-1 three"],
    )
    details = run(github, lambda gh: gh.fetch_pull_request("api-service", str(pr.number)))
    assert details.head == pr.head
    assert [c.hash for c in details.commits] == pr.commits  # oldest first
    assert [c.message for c in details.commits] == ["ABC-1 one", "ABC-1 two", "ABC-1 three"]
    assert details.commits[1].parents == (pr.commits[0],)
    assert (details.title, details.description) == ("ABC-1 Login", "Fixes ABC-1")
    assert (details.source_branch, details.destination_branch) == ("feature/ABC-1", "main")
    assert details.state == "OPEN" and details.author == "ada"
    event = details.event("api-service")
    assert event.pull_request is not None and event.pull_request.id == str(pr.number)


def test_known_payload_spares_the_pr_request(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-2 Form", source="feature/ABC-2", commits=["ABC-2 a", "b"])
    headers, body = payloads.deliver("pull_request", payloads.pull_request(github, gh_repo, pr))
    known = parse_delivery(headers, body)
    details = run(
        github, lambda gh: gh.fetch_pull_request("api-service", str(pr.number), known=known)
    )
    assert details.head == pr.head and len(details.commits) == 2
    assert github.count(f"/pulls/{pr.number}", method="GET") == 1  # the commit list only
    assert not [r for r in github.requests if r.path.endswith(f"/pulls/{pr.number}")]
    # the branch moved after the webhook: the PR is fetched, and the new head wins
    github.push(gh_repo, pr, "ABC-2 c")
    details = run(
        github, lambda gh: gh.fetch_pull_request("api-service", str(pr.number), known=known)
    )
    assert details.head == pr.head and len(details.commits) == 3


def test_500_commit_pull_request_reads_every_commit(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    messages = [f"ABC-{i} change {i}" for i in range(1, 501)]
    pr = github.add_pr(gh_repo, "ABC-1 big", source="feature/big", commits=messages)
    details = run(github, lambda gh: gh.fetch_pull_request("api-service", str(pr.number)))
    assert [c.hash for c in details.commits] == pr.commits
    assert len(details.commits) == 500 and details.head == pr.head
    assert github.count("/compare/", method="GET") == 5  # 100 per page
    # the PR commit list itself stops at 250, as GitHub's does
    listed = run(github, lambda gh: gh._pr_commits("api-service", str(pr.number)))
    assert len(listed) == 250


def test_500_commits_with_a_known_payload(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(
        gh_repo, "ABC-1 big", source="feature/big", commits=[f"c{i}" for i in range(500)]
    )
    headers, body = payloads.deliver(
        "pull_request", payloads.pull_request(github, gh_repo, pr, "synchronize")
    )
    known = parse_delivery(headers, body)
    details = run(
        github, lambda gh: gh.fetch_pull_request("api-service", str(pr.number), known=known)
    )
    assert [c.hash for c in details.commits] == pr.commits


def test_list_open_pull_requests_by_branch(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    first = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    github.add_pr(gh_repo, "ABC-2", source="feature/ABC-2")
    closed = github.add_pr(gh_repo, "ABC-3", source="feature/ABC-1")
    closed.state = "closed"
    for n in range(120):  # more than one page
        github.add_pr(gh_repo, f"ABC-{n + 10}", source=f"bulk/{n}")
    everything = run(github, lambda gh: gh.list_open_pull_requests("api-service"))
    assert len(everything) == 122 and len({p.id for p in everything}) == 122
    assert github.count("/pulls", method="GET") == 2
    mine = run(
        github, lambda gh: gh.list_open_pull_requests("api-service", source_branch="feature/ABC-1")
    )
    assert [(p.id, p.head, p.source_branch) for p in mine] == [
        (str(first.number), first.head, "feature/ABC-1")
    ]
    assert github.requests_to("/pulls")[-1].query["head"] == [f"{OWNER}:feature/ABC-1"]


def test_resolve_commit(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    assert run(github, lambda gh: gh.resolve_commit("api-service", pr.head[:10])) == pr.head
    assert run(github, lambda gh: gh.resolve_commit("api-service", "feature/ABC-1")) == pr.head
    with pytest.raises(PlatformRequestError):
        run(github, lambda gh: gh.resolve_commit("api-service", "deadbeefdead"))


def _status(state: BuildState) -> BuildStatus:
    return BuildStatus(
        "jirahooks", state, CHECK_NAME, f"{state.value} text", "https://jh.example/e/1"
    )


def test_check_run_follows_the_status(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")

    async def flow(gh: GitHub) -> None:
        await gh.publish_status("api-service", pr.head, _status(BuildState.INPROGRESS))
        await gh.publish_status("api-service", pr.head, _status(BuildState.FAILED))

    run(github, flow)
    (check,) = github.check_runs(gh_repo, pr.head)
    assert check["name"] == CHECK_NAME and check["status"] == "completed"
    assert check["conclusion"] == "failure" and check["details_url"] == "https://jh.example/e/1"
    assert check["output"]["summary"] == "FAILED text"
    assert github.count("/check-runs", method="POST") == 1
    assert github.count("/check-runs/", method="PATCH") == 1
    # another process finds the run on GitHub and completes it; STOPPED is neutral
    run(github, lambda gh: gh.publish_status("api-service", pr.head, _status(BuildState.STOPPED)))
    (check,) = github.check_runs(gh_repo, pr.head)
    assert check["conclusion"] == "neutral"
    run(
        github, lambda gh: gh.publish_status("api-service", pr.head, _status(BuildState.SUCCESSFUL))
    )
    assert [c["conclusion"] for c in github.check_runs(gh_repo, pr.head)] == ["success"]


def test_120_annotations_take_three_requests(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")

    async def flow(gh: GitHub) -> None:
        await gh.publish_status("api-service", pr.head, _status(BuildState.FAILED))
        github.requests.clear()
        await gh.publish_report("api-service", pr.head, _report(120), replace=False)

    run(github, flow)
    carrying = [r for r in github.requests if r.body and "output" in r.body]
    sizes = [len(r.body["output"].get("annotations") or []) for r in carrying]
    assert sizes == [50, 50, 20]
    assert all(r.status < 300 for r in carrying)
    (check,) = github.check_runs(gh_repo, pr.head)
    notes = github.annotations(gh_repo, check["id"])
    assert len(notes) == 120 and {n["annotation_level"] for n in notes} == {"failure"}
    assert notes[0]["message"] == "problem 0" and notes[0]["raw_details"] == "details 0"
    assert check["conclusion"] == "failure" and "1 rule blocked" in check["output"]["summary"]
    assert "Rules evaluated" in check["output"]["text"]


def test_replace_starts_a_new_run_without_old_annotations(
    github: FakeGitHub, gh_repo: FakeRepo
) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    run(github, lambda gh: gh.publish_report("api-service", pr.head, _report(3), replace=False))
    run(
        github,
        lambda gh: gh.publish_report("api-service", pr.head, _report(0, "PASSED"), replace=True),
    )
    first, latest = github.check_runs(gh_repo, pr.head)
    assert len(github.annotations(gh_repo, first["id"])) == 3
    assert github.annotations(gh_repo, latest["id"]) == [] and latest["conclusion"] == "success"


def test_fake_refuses_51_annotations_in_one_request(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    note = {
        "path": "x",
        "start_line": 1,
        "end_line": 1,
        "annotation_level": "notice",
        "message": "m",
    }

    async def too_many(gh: GitHub) -> Any:
        return await gh.client.request(
            "POST",
            gh._path("api-service", "/check-runs"),
            json={
                "name": "x",
                "head_sha": pr.head,
                "output": {"title": "t", "summary": "s", "annotations": [note] * 51},
            },
        )

    with pytest.raises(PlatformRequestError) as caught:
        run(github, too_many)
    assert caught.value.status == 422 and "50 annotations" in caught.value.message


def test_commit_status_fallback(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    github.checks_enabled = False  # a GitHub Enterprise Server without the Checks API
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")

    async def flow(gh: GitHub) -> None:
        await gh.publish_status("api-service", pr.head, _status(BuildState.INPROGRESS))
        long = BuildStatus(
            "jh",
            BuildState.FAILED,
            CHECK_NAME,
            "Blocked by: " + "x" * 300,
            "https://jh.example/e/2",
        )
        await gh.publish_status("api-service", pr.head, long)
        await gh.publish_report("api-service", pr.head, _report(5))

    run(github, flow, use_checks=False)
    states = [(s["state"], s["context"]) for s in gh_repo.statuses]
    assert states == [("pending", CHECK_NAME), ("failure", CHECK_NAME)]
    assert len(gh_repo.statuses[-1]["description"]) <= 140
    assert gh_repo.statuses[-1]["target_url"] == "https://jh.example/e/2"
    assert github.count("/check-runs") == 0


def test_reviews(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")

    def review(verdict: ReviewVerdict, previous: ReviewVerdict | None = None) -> None:
        run(github, lambda gh: gh.review("api-service", str(pr.number), verdict, previous=previous))

    review(ReviewVerdict.REQUEST_CHANGES)
    assert github.review_state(gh_repo, pr) == "CHANGES_REQUESTED"
    review(ReviewVerdict.REQUEST_CHANGES)  # already standing: GitHub would keep a second one
    assert github.count("/reviews", method="POST") == 1
    review(ReviewVerdict.APPROVE, ReviewVerdict.REQUEST_CHANGES)
    assert github.review_state(gh_repo, pr) == "APPROVED"
    review(ReviewVerdict.WITHDRAW, ReviewVerdict.APPROVE)
    assert github.review_state(gh_repo, pr) == ""
    assert all(r["state"] == "DISMISSED" for r in gh_repo.reviews[pr.number])
    assert {r["user"]["login"] for r in gh_repo.reviews[pr.number]} == {BOT_LOGIN}
    review(ReviewVerdict.WITHDRAW, ReviewVerdict.WITHDRAW)  # nothing to do, nothing sent
    assert github.count("/dismissals", method="PUT") == 2
    assert github.count("/app", method="GET") >= 1  # the App's login, from GET /app


def test_someone_elses_review_is_left_alone(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    gh_repo.reviews[pr.number] = [
        {
            "id": 1,
            "node_id": "x",
            "user": github.user_json("grace"),
            "body": "ok",
            "state": "APPROVED",
        }
    ]
    run(github, lambda gh: gh.review("api-service", str(pr.number), ReviewVerdict.WITHDRAW))
    assert gh_repo.reviews[pr.number][0]["state"] == "APPROVED"
    run(github, lambda gh: gh.review("api-service", str(pr.number), ReviewVerdict.APPROVE))
    assert github.review_state(gh_repo, pr) == "APPROVED"
    assert github.count("/reviews", method="POST") == 1


def test_merge_group_commits(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1", commits=["ABC-1 a", "ABC-1 b"])
    headers, body = payloads.deliver("merge_group", payloads.merge_group(github, gh_repo, pr))
    delivery = parse_delivery(headers, body)
    details = run(github, lambda gh: gh.fetch_merge_group("api-service", delivery))
    assert [c.hash for c in details.commits] == pr.commits and details.head == pr.head

    async def answer(gh: GitHub) -> None:  # as the pipeline answers a head: status, report
        await gh.publish_status("api-service", delivery.head, _status(BuildState.SUCCESSFUL))
        await gh.publish_report("api-service", delivery.head, _report(0, "PASSED"), replace=False)

    run(github, answer)
    assert [c["conclusion"] for c in github.check_runs(gh_repo, pr.head)] == ["success"]


def test_enterprise_server_base_url() -> None:
    with FakeGitHub(prefix="/api/v3") as ghes:
        repo = ghes.add_repo(OWNER, "api-service")
        pr = ghes.add_pr(repo, "ABC-1", source="feature/ABC-1")
        adapter_url = make_adapter(ghes).client.base_url
        assert adapter_url.endswith("/api/v3")
        details = run(ghes, lambda gh: gh.fetch_pull_request("api-service", str(pr.number)))
        assert details.head == pr.head
        assert all(r.headers.get("authorization", "").startswith("Bearer ") for r in ghes.requests)
        assert ghes.tokens_issued == 1


def test_another_apps_run_of_the_same_name_is_left_alone(
    github: FakeGitHub, gh_repo: FakeRepo
) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    gh_repo.check_runs[1] = {
        "id": 1,
        "node_id": "CR_1",
        "head_sha": pr.head,
        "name": CHECK_NAME,
        "app_id": 999,
        "status": "completed",
        "conclusion": "success",
        "external_id": None,
        "html_url": "https://github.example/x",
        "details_url": None,
        "started_at": None,
        "completed_at": None,
        "check_suite": {"id": 7},
    }

    async def publish(gh: GitHub) -> None:
        await gh.publish_status("api-service", pr.head, _status(BuildState.FAILED))
        await gh.publish_report("api-service", pr.head, _report(1), replace=False)

    run(github, publish)
    theirs, ours = github.check_runs(gh_repo, pr.head)
    assert theirs["conclusion"] == "success" and ours["conclusion"] == "failure"
    assert github.requests_to("/check-runs", method="GET")[0].query["app_id"] == ["424242"]
    assert github.count("/check-runs/", method="PATCH") == 0


def test_annotation_levels_and_path(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    notes = tuple(
        Annotation(f"jh-{s}", f"{s} finding", severity=s)
        for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW")
    )
    report = Report("jh", "Process Guardian", "findings", "FAILED", annotations=notes)
    run(
        github,
        lambda gh: gh.publish_report("api-service", pr.head, report, replace=False),
        annotation_path="ci/rules.yml",
    )
    (check,) = github.check_runs(gh_repo, pr.head)
    found = github.annotations(gh_repo, check["id"])
    assert [a["annotation_level"] for a in found] == ["failure", "failure", "warning", "notice"]
    assert {a["path"] for a in found} == {"ci/rules.yml"}
    assert "raw_details" not in found[0]  # no details given, none sent


def test_no_checks_api_says_what_to_do(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    github.checks_enabled = False
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    with pytest.raises(PlatformRequestError) as caught:
        run(
            github, lambda gh: gh.publish_status("api-service", pr.head, _status(BuildState.FAILED))
        )
    assert caught.value.status == 404 and "use_checks" in caught.value.hint
