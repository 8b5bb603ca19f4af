"""GitLab end to end through the PR pipeline, over real HTTP: settings stored with the admin API,
a Merge Request / Push Hook with ``X-Gitlab-Token`` to ``POST /webhooks/gitlab/{workspace}`` →
jirahooks (uvicorn, worker running, SQLite and PostgreSQL) → the fake Jira → commit status, MR
note and approval on the fake GitLab. Every request jirahooks sent the fake is checked against
the schemas written from GitLab's API documentation (tests/fakes/gitlab_schemas.json)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.fakes.fake_gitlab import BOT, FakeGitLab, FakeMergeRequest, FakeProject
from tests.fakes.fake_jira import FakeJira
from tests.pipeline.hosts import gitlab_settings
from tests.platforms.harness import (
    FAST_OPTIONS,
    PR_RULES,
    WS,
    LiveServer,
    Settles,
    admin_call,
    run_delivery,
    settings_for,
    setup_workspace,
    wait_until,
)
from tests.platforms.test_gitlab_conformance import check as conforms

from jirahooks.pipeline.options import WorkerOptions
from jirahooks.platforms import gitlab_host
from jirahooks.platforms.base import Delivery, DeliveryKind
from jirahooks.platforms.gitlab import NOTE_MARKER
from jirahooks.platforms.registry import Refusal
from jirahooks.platforms.results import STATUS_KEY
from jirahooks.store.deliveries import DeliveryRow, PullRequestResult
from jirahooks.store.models import EvaluationRow

SECRET = "gitlab-webhook-s3cret"
NAMESPACE = "acme"
REPO = "platform/api-service"  # the project acme/platform/api-service, relative to the group
URL = f"/webhooks/gitlab/{WS}"
# the title names a valid issue; every commit on its own names one (``COMMIT``, not the
# ``COMMITS`` together): a push of one commit without a key turns the MR red
FINAL = {"success": "SUCCESSFUL", "failed": "FAILED"}
RULES = [PR_RULES[0], {**PR_RULES[1], "targets": ["COMMIT"]}]


@dataclass
class Guardian(Settles):
    """A configured jirahooks (live), a fake GitLab with one project and a fake Jira."""

    server: LiveServer
    gitlab: FakeGitLab
    jira: FakeJira
    project: FakeProject
    admin_token: str
    http: httpx.Client

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        return admin_call(self.http, self.admin_token, method, path, **kwargs)

    def post(
        self, hook: tuple[dict[str, str], bytes], token: str | None = SECRET
    ) -> httpx.Response:
        headers, body = hook
        headers = {k: v for k, v in headers.items() if k != "X-Gitlab-Token"}
        if token is not None:
            headers["X-Gitlab-Token"] = token
        return self.http.post(URL, content=body, headers=headers)

    def accepted(self, hook: tuple[dict[str, str], bytes]) -> int:
        answer = self.post(hook)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "accepted", answer.text
        return int(answer.json()["delivery"])

    def deliver(self, mr: FakeMergeRequest, action: str = "open", **kwargs: Any) -> int:
        return self.accepted(
            self.gitlab.merge_request_hook(self.project, mr, action=action, **kwargs)
        )

    def push(self, branch: str, commits: list[str]) -> int:
        return self.accepted(self.gitlab.push_hook(self.project, branch, commits))

    def statuses(self, sha: str) -> list[str]:
        """The states of the Guardian's statuses on ``sha``, as posted, in order."""
        return [
            r.body["state"]
            for r in self.gitlab.requests_to(f"/statuses/{sha}", method="POST")
            if r.status < 300 and r.body.get("name") == STATUS_KEY
        ]

    def status(self, sha: str) -> dict[str, Any] | None:
        """The Guardian's last status on ``sha``, its ``state`` in the vocabulary of
        ``Settles`` (SUCCESSFUL / FAILED), GitLab's own in ``status``."""
        found = self.gitlab.statuses(self.project, sha, STATUS_KEY)
        if not found:
            return None
        return {**found[-1], "state": FINAL.get(found[-1]["status"], found[-1]["status"])}

    def verdict(self, sha: str, timeout: float = 15.0) -> str:
        """GitLab's state of the final status on ``sha`` (``success`` / ``failed``)."""
        return str(self.final_status(sha, timeout)["status"])

    def rows(self, model: Any = DeliveryRow) -> list[Any]:
        async def load() -> list[Any]:
            async with self.server.state.database.session() as session:
                return list((await session.execute(select(model).order_by(model.id))).scalars())

        found: list[Any] = self.server.run(load())
        return found

    def run_delivery(self, delivery_id: int) -> None:
        run_delivery(self.server, delivery_id)

    def note(self, mr: FakeMergeRequest) -> str | None:
        ours = [n["body"] for n in mr.notes if NOTE_MARKER in n["body"]]
        assert len(ours) <= 1, "the note is edited in place, never posted twice"
        return ours[0] if ours else None


