"""The web UI in en-US and de-DE (issue 14, "The UI": German).

* the catalogues: every message the templates and pages mark (extracted now, with Babel, from
  the sources) is in both catalogues, translated, with the same placeholders;
* the language of a request: the person's choice (cookie, set by the header's switch), else
  ``Accept-Language``, else en-US;
* a German page carries none of the catalogue's English texts;
* rule texts per locale: the Validation API answers in the requested language with the rule's
  own translations (title, error, hint), never English ones mixed into a German answer; the
  rule editor keeps the German texts.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from tests.web.conftest import WS, Browser, Site


def ui_i18n() -> Any:
    """The UI's i18n module, imported in the tests (so each one fails on its own without it)."""
    from jirahooks.server.web import i18n

    return i18n


ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "src" / "jirahooks" / "server" / "web"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}


def extracted() -> dict[str, tuple[str, ...]]:
    """Every message id the UI marks for translation, read from the sources now."""
    from babel.messages.extract import extract_from_dir

    method_map = [("**.py", "python"), ("templates/**.html", "jinja2")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found: dict[str, tuple[str, ...]] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map, options, keywords=keywords
    ):
        ids = message if isinstance(message, tuple) else (message,)
        if ids and ids[0]:
            found[ids[0]] = tuple(ids)
    # the hosts' setting labels and help texts, shown on their settings pages (babel.cfg)
    from babel.messages.extract import extract_python

    with (WEB.parent / "host_settings.py").open("rb") as fp:
        for _line, _func, message, _comments in extract_python(fp, ["N_"], [], {}):
            found[message] = (message,)
    return found


def catalogue(locale: str) -> Any:
    from babel.messages.pofile import read_po

    with ui_i18n().po_path(locale).open("rb") as fp:
        return read_po(fp)


def test_every_message_is_in_both_catalogues_and_translated() -> None:
    messages = extracted()
    assert len(messages) > 300  # the whole UI, not a sample
    i18n = ui_i18n()
    for locale in i18n.LOCALES:
        cat = catalogue(locale)
        missing = [
            m for m in messages if cat.get(messages[m] if len(messages[m]) > 1 else m) is None
        ]
        assert not missing, f"{locale}: {len(missing)} messages missing, e.g. {missing[:5]}"
        for ids in messages.values():
            entry = cat.get(ids if len(ids) > 1 else ids[0])
            strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            assert all(strings) and not entry.fuzzy, (locale, ids[0])
            for text in strings:
                assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(ids[0])), (
                    locale,
                    ids[0],
                    text,
                )
    # German is German: only words both languages share stay as they are.
    shared = {
        "Administrator",
        "Branch",
        "Branches",
        "Commit",
        "Commits",
        "Commits (%(n)s)",
        "Filter",
        "Name",
        "Push",
        "Repository",
        "Repository %(slug)s",
        "Status",
        "Tokens",
        "Workspace",
        'Repository <span class="mono">%(slug)s</span>',
        "Workspace <strong>%(workspace)s</strong> · %(role)s",
    }
    german = catalogue("de-DE")
    same = {str(m.id) for m in german if m.id and m.string == m.id}
    assert same <= shared, same - shared


def test_catalogue_files_are_the_ones_the_server_reads() -> None:
    i18n = ui_i18n()
    for locale in i18n.LOCALES:
        assert i18n.po_path(locale).is_file()
    de = i18n.translations("de-DE")
    assert de.gettext("Jira connections") == "Jira-Verbindungen"
    assert i18n.translations("en-US").gettext("Jira connections") == "Jira connections"


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, None, "en-US"),
        (None, "de", "de-DE"),
        (None, "de-AT,de;q=0.9", "de-DE"),
        (None, "fr-FR,de;q=0.8,en;q=0.5", "de-DE"),
        (None, "fr-FR,en;q=0.9,de;q=0.8", "en-US"),
        (None, "de;q=0,en", "en-US"),
        ("en-US", "de-DE", "en-US"),  # the person's choice wins over the browser
        ("de-DE", "en-US", "de-DE"),
        ("xx", "de-DE", "de-DE"),  # a cookie naming no language is ignored
    ],
)
def test_language_of_a_request(cookie: str | None, header: str | None, expected: str) -> None:
    assert ui_i18n().select_locale(cookie, header) == expected


def test_accept_language_and_the_language_switch(site: Site) -> None:
    b = Browser(site.url)
    _, _, english = b.request("GET", "/ui/login")
    assert '<html lang="en-US">' in english and "Sign in to jirahooks" in english
    _, _, german = b.request("GET", "/ui/login", headers=GERMAN)
    assert '<html lang="de-DE">' in german and "Bei jirahooks anmelden" in german
    assert "Sign in to jirahooks" not in german

    # The switch in the header: a cookie for a year, back to the page it was used on.
    status, headers, _ = b.request("GET", "/ui/language?lang=de-DE&next=/ui/login")
    assert status == 303 and headers["location"] == "/ui/login"
    assert "jirahooks_lang=de-DE" in headers["set-cookie"]
    assert "Max-Age=31536000" in headers["set-cookie"]
    _, _, chosen = b.request("GET", "/ui/login", headers={"Accept-Language": "en-US"})
    assert "Bei jirahooks anmelden" in chosen
    # Never an open redirect; an unknown language changes nothing.
    status, headers, _ = b.request("GET", "/ui/language?lang=xx&next=https://evil.example/")
    assert status == 303 and headers["location"] == "/ui/"
    assert "set-cookie" not in {k.lower() for k in headers}


