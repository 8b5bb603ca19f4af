"""Rules at workspace and repository scope: CRUD, create from a template, validated on save
(the schema, and the JQL against the first Jira connection that answers)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy import func, select

from jirahooks.errors import ConfigError
from jirahooks.rules import templates
from jirahooks.rules.config import parse_rule
from jirahooks.rules.model import BrokenRule, Rule, Scope
from jirahooks.server.admin import schemas
from jirahooks.server.admin.common import audit
from jirahooks.server.auth import CurrentUser, Principal, Session, get_repository, get_workspace
from jirahooks.server.errors import ApiError, config_error, conflict, not_found, responses
from jirahooks.server.jira_adapter import validate_jql
from jirahooks.store import queries
from jirahooks.store.models import Repository, RuleRow, Workspace, utcnow
from jirahooks.textcheck import scrub

router = APIRouter(tags=["rules"])


def _rule_out(row: RuleRow, warnings: list[str] | None = None) -> schemas.RuleOut:
    rule = queries.row_rule(row)
    broken = isinstance(rule, BrokenRule)
    definition = row.definition if isinstance(row.definition, dict) else {}
    return schemas.RuleOut(
        id=rule.id,
        scope=rule.scope.value,
        position=row.position,
        # a broken row may hold text that cannot be rendered (stored by an older version)
        definition=scrub(definition) if broken else dict(definition),
        rule=rule.to_api(),
        warnings=warnings or [],
        error=rule.problem if isinstance(rule, BrokenRule) else None,
        updated_at=row.updated_at,
    )


def require_rule_writer(principal: Principal, ws: Workspace, repo: Repository | None) -> None:
    """Changing rules — and anything that runs a rule's JQL for a person, like the editor's
    "Try it" — needs workspace admin for workspace rules, repository admin for a repository's."""
    if repo is None:
        principal.require_workspace_admin(ws)
    else:
        principal.require_repository_admin(ws, repo)


def _stored(row: RuleRow) -> dict[str, Any]:
    """The stored definition for the audit log, whatever an older version left there."""
    data = row.definition
    return dict(data) if isinstance(data, dict) else {"definition": data}


async def _scope(
    session: Session, principal: Principal, workspace: str, repository: str | None, *, write: bool
) -> tuple[Workspace, Repository | None]:
    ws = await get_workspace(session, principal, workspace)
    repo = await get_repository(session, ws, repository) if repository is not None else None
    if write:
        require_rule_writer(principal, ws, repo)
    return ws, repo


async def _validate(
    request: Request,
    session: Session,
    ws: Workspace,
    repo: Repository | None,
    data: Any,
    rule_id: str | None,
) -> tuple[Rule, list[str]]:
    if isinstance(data, dict) and rule_id is not None:
        data = {**data, "id": data.get("id", rule_id)}
    scope = Scope.REPOSITORY if repo is not None else Scope.WORKSPACE
    try:
        rule = parse_rule(data, scope=scope, path="rule")
    except ConfigError as exc:
        raise config_error(exc) from exc
    warnings: list[str] = []
    if rule.checks.jql:
        connections = await queries.enabled_connections(session, ws.id, repo.id if repo else None)
        errors, warnings = await validate_jql(
            connections, request.app.state.jirahooks.secrets, rule.checks.jql
        )
        if errors:
            raise ApiError(
                422,
                "CONFIG_INVALID",
                "rule.checks.jql: Jira rejects the JQL",
                "; ".join(errors),
                problems=[{"path": "rule.checks.jql", "message": e, "hint": ""} for e in errors],
            )
    return rule, warnings


async def _row(session: Session, ws: Workspace, repo: Repository | None, rule_id: str) -> RuleRow:
    rows = await queries.rule_rows(session, ws.id, repo.id if repo else None)
    for row in rows:
        if row.rule_id == rule_id:
            return row
    raise not_found("rule", rule_id)


def _target(ws: Workspace, repo: Repository | None, rule_id: str) -> str:
    return (
        f"repository:{repo.slug}/rule:{rule_id}" if repo else f"workspace:{ws.slug}/rule:{rule_id}"
    )


