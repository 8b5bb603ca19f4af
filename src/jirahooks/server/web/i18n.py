"""The web UI's languages: gettext catalogues (Babel), the language of one request, and the
translation functions templates and pages call.

The catalogues are the ``.po`` files under ``locale/`` (``messages.pot`` is their template,
extracted with ``pybabel extract -F babel.cfg``). They are read with Babel when the UI is
mounted and compiled in memory, so a fresh checkout needs no ``.mo`` build step. en-US is the
source language (its catalogue maps every text to itself); de-DE translates every message — a
test extracts the messages from the templates and pages and checks both catalogues hold each.

The language of a request (``select_locale``): the person's choice — the ``jirahooks_lang``
cookie the language switch in the page header sets, kept for a year — else the browser's
``Accept-Language``, else en-US. It is a cookie because the user table has no settings column
and this change brings no migration; it follows the browser, not the account.

The engine's own messages (facts, hints) keep their small standard-library catalogue in
``jirahooks.i18n``: the hook path must not import Babel (tests/hooks/test_light_imports.py).
Both speak the same locale names, and ``locale_of`` hands the UI's choice to the engine.
"""

from __future__ import annotations

import gettext as _gettext
import io
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

from jirahooks.i18n import DEFAULT_LOCALE

HERE = Path(__file__).parent / "locale"
LOCALES: tuple[str, ...] = ("en-US", "de-DE")
NAMES = {"en-US": "English", "de-DE": "Deutsch"}
COOKIE = "jirahooks_lang"
DOMAIN = "messages"

_current: ContextVar[str] = ContextVar("jirahooks_ui_locale", default=DEFAULT_LOCALE)


def po_path(locale: str) -> Path:
    return HERE / locale.replace("-", "_") / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    """The catalogue of ``locale``, read from its ``.po`` and compiled in memory (once)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    path = po_path(locale)
    if not path.exists():
        return _gettext.NullTranslations()
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=locale.replace("-", "_"))
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def _match(tag: str) -> str | None:
    language = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    for known in LOCALES:
        if known.split("-", 1)[0] == language:
            return known
    return None


def parse_accept_language(header: str) -> str | None:
    """The best supported locale of an ``Accept-Language`` header (q-values honoured)."""
    weighted: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")[:30]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            weighted.append((-q, i, tag))
    for _, _, tag in sorted(weighted):
        found = _match(tag)
        if found:
            return found
    return None


def select_locale(cookie: str | None, accept_language: str | None) -> str:
    """The person's choice (cookie), else the browser's, else en-US."""
    if cookie and cookie in LOCALES:
        return cookie
    return parse_accept_language(accept_language or "") or DEFAULT_LOCALE


def current_locale() -> str:
    return _current.get()


def gettext(message: str) -> str:
    """``message`` in the request's language (the en-US text when it has no translation)."""
    if not message:  # gettext("") is the catalogue's header
        return message
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current.get()).ngettext(singular, plural, n)


def _(message: str, /, **params: Any) -> str:
    """``gettext`` with ``%(name)s`` parameters, for the pages' Python code."""
    text = gettext(message)
    return text % params if params else text


def N_(message: str) -> str:
    """Marks a text for extraction; it is translated where it is shown (``_(value)``)."""
    return message


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class LocaleMiddleware:
    """Sets the language of every ``/ui`` request before anything renders (pure ASGI, so the
    context variable is the request's own)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/ui"):
            await self.app(scope, receive, send)
            return
        cookie = accept = None
        for name, value in scope.get("headers", []):
            if name == b"cookie":
                for item in value.decode("latin-1").split(";"):
                    key, _, val = item.strip().partition("=")
                    if key == COOKIE:
                        cookie = val.strip('"')
            elif name == b"accept-language":
                accept = value.decode("latin-1")
        token = _current.set(select_locale(cookie, accept))
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)
