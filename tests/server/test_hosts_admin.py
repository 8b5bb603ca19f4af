"""The hosts' settings API (``/workspaces/{ws}/platforms/{platform}``) for GitHub, GitLab and
Bitbucket Data Center, against their fakes (real HTTP servers on 127.0.0.1), on SQLite and
PostgreSQL: a PUT is stored encrypted and no answer or log line carries a secret; bad values are
422 with the field, a hint and every problem; moving a stored token elsewhere needs it again;
``/test`` reports what the host answered — OK with good credentials, 401 with a hint with bad
ones; an unknown platform is 404 with code, message and hint."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select
from tests.fakes import fake_bitbucket_dc, fake_github, fake_gitlab
from tests.server.conftest import WS, Server

from jirahooks.platforms import registry
from jirahooks.server.host_settings import adapter_config, key_fingerprint
from jirahooks.store.deliveries import PlatformConfig

W = f"/workspaces/{WS}/platforms"
HOOK_SECRET = "hook-SECRET-never-shown"


def _other_rsa_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@dataclass
class Host:
    """One host's fake and the settings that work (or do not) against it."""

    platform: str
    good: dict[str, Any]
    bad_secret: dict[str, Any]  # the credential replaced by one the host refuses
    secret_field: str
    scope_field: str  # a field the stored token is bound to
    scope_value: str = "other"

    @property
    def secrets(self) -> list[str]:
        return [self.good[self.secret_field], HOOK_SECRET]


def _github(fake: fake_github.FakeGitHub) -> Host:
    fake.add_repo("acme", "api")
    good = {
        "api_url": fake.url,
        "app_id": fake_github.APP_ID,
        "installation_id": fake_github.INSTALLATION_ID,
        "owner": "acme",
        "private_key": fake_github.app_key_pem(),
        "webhook_secret": HOOK_SECRET,
    }
    return Host(
        "github",
        good,
        {**good, "private_key": _other_rsa_key()},
        "private_key",
        "installation_id",
        "777",
    )


def _gitlab(fake: fake_gitlab.FakeGitLab) -> Host:
    fake.add_project("acme/api")
    good = {
        "api_url": fake.url,
        "namespace": "acme",
        "token": fake_gitlab.TOKEN,
        "webhook_secret": HOOK_SECRET,
    }
    return Host("gitlab", good, {**good, "token": "glpat-revoked"}, "token", "namespace")


def _bitbucket_dc(fake: fake_bitbucket_dc.FakeBitbucketDC) -> Host:
    fake.add_repo("PRJ", "api")
    good = {
        "api_url": fake.url,
        "project_key": "PRJ",
        "token": fake_bitbucket_dc.HTTP_ACCESS_TOKEN,
        "webhook_secret": HOOK_SECRET,
    }
    return Host("bitbucket-dc", good, {**good, "token": "revoked"}, "token", "project_key")


FAKES: dict[str, tuple[Callable[[], Any], Callable[[Any], Host]]] = {
    "github": (fake_github.FakeGitHub, _github),
    "gitlab": (fake_gitlab.FakeGitLab, _gitlab),
    "bitbucket-dc": (fake_bitbucket_dc.FakeBitbucketDC, _bitbucket_dc),
}


@pytest.fixture(params=list(FAKES))
def host(request: pytest.FixtureRequest) -> Iterator[Host]:
    make, describe = FAKES[request.param]
    with make() as fake:
        yield describe(fake)


def _row(server: Server, platform: str) -> PlatformConfig:
    async def read() -> PlatformConfig:
        async with server.state.database.session() as session:
            found = await session.execute(
                select(PlatformConfig).where(PlatformConfig.platform == platform)
            )
            return found.scalar_one()

    return server.client.portal.call(read)  # type: ignore[union-attr]