async def _create(
    request: Request,
    session: Session,
    principal: Principal,
    ws: Workspace,
    repo: Repository | None,
    data: Any,
) -> schemas.RuleOut:
    rule, warnings = await _validate(request, session, ws, repo, data, None)
    existing = await queries.rule_rows(session, ws.id, repo.id if repo else None)
    if any(r.rule_id == rule.id for r in existing):
        raise conflict(
            f"a rule with id '{rule.id}' exists in this scope",
            "PUT to replace it, or pick another id",
        )
    position = (
        await session.execute(
            select(func.max(RuleRow.position)).where(
                RuleRow.workspace_id == ws.id,
                RuleRow.repository_id.is_(None)
                if repo is None
                else RuleRow.repository_id == repo.id,
            )
        )
    ).scalar_one_or_none()
    row = RuleRow(
        workspace_id=ws.id,
        repository_id=repo.id if repo else None,
        rule_id=rule.id,
        position=0 if position is None else position + 1,
        definition=queries.rule_definition(rule),
    )
    session.add(row)
    await session.flush()
    audit(
        session, principal, ws.id, "rule.create", _target(ws, repo, rule.id), after=row.definition
    )
    out = _rule_out(row, warnings)  # the answer first: a request that fails stores nothing
    await session.commit()
    return out


async def _replace(
    request: Request,
    session: Session,
    principal: Principal,
    ws: Workspace,
    repo: Repository | None,
    rule_id: str,
    data: Any,
) -> schemas.RuleOut:
    row = await _row(session, ws, repo, rule_id)
    rule, warnings = await _validate(request, session, ws, repo, data, rule_id)
    if rule.id != rule_id:
        raise ApiError(
            422,
            "REQUEST_INVALID",
            "rule.id: a rule's id cannot change",
            "create a new rule instead",
        )
    before = _stored(row)
    row.definition = queries.rule_definition(rule)
    row.updated_at = utcnow()
    audit(
        session,
        principal,
        ws.id,
        "rule.update",
        _target(ws, repo, rule_id),
        before=before,
        after=row.definition,
    )
    await session.flush()
    out = _rule_out(row, warnings)  # the answer first: a request that fails stores nothing
    await session.commit()
    return out


async def _delete(
    session: Session, principal: Principal, ws: Workspace, repo: Repository | None, rule_id: str
) -> Response:
    row = await _row(session, ws, repo, rule_id)
    audit(
        session,
        principal,
        ws.id,
        "rule.delete",
        _target(ws, repo, rule_id),
        before=_stored(row),
    )
    await session.delete(row)
    await session.commit()
    return Response(status_code=204)


def _from_template(body: schemas.FromTemplate) -> dict[str, Any]:
    if templates.get(body.template) is None:
        raise not_found("template", body.template)
    return {**body.overrides, "template": body.template}


@router.get("/templates", summary="Built-in rule templates")
async def list_templates(principal: CurrentUser) -> list[dict[str, Any]]:
    return [
        {"name": t.name, "summary": t.summary, "rule": dict(t.rule)} for t in templates.TEMPLATES
    ]


# -- workspace scope -------------------------------------------------------------------------

RuleBody = Annotated[
    dict[str, Any], Body(description="a rule as in the configuration document (or with template:)")
]
# The request body's schema in /openapi.json: ``RuleDefinition``, generated from the rule model
# (server/openapi.py); the handler keeps the plain data, and the rule reader validates it.
RULE_BODY: dict[str, Any] = {"x-jirahooks-body": "RuleDefinition"}


@router.get(
    "/workspaces/{workspace}/rules", response_model=list[schemas.RuleOut], summary="Workspace rules"
)
async def list_workspace_rules(
    workspace: str, session: Session, principal: CurrentUser
) -> list[schemas.RuleOut]:
    ws, _ = await _scope(session, principal, workspace, None, write=False)
    return [_rule_out(r) for r in await queries.rule_rows(session, ws.id, None)]


@router.post(
    "/workspaces/{workspace}/rules",
    response_model=schemas.RuleOut,
    status_code=201,
    summary="Create a workspace rule",
    openapi_extra=RULE_BODY,
    responses=responses(409),
)
async def create_workspace_rule(
    workspace: str,
    body: RuleBody,
    request: Request,
    session: Session,
    principal: CurrentUser,
) -> schemas.RuleOut:
    ws, repo = await _scope(session, principal, workspace, None, write=True)
    return await _create(request, session, principal, ws, repo, body)


@router.post(
    "/workspaces/{workspace}/rules/from-template",
    response_model=schemas.RuleOut,
    status_code=201,
    summary="Create a workspace rule from a template",
    responses=responses(409),
)
async def create_workspace_rule_from_template(
    workspace: str,
    body: schemas.FromTemplate,
    request: Request,
    session: Session,
    principal: CurrentUser,
) -> schemas.RuleOut:
    ws, repo = await _scope(session, principal, workspace, None, write=True)
    return await _create(request, session, principal, ws, repo, _from_template(body))


