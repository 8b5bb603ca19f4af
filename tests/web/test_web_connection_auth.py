"""The connection dialog's authentication kinds (issue 15): the reference's four fields stay the
default; choosing a kind shows its fields (OAuth: client ID, secret, scopes, token URL; scoped
token: e-mail, token, Cloud ID); secrets are never sent back; German labels; a rejection
names its reason (expired / revoked or blocked / scope missing)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.web.conftest import WS, Browser, Site, sign_in

BASE = f"/ui/w/{WS}"
GERMAN = {"Accept-Language": "de-DE,de;q=0.9"}


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira("cloud") as fake:
        fake.add_oauth_client("ui-client", "ui-client-secret")
        yield fake


def _admin(site: Site) -> tuple[Browser, str]:
    b = Browser(site.url)
    assert b.sign_in(site.admin_token)[0] == 303
    return b, b.csrf()


def _group(page: str, kinds: str) -> str:
    """The opening tag of the field group shown for ``kinds``."""
    match = re.search(r'<div data-auth-for="' + re.escape(kinds) + r'"[^>]*>', page)
    assert match, kinds
    return match.group(0)


def test_the_default_is_the_reference_four_fields(site: Site) -> None:
    b, _ = _admin(site)
    _, _, page = b.request("GET", f"{BASE}/connections/new")
    assert 'name="auth"' in page and '<option value="auto" selected>' in page
    assert "hidden" not in _group(page, "auto api_token scoped_api_token basic")  # e-mail
    assert "hidden" not in _group(page, "auto api_token scoped_api_token pat basic")  # token
    assert "hidden" in _group(page, "oauth_client_credentials")  # client id / secret


def test_an_oauth_connection_from_the_form_without_javascript(site: Site, jira: FakeJira) -> None:
    b, csrf = _admin(site)
    form = {
        "csrf_token": csrf,
        "mode": "create",
        "name": "Service account",
        "deployment": "cloud",
        "url": jira.url,
        "auth": "oauth_client_credentials",
        "email": "",
        "account_id": "",
        "token": "",
        "client_id": "ui-client",
        "client_secret": "ui-client-secret",
        "scopes": "",
        "token_url": jira.token_url,
        "gateway_url": jira.gateway_url,
        "cloud_id": "",
        "token_expires_on": "",
    }
    status, _, _ = b.request("POST", f"{BASE}/connections", form)
    assert status == 303
    [saved] = site.api("GET", f"/workspaces/{WS}/connections")
    assert saved["auth"] == "oauth_client_credentials" and saved["client_secret_set"] is True
    assert saved["cloud_id"] == jira.cloud_id and saved["last_test"]["ok"] is True
    _, _, listing = b.request("GET", f"{BASE}/connections", headers=GERMAN)
    assert 'data-auth="oauth_client_credentials"' in listing
    assert "OAuth-2.0-Dienstkonto" in html.unescape(listing)
    _, _, edit = b.request("GET", f"{BASE}/connections/{saved['id']}/edit")
    assert "ui-client-secret" not in edit
    assert "hidden" not in _group(edit, "oauth_client_credentials")
    assert "hidden" in _group(edit, "auto api_token scoped_api_token pat basic")
    # the connection test names the reason in words when the credential is revoked
    jira.revoke_oauth_client("ui-client")
    _, _, tested = b.request(
        "POST", f"{BASE}/connections/{saved['id']}/test", {"csrf_token": csrf}, GERMAN
    )
    assert 'data-reason="OAUTH_CLIENT_REJECTED"' in tested
    assert "OAuth-Client-Anmeldedaten abgelehnt" in html.unescape(tested)


def test_missing_oauth_fields_are_named(site: Site, jira: FakeJira) -> None:
    b, csrf = _admin(site)
    form = {
        "csrf_token": csrf,
        "mode": "create",
        "name": "x",
        "deployment": "cloud",
        "url": jira.url,
        "auth": "oauth_client_credentials",
    }
    status, _, page = b.request("POST", f"{BASE}/connections", form, GERMAN)
    assert status == 422
    text = html.unescape(page)
    assert "Geben Sie die OAuth-Client-ID des Dienstkontos ein." in text
    assert "Geben Sie das OAuth-Client-Geheimnis des Dienstkontos ein." in text


def test_german_labels(site: Site) -> None:
    b, _ = _admin(site)
    _, _, page = b.request("GET", f"{BASE}/connections/new", headers=GERMAN)
    text = html.unescape(page)
    for label in (
        "Client-Geheimnis",
        "Bereiche",
        "Token-URL",
        "Dienstkonto: OAuth-2.0-Client-Anmeldedaten",
    ):
        assert label in text


def test_in_chromium_choosing_a_kind_shows_its_fields(
    page: Any, site: Site, jira: FakeJira
) -> None:
    from playwright.sync_api import expect

    sign_in(page, site.admin_token)
    page.goto(f"{BASE}/connections")
    page.get_by_role("button", name="Create new connection").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("API token")).to_be_visible()
    expect(dialog.get_by_label("Client ID")).to_be_hidden()
    dialog.get_by_label("Authentication").select_option("oauth_client_credentials")
    expect(dialog.get_by_label("Client ID")).to_be_visible()
    expect(dialog.get_by_label("API token")).to_be_hidden()
    expect(dialog.get_by_label("E-mail")).to_be_hidden()
    dialog.get_by_label("Name").fill("Service account")
    dialog.get_by_label("Deployment type").select_option("cloud")
    dialog.get_by_label("Jira URL").fill(jira.url)
    dialog.get_by_label("Client ID").fill("ui-client")
    dialog.get_by_label("Client secret").fill("ui-client-secret")
    dialog.get_by_label("Token URL").fill(jira.token_url)
    dialog.get_by_label("API gateway").fill(jira.gateway_url)
    dialog.get_by_role("button", name="Create connection").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    [c] = site.api("GET", f"/workspaces/{WS}/connections")
    assert c["auth"] == "oauth_client_credentials" and c["last_test"]["ok"] is True
    dialog_again = page.get_by_role("button", name="Create new connection")
    dialog_again.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Authentication").select_option("basic")
    expect(dialog.locator('[data-auth-for="basic"]')).to_be_visible()
    expect(dialog.get_by_label("E-mail")).to_be_visible()
