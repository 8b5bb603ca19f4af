"""Jira adapters: the client (Cloud + Data Center), the connection chain and the cache.

Only this package imports httpx; the hook path (keys, rules, engine) never imports it.
``build_resolver`` is what the CLI and the server call::

    resolver = build_resolver(document.connections_for(slug), cache=cache, deadline_seconds=8)
    evaluation = await evaluate(event, rules, resolver)

See docs/jira.md for how resolution works.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jirahooks.engine.resolver import Resolver
    from jirahooks.jira.cache import JiraCache
    from jirahooks.retry import RetryPolicy
    from jirahooks.rules.config import ConnectionConfig

__all__ = ["build_resolver"]


def build_resolver(
    connections: Sequence[ConnectionConfig],
    *,
    cache: JiraCache | None = None,
    deadline_seconds: float | None = None,
    retry: RetryPolicy | None = None,
) -> Resolver:
    """The resolver for these connections, in this order.

    No connections → ``OfflineResolver`` (format-only checks). Tokens are read from the
    environment now (``${ENV}`` references; ``ConfigError`` when a variable is unset), so a
    missing secret fails before any request. ``cache=None`` means no caching; pass a
    ``JiraCache`` (in-process or Redis) to share answers between evaluations.
    ``deadline_seconds`` bounds one evaluation (all calls on the returned resolver); use
    ``ConnectionChain.for_evaluation()`` to start another.
    """
    from jirahooks.engine.resolver import OfflineResolver

    if not connections:
        return OfflineResolver()
    from jirahooks.jira.chain import ConnectionChain
    from jirahooks.jira.client import JiraClient

    clients = [
        JiraClient(
            c,
            secret=c.secret(f"connections[{i}].token"),
            client_secret=c.client_secret_value(f"connections[{i}].client_secret"),
            retry=retry,
        )
        for i, c in enumerate(connections)
    ]
    return ConnectionChain(clients, cache=cache, deadline_seconds=deadline_seconds)
