"""One small driver per wired host, for the scenarios every host runs (test_every_host.py).

A driver starts the host's fake (tests/fakes/), wires a live jirahooks (tests/platforms/harness.py)
to it through the admin API, and speaks the host's side of each scenario: signed PR and push
deliveries, the head moving, faults on the fake (429 with ``Retry-After``, 5xx), the result the
fake holds. Results are read in one vocabulary: ``status(sha)["state"]`` is SUCCESSFUL, FAILED or
INPROGRESS and ``status(sha)["url"]`` links the evaluation, whatever the host calls them (a
Bitbucket build status, a GitLab commit status, a GitHub check run).

::

    with running("gitlab", tmp_path, jira) as host:
        pr = host.add_pr("ABC-1 Login", ["ABC-1 add the form"])
        host.accepted(host.pr_hook(pr))
        assert host.final_status(host.head(pr))["state"] == "SUCCESSFUL"
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import httpx
from tests.fakes.fake_jira import FakeJira
from tests.platforms.harness import (
    FAST_OPTIONS,
    PR_RULES,
    SECRET,
    WS,
    LiveServer,
    Settles,
    admin_call,
    bitbucket_settings,
    delivery_rows,
    run_delivery,
    run_pending,
    settings_for,
    setup_workspace,
)

from jirahooks.pipeline.options import WorkerOptions
from jirahooks.platforms.results import REPORT_ID, STATUS_KEY

HOSTS = ("bitbucket-cloud", "bitbucket-dc", "gitlab", "github")
# a PR passes when its title names a real issue, one of its commits names one and its branch
# names one: the branch rule alone would pass a PR whose title names a nonexistent key
BRANCH_RULE = {
    "id": "branch-key",
    "title": "Branch names an issue",
    "triggers": ["PULL_REQUEST"],
    "targets": ["BRANCH"],
    "checks": {"key_present": True},
}
RULES = [*PR_RULES, BRANCH_RULE]
Where = Literal["commits", "publish"]  # reading the PR's commits / publishing the result


@dataclass
class Host(Settles):
    """What every host's driver does; a subclass fills in the host's side."""

    name: ClassVar[str]
    route: ClassVar[str]  # the webhook path's platform segment
    settings_path: ClassVar[str]  # the admin API's settings of the host, under the workspace
    signature_header: ClassVar[str]
    listing: ClassVar[tuple[str, str]]  # the open-PR listing's path suffix, its ``state=``
    commit_pages: ClassVar[int]  # requests that read a PR of 500 commits

    fake: Any
    jira: FakeJira
    server: LiveServer = field(init=False)
    http: httpx.Client = field(init=False)
    _branches: Iterator[int] = field(init=False, default_factory=lambda: itertools.count(1))

    # -- the live server ----------------------------------------------------------------------

    def attach(self, server: LiveServer) -> None:
        """Talk to ``server`` from now on (a restart: the same database, a new process)."""
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=30)

    def configure(self, rules: list[dict[str, Any]]) -> None:
        api = self.api
        setup_workspace(api, self.jira, rules=rules)
        api("PUT", f"/workspaces/{WS}/{self.settings_path}", json=self.settings())

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        return admin_call(self.http, self.server.state.first_start.token, method, path, **kwargs)

    def post(self, hook: tuple[dict[str, str], bytes]) -> httpx.Response:
        headers, body = hook
        return self.http.post(f"/webhooks/{self.route}/{WS}", content=body, headers=headers)

    def accepted(self, hook: tuple[dict[str, str], bytes]) -> int:
        answer = self.post(hook)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "accepted", answer.text
        return int(answer.json()["delivery"])

    def rows(self) -> list[Any]:
        return delivery_rows(self)

    def row(self, delivery_id: int) -> Any:
        return next(r for r in self.rows() if r.id == delivery_id)

    def evaluations(self) -> list[Any]:
        """Every stored evaluation (``EvaluationRow``), oldest first."""
        from sqlalchemy import select

        from jirahooks.store.models import EvaluationRow

        async def read() -> list[Any]:
            async with self.server.state.database.session() as session:
                found = await session.execute(select(EvaluationRow).order_by(EvaluationRow.id))
                return list(found.scalars())

        rows: list[Any] = self.server.run(read())
        return rows

    def run_delivery(self, delivery_id: int) -> None:
        run_delivery(self.server, delivery_id)

    def run_pending(self) -> None:
        run_pending(self)

    def reconcile(self) -> int:
        queued: int = self.server.run(self.server.worker.reconcile())
        return queued

    def branch(self) -> str:
        """A fresh branch name that names an issue."""
        return f"feature/ABC-1-{next(self._branches)}"

    def requests(self) -> list[Any]:
        """Every request the fake host received, oldest first."""
        with self.fake.lock:
            return list(self.fake.requests)

    def open_listings(self) -> list[Any]:
        """The requests that listed the repository's open PRs (reconciliation, pushes)."""
        suffix, _ = self.listing
        return [r for r in self.requests() if r.method == "GET" and r.path.endswith(suffix)]

    def commit_reads(self, pr: Any) -> list[Any]:
        """The requests that read the PR's commits."""
        path, _ = self.fault_path(pr, "commits")
        return [r for r in self.requests() if r.method == "GET" and path in r.path]

    def conform(self) -> None:
        """Whatever the test made jirahooks send the fake, the host's API documents (where the
        fake does not check that itself)."""

    def report_link(self, sha: str) -> str | None:
        """The link of the result's report (a host without a separate report: the status's)."""
        status = self.status(sha)
        return None if status is None else str(status["url"])

    # -- the host's side ----------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        raise NotImplementedError

    def add_pr(self, title: str, commits: list[str], source: str = "") -> Any:
        raise NotImplementedError

    def head(self, pr: Any) -> str:
        raise NotImplementedError

    def pr_id(self, pr: Any) -> int:
        raise NotImplementedError

    def pr_hook(self, pr: Any, *, secret: str = SECRET) -> tuple[dict[str, str], bytes]:
        """The signed "PR opened" delivery of ``pr`` as it is now."""
        raise NotImplementedError

    def push_hook(self, pr: Any) -> tuple[dict[str, str], bytes]:
        """The signed push of ``pr``'s branch to its current head (after ``move_head``)."""
        raise NotImplementedError

    def move_head(self, pr: Any, message: str) -> str:
        """A new commit on the PR's branch; its hash."""
        raise NotImplementedError

    def published(self, sha: str) -> list[str]:
        """The Guardian's result states shown on ``sha`` (SUCCESSFUL / FAILED / INPROGRESS), in
        the order they were published."""
        raise NotImplementedError

    def fault_path(self, pr: Any, where: Where) -> tuple[str, str]:
        raise NotImplementedError

    def fail(
        self, pr: Any, where: Where, status: int, *, times: int = 1, retry_after: str | None = None
    ) -> None:
        """The fake answers ``status`` to the next ``times`` requests of that kind."""
        path, method = self.fault_path(pr, where)
        self.fake.fail(status, times=times, path=path, method=method, retry_after=retry_after)