def test_put_get_store_encrypted_and_never_show_a_secret(
    server: Server, host: Host, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    empty = server.ok("GET", f"{W}/{host.platform}")
    assert empty["configured"] is False
    put = server.call("PUT", f"{W}/{host.platform}", json=host.good)
    assert put.status_code == 200, put.text
    got = server.call("GET", f"{W}/{host.platform}")
    for answer in (put, got):
        body = answer.json()
        assert body["configured"] is True
        assert body["secrets"] == {host.secret_field: True, "webhook_secret": True}
        assert body["settings"]["api_url"] == host.good["api_url"]
        # the PR pipeline takes the webhooks of a registered host: no "not processed" warning
        wired = host.platform in registry.HOSTS
        assert any("not processed yet" in w for w in body["warnings"]) is not wired
        for secret in host.secrets:
            assert secret.strip() not in answer.text
    row = _row(server, host.platform)
    for secret in host.secrets:
        assert secret.strip() not in row.token_encrypted + row.webhook_secret_encrypted
        assert secret.strip() not in str(row.settings)
    config = adapter_config(host.platform, row, server.state.secrets)
    assert config.webhook_secret == HOOK_SECRET
    assert HOOK_SECRET not in repr(config)
    tested = server.ok("POST", f"{W}/{host.platform}/test")
    assert tested["ok"] is True, tested
    assert tested["code"] == "OK" and tested["status"] == 200
    # the hint says where the webhooks go, or that they are not processed yet
    assert ("not processed yet" in tested["hint"]) is not wired
    assert (f"/webhooks/{host.platform}/" in tested["hint"]) is wired
    for secret in host.secrets:
        assert secret.strip() not in caplog.text
        assert secret.strip() not in str(tested)
    audit = server.ok("GET", f"/workspaces/{WS}/audit")
    for secret in host.secrets:
        assert secret.strip() not in str(audit)


def test_bad_credentials_are_reported_with_the_hosts_401_and_a_hint(
    server: Server, host: Host
) -> None:
    server.ok("PUT", f"{W}/{host.platform}", json=host.bad_secret)
    tested = server.ok("POST", f"{W}/{host.platform}/test")
    assert tested["ok"] is False
    assert tested["status"] == 401, tested
    assert tested["code"] == "AUTH_REJECTED"
    assert tested["hint"]


def test_put_without_a_secret_keeps_it_and_empty_clears_it(server: Server, host: Host) -> None:
    server.ok("PUT", f"{W}/{host.platform}", json=host.good)
    kept = {k: v for k, v in host.good.items() if k not in (host.secret_field, "webhook_secret")}
    assert server.ok("PUT", f"{W}/{host.platform}", json=kept)["secrets"][host.secret_field]
    assert server.ok("POST", f"{W}/{host.platform}/test")["ok"] is True
    cleared = server.ok("PUT", f"{W}/{host.platform}", json={**kept, "webhook_secret": ""})
    assert cleared["secrets"]["webhook_secret"] is False
    assert cleared["secrets"][host.secret_field] is True


def test_moving_the_stored_token_elsewhere_needs_it_again(server: Server, host: Host) -> None:
    server.ok("PUT", f"{W}/{host.platform}", json=host.good)
    moved = {k: v for k, v in host.good.items() if k != host.secret_field}
    moved[host.scope_field] = host.scope_value
    refused = server.call("PUT", f"{W}/{host.platform}", json=moved)
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert body["code"] == "TOKEN_REQUIRED"
    assert host.scope_field in body["message"] and body["hint"]
    after = server.ok("GET", f"{W}/{host.platform}")
    assert after["settings"][host.scope_field] == host.good[host.scope_field]
    with_secret = {**moved, host.secret_field: host.good[host.secret_field]}
    assert (
        server.ok("PUT", f"{W}/{host.platform}", json=with_secret)["settings"][host.scope_field]
        == host.scope_value
    )


def test_delete_removes_the_settings(server: Server, host: Host) -> None:
    server.ok("PUT", f"{W}/{host.platform}", json=host.good)
    assert server.call("DELETE", f"{W}/{host.platform}").status_code == 204
    assert server.ok("GET", f"{W}/{host.platform}")["configured"] is False
    missing = server.call("POST", f"{W}/{host.platform}/test")
    assert missing.status_code == 404
    assert missing.json()["code"] == "PLATFORM_NOT_CONFIGURED"


def _problem(server: Server, platform: str, body: dict[str, Any]) -> dict[str, Any]:
    response = server.call("PUT", f"{W}/{platform}", json=body)
    assert response.status_code == 422, response.text
    answer: dict[str, Any] = response.json()
    assert answer["code"] == "SETTINGS_INVALID"
    assert answer["message"] and answer["hint"]
    return answer


@pytest.mark.parametrize(
    ("platform", "body", "path"),
    [
        ("github", {"app_id": "1", "installation_id": "2"}, "owner"),
        ("github", {"app_id": "1", "installation_id": "x", "owner": "acme"}, "installation_id"),
        ("github", {"app_id": "1", "installation_id": "2", "owner": "a b"}, "owner"),
        ("github", {"app_id": "1", "owner": "acme", "use_checks": "maybe"}, "use_checks"),
        ("github", {"app_id": "1", "owner": "acme", "use_checks": 0}, "use_checks"),
        (
            "github",
            {"app_id": "1", "installation_id": "2", "owner": "a", "api_url": "ftp://x"},
            "api_url",
        ),
        (
            "github",
            {"app_id": "1", "installation_id": "2", "owner": "a", "private_key": "not a key"},
            "private_key",
        ),
        ("gitlab", {"api_url": "https://gitlab.example.com?x=1"}, "api_url"),
        ("gitlab", {"namespace": "/acme/"}, "namespace"),
        ("gitlab", {"token_header": "basic"}, "token_header"),
        ("gitlab", {"tokn": "x"}, "tokn"),
        ("bitbucket-dc", {"project_key": "PRJ"}, "api_url"),
        (
            "bitbucket-dc",
            {"api_url": "https://git.example.com", "project_key": "P R"},
            "project_key",
        ),
        ("bitbucket-dc", {"api_url": "https://git.example.com"}, "project_key"),
    ],
)
def test_invalid_settings_are_422_naming_the_field(
    server: Server, platform: str, body: dict[str, Any], path: str
) -> None:
    answer = _problem(server, platform, body)
    assert path in [p["path"] for p in answer["problems"]], answer
    assert server.ok("GET", f"{W}/{platform}")["configured"] is False


def test_every_problem_is_listed(server: Server) -> None:
    answer = _problem(server, "bitbucket-dc", {"api_url": "x", "project_key": "1"})
    assert {p["path"] for p in answer["problems"]} == {"api_url", "project_key"}


@pytest.mark.parametrize(
    ("key", "why"),
    [
        (
            ec.generate_private_key(ec.SECP256R1())
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            .decode(),
            "not an RSA key",
        ),
        (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"pw"),
            )
            .decode(),
            "encrypted",
        ),
    ],
    ids=["ec-key", "encrypted-key"],
)
def test_a_private_key_github_cannot_use_is_refused_early(
    server: Server, key: str, why: str
) -> None:
    body = {"app_id": "1", "installation_id": "2", "owner": "acme", "private_key": key}
    answer = _problem(server, "github", body)
    assert answer["message"].startswith("private_key:") and why in answer["message"]
    assert key.splitlines()[1] not in str(answer)  # no part of the key comes back