def configure(server: LiveServer, gitlab: FakeGitLab, jira: FakeJira) -> Guardian:
    """Jira connection, rules, review on, and the GitLab settings through the admin API."""
    http = httpx.Client(base_url=server.url, timeout=30)
    project = gitlab.add_project(f"{NAMESPACE}/{REPO}")
    g = Guardian(server, gitlab, jira, project, server.state.first_start.token, http)
    setup_workspace(g.api, jira, rules=RULES)
    g.api(
        "PUT",
        f"/workspaces/{WS}/platforms/gitlab",
        json=gitlab_settings(gitlab, server.url, SECRET),
    )
    return g


def start(tmp_path: Path, database_url: str, options: WorkerOptions = FAST_OPTIONS) -> LiveServer:
    return LiveServer(settings_for(tmp_path, database_url), options).start()


@pytest.fixture
def fakes() -> Iterator[tuple[FakeGitLab, FakeJira]]:
    with FakeGitLab() as gitlab, FakeJira("cloud") as jira:
        yield gitlab, jira
        conforms(gitlab.requests)  # whatever a test made jirahooks send, GitLab documents


@contextmanager
def guardian(
    tmp_path: Path, database_url: str, fakes: tuple[FakeGitLab, FakeJira], *, worker: bool
) -> Iterator[Guardian]:
    server = start(tmp_path, database_url, replace(FAST_OPTIONS, enabled=worker))
    try:
        g = configure(server, *fakes)
        yield g
        g.http.close()
    finally:
        server.stop()


@pytest.fixture
def live(
    tmp_path: Path, database_url: str, fakes: tuple[FakeGitLab, FakeJira]
) -> Iterator[Guardian]:
    """A live server, its worker running, on SQLite and on PostgreSQL."""
    with guardian(tmp_path, database_url, fakes, worker=True) as g:
        yield g


@pytest.fixture
def by_hand(
    tmp_path: Path, database_url: str, fakes: tuple[FakeGitLab, FakeJira]
) -> Iterator[Guardian]:
    """The worker is not started: the test processes deliveries in its order (``run_delivery``)."""
    with guardian(tmp_path, database_url, fakes, worker=False) as g:
        yield g


def evaluation_of(g: Guardian, sha: str) -> EvaluationRow:
    """The stored evaluation the final status on ``sha`` links to."""
    status = g.status(sha)
    assert status is not None and status["target_url"], status
    assert status["target_url"].startswith(f"{g.server.url}/ui/w/{WS}/evaluations/")
    evaluation_id = int(status["target_url"].rsplit("/", 1)[1])
    found: EvaluationRow = next(e for e in g.rows(EvaluationRow) if e.id == evaluation_id)
    return found


# -- the host module, pure -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "path", "placed"),
    [
        ("acme", "acme/platform/api-service", ("acme", "platform/api-service")),
        ("acme/platform", "acme/platform/api-service", ("acme/platform", "api-service")),
        ("ACME", "acme/api", ("acme", "api")),  # GitLab paths are case-insensitive
        ("", "acme/platform/api-service", ("", "acme/platform/api-service")),  # full paths
        ("acme", "intruder/api", ("intruder", "api")),  # outside: the intake refuses it
    ],
)
def test_a_delivery_is_placed_in_the_configured_group(
    namespace: str, path: str, placed: tuple[str, str]
) -> None:
    owner, _, name = path.rpartition("/")
    parsed = Delivery("gitlab", "Merge Request Hook", DeliveryKind.PULL_REQUEST, owner, name)
    scoped = gitlab_host.scoped(parsed, namespace)
    assert (scoped.workspace, scoped.repository) == placed


