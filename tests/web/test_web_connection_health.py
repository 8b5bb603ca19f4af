"""The connections page and the dashboard show which connections are broken (issue 14).

On b9f4856 the "Create new connection" dialog saved a wrong token without a word, the list kept
no test result (after a reload nothing showed which connection fails) and the dashboard said
nothing. Now the dialog tests the credentials on submit and, when the test fails, shows the
reason and an explicit "Save anyway"; the list shows each connection's last test and its
token's expiry; the dashboard flags failing and expiring connections. The fake Jira answers as
the specs say (401 on ``/myself`` for a wrong token).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.web.conftest import WS, Browser, Site, sign_in

BASE = f"/ui/w/{WS}"


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira("cloud") as fake:
        yield fake


def _admin(site: Site) -> tuple[Browser, str]:
    b = Browser(site.url)
    assert b.sign_in(site.admin_token)[0] == 303
    return b, b.csrf()


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_the_dialog_tests_on_submit_and_saves_only_when_told(
    site: Site, jira: FakeJira, htmx: bool
) -> None:
    b, csrf = _admin(site)
    form = {
        "csrf_token": csrf,
        "mode": "create",
        "name": "Acme Cloud",
        "deployment": "cloud",
        "url": jira.url,
        "email": jira.user.email,
        "account_id": "",
        "token": "wrong-token-typed",
        "token_expires_on": "",
    }
    headers = {"HX-Request": "true"} if htmx else {}
    status, _, page = b.request("POST", f"{BASE}/connections", form, headers)
    assert status in (200, 422)
    assert 'name="save_anyway"' in page and "JIRA_AUTH_REJECTED" in page
    assert "wrong-token-typed" not in page
    assert site.api("GET", f"/workspaces/{WS}/connections") == []  # nothing saved
    status, _, _ = b.request("POST", f"{BASE}/connections", form | {"save_anyway": "true"})
    assert status == 303
    [saved] = site.api("GET", f"/workspaces/{WS}/connections")
    assert saved["last_test"]["ok"] is False
    # after a reload the list says it failed, and why
    _, _, listing = b.request("GET", f"{BASE}/connections")
    assert 'data-last-test="failed"' in listing
    assert "JIRA_AUTH_REJECTED" in _text(listing)
    # and the dashboard flags it
    _, _, dashboard = b.request("GET", BASE)
    assert 'id="connection-alerts"' in dashboard
    assert "Acme Cloud" in _text(dashboard) and "last test failed" in _text(dashboard)


def test_a_passing_connection_is_not_flagged_and_expiry_shows(site: Site, jira: FakeJira) -> None:
    b, _ = _admin(site)
    site.add_connection(
        "Acme Cloud", jira.url, email=jira.user.email, token=jira.token, save_anyway=False
    )
    _, _, listing = b.request("GET", f"{BASE}/connections")
    assert 'data-last-test="ok"' in listing
    _, _, dashboard = b.request("GET", BASE)
    assert 'id="connection-alerts"' not in dashboard
    [c] = site.api("GET", f"/workspaces/{WS}/connections")
    soon = (date.today() + timedelta(days=5)).isoformat()
    site.api("PATCH", f"/workspaces/{WS}/connections/{c['id']}", {"token_expires_on": soon})
    _, _, listing = b.request("GET", f"{BASE}/connections")
    assert "token expires in 5 days" in _text(listing)
    _, _, dashboard = b.request("GET", BASE)
    assert "Acme Cloud" in _text(dashboard) and "token expires in 5 days" in _text(dashboard)
    past = (date.today() - timedelta(days=1)).isoformat()
    site.api("PATCH", f"/workspaces/{WS}/connections/{c['id']}", {"token_expires_on": past})
    _, _, listing = b.request("GET", f"{BASE}/connections")
    assert "token expired" in _text(listing)


def test_the_test_button_updates_the_last_test_in_the_row(site: Site, jira: FakeJira) -> None:
    b, csrf = _admin(site)
    created = site.add_connection(
        "Acme Cloud", jira.url, email=jira.user.email, token=jira.token, save_anyway=False
    )
    jira.revoke_token(jira.token)
    status, _, answer = b.request(
        "POST",
        f"{BASE}/connections/{created['id']}/test",
        {"csrf_token": csrf},
        {"HX-Request": "true"},
    )
    assert status == 200 and "Not connected" in answer
    oob = re.search(rf'<div id="last-test-{created["id"]}"[^>]*>', answer)
    assert oob and 'hx-swap-oob="true"' in oob.group(0)
    assert 'data-last-test="failed"' in oob.group(0)
    _, _, listing = b.request("GET", f"{BASE}/connections")
    assert 'data-last-test="failed"' in listing


def test_in_chromium_save_anyway_and_the_row_follows_the_test(
    page: Any, site: Site, jira: FakeJira
) -> None:
    from playwright.sync_api import expect

    sign_in(page, site.admin_token)
    page.goto(f"{BASE}/connections")
    page.get_by_role("button", name="Create new connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Acme Cloud")
    dialog.get_by_label("Deployment type").select_option("cloud")
    dialog.get_by_label("Jira URL").fill(jira.url)
    dialog.get_by_label("E-mail").fill(jira.user.email)
    dialog.get_by_label("API token").fill("wrong-token-typed")
    dialog.get_by_role("button", name="Create connection").click()
    # refused with the reason, and the explicit choice
    expect(dialog.locator("#connection-test-failed")).to_contain_text("JIRA_AUTH_REJECTED")
    assert site.api("GET", f"/workspaces/{WS}/connections") == []
    dialog.get_by_label("API token").fill("wrong-token-typed")
    expect(dialog.locator("#connection-test-failed")).to_contain_text("Save anyway")
    dialog.locator("#c-save-anyway").check()
    dialog.get_by_role("button", name="Create connection").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    [c] = site.api("GET", f"/workspaces/{WS}/connections")
    cell = page.locator(f"#last-test-{c['id']}")
    expect(cell).to_have_attribute("data-last-test", "failed")
    # the right token, then "Test connection": the row says so without a reload
    site.api("PATCH", f"/workspaces/{WS}/connections/{c['id']}", {"token": jira.token})
    page.goto(f"{BASE}/connections")
    jira.revoke_token(jira.token)
    expect(cell).to_have_attribute("data-last-test", "ok")
    page.get_by_role("button", name="Test connection Acme Cloud").click()
    expect(page.locator(".test.failed")).to_contain_text("Not connected")
    expect(cell).to_have_attribute("data-last-test", "failed")
