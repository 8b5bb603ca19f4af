"""Queries the server and the CLI share: look-ups, effective settings and rules, audit entries.

Functions take an ``AsyncSession`` and never commit; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks import tracing
from jirahooks.engine.facts import Evaluation
from jirahooks.errors import ConfigError
from jirahooks.rules.config import combine_rules, parse_settings, parse_stored_rule
from jirahooks.rules.model import BrokenRule, Rule, Scope, Settings, Severity
from jirahooks.rules.schema import dump
from jirahooks.store.chain import RunCpu, insert_chained
from jirahooks.store.models import (
    AuditEntry,
    Base,
    Connection,
    Repository,
    RepositoryConnection,
    RuleRow,
    User,
    ValidationToken,
    Workspace,
    utcnow,
)
from jirahooks.store.versioning import NOT_CONFIGURATION
from jirahooks.textcheck import Kind, scrub, text_problem

REDACTED = "(redacted)"
SECRET_FIELDS = frozenset({"token", "secret", "token_encrypted", "secret_encrypted", "password"})


async def workspace_by_slug(session: AsyncSession, slug: str) -> Workspace | None:
    result = await session.execute(select(Workspace).where(Workspace.slug == slug))
    return result.scalar_one_or_none()


async def workspace_version(session: AsyncSession, slug: str) -> tuple[int, int] | None:
    """``(id, config_version)`` of a workspace: the one read the Validation API makes per request
    when its configuration snapshot is current (``jirahooks.store.config_cache``)."""
    result = await session.execute(
        select(Workspace.id, Workspace.config_version).where(Workspace.slug == slug)
    )
    row = result.one_or_none()
    return None if row is None else (row[0], row[1])


async def repository_by_slug(
    session: AsyncSession, workspace_id: int, slug: str
) -> Repository | None:
    result = await session.execute(
        select(Repository).where(Repository.workspace_id == workspace_id, Repository.slug == slug)
    )
    return result.scalar_one_or_none()


async def repository_by_uuid(
    session: AsyncSession, workspace_id: int, uuid: str
) -> Repository | None:
    wanted = uuid.strip("{}").lower()
    result = await session.execute(
        select(Repository).where(Repository.workspace_id == workspace_id)
    )
    for repo in result.scalars():
        if repo.uuid and repo.uuid.strip("{}").lower() == wanted:
            return repo
    return None


async def user_by_name(session: AsyncSession, name: str) -> User | None:
    result = await session.execute(select(User).where(User.name == name))
    return result.scalar_one_or_none()


async def connections(session: AsyncSession, workspace_id: int) -> list[Connection]:
    """The workspace's connections in the admin's order."""
    result = await session.execute(
        select(Connection)
        .where(Connection.workspace_id == workspace_id)
        .order_by(Connection.position, Connection.id)
    )
    return list(result.scalars())


async def connection_switches(session: AsyncSession, repository_id: int) -> dict[int, bool]:
    """connection id → enabled, for the connections this repository has switched explicitly."""
    result = await session.execute(
        select(RepositoryConnection).where(RepositoryConnection.repository_id == repository_id)
    )
    return {row.connection_id: row.enabled for row in result.scalars()}


async def enabled_connections(
    session: AsyncSession, workspace_id: int, repository_id: int | None
) -> list[Connection]:
    """Connections enabled for a repository (all of them without one), in order."""
    all_connections = await connections(session, workspace_id)
    if repository_id is None:
        return all_connections
    switches = await connection_switches(session, repository_id)
    return [c for c in all_connections if switches.get(c.id, True)]


async def next_position(session: AsyncSession, workspace_id: int) -> int:
    result = await session.execute(
        select(func.max(Connection.position)).where(Connection.workspace_id == workspace_id)
    )
    current = result.scalar_one_or_none()
    return 0 if current is None else current + 1


def effective_settings(workspace: Workspace, repository: Repository | None) -> Settings:
    """Workspace defaults with the repository's overrides on top."""
    if repository is None:
        return parse_settings(workspace.settings or {})
    return parse_settings(repository.settings or {}, base=workspace.settings or {})