def test_github_shows_the_keys_fingerprint_as_github_does(server: Server) -> None:
    body = {
        "app_id": "1",
        "installation_id": "2",
        "owner": "acme",
        "private_key": fake_github.app_key_pem(),
    }
    shown = server.ok("PUT", f"{W}/github", json=body)
    assert shown["key_fingerprint"] == key_fingerprint(fake_github.app_key_pem())
    assert shown["key_fingerprint"].startswith("SHA256:")


def test_github_unknown_installation_gets_a_hint_naming_it(server: Server) -> None:
    with fake_github.FakeGitHub() as fake:
        body = {
            "api_url": fake.url,
            "app_id": fake_github.APP_ID,
            "installation_id": "999",
            "owner": "acme",
            "private_key": fake_github.app_key_pem(),
        }
        server.ok("PUT", f"{W}/github", json=body)
        tested = server.ok("POST", f"{W}/github/test")
    assert tested["ok"] is False and tested["status"] == 404
    assert "installation_id" in tested["hint"] and "999" in tested["hint"]
    assert tested["checked"] == ["GET /app (App JWT)"]


@pytest.mark.parametrize(("given", "kept"), [(False, "false"), ("TRUE", "true"), (None, "true")])
def test_github_use_checks_is_a_boolean_defaulting_to_true(
    server: Server, given: Any, kept: str
) -> None:
    body: dict[str, Any] = {"app_id": "1", "owner": "acme"}
    if given is not None:
        body["use_checks"] = given
    shown = server.ok("PUT", f"{W}/github", json=body)
    assert shown["settings"]["use_checks"] == kept
    assert shown["settings"]["installation_id"] == ""  # optional: found from the owner


