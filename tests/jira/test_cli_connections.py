"""``jirahooks connections test``: reachability, account and deployment per connection."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira

from jirahooks.cli import main


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *connections: dict[str, Any]) -> str:
    for n, connection in enumerate(connections):
        if "secret" in connection:
            monkeypatch.setenv(f"JH_CLI_TOKEN_{n}", connection.pop("secret"))
        connection.setdefault("token", f"${{JH_CLI_TOKEN_{n}}}")
    path = tmp_path / "jirahooks.json"
    path.write_text(json.dumps({"connections": list(connections)}), encoding="utf-8")
    return str(path)


def test_all_connections_ok(
    jira_factory: Callable[..., FakeJira],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cloud = jira_factory("cloud")
    dc = jira_factory("datacenter", context_path="/jira")
    config = _config(
        tmp_path,
        monkeypatch,
        {
            "name": "cloud",
            "url": cloud.url,
            "deployment": "cloud",
            "email": cloud.user.email,
            "secret": cloud.token,
        },
        {"name": "dc", "url": dc.url, "secret": dc.token},  # deployment: auto
    )
    assert main(["connections", "test", "--config", config]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("cloud  OK") and cloud.url in lines[0]
    assert f"<{cloud.user.email}> ({cloud.user.account_id})" in lines[0]
    assert "deployment: cloud (configured" in lines[1]
    assert lines[2].startswith("dc     OK") and dc.url in lines[2]
    assert "deployment: datacenter (detected, Jira 10.3.1)" in lines[3]
    assert cloud.token not in out and dc.token not in out


def test_a_failing_connection_exits_4(
    jira_factory: Callable[..., FakeJira],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = jira_factory("cloud")
    bad = jira_factory("datacenter")
    config = _config(
        tmp_path,
        monkeypatch,
        {"name": "good", "url": good.url, "email": good.user.email, "secret": good.token},
        {"name": "bad", "url": bad.url, "deployment": "datacenter", "secret": "stale-token"},
    )
    assert main(["connections", "test", "--config", config]) == 4
    out = capsys.readouterr().out
    assert "good  OK" in out
    assert "bad   FAILED" in out and "[JIRA_AUTH_REJECTED]" in out
    assert "rotate it" in out
    assert "stale-token" not in out


def test_only_the_named_connection_is_tested(
    jira_factory: Callable[..., FakeJira],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = jira_factory("cloud"), jira_factory("cloud")
    config = _config(
        tmp_path,
        monkeypatch,
        {"name": "a", "url": first.url, "email": first.user.email, "secret": first.token},
        {"name": "b", "url": second.url, "email": second.user.email, "secret": second.token},
    )
    assert main(["connections", "test", "--config", config, "b"]) == 0
    assert first.count() == 0 and second.count() > 0
    assert main(["connections", "test", "--config", config, "zzz"]) == 2
    assert "no connection named 'zzz'" in capsys.readouterr().err


def test_missing_token_variable_is_reported_per_connection(
    jira_factory: Callable[..., FakeJira],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = jira_factory("cloud")
    monkeypatch.delenv("JH_CLI_UNSET", raising=False)
    config = _config(
        tmp_path, monkeypatch, {"name": "a", "url": fake.url, "token": "${JH_CLI_UNSET}"}
    )
    assert main(["connections", "test", "--config", config]) == 4
    out = capsys.readouterr().out
    assert "JH_CLI_UNSET is not set" in out
    assert fake.count() == 0


def test_unreachable_and_html_connections(
    jira_factory: Callable[..., FakeJira],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    proxy = jira_factory("cloud")
    proxy.serve_html(times=-1)
    config = _config(
        tmp_path,
        monkeypatch,
        {"name": "sso", "url": proxy.url, "secret": proxy.token},
    )
    assert main(["connections", "test", "--config", config]) == 4
    assert "[JIRA_BAD_RESPONSE]" in capsys.readouterr().out


def test_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(
        tmp_path,
        monkeypatch,
        {"name": "a", "url": "https://acme.atlassian.net", "deployment": "cloud"},
    )
    assert main(["connections", "list", "--config", config]) == 0
    assert capsys.readouterr().out.strip() == "a  https://acme.atlassian.net  cloud"


def test_a_dc_connection_pointed_at_cloud_is_told_the_real_reason(
    jira_factory: Callable[..., FakeJira],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cloud = jira_factory("cloud")
    config = _config(
        tmp_path,
        monkeypatch,
        {
            "name": "acme",
            "url": cloud.url,
            "deployment": "datacenter",
            "email": cloud.user.email,
            "secret": cloud.token,
        },
    )
    assert main(["connections", "test", "--config", config]) == 4  # b9f4856: 0 (OK)
    out = capsys.readouterr().out
    assert "[JIRA_DEPLOYMENT_MISMATCH]" in out.splitlines()[0]
    assert "serverInfo.deploymentType: Cloud" in out
    assert "set deployment to cloud" in out
    # every problem, not only the first: the removed search's 410 and the project list
    assert "[JIRA_SEARCH_UNAVAILABLE]" in out and "HTTP 410" in out
    assert "[JIRA_PROJECTS_UNREADABLE]" in out
    assert out.count("acme") == 1  # named once, in the report's first column
    assert cloud.token not in out


def test_each_auth_kind_is_tested_and_rejections_say_why(
    jira_factory: Callable[..., FakeJira],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from jirahooks.jira import auth

    auth.CLOUD_IDS.clear()
    cloud = jira_factory("cloud")
    cloud.add_scoped_token("svc@serviceaccount.atlassian.com", "scoped-cli-1")
    cloud.add_oauth_client("cli-client", "cli-secret")
    dc = jira_factory("datacenter", context_path="/jira")
    monkeypatch.setenv("JH_CLI_CLIENT_SECRET", "cli-secret")
    config = _config(
        tmp_path,
        monkeypatch,
        {
            "name": "scoped",
            "url": cloud.url,
            "deployment": "cloud",
            "auth": "scoped_api_token",
            "email": "svc@serviceaccount.atlassian.com",
            "gateway_url": cloud.gateway_url,
            "secret": "scoped-cli-1",
        },
        {
            "name": "oauth",
            "url": cloud.url,
            "deployment": "cloud",
            "auth": "oauth_client_credentials",
            "client_id": "cli-client",
            "client_secret": "${JH_CLI_CLIENT_SECRET}",
            "token_url": cloud.token_url,
            "gateway_url": cloud.gateway_url,
            "token": "",
        },
        {
            "name": "basic",
            "url": dc.url,
            "deployment": "datacenter",
            "auth": "basic",
            "email": dc.user.name,
            "secret": dc.token,
        },
    )
    assert main(["connections", "test", "--config", config]) == 0
    out = capsys.readouterr().out
    assert f"auth: scoped_api_token via {cloud.gateway_url}/ex/jira/{cloud.cloud_id}" in out
    assert "auth: oauth_client_credentials via" in out
    assert "warning: basic authentication" in out
    assert "cli-secret" not in out and "scoped-cli-1" not in out

    cloud.revoke_oauth_client("cli-client")
    cloud.block_token("scoped-cli-1")
    assert main(["connections", "test", "--config", config]) == 4
    out = capsys.readouterr().out
    assert "[OAUTH_CLIENT_REJECTED]" in out
    assert "[TOKEN_REVOKED]" in out and "revoked or blocked by your organisation" in out