async def rule_rows(
    session: AsyncSession, workspace_id: int, repository_id: int | None
) -> list[RuleRow]:
    """Rules of one scope: the workspace's (``repository_id`` None) or one repository's."""
    query = select(RuleRow).where(RuleRow.workspace_id == workspace_id)
    if repository_id is None:
        query = query.where(RuleRow.repository_id.is_(None))
    else:
        query = query.where(RuleRow.repository_id == repository_id)
    result = await session.execute(query.order_by(RuleRow.position, RuleRow.id))
    return list(result.scalars())


def row_rule(row: RuleRow) -> Rule:
    """The stored rule; a ``BrokenRule`` (never an exception) when its definition no longer
    reads, so one bad row affects only itself."""
    scope = Scope.WORKSPACE if row.repository_id is None else Scope.REPOSITORY
    try:
        return parse_stored_rule(row.definition, scope=scope, path=f"rules[{row.rule_id}]")
    except ConfigError as exc:
        return broken_rule(row, scope, exc)


def broken_rule(row: RuleRow, scope: Scope, exc: ConfigError) -> BrokenRule:
    """A placeholder for a stored rule that does not read: its id, and the title, severity and
    switch it was stored with when those are still legible."""
    data = row.definition if isinstance(row.definition, Mapping) else {}
    rule_id = scrub(str(row.rule_id)) or "rule"
    title = data.get("title")
    if not isinstance(title, str) or text_problem(title, Kind.LINE, 500) is not None:
        title = rule_id
    first = exc.problems[0] if exc.problems else None
    problem = f"{first.path}: {first.message}" if first is not None else "invalid definition"
    severity = str(data.get("severity", "")).strip().upper()
    return BrokenRule(
        id=rule_id,
        title=title,
        enabled=data.get("enabled") is not False,
        severity=Severity.WARNING if severity == Severity.WARNING.value else Severity.BLOCK,
        error=f"Rule '{rule_id}' cannot be read ({problem}): fix or delete it",
        scope=scope,
        problem=scrub(problem),
    )


def rule_definition(rule: Rule) -> dict[str, Any]:
    """A rule as stored and exported: plain data, defaults dropped, no scope."""
    data: dict[str, Any] = dump(rule)
    data.pop("scope", None)
    return data


async def rules_for(
    session: AsyncSession, workspace_id: int, repository: Repository | None
) -> list[Rule]:
    """The rules that apply to a repository: workspace rules (minus its disabled ones), then
    its own (same id replaces)."""
    workspace_rules = [row_rule(r) for r in await rule_rows(session, workspace_id, None)]
    if repository is None:
        return workspace_rules
    repo_rules = [row_rule(r) for r in await rule_rows(session, workspace_id, repository.id)]
    disabled = [str(x) for x in repository.disabled_rules or []]
    return combine_rules(workspace_rules, repo_rules, disabled)


async def active_validation_tokens(
    session: AsyncSession, workspace_id: int, *, repository_ids: Sequence[int | None] | None = None
) -> list[ValidationToken]:
    """Unrevoked tokens of a workspace, optionally only those of the given scopes (None:
    workspace-wide)."""
    query = select(ValidationToken).where(
        ValidationToken.workspace_id == workspace_id, ValidationToken.revoked_at.is_(None)
    )
    result = await session.execute(query.order_by(ValidationToken.id))
    tokens = list(result.scalars())
    if repository_ids is None:
        return tokens
    wanted = set(repository_ids)
    return [t for t in tokens if t.repository_id in wanted]


