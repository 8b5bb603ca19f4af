"""The web UI in a real browser (Debian's Chromium through Playwright) against the app served by
a real uvicorn: sign-in, the connection dialog and its inline validation, Test connection
against the fake Jira, reordering by keyboard and by drag, a repository administrator's view,
a rule from a template with "try it", and a signed Validation API call found in the history.

Each main screen is saved to docs/screenshots/ (wide, and a few at a narrow width)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.web.conftest import WS, Site, screenshot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira("cloud") as fake:
        fake.add_issue("ABC-1", summary="Login fails", status="In Progress")
        yield fake


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as _expect

    return _expect(locator)


def connection_names(page: Any) -> list[str]:
    return [n.strip() for n in page.locator("#connections-table tbody th.name").all_inner_texts()]


def test_sign_in_rejects_a_bad_token_then_signs_in_and_out(page: Any, site: Site) -> None:
    page.goto("/ui/w/default/connections")
    expect(page).to_have_url(re.compile(r"/ui/login\?next="))
    page.get_by_label("API token").fill("jh_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown or revoked")
    screenshot(page, "sign-in")
    page.get_by_label("API token").fill(site.admin_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/ui/w/default/connections$"))  # back where it was
    expect(page.get_by_text("Signed in as")).to_contain_text("admin")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/ui/login\?signed_out=1$"))
    expect(page.get_by_role("status").first).to_contain_text("You are signed out")
    page.goto("/ui/w/default")
    expect(page).to_have_url(re.compile(r"/ui/login"))


def test_create_a_connection_through_the_dialog_and_test_it(
    page: Any, site: Site, jira: FakeJira
) -> None:
    sign_in(page, site.admin_token)
    page.get_by_role("link", name="Jira connections").click()
    page.get_by_role("button", name="Create new connection").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Name")).to_be_focused()

    # Inline validation: messages appear next to the fields while typing.
    dialog.get_by_label("Deployment type").select_option("cloud")
    dialog.get_by_label("Jira URL").fill("acme.atlassian.net")
    dialog.get_by_label("E-mail").fill("not-an-email")
    dialog.get_by_label("E-mail").blur()
    expect(page.locator("#c-url-error")).to_contain_text("http(s) URL")
    expect(page.locator("#c-email-error")).to_contain_text("e-mail address")
    dialog.get_by_role("button", name="Create connection").click()
    expect(page.locator("#c-token-error")).to_contain_text("API token")
    expect(page.locator("#c-name-error")).to_contain_text("name")
    screenshot(page, "connection-dialog", full_page=False)

    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Acme Cloud")
    dialog.get_by_label("Jira URL").fill(jira.url)
    dialog.get_by_label("E-mail").fill(jira.user.email)
    dialog.get_by_label("Account ID").fill(jira.user.account_id)
    dialog.get_by_label("API token").fill(jira.token)
    dialog.get_by_role("button", name="Create connection").click()
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page.locator("#connections-table")).to_contain_text("Acme Cloud")
    assert connection_names(page) == ["Acme Cloud"]
    assert jira.token not in page.content()  # write-only

    page.get_by_role("button", name="Test connection Acme Cloud").click()
    result = page.locator(".test.ok")
    expect(result).to_contain_text("Connected")
    expect(result).to_contain_text("Jira Cloud")
    expect(result).to_contain_text(jira.user.account_id)
    expect(result).to_contain_text(jira.user.email)

    # Edit: the token is never shown, only replaced.
    page.get_by_role("button", name="Edit Acme Cloud").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("API token")).to_have_value("")
    expect(dialog).to_contain_text("A token is stored")
    dialog.get_by_label("Name").fill("Acme Jira Cloud")
    dialog.get_by_role("button", name="Save changes").click()
    expect(page.locator("#connections-table")).to_contain_text("Acme Jira Cloud")
    stored = site.api("GET", f"/workspaces/{WS}/connections")
    assert [(c["name"], c["token_set"]) for c in stored] == [("Acme Jira Cloud", True)]
    screenshot(page, "connections")
    screenshot(page, "connections-narrow", narrow=True)


def test_reorder_connections_by_keyboard_and_drag_is_persisted(page: Any, site: Site) -> None:
    site.add_connection("First", "https://first.example")
    site.add_connection("Second", "https://second.example")
    site.add_connection("Third", "https://third.example")
    sign_in(page, site.admin_token)
    page.goto("/ui/w/default/connections")
    assert connection_names(page) == ["First", "Second", "Third"]

    up = page.get_by_role("button", name="Move Second up")
    up.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#connections-table .flash")).to_contain_text("Order saved")
    assert connection_names(page) == ["Second", "First", "Third"]
    # Focus stays on the control that moved the row, for the next key press.
    expect(page.get_by_role("button", name="Move Second down")).to_be_focused()
    page.reload()
    assert connection_names(page) == ["Second", "First", "Third"]

    page.locator("#connections-table tr[data-id] .grip").nth(2).drag_to(
        page.locator("#connections-table tr[data-id]").nth(0), target_position={"x": 20, "y": 4}
    )
    expect(page.locator("#connections-table .flash")).to_contain_text("Order saved")
    page.reload()
    assert connection_names(page) == ["Third", "Second", "First"]
    order = [c["name"] for c in site.api("GET", f"/workspaces/{WS}/connections")]
    assert order == ["Third", "Second", "First"]


def test_repository_admin_toggles_a_connection_and_cannot_create_one(page: Any, site: Site) -> None:
    site.add_repository("api")
    site.add_connection("Acme Cloud", "https://acme.example", account_id="5b10ac8d")
    site.add_connection("Legacy DC", "https://jira.legacy.example", deployment="datacenter")
    token = site.add_user("rita", role="MEMBER", repository_admin=["api"])
    sign_in(page, token)
    page.goto("/ui/w/default/r/api/connections")
    switch = page.get_by_role("switch", name="Legacy DC")
    expect(switch).to_be_checked()
    switch.click()
    expect(page.locator("#repo-connection-2")).to_contain_text("Disabled")
    page.reload()
    expect(page.get_by_role("switch", name="Legacy DC")).not_to_be_checked()
    expect(page.get_by_role("switch", name="Acme Cloud")).to_be_checked()
    switches = site.api("GET", f"/workspaces/{WS}/repositories/api/connections")
    assert [(s["connection"]["name"], s["enabled"]) for s in switches] == [
        ("Acme Cloud", True),
        ("Legacy DC", False),
    ]
    screenshot(page, "repository-connections")

    page.goto("/ui/w/default/connections")
    expect(page.get_by_role("heading", name="Jira connections")).to_be_visible()
    expect(page.get_by_role("button", name="Create new connection")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^(Edit|Delete|Test)"))).to_have_count(0)
    assert "bot@example.com" not in page.content()  # no credentials for repository admins
    assert "5b10ac8d" not in page.content()
    response = page.goto("/ui/w/default/connections/new")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_rule_from_a_template_adapted_and_tried(page: Any, site: Site, jira: FakeJira) -> None:
    site.add_connection(
        "Acme Cloud", jira.url, email=jira.user.email, token=jira.token, account_id=""
    )
    sign_in(page, site.admin_token)
    page.get_by_role("link", name="Templates").click()
    screenshot(page, "templates")
    card = page.get_by_role("region", name="Issue key required in every commit")
    card.get_by_role("button", name=re.compile("Use template")).click()
    expect(page).to_have_url(re.compile(r"/rules/commit-key-required\?saved=template$"))
    expect(page.locator(".flash")).to_contain_text("created from the template")

    # Adapt it: a bad regular expression is reported next to its field.
    page.get_by_label(re.compile(r"^Title")).fill("Commits reference a valid issue")
    page.get_by_label("Keys must be valid in Jira").select_option("ALL")
    page.get_by_label("Naming convention (regular expression)").fill("^(ABC")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#r-naming-error")).to_contain_text("invalid regular expression")
    expect(page.get_by_label("Naming convention (regular expression)")).to_have_attribute(
        "aria-invalid", "true"
    )
    page.get_by_label("Naming convention (regular expression)").fill("")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator(".flash")).to_contain_text("Rule saved")
    rule = site.api("GET", f"/workspaces/{WS}/rules/commit-key-required")
    assert rule["rule"]["title"] == "Commits reference a valid issue"
    assert rule["rule"]["checks"]["keysValid"] == "ALL"

    # Try it against the real (fake) Jira connection.
    page.get_by_role("textbox", name="Branch name").fill("feature/ABC-1-login")
    page.get_by_role("textbox", name="Commit messages").fill(
        "ABC-1 Fix the login\nTidy up\nABC-999 Unknown"
    )
    page.get_by_role("button", name="Try it", exact=True).click()
    verdict = page.locator("#try-verdict")
    expect(verdict).to_have_text("Result: BLOCK")
    result = page.locator("#try-result")
    expect(result).to_contain_text("Commit does not contain any issue keys.")
    expect(result).to_contain_text("Jira connections: Acme Cloud")
    expect(result.locator(".commit-ref")).to_have_count(3)
    expect(result).to_contain_text("Login fails")  # issue data used, from Jira
    screenshot(page, "rule-editor-try-it")

    page.get_by_role("textbox", name="Commit messages").fill("ABC-1 Fix the login")
    page.get_by_role("button", name="Try it", exact=True).click()
    expect(verdict).to_have_text("Result: PASS")
    screenshot(page, "rule-editor-narrow", narrow=True, full_page=False)

    page.get_by_role("link", name="Compliance rules").click()
    expect(
        page.get_by_role("switch", name=re.compile("Commits reference a valid issue"))
    ).to_be_checked()


def test_validation_api_call_appears_in_the_history(page: Any, site: Site) -> None:
    site.add_repository("api")
    site.add_repository("web")
    site.api("POST", f"/workspaces/{WS}/rules/from-template", {"template": "commit-key-required"})
    sign_in(page, site.admin_token)

    # Create the token in the UI: the secret is shown once, with the endpoint to paste.
    page.get_by_role("link", name="Validation API tokens").click()
    page.get_by_label("Name").fill("ci-hooks")
    page.get_by_label("Scope").select_option("api")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("Secret (JHFB_SECRET)").input_value()
    endpoint = page.get_by_label("Endpoint URL (JHFB_ENDPOINT)").input_value()
    assert secret.startswith("jhv_")
    assert endpoint == f"{site.url}/api/validate/{WS}?repoSlug=api"
    page.get_by_role("button", name="Copy").first.click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    screenshot(page, "validation-tokens")
    page.reload()
    assert secret not in page.content()  # shown once only

    commit = {"hash": "c0ffee" * 6 + "0000", "authorDisplayName": "Ada Tester"}
    status, answer = site.validate(
        endpoint,
        secret,
        {
            "triggerType": "PUSH",
            "branchName": "feature/login",
            "commits": [{**commit, "message": "Fix the login page"}],
        },
    )
    assert (status, answer["result"]) == (200, "BLOCK")
    status, answer = site.validate(
        endpoint,
        secret,
        {
            "triggerType": "COMMIT",
            "branchName": "feature/login",
            "commits": [{**commit, "message": "ABC-1 Fix the login page"}],
        },
    )
    assert (status, answer["result"]) == (200, "PASS")

    page.get_by_role("link", name="Evaluations").click()
    rows = page.locator("#evaluations tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("Repository").select_option("api")
    page.get_by_role("checkbox", name="BLOCK").check()
    page.get_by_role("checkbox", name="PUSH").check()
    page.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("feature/login")
    screenshot(page, "evaluations")
    page.get_by_role("link", name=re.compile(r"Evaluation \d+: BLOCK")).click()
    expect(page.locator("#verdict")).to_have_text("Result: BLOCK")
    expect(page.locator(".section-title").first).to_have_text("Commits")
    expect(page.locator(".commit-ref").first).to_contain_text("c0ffeec0ffee")
    expect(page.get_by_text("Commit does not contain any issue keys.", exact=True)).to_be_visible()
    screenshot(page, "evaluation-detail")

    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("img", name=re.compile("2 in total, 1 blocked"))).to_be_visible()
    expect(page.get_by_role("img", name="Most failing rules (blocks)")).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Repositories by compliance"))).to_be_visible()
    screenshot(page, "dashboard")
    screenshot(page, "dashboard-narrow", narrow=True)

    page.get_by_role("link", name="Process Guardian").click()
    page.get_by_label("When Jira is unreachable").select_option("WARN")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".flash")).to_contain_text("Settings saved")
    screenshot(page, "process-guardian-settings")
