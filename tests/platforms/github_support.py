"""Fixtures for the GitHub adapter tests: a fake GitHub on a real port, adapters to it.

Imported by the test modules (``from tests.platforms.github_support import …``) so the shared
conftest of the platform tests stays as it is."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from tests.fakes.fake_github import FakeGitHub, FakeRepo

from jirahooks.platforms.github import GitHub
from jirahooks.platforms.github_client import GitHubClient
from jirahooks.retry import RetryPolicy

OWNER = "acme"
FAST_RETRY = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_cap=0.05, max_wait=5.0)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


@pytest.fixture
def gh_repo(github: FakeGitHub) -> FakeRepo:
    return github.add_repo(OWNER, "api-service")


def make_adapter(
    fake: FakeGitHub,
    *,
    retry: RetryPolicy = FAST_RETRY,
    installation_id: str | None = None,
    **options: Any,
) -> GitHub:
    """An adapter for the fake; ``installation_id=""``: none configured (found by the client)."""
    credentials = (
        fake.credentials()
        if installation_id is None
        else fake.credentials(installation_id=installation_id)
    )
    client = GitHubClient(credentials, base_url=fake.url, retry=retry)
    return GitHub(OWNER, credentials, client=client, **options)


def run(fake: FakeGitHub, fn: Callable[[GitHub], Awaitable[Any]], **options: Any) -> Any:
    """Run ``fn(adapter)`` on a fresh event loop with a fresh adapter (no pytest-asyncio)."""

    async def main() -> Any:
        adapter = make_adapter(fake, **options)
        try:
            return await fn(adapter)
        finally:
            await adapter.aclose()

    return asyncio.run(main())
