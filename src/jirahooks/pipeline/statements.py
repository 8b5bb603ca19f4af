"""The PR worker's writes on its hot path, built once (docs/decisions/0019-pr-hot-path-statements.md).

A burst runs these a few times per delivery, hundreds of times a second. Built anew for every
call as ORM ``update(Model)`` statements, SQLAlchemy spent more on them than on anything the
worker does itself: constructing the expression, generating its cache key, and the ORM's bulk
update machinery (synchronize-session planning, autoflush) — about a fifth of the server's CPU
in a burst. Here each is a Core ``UPDATE`` on the table, built once per shape (the set of
columns it writes) with bound parameters: its cache key is computed once and its compiled form
is reused; executed through the same session and transaction as before, so the queue's
semantics (ADR 0006, 0013) are unchanged. Parameters: ``w_*`` in the ``WHERE`` clause, ``v_*``
for the values written.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.store.deliveries import DeliveryRow, PullRequestResult

_deliveries: Table = DeliveryRow.__table__  # type: ignore[assignment]
_prs: Table = PullRequestResult.__table__  # type: ignore[assignment]


def _values(columns: tuple[str, ...]) -> dict[str, Any]:
    return {name: bindparam(f"v_{name}") for name in columns}


@functools.cache
def delivery_outcome(columns: tuple[str, ...]) -> Any:
    """``columns`` of the delivery while this worker holds it (``w_id``, ``w_token``)."""
    return (
        update(_deliveries)
        .where(
            _deliveries.c.id == bindparam("w_id"),
            _deliveries.c.state == "processing",
            _deliveries.c.lease_owner == bindparam("w_token"),
        )
        .values(_values(columns))
    )


@functools.cache
def delivery_set(columns: tuple[str, ...]) -> Any:
    """``columns`` of the delivery ``w_id``, whoever holds it."""
    return update(_deliveries).where(_deliveries.c.id == bindparam("w_id")).values(_values(columns))


@functools.cache
def pr_holding(columns: tuple[str, ...], *, newer: bool, release: bool) -> Any:
    """``columns`` of the PR row ``w_row`` while the lease ``w_token`` holds it (and, with
    ``newer``, no evaluation after ``w_seq`` was published); ``release`` gives the lease back
    in the same statement."""
    condition = [_prs.c.id == bindparam("w_row"), _prs.c.lease_owner == bindparam("w_token")]
    if newer:
        condition.append(_prs.c.published_seq < bindparam("w_seq"))
    values = _values(columns)
    if release:
        values |= {"lease_owner": "", "lease_until": None}
    return update(_prs).where(*condition).values(values)


@functools.cache
def pr_release() -> Any:
    """Give back every PR lease of the token ``w_token``."""
    return (
        update(_prs)
        .where(_prs.c.lease_owner == bindparam("w_token"))
        .values(lease_owner="", lease_until=None)
    )


@functools.cache
def delivery_renew() -> Any:
    return (
        update(_deliveries)
        .where(
            _deliveries.c.id == bindparam("w_id"),
            _deliveries.c.state == "processing",
            _deliveries.c.lease_owner == bindparam("w_token"),
        )
        .values(claimed_at=bindparam("v_claimed_at"))
    )


@functools.cache
def pr_renew() -> Any:
    return (
        update(_prs)
        .where(_prs.c.lease_owner == bindparam("w_token"))
        .values(lease_until=bindparam("v_lease_until"))
    )


def _params(values: Mapping[str, Any], **where: Any) -> dict[str, Any]:
    return {f"v_{k}": v for k, v in values.items()} | {f"w_{k}": v for k, v in where.items()}


def _columns(values: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(values))


async def set_outcome(
    session: AsyncSession, delivery_id: int, token: str, values: Mapping[str, Any]
) -> bool:
    """Write ``values`` on the delivery while ``token`` holds it; whether it did."""
    result = await session.execute(
        delivery_outcome(_columns(values)), _params(values, id=delivery_id, token=token)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def set_delivery(session: AsyncSession, delivery_id: int, values: Mapping[str, Any]) -> None:
    await session.execute(delivery_set(_columns(values)), _params(values, id=delivery_id))


async def set_pr(
    session: AsyncSession,
    row_id: int,
    token: str,
    values: Mapping[str, Any],
    *,
    seq: int | None = None,
    release: bool = False,
) -> bool:
    """Compare-and-set on the PR row (see :func:`pr_holding`; ``seq`` None: no ``newer``
    condition); whether the row was written."""
    statement = pr_holding(_columns(values), newer=seq is not None, release=release)
    where: dict[str, Any] = {"row": row_id, "token": token}
    if seq is not None:
        where["seq"] = seq
    result = await session.execute(statement, _params(values, **where))
    return bool(getattr(result, "rowcount", 0) == 1)


async def release(session: AsyncSession, token: str) -> None:
    await session.execute(pr_release(), {"w_token": token})


async def renew(
    session: AsyncSession, delivery_id: int, token: str, now: datetime, until: datetime
) -> bool:
    """The delivery's and its PR's lease renewed (the delivery's row first); whether the
    delivery is still held."""
    result = await session.execute(
        delivery_renew(), {"w_id": delivery_id, "w_token": token, "v_claimed_at": now}
    )
    await session.execute(pr_renew(), {"w_token": token, "v_lease_until": until})
    return bool(getattr(result, "rowcount", 0) == 1)
