"""How few requests the GitHub adapter publishes a result with, and where its installation
comes from: a commit without a run of ours gets its check run created once, already completed;
an installation id that is missing (or gone) is found with the App JWT from the repository or
the owner. Against the fake GitHub over a real socket (tests/fakes/fake_github.py)."""

from __future__ import annotations

import asyncio

import pytest
from tests.fakes.fake_github import INSTALLATION_ID, FakeGitHub, FakeRepo
from tests.platforms.github_support import FAST_RETRY, OWNER, gh_repo, github, run

from jirahooks.platforms.base import (
    Annotation,
    BuildState,
    BuildStatus,
    PlatformAuthError,
    Report,
)
from jirahooks.platforms.github import CHECK_NAME, GitHub
from jirahooks.platforms.github_client import GitHubAppCredentials, GitHubClient

__all__ = ["gh_repo", "github"]  # fixtures

LINK = "https://jh.example/e/7"


def _status(state: BuildState) -> BuildStatus:
    return BuildStatus("jirahooks", state, CHECK_NAME, f"{state.value} text", LINK)


def _report(count: int, result: str = "FAILED") -> Report:
    notes = tuple(Annotation(f"jh-{i}", f"problem {i}", f"details {i}") for i in range(count))
    return Report("jh", "Process Guardian", "1 rule blocked", result, link=LINK, annotations=notes)


def _publish(github: FakeGitHub, sha: str, state: BuildState, report: Report) -> None:
    async def flow(gh: GitHub) -> None:  # what the pipeline does for a head it showed nothing on
        await gh.publish_status("api-service", sha, _status(state))
        await gh.publish_report("api-service", sha, report, replace=False)

    run(github, flow)


def _run_requests(github: FakeGitHub) -> list[tuple[str, str]]:
    return [(r.method, r.route) for r in github.requests if "check-runs" in r.path]


