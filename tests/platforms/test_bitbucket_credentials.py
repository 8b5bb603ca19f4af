"""Bitbucket Cloud credential kinds (API token, access token, the app-password alias) and the
rate-limit headers read from every answer, against the fake Bitbucket on a real port."""

from __future__ import annotations

import asyncio

import pytest
from tests.fakes.fake_bitbucket import (
    ACCESS_TOKEN,
    API_EMAIL,
    API_TOKEN,
    FakeBitbucket,
    FakeRepo,
)
from tests.platforms.conftest import make_adapter

from jirahooks.platforms.base import PlatformUnavailable
from jirahooks.platforms.bitbucket_auth import (
    AuthKind,
    BitbucketCredentials,
    RateLimit,
    credentials_from,
    email_problem,
    normalize_kind,
)
from jirahooks.platforms.bitbucket_cloud import BitbucketCloud
from jirahooks.retry import RetryPolicy

KINDS = {
    "access_token": BitbucketCredentials(AuthKind.ACCESS_TOKEN, ACCESS_TOKEN),
    "api_token": BitbucketCredentials(AuthKind.API_TOKEN, API_TOKEN, API_EMAIL),
}


def _fetch(adapter: BitbucketCloud) -> str:
    async def main() -> str:
        try:
            return (await adapter.fetch_pull_request("api-service", "1")).title
        finally:
            await adapter.aclose()

    return asyncio.run(main())


def test_the_alias_is_stored_as_an_api_token() -> None:
    assert normalize_kind("app_password") == (AuthKind.API_TOKEN, True)
    assert normalize_kind("api_token") == (AuthKind.API_TOKEN, False)
    assert normalize_kind("access_token") == (AuthKind.ACCESS_TOKEN, False)
    with pytest.raises(ValueError):
        normalize_kind("password")


@pytest.mark.parametrize(
    ("username", "ok"),
    [
        ("guardian@example.com", True),
        ("first.last+bot@corp.example.co.uk", True),
        ("guardian-bot", False),
        ("", False),
        ("guardian@localhost", False),
        ("a b@example.com", False),
        ("guardian@example.com:x", False),
    ],
)
def test_the_user_name_of_an_api_token_must_be_an_email(username: str, ok: bool) -> None:
    problem = email_problem(username)
    assert (problem is None) is ok
    if not ok:
        assert "e-mail" in (problem or "")


def test_credentials_never_show_the_secret_and_pick_the_scheme() -> None:
    bearer = credentials_from("access_token", "s3cr3t", "")
    basic = credentials_from("api_token", "s3cr3t", API_EMAIL)
    assert bearer.authorization() == "Bearer s3cr3t"
    assert basic.authorization().startswith("Basic ")
    assert "s3cr3t" not in repr(bearer) and "s3cr3t" not in repr(basic)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_reaches_the_api(bitbucket: FakeBitbucket, repo: FakeRepo, kind: str) -> None:
    bitbucket.add_pr(repo, "ABC-1 login", source="feature/ABC-1")
    assert _fetch(make_adapter(bitbucket, KINDS[kind])) == "ABC-1 login"
    assert bitbucket.auth_refusals == []


def test_bitbucket_rate_limit_headers_are_read_for_an_access_token(
    bitbucket: FakeBitbucket, repo: FakeRepo
) -> None:
    bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    bitbucket.access_token_rate_limit = 2500
    adapter = make_adapter(bitbucket, KINDS["access_token"])
    _fetch(adapter)
    limit = adapter.client.rate_limit
    assert limit is not None and limit.limit == 2500 and limit.resource == "api"
    assert not limit.near_limit


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_ratelimit_headers_are_read_whatever_the_credential_kind(
    bitbucket: FakeBitbucket, repo: FakeRepo, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    bitbucket.answer_headers = {
        "RateLimit-Limit": "1000",
        "RateLimit-Remaining": "3",
        "RateLimit-Reset": "120",
        "X-RateLimit-NearLimit": "true",
    }
    adapter = make_adapter(bitbucket, KINDS[kind])
    with caplog.at_level("WARNING", logger="jirahooks.platforms.bitbucket"):
        _fetch(adapter)
    limit = adapter.client.rate_limit
    assert limit is not None
    assert (limit.limit, limit.remaining, limit.reset_seconds) == (1000, 3, 120)
    assert limit.near_limit
    assert any("rate limit nearly used up" in r.getMessage() for r in caplog.records)
    assert not any(
        API_TOKEN in r.getMessage() or ACCESS_TOKEN in r.getMessage() for r in caplog.records
    )


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_429_without_retry_after_is_rescheduled_by_ratelimit_reset(
    bitbucket: FakeBitbucket, repo: FakeRepo, kind: str
) -> None:
    """No Retry-After, but RateLimit-Reset: 600 s is longer than the client sleeps through, so
    the error carries it and the queue reschedules the work then."""
    bitbucket.add_pr(repo, "ABC-1", source="feature/ABC-1")
    bitbucket.fail(429, times=1, headers={"RateLimit-Reset": "600", "RateLimit-Remaining": "0"})
    retry = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_cap=0.05, max_wait=5.0)
    adapter = make_adapter(bitbucket, KINDS[kind], retry=retry)
    with pytest.raises(PlatformUnavailable) as info:
        _fetch(adapter)
    assert info.value.retry_after == 600
    assert info.value.status == 429
    # one request, not a retry loop inside the 600 s window
    assert bitbucket.count("/pullrequests/1") == 1


def test_x_ratelimit_reset_as_epoch_seconds_becomes_a_delay() -> None:
    limit = RateLimit.from_headers(
        {"x-ratelimit-reset": "1700000300", "x-ratelimit-remaining": "0"}, now=1700000000.0
    )
    assert limit.reset_seconds == 300 and limit.exhausted
    assert not RateLimit.from_headers({}, now=0).said
