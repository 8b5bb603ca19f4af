"""The configuration version: every write to what the Validation API reads bumps
``workspaces.config_version`` in the same transaction.

The server keeps each workspace's Validation API configuration in memory (decrypted HMAC secrets,
parsed rules, effective settings: ``jirahooks.store.config_cache``) and reads only this integer
per request to know whether its copy is still current. So the bump must never be forgotten, and
it is not left to the code that writes: sessions of ``Database`` are ``TrackedSession``\\ s, and

- before every flush, the workspaces of the configuration rows being inserted, changed or
  deleted get ``config_version = config_version + 1`` (an atomic increment: two concurrent
  writers never produce the same version);
- a bulk ``insert``/``update``/``delete`` statement on a configuration table, which no flush
  sees, bumps every workspace — unless it carries ``NOT_CONFIGURATION`` in its execution
  options, as the Validation API's own ``last_used_at`` update does.

Who keeps a copy learns of a change in two ways (decision 0020): on PostgreSQL the bump also
sends ``pg_notify('jirahooks_config', '<workspace ids>')`` in its transaction (delivered to every
listening connection on commit, never on rollback: ``store/config_watch.py``), and after the
commit the session calls the callbacks in its ``info[CONFIG_LISTENERS]``
(``Database.config_listeners``) with the workspace ids it bumped — before the code that wrote
answers anyone, so this process's next request sees the change.

A change of only ``ValidationToken.last_used_at`` is usage, not configuration, and bumps nothing
(otherwise every validation request would throw its own snapshot away). Raw SQL (``text()``) on
these tables bypasses all of this; jirahooks issues none.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain
from typing import Any

from sqlalchemy import event, func, inspect, select, update
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from jirahooks.store.models import (
    Base,
    Connection,
    Repository,
    RepositoryConnection,
    RuleRow,
    ValidationToken,
    Workspace,
)

# The PostgreSQL channel configuration changes are announced on (payload: workspace ids, "*": all).
CONFIG_CHANNEL = "jirahooks_config"
# session.info keys: the callbacks told about committed changes, the workspaces bumped so far
CONFIG_LISTENERS = "jirahooks_config_listeners"
_BUMPED = "jirahooks_config_bumped"
_ALL = "*"
# Execution option for statements that write configuration tables without changing configuration.
NOT_CONFIGURATION = "jirahooks_not_configuration"

CONFIGURATION_MODELS: tuple[type[Base], ...] = (
    Workspace,
    Repository,
    RepositoryConnection,
    RuleRow,
    ValidationToken,
    Connection,
)
CONFIGURATION_TABLES = frozenset(model.__tablename__ for model in CONFIGURATION_MODELS)
# Columns whose changes are usage records, not configuration.
USAGE_COLUMNS: dict[type[Base], frozenset[str]] = {
    ValidationToken: frozenset({"last_used_at"}),
    Workspace: frozenset({"config_version"}),
}


class TrackedSession(Session):
    """A session that bumps ``Workspace.config_version`` for every configuration write."""


def _changed_columns(obj: Base) -> set[str]:
    return {attr.key for attr in inspect(obj).attrs if attr.history.has_changes()}


def _workspaces_changed(session: Session) -> set[int] | None:
    """Ids of the workspaces whose configuration this flush changes; None: possibly all."""
    new, dirty, deleted = set(session.new), set(session.dirty), set(session.deleted)
    workspace_ids: set[int] = set()
    for obj in chain(new, dirty, deleted):
        if not isinstance(obj, CONFIGURATION_MODELS):
            continue
        if obj in dirty and obj not in deleted:
            changed = _changed_columns(obj)
            if not changed - USAGE_COLUMNS.get(type(obj), frozenset()):
                continue
        if isinstance(obj, Workspace):
            if obj not in new and obj not in deleted:
                workspace_ids.add(obj.id)  # a new workspace starts at 0, a deleted one is gone
            continue
        if isinstance(obj, RepositoryConnection):
            repo = session.get(Repository, obj.repository_id) if obj.repository_id else None
            owner = repo.workspace_id if repo is not None else None
        else:
            owner = getattr(obj, "workspace_id", None)  # the other models all have one
        if owner is None:
            return None
        workspace_ids.add(owner)
    return workspace_ids


def bump_config_versions(session: Session, workspace_ids: Iterable[int] | None) -> None:
    """``config_version + 1`` for these workspaces (None: all of them)."""
    statement = update(Workspace).values(config_version=Workspace.config_version + 1)
    if workspace_ids is not None:
        ids = sorted(set(workspace_ids))
        if not ids:
            return
        statement = statement.where(Workspace.id.in_(ids))
    session.execute(statement.execution_options(**{NOT_CONFIGURATION: True}))
    _announce(session, None if workspace_ids is None else set(ids))


def _announce(session: Session, ids: set[int] | None) -> None:
    """Remember what this transaction bumped (for the commit hook) and, on PostgreSQL, notify
    the other processes in the same transaction."""
    bumped = session.info.get(_BUMPED)
    if bumped == _ALL:
        return
    if ids is None:
        session.info[_BUMPED] = _ALL
    else:
        session.info[_BUMPED] = (bumped or set()) | ids
    if session.get_bind().dialect.name == "postgresql":
        payload = _ALL if ids is None or len(ids) > 500 else ",".join(map(str, sorted(ids)))
        session.execute(select(func.pg_notify(CONFIG_CHANNEL, payload)))


@event.listens_for(TrackedSession, "after_commit")
def _tell_listeners(session: Session) -> None:
    bumped = session.info.pop(_BUMPED, None)
    if bumped is None:
        return
    for listener in session.info.get(CONFIG_LISTENERS, ()):
        listener(None if bumped == _ALL else set(bumped))


@event.listens_for(TrackedSession, "after_rollback")
def _forget_bumps(session: Session) -> None:
    session.info.pop(_BUMPED, None)


@event.listens_for(TrackedSession, "before_flush")
def _bump_on_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    bump_config_versions(session, _workspaces_changed(session))
    # a deleted workspace has no version left to bump, but copies of it must still go
    gone = {obj.id for obj in session.deleted if isinstance(obj, Workspace) and obj.id}
    if gone:
        _announce(session, gone)


@event.listens_for(TrackedSession, "do_orm_execute")
def _bump_on_bulk_write(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    if state.execution_options.get(NOT_CONFIGURATION):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in CONFIGURATION_TABLES:
        bump_config_versions(state.session, None)
