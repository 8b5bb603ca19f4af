"""The web UI's side of the trust boundary (issue 10, section 2), over real HTTP: a rule form
with text that cannot be stored is re-rendered with the error and nothing is saved — for a
workspace administrator and for a repository administrator; an oversize form post is 413; a
rule row stored by an older version is listed with an error badge, not a 500."""

from __future__ import annotations

import asyncio
import http.client
import re

from sqlalchemy import text
from tests.web.conftest import WS, Browser, Site

from jirahooks.server.settings import DEFAULT_MAX_BODY_BYTES
from jirahooks.store.database import Database

RULE = {"targets": "COMMIT", "triggers": "PUSH", "key_present": "on"}
BAD_TITLES = ["nul \x00 title", "bell \x07 title", "escape \x1b title"]


def signed_in(site: Site, token: str) -> tuple[Browser, str]:
    b = Browser(site.url)
    assert b.sign_in(token)[0] == 303
    return b, b.csrf()


def rule_ids(site: Site, repository: str | None = None) -> set[str]:
    scope = f"/workspaces/{WS}" + (f"/repositories/{repository}" if repository else "")
    return {r["id"] for r in site.api("GET", f"{scope}/rules")}


def test_rule_forms_reject_bad_text_and_store_nothing(site: Site) -> None:
    site.add_repository("api")
    rita = site.add_user("rita", role="MEMBER", repository_admin=["api"])
    for token, base, repository in (
        (site.admin_token, f"/ui/w/{WS}", None),
        (rita, f"/ui/w/{WS}/r/api", "api"),
    ):
        b, csrf = signed_in(site, token)
        for title in BAD_TITLES:
            form = {"csrf_token": csrf, "title": title, **RULE}
            status, _, page = b.request("POST", f"{base}/rules/-/new", form)
            assert status == 422, (title, status, page[:300])
            assert "The rule was not saved" in page
            assert "control character" in page or "NUL character" in page
            assert rule_ids(site, repository) == set()
        good = {"csrf_token": csrf, "title": "Fine", **RULE}
        status, _, page = b.request("POST", f"{base}/rules/-/new", good)
        assert status == 303, re.findall(r'class="[^"]*error[^"]*"[^>]*>([^<]+)', page)
        assert rule_ids(site, repository) == {"fine"}


def test_oversize_form_post_is_413(site: Site) -> None:
    """Answered from the declared length, before the body is read (a client still sending a
    body the server will not read may see the connection closed: so only headers are sent)."""
    b, _ = signed_in(site, site.admin_token)
    limit = DEFAULT_MAX_BODY_BYTES  # JIRAHOOKS_ADMIN_MAX_BODY_BYTES unset
    connection = http.client.HTTPConnection("127.0.0.1", site.live.port, timeout=30)
    try:
        connection.putrequest("POST", f"/ui/w/{WS}/rules/-/new")
        connection.putheader("Cookie", "; ".join(f"{c.name}={c.value}" for c in b.jar))
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        connection.putheader("Content-Length", str(limit + 1))
        connection.endheaders()
        response = connection.getresponse()
        status, body = response.status, response.read().decode()
    finally:
        connection.close()
    assert status == 413 and "PAYLOAD_TOO_LARGE" in body, (status, body)
    assert rule_ids(site) == set()


def test_a_bad_stored_rule_is_listed_with_an_error(site: Site) -> None:
    site.api("POST", f"/workspaces/{WS}/rules/from-template", {"template": "commit-key-required"})
    url = site.live.app.state.jirahooks.settings.effective_database_url

    async def write() -> None:
        database = Database(url)
        try:
            async with database.engine.begin() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO rules (workspace_id, repository_id, rule_id, position,"
                        " definition, created_at, updated_at) VALUES (1, NULL, 'old', 9,"
                        ' \'{"id": "old", "title": "Old \\ud800", "checks": {"gone": 1}}\','
                        " '2026-01-01', '2026-01-01')"
                    )
                )
        finally:
            await database.dispose()

    asyncio.run(write())
    b, _ = signed_in(site, site.admin_token)
    status, _, page = b.request("GET", f"/ui/w/{WS}/rules")
    assert status == 200, page[:500]
    assert "cannot be read" in page and "rule-commit-key-required" in page  # listed too
    status, _, page = b.request("GET", f"/ui/w/{WS}/rules/old")
    assert status == 200 and "cannot be read" in page


def test_connection_and_people_forms_reject_bad_text(site: Site) -> None:
    b, csrf = signed_in(site, site.admin_token)
    connection = {
        "csrf_token": csrf,
        "name": "jira \x00 a",
        "deployment": "cloud",
        "url": "https://a.example.net",
        "email": "bot@example.com",
        "token": "t",
    }
    status, _, page = b.request("POST", f"/ui/w/{WS}/connections", connection)
    assert status == 422 and "NUL character" in page, (status, page[:300])
    assert site.api("GET", f"/workspaces/{WS}/connections") == []
    person = {"csrf_token": csrf, "name": "eve\x07", "role": "MEMBER"}
    status, _, page = b.request("POST", f"/ui/w/{WS}/people", person)
    assert status == 422 and "control character" in page, (status, page[:300])
    assert "eve\x07" not in {u["name"] for u in site.api("GET", f"/workspaces/{WS}/users")}