@pytest.mark.parametrize(
    ("headers", "secret", "required", "code"),
    [
        ({"X-Gitlab-Token": SECRET}, SECRET, True, None),
        ({"x-gitlab-token": SECRET}, SECRET, True, None),
        ({"X-Gitlab-Token": SECRET + "x"}, SECRET, True, "SIGNATURE_INVALID"),
        ({"X-Gitlab-Token": ""}, SECRET, True, "SIGNATURE_MISSING"),
        ({}, "", True, "SIGNATURE_NOT_CONFIGURED"),
        ({}, "", False, None),  # signatures not required and no secret: accepted
    ],
)
def test_the_token_check(
    headers: dict[str, str], secret: str, required: bool, code: str | None
) -> None:
    if code is None:
        gitlab_host.verify(headers, b"{}", secret, required)
        return
    with pytest.raises(Refusal) as refused:
        gitlab_host.verify(headers, b"{}", secret, required)
    assert refused.value.status == 401 and refused.value.code == code
    assert SECRET not in refused.value.message + refused.value.hint  # never echoed


# -- results --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "commits", "state", "named"),
    [
        ("ABC-1 Login form", ["ABC-1 add the form"], "success", ""),
        ("ABC-999 Login form", ["ABC-1 add the form"], "failed", "ABC-999"),  # no such issue
        ("Login form", ["wip"], "failed", "PR title names a valid issue"),  # no key at all
    ],
    ids=["pass", "unknown-key", "no-key"],
)
def test_a_merge_request_gets_its_status_note_and_approval(
    live: Guardian, title: str, commits: list[str], state: str, named: str
) -> None:
    g = live
    mr = g.gitlab.add_mr(g.project, title, source="feature/ABC-1", commits=commits)
    g.deliver(mr)
    assert g.verdict(mr.sha) == state
    assert g.statuses(mr.sha) == [state]  # nothing was shown on the head before: no "running"
    evaluation = evaluation_of(g, mr.sha)
    assert evaluation.source == "gitlab"
    assert evaluation.result == ("PASS" if state == "success" else "BLOCK")
    assert evaluation.event["pullRequest"]["head"] == mr.sha
    assert evaluation.event["repository"] == REPO  # relative to the configured group
    note = g.note(mr)
    if state == "success":
        assert note is None  # a pass posts no note
        assert wait_until(lambda: BOT["id"] in mr.approved_by)
    else:
        assert note is not None and named in note
        assert BOT["id"] not in mr.approved_by
    assert {r.state for r in g.rows()} == {"done"}


def test_a_fixed_merge_request_turns_green_and_its_note_says_so(live: Guardian) -> None:
    g = live
    mr = g.gitlab.add_mr(g.project, "Login form", commits=["ABC-1 add the form"])
    g.deliver(mr)
    assert g.verdict(mr.sha) == "failed"
    mr.title = "ABC-1 Login form"
    g.deliver(mr, "update", changes={"title": {"previous": "Login form", "current": mr.title}})
    assert wait_until(lambda: g.statuses(mr.sha)[-1:] == ["success"])
    g.settle()
    # the head showed our failure: "running" first, then the new result on the same head
    assert g.statuses(mr.sha) == ["failed", "running", "success"]
    note = g.note(mr)
    assert note is not None and "✅" in note  # the failure note now says "passed"
    assert wait_until(lambda: BOT["id"] in mr.approved_by)


# -- the intake -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "token", "status", "code"),
    [("intruder/api-service", SECRET, 403, "WORKSPACE_MISMATCH")],  # outside the group
    ids=["foreign-project"],
)
def test_a_delivery_that_is_not_ours_is_refused_and_nothing_stored(
    live: Guardian, path: str, token: str | None, status: int, code: str
) -> None:
    g = live
    project = g.project if path == g.project.path_with_namespace else g.gitlab.add_project(path)
    mr = g.gitlab.add_mr(project, "ABC-1 Login", commits=["ABC-1 form"])
    answer = g.post(g.gitlab.merge_request_hook(project, mr), token=token)
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert problem["code"] == code and problem["hint"]
    assert SECRET not in answer.text
    assert g.rows() == [] and g.gitlab.count() == 0


