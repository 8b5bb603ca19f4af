"""GitHub end to end over real HTTP: the App's settings stored through the admin API, signed
deliveries through ``POST /webhooks/github/{workspace}`` → jirahooks (uvicorn, worker running,
SQLite and PostgreSQL) → the fake Jira → the check run on the fake GitHub (which answers as
GitHub's OpenAPI description says, tests/fakes/fake_github.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.fakes.fake_github import FakeGitHub, FakeRepo
from tests.fakes.fake_jira import FakeJira
from tests.pipeline.hosts import github_settings
from tests.platforms import github_payloads as payloads
from tests.platforms.harness import (
    FAST_OPTIONS,
    PR_RULES,
    WS,
    LiveServer,
    Settles,
    admin_call,
    settings_for,
    setup_workspace,
    wait_until,
)

from jirahooks.platforms.github import CHECK_NAME
from jirahooks.store.deliveries import DeliveryRow, PullRequestResult

URL = f"/webhooks/github/{WS}"
# the title names a real issue, and every commit names one (each commit, not all together)
RULES = [
    PR_RULES[0],
    {
        "id": "commit-keys",
        "title": "Every commit names an issue",
        "triggers": ["PULL_REQUEST"],
        "targets": ["COMMIT"],
        "checks": {"key_present": True},
    },
]


@dataclass
class Hub(Settles):
    """A configured jirahooks (live), a fake GitHub with one repository and a fake Jira."""

    server: LiveServer
    github: FakeGitHub
    jira: FakeJira
    repo: FakeRepo
    http: httpx.Client
    admin_token: str

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        return admin_call(self.http, self.admin_token, method, path, **kwargs)

    def send(
        self, event: str, payload: dict[str, Any], *, secret: str = payloads.SECRET
    ) -> httpx.Response:
        headers, body = payloads.deliver(event, payload, secret=secret)
        return self.http.post(URL, content=body, headers=headers)

    def runs(self, sha: str) -> list[dict[str, Any]]:
        return self.github.check_runs(self.repo, sha)

    def final_check(self, sha: str, timeout: float = 20.0) -> dict[str, Any]:
        """The latest check run on ``sha`` once it is completed and the worker is idle."""

        def done() -> bool:
            runs = self.runs(sha)
            return bool(runs) and runs[-1]["status"] == "completed"

        assert wait_until(done, timeout), f"no completed check run on {sha[:12]}: {self.runs(sha)}"
        self.settle(timeout)
        return self.runs(sha)[-1]

    def evaluations(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.api("GET", f"/workspaces/{WS}/evaluations")["items"]
        return items

    def read(self, model: Any) -> list[Any]:
        async def rows() -> list[Any]:
            async with self.server.state.database.session() as session:
                return list((await session.execute(select(model).order_by(model.id))).scalars())

        found: list[Any] = self.server.run(rows())
        return found


@pytest.fixture
def hub(tmp_path: Path, database_url: str) -> Iterator[Hub]:
    with FakeGitHub() as github, FakeJira("cloud") as jira:
        server = LiveServer(settings_for(tmp_path, database_url), FAST_OPTIONS).start()
        http = httpx.Client(base_url=server.url, timeout=30)
        try:
            made = Hub(
                server,
                github,
                jira,
                github.add_repo("acme", "api-service"),
                http,
                server.state.first_start.token,
            )
            setup_workspace(made.api, jira, rules=RULES)
            made.api(
                "PUT",
                f"/workspaces/{WS}/platforms/github",
                json=github_settings(github, server.url, payloads.SECRET),
            )
            yield made
        finally:
            http.close()
            server.stop()


@pytest.mark.parametrize(
    ("title", "commits", "conclusion", "result", "review"),
    [
        ("ABC-1 Login form", ["ABC-1 add the form"], "success", "PASS", "APPROVED"),
        ("XYZ-9 Login form", ["XYZ-9 add the form"], "failure", "BLOCK", "CHANGES_REQUESTED"),
        ("Login form", ["wip"], "failure", "BLOCK", "CHANGES_REQUESTED"),
    ],
    ids=["jira-key-real", "jira-key-unknown", "no-key"],
)
def test_a_pull_request_gets_its_check_run(
    hub: Hub, title: str, commits: list[str], conclusion: str, result: str, review: str
) -> None:
    pr = hub.github.add_pr(hub.repo, title, source="feature/login", commits=commits)
    answer = hub.send("pull_request", payloads.pull_request(hub.github, hub.repo, pr))
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "accepted"

    check = hub.final_check(pr.head)
    assert check["name"] == CHECK_NAME and check["conclusion"] == conclusion
    assert check["details_url"].startswith(hub.server.url + f"/ui/w/{WS}/evaluations/")
    assert len(hub.runs(pr.head)) == 1  # a fresh head: the result, no in-progress run first
    assert [e["result"] for e in hub.evaluations()] == [result]
    assert hub.github.review_state(hub.repo, pr) == review
    (row,) = hub.read(DeliveryRow)
    assert row.platform == "github" and row.state == "done"
    assert row.headers["x-github-event"] == "pull_request"


def test_a_closed_pull_request_leaves_nothing_blocking(hub: Hub) -> None:
    pr = hub.github.add_pr(hub.repo, "Login", source="feature/login", commits=["wip"])
    hub.send("pull_request", payloads.pull_request(hub.github, hub.repo, pr))
    assert hub.final_check(pr.head)["conclusion"] == "failure"
    pr.state, pr.merged = "closed", True
    answer = hub.send("pull_request", payloads.pull_request(hub.github, hub.repo, pr, "closed"))
    assert answer.status_code == 202
    assert wait_until(lambda: [r.state for r in hub.read(DeliveryRow)] == ["done", "closed"])
    (state,) = hub.read(PullRequestResult)
    assert state.open is False
    assert hub.server.run(hub.server.worker.reconcile()) == 0  # closed PRs are not listed
    assert len(hub.evaluations()) == 1


def test_a_push_re_evaluates_the_open_pull_request_of_its_branch(hub: Hub) -> None:
    pr = hub.github.add_pr(hub.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 x"])
    hub.send("pull_request", payloads.pull_request(hub.github, hub.repo, pr))
    assert hub.final_check(pr.head)["conclusion"] == "success"
    pushed = hub.github.push(hub.repo, pr, "forgot the key")
    other = hub.github.add_commit(hub.repo, "no PR here", parents=[hub.repo.branches["main"]])
    hub.repo.branches["feature/other"] = other.sha
    for branch, sha in (("feature/ABC-1", pushed.sha), ("feature/other", other.sha)):
        answer = hub.send("push", payloads.push(hub.github, hub.repo, branch, [sha]))
        assert answer.status_code == 202, answer.text
    assert hub.final_check(pushed.sha)["conclusion"] == "failure"
    assert hub.runs(other.sha) == []  # a branch without a PR gets nothing
    assert [e["result"] for e in hub.evaluations()] == ["BLOCK", "PASS"]


def test_a_pull_request_of_500_commits_is_judged_on_every_commit(hub: Hub) -> None:
    messages = [f"ABC-1 step {i}" for i in range(500)]
    messages[400] = "the one without a key"  # past GitHub's 250-commit list
    pr = hub.github.add_pr(hub.repo, "ABC-1 Big", source="feature/big", commits=messages)
    hub.send("pull_request", payloads.pull_request(hub.github, hub.repo, pr))
    check = hub.final_check(pr.head, timeout=60)
    assert check["conclusion"] == "failure"
    assert hub.github.count("/compare/", method="GET") >= 2  # 500 commits: two pages of 250
    (note,) = hub.github.annotations(hub.repo, check["id"])  # that commit, and only it
    assert f"[{pr.commits[400][:12]}]" in note["message"]


@pytest.mark.parametrize(
    ("messages", "conclusion"),
    [(["ABC-1 add the form"], "success"), (["ABC-1 add the form", "wip"], "failure")],
    ids=["passes", "blocks"],
)
def test_a_merge_group_gets_the_check_run_on_its_head(
    hub: Hub, messages: list[str], conclusion: str
) -> None:
    """A required check that never reports on a merge group stalls GitHub's merge queue."""
    pr = hub.github.add_pr(hub.repo, "ABC-1 Login", source="feature/ABC-1", commits=messages)
    answer = hub.send("merge_group", payloads.merge_group(hub.github, hub.repo, pr))
    assert answer.status_code == 202, answer.text
    check = hub.final_check(pr.head)
    assert check["conclusion"] == conclusion
    assert check["details_url"].startswith(hub.server.url + f"/ui/w/{WS}/evaluations/")
    assert hub.github.count("/compare/main...", method="GET") == 1
    (evaluation,) = hub.evaluations()
    assert evaluation["result"] == ("PASS" if conclusion == "success" else "BLOCK")
    assert hub.read(PullRequestResult) == []  # the queue's commit belongs to no PR
    assert hub.github.review_state(hub.repo, pr) == ""  # nor gets a review


