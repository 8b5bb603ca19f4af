"""Issue 17 / issue 11 §4 for GitLab, GitHub and Bitbucket Data Center: every request of their
clients is counted at ``/metrics`` under a path template (never an id, hash or branch name);
each host's hourly request budget per credential (the ``requests_per_hour`` setting) holds
requests back once spent, and the delivery goes back to the queue saying why — never dropped,
never passed; GitLab's ``RateLimit-Remaining: 0`` holds requests back until its reset.

Real servers throughout: jirahooks under uvicorn with its worker, the host fakes on 127.0.0.1.
Counted, not timed: waits are bounded polls."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from tests.fakes.fake_bitbucket_dc import HTTP_ACCESS_TOKEN, FakeBitbucketDC
from tests.fakes.fake_github import APP_ID, INSTALLATION_ID, FakeGitHub, app_key_pem
from tests.fakes.fake_gitlab import TOKEN as GITLAB_TOKEN
from tests.fakes.fake_gitlab import FakeGitLab
from tests.fakes.fake_jira import FakeJira
from tests.platforms import github_payloads
from tests.platforms.harness import (
    FAST_OPTIONS,
    PR_RULES,
    WS,
    LiveServer,
    admin_call,
    settings_for,
    setup_workspace,
    wait_until,
)
from tests.platforms.test_gitlab_conformance import check as gitlab_conforms

from jirahooks.platforms.base import PlatformUnavailable
from jirahooks.platforms.bitbucket_dc import sign as dc_sign
from jirahooks.platforms.gitlab_client import GitLabClient, GitLabCredentials
from jirahooks.retry import RetryPolicy
from jirahooks.store.deliveries import DeliveryRow

METRICS_TOKEN = "scrape-the-hosts-0123456789"
SECRET = "host-webhook-s3cret"
TIMEOUT = 30.0


@dataclasses.dataclass
class Host:
    """One host as these tests drive it: its fake, its settings, and how to send it a PR."""

    platform: str
    title: str  # as the budget message names it
    fake: Any
    settings: dict[str, Any]
    open_pr: Callable[[Any, httpx.Client], httpx.Response]  # (fake, http) → the webhook answer
    branch: str  # the PR's source branch (must never be a label value)
    scope: Any = None  # the fake's project / repository


def _gitlab(fake: FakeGitLab) -> Host:
    project = fake.add_project("acme/platform/api-service")

    def open_pr(fake: FakeGitLab, http: httpx.Client) -> httpx.Response:
        mr = fake.add_mr(project, "ABC-1 Login", source="feature/ABC-1-login", commits=["ABC-1 x"])
        headers, body = fake.merge_request_hook(project, mr, action="open")
        headers = {**headers, "X-Gitlab-Token": SECRET}
        return http.post(f"/webhooks/gitlab/{WS}", content=body, headers=headers)

    settings = {"api_url": fake.url, "namespace": "acme", "token": GITLAB_TOKEN}
    return Host("gitlab", "GitLab", fake, settings, open_pr, "feature/ABC-1-login", project)


def _github(fake: FakeGitHub) -> Host:
    repo = fake.add_repo("acme", "api-service")

    def open_pr(fake: FakeGitHub, http: httpx.Client) -> httpx.Response:
        pr = fake.add_pr(repo, "ABC-1 Login", source="feature/ABC-1-login", commits=["ABC-1 x"])
        payload = github_payloads.pull_request(fake, repo, pr)
        headers, body = github_payloads.deliver("pull_request", payload, secret=SECRET)
        return http.post(f"/webhooks/github/{WS}", content=body, headers=headers)

    settings = {
        "api_url": fake.url,
        "app_id": APP_ID,
        "installation_id": INSTALLATION_ID,
        "owner": "acme",
        "private_key": app_key_pem(),
    }
    return Host("github", "GitHub", fake, settings, open_pr, "feature/ABC-1-login", repo)


def _bitbucket_dc(fake: FakeBitbucketDC) -> Host:
    repo = fake.add_repo("PRJ", "api-service")

    def open_pr(fake: FakeBitbucketDC, http: httpx.Client) -> httpx.Response:
        pr = fake.add_pr(repo, "ABC-1 Login", source="feature/ABC-1-login", commits=["ABC-1 x"])
        payload = {
            "eventKey": "pr:opened",
            "date": "2026-12-02T08:00:00+0000",
            "actor": fake.user_json(pr.author),
            "pullRequest": fake.pr_json(repo, pr),
        }
        headers, body = fake.webhook("pr:opened", payload, secret=SECRET)
        assert headers["X-Hub-Signature"] == dc_sign(SECRET, body)
        return http.post(f"/webhooks/bitbucket-dc/{WS}", content=body, headers=headers)

    settings = {
        "api_url": fake.url,
        "project_key": "PRJ",
        "auth_kind": "http_access_token",
        "token": HTTP_ACCESS_TOKEN,
    }
    return Host(
        "bitbucket-dc",
        "Bitbucket Data Center",
        fake,
        settings,
        open_pr,
        "feature/ABC-1-login",
        repo,
    )


HOSTS: dict[str, tuple[Callable[[], Any], Callable[[Any], Host]]] = {
    "gitlab": (FakeGitLab, _gitlab),
    "github": (FakeGitHub, _github),
    "bitbucket-dc": (FakeBitbucketDC, _bitbucket_dc),
}


@dataclasses.dataclass
class Running:
    server: LiveServer
    host: Host
    jira: FakeJira
    http: httpx.Client
    admin_token: str

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        return admin_call(self.http, self.admin_token, method, path, **kwargs)

    def configure(self, **extra: Any) -> None:
        body = {**self.host.settings, "webhook_secret": SECRET, "public_url": self.server.url}
        self.api("PUT", f"/workspaces/{WS}/platforms/{self.host.platform}", json={**body, **extra})

    def rows(self) -> list[DeliveryRow]:
        async def load() -> list[DeliveryRow]:
            async with self.server.state.database.session() as session:
                return list((await session.execute(select(DeliveryRow))).scalars())

        found: list[DeliveryRow] = self.server.run(load())
        return found

    def scrape(self) -> list[tuple[str, dict[str, str], float]]:
        answer = self.http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert answer.status_code == 200, answer.text
        return [
            (s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(answer.text)
            for s in family.samples
        ]


@pytest.fixture
def running(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Running]:
    make, describe = HOSTS[request.param]
    settings = dataclasses.replace(settings_for(tmp_path), metrics_token=METRICS_TOKEN)
    with make() as fake, FakeJira("cloud") as jira:
        server = LiveServer(settings, FAST_OPTIONS).start()
        http = httpx.Client(base_url=server.url, timeout=TIMEOUT)
        try:
            made = Running(server, describe(fake), jira, http, server.state.first_start.token)
            setup_workspace(made.api, jira, rules=PR_RULES)
            yield made
        finally:
            http.close()
            server.stop()


def _host_requests(fake: Any) -> int:
    return len(fake.requests)


@pytest.mark.parametrize("running", ["gitlab", "github"], indirect=True)
def test_the_hosts_requests_are_counted_under_path_templates(running: Running) -> None:
    """After a PR is evaluated, ``jirahooks_platform_requests_total`` counts the host's
    requests by operation (method + path template) and HTTP outcome — as many as the fake
    received — and no label carries a commit hash, a branch or a PR number."""
    running.configure()
    answer = running.host.open_pr(running.host.fake, running.http)
    assert answer.status_code == 202, answer.text
    assert wait_until(lambda: [r.state for r in running.rows()] == ["done"], TIMEOUT)
    fake_url = httpx.URL(running.host.fake.url)
    netloc = f"{fake_url.host}:{fake_url.port}"
    ours = [
        (labels, value)
        for name, labels, value in running.scrape()
        if name == "jirahooks_platform_requests_total" and labels["host"] == netloc
    ]
    operations = {labels["operation"] for labels, _ in ours}
    status_post = {
        "gitlab": "POST /projects/{project}/statuses/{id}",
        "github": "POST /repos/{owner}/{repo}/check-runs",
    }[running.host.platform]
    assert status_post in operations, operations
    assert sum(value for _, value in ours) == _host_requests(running.host.fake)
    shas = {r.path.rsplit("/", 1)[-1] for r in running.host.fake.requests}
    for labels, _ in ours:
        text = " ".join(labels.values())
        assert running.host.branch not in text and "ABC-1" not in text
        assert not any(len(s) == 40 and s in text for s in shas)
        assert all(part in ("{id}",) or not part.isdigit() for part in text.split("/"))


@pytest.mark.parametrize("running", list(HOSTS), indirect=True)
def test_a_spent_budget_reschedules_the_delivery_and_says_why(running: Running) -> None:
    """``requests_per_hour: 2``: the host receives 2 requests, the delivery goes back to the
    queue (pending, not failed, not passed) for when the budget allows, and its row names the
    host's budget."""
    running.configure(requests_per_hour="2")
    before = datetime.now(UTC)
    answer = running.host.open_pr(running.host.fake, running.http)
    assert answer.status_code == 202, answer.text
    assert wait_until(lambda: any(r.last_error for r in running.rows()), TIMEOUT)
    (row,) = running.rows()
    assert row.state == "pending", (row.state, row.last_error)
    assert f"the {running.host.title} request budget (2 per hour) is used up" in row.last_error
    assert row.next_attempt_at.replace(tzinfo=UTC) >= before + timedelta(
        seconds=FAST_OPTIONS.retry_after_cap
    )
    assert _host_requests(running.host.fake) == 2


