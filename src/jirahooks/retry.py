"""Retry timing shared by every HTTP client jirahooks runs (Jira, Bitbucket).

``Retry-After`` is honoured exactly (retrying early only lengthens a rate-limit wait); without
it, exponential backoff with jitter, capped. ``max_wait`` bounds what a caller will sleep
through: a longer wait is given back to the caller (a queue retries later) instead of holding
a request open.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait on 429/5xx and transport errors."""

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_wait: float = 60.0

    def backoff(self, attempt: int, jitter: float) -> float:
        """Seconds before attempt ``attempt + 1``; ``jitter`` in [0, 1) spreads retries."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** (attempt - 1))
        return ceiling * (0.5 + jitter / 2)


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``X-RateLimit-Reset``
    (ISO time, as Jira Cloud sends it); ``None`` when neither says."""
    current = time.time() if now is None else now
    value = (headers.get("retry-after") or "").strip()
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, when.timestamp() - current)
    reset = (headers.get("x-ratelimit-reset") or "").strip()
    if reset:
        try:
            moment = datetime.fromisoformat(reset.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, moment.timestamp() - current)
    return None
