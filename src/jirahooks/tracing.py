"""What the server is working on right now: request id, workspace, repository, evaluation id.

One context variable, so each asyncio task sees its own (a task copies the context it was
created in). The server's request middleware opens a trace per HTTP request
(``jirahooks.server.metrics``), the PR worker one per delivery; the JSON log formatter
(``jirahooks.server.logs``) adds the fields to every line, and the store writes the request id
with each evaluation (``store.queries.evaluation_values``), so a developer's "my push was
blocked" leads from the hook's output (``X-Request-Id``) to the log lines and the evaluation page.

Standard library only: the store imports it, nothing heavy comes with it.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

# A request id a caller may choose (a proxy's, a load balancer's): short, printable, no spaces,
# nothing that could break a log line or a header. Anything else is replaced by our own.
_SANE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,99}")


@dataclass
class Trace:
    """The fields logs and the store take from the current request or job (mutable: handlers
    fill in what they learn)."""

    request_id: str
    workspace: str = ""
    repository: str = ""
    evaluation_id: int | None = None
    delivery_id: int | None = None

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"request_id": self.request_id}
        for name in ("workspace", "repository", "evaluation_id", "delivery_id"):
            value = getattr(self, name)
            if value not in ("", None):
                out[name] = value
        return out


_current: ContextVar[Trace | None] = ContextVar("jirahooks_trace", default=None)


def new_id() -> str:
    return uuid.uuid4().hex


def sane(incoming: str | None) -> str | None:
    """``incoming`` if it is an acceptable request id, else None."""
    if incoming and _SANE.fullmatch(incoming):
        return incoming
    return None


def begin(request_id: str | None = None, **fields: Any) -> Token[Trace | None]:
    """Start a trace in the current context; returns the token for :func:`end`."""
    trace = Trace(request_id or new_id())
    for name, value in fields.items():
        setattr(trace, name, value)
    return _current.set(trace)


def end(token: Token[Trace | None]) -> None:
    _current.reset(token)


def current() -> Trace | None:
    return _current.get()


def request_id() -> str:
    """The current request id ("" outside a request or job)."""
    trace = _current.get()
    return trace.request_id if trace is not None else ""


def note(**fields: Any) -> None:
    """Record what the current request or job is about (no-op outside one)."""
    trace = _current.get()
    if trace is None:
        return
    for name, value in fields.items():
        setattr(trace, name, value)
