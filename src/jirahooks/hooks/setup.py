"""What a hook evaluates locally with: :class:`LocalSetup` (made by ``hooks.local``).

In a module of its own so the light modules that only name it in annotations (``entry``,
``compiled``) need nothing of ``hooks.local``, which imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

TYPE_CHECKING = False  # the hook path does not import typing
if TYPE_CHECKING:
    from jirahooks.rules.config import ConfigDocument, ConnectionConfig
    from jirahooks.rules.model import Rule, Settings


@dataclass(frozen=True)
class LocalSetup:
    """Everything a hook needs to evaluate locally."""

    document: ConfigDocument
    rules: list[Rule]
    settings: Settings
    connections: list[ConnectionConfig]
    notes: tuple[str, ...] = ()
