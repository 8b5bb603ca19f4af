"""JiraClient against the fake Jira: auth, retries, deadlines, non-JSON answers, detection."""

from __future__ import annotations

import asyncio
import base64
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.fake_jira import FakeJira
from tests.jira.support import FakeTime, make_client

from jirahooks.errors import ConfigError, JiraAuthError, JiraError, JiraUnavailable
from jirahooks.jira.client import Deadline, JiraHttpError
from jirahooks.retry import retry_after_seconds
from jirahooks.rules.config import ConnectionConfig, Deployment

Connect = Callable[..., ConnectionConfig]


def _myself(config: ConnectionConfig, **kwargs: Any) -> dict[str, Any]:
    client = make_client(config, **kwargs)
    return asyncio.run(client.myself())


def _error(config: ConnectionConfig, path: str, **kwargs: Any) -> JiraError:
    client = make_client(config, **kwargs)
    with pytest.raises(JiraError) as info:
        asyncio.run(client.request("GET", path))
    return info.value


def test_myself_names_the_account(jira: FakeJira, connect: Connect) -> None:
    me = _myself(connect(jira))
    if jira.deployment == "cloud":
        assert me["accountId"] == jira.user.account_id
        assert jira.count("/rest/api/3/myself") == 1
    else:
        assert me["name"] == jira.user.name
        assert jira.count("/rest/api/2/myself") == 1


def test_cloud_uses_basic_auth_and_datacenter_a_bearer_token(
    jira: FakeJira, connect: Connect
) -> None:
    _myself(connect(jira))
    header = jira.requests[-1].headers["authorization"]
    if jira.deployment == "cloud":
        expected = base64.b64encode(f"{jira.user.email}:{jira.token}".encode()).decode()
        assert header == f"Basic {expected}"
    else:
        assert header == f"Bearer {jira.token}"


def test_context_path_is_kept(dc_jira: FakeJira, connect: Connect) -> None:
    assert dc_jira.url.endswith("/jira")
    _myself(connect(dc_jira))
    assert dc_jira.requests[-1].path == "/rest/api/2/myself"  # the fake strips "/jira"


def test_a_rejected_token_is_an_auth_error_that_says_rotate(
    jira: FakeJira, connect: Connect
) -> None:
    config = connect(jira, token="expired-token-value")
    with pytest.raises(JiraAuthError) as info:
        _myself(config)
    error = info.value
    assert error.code == "JIRA_AUTH_REJECTED"
    assert "401" in error.message
    assert "rotate it" in error.hint
    assert config.token in error.hint  # names the ${ENV} reference to update …
    assert "expired-token-value" not in error.message + error.hint  # … never the secret
    assert jira.count() == 1  # auth failures are not retried


def test_seraph_header_on_a_200_is_an_auth_error(
    jira_factory: Callable[..., FakeJira], connect: Connect
) -> None:
    # Anonymous access on: bad credentials still get 200 — only the header tells.
    fake = jira_factory("cloud", anonymous_access=True)
    config = connect(fake, token="wrong")
    client = make_client(config)
    body = {"issueIdsOrKeys": ["ABC-1"], "fields": ["summary"]}
    with pytest.raises(JiraAuthError) as info:
        asyncio.run(client.request("POST", "/rest/api/3/issue/bulkfetch", json=body))
    assert fake.requests[-1].status == 200
    assert "AUTHENTICATED_FAILED" in info.value.message


def test_captcha_login_reason_has_its_own_hint(cloud_jira: FakeJira, connect: Connect) -> None:
    cloud_jira.seraph_reason = "AUTHENTICATION_DENIED"
    error = _error(connect(cloud_jira), "/rest/api/2/serverInfo")
    assert error.code == "JIRA_AUTH_REJECTED"
    assert "CAPTCHA" in error.hint


def test_403_is_an_auth_error(cloud_jira: FakeJira, connect: Connect) -> None:
    cloud_jira.fail(403)
    assert _error(connect(cloud_jira), "/rest/api/3/myself").code == "JIRA_AUTH_REJECTED"


def test_html_login_page_is_a_bad_response(jira: FakeJira, connect: Connect) -> None:
    jira.serve_html()
    error = _error(connect(jira), "/rest/api/2/serverInfo")
    assert isinstance(error, JiraUnavailable)
    assert error.code == "JIRA_BAD_RESPONSE"
    assert "text/html" in error.message


def test_429_honours_retry_after_exactly(jira: FakeJira, connect: Connect) -> None:
    time = FakeTime()
    jira.fail(429, retry_after="7")
    client = make_client(connect(jira), time=time)
    info = asyncio.run(client.server_info())
    assert info["deploymentType"] in ("Cloud", "Server")
    assert time.sleeps == [7.0]
    assert jira.count("/rest/api/2/serverInfo") == 2
    assert client.stats.retries == 1


def test_429_without_retry_after_backs_off_exponentially_with_jitter(
    cloud_jira: FakeJira, connect: Connect
) -> None:
    time = FakeTime()
    cloud_jira.fail(429, times=3)
    client = make_client(connect(cloud_jira), time=time)
    asyncio.run(client.server_info())
    assert len(time.sleeps) == 3
    base = client.retry.backoff_base
    for attempt, slept in enumerate(time.sleeps, start=1):
        ceiling = min(client.retry.backoff_cap, base * 2 ** (attempt - 1))
        assert ceiling / 2 <= slept <= ceiling


def test_retry_after_past_the_deadline_fails_at_once(jira: FakeJira, connect: Connect) -> None:
    time = FakeTime()
    jira.fail(429, retry_after="30")
    client = make_client(connect(jira), time=time)
    with pytest.raises(JiraUnavailable) as info:
        asyncio.run(client.server_info(Deadline(5.0, clock=time)))
    assert info.value.code == "JIRA_RATE_LIMITED"
    assert time.sleeps == []  # never starts a wait it cannot finish
    assert "deadline" in info.value.hint


