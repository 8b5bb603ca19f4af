"""Message catalogues: every locale has every message with the same placeholders."""

from __future__ import annotations

import string

import pytest

from jirahooks.i18n import DEFAULT_LOCALE, LOCALES, MessageRef, normalize_locale, translate
from jirahooks.i18n.catalogue import CATALOGUES, EN


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_locales() -> None:
    assert DEFAULT_LOCALE == "en-US"
    assert set(LOCALES) >= {"en-US", "de-DE"}


@pytest.mark.parametrize("locale", [loc for loc in CATALOGUES if loc != "en-US"])
def test_every_message_exists_with_the_same_placeholders(locale: str) -> None:
    catalogue = CATALOGUES[locale]
    assert sorted(set(EN) - set(catalogue)) == [], f"{locale} lacks messages"
    assert sorted(set(catalogue) - set(EN)) == [], f"{locale} has messages en-US lacks"
    for message_id, text in EN.items():
        assert placeholders(catalogue[message_id]) == placeholders(text), message_id
        assert catalogue[message_id].strip(), message_id


def test_german_is_actually_german() -> None:
    de = CATALOGUES["de-DE"]
    same = [k for k, v in EN.items() if de[k] == v and not k.startswith("target.")]
    assert same == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "en-US"),
        ("", "en-US"),
        ("en-US", "en-US"),
        ("en", "en-US"),
        ("en_GB", "en-US"),
        ("de-DE", "de-DE"),
        ("de_DE", "de-DE"),
        ("de", "de-DE"),
        ("DE-at", "de-DE"),
        ("de-CH", "de-DE"),
        ("fr-FR", "en-US"),
        ("klingon", "en-US"),
    ],
)
def test_normalize_locale(raw: str | None, expected: str) -> None:
    assert normalize_locale(raw) == expected


def test_translate_fills_placeholders_and_nested_messages() -> None:
    target = MessageRef("target.BRANCH")
    assert translate("keys.none", "en-US", target=target) == (
        "Branch name does not contain any issue keys."
    )
    assert translate("keys.none", "de-DE", target=target) == (
        "Branch-Name enthält keine Vorgangsschlüssel."
    )
    assert translate("keys.none", "de_AT", target=target).startswith("Branch-Name")


def test_translate_falls_back() -> None:
    assert translate("no.such.message", "de-DE") == "no.such.message"
    # a missing parameter leaves the template rather than failing the evaluation
    assert translate("key.valid", "en-US") == "{key} is a valid issue ({status})."
    assert translate("event.empty", "xx") == "Nothing to validate."
