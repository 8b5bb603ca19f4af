"""Every page of the web UI in Chromium at 360 px, in English and in German (issue 14, "The UI"):

* no page is wider than the window (``document.documentElement.scrollWidth`` ≤ the viewport);
* the repository administrator's connection switches and the workspace administrator's
  connection actions are inside the window and answer a click;
* a walk through every page and the actions on them (dialog, test, reorder, switches, try it,
  confirmations, saving settings) raises no Content-Security-Policy violation and loads nothing
  that fails (the favicon included);
* a German page shows none of the catalogue's English texts;
* confirmations are the page's own dialog: the browser's ``confirm()`` never opens;
* the read-only rule editor's inputs are disabled; token inputs are tall enough for "_".

Screenshots of the main screens go to docs/screenshots (German ones under de-DE/, narrow ones
as *-360.png) — README and docs/web-ui.md show them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.fakes.fake_jira import FakeJira
from tests.web.conftest import SCREENSHOTS, TIMEOUT_MS, WS, Site, confirm_in_page, sign_in
from tests.web.test_web_i18n import english_leftovers

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
BASE = f"/ui/w/{WS}"
COLLECT = """
window.__jh = {csp: []};
document.addEventListener("securitypolicyviolation", function (e) {
  window.__jh.csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " @" + location.pathname);
});
"""


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as _expect

    return _expect(locator)


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with FakeJira("cloud") as fake:
        fake.add_issue("ABC-1", summary="Login fails", status="In Progress")
        yield fake


@pytest.fixture
def scene(site: Site, jira: FakeJira) -> dict[str, Any]:
    site.add_repository("api")
    site.add_repository("a-repository-with-a-rather-long-name")
    first = site.add_connection(
        "Acme Jira Cloud with a long name",
        jira.url,
        email=jira.user.email,
        token=jira.token,
        account_id=jira.user.account_id,
    )
    second = site.add_connection("Backup", jira.url, email=jira.user.email, token=jira.token)
    site.api("POST", f"/workspaces/{WS}/rules/from-template", {"template": "commit-key-required"})
    site.api("POST", f"/workspaces/{WS}/rules/from-template", {"template": "gitflow-branch-naming"})
    token = site.api(
        "POST", f"/workspaces/{WS}/validation-tokens", {"name": "ci_hooks", "repository": "api"}
    )
    site.validate(
        token["endpoint"],
        token["secret"],
        {
            "triggerType": "PUSH",
            "branchName": "feature/ABC-1-a-branch-name-that-is-quite-long-indeed",
            "commits": [
                {"hash": "a" * 40, "message": "ABC-1 Fix login", "authorDisplayName": "Ada"},
                {"hash": "b" * 40, "message": "no key", "authorDisplayName": "Grace"},
            ],
        },
    )
    rita = site.add_user("rita", repository_admin=["api"])
    return {"connections": [first["id"], second["id"]], "rita": rita}


class Watch:
    """What went wrong in a tab: CSP violations, failed loads, native dialogs, JS errors."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.failed: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.add_init_script(COLLECT)
        page.on("response", self._response)
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)
        self.csp: list[str] = []

    def _response(self, response: Any) -> None:
        if response.status >= 400 and "/ui/w/default/nope" not in response.url:
            self.failed.append(f"{response.status} {response.url}")

    def _console(self, message: Any) -> None:
        # the error page is a 404 on purpose; everything else must load
        if message.type == "error" and "/nope" not in str(message.location.get("url", "")):
            self.errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def collect(self) -> None:
        self.csp += self.page.evaluate("window.__jh ? window.__jh.csp.splice(0) : []")