def _state(raw: str) -> str:
    known = {"success": "SUCCESSFUL", "failed": "FAILED", "failure": "FAILED"}
    return known.get(raw, "INPROGRESS" if raw in ("running", "pending", "in_progress") else raw)


@dataclass
class Cloud(Host):
    """Bitbucket Cloud: build status and Code Insights report (tests/fakes/fake_bitbucket.py)."""

    name = "bitbucket-cloud"
    route = "bitbucket"
    settings_path = "bitbucket"
    signature_header = "X-Hub-Signature"
    listing = ("/pullrequests", "OPEN")
    commit_pages = 10  # the adapter asks for 50 a page

    def __post_init__(self) -> None:
        self.repo = self.fake.add_repo("acme", "api-service", name="API Service")

    def settings(self) -> dict[str, Any]:
        return bitbucket_settings(self.fake, self.server.url)

    def add_pr(self, title: str, commits: list[str], source: str = "") -> Any:
        return self.fake.add_pr(self.repo, title, source=source or self.branch(), commits=commits)

    def head(self, pr: Any) -> str:
        return str(pr.head)

    def pr_id(self, pr: Any) -> int:
        return int(pr.id)

    def pr_hook(self, pr: Any, *, secret: str = SECRET) -> tuple[dict[str, str], bytes]:
        from tests.platforms.payloads import pull_request_event

        return pull_request_event(self.fake, self.repo, pr, secret=secret)

    def push_hook(self, pr: Any) -> tuple[dict[str, str], bytes]:
        from tests.platforms.payloads import push_event

        return push_event(self.fake, self.repo, pr.source, pr.commits, secret=SECRET)

    def move_head(self, pr: Any, message: str) -> str:
        return str(self.fake.push(self.repo, pr, message).hash)

    def status(self, sha: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.fake.status(self.repo, sha, STATUS_KEY)
        return found

    def report_link(self, sha: str) -> str | None:
        report = self.fake.report(self.repo, sha, REPORT_ID)
        return None if report is None else str(report["link"])

    def published(self, sha: str) -> list[str]:
        return [
            r.body["state"]
            for r in self.fake.requests_to(f"/commit/{sha}/statuses/build", method="POST")
            if r.status < 300 and r.body.get("key") == STATUS_KEY
        ]

    def fault_path(self, pr: Any, where: Where) -> tuple[str, str]:
        if where == "commits":
            return f"/pullrequests/{pr.id}/commits", "GET"
        return "/statuses/build", "POST"


@dataclass
class DataCenter(Host):
    """Bitbucket Data Center: build status and Code Insights report
    (tests/fakes/fake_bitbucket_dc.py)."""

    name = "bitbucket-dc"
    route = "bitbucket-dc"
    settings_path = "platforms/bitbucket-dc"
    signature_header = "X-Hub-Signature"
    listing = ("/pull-requests", "OPEN")
    commit_pages = 5  # 100 a page, newest first

    def __post_init__(self) -> None:
        self.repo = self.fake.add_repo("PRJ", "api-service")

    def settings(self) -> dict[str, Any]:
        return dc_settings(self.fake, self.server.url, SECRET)

    def add_pr(self, title: str, commits: list[str], source: str = "") -> Any:
        return self.fake.add_pr(self.repo, title, source=source or self.branch(), commits=commits)

    def head(self, pr: Any) -> str:
        return str(pr.head)

    def pr_id(self, pr: Any) -> int:
        return int(pr.id)

    def pr_hook(self, pr: Any, *, secret: str = SECRET) -> tuple[dict[str, str], bytes]:
        return dc_pr_hook(self.fake, self.repo, pr, secret=secret)

    def push_hook(self, pr: Any) -> tuple[dict[str, str], bytes]:
        old = pr.commits[-2] if len(pr.commits) > 1 else "0" * 40
        ref = (f"refs/heads/{pr.source}", old, pr.head, "UPDATE")
        from jirahooks.platforms.bitbucket_dc import sign

        headers, body = self.fake.refs_changed(self.repo, [ref])
        return {**headers, "X-Hub-Signature": sign(SECRET, body)}, body

    def move_head(self, pr: Any, message: str) -> str:
        return str(self.fake.push(self.repo, pr, message))

    def status(self, sha: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.fake.build(self.repo, sha, STATUS_KEY)
        return found

    def report_link(self, sha: str) -> str | None:
        report = self.fake.report(self.repo, sha, REPORT_ID)
        return None if report is None else str(report["link"])

    def published(self, sha: str) -> list[str]:
        return [
            r.body["state"]
            for r in self.fake.requests_to(f"/commits/{sha}/builds", method="POST")
            if r.status < 300 and r.body.get("key") == STATUS_KEY
        ]

    def fault_path(self, pr: Any, where: Where) -> tuple[str, str]:
        if where == "commits":
            return f"/pull-requests/{pr.id}/commits", "GET"
        return "/builds", "POST"


@dataclass
class GitLab(Host):
    """GitLab: commit status on the MR head (tests/fakes/fake_gitlab.py)."""

    name = "gitlab"
    route = "gitlab"
    settings_path = "platforms/gitlab"
    signature_header = "X-Gitlab-Token"
    listing = ("/merge_requests", "opened")
    commit_pages = 5  # 100 a page, GitLab's maximum

    def __post_init__(self) -> None:
        self.project = self.fake.add_project("acme/platform/api-service")

    def settings(self) -> dict[str, Any]:
        return gitlab_settings(self.fake, self.server.url, SECRET)

    def conform(self) -> None:
        from tests.platforms.test_gitlab_conformance import check

        check(self.requests())

    def add_pr(self, title: str, commits: list[str], source: str = "") -> Any:
        return self.fake.add_mr(
            self.project, title, source=source or self.branch(), commits=commits
        )

    def head(self, pr: Any) -> str:
        return str(pr.sha)

    def pr_id(self, pr: Any) -> int:
        return int(pr.iid)

    def _signed(
        self, hook: tuple[dict[str, str], bytes], secret: str
    ) -> tuple[dict[str, str], bytes]:
        headers, body = hook
        return {**headers, "X-Gitlab-Token": secret}, body

    def pr_hook(self, pr: Any, *, secret: str = SECRET) -> tuple[dict[str, str], bytes]:
        return self._signed(self.fake.merge_request_hook(self.project, pr), secret)

    def push_hook(self, pr: Any) -> tuple[dict[str, str], bytes]:
        return self._signed(self.fake.push_hook(self.project, pr.source, pr.commits), SECRET)

    def move_head(self, pr: Any, message: str) -> str:
        return str(self.fake.push(self.project, pr, message))

    def status(self, sha: str) -> dict[str, Any] | None:
        found = self.fake.statuses(self.project, sha, STATUS_KEY)
        if not found:
            return None
        last = found[-1]
        return {**last, "state": _state(last["status"]), "url": last["target_url"]}

    def published(self, sha: str) -> list[str]:
        return [
            _state(r.body["state"])
            for r in self.fake.requests_to(f"/statuses/{sha}", method="POST")
            if r.status < 300 and r.body.get("name") == STATUS_KEY
        ]

    def fault_path(self, pr: Any, where: Where) -> tuple[str, str]:
        if where == "commits":
            return f"/merge_requests/{pr.iid}/commits", "GET"
        return "/statuses/", "POST"


@dataclass
class GitHub(Host):
    """GitHub (an App): the check run on the head (tests/fakes/fake_github.py)."""

    name = "github"
    route = "github"
    settings_path = "platforms/github"
    signature_header = "X-Hub-Signature-256"
    listing = ("/pulls", "open")
    commit_pages = 5  # the compare API, 100 a page (…/pulls/{n}/commits stops at 250)

    def __post_init__(self) -> None:
        self.repo = self.fake.add_repo("acme", "api-service")

    def settings(self) -> dict[str, Any]:
        return github_settings(self.fake, self.server.url, SECRET)

    def add_pr(self, title: str, commits: list[str], source: str = "") -> Any:
        return self.fake.add_pr(self.repo, title, source=source or self.branch(), commits=commits)

    def head(self, pr: Any) -> str:
        return str(pr.head)

    def pr_id(self, pr: Any) -> int:
        return int(pr.number)

    def pr_hook(self, pr: Any, *, secret: str = SECRET) -> tuple[dict[str, str], bytes]:
        from tests.platforms import github_payloads as payloads

        return payloads.deliver(
            "pull_request", payloads.pull_request(self.fake, self.repo, pr), secret=secret
        )

    def push_hook(self, pr: Any) -> tuple[dict[str, str], bytes]:
        from tests.platforms import github_payloads as payloads

        payload = payloads.push(self.fake, self.repo, pr.source, [pr.head])
        return payloads.deliver("push", payload, secret=SECRET)

    def move_head(self, pr: Any, message: str) -> str:
        return str(self.fake.push(self.repo, pr, message).sha)

    def _result(self, run: dict[str, Any]) -> str:
        if run["status"] != "completed":
            return "INPROGRESS"
        return _state(str(run["conclusion"]))

    def status(self, sha: str) -> dict[str, Any] | None:
        runs = self.fake.check_runs(self.repo, sha)
        if not runs:
            return None
        return {**runs[-1], "state": self._result(runs[-1]), "url": runs[-1]["details_url"]}

    def published(self, sha: str) -> list[str]:
        return [self._result(run) for run in self.fake.check_runs(self.repo, sha)]

    def fault_path(self, pr: Any, where: Where) -> tuple[str, str]:
        if where == "commits":
            return f"/pulls/{pr.number}/commits", "GET"
        return "/check-runs", "POST"

    def commit_reads(self, pr: Any) -> list[Any]:
        return [r for r in self.requests() if r.method == "GET" and "/compare/" in r.path]


DRIVERS: dict[str, type[Host]] = {d.name: d for d in (Cloud, DataCenter, GitLab, GitHub)}


def fake_for(name: str) -> Any:
    """The host's fake, not started."""
    if name == "bitbucket-cloud":
        from tests.fakes.fake_bitbucket import FakeBitbucket

        return FakeBitbucket()
    if name == "bitbucket-dc":
        from tests.fakes.fake_bitbucket_dc import FakeBitbucketDC

        return FakeBitbucketDC()
    if name == "gitlab":
        from tests.fakes.fake_gitlab import FakeGitLab

        return FakeGitLab()
    from tests.fakes.fake_github import FakeGitHub

    return FakeGitHub()


@contextmanager
def running(
    name: str,
    tmp: Path,
    jira: FakeJira,
    *,
    database_url: str = "",
    options: WorkerOptions = FAST_OPTIONS,
    rules: list[dict[str, Any]] | None = None,
) -> Iterator[Host]:
    """The host's fake and a live jirahooks (``options``) configured for it through the admin
    API; stopped afterwards (whatever server the driver is attached to by then)."""
    with fake_for(name) as fake:
        host = DRIVERS[name](fake, jira)
        host.attach(LiveServer(settings_for(tmp, database_url), options).start())
        try:
            host.configure(RULES if rules is None else rules)
            yield host
            host.conform()
        finally:
            host.http.close()
            host.server.stop()


# -- the hosts' settings and deliveries, shared with their own end-to-end tests --------------


def dc_settings(fake: Any, public_url: str, secret: str) -> dict[str, Any]:
    """``PUT …/platforms/bitbucket-dc`` for the fake Data Center (project PRJ)."""
    from tests.fakes.fake_bitbucket_dc import HTTP_ACCESS_TOKEN

    return {
        "api_url": fake.url,
        "project_key": "PRJ",
        "auth_kind": "http_access_token",
        "token": HTTP_ACCESS_TOKEN,
        "webhook_secret": secret,
        "public_url": public_url,
    }


def dc_pr_hook(
    fake: Any,
    repo: Any,
    pr: Any,
    event_key: str = "pr:opened",
    *,
    secret: str,
    request_id: str = "",
) -> tuple[dict[str, str], bytes]:
    """A Data Center PR delivery of ``pr`` as it is now, signed with ``secret``."""
    payload = {
        "eventKey": event_key,
        "date": "2026-12-02T08:00:00+0000",
        "actor": fake.user_json(pr.author),
        "pullRequest": fake.pr_json(repo, pr),
    }
    return fake.webhook(event_key, payload, secret=secret, request_id=request_id)


def gitlab_settings(fake: Any, public_url: str, secret: str) -> dict[str, Any]:
    """``PUT …/platforms/gitlab`` for the fake GitLab (the group ``acme``)."""
    from tests.fakes.fake_gitlab import TOKEN

    return {
        "api_url": fake.url,
        "namespace": "acme",
        "token": TOKEN,
        "webhook_secret": secret,
        "public_url": public_url,
    }


def github_settings(fake: Any, public_url: str, secret: str) -> dict[str, Any]:
    """``PUT …/platforms/github`` for the fake GitHub's App, installed on ``acme``."""
    from tests.fakes.fake_github import APP_ID, INSTALLATION_ID, app_key_pem

    return {
        "api_url": fake.url,
        "app_id": APP_ID,
        "installation_id": INSTALLATION_ID,
        "owner": "acme",
        "private_key": app_key_pem(),
        "webhook_secret": secret,
        "public_url": public_url,
    }
