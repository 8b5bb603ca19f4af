"""Rule modes in the web UI, in a real browser: the mode select of the rule editor, saved through
the admin API, and the dashboard's "would have blocked" chart and escape-token list fed by real
Validation API calls (ADR 0011)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.web.conftest import WS, Site, screenshot, sign_in

pytestmark = pytest.mark.browser


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as _expect

    return _expect(locator)


def test_mode_select_and_would_have_blocked_chart(page: Any, site: Site) -> None:
    site.add_repository("api")
    site.api("POST", f"/workspaces/{WS}/rules/from-template", {"template": "commit-key-required"})
    site.api(
        "PUT",
        f"/workspaces/{WS}/settings",
        {"exemptions": {"escape": {"allowed": True}}},
    )
    token = site.api("POST", f"/workspaces/{WS}/validation-tokens", {"name": "ci"})
    endpoint = f"{site.url}/api/validate/{WS}?repoSlug=api"
    sign_in(page, site.admin_token)

    # The editor: the rule follows the default until a mode is chosen.
    page.goto(f"/ui/w/{WS}/rules/commit-key-required")
    mode = page.get_by_label("Mode")
    expect(mode).to_have_value("")
    mode.select_option("evaluate")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator(".flash")).to_contain_text("Rule saved")
    expect(page.get_by_label("Mode")).to_have_value("evaluate")
    rule = site.api("GET", f"/workspaces/{WS}/rules/commit-key-required")
    assert rule["definition"]["mode"] == "evaluate" and rule["rule"]["mode"] == "evaluate"
    # Try it says what enforce would have done.
    page.get_by_role("textbox", name="Commit messages").fill("no key here")
    page.get_by_role("button", name="Try it", exact=True).click()
    expect(page.locator("#try-verdict")).to_have_text("Result: PASS")
    expect(page.locator("#try-mode")).to_have_text("In evaluate mode; enforced, it would be BLOCK.")
    page.goto(f"/ui/w/{WS}/rules")
    expect(page.locator("#rule-commit-key-required .badge.mode-evaluate")).to_have_text("evaluate")

    # Pushes: two would have blocked, one passes, one uses the escape token.
    def push(message: str, sha: str) -> dict[str, Any]:
        status, answer = site.validate(
            endpoint,
            token["secret"],
            {
                "triggerType": "PUSH",
                "branchName": "feature/x",
                "commits": [{"hash": sha * 40, "message": message, "authorDisplayName": "Ada"}],
            },
        )
        assert status == 200
        return dict(answer)

    for message, sha in (("no key", "a"), ("still no key", "b"), ("ABC-1 fine", "c")):
        answer = push(message, sha)
        assert answer["result"] == "PASS" and answer["ruleValidations"] == []
    assert push("typo [no-jira: README only]", "d")["result"] == "SKIP"

    page.get_by_role("link", name="Dashboard").click()
    chart = page.get_by_role("img", name=re.compile("would have blocked, per day, 1 rules"))
    expect(chart).to_be_visible()
    expect(chart.locator("rect.bar-block")).to_have_count(1)  # today's bar
    expect(chart).to_contain_text("2 of 3 (evaluate)")  # the escape's push skipped the rule
    trials = page.locator("#trials")
    trials.get_by_text("As a table").click()
    expect(trials.locator("tbody tr")).to_have_count(1)
    expect(trials.locator("tbody tr td").nth(1)).to_have_text("2")
    expect(page.locator("#escape-count")).to_have_text("1")
    expect(page.locator("#escapes tbody tr")).to_contain_text("README only")
    screenshot(page, "dashboard-rule-trials")

    # The stored evaluation says the rule's mode and that it would have blocked.
    page.goto(f"/ui/w/{WS}/evaluations")
    page.get_by_role("link", name=re.compile(r"Evaluation \d+: PASS")).last.click()
    expect(page.locator(".rule-result .badge.mode-evaluate")).to_have_text("evaluate")
    expect(page.locator(".rule-result .would-have-blocked")).to_have_text("would have blocked")

    # The rules page shows the same chart under the rules.
    page.get_by_role("link", name="Compliance rules").click()
    on_rules = page.locator("#rules-trials").get_by_role("img")
    expect(on_rules).to_contain_text("2 of 3 (evaluate)")

    # In German, too.
    page.goto(f"/ui/w/{WS}/rules/commit-key-required")
    page.context.add_cookies([{"name": "jirahooks_lang", "value": "de-DE", "url": site.url}])
    page.reload()
    expect(page.get_by_label("Modus")).to_have_value("evaluate")
