"""The small things of issue 14 ("The UI", last bullet), over HTTP against the live server:
a real hint for a rejected token, a warning (not a success) box for a wrong account, the
read-only rule editor with disabled inputs, confirmations that need no ``window.confirm``,
repositories renamed and deleted (admins only, audited), the evaluations list's author column
and assignee names, getting-started steps on the empty dashboard, a message after sign-out,
and the favicon."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.web.conftest import WS, Browser, Site

BASE = f"/ui/w/{WS}"


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira("cloud") as fake:
        yield fake


def admin(site: Site) -> Browser:
    b = Browser(site.url)
    b.sign_in(site.admin_token)
    return b


def test_a_rejected_token_gets_a_real_hint_not_the_placeholder(site: Site, jira: FakeJira) -> None:
    c = site.add_connection("Acme", jira.url, email=jira.user.email, token="not-the-token")
    result = site.api("POST", f"/workspaces/{WS}/connections/{c['id']}/test")
    assert result["ok"] is False
    everything = " ".join(
        [result["hint"], *(p.get("hint", "") for p in result.get("problems", []))]
    )
    assert "${" not in everything and "JIRAHOOKS_STORED_SECRET" not in everything
    assert "connection 'Acme'" in everything and "Edit" in everything
    # the page shows the same hint
    b = admin(site)
    _, _, text = b.request(
        "POST", f"{BASE}/connections/{c['id']}/test", headers={"X-CSRF-Token": b.csrf()}
    )
    assert "JIRAHOOKS_STORED_SECRET" not in text and "Not connected" in text


def test_a_wrong_account_is_a_warning_not_a_success(site: Site, jira: FakeJira) -> None:
    c = site.add_connection(
        "Acme", jira.url, email=jira.user.email, token=jira.token, account_id="someone-else-1"
    )
    b = admin(site)
    _, _, text = b.request(
        "POST", f"{BASE}/connections/{c['id']}/test", headers={"X-CSRF-Token": b.csrf()}
    )
    assert "Connected, but check the account" in text
    assert 'class="test warning"' in text and 'class="test ok"' not in text
    right = site.add_connection("Right", jira.url, email=jira.user.email, token=jira.token)
    _, _, text = b.request(
        "POST", f"{BASE}/connections/{right['id']}/test", headers={"X-CSRF-Token": b.csrf()}
    )
    assert 'class="test ok"' in text


def test_the_read_only_rule_editor_has_disabled_inputs(site: Site) -> None:
    site.api(
        "POST",
        f"/workspaces/{WS}/rules",
        {"id": "keys", "title": "Keys", "checks": {"key_present": True}},
    )
    member = Browser(site.url)
    member.sign_in(site.add_user("mia", role="MEMBER"))
    _, _, text = member.request("GET", f"{BASE}/rules/keys")
    assert re.search(r'<fieldset class="plain" disabled>', text)
    assert "Read only" in text and "Save rule" not in text
    assert "Try it" not in text
    # an editor gets the same form enabled
    _, _, text = admin(site).request("GET", f"{BASE}/rules/keys")
    assert '<fieldset class="plain">' in text and "Save rule" in text


def test_no_page_asks_with_the_browsers_confirm() -> None:
    """Confirmations are the page's own dialog (base.html, app.js), which a strict CSP allows
    and which the page can translate; hx-confirm would call window.confirm()."""
    import jirahooks.server.web

    web = Path(jirahooks.server.web.__file__).parent
    for template in (web / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "hx-confirm" not in text, template.name
    script = (web / "static" / "app.js").read_text(encoding="utf-8")
    assert "window.confirm" not in script and "confirm(" not in script.replace("ask(", "")


def test_repositories_are_renamed_and_deleted_by_workspace_admins(site: Site) -> None:
    site.add_repository("api")
    site.add_repository("web")
    b = admin(site)
    _, _, page = b.request("GET", f"{BASE}/repositories")
    assert f'action="{BASE}/r/api/rename"' in page and f'action="{BASE}/r/api/delete"' in page
    csrf = b.csrf()

    # A repository admin may manage its settings, but neither rename nor delete it.
    rita = Browser(site.url)
    rita.sign_in(site.add_user("rita", repository_admin=["api"]))
    _, _, theirs = rita.request("GET", f"{BASE}/repositories")
    assert "/r/api/rename" not in theirs
    status, _, _ = rita.request(
        "POST", f"{BASE}/r/api/rename", {"slug": "x", "csrf_token": rita.csrf()}
    )
    assert status == 403
    status, _, _ = rita.request("POST", f"{BASE}/r/api/delete", {"csrf_token": rita.csrf()})
    assert status == 403

    # A bad slug and a taken slug are refused next to the field.
    status, _, text = b.request(
        "POST", f"{BASE}/r/api/rename", {"slug": "no spaces", "csrf_token": csrf}
    )
    assert status == 422 and "Letters, digits" in text
    status, _, text = b.request("POST", f"{BASE}/r/api/rename", {"slug": "web", "csrf_token": csrf})
    assert status == 422 and "exists" in text

    status, headers, _ = b.request(
        "POST", f"{BASE}/r/api/rename", {"slug": "api-v2", "csrf_token": csrf}
    )
    assert status == 303 and headers["location"] == f"{BASE}/repositories?renamed=api-v2"
    slugs = [r["slug"] for r in site.api("GET", f"/workspaces/{WS}/repositories")]
    assert slugs == ["api-v2", "web"]
    _, _, text = b.request("GET", headers["location"])
    assert "Repository renamed to api-v2." in text

    status, headers, _ = b.request("POST", f"{BASE}/r/web/delete", {"csrf_token": csrf})
    assert status == 303
    assert [r["slug"] for r in site.api("GET", f"/workspaces/{WS}/repositories")] == ["api-v2"]

    audit = site.api("GET", f"/workspaces/{WS}/audit")["items"]
    actions = [(e["action"], e["target"]) for e in audit]
    assert ("repository.rename", "repository:api") in actions
    assert ("repository.delete", "repository:web") in actions


def test_rename_through_the_admin_api_is_for_workspace_admins(site: Site) -> None:
    site.add_repository("api")
    token = site.add_user("rita", repository_admin=["api"])
    from tests.web.conftest import http

    status, body = http(
        "PATCH",
        f"{site.url}/api/v1/workspaces/{WS}/repositories/api",
        b'{"slug": "renamed"}',
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert status == 403, body
    out = site.api("PATCH", f"/workspaces/{WS}/repositories/api", {"slug": "renamed"})
    assert out["slug"] == "renamed"


def test_evaluations_show_the_author_and_assignee_names(site: Site, jira: FakeJira) -> None:
    jira.add_user("grace", "grace@example.com", "grace-token", "acc-grace-1", "Grace Hopper")
    jira.add_issue("ABC-1", summary="Login", status="In Progress", assignee="acc-grace-1")
    site.add_connection("Acme", jira.url, email=jira.user.email, token=jira.token)
    site.add_repository("api")
    site.api(
        "POST",
        f"/workspaces/{WS}/rules",
        {"id": "valid", "title": "Valid keys", "checks": {"keys_valid": "ALL"}},
    )
    token = site.api(
        "POST", f"/workspaces/{WS}/validation-tokens", {"name": "hooks", "repository": "api"}
    )
    status, _ = site.validate(
        token["endpoint"],
        token["secret"],
        {
            "triggerType": "PUSH",
            "branchName": "feature/ABC-1",
            "commits": [
                {"hash": "a" * 40, "message": "ABC-1 Fix", "authorDisplayName": "Ada Lovelace"}
            ],
        },
    )
    assert status == 200
    b = admin(site)
    _, _, listing = b.request("GET", f"{BASE}/evaluations")
    assert ">Author</th>" in listing
    assert re.search(r'<td data-label="Author" class="author">Ada Lovelace</td>', listing)
    evaluation_id = re.search(r"/evaluations/(\d+)", listing)
    assert evaluation_id
    _, _, detail = b.request("GET", f"{BASE}/evaluations/{evaluation_id.group(1)}")
    cell = re.search(r'class="assignee">(.*?)</td>', detail, re.S)
    assert cell and "Grace Hopper" in cell.group(1), detail[-3000:]


def test_the_empty_dashboard_shows_getting_started_steps(site: Site) -> None:
    b = admin(site)
    _, _, text = b.request("GET", BASE)
    assert 'id="getting-started"' in text
    for link in ("/connections", "/templates", "/repositories", "/tokens"):
        assert f'href="{BASE}{link}"' in text
    assert "jirahooks install all" in text
    # once something was evaluated, the steps make room for the figures
    site.add_repository("api")
    token = site.api(
        "POST", f"/workspaces/{WS}/validation-tokens", {"name": "t", "repository": "api"}
    )
    site.validate(
        token["endpoint"],
        token["secret"],
        {"triggerType": "PUSH", "branchName": "x", "commits": [{"hash": "b" * 40, "message": "m"}]},
    )
    _, _, text = b.request("GET", BASE)
    assert 'id="getting-started"' not in text


def test_sign_out_says_so(site: Site) -> None:
    b = admin(site)
    status, headers, _ = b.request("POST", "/ui/logout", {"csrf_token": b.csrf()})
    assert status == 303 and headers["location"] == "/ui/login?signed_out=1"
    _, _, text = b.request("GET", headers["location"])
    assert 'role="status" id="signed-out"' in text and "You are signed out" in text
    _, _, german = b.request("GET", headers["location"], headers={"Accept-Language": "de"})
    assert "Sie sind abgemeldet" in german


def test_the_favicon_is_served_from_the_package(site: Site) -> None:
    b = Browser(site.url)
    for path in ("/favicon.ico", "/ui/static/favicon.svg"):
        status, headers, body = b.request("GET", path)
        assert status == 200, path
        assert headers["content-type"].startswith("image/svg+xml")
        assert body.startswith("<svg")
    _, _, login = b.request("GET", "/ui/login")
    assert '<link rel="icon" href="/ui/static/favicon.svg"' in login
