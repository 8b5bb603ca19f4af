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

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.web.conftest import WS, Browser, Site

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