def fits(page: Any, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    assert width <= viewport, f"{what}: {width} px wide in a {viewport} px window"


def inside(page: Any, locator: Any, what: str) -> None:
    """Within the window as the page lays it out: scrolled to vertically, never sideways (no
    table scrolled horizontally to find it)."""
    locator.evaluate(
        "e => window.scrollTo(0, e.getBoundingClientRect().top + window.scrollY - 100)"
    )
    box = locator.bounding_box()
    assert box is not None, what
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5, (what, box)


def pages(scene: dict[str, Any]) -> list[str]:
    return [
        BASE,
        f"{BASE}?days=7",
        f"{BASE}/evaluations",
        f"{BASE}/evaluations/1",
        f"{BASE}/connections",
        f"{BASE}/rules",
        f"{BASE}/rules/-/new",
        f"{BASE}/rules/commit-key-required",
        f"{BASE}/templates",
        f"{BASE}/settings",
        f"{BASE}/tokens",
        f"{BASE}/people",
        f"{BASE}/people/1",
        f"{BASE}/bitbucket",
        f"{BASE}/hosts/github",
        f"{BASE}/hosts/gitlab",
        f"{BASE}/hosts/bitbucket-dc",
        f"{BASE}/repositories",
        f"{BASE}/r/api/connections",
        f"{BASE}/r/api/rules",
        f"{BASE}/r/api/rules/-/new",
        f"{BASE}/r/api/settings",
        f"{BASE}/nope",  # the error page
    ]


def width_problem(page: Any, what: str) -> str | None:
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.evaluate("window.innerWidth")
    return f"{what}: {width} px wide in a {viewport} px window" if width > viewport else None


def walk(page: Any, watch: Watch, scene: dict[str, Any], locale: str) -> None:
    """Every page: first whether it fits (all pages, then the verdict), then its language."""
    too_wide: list[str] = []
    languages: list[str] = []
    leftovers: list[tuple[str, list[str]]] = []
    for url in pages(scene):
        page.goto(url)
        too_wide.append(width_problem(page, f"{locale} {url}") or "")
        # open what hides behind a <details> (the wide bits live there)
        for summary in page.locator("main details > summary").all():
            if summary.is_visible():
                summary.click()
        too_wide.append(width_problem(page, f"{locale} {url} (details open)") or "")
        languages.append(f"{url}: {page.locator('html').get_attribute('lang')}")
        if locale == "de-DE":
            left = english_leftovers(page.locator("body").inner_text())
            if left:
                leftovers.append((url, left))
        watch.collect()
    assert [p for p in too_wide if p] == []
    assert all(lang.endswith(": " + locale) for lang in languages), languages
    assert leftovers == []


def actions(page: Any, watch: Watch, scene: dict[str, Any], locale: str) -> None:
    """The things one does on the pages, at 360 px: each swap or submit, then the checks."""
    de = locale == "de-DE"
    first, second = scene["connections"]
    page.goto(f"{BASE}/connections")
    # every action of every connection is inside the window and answers
    for cid in (first, second):
        row = page.locator(f"#connection-{cid}")
        for button in row.locator("td.actions button:not([disabled])").all():
            inside(page, button, f"{locale} connection action")
            button.click(trial=True)
    page.locator(f"#connection-{first}").get_by_text(
        "Verbindung testen" if de else "Test connection"
    ).click()
    expect(page.locator(f"#test-{first} .test")).to_be_visible()
    fits(page, f"{locale} after a connection test")
    top = page.locator("#connections-table tbody tr[data-id]").first.get_attribute("data-id")
    page.locator(f"#down-{top}").click()
    expect(page.locator(f"#up-{top}")).to_be_focused()
    fits(page, f"{locale} after reordering")
    page.locator("#create-connection").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Jira-URL" if de else "Jira URL").fill("not a url")
    dialog.get_by_label("Jira-URL" if de else "Jira URL").blur()
    expect(page.locator("#c-url-error")).not_to_be_empty()
    fits(page, f"{locale} connection dialog")
    dialog.get_by_role("button", name="Abbrechen" if de else "Cancel").click()
    # delete asks in the page; cancelling keeps the connection
    page.locator(f"#connection-{second} button.danger").click()
    confirm_in_page(page, accept=False)
    expect(page.locator(f"#connection-{second}")).to_be_visible()
    watch.collect()

    page.goto(f"{BASE}/rules")
    switch = page.locator("#rule-gitflow-branch-naming .slider")
    inside(page, switch, f"{locale} rule switch")
    toggle = page.locator("#rule-gitflow-branch-naming input[role=switch]")
    was = toggle.is_checked()
    toggle.click()
    expect(toggle).to_be_checked(checked=not was)
    page.goto(f"{BASE}/rules/commit-key-required")
    page.locator("#try-commits").fill("ABC-1 Fix\nno key")
    page.locator("#try-button").click()
    expect(page.locator("#try-verdict")).to_be_visible()
    fits(page, f"{locale} try it")
    watch.collect()

    page.goto(f"{BASE}/settings")
    page.locator("form.card button[type=submit]").click()
    expect(page.locator(".flash")).to_be_visible()
    page.goto(f"{BASE}/tokens")
    page.locator("#token-name").fill(f"laptop_of_ada_{locale}")
    page.locator("section.card form button[type=submit]").click()
    expect(page.locator("#secret-panel")).to_be_visible()
    fits(page, f"{locale} new secret")
    watch.collect()


def test_every_page_fits_360px_in_both_languages_without_csp_violations(
    browser: Any, site: Site, scene: dict[str, Any]
) -> None:
    for locale in ("en-US", "de-DE"):
        context = browser.new_context(viewport=PHONE, base_url=site.url, locale=locale)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        watch = Watch(page)
        try:
            page.goto("/ui/login")
            fits(page, f"{locale} sign-in")
            page.locator("#token").fill(site.admin_token)
            page.locator("form button[type=submit]").click()
            page.wait_for_url("**/ui/w/**")
            walk(page, watch, scene, locale)
            actions(page, watch, scene, locale)
            if locale == "de-DE":
                narrow_screenshots(page, "de-DE")
            else:
                narrow_screenshots(page, "")
            page.locator("form.signout button").click()
            expect(page.locator("#signed-out")).to_be_visible()
            watch.collect()
        finally:
            context.close()
        assert watch.csp == [], f"{locale}: CSP violations {watch.csp}"
        assert watch.failed == [], f"{locale}: failed loads {watch.failed}"
        assert watch.dialogs == [], f"{locale}: native dialogs {watch.dialogs}"
        assert watch.errors == [], f"{locale}: script errors {watch.errors}"


def test_a_repository_admins_switches_are_reachable_at_360px(
    browser: Any, site: Site, scene: dict[str, Any]
) -> None:
    for locale in ("en-US", "de-DE"):
        context = browser.new_context(viewport=PHONE, base_url=site.url, locale=locale)
        page = context.new_page()
        watch = Watch(page)
        try:
            page.goto("/ui/login")
            page.locator("#token").fill(scene["rita"])
            page.locator("form button[type=submit]").click()
            page.wait_for_url("**/ui/w/**")
            page.goto(f"{BASE}/r/api/connections")
            fits(page, f"{locale} repository connections")
            for cid in scene["connections"]:
                slider = page.locator(f"#repo-connection-{cid} .slider")
                inside(page, slider, f"{locale} switch {cid}")
                expect(page.locator(f"#switch-{cid}")).to_be_enabled()
            cid = scene["connections"][0]
            page.locator(f"#switch-{cid}").click()
            expect(page.locator(f"#repo-connection-{cid} .saved")).to_be_visible()
            expect(page.locator(f"#switch-{cid}")).not_to_be_checked()
            page.locator(f"#switch-{cid}").click()
            expect(page.locator(f"#switch-{cid}")).to_be_checked()
            fits(page, f"{locale} after switching")
            # the inherited rules' switches too
            page.goto(f"{BASE}/r/api/rules")
            fits(page, f"{locale} repository rules")
            for slider in page.locator("#rules-table .slider").all():
                inside(page, slider, f"{locale} inherited rule switch")
            if locale == "en-US":
                page.screenshot(path=str(SCREENSHOTS / "repository-connections-360.png"))
            # read-only where rita is no admin: the workspace rule's editor
            page.goto(f"{BASE}/rules/commit-key-required")
            fits(page, f"{locale} read-only rule")
            expect(page.locator("#read-only-note")).to_be_visible()
            for field in page.locator(
                "#rule-form input:not([type=hidden]), #rule-form textarea, #rule-form select"
            ).all():
                expect(field).to_be_disabled()
            expect(page.locator("#rule-form button[type=submit]")).to_have_count(0)
            watch.collect()
        finally:
            context.close()
        assert watch.csp == [] and watch.failed == [] and watch.dialogs == [], (
            watch.csp,
            watch.failed,
            watch.dialogs,
        )


def test_deleting_asks_in_the_page_never_with_the_browsers_confirm(
    page: Any, site: Site, scene: dict[str, Any]
) -> None:
    watch = Watch(page)
    sign_in(page, site.admin_token)
    page.goto(f"{BASE}/rules/gitflow-branch-naming")
    page.get_by_role("button", name="Delete rule").click()
    confirm_in_page(page, accept=False)
    rules = [r["id"] for r in site.api("GET", f"/workspaces/{WS}/rules")]
    assert "gitflow-branch-naming" in rules
    page.get_by_role("button", name="Delete rule").click()
    expect(page.locator("#confirm-text")).to_contain_text("Branch names follow git-flow")
    confirm_in_page(page, accept=True)
    page.wait_for_url(re.compile(r"/rules$"))
    rules = [r["id"] for r in site.api("GET", f"/workspaces/{WS}/rules")]
    assert "gitflow-branch-naming" not in rules
    assert watch.dialogs == []


def test_token_inputs_are_tall_enough_for_underscores(
    page: Any, site: Site, scene: dict[str, Any]
) -> None:
    """The secret of a new token (it has "_" in it) sits in a monospace input with a set line
    height; with Chromium's "normal" line box and the buttons' 1.2 the "_" was clipped."""
    sign_in(page, site.admin_token)
    page.goto(f"{BASE}/tokens")
    page.locator("#token-name").fill("my_token")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-secret")
    expect(secret).to_be_visible()
    style = secret.evaluate(
        "e => { const s = getComputedStyle(e); return [s.fontFamily, s.lineHeight, s.fontSize,"
        " e.clientHeight]; }"
    )
    family, line_height, font_size, height = style
    assert "monospace" in family
    assert line_height.endswith("px"), line_height  # not "normal": a set, generous line box
    assert float(line_height[:-2]) >= 1.5 * float(font_size[:-2])
    assert height >= float(line_height[:-2])
    page.locator("form.signout button").click()  # the sign-in page's token field too
    token_input = page.locator("#token")
    line = token_input.evaluate("e => getComputedStyle(e).lineHeight")
    size = token_input.evaluate("e => getComputedStyle(e).fontSize")
    assert line.endswith("px") and float(line[:-2]) >= 1.5 * float(size[:-2])


SHOTS = (
    ("dashboard", BASE),
    ("connections", f"{BASE}/connections"),
    ("repository-connections", f"{BASE}/r/api/connections"),
    ("rule-editor", f"{BASE}/rules/commit-key-required"),
    ("evaluations", f"{BASE}/evaluations"),
    ("people", f"{BASE}/people"),
    ("repositories", f"{BASE}/repositories"),
)


def narrow_screenshots(page: Any, locale: str) -> None:
    """docs/screenshots/<name>-360.png (English) and de-DE/<name>-360.png (German)."""
    folder = SCREENSHOTS / locale if locale else SCREENSHOTS
    folder.mkdir(parents=True, exist_ok=True)
    for name, url in SHOTS:
        page.goto(url)
        page.screenshot(path=str(folder / f"{name}-360.png"), full_page=False)


def test_german_screenshots_of_the_main_screens(
    browser: Any, site: Site, scene: dict[str, Any]
) -> None:
    """docs/screenshots/de-DE/*.png at 1280 px (the English ones come from the other tests)."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 860}, base_url=site.url, locale="de-DE"
    )
    page = context.new_page()
    try:
        page.goto("/ui/login")
        expect(page.locator("h1")).to_have_text("Bei jirahooks anmelden")
        folder = SCREENSHOTS / "de-DE"
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / "sign-in.png"))
        page.locator("#token").fill(site.admin_token)
        page.locator("form button[type=submit]").click()
        page.wait_for_url("**/ui/w/**")
        for name, url in (
            *SHOTS,
            ("templates", f"{BASE}/templates"),
            ("validation-tokens", f"{BASE}/tokens"),
            ("evaluation-detail", f"{BASE}/evaluations/1"),
            ("process-guardian-settings", f"{BASE}/settings"),
            ("bitbucket-settings", f"{BASE}/bitbucket"),
        ):
            page.goto(url)
            expect(page.locator("html")).to_have_attribute("lang", "de-DE")
            page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        page.goto(f"{BASE}/connections")
        page.locator("#create-connection").click()
        expect(page.get_by_role("dialog")).to_be_visible()
        page.screenshot(path=str(folder / "connection-dialog.png"))
    finally:
        context.close()