@pytest.mark.parametrize("check", ["5", "jirahooks"], ids=["by-id", "by-name"])
@pytest.mark.parametrize("running", ["gitlab"], indirect=True)
def test_gitlab_answers_the_configured_external_status_check(running: Running, check: str) -> None:
    """``status_check`` stored through the admin API — the check's id, or its name looked up
    in the project: besides the commit status, the MR's head gets a ``passed`` response on
    that external status check."""
    project = running.host.scope
    project.status_checks.update({4: "security", 5: "jirahooks"})
    running.configure(status_check=check)
    assert running.host.open_pr(running.host.fake, running.http).status_code == 202
    assert wait_until(lambda: [r.state for r in running.rows()] == ["done"], TIMEOUT)
    (mr,) = project.mrs.values()
    assert [(c["check"], c["status"], c["sha"]) for c in mr.check_responses][-1] == (
        5,
        "passed",
        mr.sha,
    )
    exercised = gitlab_conforms(running.host.fake.requests)  # as GitLab documents them
    assert "status_check_response" in exercised
    assert ("external_status_check" in exercised) is not check.isdigit()


@pytest.mark.parametrize("running", ["bitbucket-dc"], indirect=True)
def test_data_center_sets_the_configured_user_slugs_participant_status(running: Running) -> None:
    """``user_slug`` stored through the admin API is the participant whose status is set: a
    slug that is not the token's user is refused by Data Center, and the delivery says so."""
    running.configure(user_slug="someone-else")
    assert running.host.open_pr(running.host.fake, running.http).status_code == 202
    assert wait_until(
        lambda: any("/participants/someone-else" in r.last_error for r in running.rows()),
        TIMEOUT,
    ), [r.last_error for r in running.rows()]
    (pr,) = running.host.scope.prs.values()
    assert pr.participants == {}  # nobody's status was changed


NO_WAIT = RetryPolicy(max_attempts=2, backoff_base=0.01, backoff_cap=0.01, max_wait=1.0)


def test_gitlab_remaining_zero_holds_requests_back_until_its_reset() -> None:
    """GitLab said ``RateLimit-Remaining: 0`` (a limit of 2 per 10 minutes): the next request
    is not sent (it would only earn a 429); the error carries the seconds to its reset."""
    with FakeGitLab() as fake:
        fake.add_project("acme/api")
        fake.throttle(2, period=600)

        async def run() -> PlatformUnavailable:
            client = GitLabClient(GitLabCredentials(GITLAB_TOKEN), base_url=fake.url, retry=NO_WAIT)
            async with client:
                await client.request("GET", "/user")
                await client.request("GET", "/user")
                assert client.rate_limit is not None and client.rate_limit.remaining == 0
                with pytest.raises(PlatformUnavailable) as raised:
                    await client.request("GET", "/user")
                return raised.value

        error = asyncio.run(run())
        assert len(fake.requests) == 2
        assert error.retry_after is not None and 500 < error.retry_after <= 600
        assert "rate limit" in error.message
