"""The web rule editor and an unsafe rule JQL (issue 10, section 3): the form refuses one that
could escape ``(jql) AND id in (…)``, and a rule stored before the check still opens so it can
be fixed (plain HTTP against the live server)."""

from __future__ import annotations

import html

from sqlalchemy import create_engine, update
from tests.web.conftest import WS, Browser, Site

from jirahooks.store.models import RuleRow

BASE = f"/ui/w/{WS}"
ESCAPE = 'status = "Done") OR (1=1'


def _signed_in(site: Site) -> tuple[Browser, str]:
    b = Browser(site.url)
    assert b.sign_in(site.admin_token)[0] == 303
    return b, b.csrf()


def _form(csrf: str, jql: str) -> list[tuple[str, str]]:
    return [
        ("csrf_token", csrf),
        ("id", "progress"),
        ("title", "In progress"),
        ("severity", "BLOCK"),
        ("triggers", "PUSH"),
        ("targets", "COMMIT"),
        ("strategy", "ALL"),
        ("jql", jql),
    ]


def test_the_rule_form_refuses_an_escaping_jql(site: Site) -> None:
    b, csrf = _signed_in(site)
    status, _, text = b.request("POST", BASE + "/rules/-/new", _form(csrf, ESCAPE))
    assert status == 422, text[:300]  # b9f4856: 303, saved
    assert "unsafe JQL" in html.unescape(text) and "never opened" in html.unescape(text)
    assert site.api("GET", f"/workspaces/{WS}/rules") == []


def test_a_stored_rule_with_an_escaping_jql_opens_in_the_editor(site: Site) -> None:
    b, csrf = _signed_in(site)
    status, _, _ = b.request("POST", BASE + "/rules/-/new", _form(csrf, 'status = "In Progress"'))
    assert status == 303
    url = site.live.app.state.jirahooks.settings.effective_database_url
    engine = create_engine(url.replace("+aiosqlite", ""))  # the same file, synchronously
    with engine.begin() as db:
        definition = {"id": "progress", "title": "In progress", "checks": {"jql": ESCAPE}}
        db.execute(
            update(RuleRow).where(RuleRow.rule_id == "progress").values(definition=definition)
        )
    engine.dispose()
    site.api("PUT", f"/workspaces/{WS}/settings", {"jira_unreachable": "BLOCK"})  # reload
    status, _, text = b.request("GET", BASE + "/rules/progress")
    assert status == 200, text[:300]  # nothing stored is lost: the admin can fix it here
    assert ESCAPE in html.unescape(text)
