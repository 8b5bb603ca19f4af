"""Workspace settings → GitHub / GitLab / Bitbucket Data Center: one page per host from the host's
settings table. A GitLab setting is saved and tested against the fake GitLab in Chromium (a bad
URL is refused next to its field first); the form needs its CSRF token; people who are not
workspace administrators do not get the page; the secrets never come back in the HTML."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.fakes.fake_gitlab import TOKEN, FakeGitLab
from tests.web.conftest import WS, Browser, Site, screenshot, sign_in

BASE = f"/ui/w/{WS}"
HOOK = "gitlab-hook-SECRET"


@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    with FakeGitLab() as fake:
        fake.add_project("acme/api")
        yield fake


def signed_in(site: Site) -> tuple[Browser, str]:
    b = Browser(site.url)
    assert b.sign_in(site.admin_token)[0] == 303
    return b, b.csrf()


def test_save_and_test_gitlab_in_the_browser(page: Any, site: Site, gitlab: FakeGitLab) -> None:
    from playwright.sync_api import expect

    sign_in(page, site.admin_token)
    page.goto(BASE)
    page.get_by_role("link", name="GitLab", exact=True).click()
    page.wait_for_url(f"**{BASE}/hosts/gitlab")
    expect(page.locator("#not-wired")).to_have_count(0)  # GitLab's webhooks are processed
    expect(page.get_by_role("button", name="Test the connection")).to_have_count(0)
    page.get_by_label("GitLab URL").fill("gitlab.example.com")
    page.get_by_label("Access token").fill(TOKEN)
    page.get_by_role("button", name="Save GitLab settings").click()
    expect(page.locator("#h-api_url-error")).to_contain_text("expected an http(s) URL")

    page.get_by_label("GitLab URL").fill(gitlab.url)
    page.get_by_label("Group or project path").fill("acme")
    page.get_by_label("Access token").fill(TOKEN)
    page.get_by_label("Webhook secret").fill(HOOK)
    page.get_by_role("button", name="Save GitLab settings").click()
    expect(page.locator(".flash")).to_contain_text("GitLab settings saved")
    expect(page.locator("#h-token-state")).to_contain_text("set")
    page.get_by_role("button", name="Test the connection").click()
    result = page.locator("#host-test")
    expect(result).to_contain_text("works")
    expect(result).to_contain_text("GitLab accepted the token")
    assert TOKEN not in page.content() and HOOK not in page.content()
    assert gitlab.count("/user") == 1
    screenshot(page, "hosts-gitlab")


def test_github_page_shows_the_key_field_and_its_fingerprint(page: Any, site: Site) -> None:
    from playwright.sync_api import expect
    from tests.fakes.fake_github import app_key_pem

    sign_in(page, site.admin_token)
    page.goto(BASE + "/hosts/github")
    page.get_by_label("App ID").fill("424242")
    page.get_by_label("Installation ID").fill("31337")
    page.get_by_label("Owner (organization or user)").fill("acme")
    page.get_by_label("Private key (PEM)").fill(app_key_pem())
    expect(page.get_by_label("Publish as check runs")).to_have_value("true")  # the default
    page.get_by_label("Publish as check runs").select_option("false")
    page.get_by_role("button", name="Save GitHub settings").click()
    expect(page.locator(".flash")).to_contain_text("GitHub settings saved")
    expect(page.locator("#h-fingerprint")).to_contain_text("SHA256:")
    expect(page.get_by_label("Publish as check runs")).to_have_value("false")
    stored = site.api("GET", f"/workspaces/{WS}/platforms/github")["settings"]
    assert stored["use_checks"] == "false"
    assert app_key_pem().splitlines()[1] not in page.content()
    screenshot(page, "hosts-github")


def test_the_form_needs_its_csrf_token(site: Site, gitlab: FakeGitLab) -> None:
    b, _csrf = signed_in(site)
    status, _, _ = b.request(
        "POST", f"{BASE}/hosts/gitlab", [("api_url", gitlab.url), ("token", TOKEN)]
    )
    assert status == 403
    assert site.api("GET", f"/workspaces/{WS}/platforms/gitlab")["configured"] is False


def test_only_workspace_admins_get_the_page(site: Site) -> None:
    site.add_repository("api")
    token = site.add_user("dev", role="MEMBER")
    b = Browser(site.url)
    b.sign_in(token)
    status, _, text = b.request("GET", f"{BASE}/hosts/gitlab")
    assert status == 403, text[:200]


def test_an_unknown_host_is_a_404_page(site: Site) -> None:
    b, _ = signed_in(site)
    status, _, text = b.request("GET", f"{BASE}/hosts/gitea")
    assert status == 404 and "gitea" in text


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_the_page_says_where_webhooks_go_once_the_host_is_wired(site: Site, platform: str) -> None:
    from jirahooks.platforms import registry

    b, _ = signed_in(site)
    status, _, text = b.request("GET", f"{BASE}/hosts/{platform}")
    assert status == 200
    # GitHub is wired (its HOST is registered); the others say so until theirs is
    wired = platform == "github" or platform in registry.HOSTS
    assert ('id="webhook-url"' in text) is wired
    assert (f"/webhooks/{platform}/{WS}" in text) is wired
    assert ('id="not-wired"' in text) is not wired
    assert "not processed yet" not in text if wired else "not processed yet" in text
