"""Every credential kind against the fake Jira (issue 15): what is sent where, the gateway and
its cloudId, OAuth access tokens (one fetch, single-flight, exactly one refresh on 401), and
rejections told apart (expired, revoked/blocked, scope missing, invalid client)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira

from jirahooks.crypto import SecretBox, generate_key
from jirahooks.errors import JiraAuthError, JiraError
from jirahooks.jira import auth
from jirahooks.jira.auth import AccessToken, RedisTokenStore, TokenCache
from jirahooks.jira.client import Deadline, JiraClient, rate_limit_exhausted, rate_limit_wait
from jirahooks.jira.diagnose import diagnose
from jirahooks.rules.config import AuthKind, ConnectionConfig, Deployment

Factory = Callable[..., FakeJira]


@pytest.fixture(autouse=True)
def _fresh_process_state() -> None:
    auth.CLOUD_IDS.clear()
    auth.share_tokens("", None)


def _config(fake: FakeJira, kind: AuthKind, **fields: Any) -> ConnectionConfig:
    values: dict[str, Any] = {
        "name": f"jira-{kind.value}",
        "url": fake.url,
        "deployment": Deployment(fake.deployment),
        "auth": kind,
    }
    if kind in (AuthKind.SCOPED_API_TOKEN, AuthKind.OAUTH_CLIENT_CREDENTIALS):
        values["gateway_url"] = fake.gateway_url
    if kind is AuthKind.OAUTH_CLIENT_CREDENTIALS:
        values["token_url"] = fake.token_url
    values.update(fields)
    return ConnectionConfig(**values)


async def _myself(client: JiraClient) -> dict[str, Any]:
    async with client:
        return await client.myself(Deadline(10))


async def _error(client: JiraClient) -> JiraError:
    with pytest.raises(JiraError) as caught:
        await _myself(client)
    return caught.value


def test_auto_is_the_reference_api_token_at_the_site(cloud_jira: FakeJira) -> None:
    config = _config(cloud_jira, AuthKind.AUTO, email=cloud_jira.user.email)
    me = asyncio.run(_myself(JiraClient(config, secret=cloud_jira.token)))
    assert me["emailAddress"] == cloud_jira.user.email
    request = cloud_jira.requests_to("/rest/api/3/myself")[0]
    assert request.gateway == "" and request.headers["authorization"].startswith("Basic ")


def test_scoped_token_goes_through_the_gateway_with_the_discovered_cloud_id(
    cloud_jira: FakeJira,
) -> None:
    user = cloud_jira.add_scoped_token("svc@serviceaccount.atlassian.com", "scoped-1")
    config = _config(cloud_jira, AuthKind.SCOPED_API_TOKEN, email=user.email)
    client = JiraClient(config, secret="scoped-1")
    me = asyncio.run(_myself(client))
    assert me["emailAddress"] == user.email
    assert client.cloud_id == cloud_jira.cloud_id
    assert cloud_jira.count("/_edge/tenant_info") == 1
    assert cloud_jira.requests_to("/rest/api/3/myself")[0].gateway == cloud_jira.cloud_id
    # the same token at the site URL is refused (Atlassian: scoped tokens only via the gateway)
    site = _config(cloud_jira, AuthKind.API_TOKEN, email=user.email)
    assert asyncio.run(_error(JiraClient(site, secret="scoped-1"))).code == "JIRA_AUTH_REJECTED"


def test_a_missing_scope_is_named(cloud_jira: FakeJira) -> None:
    cloud_jira.add_scoped_token("svc@x.test", "scoped-2", scopes=("read:jira-user",))
    config = _config(
        cloud_jira, AuthKind.SCOPED_API_TOKEN, email="svc@x.test", cloud_id=cloud_jira.cloud_id
    )

    async def search() -> JiraError:
        async with JiraClient(config, secret="scoped-2") as client:
            with pytest.raises(JiraError) as caught:
                await client.request("POST", "/rest/api/3/search/jql", json={"jql": "key = A-1"})
            return caught.value

    error = asyncio.run(search())
    assert error.code == "JIRA_SCOPE_MISSING"
    assert "scope missing: read:jira-work" in error.message
    assert cloud_jira.count("/_edge/tenant_info") == 0  # a configured cloudId is used as is


def test_oauth_cloud_fetches_one_token_for_concurrent_requests(cloud_jira: FakeJira) -> None:
    cloud_jira.add_oauth_client("cid", "csecret")
    config = _config(cloud_jira, AuthKind.OAUTH_CLIENT_CREDENTIALS, client_id="cid")

    async def many() -> list[Any]:
        async with JiraClient(config, secret="", client_secret="csecret") as client:
            return await asyncio.gather(*(client.myself(Deadline(10)) for _ in range(8)))

    answers = asyncio.run(many())
    assert {a["accountId"] for a in answers} == {"cid"}
    assert cloud_jira.creds.token_requests == 1
    token_request = cloud_jira.requests_to("/oauth/token")[0]
    assert token_request.body["grant_type"] == "client_credentials"
    assert "authorization" not in token_request.headers
    calls = cloud_jira.requests_to("/rest/api/3/myself")
    assert all(r.headers["authorization"].startswith("Bearer fake-access-") for r in calls)
    assert all(r.gateway == cloud_jira.cloud_id for r in calls)


def test_an_expired_access_token_triggers_exactly_one_refresh(cloud_jira: FakeJira) -> None:
    cloud_jira.add_oauth_client("cid", "csecret")
    config = _config(cloud_jira, AuthKind.OAUTH_CLIENT_CREDENTIALS, client_id="cid")

    async def run() -> tuple[int, int]:
        async with JiraClient(config, secret="", client_secret="csecret") as client:
            await client.myself(Deadline(10))
            cloud_jira.expire_access_tokens()
            answers = await asyncio.gather(*(client.myself(Deadline(10)) for _ in range(6)))
            assert len(answers) == 6
            return client.token_refreshes, cloud_jira.creds.token_requests

    refreshes, fetched = asyncio.run(run())
    assert fetched == 2  # the first token, and one refresh shared by the six requests
    assert refreshes >= 1


def test_a_token_rejected_again_after_the_refresh_is_an_error(cloud_jira: FakeJira) -> None:
    cloud_jira.add_oauth_client("cid", "csecret", lifetime=3600)
    config = _config(cloud_jira, AuthKind.OAUTH_CLIENT_CREDENTIALS, client_id="cid")
    cloud_jira.fail(
        401, times=-1, path="/rest/api/3/myself", body='{"code":401,"message":"Unauthorized"}'
    )
    error = asyncio.run(_error(JiraClient(config, secret="", client_secret="csecret")))
    assert isinstance(error, JiraAuthError)
    assert cloud_jira.creds.token_requests == 2  # one refresh, not a loop
    assert cloud_jira.count("/rest/api/3/myself") == 2


def test_invalid_client_and_invalid_scope_from_the_token_endpoint(cloud_jira: FakeJira) -> None:
    cloud_jira.add_oauth_client("cid", "csecret", scopes=("read:jira-user",))
    wrong = _config(cloud_jira, AuthKind.OAUTH_CLIENT_CREDENTIALS, client_id="cid")
    error = asyncio.run(_error(JiraClient(wrong, secret="", client_secret="nope")))
    assert error.code == "OAUTH_CLIENT_REJECTED" and "invalid_client" in error.message
    assert "nope" not in error.message + error.hint
    scoped = _config(
        cloud_jira,
        AuthKind.OAUTH_CLIENT_CREDENTIALS,
        client_id="cid",
        scopes="read:jira-work read:jira-user",
    )
    error = asyncio.run(_error(JiraClient(scoped, secret="", client_secret="csecret")))
    assert error.code == "JIRA_SCOPE_MISSING" and "scope missing" in error.message


def test_oauth_data_center_posts_a_form_to_the_base_url(dc_jira: FakeJira) -> None:
    dc_jira.add_oauth_client("dc-cid", "dc-secret", scopes=("READ",))
    config = _config(dc_jira, AuthKind.OAUTH_CLIENT_CREDENTIALS, client_id="dc-cid", token_url="")
    me = asyncio.run(_myself(JiraClient(config, secret="", client_secret="dc-secret")))
    assert me["name"] == "svc-dc-cid"
    token_request = dc_jira.requests_to("/rest/oauth2/latest/token")[0]
    assert isinstance(token_request.body, str) and "scope=READ" in token_request.body
    assert token_request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert dc_jira.requests_to("/rest/api/2/myself")[0].gateway == ""


def test_pat_only_data_center_refuses_basic(dc_jira: FakeJira) -> None:
    dc_jira.creds.basic_auth = False
    pat = _config(dc_jira, AuthKind.PAT)
    assert asyncio.run(_myself(JiraClient(pat, secret=dc_jira.token)))["name"] == dc_jira.user.name
    basic = _config(dc_jira, AuthKind.BASIC, email=dc_jira.user.name)
    error = asyncio.run(_error(JiraClient(basic, secret=dc_jira.token)))
    assert error.code == "JIRA_BASIC_AUTH_DISABLED"
    assert "personal access token" in error.hint


def test_basic_is_accepted_with_a_warning(dc_jira: FakeJira) -> None:
    basic = _config(dc_jira, AuthKind.BASIC, email=dc_jira.user.name)
    found = asyncio.run(diagnose(JiraClient(basic, secret=dc_jira.token), 10))
    assert found.me["name"] == dc_jira.user.name
    assert [p.code for p in found.problems] == []
    assert any("basic authentication" in w for w in found.warnings)


def test_a_blocked_token_says_revoked_or_blocked(cloud_jira: FakeJira) -> None:
    cloud_jira.block_token(cloud_jira.token)
    config = _config(cloud_jira, AuthKind.API_TOKEN, email=cloud_jira.user.email)
    error = asyncio.run(_error(JiraClient(config, secret=cloud_jira.token)))
    assert error.code == "TOKEN_REVOKED"
    assert "revoked or blocked by your organisation" in error.message


def test_diagnose_reports_the_oauth_rejection(cloud_jira: FakeJira) -> None:
    cloud_jira.add_oauth_client("cid", "csecret")
    cloud_jira.revoke_oauth_client("cid")
    config = _config(cloud_jira, AuthKind.OAUTH_CLIENT_CREDENTIALS, client_id="cid")
    found = asyncio.run(diagnose(JiraClient(config, secret="", client_secret="csecret"), 10))
    assert found.problems[0].code == "OAUTH_CLIENT_REJECTED"


def test_health_observer_hears_success_and_rejection(cloud_jira: FakeJira) -> None:
    heard: list[tuple[str, str]] = []

    class Health:
        def ok(self, connection: str) -> None:
            heard.append((connection, "ok"))

        def failed(self, connection: str, error: JiraError) -> None:
            heard.append((connection, error.code))

    config = _config(cloud_jira, AuthKind.API_TOKEN, email=cloud_jira.user.email)
    asyncio.run(_myself(JiraClient(config, secret=cloud_jira.token, health=Health())))
    asyncio.run(_error(JiraClient(config, secret="wrong", health=Health())))
    assert heard == [("jira-api_token", "ok"), ("jira-api_token", "JIRA_AUTH_REJECTED")]


def test_rate_limit_headers() -> None:
    assert rate_limit_wait({"retry-after": "3"}) == 3.0
    assert rate_limit_wait({"ratelimit-reset": "7"}) == 7.0
    assert rate_limit_wait({}) is None
    assert rate_limit_exhausted({"x-ratelimit-remaining": "0"})
    assert rate_limit_exhausted({"ratelimit-remaining": "0"})
    assert not rate_limit_exhausted({"x-ratelimit-remaining": "12"})


def test_an_exhausted_window_pauses_the_budget_for_oauth_too(cloud_jira: FakeJira) -> None:
    cloud_jira.add_oauth_client("cid", "csecret")
    config = _config(
        cloud_jira, AuthKind.OAUTH_CLIENT_CREDENTIALS, client_id="cid", budget_per_minute=1000
    )
    cloud_jira.fail(
        200,
        path="/rest/api/3/myself",
        headers={"X-RateLimit-Remaining": "0", "RateLimit-Reset": "30"},
        body='{"accountId": "cid"}',
    )
    client = JiraClient(config, secret="", client_secret="csecret")
    asyncio.run(_myself(client))
    assert client.budget is not None
    assert client.budget._paused_until > client.budget._clock() + 20


def test_requests_to_one_instance_are_bounded_across_clients(jira_factory: Factory) -> None:
    fake = jira_factory("cloud", latency=0.05)
    config = _config(fake, AuthKind.API_TOKEN, email=fake.user.email, max_concurrency=2)

    async def run() -> None:
        clients = [JiraClient(config, secret=fake.token) for _ in range(3)]
        async with clients[0], clients[1], clients[2]:
            await asyncio.gather(*(c.myself(Deadline(20)) for c in clients for _ in range(3)))

    asyncio.run(run())
    assert fake.peak_in_flight <= 2
    assert fake.count("/rest/api/3/myself") == 9


@pytest.fixture
def redis_prefix() -> str:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            pass
    except OSError:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379 (make test starts it)")
    return f"jirahooks-test-{uuid.uuid4().hex}"


def test_tokens_are_shared_through_redis_encrypted(redis_prefix: str) -> None:
    box = SecretBox([generate_key()])
    url = "redis://127.0.0.1:6379/0"

    async def run() -> tuple[int, int, str]:
        stores = [RedisTokenStore(url, box, prefix=redis_prefix) for _ in range(2)]
        first, second = TokenCache(stores[0]), TokenCache(stores[1])
        fetched: list[int] = []

        async def fetch() -> AccessToken:
            fetched.append(1)
            return AccessToken("secret-access-token", auth.time.time() + 3600, 3600)

        a = await first.token("k", fetch)
        b = await second.token("k", fetch)
        assert a.value == b.value == "secret-access-token"
        import redis.asyncio

        reader = redis.asyncio.Redis.from_url(url, decode_responses=True)
        raw = await reader.get(redis_prefix + ":oauth:k")
        await reader.aclose()
        # a rejected token is dropped everywhere and fetched again once
        c = await second.token("k", fetch, rejected="secret-access-token")
        assert c.value == "secret-access-token"
        for store in stores:
            await store.aclose()
        return len(fetched), first.fetches + second.fetches, raw or ""

    fetched, counted, raw = asyncio.run(run())
    assert fetched == 2 and counted == 2
    assert raw and "secret-access-token" not in raw
    assert "secret-access-token" in box.decrypt(raw)


def test_single_flight_shares_one_fetch_and_survives_a_cancelled_fetcher() -> None:
    cache = TokenCache()
    started = asyncio.Event()
    release = asyncio.Event()
    calls: list[int] = []

    async def slow() -> AccessToken:
        calls.append(1)
        started.set()
        await release.wait()
        return AccessToken(f"t{len(calls)}", auth.time.time() + 3600, 3600)

    async def run() -> list[str]:
        first = asyncio.create_task(cache.token("k", slow))
        await started.wait()
        waiters = [asyncio.create_task(cache.token("k", slow)) for _ in range(5)]
        await asyncio.sleep(0)
        first.cancel()  # the caller that fetches gives up (its deadline)
        started.clear()
        await started.wait()  # one waiter fetches again
        release.set()
        return [t.value for t in await asyncio.gather(*waiters)]

    values = asyncio.run(run())
    assert values == ["t2"] * 5
    assert len(calls) == 2 and cache.fetches == 2


def test_a_failed_fetch_reaches_every_waiter_and_is_not_cached() -> None:
    cache = TokenCache()
    calls: list[int] = []

    async def failing() -> AccessToken:
        calls.append(1)
        await asyncio.sleep(0.01)
        raise JiraAuthError("rejected", code="OAUTH_CLIENT_REJECTED")

    async def run() -> list[BaseException | AccessToken]:
        return await asyncio.gather(
            *(cache.token("k", failing) for _ in range(4)), return_exceptions=True
        )

    results = asyncio.run(run())
    assert all(isinstance(r, JiraAuthError) for r in results)
    assert len(calls) == 1
    asyncio.run(run())
    assert len(calls) == 2  # tried again: errors are not cached


def test_the_token_endpoint_is_retried_when_overloaded(cloud_jira: FakeJira) -> None:
    cloud_jira.add_oauth_client("cid", "csecret")
    cloud_jira.fail(503, path="/oauth/token", retry_after="0")
    config = _config(cloud_jira, AuthKind.OAUTH_CLIENT_CREDENTIALS, client_id="cid")
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    me = asyncio.run(_myself(JiraClient(config, secret="", client_secret="csecret", sleep=sleep)))
    assert me["accountId"] == "cid"
    assert cloud_jira.count("/oauth/token") == 2 and slept == [0.0]


@pytest.mark.parametrize(
    ("connection", "path"),
    [
        ({"auth": "oauth_client_credentials", "client_id": "x"}, "connections[0].client_secret"),
        ({"auth": "scoped_api_token", "token": "${T}"}, "connections[0].email"),
        ({"auth": "pat", "deployment": "cloud", "token": "${T}"}, "connections[0].auth"),
        ({"auth": "kerberos"}, "connections[0].auth"),
    ],
)
def test_the_document_names_what_a_kind_is_missing(connection: dict[str, Any], path: str) -> None:
    from jirahooks.errors import ConfigError
    from jirahooks.rules.config import load_document

    with pytest.raises(ConfigError) as caught:
        load_document({"connections": [{"name": "j", "url": "https://a.example", **connection}]})
    assert path in [p.path for p in caught.value.problems]


def test_a_hanging_token_endpoint_stays_within_the_deadline(cloud_jira: FakeJira) -> None:
    cloud_jira.add_oauth_client("cid", "csecret")
    cloud_jira.hang(5.0, times=-1, path="/oauth/token")
    config = _config(
        cloud_jira, AuthKind.OAUTH_CLIENT_CREDENTIALS, client_id="cid", timeout_seconds=30
    )

    async def run() -> JiraError:
        async with JiraClient(config, secret="", client_secret="csecret") as client:
            with pytest.raises(JiraError) as caught:
                await client.myself(Deadline(0.3))
            return caught.value

    error = asyncio.run(run())
    assert error.code == "JIRA_TIMEOUT"
    assert cloud_jira.count("/oauth/token") == 1  # no retry the deadline cannot cover
