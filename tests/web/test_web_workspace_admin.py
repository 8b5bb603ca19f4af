"""Workspace settings → People and → Bitbucket Cloud, for workspace administrators only.

Over plain HTTP: members and repository administrators neither see nor reach either screen
(GET and POST answer 403 and change nothing), every POST needs the CSRF token, the forms report
problems next to their fields, and the Bitbucket secrets are never sent back — not by the page,
not by the admin API, not in the audit log. In Chromium: a person added as repository admin
signs in with the API token created for them and sees the repository-admin view; Bitbucket is
configured through the form and a signed delivery proves the stored secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

import pytest
from tests.web.conftest import (
    WIDE,
    WS,
    Browser,
    Site,
    confirm_in_page,
    http,
    screenshot,
    sign_in,
)

BASE = f"/ui/w/{WS}"
TOKEN = "bb-app-password-SECRET-1"
WEBHOOK_SECRET = "webhook-SECRET-2"
BITBUCKET = {
    "auth_kind": "access_token",
    "token": TOKEN,
    "webhook_secret": WEBHOOK_SECRET,
    "public_url": "https://guardian.example.com",
}


def signed_in(site: Site, token: str) -> tuple[Browser, str]:
    b = Browser(site.url)
    assert b.sign_in(token)[0] == 303
    return b, b.csrf()


def people(site: Site) -> dict[str, dict[str, Any]]:
    return {u["name"]: u for u in site.api("GET", f"/workspaces/{WS}/users")}


# -- plain HTTP --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["member", "repo_admin"])
def test_only_workspace_admins_see_or_reach_people_and_bitbucket(site: Site, role: str) -> None:
    site.add_repository("api")
    site.api("PUT", f"/workspaces/{WS}/bitbucket", BITBUCKET)
    admin_id = site.api("GET", "/me")["id"]
    roles: dict[str, Any] = {"role": "MEMBER"}
    if role == "repo_admin":
        roles["repository_admin"] = ["api"]
    b, csrf = signed_in(site, site.add_user("eve", **roles))

    status, _, text = b.request("GET", BASE)
    assert status == 200
    assert f'href="{BASE}/people"' not in text and f'href="{BASE}/bitbucket"' not in text
    for path in ("/people", f"/people/{admin_id}", "/bitbucket"):
        status, _, text = b.request("GET", BASE + path)
        assert (status, "Not allowed" in text) == (403, True), path
        assert TOKEN not in text and WEBHOOK_SECRET not in text

    posts: list[tuple[str, list[tuple[str, str]]]] = [
        ("/people", [("name", "mallory"), ("role", "ADMIN")]),
        (f"/people/{admin_id}", [("role", "MEMBER")]),
        (f"/people/{admin_id}/tokens", [("token_name", "stolen")]),
        (f"/people/{admin_id}/remove", []),
        ("/bitbucket", [("auth_kind", "access_token"), ("token", "mine"), ("public_url", "")]),
        ("/bitbucket/remove", []),
    ]
    for path, form in posts:
        status, _, text = b.request("POST", BASE + path, [("csrf_token", csrf), *form])
        assert status == 403, path
        assert "jh_" not in text
    assert sorted(people(site)) == ["admin", "eve"]
    assert people(site)["admin"]["role"] == "ADMIN"
    assert "stolen" not in [t["name"] for t in site.api("GET", "/me/tokens")]
    config = site.api("GET", f"/workspaces/{WS}/bitbucket")
    assert config["configured"] and config["public_url"] == BITBUCKET["public_url"]


def test_every_post_needs_the_csrf_token(site: Site) -> None:
    site.add_repository("api")
    site.add_user("rita", role="MEMBER")
    rita = people(site)["rita"]["id"]
    b, csrf = signed_in(site, site.admin_token)
    status, _, text = b.request("GET", BASE)
    assert f'href="{BASE}/people"' in text and f'href="{BASE}/bitbucket"' in text

    posts: list[tuple[str, list[tuple[str, str]]]] = [
        ("/people", [("name", "mallory"), ("role", "ADMIN")]),
        (f"/people/{rita}", [("role", "ADMIN")]),
        (f"/people/{rita}/tokens", [("token_name", "stolen")]),
        (f"/people/{rita}/remove", []),
        ("/bitbucket", [("auth_kind", "access_token"), ("token", "forged")]),
        ("/bitbucket/remove", []),
    ]
    for path, form in posts:
        for forged in ([], [("csrf_token", "0" * 64)]):
            status, _, text = b.request("POST", BASE + path, [*forged, *form])
            assert (status, "security token" in text) == (403, True), path
    assert sorted(people(site)) == ["admin", "rita"] and people(site)["rita"]["role"] == "MEMBER"
    assert not site.api("GET", f"/workspaces/{WS}/bitbucket")["configured"]

    # With the token the same requests go through.
    add = [("csrf_token", csrf), ("name", "mallory"), ("role", "MEMBER")]
    status, headers, _ = b.request("POST", BASE + "/people", add)
    assert status == 303 and re.fullmatch(rf"{BASE}/people/\d+\?added=1", headers["location"])
    form = [("csrf_token", csrf), ("auth_kind", "access_token"), ("token", "forged")]
    assert b.request("POST", BASE + "/bitbucket", form)[0] == 200
    assert site.api("GET", f"/workspaces/{WS}/bitbucket")["token_set"]


def test_people_forms_report_problems_and_keep_the_api_rules(site: Site) -> None:
    site.add_repository("api")
    site.add_repository("web")
    admin_id = site.api("GET", "/me")["id"]
    b, csrf = signed_in(site, site.admin_token)

    status, _, text = b.request("POST", BASE + "/people", [("csrf_token", csrf), ("name", "")])
    assert status == 422 and "Enter the person&#39;s name" in text
    form = [("csrf_token", csrf), ("name", "rita"), ("email", "rita@example.com")]
    form += [("role", "MEMBER"), ("repository_admin", "api"), ("repository_admin", "web")]
    status, headers, _ = b.request("POST", BASE + "/people", form)
    assert status == 303
    rita = people(site)["rita"]
    assert (rita["role"], rita["repository_admin"]) == ("MEMBER", ["api", "web"])
    status, _, text = b.request("POST", BASE + "/people", form)
    assert status == 422 and "already in this workspace" in text

    # Change the roles: repository admin of "web" only, then workspace admin.
    path = f"{BASE}/people/{rita['id']}"
    change = [("csrf_token", csrf), ("role", "MEMBER"), ("repository_admin", "web")]
    status, _, text = b.request("POST", path, change)
    assert status == 200 and "Roles saved." in text
    assert people(site)["rita"]["repository_admin"] == ["web"]
    assert b.request("POST", path, [("csrf_token", csrf), ("role", "ADMIN")])[0] == 200
    assert people(site)["rita"] == {**rita, "role": "ADMIN", "repository_admin": []}
    status, _, text = b.request("POST", path, [("csrf_token", csrf), ("role", "OWNER")])
    assert status == 422 and people(site)["rita"]["role"] == "ADMIN"

    # Your own admin role stays, and you cannot remove yourself.
    mine = f"{BASE}/people/{admin_id}"
    status, _, text = b.request("POST", mine, [("csrf_token", csrf), ("role", "MEMBER")])
    assert status == 409 and "cannot remove your own admin role" in text
    assert people(site)["admin"]["role"] == "ADMIN"
    assert "Remove admin" not in b.request("GET", mine)[2]
    status, _, text = b.request("POST", mine + "/remove", [("csrf_token", csrf)])
    assert status == 409 and "cannot remove yourself" in text

    # A token for rita: shown once, it signs in, and it is hers.
    status, _, text = b.request(
        "POST", path + "/tokens", [("csrf_token", csrf), ("token_name", "")]
    )
    assert status == 422 and "Give the token a name" in text
    status, _, text = b.request(
        "POST", path + "/tokens", [("csrf_token", csrf), ("token_name", "web")]
    )
    match = re.search(r'id="new-token" type="text" readonly value="(jh_[^"]+)"', text)
    assert status == 200 and match and f"{site.url}/ui/login" in text
    assert site.api("GET", "/me", token=match.group(1))["name"] == "rita"
    assert match.group(1) not in b.request("GET", path)[2]

    status, headers, _ = b.request("POST", path + "/remove", [("csrf_token", csrf)])
    assert (status, headers["location"]) == (303, f"{BASE}/people?removed=rita")
    assert "rita was removed" in b.request("GET", headers["location"])[2]
    assert "rita" not in people(site)
    assert b.request("GET", path)[0] == 404


def test_bitbucket_form_keeps_secrets_write_only(site: Site) -> None:
    b, csrf = signed_in(site, site.admin_token)
    status, _, text = b.request("GET", BASE + "/bitbucket")
    assert status == 200 and "not configured yet" in text
    assert f'value="{site.url}/webhooks/bitbucket/{WS}"' in text  # no public URL: this address

    form = [("csrf_token", csrf), ("auth_kind", "api_token"), ("token", TOKEN)]
    form += [("webhook_secret", WEBHOOK_SECRET), ("public_url", "guardian.example.com")]
    status, _, text = b.request("POST", BASE + "/bitbucket", form)
    assert status == 422 and 'id="b-username-error">required with an API token' in text
    assert 'id="b-public_url-error">expected an http(s) URL' in text
    form = [(k, "https://guardian.example.com" if k == "public_url" else v) for k, v in form]
    # the Bitbucket username is the trap: an API token needs the Atlassian account e-mail
    status, _, text = b.request("POST", BASE + "/bitbucket", [*form, ("username", "guardian-bot")])
    assert status == 422 and 'id="b-username-error">not an e-mail address' in text
    form += [("username", "guardian@example.com"), ("bitbucket_workspace", "x" * 201)]
    status, _, text = b.request("POST", BASE + "/bitbucket", form)
    assert status == 422 and 'id="b-bitbucket_workspace-error">String should have at most' in text
    assert not site.api("GET", f"/workspaces/{WS}/bitbucket")["configured"]
    assert TOKEN not in text and WEBHOOK_SECRET not in text  # not even echoed after an error

    form = [(k, v) for k, v in form if k != "bitbucket_workspace"] + [("require_signature", "on")]
    status, _, text = b.request("POST", BASE + "/bitbucket", form)
    assert status == 200 and "Bitbucket settings saved." in text
    assert TOKEN not in text and WEBHOOK_SECRET not in text
    assert 'value="https://guardian.example.com/webhooks/bitbucket/default"' in text
    config = site.api("GET", f"/workspaces/{WS}/bitbucket")
    assert config["token_set"] and config["webhook_secret_set"] and config["require_signature"]
    assert config["register_unknown_repositories"] is False  # unticked box
    assert (config["auth_kind"], config["username"]) == ("api_token", "guardian@example.com")
    audit = json.dumps(site.api("GET", f"/workspaces/{WS}/audit"))
    for shown in (json.dumps(config), audit):
        assert TOKEN not in shown and WEBHOOK_SECRET not in shown

    # Empty secret fields keep the stored secrets (while the token's destination stays the
    # same: another auth kind or username needs the token again, docs/security.md).
    moved = [("csrf_token", csrf), ("auth_kind", "access_token"), ("require_signature", "on")]
    status, _, text = b.request("POST", BASE + "/bitbucket", moved)
    assert status == 422 and "requires the token again" in text
    keep = [
        ("csrf_token", csrf),
        ("auth_kind", "api_token"),
        ("username", "guardian@example.com"),
        ("require_signature", "on"),
    ]
    assert b.request("POST", BASE + "/bitbucket", keep)[0] == 200
    config = site.api("GET", f"/workspaces/{WS}/bitbucket")
    assert config["token_set"] and config["webhook_secret_set"] and config["public_url"] == ""
    assert "public_url is empty" in b.request("GET", BASE + "/bitbucket")[2]

    status, headers, _ = b.request("POST", BASE + "/bitbucket/remove", [("csrf_token", csrf)])
    assert (status, headers["location"]) == (303, f"{BASE}/bitbucket?removed=1")
    assert not site.api("GET", f"/workspaces/{WS}/bitbucket")["configured"]


# -- in Chromium -------------------------------------------------------------------------------


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as _expect

    return _expect(locator)


@pytest.mark.browser
def test_add_a_repository_admin_and_sign_in_with_the_token_made_for_them(
    browser: Any, page: Any, site: Site
) -> None:
    site.add_repository("api")
    site.add_repository("web")
    site.add_connection("Acme Cloud", "https://acme.example")
    site.add_user("max", role="MEMBER")
    sign_in(page, site.admin_token)
    page.get_by_role("link", name="People").click()
    expect(page.get_by_role("heading", name="People", exact=True)).to_be_visible()

    page.get_by_role("textbox", name="Name", exact=True).fill("rita")
    page.get_by_label("E-mail (optional)").fill("rita@example.com")
    page.get_by_label("Workspace role").select_option("MEMBER")
    page.get_by_role("group", name="Repository admin of").get_by_label("api").check()
    page.get_by_role("button", name="Add person").click()
    expect(page.locator(".flash")).to_contain_text("rita was added")
    expect(page.get_by_role("heading", name="rita")).to_be_visible()
    expect(page.get_by_role("checkbox", name="api")).to_be_checked()

    page.get_by_label("Token name").fill("laptop")
    page.get_by_role("button", name="Create API token").click()
    token = page.get_by_label("API token", exact=True).input_value()
    assert token.startswith("jh_")
    expect(page.locator("#secret-panel")).to_contain_text(f"{site.url}/ui/login")
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    rita = people(site)["rita"]
    assert (rita["role"], rita["repository_admin"]) == ("MEMBER", ["api"])

    page.get_by_role("link", name="People", exact=True).first.click()
    row = page.locator("#people tbody tr", has_text="rita")
    expect(row).to_contain_text("Member")
    expect(row).to_contain_text("api")
    screenshot(page, "people")

    # rita, in a browser of her own: the repository-admin view, and no workspace settings.
    context = browser.new_context(viewport=WIDE, base_url=site.url)
    try:
        theirs = context.new_page()
        sign_in(theirs, token)
        expect(theirs.locator(".crumb")).to_contain_text("Repository admin")
        nav = theirs.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name="People")).to_have_count(0)
        expect(nav.get_by_role("link", name="Bitbucket Cloud")).to_have_count(0)
        theirs.goto(f"{BASE}/r/api/connections")
        expect(theirs.get_by_text("You administer this repository.")).to_be_visible()
        expect(theirs.get_by_role("switch", name="Acme Cloud")).to_be_enabled()
        theirs.goto(f"{BASE}/connections")
        expect(theirs.get_by_role("heading", name="Jira connections")).to_be_visible()
        expect(theirs.get_by_role("button", name="Create new connection")).to_have_count(0)
        response = theirs.goto(f"{BASE}/people")
        assert response is not None and response.status == 403

        # The admin removes her (after confirming): her session no longer opens the workspace.
        page.goto(f"{BASE}/people/{rita['id']}")
        page.get_by_role("button", name="Remove rita").click()
        confirm_in_page(page, accept=False)
        assert "rita" in people(site)  # dismissed: nothing happened
        page.get_by_role("button", name="Remove rita").click()
        confirm_in_page(page, accept=True)
        expect(page.locator(".flash")).to_contain_text("rita was removed")
        expect(page.locator("#people")).not_to_contain_text("rita")
        response = theirs.goto(BASE)
        assert response is not None and response.status == 404
    finally:
        context.close()


@pytest.mark.browser
def test_configure_bitbucket_through_the_form(page: Any, site: Site) -> None:
    sign_in(page, site.admin_token)
    page.get_by_role("link", name="Bitbucket Cloud").click()
    expect(page.locator("#config-state")).to_have_text("not configured yet")
    webhook = page.get_by_role("textbox", name="Webhook URL")
    expect(webhook).to_have_value(f"{site.url}/webhooks/bitbucket/{WS}")

    page.get_by_label("Access token or API token").fill(TOKEN)
    page.get_by_label("Webhook secret").fill(WEBHOOK_SECRET)
    page.get_by_label("Public URL of jirahooks").fill("https://guardian.example.com")
    page.get_by_label("Bitbucket workspace").fill("acme")
    page.get_by_label("Register unknown repositories").uncheck()
    page.get_by_text("Advanced").click()
    expect(page.get_by_label("API URL")).to_be_visible()
    page.get_by_role("button", name="Save Bitbucket settings").click()
    expect(page.locator(".flash")).to_contain_text("Bitbucket settings saved")
    expect(page.locator("#config-state")).to_have_text("configured")
    expect(page.locator("#b-token-state")).to_contain_text("set")
    expect(page.locator("#b-webhook_secret-state")).to_contain_text("set")
    expect(page.get_by_label("Access token or API token")).to_have_value("")
    expect(webhook).to_have_value(f"https://guardian.example.com/webhooks/bitbucket/{WS}")
    assert TOKEN not in page.content() and WEBHOOK_SECRET not in page.content()
    screenshot(page, "bitbucket-settings")
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()

    config = site.api("GET", f"/workspaces/{WS}/bitbucket")
    assert config["token_set"] and config["webhook_secret_set"]
    assert (config["bitbucket_workspace"], config["register_unknown_repositories"]) == (
        "acme",
        False,
    )
    assert TOKEN not in json.dumps(config) and WEBHOOK_SECRET not in json.dumps(config)
    # The secret stored is the one typed: Bitbucket's signature with it is accepted.
    body = b"{}"
    signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    for header, expected in ((signature, 202), ("sha256=" + "0" * 64, 401)):
        headers = {"X-Hub-Signature": header, "X-Event-Key": "repo:updated"}
        headers["Content-Type"] = "application/json"
        status, _ = http("POST", f"{site.url}/webhooks/bitbucket/{WS}", body, headers)
        assert status == expected

    # Removing asks first.
    page.get_by_role("button", name="Remove configuration").click()
    confirm_in_page(page, accept=False)
    assert site.api("GET", f"/workspaces/{WS}/bitbucket")["configured"]
    page.get_by_role("button", name="Remove configuration").click()
    confirm_in_page(page, accept=True)
    expect(page.locator(".flash")).to_contain_text("Configuration removed")
    expect(page.locator("#config-state")).to_have_text("not configured yet")
    assert not site.api("GET", f"/workspaces/{WS}/bitbucket")["configured"]
