"""The Process Guardian settings form sets the default rule mode and keeps the exemptions it
does not edit (set through the admin API or `apply`): a save must not drop them."""

from __future__ import annotations

from tests.web.conftest import WS, Browser, Site
from tests.web.test_web_settings_overrides import _Form, _set

PAGE = f"/ui/w/{WS}/settings"


def _form(browser: Browser, page: str) -> tuple[list[tuple[str, str]], str]:
    status, _, text = browser.request("GET", page)
    assert status == 200
    parser = _Form()
    parser.feed(text)
    return parser.fields, text


def test_default_mode_is_set_and_exemptions_are_kept(site: Site) -> None:
    exemptions = {"bots": True, "escape": {"allowed": True, "token": "skip-jira"}}
    site.api("PUT", f"/workspaces/{WS}/settings", {"exemptions": exemptions})
    browser = Browser(site.url)
    assert browser.sign_in(site.admin_token)[0] == 303
    fields, text = _form(browser, PAGE)
    assert ("default_mode", "enforce") in fields
    assert "Escape token [skip-jira: …]: allowed" in text and "Bots: on" in text
    status, _, text = browser.request("POST", PAGE, _set(fields, "default_mode", "evaluate"))
    assert status == 200 and "Settings saved." in text
    stored = site.api("GET", f"/workspaces/{WS}/settings")["settings"]
    assert stored == {"default_mode": "evaluate", "exemptions": exemptions}

    # a repository overrides the default mode, and inherits the exemptions
    site.add_repository("api")
    page = f"/ui/w/{WS}/r/api/settings"
    fields, _ = _form(browser, page)
    assert ("default_mode", "evaluate") in fields  # inherited, shown
    status, _, text = browser.request("POST", page, _set(fields, "default_mode", "enforce"))
    assert status == 200 and "Settings saved." in text
    repo = site.api("GET", f"/workspaces/{WS}/repositories/api/settings")
    assert repo["settings"] == {"default_mode": "enforce"}
    assert repo["effective"]["exemptions"]["escape"]["token"] == "skip-jira"


def test_a_form_save_keeps_the_groups(site: Site) -> None:
    """``groups`` are not on the form either: a save keeps them (and so the escape that names
    them stays valid), for the workspace and for a repository's own groups."""
    escape = {"escape": {"allowed": True, "groups": {"include": ["release-managers"]}}}
    settings = {"groups": {"release-managers": ["alice"]}, "exemptions": escape}
    site.api("PUT", f"/workspaces/{WS}/settings", settings)
    browser = Browser(site.url)
    assert browser.sign_in(site.admin_token)[0] == 303
    fields, _ = _form(browser, PAGE)
    status, _, text = browser.request("POST", PAGE, _set(fields, "default_mode", "warn"))
    assert status == 200 and "Settings saved." in text
    stored = site.api("GET", f"/workspaces/{WS}/settings")["settings"]
    assert stored == {**settings, "default_mode": "warn"}

    site.add_repository("api")
    own = {"groups": {"release-managers": ["bob"]}}
    site.api("PUT", f"/workspaces/{WS}/repositories/api/settings", own)
    page = f"/ui/w/{WS}/r/api/settings"
    fields, _ = _form(browser, page)
    status, _, text = browser.request("POST", page, _set(fields, "default_mode", "enforce"))
    assert status == 200 and "Settings saved." in text
    repo = site.api("GET", f"/workspaces/{WS}/repositories/api/settings")
    assert repo["settings"] == {**own, "default_mode": "enforce"}
    assert repo["effective"]["groups"] == {"release-managers": ["bob"]}