def test_503_is_retried_then_reported_unavailable(jira: FakeJira, connect: Connect) -> None:
    time = FakeTime()
    jira.fail(503, times=-1)
    client = make_client(connect(jira), time=time)
    with pytest.raises(JiraUnavailable) as info:
        asyncio.run(client.server_info())
    assert info.value.code == "JIRA_UNAVAILABLE"
    assert jira.count("/rest/api/2/serverInfo") == client.retry.max_attempts
    assert len(time.sleeps) == client.retry.max_attempts - 1


def test_500_is_not_retried(jira: FakeJira, connect: Connect) -> None:
    jira.fail(500)
    error = _error(connect(jira), "/rest/api/2/serverInfo")
    assert error.code == "JIRA_UNAVAILABLE"
    assert "HTTP 500" in error.message
    assert jira.count() == 1


def test_a_hanging_jira_times_out(jira: FakeJira, connect: Connect) -> None:
    jira.hang(30, times=-1)
    config = connect(jira, timeout_seconds=0.2)
    time = FakeTime()
    client = make_client(config, time=time)
    with pytest.raises(JiraUnavailable) as info:
        asyncio.run(client.server_info())
    assert info.value.code == "JIRA_TIMEOUT"
    assert client.stats.requests == client.retry.max_attempts


def test_an_unreachable_jira_is_unavailable(connect: Connect, cloud_jira: FakeJira) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    config = connect(cloud_jira, url=f"http://127.0.0.1:{port}")
    error = _error(config, "/rest/api/2/serverInfo")
    assert error.code == "JIRA_UNAVAILABLE"
    assert "cannot reach" in error.message


def test_an_expired_deadline_sends_nothing(jira: FakeJira, connect: Connect) -> None:
    time = FakeTime()
    client = make_client(connect(jira), time=time)
    deadline = Deadline(1.0, clock=time)
    time.advance(2)
    with pytest.raises(JiraUnavailable) as info:
        asyncio.run(client.server_info(deadline))
    assert info.value.code == "JIRA_TIMEOUT"
    assert jira.count() == 0


def test_cloud_removed_search_answers_410(cloud_jira: FakeJira, connect: Connect) -> None:
    error = _error(connect(cloud_jira), "/rest/api/3/search?jql=project%3DABC")
    assert isinstance(error, JiraHttpError)
    assert error.status == 410
    assert "search/jql" in error.message


def test_deployment_is_detected_once(jira: FakeJira, connect: Connect) -> None:
    config = connect(jira, deployment=Deployment.AUTO)
    client = make_client(config)

    async def twice() -> tuple[Deployment, Deployment]:
        return await client.deployment(), await client.deployment()

    first, second = asyncio.run(twice())
    assert first == second == Deployment(jira.deployment)
    assert jira.count("/rest/api/2/serverInfo") == 1


def test_configured_deployment_skips_detection(jira: FakeJira, connect: Connect) -> None:
    _myself(connect(jira))
    assert jira.count("/rest/api/2/serverInfo") == 0


def test_repr_never_shows_the_secret(cloud_jira: FakeJira, connect: Connect) -> None:
    client = make_client(connect(cloud_jira))
    assert cloud_jira.token not in repr(client)
    assert cloud_jira.token not in repr(client.config)  # the config holds only ${ENV}


def test_pooled_session_reuses_connections(cloud_jira: FakeJira, connect: Connect) -> None:
    client = make_client(connect(cloud_jira))

    async def three() -> None:
        async with client:
            for _ in range(3):
                await client.server_info()

    asyncio.run(three())
    assert cloud_jira.count() == 3


def test_retry_after_accepts_http_dates_and_ratelimit_reset() -> None:
    now = 1_700_000_000.0
    date = "Tue, 14 Nov 2023 22:13:40 GMT"  # now + 20 s
    assert retry_after_seconds(httpx.Headers({"Retry-After": date}), now=now) == 20.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "3"}), now=now) == 3.0
    reset = {"X-RateLimit-Reset": "2023-11-14T22:13:30Z"}  # now + 10 s
    assert retry_after_seconds(httpx.Headers(reset), now=now) == 10.0
    assert retry_after_seconds(httpx.Headers({}), now=now) is None


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (what many Data Center installs use)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "jira.pem", tmp_path / "jira.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def test_custom_ca_bundle_trusts_a_self_signed_jira(
    jira_factory: Callable[..., FakeJira], connect: Connect, certificate: tuple[str, str]
) -> None:
    fake = jira_factory("datacenter", context_path="/jira", tls=certificate)
    assert fake.url.startswith("https://")
    me = _myself(connect(fake, ca_bundle=certificate[0]))
    assert me["name"] == fake.user.name


def test_untrusted_certificate_says_set_ca_bundle(
    jira_factory: Callable[..., FakeJira], connect: Connect, certificate: tuple[str, str]
) -> None:
    fake = jira_factory("datacenter", tls=certificate)
    error = _error(connect(fake), "/rest/api/2/serverInfo")
    assert error.code == "JIRA_UNAVAILABLE"
    assert "certificate not trusted" in error.message
    assert "ca_bundle" in error.hint


def test_unreadable_ca_bundle_is_a_configuration_error(
    cloud_jira: FakeJira, connect: Connect, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as info:
        make_client(connect(cloud_jira, "main", ca_bundle=str(tmp_path / "missing.pem")))
    assert info.value.problems[0].path == "connections[main].ca_bundle"