def _visible_text(page_html: str) -> str:
    body = re.sub(r"(?s)<(script|style|pre)\b.*?</\1>", " ", page_html)
    body = re.sub(r"(?s)<[^>]+>", " ", body)
    return " ".join(html.unescape(body).split())


def english_leftovers(text: str) -> list[str]:
    """Catalogue texts whose English form shows on a page that should be German: each English
    message (without its placeholders and markup), in pieces of at least 14 characters."""
    german = catalogue("de-DE")
    found = []
    for entry in german:
        if not entry.id or entry.string == entry.id:
            continue
        english = entry.id[0] if isinstance(entry.id, tuple) else entry.id
        plain = re.sub(r"<[^>]+>", "", english)
        for piece in PLACEHOLDER.split(plain)[::2]:
            piece = " ".join(piece.split()).strip(" .,:;—()")
            if len(piece) >= 14 and piece in text:
                found.append(piece)
    return found


def test_a_german_page_has_no_english_ui_text_left(site: Site) -> None:
    site.add_repository("api")
    site.add_connection("Acme", "https://acme.atlassian.net")
    b = Browser(site.url)
    b.sign_in(site.admin_token)
    b.request("GET", "/ui/language?lang=de-DE&next=/ui/")
    pages = [
        "",
        "/evaluations",
        "/connections",
        "/rules",
        "/rules/-/new",
        "/templates",
        "/settings",
        "/tokens",
        "/people",
        "/bitbucket",
        "/hosts/github",
        "/hosts/gitlab",
        "/hosts/bitbucket-dc",
        "/repositories",
        "/r/api/connections",
        "/r/api/rules",
        "/r/api/settings",
    ]
    for path in pages:
        status, _, text = b.request("GET", f"/ui/w/{WS}{path}")
        assert status == 200, path
        assert '<html lang="de-DE">' in text, path
        leftovers = english_leftovers(_visible_text(text))
        assert not leftovers, (path, leftovers)


def _rule_with_german_texts() -> dict[str, Any]:
    return {
        "id": "key-required",
        "title": "Issue key required",
        "error": "Every commit needs an issue key.",
        "hint": "Start the message with the key.",
        "triggers": ["PUSH", "COMMIT"],
        "checks": {"key_present": True},
        "translations": {
            "de-DE": {
                "title": "Vorgangsschlüssel nötig",
                "error": "Jeder Commit braucht einen Vorgangsschlüssel.",
                "hint": "Beginnen Sie die Nachricht mit dem Schlüssel.",
            }
        },
    }


def test_validation_api_answers_with_the_rule_texts_of_the_requested_locale(site: Site) -> None:
    site.add_repository("api")
    site.api("POST", f"/workspaces/{WS}/rules", _rule_with_german_texts())
    token = site.api("POST", f"/workspaces/{WS}/validation-tokens", {"name": "hooks"})
    endpoint = f"{site.url}/api/validate/{WS}?repoSlug=api"
    push = {
        "triggerType": "PUSH",
        "branchName": "feature/x",
        "commits": [{"hash": "a" * 40, "message": "no key here", "authorDisplayName": "Ada"}],
    }
    answers = {}
    for locale in ("de-DE", "en-US"):
        status, answer = site.validate(endpoint, token["secret"], {**push, "locale": locale})
        assert status == 200 and answer["result"] == "BLOCK", answer
        answers[locale] = answer
    de = answers["de-DE"]
    rule = de["ruleValidations"][0]["rule"]
    assert rule["title"] == "Vorgangsschlüssel nötig"
    assert rule["error"] == "Jeder Commit braucht einen Vorgangsschlüssel."
    assert rule["hint"].startswith("Beginnen Sie die Nachricht mit dem Schlüssel.")
    headlines = [m["text"] for m in de["errorValidations"][0]["errorMessages"]]
    assert headlines == ["Jeder Commit braucht einen Vorgangsschlüssel."]
    text = str(de)
    for english in ("Issue key required", "Every commit needs", "Start the message"):
        assert english not in text
    en = answers["en-US"]["ruleValidations"][0]["rule"]
    assert (en["title"], en["error"]) == ("Issue key required", "Every commit needs an issue key.")
    assert en["hint"].startswith("Start the message with the key.")


def test_rule_editor_keeps_the_german_texts(site: Site) -> None:
    site.api("POST", f"/workspaces/{WS}/rules", _rule_with_german_texts())
    b = Browser(site.url)
    b.sign_in(site.admin_token)
    _, _, editor = b.request("GET", f"/ui/w/{WS}/rules/key-required")
    assert 'name="de-DE_title" value="Vorgangsschlüssel nötig"' in editor
    form = {
        "csrf_token": b.csrf(),
        "title": "Issue key required",
        "severity": "BLOCK",
        "strategy": "ALL",
        "triggers": "PUSH",
        "targets": "COMMIT",
        "key_present": "on",
        "enabled": "on",
        "de-DE_title": "Schlüssel Pflicht",
        "de-DE_hint": "Schlüssel voranstellen.",
    }
    status, _, _ = b.request("POST", f"/ui/w/{WS}/rules/key-required", form)
    assert status == 200
    stored = site.api("GET", f"/workspaces/{WS}/rules/key-required")
    assert stored["definition"]["translations"] == {
        "de-DE": {"title": "Schlüssel Pflicht", "hint": "Schlüssel voranstellen."}
    }