@pytest.mark.parametrize("event", ["check_run", "check_suite"])
def test_re_run_evaluates_the_pull_request_again(hub: Hub, event: str) -> None:
    pr = hub.github.add_pr(hub.repo, "ABC-1 Login", source="feature/ABC-1", commits=["ABC-1 x"])
    hub.send("pull_request", payloads.pull_request(hub.github, hub.repo, pr))
    assert hub.final_check(pr.head)["conclusion"] == "success"
    rerun = (
        payloads.check_run_rerequested(hub.github, hub.repo, pr, pr.head, pr.source)
        if event == "check_run"
        else payloads.check_suite_rerequested(hub.github, hub.repo, pr, pr.head)
    )
    assert hub.send(event, rerun).status_code == 202
    assert wait_until(lambda: len(hub.evaluations()) == 2, 20)  # forced: not the reused result
    hub.settle()
    rows = hub.read(DeliveryRow)
    assert [r.state for r in rows] == ["done", "done"] and rows[1].force
    # GitHub's "Re-run" wants a new run: the result of the new evaluation starts one
    runs = hub.runs(pr.head)
    assert len(runs) == 2 and {r["status"] for r in runs} == {"completed"}
    assert runs[-1]["details_url"].endswith(f"/evaluations/{hub.evaluations()[0]['id']}")


