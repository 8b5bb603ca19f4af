"""Rate limits are read for every credential kind (issue 15: "Cloud's ``Retry-After`` and the
``RateLimit-*``/``X-RateLimit-*`` headers are read for every credential kind"): a 429 with
``Retry-After`` is waited out and retried, and an answer saying the window is exhausted pauses
the connection's budget — whether the request went to the site with a personal API token,
through the gateway with a scoped token or a Cloud OAuth access token, or to Data Center with
a PAT, basic auth or a Data Center OAuth access token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira

from jirahooks.jira import auth
from jirahooks.jira.client import Deadline, JiraClient
from jirahooks.rules.config import AuthKind, ConnectionConfig, Deployment

Factory = Callable[..., FakeJira]


@pytest.fixture(autouse=True)
def _fresh_process_state() -> None:
    auth.CLOUD_IDS.clear()
    auth.share_tokens("", None)


def _client(fake: FakeJira, kind: str, sleep: Any = asyncio.sleep, **extra: Any) -> JiraClient:
    values: dict[str, Any] = {
        "name": f"jira-{kind}",
        "url": fake.url,
        "deployment": Deployment(fake.deployment),
        **extra,
    }
    secret, client_secret = fake.token, ""
    if kind == "api_token":
        values |= {"auth": AuthKind.API_TOKEN, "email": fake.user.email}
    elif kind == "scoped_api_token":
        fake.add_scoped_token("svc@serviceaccount.atlassian.com", "scoped-rl")
        values |= {
            "auth": AuthKind.SCOPED_API_TOKEN,
            "email": "svc@serviceaccount.atlassian.com",
            "gateway_url": fake.gateway_url,
        }
        secret = "scoped-rl"
    elif kind.startswith("oauth"):
        fake.add_oauth_client("rl-client", "rl-secret")
        values |= {
            "auth": AuthKind.OAUTH_CLIENT_CREDENTIALS,
            "client_id": "rl-client",
            "token_url": fake.token_url,
            "gateway_url": fake.gateway_url,
        }
        secret, client_secret = "", "rl-secret"
    elif kind == "pat":
        fake.creds.basic_auth = False
        values |= {"auth": AuthKind.PAT}
    else:
        values |= {"auth": AuthKind.BASIC, "email": fake.user.name}
    return JiraClient(
        ConnectionConfig(**values), secret=secret, client_secret=client_secret, sleep=sleep
    )


KINDS = {
    "api_token": "cloud",
    "scoped_api_token": "cloud",
    "oauth_cloud": "cloud",
    "oauth_datacenter": "datacenter",
    "pat": "datacenter",
    "basic": "datacenter",
}


def _fake(jira_factory: Factory, kind: str) -> FakeJira:
    deployment = KINDS[kind]
    return jira_factory(deployment, context_path="" if deployment == "cloud" else "/jira")


async def _myself(client: JiraClient) -> dict[str, Any]:
    async with client:
        return await client.myself(Deadline(30))


@pytest.mark.parametrize("kind", list(KINDS))
def test_retry_after_is_waited_out_for_every_kind(jira_factory: Factory, kind: str) -> None:
    fake = _fake(jira_factory, kind)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    client = _client(fake, kind, sleep)
    fake.fail(429, path="/myself", retry_after="7")
    me = asyncio.run(_myself(client))
    assert me
    assert 7.0 in slept, slept
    answered = [r for r in fake.requests if r.path.endswith("/myself")]
    assert [r.status for r in answered] == [429, 200]
    assert len({r.headers["authorization"] for r in answered}) == 1  # same credential, retried


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_exhausted_window_pauses_the_budget_for_every_kind(
    jira_factory: Factory, kind: str
) -> None:
    fake = _fake(jira_factory, kind)
    client = _client(fake, kind, budget_per_minute=1000)
    me = asyncio.run(_myself(client))  # the answer Jira gives this credential, to replay it
    fake.fail(
        200,
        path="/myself",
        headers={"X-RateLimit-Remaining": "0", "RateLimit-Reset": "30"},
        body=json.dumps(me),
    )
    asyncio.run(_myself(client))
    assert client.budget is not None
    assert client.budget._paused_until > client.budget._clock() + 20
