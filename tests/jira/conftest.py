"""Fixtures for the Jira adapter: fake Jiras on real ports, connections to them, fake time."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira

from jirahooks.rules.config import ConnectionConfig, Deployment


@pytest.fixture
def jira_factory() -> Iterator[Callable[..., FakeJira]]:
    """``jira_factory("cloud" | "datacenter", **options)`` → a started FakeJira."""
    started: list[FakeJira] = []

    def make(deployment: str = "cloud", **options: Any) -> FakeJira:
        fake = FakeJira(deployment, **options).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


@pytest.fixture
def cloud_jira(jira_factory: Callable[..., FakeJira]) -> FakeJira:
    return jira_factory("cloud")


@pytest.fixture
def dc_jira(jira_factory: Callable[..., FakeJira]) -> FakeJira:
    return jira_factory("datacenter", context_path="/jira")


@pytest.fixture(params=["cloud", "datacenter"])
def jira(request: pytest.FixtureRequest, jira_factory: Callable[..., FakeJira]) -> FakeJira:
    """Each test using it runs against Jira Cloud and against Data Center (context path)."""
    if request.param == "cloud":
        return jira_factory("cloud")
    return jira_factory("datacenter", context_path="/jira")


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Callable[..., ConnectionConfig]:
    """``connect(fake, name=…, token=…, **fields)`` → a ConnectionConfig whose token is an
    ``${ENV}`` reference set for this test."""
    numbers = itertools.count(1)

    def make(
        fake: FakeJira, name: str | None = None, *, token: str | None = None, **fields: Any
    ) -> ConnectionConfig:
        n = next(numbers)
        variable = f"JIRAHOOKS_TEST_TOKEN_{n}"
        monkeypatch.setenv(variable, fake.token if token is None else token)
        values: dict[str, Any] = {
            "name": name or f"jira-{n}",
            "url": fake.url,
            "deployment": Deployment(fake.deployment),
            "email": fake.user.email if fake.deployment == "cloud" else "",
            "token": "${" + variable + "}",
        }
        values.update(fields)
        return ConnectionConfig(**values)

    return make
