"""Fixtures for the Bitbucket Data Center adapter tests: the fake on a real port, adapters to it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from tests.fakes.fake_bitbucket_dc import HTTP_ACCESS_TOKEN, FakeBitbucketDC, FakeRepo

from jirahooks.platforms.bitbucket_dc import BitbucketDataCenter
from jirahooks.platforms.bitbucket_dc_client import DataCenterAuthKind, DataCenterCredentials
from jirahooks.retry import RetryPolicy

PROJECT = "PRJ"
SLUG = "api-service"
FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_cap=0.02, max_wait=1.0)


@pytest.fixture
def dc() -> Iterator[FakeBitbucketDC]:
    with FakeBitbucketDC() as fake:
        yield fake


@pytest.fixture
def dc_repo(dc: FakeBitbucketDC) -> FakeRepo:
    return dc.add_repo(PROJECT, SLUG)


def make_adapter(
    fake: FakeBitbucketDC,
    *,
    token: str = HTTP_ACCESS_TOKEN,
    kind: DataCenterAuthKind = DataCenterAuthKind.HTTP_ACCESS_TOKEN,
    retry: RetryPolicy = FAST_RETRY,
    base_url: str = "",
    **options: Any,
) -> BitbucketDataCenter:
    return BitbucketDataCenter(
        base_url or fake.url,
        PROJECT,
        DataCenterCredentials(kind, token),
        retry=retry,
        **options,
    )


DCCall = Callable[..., Any]


@pytest.fixture
def dc_call(dc: FakeBitbucketDC) -> DCCall:
    """``dc_call(lambda a: a.fetch_pull_request(SLUG, "1"), **adapter_options)``: one adapter
    call on a fresh event loop with a fresh adapter (closed afterwards)."""

    def run(fn: Callable[[BitbucketDataCenter], Awaitable[Any]], **options: Any) -> Any:
        async def main() -> Any:
            adapter = make_adapter(dc, **options)
            try:
                return await fn(adapter)
            finally:
                await adapter.aclose()

        return asyncio.run(main())

    return run
