"""Shared helpers of the GitLab adapter tests: a fake GitLab on a real port, adapters to it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from tests.fakes.fake_gitlab import TOKEN, FakeGitLab, FakeProject

from jirahooks.platforms.gitlab import GitLab
from jirahooks.platforms.gitlab_client import GitLabClient, GitLabCredentials, TokenHeader
from jirahooks.retry import RetryPolicy

NAMESPACE = "acme"
FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_cap=0.05, max_wait=5.0)


@pytest.fixture(name="gitlab")
def gitlab_fixture() -> Iterator[FakeGitLab]:
    """Import as ``from tests.platforms.gitlab_support import gitlab_fixture``."""
    with FakeGitLab() as fake:
        yield fake


@pytest.fixture(name="project")
def project_fixture(gitlab: FakeGitLab) -> FakeProject:
    return gitlab.add_project(f"{NAMESPACE}/platform/api-service")


def make_adapter(
    fake: FakeGitLab,
    *,
    token: str = TOKEN,
    header: TokenHeader = TokenHeader.PRIVATE_TOKEN,
    retry: RetryPolicy = FAST_RETRY,
    base_url: str = "",
    **kwargs: Any,
) -> GitLab:
    credentials = GitLabCredentials(token, header)
    client = GitLabClient(credentials, base_url=base_url or fake.url, retry=retry)
    return GitLab(credentials, namespace=NAMESPACE, client=client, **kwargs)


def run(fake: FakeGitLab, fn: Callable[[GitLab], Awaitable[Any]], **kwargs: Any) -> Any:
    """Run ``fn(adapter)`` on a fresh event loop with a fresh adapter."""

    async def main() -> Any:
        adapter = make_adapter(fake, **kwargs)
        try:
            return await fn(adapter)
        finally:
            await adapter.aclose()

    return asyncio.run(main())