def _table(model: type[Base]) -> Table:
    """A model's table, for Core statements that skip the ORM's per-row bookkeeping."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _rule_summary(rv: Any) -> dict[str, Any]:
    """A rule's entry of ``EvaluationRow.rules`` (the dashboard reads these): its status and
    mode, and what enforce would have said when the mode changed it (ADR 0011)."""
    out: dict[str, Any] = {
        "id": rv.rule.id,
        "title": rv.rule.title,
        "scope": rv.rule.scope.value,
        "status": rv.status.value,
        "mode": rv.mode.value,
    }
    if rv.enforced_status is not None:
        out["enforcedStatus"] = rv.enforced_status.value
        if rv.would_have_blocked:
            out["wouldHaveBlocked"] = True
    return out


def evaluation_values(
    evaluation: Evaluation,
    *,
    workspace_id: int,
    repository_id: int | None,
    source: str,
    event: Mapping[str, Any],
    document: Mapping[str, Any],
    duration_ms: float,
    token_id: int | None = None,
    branch: str = "",
    config_version: int | None = None,
) -> dict[str, Any]:
    """An ``EvaluationRow``'s column values for one evaluation (audit trail): the event as the
    caller describes it, each rule's status, the result document, the Jira issues used (with
    their status and type as Jira gave them then), the workspace's ``config_version`` the rules
    were read at."""
    return {
        "workspace_id": workspace_id,
        "repository_id": repository_id,
        "source": source,
        "trigger": evaluation.event.trigger.value,
        "branch": (evaluation.event.branch or branch)[:500],
        "result": evaluation.result.value,
        "duration_ms": round(duration_ms, 3),
        "token_id": token_id,
        "event": dict(event),
        "rules": [_rule_summary(rv) for rv in evaluation.rule_validations],
        "document": dict(document),
        "issues": {
            key: {**issue.to_dict(), "assigneeName": issue.assignee_name}
            for key, issue in evaluation.issues.items()
        },
        "request_id": tracing.request_id()[:100],  # the request's X-Request-Id (0008)
        "config_version": config_version,
    }


async def insert_evaluation(
    session: AsyncSession, values: Mapping[str, Any], *, run_cpu: RunCpu | None = None
) -> int:
    """Store one evaluation row (see ``evaluation_values``) as the next link of its
    workspace's hash chain (``store/chain.py``; the caller commits); its id. ``run_cpu``: where
    the row's content hash is computed (the server's CPU pool).

    One is stored per Validation API request and webhook, so the ORM's unit of work (identity
    map, flush planning) would be pure overhead; column defaults and types (UTC datetimes,
    JSON) apply all the same."""
    ids = await insert_chained(session, [dict(values)], run_cpu=run_cpu, returning=True)
    evaluation_id = ids[0]
    tracing.note(evaluation_id=evaluation_id)  # on the request's log lines
    return evaluation_id


async def stamp_validation_token(session: AsyncSession, token_id: int) -> None:
    """``last_used_at = now`` for a validation token, by id: usage, not configuration, so the
    workspace's ``config_version`` (and every configuration snapshot) stays as it is."""
    table = _table(ValidationToken)
    statement = update(table).where(table.c.id == token_id).values(last_used_at=utcnow())
    await session.execute(statement.execution_options(**{NOT_CONFIGURATION: True}))


def redact(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A copy without secret values (for the audit log): secret fields become a marker."""
    if data is None:
        return None
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECRET_FIELDS:
            out[key] = REDACTED if value else ""
        elif isinstance(value, Mapping):
            out[key] = redact(value)
        else:
            out[key] = value
    return out


def audit(
    session: AsyncSession,
    *,
    workspace_id: int | None,
    actor: str,
    action: str,
    target: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    user_id: int | None = None,
) -> AuditEntry:
    """Record one configuration change (secrets redacted)."""
    entry = AuditEntry(
        workspace_id=workspace_id,
        actor=actor,
        user_id=user_id,
        action=action,
        target=target,
        # a rule stored by an older version may hold text that cannot be rendered again
        before=scrub(redact(before)),
        after=scrub(redact(after)),
    )
    session.add(entry)
    return entry