@router.get(
    "/workspaces/{workspace}/rules/{rule_id}",
    response_model=schemas.RuleOut,
    summary="One workspace rule",
)
async def get_workspace_rule(
    workspace: str, rule_id: str, session: Session, principal: CurrentUser
) -> schemas.RuleOut:
    ws, repo = await _scope(session, principal, workspace, None, write=False)
    return _rule_out(await _row(session, ws, repo, rule_id))


@router.put(
    "/workspaces/{workspace}/rules/{rule_id}",
    response_model=schemas.RuleOut,
    summary="Replace a workspace rule",
    openapi_extra=RULE_BODY,
)
async def put_workspace_rule(
    workspace: str,
    rule_id: str,
    body: RuleBody,
    request: Request,
    session: Session,
    principal: CurrentUser,
) -> schemas.RuleOut:
    ws, repo = await _scope(session, principal, workspace, None, write=True)
    return await _replace(request, session, principal, ws, repo, rule_id, body)


@router.delete(
    "/workspaces/{workspace}/rules/{rule_id}", status_code=204, summary="Delete a workspace rule"
)
async def delete_workspace_rule(
    workspace: str, rule_id: str, session: Session, principal: CurrentUser
) -> Response:
    ws, repo = await _scope(session, principal, workspace, None, write=True)
    return await _delete(session, principal, ws, repo, rule_id)


# -- repository scope ------------------------------------------------------------------------

_REPO = "/workspaces/{workspace}/repositories/{repository}/rules"


@router.get(_REPO, response_model=list[schemas.RuleOut], summary="A repository's own rules")
async def list_repository_rules(
    workspace: str, repository: str, session: Session, principal: CurrentUser
) -> list[schemas.RuleOut]:
    ws, repo = await _scope(session, principal, workspace, repository, write=False)
    assert repo is not None
    return [_rule_out(r) for r in await queries.rule_rows(session, ws.id, repo.id)]


@router.get(
    "/workspaces/{workspace}/repositories/{repository}/effective-rules",
    response_model=list[dict[str, Any]],
    summary="The rules that apply to the repository (workspace + repository, combined)",
)
async def effective_rules(
    workspace: str, repository: str, session: Session, principal: CurrentUser
) -> list[dict[str, Any]]:
    ws, repo = await _scope(session, principal, workspace, repository, write=False)
    return [r.to_api() for r in await queries.rules_for(session, ws.id, repo)]


@router.post(
    _REPO,
    response_model=schemas.RuleOut,
    status_code=201,
    summary="Create a repository rule",
    openapi_extra=RULE_BODY,
    responses=responses(409),
)
async def create_repository_rule(
    workspace: str,
    repository: str,
    body: RuleBody,
    request: Request,
    session: Session,
    principal: CurrentUser,
) -> schemas.RuleOut:
    ws, repo = await _scope(session, principal, workspace, repository, write=True)
    return await _create(request, session, principal, ws, repo, body)


@router.post(
    _REPO + "/from-template",
    response_model=schemas.RuleOut,
    status_code=201,
    summary="Create a repository rule from a template",
    responses=responses(409),
)
async def create_repository_rule_from_template(
    workspace: str,
    repository: str,
    body: schemas.FromTemplate,
    request: Request,
    session: Session,
    principal: CurrentUser,
) -> schemas.RuleOut:
    ws, repo = await _scope(session, principal, workspace, repository, write=True)
    return await _create(request, session, principal, ws, repo, _from_template(body))


@router.get(_REPO + "/{rule_id}", response_model=schemas.RuleOut, summary="One repository rule")
async def get_repository_rule(
    workspace: str, repository: str, rule_id: str, session: Session, principal: CurrentUser
) -> schemas.RuleOut:
    ws, repo = await _scope(session, principal, workspace, repository, write=False)
    return _rule_out(await _row(session, ws, repo, rule_id))


@router.put(
    _REPO + "/{rule_id}",
    response_model=schemas.RuleOut,
    summary="Replace a repository rule",
    openapi_extra=RULE_BODY,
)
async def put_repository_rule(
    workspace: str,
    repository: str,
    rule_id: str,
    body: RuleBody,
    request: Request,
    session: Session,
    principal: CurrentUser,
) -> schemas.RuleOut:
    ws, repo = await _scope(session, principal, workspace, repository, write=True)
    return await _replace(request, session, principal, ws, repo, rule_id, body)


@router.delete(_REPO + "/{rule_id}", status_code=204, summary="Delete a repository rule")
async def delete_repository_rule(
    workspace: str, repository: str, rule_id: str, session: Session, principal: CurrentUser
) -> Response:
    ws, repo = await _scope(session, principal, workspace, repository, write=True)
    return await _delete(session, principal, ws, repo, rule_id)
