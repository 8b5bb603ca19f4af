"""Workspace settings → Bitbucket Cloud with the credential kinds of 2026, over plain HTTP: the
API-token kind asks for the Atlassian account e-mail, the app-password alias is stored as an
API token with a notice (in English and German), and the test button shows what the fake
Bitbucket answered to the stored credentials."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import pytest
from tests.fakes.fake_bitbucket import API_EMAIL, API_TOKEN, FakeBitbucket
from tests.web.conftest import WS, Browser, Site, sign_in

BASE = f"/ui/w/{WS}"
GERMAN = {"Accept-Language": "de-DE,de;q=0.9"}


@pytest.fixture
def bitbucket() -> Iterator[FakeBitbucket]:
    with FakeBitbucket() as fake:
        fake.add_repo("acme", "api-service")
        yield fake


def signed_in(site: Site) -> tuple[Browser, str]:
    b = Browser(site.url)
    assert b.sign_in(site.admin_token)[0] == 303
    return b, b.csrf()


def form(csrf: str, bitbucket: FakeBitbucket, **values: str) -> list[tuple[str, str]]:
    fields = {
        "csrf_token": csrf,
        "auth_kind": "api_token",
        "username": API_EMAIL,
        "token": API_TOKEN,
        "bitbucket_workspace": "acme",
        "api_url": bitbucket.url,
        "public_url": "https://guardian.example.com",
        "require_signature": "on",
        **values,
    }
    return list(fields.items())


def test_api_token_saved_and_tested_through_the_page(site: Site, bitbucket: FakeBitbucket) -> None:
    b, csrf = signed_in(site)
    status, _, text = b.request("GET", BASE + "/bitbucket")
    assert 'value="api_token"' in text and 'value="access_token"' in text
    assert 'value="app_password"' not in text  # not offered: only the API's alias
    assert "Test the connection" not in text  # nothing stored yet

    status, _, text = b.request("POST", BASE + "/bitbucket", form(csrf, bitbucket))
    assert status == 200 and "Bitbucket settings saved." in text
    assert API_TOKEN not in text and 'id="app-password-notice"' not in text
    assert site.api("GET", f"/workspaces/{WS}/bitbucket")["auth_kind"] == "api_token"

    status, _, text = b.request("POST", BASE + "/bitbucket/test", [("csrf_token", csrf)])
    assert status == 200 and 'id="bitbucket-test"' in text
    assert "<code>OK</code>" in text and "(1 repositories visible)" in html.unescape(text)
    assert API_TOKEN not in text
    status, _, text = b.request(
        "POST", BASE + "/bitbucket/test", [("csrf_token", csrf)], headers=GERMAN
    )
    assert "Verbindungstest" in text and "funktioniert" in text

    # the test needs the CSRF token like every POST
    assert b.request("POST", BASE + "/bitbucket/test", [])[0] == 403


def test_a_rejected_token_is_reported_by_the_test(site: Site, bitbucket: FakeBitbucket) -> None:
    b, csrf = signed_in(site)
    saved = b.request("POST", BASE + "/bitbucket", form(csrf, bitbucket, token="revoked-SECRET-9"))
    assert saved[0] == 200
    status, _, text = b.request("POST", BASE + "/bitbucket/test", [("csrf_token", csrf)])
    text = html.unescape(text)
    assert status == 200 and "<code>AUTH_REJECTED</code> (HTTP 401)" in text
    assert "Atlassian account e-mail" in text and "revoked-SECRET-9" not in text


def test_the_bitbucket_username_is_refused_next_to_the_field(
    site: Site, bitbucket: FakeBitbucket
) -> None:
    b, csrf = signed_in(site)
    status, _, text = b.request(
        "POST", BASE + "/bitbucket", form(csrf, bitbucket, username="guardian-bot")
    )
    assert status == 422
    assert 'id="b-username-error">not an e-mail address' in text
    status, _, text = b.request(
        "POST", BASE + "/bitbucket", form(csrf, bitbucket, username="guardian-bot"), GERMAN
    )
    assert status == 422 and "keine E-Mail-Adresse" in html.unescape(text)
    assert not site.api("GET", f"/workspaces/{WS}/bitbucket")["configured"]


def test_the_app_password_alias_is_saved_as_an_api_token_with_a_notice(
    site: Site, bitbucket: FakeBitbucket
) -> None:
    b, csrf = signed_in(site)
    alias = form(csrf, bitbucket, auth_kind="app_password")
    status, _, text = b.request("POST", BASE + "/bitbucket", alias)
    assert status == 200 and 'id="app-password-notice"' in text
    assert "App passwords no longer work" in text
    assert "deprecated alias" in text  # the API's warning, listed under "Check these"
    assert site.api("GET", f"/workspaces/{WS}/bitbucket")["auth_kind"] == "api_token"
    status, _, text = b.request("POST", BASE + "/bitbucket", alias, GERMAN)
    assert status == 200 and "App-Passwörter funktionieren nicht mehr" in html.unescape(text)
    # stored as an API token: the next visit shows no notice
    assert 'id="app-password-notice"' not in b.request("GET", BASE + "/bitbucket")[2]


# -- in Chromium -------------------------------------------------------------------------------


@pytest.mark.browser
def test_choose_api_token_and_test_it_in_the_browser(
    page: Any, site: Site, bitbucket: FakeBitbucket
) -> None:
    from playwright.sync_api import expect

    sign_in(page, site.admin_token)
    page.goto(BASE + "/bitbucket")
    expect(page.get_by_role("button", name="Test the connection")).to_have_count(0)
    page.get_by_label("API token of a technical user").check()
    page.get_by_label("Atlassian account e-mail (API tokens only)").fill("guardian-bot")
    page.get_by_label("Access token or API token").fill(API_TOKEN)
    page.get_by_label("Bitbucket workspace").fill("acme")
    page.get_by_text("Advanced").click()
    page.get_by_label("API URL").fill(bitbucket.url)
    page.get_by_role("button", name="Save Bitbucket settings").click()
    expect(page.locator("#b-username-error")).to_contain_text("not an e-mail address")

    page.get_by_label("Atlassian account e-mail (API tokens only)").fill(API_EMAIL)
    page.get_by_label("Access token or API token").fill(API_TOKEN)
    page.get_by_role("button", name="Save Bitbucket settings").click()
    expect(page.locator(".flash")).to_contain_text("Bitbucket settings saved")
    page.get_by_role("button", name="Test the connection").click()
    result = page.locator("#bitbucket-test")
    expect(result).to_contain_text("works")
    expect(result).to_contain_text("1 repositories visible")
    assert API_TOKEN not in page.content()
    assert bitbucket.auth_refusals == []
