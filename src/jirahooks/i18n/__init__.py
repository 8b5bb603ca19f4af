"""Message catalogues (en-US, de-DE). Standard library only.

``translate(message_id, locale, **params)``: the locale's text, falling back to en-US for a
missing locale or message. Locales are matched by language (``de``, ``de-AT`` → de-DE).
"""

from __future__ import annotations

from jirahooks.i18n.catalogue import CATALOGUES

TYPE_CHECKING = False  # on the commit-msg hook's path: no typing, no dataclasses
if TYPE_CHECKING:
    from typing import Any

DEFAULT_LOCALE = "en-US"
LOCALES = tuple(CATALOGUES)


def normalize_locale(locale: str | None) -> str:
    """``de_DE``, ``de``, ``DE-at`` → ``de-DE``; unknown → en-US."""
    if not locale:
        return DEFAULT_LOCALE
    language = locale.replace("_", "-").split("-", 1)[0].lower()
    for known in LOCALES:
        if known.split("-", 1)[0] == language:
            return known
    return DEFAULT_LOCALE


class MessageRef:
    """A message parameter that is itself a message (``target.BRANCH`` → "Branch name").
    Immutable, compared by value."""

    __slots__ = ("message_id",)

    message_id: str

    def __init__(self, message_id: str) -> None:
        object.__setattr__(self, "message_id", message_id)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: MessageRef is immutable")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, MessageRef)
        return self.message_id == other.message_id

    def __hash__(self) -> int:
        return hash((self.message_id,))

    def __repr__(self) -> str:
        return f"MessageRef(message_id={self.message_id!r})"


def translate(message_id: str, locale: str = DEFAULT_LOCALE, /, **params: Any) -> str:
    params = {
        k: translate(v.message_id, locale) if isinstance(v, MessageRef) else v
        for k, v in params.items()
    }
    catalogue = CATALOGUES.get(locale) or CATALOGUES[normalize_locale(locale)]
    template = catalogue.get(message_id) or CATALOGUES[DEFAULT_LOCALE].get(message_id)
    if template is None:
        return message_id
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template