def _repository_requests(hub: Hub) -> list[tuple[str, str]]:
    return [(r.method, r.route) for r in hub.github.requests if r.path.startswith("/repos/")]


def test_a_pull_request_costs_five_github_requests(hub: Hub) -> None:
    """Commits, our run on the head (none), the run created completed, the reviews, the
    review: the check run is not created and then updated."""
    pr = hub.github.add_pr(hub.repo, "XYZ-9 Login form", source="feature/x", commits=["XYZ-9 a"])
    hub.send("pull_request", payloads.pull_request(hub.github, hub.repo, pr))
    check = hub.final_check(pr.head)
    assert _repository_requests(hub) == [
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/commits"),
        ("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
        ("POST", "/repos/{owner}/{repo}/check-runs"),
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
        ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ]
    (created,) = hub.github.requests_to("/check-runs", method="POST")
    assert created.body["status"] == "completed" and created.body["conclusion"] == "failure"
    assert check["conclusion"] == "failure" and hub.github.annotations(hub.repo, check["id"])


def test_without_reviews_no_review_is_read_or_sent(hub: Hub) -> None:
    hub.api("PUT", f"/workspaces/{WS}/settings", json={"review_pull_requests": False})
    pr = hub.github.add_pr(hub.repo, "ABC-1 Login form", source="feature/x", commits=["ABC-1 a"])
    hub.send("pull_request", payloads.pull_request(hub.github, hub.repo, pr))
    assert hub.final_check(pr.head)["conclusion"] == "success"
    assert _repository_requests(hub) == [
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/commits"),
        ("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
        ("POST", "/repos/{owner}/{repo}/check-runs"),
    ]
    assert hub.github.count("/reviews") == 0 and hub.github.count("/app", method="GET") == 0


@pytest.mark.parametrize(
    ("commits", "state", "result"),
    [(["ABC-1 add the form"], "success", "PASS"), (["wip"], "failure", "BLOCK")],
    ids=["passes", "blocks"],
)
def test_commit_statuses_when_use_checks_is_false(
    hub: Hub, commits: list[str], state: str, result: str
) -> None:
    """A GitHub Enterprise Server without the Checks API: the result as a commit status."""
    hub.github.checks_enabled = False
    shown = hub.api("PUT", f"/workspaces/{WS}/platforms/github", json=_github_settings(hub, False))
    assert shown["settings"]["use_checks"] == "false"
    pr = hub.github.add_pr(hub.repo, "ABC-1 Login form", source="feature/s", commits=commits)
    hub.send("pull_request", payloads.pull_request(hub.github, hub.repo, pr))
    assert wait_until(lambda: bool(hub.github.statuses(hub.repo, pr.head)), 20)
    hub.settle()
    (status,) = hub.github.statuses(hub.repo, pr.head)  # a fresh head: no pending one first
    assert status["state"] == state and status["context"] == CHECK_NAME
    (evaluation,) = hub.evaluations()
    assert evaluation["result"] == result
    assert status["target_url"] == hub.server.url + f"/ui/w/{WS}/evaluations/{evaluation['id']}"
    assert 0 < len(status["description"]) <= 140
    assert hub.github.count("/check-runs") == 0
    token = hub.github.issue_token()["token"]
    combined = httpx.get(
        hub.github.url + f"/repos/acme/api-service/commits/{pr.head}/status",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert combined.status_code == 200 and combined.json()["state"] == state  # what GitHub shows


def _github_settings(hub: Hub, use_checks: bool, installation_id: str | None = None) -> Any:
    body = github_settings(hub.github, hub.server.url, payloads.SECRET)
    if installation_id is not None:
        body["installation_id"] = installation_id
    return {**body, "use_checks": use_checks}


@pytest.mark.parametrize("configured", ["", "gone"], ids=["none-configured", "reinstalled"])
def test_the_installation_is_found_from_the_repository(hub: Hub, configured: str) -> None:
    if configured:
        hub.github.reinstall("acme")  # the stored INSTALLATION_ID answers 404 now
    else:
        hub.api(
            "PUT",
            f"/workspaces/{WS}/platforms/github",
            json=_github_settings(hub, True, installation_id=""),
        )
    found = hub.github.installations["acme"]
    for n in (1, 2):
        pr = hub.github.add_pr(hub.repo, f"ABC-1 Login {n}", source=f"f/{n}", commits=["ABC-1 a"])
        hub.send("pull_request", payloads.pull_request(hub.github, hub.repo, pr))
        assert hub.final_check(pr.head)["conclusion"] == "success"
    (lookup,) = hub.github.requests_to("/installation", method="GET")  # once: kept
    assert lookup.path == "/repos/acme/api-service/installation"
    issued = [r.path for r in hub.github.requests_to("/access_tokens") if r.status == 201]
    assert issued and set(issued) == {f"/app/installations/{found}/access_tokens"}