def test_ignored_events_are_acknowledged_and_not_stored(live: Guardian) -> None:
    g = live
    mr = g.gitlab.add_mr(g.project, "ABC-1 Login", commits=["ABC-1 form"])
    labels = g.gitlab.merge_request_hook(g.project, mr, action="update", changes={"labels": {}})
    chat = g.gitlab.note_hook(g.project, mr, "looks good")
    for hook in (labels, chat):
        answer = g.post(hook)
        assert answer.status_code == 202 and answer.json()["status"] == "ignored", answer.text
    assert g.rows() == [] and g.gitlab.count() == 0


def test_a_recheck_comment_evaluates_again(live: Guardian) -> None:
    g = live
    mr = g.gitlab.add_mr(g.project, "ABC-1 Login", commits=["ABC-1 form"])
    g.deliver(mr)
    assert g.verdict(mr.sha) == "success"
    g.accepted(g.gitlab.note_hook(g.project, mr, "/jirahooks recheck"))
    assert wait_until(lambda: len(g.rows(EvaluationRow)) == 2)
    g.settle()
    assert [r.origin for r in g.rows()] == ["webhook", "comment"]


# -- heads, pushes, closing -----------------------------------------------------------------


def test_a_push_re_evaluates_the_open_merge_request_of_its_branch(live: Guardian) -> None:
    g = live
    mr = g.gitlab.add_mr(g.project, "ABC-1 Login", source="feature/login", commits=["ABC-1 a"])
    g.deliver(mr)
    assert g.verdict(mr.sha) == "success"
    g.gitlab.push(g.project, mr, "fix the typo")  # a commit without a key
    g.push(mr.source, mr.commits)
    assert g.verdict(mr.sha) == "failed"
    assert g.note(mr) is not None
    listed = [
        r
        for r in g.gitlab.requests_to("/merge_requests", method="GET")
        if r.path.endswith("/merge_requests")
    ]
    assert listed and all(
        r.query.get("source_branch") == [mr.source] and r.query.get("state") == ["opened"]
        for r in listed
    )
    # a branch without an open MR: nothing is posted
    commit = g.gitlab.add_commit(g.project, "no key").id
    before = g.gitlab.count("/statuses/")
    g.push("feature/nothing", [commit])
    g.settle()
    assert g.status(commit) is None and g.gitlab.count("/statuses/") == before


@pytest.mark.parametrize(("action", "state"), [("merge", "merged"), ("close", "closed")])
def test_a_closed_merge_request_leaves_nothing_blocking(
    by_hand: Guardian, action: str, state: str
) -> None:
    g = by_hand
    mr = g.gitlab.add_mr(g.project, "Login", commits=["wip"])
    g.run_delivery(g.deliver(mr))
    assert g.statuses(mr.sha) == ["failed"]
    old = mr.sha
    g.gitlab.push(g.project, mr, "more")
    late = g.deliver(mr, "update", oldrev=old, changes={})  # still queued when the MR closes
    mr.state = state
    closing = g.deliver(mr, action)
    g.run_delivery(closing)
    g.run_delivery(late)
    states = {r.id: r.state for r in g.rows()}
    assert states[closing] == states[late] == "closed", states
    assert g.statuses(old) == ["failed"] and g.statuses(mr.sha) == []  # nothing after closing
    (pr,) = g.rows(PullRequestResult)
    assert pr.open is False
    assert g.server.run(g.server.worker.reconcile()) == 0  # nothing left to evaluate
    assert [r for r in g.rows() if r.state == "pending"] == []


def test_a_merge_request_of_500_commits_is_evaluated_in_full(live: Guardian) -> None:
    g = live
    commits = [f"ABC-1 step {i}" for i in range(499)] + ["fix the typo"]
    mr = g.gitlab.add_mr(g.project, "ABC-1 Big change", source="feature/big", commits=commits)
    g.deliver(mr)
    assert g.verdict(mr.sha, timeout=30) == "failed"
    evaluation = evaluation_of(g, mr.sha)
    assert len(evaluation.event["commits"]) == 500
    # the one commit without a key, found among 500 and named by hash
    failing = [
        c for r in evaluation.document["ruleValidations"] for c in r.get("failingCommits", [])
    ]
    assert failing == [mr.sha]
    note = g.note(mr)
    assert note is not None and "Commits reference an issue" in note
    pages = g.gitlab.requests_to(f"/merge_requests/{mr.iid}/commits", method="GET")
    assert len(pages) == 5  # 100 per page, GitLab's maximum


# -- failures of GitLab ---------------------------------------------------------------------