def test_github_test_finds_the_installation_from_the_owner(server: Server) -> None:
    with fake_github.FakeGitHub() as fake:
        fake.add_repo("acme", "api")
        body = {
            "api_url": fake.url,
            "app_id": fake_github.APP_ID,
            "owner": "acme",
            "private_key": fake_github.app_key_pem(),
        }
        server.ok("PUT", f"{W}/github", json=body)
        tested = server.ok("POST", f"{W}/github/test")
    assert tested["ok"] is True, tested
    assert tested["checked"] == [
        "GET /app (App JWT)",
        "GET /app/installations (App JWT)",
        f"POST /app/installations/{fake_github.INSTALLATION_ID}/access_tokens",
    ]
    assert f"installation {fake_github.INSTALLATION_ID} was found" in tested["message"]


def test_no_token_stored_is_said_without_asking_the_host(server: Server) -> None:
    server.ok("PUT", f"{W}/gitlab", json={"api_url": "http://127.0.0.1:9"})
    tested = server.ok("POST", f"{W}/gitlab/test")
    assert tested["code"] == "NO_TOKEN" and tested["status"] == 0 and tested["hint"]


def test_an_unreachable_host_is_unavailable_not_a_500(server: Server) -> None:
    server.ok("PUT", f"{W}/gitlab", json={"api_url": "http://127.0.0.1:9", "token": "t"})
    tested = server.ok("POST", f"{W}/gitlab/test")
    assert tested["ok"] is False and tested["code"] == "UNAVAILABLE" and tested["hint"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("platform", ["bitbucket-server", "bitbucket-cloud", "gitea"])
def test_unknown_platform_is_404_with_code_message_hint(
    server: Server, method: str, platform: str
) -> None:
    response = server.call(method, f"{W}/{platform}", json={})
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "PLATFORM_UNKNOWN"
    assert platform in body["message"]
    assert "github" in body["hint"] and "gitlab" in body["hint"] and "bitbucket-dc" in body["hint"]


@pytest.mark.parametrize(
    "body",
    [
        {"token": "glpat-SECRET\x00x"},
        {"token": "glpat-SECRET\nx"},
        {"token": 42},
        {"api_url": "https://gitlab.example.com", "token": "x" * 10_001},
    ],
    ids=["nul", "line-break", "not-text", "too-long"],
)
def test_unusable_text_is_refused_without_echoing_the_secret(
    server: Server, body: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = server.call("PUT", f"{W}/gitlab", json=body)
    assert response.status_code == 422, response.text
    answer = response.json()
    # a NUL is refused at the boundary, for every endpoint alike (REQUEST_INVALID)
    assert answer["code"] in ("SETTINGS_INVALID", "REQUEST_INVALID") and answer["hint"]
    assert "token" in str(answer["problems"])
    assert "glpat-SECRET" not in response.text and "glpat-SECRET" not in caplog.text
    assert server.ok("GET", f"{W}/gitlab")["configured"] is False


@pytest.mark.parametrize("raw", ['"glpat-SECRET"', '["glpat-SECRET"]', "{not json"])
def test_a_body_that_is_not_an_object_is_422_without_echo(server: Server, raw: str) -> None:
    response = server.call(
        "PUT", f"{W}/gitlab", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert {"code", "message", "hint"} <= set(response.json())
    assert "glpat-SECRET" not in response.text