def test_a_fresh_commit_gets_its_run_created_completed_in_one_request(
    github: FakeGitHub, gh_repo: FakeRepo
) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    _publish(github, pr.head, BuildState.FAILED, _report(3))
    assert _run_requests(github) == [
        ("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),  # is a run of ours there?
        ("POST", "/repos/{owner}/{repo}/check-runs"),  # no: created once, with the result
    ]
    (created,) = github.requests_to("/check-runs", method="POST")
    assert created.body["status"] == "completed" and created.body["conclusion"] == "failure"
    assert created.body["details_url"] == LINK and created.body["head_sha"] == pr.head
    assert len(created.body["output"]["annotations"]) == 3
    (check,) = github.check_runs(gh_repo, pr.head)
    assert check["conclusion"] == "failure" and check["output"]["summary"].startswith("1 rule")
    assert len(github.annotations(gh_repo, check["id"])) == 3


def test_a_passing_commit_is_created_successful(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    _publish(github, pr.head, BuildState.SUCCESSFUL, _report(0, "PASSED"))
    assert github.count("/check-runs/", method="PATCH") == 0
    (check,) = github.check_runs(gh_repo, pr.head)
    assert check["status"] == "completed" and check["conclusion"] == "success"


def test_annotations_past_50_follow_the_create_in_patches(
    github: FakeGitHub, gh_repo: FakeRepo
) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    _publish(github, pr.head, BuildState.FAILED, _report(120))
    writes = [
        r for r in github.requests if r.method in ("POST", "PATCH") and "check-runs" in r.path
    ]
    assert [(r.method, len(r.body["output"]["annotations"])) for r in writes] == [
        ("POST", 50),
        ("PATCH", 50),
        ("PATCH", 20),
    ]
    assert writes[0].body["conclusion"] == "failure"  # completed from the first request on
    (check,) = github.check_runs(gh_repo, pr.head)
    assert len(github.annotations(gh_repo, check["id"])) == 120


def test_an_existing_run_is_patched_not_created_again(
    github: FakeGitHub, gh_repo: FakeRepo
) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    run(
        github, lambda gh: gh.publish_status("api-service", pr.head, _status(BuildState.INPROGRESS))
    )
    github.requests.clear()
    _publish(github, pr.head, BuildState.SUCCESSFUL, _report(0, "PASSED"))  # another process
    assert _run_requests(github) == [
        ("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
        ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),  # the status
        ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),  # the report
    ]
    (check,) = github.check_runs(gh_repo, pr.head)
    assert check["conclusion"] == "success"


# -- the installation ---------------------------------------------------------------------------


def _adapter(github: FakeGitHub, installation_id: str) -> GitHub:
    credentials = GitHubAppCredentials(
        github.credentials().app_id, github.credentials().private_key, installation_id
    )
    client = GitHubClient(credentials, base_url=github.url, retry=FAST_RETRY)
    return GitHub(OWNER, credentials, client=client)


def _fetch_twice(github: FakeGitHub, adapter: GitHub, number: int) -> None:
    async def flow() -> None:
        try:
            await adapter.fetch_pull_request("api-service", str(number))
            adapter.client._token = None  # the token expired: a new one, same installation
            await adapter.fetch_pull_request("api-service", str(number))
        finally:
            await adapter.aclose()

    asyncio.run(flow())


def test_no_installation_id_is_found_from_the_repository_once(
    github: FakeGitHub, gh_repo: FakeRepo
) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    adapter = _adapter(github, "")
    _fetch_twice(github, adapter, pr.number)
    (lookup,) = github.requests_to("/installation", method="GET")
    assert lookup.path == "/repos/acme/api-service/installation" and lookup.status == 200
    assert lookup.headers["authorization"].count(".") == 2  # the App JWT, not a token
    tokens = github.requests_to("/access_tokens", method="POST")
    assert [r.path for r in tokens] == [f"/app/installations/{INSTALLATION_ID}/access_tokens"] * 2
    assert adapter.client.installation_id == INSTALLATION_ID


def test_a_configured_installation_that_is_gone_is_found_again(
    github: FakeGitHub, gh_repo: FakeRepo, caplog: pytest.LogCaptureFixture
) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    new = github.reinstall(OWNER)  # uninstalled and installed again: a new id
    adapter = _adapter(github, INSTALLATION_ID)
    _fetch_twice(github, adapter, pr.number)
    tokens = [(r.path, r.status) for r in github.requests_to("/access_tokens", method="POST")]
    assert tokens == [
        (f"/app/installations/{INSTALLATION_ID}/access_tokens", 404),
        (f"/app/installations/{new}/access_tokens", 201),
        (f"/app/installations/{new}/access_tokens", 201),  # the found one is kept
    ]
    assert github.count("/installation", method="GET") == 1
    assert any("update installation_id" in r.getMessage() for r in caplog.records)


def test_without_a_repository_the_owner_finds_it(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    """The connection test asks for a token before any repository is named."""
    adapter = _adapter(github, "")

    async def flow() -> str:
        try:
            await adapter.client.installation_token()
            return adapter.client.installation_id
        finally:
            await adapter.aclose()

    assert asyncio.run(flow()) == INSTALLATION_ID
    (listing,) = github.requests_to("/app/installations", method="GET")
    assert listing.path == "/app/installations" and listing.status == 200


def test_an_account_without_the_app_says_so(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    other = github.add_repo("elsewhere", "tool")
    github.installations.pop("elsewhere")  # the App is not installed there
    pr = github.add_pr(other, "ABC-1", source="feature/ABC-1")
    credentials = GitHubAppCredentials(
        github.credentials().app_id, github.credentials().private_key, ""
    )
    adapter = GitHub(
        "elsewhere",
        credentials,
        client=GitHubClient(credentials, base_url=github.url, retry=FAST_RETRY),
    )

    async def flow() -> None:
        try:
            await adapter.fetch_pull_request("tool", str(pr.number))
        finally:
            await adapter.aclose()

    with pytest.raises(PlatformAuthError) as caught:
        asyncio.run(flow())
    assert caught.value.code == "GITHUB_INSTALLATION_MISSING"
    assert "elsewhere/tool" in caught.value.message and "install the App" in caught.value.hint
    assert github.count("/access_tokens") == 0
