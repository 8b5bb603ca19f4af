"""Fixtures for the platform adapters: a fake Bitbucket Cloud on a real port, adapters to it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from tests.fakes.fake_bitbucket import ACCESS_TOKEN, FakeBitbucket, FakeRepo

from jirahooks.platforms.bitbucket_client import (
    AuthKind,
    BitbucketClient,
    BitbucketCredentials,
)
from jirahooks.platforms.bitbucket_cloud import BitbucketCloud
from jirahooks.retry import RetryPolicy

WORKSPACE = "acme"
FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_cap=0.05, max_wait=5.0)


@pytest.fixture
def bitbucket() -> Iterator[FakeBitbucket]:
    with FakeBitbucket() as fake:
        yield fake


@pytest.fixture
def repo(bitbucket: FakeBitbucket) -> FakeRepo:
    return bitbucket.add_repo(WORKSPACE, "api-service", name="API Service")


def make_adapter(
    fake: FakeBitbucket,
    credentials: BitbucketCredentials | None = None,
    retry: RetryPolicy = FAST_RETRY,
) -> BitbucketCloud:
    credentials = credentials or BitbucketCredentials(AuthKind.ACCESS_TOKEN, ACCESS_TOKEN)
    client = BitbucketClient(WORKSPACE, credentials, base_url=fake.url, retry=retry)
    return BitbucketCloud(WORKSPACE, credentials, client=client)


Call = Callable[[Callable[[BitbucketCloud], Awaitable[Any]]], Any]


@pytest.fixture
def call(bitbucket: FakeBitbucket) -> Call:
    """``call(lambda bb: bb.fetch_pull_request("api", "1"))``: run one adapter call on a fresh
    event loop with a fresh adapter (no pytest-asyncio here)."""

    def run(fn: Callable[[BitbucketCloud], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            made = make_adapter(bitbucket)
            try:
                return await fn(made)
            finally:
                await made.aclose()

        return asyncio.run(main())

    return run
