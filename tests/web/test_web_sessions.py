"""Sign-in, sessions and CSRF of the web UI over real HTTP (no browser): a revoked session or
sign-in token ends the session, state-changing requests need the CSRF token, ``next`` never
redirects off the site, roles are the API's, and pages carry the security headers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.web.conftest import WS, Browser, Site


@pytest.fixture
def browser_for(site: Site) -> Iterator[Any]:
    yield lambda: Browser(site.url)


def test_sign_in_sets_a_protected_cookie_and_sign_out_revokes_the_session(
    site: Site, browser_for: Any
) -> None:
    b = browser_for()
    status, headers, _ = b.sign_in(site.admin_token, f"/ui/w/{WS}/rules")
    assert (status, headers["location"]) == (303, f"/ui/w/{WS}/rules")
    cookie = headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert site.admin_token not in cookie  # the cookie holds an encrypted session token
    sessions = [t for t in site.api("GET", "/me/tokens") if t["name"] == "web session"]
    assert len(sessions) == 1 and sessions[0]["revoked_at"] is None

    stolen = next(c for c in b.jar if c.name == "jirahooks_session").value
    csrf = b.csrf()
    assert b.request("POST", "/ui/logout", {"csrf_token": csrf})[0] == 303
    assert b.request("GET", f"/ui/w/{WS}")[0] == 303  # signed out
    # The old cookie no longer works: the session token was revoked on the server.
    replay = Browser(site.url)
    status, headers, _ = replay.request(
        "GET", f"/ui/w/{WS}", headers={"Cookie": f"jirahooks_session={stolen}"}
    )
    assert (status, headers["location"]) == (303, f"/ui/login?next=/ui/w/{WS}")
    assert [t["revoked_at"] is not None for t in site.api("GET", "/me/tokens")][-1]


def test_revoking_the_sign_in_token_ends_its_web_sessions(site: Site, browser_for: Any) -> None:
    token = site.add_user("mia", role="MEMBER")
    b = browser_for()
    assert b.sign_in(token)[0] == 303
    assert b.request("GET", f"/ui/w/{WS}")[0] == 200
    mine = site.api("GET", "/me/tokens", token=token)
    sign_in_token = next(t for t in mine if t["name"] == "web")
    site.api("DELETE", f"/me/tokens/{sign_in_token['id']}", token=token)
    assert b.request("GET", f"/ui/w/{WS}")[0] == 303


def test_state_changing_requests_need_the_csrf_token(site: Site, browser_for: Any) -> None:
    b = browser_for()
    b.sign_in(site.admin_token)
    form = {"name": "Evil", "url": "https://evil.example", "token": "x", "deployment": "auto"}
    status, _, text = b.request("POST", f"/ui/w/{WS}/connections", form)
    assert status == 403 and "security token" in text
    form["csrf_token"] = "0" * 64
    assert b.request("POST", f"/ui/w/{WS}/connections", form)[0] == 403
    assert site.api("GET", f"/workspaces/{WS}/connections") == []
    form["csrf_token"] = b.csrf()
    form["save_anyway"] = "true"  # no Jira answers there: saved untested
    assert b.request("POST", f"/ui/w/{WS}/connections", form)[0] == 303
    assert [c["name"] for c in site.api("GET", f"/workspaces/{WS}/connections")] == ["Evil"]
    # A login without the double-submit cookie value is refused as well.
    fresh = browser_for()
    status, _, _ = fresh.request(
        "POST", "/ui/login", {"csrf_token": "guess", "token": site.admin_token}
    )
    assert status == 403


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/ui/", "/api/v1/me"])
def test_next_never_leaves_the_ui(site: Site, browser_for: Any, target: str) -> None:
    status, headers, _ = browser_for().sign_in(site.admin_token, target)
    assert (status, headers["location"]) == (303, "/ui/")


def test_roles_decide_what_a_member_sees_and_may_do(site: Site, browser_for: Any) -> None:
    site.add_repository("api")
    site.add_connection("Acme", "https://acme.example", account_id="acct-42")
    b = browser_for()
    b.sign_in(site.add_user("max", role="MEMBER"))
    status, _, text = b.request("GET", f"/ui/w/{WS}/connections")
    assert status == 200 and "Acme" in text
    assert "Create new connection" not in text and "acct-42" not in text
    assert "Validation API tokens" not in text
    csrf = b.csrf()
    status, _, text = b.request("POST", f"/ui/w/{WS}/r/api/connections/1", {"csrf_token": csrf})
    assert status == 403 and "Not allowed" in text
    status, _, _ = b.request("POST", f"/ui/w/{WS}/rules/-/new", {"csrf_token": csrf, "title": "x"})
    assert status == 403
    status, _, text = b.request("GET", f"/ui/w/{WS}/tokens")
    assert status == 403
    # Another workspace is not even said to exist.
    assert b.request("GET", "/ui/w/elsewhere")[0] == 404


def test_pages_carry_security_headers_and_assets_are_served_by_the_app(
    site: Site, browser_for: Any
) -> None:
    b = browser_for()
    status, headers, text = b.request("GET", "/ui/login")
    assert status == 200
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert re.findall(r'(?:src|href)="(https?:)?//', text) == []  # no CDN
    status, _, script = b.request("GET", "/ui/static/htmx.min.js")
    assert status == 200 and "htmx" in script
    assert b.request("GET", "/ui/static/NOTICE")[0] == 200
    assert b.request("GET", "/")[1]["location"] == "/ui/"
