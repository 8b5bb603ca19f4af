"""Repository settings in the web UI keep what the person typed (issue 14). Before, with
"Override" unticked the inherited values were live inputs: changing one and saving said
"Settings saved." and threw the change away. Now changing an inherited value overrides it
(ticking is implied), unticking an override removes it, and untouched values stay inherited.

Over plain HTTP, with the form submitted exactly as a browser would submit the rendered page
(every successful control: checked boxes, the selected option, text, hidden fields)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from tests.web.conftest import WS, Browser, Site

PAGE = f"/ui/w/{WS}/r/api/settings"


class _Form(HTMLParser):
    """The fields a browser submits for the settings form of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._textarea: str | None = None
        self._text = ""
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("action", "").endswith("/settings"):
            self._in_form = True
        if not self._in_form:
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if "disabled" in a or not a.get("name"):
                return
            self.fields.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self.fields.append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.fields.append((self._textarea, self._text))
            self._textarea = None
        elif tag == "form":
            self._in_form = False


def _form(browser: Browser) -> list[tuple[str, str]]:
    status, _, text = browser.request("GET", PAGE)
    assert status == 200
    parser = _Form()
    parser.feed(text)
    assert any(name == "csrf_token" for name, _ in parser.fields)
    return parser.fields


def _set(fields: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    assert any(n == name for n, _ in fields), name
    return [(n, value if n == name else v) for n, v in fields]


def _untick(fields: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    return [(n, v) for n, v in fields if n != name]


def _overrides(site: Site) -> dict[str, Any]:
    result: dict[str, Any] = site.api("GET", f"/workspaces/{WS}/repositories/api/settings")
    return dict(result["settings"])


def test_changing_an_inherited_value_overrides_it(site: Site) -> None:
    site.add_repository("api")
    site.api("PUT", f"/workspaces/{WS}/settings", {"key_pattern": "[A-Z]{3}-[0-9]+"})
    browser = Browser(site.url)
    assert browser.sign_in(site.admin_token)[0] == 303

    # "Override" unticked everywhere; the person changes the Jira-down policy and saves
    fields = _set(_form(browser), "jira_unreachable", "ALLOW")
    assert not any(n.startswith("override_") for n, _ in fields)
    status, _, text = browser.request("POST", PAGE, fields)
    assert status == 200 and "Settings saved." in text
    assert _overrides(site) == {"jira_unreachable": "ALLOW"}  # kept, nothing else overridden

    # the page now shows it ticked; changing another inherited value keeps the first override
    fields = _form(browser)
    assert ("override_jira_unreachable", "on") in fields
    fields = _set(fields, "time_budget_seconds", "4")
    status, _, text = browser.request("POST", PAGE, fields)
    assert status == 200 and "Settings saved." in text
    assert _overrides(site) == {"jira_unreachable": "ALLOW", "time_budget_seconds": 4.0}

    # unticking an override removes it, even though its (overridden) value is still shown
    fields = _untick(_form(browser), "override_jira_unreachable")
    status, _, text = browser.request("POST", PAGE, fields)
    assert status == 200 and "Settings saved." in text
    assert _overrides(site) == {"time_budget_seconds": 4.0}
    # and an untouched form saves exactly what is stored
    status, _, _ = browser.request("POST", PAGE, _form(browser))
    assert status == 200 and _overrides(site) == {"time_budget_seconds": 4.0}


def test_the_commit_message_template_is_a_setting_of_the_form(site: Site) -> None:
    """prepare-commit-msg's shape (issue 19) is set like any other override; a template
    without {key} is refused at its path."""
    site.add_repository("api")
    browser = Browser(site.url)
    assert browser.sign_in(site.admin_token)[0] == 303
    fields = _set(_form(browser), "commit_message_template", "[{key}] {message}")
    status, _, text = browser.request("POST", PAGE, fields)
    assert status == 200 and "Settings saved." in text
    assert _overrides(site) == {"commit_message_template": "[{key}] {message}"}
    fields = _set(_form(browser), "commit_message_template", "{message} only")
    status, _, text = browser.request("POST", PAGE, fields)
    assert "needs {key} and {message}, once each" in text
    assert _overrides(site) == {"commit_message_template": "[{key}] {message}"}
