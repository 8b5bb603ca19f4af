"""GitHub App authentication and GitHub's failure modes against the fake: the JWT, the
installation token cached, refreshed before expiry and once on 401, single-flight; secondary
and primary rate limits, outages, unreachable hosts."""

from __future__ import annotations

import asyncio
import logging

import pytest
from tests.fakes.fake_github import APP_ID, FakeGitHub, FakeRepo
from tests.platforms.github_support import FAST_RETRY, OWNER, gh_repo, github, run

from jirahooks.platforms.base import PlatformAuthError, PlatformUnavailable
from jirahooks.platforms.github import GitHub
from jirahooks.platforms.github_client import TOKEN_MARGIN, GitHubAppCredentials, GitHubClient

__all__ = ["gh_repo", "github"]  # fixtures


def test_token_is_fetched_once_and_reused(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1", commits=["a", "b"])

    async def many(gh: GitHub) -> None:
        for _ in range(5):
            await gh.fetch_pull_request("api-service", str(pr.number))
        await gh.list_open_pull_requests("api-service")

    run(github, many)
    assert github.tokens_issued == 1
    assert github.count("/access_tokens", method="POST") == 1
    token_request = github.requests_to("/access_tokens")[0]
    assert github.check_jwt(token_request.headers["authorization"]) is None
    repo_calls = [r for r in github.requests if r.path.startswith("/repos/")]
    assert len(repo_calls) == 11
    assert all(r.status == 200 for r in repo_calls)


def test_concurrent_requests_share_one_refresh(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")

    async def burst(gh: GitHub) -> None:
        await asyncio.gather(*(gh.resolve_commit("api-service", pr.head[:9]) for _ in range(20)))

    run(github, burst)
    assert github.tokens_issued == 1


def test_token_refreshed_before_it_expires(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    now = [1_000_000.0]
    import time as _time

    offset = _time.time() - now[0]

    async def flow() -> None:
        client = GitHubClient(
            github.credentials(),
            base_url=github.url,
            retry=FAST_RETRY,
            clock=lambda: now[0] + offset,
        )
        gh = GitHub(OWNER, github.credentials(), client=client)
        try:
            await gh.resolve_commit("api-service", pr.head[:9])
            now[0] += 3600 - TOKEN_MARGIN - 10  # still inside the margin: reused
            await gh.resolve_commit("api-service", pr.head[:9])
            assert github.tokens_issued == 1
            now[0] += 20  # within the margin before expires_at: a new token first
            await gh.resolve_commit("api-service", pr.head[:9])
            assert github.tokens_issued == 2
        finally:
            await gh.aclose()

    asyncio.run(flow())
    assert all(r.status < 400 for r in github.requests)


def test_401_refreshes_once_and_repeats(
    github: FakeGitHub, gh_repo: FakeRepo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")

    async def flow(gh: GitHub) -> str:
        await gh.resolve_commit("api-service", pr.head[:9])
        github.expire_tokens()  # revoked / expired early on GitHub's side
        return await gh.resolve_commit("api-service", pr.head[:9])

    assert run(github, flow) == pr.head
    assert github.tokens_issued == 2
    assert [r.status for r in github.requests_to("/commits/")] == [200, 401, 200]
    assert github.tokens and not any(token in caplog.text for token in github.tokens)
    assert "ghs_" not in caplog.text and "PRIVATE KEY" not in caplog.text


def test_secondary_limit_said_only_in_the_message(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    github.fail(403, path="/commits/", message="You have exceeded a secondary rate limit.")
    with pytest.raises(PlatformUnavailable) as caught:
        run(github, lambda gh: gh.resolve_commit("api-service", pr.head[:9]))
    assert caught.value.retry_after == 60.0


def test_401_that_persists_is_an_auth_error(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    github.fail(401, path="/commits/", times=-1, message="Bad credentials")
    with pytest.raises(PlatformAuthError) as caught:
        run(github, lambda gh: gh.resolve_commit("api-service", pr.head[:9]))
    assert caught.value.status == 401
    assert github.count("/commits/") == 2 and github.tokens_issued == 2  # one refresh, no loop


def test_wrong_private_key_is_refused(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    credentials = GitHubAppCredentials(APP_ID, other.decode(), "31337")

    async def flow() -> None:
        client = GitHubClient(credentials, base_url=github.url, retry=FAST_RETRY)
        async with client:
            await GitHub(OWNER, credentials, client=client).resolve_commit("api-service", "abcdef1")

    with pytest.raises(PlatformAuthError) as caught:
        asyncio.run(flow())
    assert caught.value.status == 401 and "App id and private key" in caught.value.hint
    assert github.jwt_refusals == ["signature"]


def test_unreadable_private_key(github: FakeGitHub) -> None:
    credentials = GitHubAppCredentials(APP_ID, "not a key", "31337")
    with pytest.raises(PlatformAuthError) as caught:
        credentials.jwt()
    assert caught.value.code == "GITHUB_APP_KEY_INVALID"
    assert "not a key" not in repr(credentials)


def test_secondary_rate_limit_within_budget_is_waited(
    github: FakeGitHub, gh_repo: FakeRepo
) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    github.fail(403, path="/commits/", retry_after="0")
    assert run(github, lambda gh: gh.resolve_commit("api-service", pr.head[:9])) == pr.head
    assert [r.status for r in github.requests_to("/commits/")] == [403, 200]


def test_secondary_rate_limit_beyond_budget(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    github.fail(403, path="/commits/", retry_after="120")
    with pytest.raises(PlatformUnavailable) as caught:
        run(github, lambda gh: gh.resolve_commit("api-service", pr.head[:9]))
    assert caught.value.retry_after == 120.0 and caught.value.status == 403
    assert github.count("/commits/") == 1  # not slept through, not hammered


def test_429_with_retry_after(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    github.fail(429, path="/pulls", retry_after="30")
    with pytest.raises(PlatformUnavailable) as caught:
        run(github, lambda gh: gh.list_open_pull_requests("api-service"))
    assert caught.value.retry_after == 30.0
    assert pr.number == 1


def test_primary_rate_limit_spent(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")

    async def flow(gh: GitHub) -> None:
        await gh.resolve_commit("api-service", pr.head[:9])
        github.exhaust(reset_in=900)
        with pytest.raises(PlatformUnavailable) as caught:
            await gh.resolve_commit("api-service", pr.head[:9])
        assert caught.value.retry_after is not None and 800 < caught.value.retry_after <= 900
        sent = github.count("/commits/")
        # the client now knows the budget is spent: it does not send until the reset
        with pytest.raises(PlatformUnavailable) as again:
            await gh.resolve_commit("api-service", pr.head[:9])
        assert github.count("/commits/") == sent
        assert again.value.retry_after is not None and again.value.retry_after > 800

    run(github, flow)
    assert gh_rate_headers_present(github)


def gh_rate_headers_present(github: FakeGitHub) -> bool:
    return github.rate_headers()["x-ratelimit-limit"] == "5000"


def test_403_without_rate_limit_is_a_permission_error(
    github: FakeGitHub, gh_repo: FakeRepo
) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    github.fail(403, path="/check-runs", message="Resource not accessible by integration")
    from jirahooks.platforms.base import BuildState, BuildStatus

    status = BuildStatus("jh", BuildState.FAILED, "Guardian", "Blocked")
    with pytest.raises(PlatformAuthError) as caught:
        run(github, lambda gh: gh.publish_status("api-service", pr.head, status))
    assert "permission" in caught.value.hint
    assert "Resource not accessible" in caught.value.message


def test_outage_is_unavailable(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    pr = github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    github.fail(503, path="/pulls/", times=-1)
    with pytest.raises(PlatformUnavailable) as caught:
        run(github, lambda gh: gh.fetch_pull_request("api-service", str(pr.number)))
    assert caught.value.status == 503 and caught.value.retry_after is None
    assert github.count("/pulls/") == FAST_RETRY.max_attempts


def test_unreachable_is_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    with FakeGitHub() as gone:
        url, credentials = gone.url, gone.credentials()

    async def flow() -> None:
        client = GitHubClient(credentials, base_url=url, retry=FAST_RETRY)
        async with client:
            await GitHub(OWNER, credentials, client=client).resolve_commit("api-service", "abcdef1")

    caplog.set_level(logging.DEBUG)
    with pytest.raises(PlatformUnavailable) as caught:
        asyncio.run(flow())
    assert "cannot reach GitHub" in caught.value.message
    assert "PRIVATE KEY" not in caplog.text


def test_pagination_never_leaves_the_api_origin(github: FakeGitHub, gh_repo: FakeRepo) -> None:
    from jirahooks.platforms.base import PlatformRequestError

    github.add_pr(gh_repo, "ABC-1", source="feature/ABC-1")
    github.fail(
        200,
        path="/pulls",
        headers={"link": '<https://evil.example/steal?page=2>; rel="next"'},
    )
    faults = github.faults[-1]
    faults.body = []
    with pytest.raises(PlatformRequestError) as caught:
        run(github, lambda gh: gh.list_open_pull_requests("api-service"))
    assert "evil.example" in caught.value.message
