"""Compliance rules at workspace and repository scope: list (enabled switch), editor with
messages next to the fields, "try it" (the engine on a typed-in branch, commits and PR), and the
templates gallery.

Who may use what (docs/web-ui.md, Roles): everyone in the workspace reads the rules (the list,
and one rule read-only); the new-rule form, saving, deleting, the switches, the templates gallery
and "Try it" need the right to change rules at that scope — workspace administrators for
workspace rules, that repository's administrators for repository rules. "Try it" runs the typed
JQL against Jira as the connection's technical user, so it is an editor's tool, not a reader's.

Saving goes through the admin API's route functions (``jirahooks.server.admin.rules``): the
same schema validation, JQL check against Jira, permissions and audit entries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from jirahooks.errors import ConfigError
from jirahooks.render import text as text_report
from jirahooks.rules import templates
from jirahooks.rules.config import parse_rule, parse_stored_rule
from jirahooks.rules.model import Rule, Scope
from jirahooks.server.admin import repositories as repo_api
from jirahooks.server.admin import rules as api
from jirahooks.server.admin import schemas
from jirahooks.server.auth import Session
from jirahooks.server.errors import ApiError, forbidden
from jirahooks.server.web.common import (
    Ctx,
    W,
    field_errors,
    first,
    form_data,
    is_htmx,
    page,
    redirect,
    rolled_back,
    workspace_ctx,
)
from jirahooks.server.web.i18n import _, current_locale
from jirahooks.server.web.ruleform import (
    MODES,
    PATTERN_FIELDS,
    TARGETS,
    TRIGGERS,
    TryInput,
    field_for,
    form_to_document,
    form_values,
    group_facts,
    rule_to_values,
)
from jirahooks.server.web.session import WebUserDep
from jirahooks.store import queries

router = APIRouter()
R = W + "/r/{repository}"


def both(method: str, suffix: str) -> Callable[[Any], Any]:
    """Register a handler at workspace scope and at repository scope."""

    def register(handler: Any) -> Any:
        router.add_api_route(W + "/rules" + suffix, handler, methods=[method])
        router.add_api_route(R + "/rules" + suffix, handler, methods=[method])
        return handler

    return register


async def _ctx(db: Session, user: Any, workspace: str, repository: str | None) -> Ctx:
    return await workspace_ctx(db, user, workspace, repository)


async def _rows(db: Session, ctx: Ctx) -> list[schemas.RuleOut]:
    p = ctx.user.principal
    if ctx.repository is None:
        return await api.list_workspace_rules(ctx.workspace.slug, db, p)
    return await api.list_repository_rules(ctx.workspace.slug, ctx.repository.slug, db, p)


def _require_editor(ctx: Ctx) -> None:
    """403 unless the user may change rules at this scope (the API's write check)."""
    api.require_rule_writer(ctx.user.principal, ctx.workspace, ctx.repository)


def _editor_context() -> dict[str, Any]:
    return {
        "triggers": TRIGGERS,
        "modes": MODES,
        "targets": TARGETS,
        "pattern_fields": PATTERN_FIELDS,
    }


def _scope(ctx: Ctx) -> Scope:
    return Scope.REPOSITORY if ctx.repository else Scope.WORKSPACE


async def _list_page(request: Request, db: Session, ctx: Ctx, **extra: Any) -> HTMLResponse:
    rows = await _rows(db, ctx)
    inherited: list[schemas.RuleOut] = []
    disabled: list[str] = []
    if ctx.repository is not None:
        inherited = await api.list_workspace_rules(ctx.workspace.slug, db, ctx.user.principal)
        disabled = [str(x) for x in ctx.repository.disabled_rules or []]
    fragment = extra.pop("fragment", False)
    template = "rules_table.html" if fragment else "rules.html"
    trials_chart = None
    if (
        not fragment and ctx.repository is None
    ):  # rules on trial (evaluate / warn mode): would have blocked, per day
        from jirahooks.server.web.charts import would_have_blocked
        from jirahooks.server.web.pages_evaluations import rule_trials

        trials, days = await rule_trials(db, ctx.workspace.id)
        trials = [t for t in trials if t.rule_id in {r.id for r in rows}]
        trials_chart = would_have_blocked(trials, days) if trials else None
    return page(
        request,
        ctx,
        template,
        rows=rows,
        inherited=inherited,
        disabled=disabled,
        trials_chart=trials_chart,
        tab="rules",
        **extra,
    )


@both("GET", "")
async def rules_page(
    request: Request, workspace: str, db: Session, user: WebUserDep, repository: str | None = None
) -> Response:
    ctx = await _ctx(db, user, workspace, repository)
    return await _list_page(request, db, ctx)


def _editor(
    request: Request,
    ctx: Ctx,
    *,
    values: dict[str, Any],
    errors: dict[str, str],
    rule_id: str | None,
    flash: str = "",
    warnings: list[str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return page(
        request,
        ctx,
        "rule_editor.html",
        values=values,
        errors=errors,
        rule_id=rule_id,
        flash=flash,
        warnings=warnings or [],
        tab="rules",
        status=status,
        **_editor_context(),
    )


@both("GET", "/-/new")
async def new_rule(
    request: Request, workspace: str, db: Session, user: WebUserDep, repository: str | None = None
) -> Response:
    ctx = await _ctx(db, user, workspace, repository)
    _require_editor(ctx)
    blank = Rule(id="new-rule", title="", scope=_scope(ctx))
    values = rule_to_values(blank) | {"id": ""}
    return _editor(request, ctx, values=values, errors={}, rule_id=None)


def _errors(exc: ApiError) -> dict[str, str]:
    raw = field_errors(exc)
    return {field_for(path) if path != "_form" else "_form": msg for path, msg in raw.items()}


async def _save(
    request: Request, db: Session, ctx: Ctx, rule_id: str | None
) -> tuple[schemas.RuleOut | None, dict[str, str], dict[str, Any], Ctx]:
    form = await form_data(request)
    document = form_to_document(form)
    values = form_values(form)
    p, ws = ctx.user.principal, ctx.workspace.slug
    repo = ctx.repository.slug if ctx.repository else None
    _require_editor(ctx)  # permission first, as the API checks it
    local: dict[str, str] = {}
    if not document.get("title"):
        local["title"] = _("Give the rule a title.")
    try:
        parse_rule(document, scope=_scope(ctx))
    except ConfigError as exc:
        for problem in exc.problems:
            message = problem.message + (f" ({problem.hint})" if problem.hint else "")
            local.setdefault(field_for(problem.path), message)
    if local:
        return None, local, values, ctx
    try:
        if rule_id is None:
            if repo is None:
                out = await api.create_workspace_rule(ws, document, request, db, p)
            else:
                out = await api.create_repository_rule(ws, repo, document, request, db, p)
        elif repo is None:
            out = await api.put_workspace_rule(ws, rule_id, document, request, db, p)
        else:
            out = await api.put_repository_rule(ws, repo, rule_id, document, request, db, p)
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        ctx = await rolled_back(request, db, ctx)
        return None, _errors(exc), values, ctx
    return out, {}, values, ctx


@both("POST", "/-/new")
async def create_rule(
    request: Request, workspace: str, db: Session, user: WebUserDep, repository: str | None = None
) -> Response:
    ctx = await _ctx(db, user, workspace, repository)
    out, errors, values, ctx = await _save(request, db, ctx, None)
    if out is None:
        return _editor(request, ctx, values=values, errors=errors, rule_id=None, status=422)
    return redirect(f"{ctx.scope_base}/rules/{quote(out.id)}?saved=created")


async def _get(db: Session, ctx: Ctx, rule_id: str) -> schemas.RuleOut:
    p, ws = ctx.user.principal, ctx.workspace.slug
    if ctx.repository is None:
        return await api.get_workspace_rule(ws, rule_id, db, p)
    return await api.get_repository_rule(ws, ctx.repository.slug, rule_id, db, p)


@both("GET", "/{rule_id}")
async def edit_rule(
    request: Request,
    workspace: str,
    rule_id: str,
    db: Session,
    user: WebUserDep,
    repository: str | None = None,
    saved: str = "",
) -> Response:
    ctx = await _ctx(db, user, workspace, repository)
    out = await _get(db, ctx, rule_id)
    errors: dict[str, str] = {}
    try:
        rule = parse_stored_rule(out.definition, scope=_scope(ctx))
    except ConfigError:  # stored by an older version: show what is legible, and why
        rule = Rule(id=out.id, title=str(out.rule.get("title", out.id)), scope=_scope(ctx))
        errors["_form"] = _(
            "The stored rule cannot be read (%(problem)s); it blocks until it is fixed"
            " here and saved, or deleted.",
            problem=out.error,
        )
    flash = {"created": _("Rule created."), "template": _("Rule created from the template.")}.get(
        saved, _("Rule saved.") if saved else ""
    )
    return _editor(
        request, ctx, values=rule_to_values(rule), errors=errors, rule_id=out.id, flash=flash
    )


@both("POST", "/{rule_id}")
async def save_rule(
    request: Request,
    workspace: str,
    rule_id: str,
    db: Session,
    user: WebUserDep,
    repository: str | None = None,
) -> Response:
    ctx = await _ctx(db, user, workspace, repository)
    out, errors, values, ctx = await _save(request, db, ctx, rule_id)
    if out is None:
        return _editor(request, ctx, values=values, errors=errors, rule_id=rule_id, status=422)
    rule = parse_stored_rule(out.definition, scope=_scope(ctx))
    return _editor(
        request,
        ctx,
        values=rule_to_values(rule),
        errors={},
        rule_id=out.id,
        flash=_("Rule saved."),
        warnings=out.warnings,
    )


@both("POST", "/{rule_id}/delete")
async def delete_rule(
    request: Request,
    workspace: str,
    rule_id: str,
    db: Session,
    user: WebUserDep,
    repository: str | None = None,
) -> Response:
    ctx = await _ctx(db, user, workspace, repository)
    p, ws = ctx.user.principal, ctx.workspace.slug
    if ctx.repository is None:
        await api.delete_workspace_rule(ws, rule_id, db, p)
    else:
        await api.delete_repository_rule(ws, ctx.repository.slug, rule_id, db, p)
    return redirect(ctx.scope_base + "/rules", htmx=is_htmx(request))


@both("POST", "/{rule_id}/toggle")
async def toggle_rule(
    request: Request,
    workspace: str,
    rule_id: str,
    db: Session,
    user: WebUserDep,
    repository: str | None = None,
) -> Response:
    """The enabled switch in the list."""
    ctx = await _ctx(db, user, workspace, repository)
    out = await _get(db, ctx, rule_id)
    enabled = first(await form_data(request), "enabled") in ("true", "on", "1")
    document = {**out.definition, "enabled": enabled}
    p, ws = ctx.user.principal, ctx.workspace.slug
    if ctx.repository is None:
        await api.put_workspace_rule(ws, rule_id, document, request, db, p)
    else:
        await api.put_repository_rule(ws, ctx.repository.slug, rule_id, document, request, db, p)
    if not is_htmx(request):
        return redirect(ctx.scope_base + "/rules")
    return await _list_page(request, db, ctx, fragment=True)


@router.post(R + "/inherited/{rule_id}")
async def switch_inherited(
    request: Request, workspace: str, repository: str, rule_id: str, db: Session, user: WebUserDep
) -> Response:
    """Switch a workspace rule off (or back on) for one repository."""
    ctx = await _ctx(db, user, workspace, repository)
    assert ctx.repository is not None
    applies = first(await form_data(request), "enabled") in ("true", "on", "1")
    disabled = [str(x) for x in ctx.repository.disabled_rules or [] if str(x) != rule_id]
    if not applies:
        disabled.append(rule_id)
    await repo_api.update_repository(
        workspace,
        repository,
        schemas.RepositoryPatch.model_validate({"disabled_rules": disabled}),
        db,
        user.principal,
    )
    if not is_htmx(request):
        return redirect(ctx.scope_base + "/rules")
    return await _list_page(request, db, ctx, fragment=True)


# -- try it ----------------------------------------------------------------------------------


@both("POST", "/-/try")
async def try_rule(
    request: Request, workspace: str, db: Session, user: WebUserDep, repository: str | None = None
) -> Response:
    """Evaluate the rule as typed (saved or not) against a typed-in event, as a hook would."""
    from jirahooks.engine import evaluate

    ctx = await _ctx(db, user, workspace, repository)
    _require_editor(ctx)  # it runs the typed JQL as the technical user
    form = await form_data(request)
    document = form_to_document(form)
    if not document.get("id"):
        document["id"] = "try-it"
    try_input = TryInput.from_form(form)
    try:
        rule = parse_rule(document, scope=_scope(ctx))
    except ConfigError as exc:
        problems = [f"{field_for(p.path)}: {p.message}" for p in exc.problems]
        return page(request, ctx, "rule_try.html", problems=problems, result=None)
    rule = dataclasses.replace(rule, enabled=True)
    settings = queries.effective_settings(ctx.workspace, ctx.repository)
    connections = await queries.enabled_connections(
        db, ctx.workspace.id, ctx.repository.id if ctx.repository else None
    )
    state = request.app.state.jirahooks
    resolver = state.resolvers.resolver(connections, deadline_seconds=settings.time_budget_seconds)
    event = try_input.event(ctx.repository.slug if ctx.repository else "")
    evaluation = await evaluate(event, [rule], resolver, settings=settings, run_cpu=state.cpu.run)
    document_out = await state.cpu.run(evaluation.to_document, current_locale())
    validations = [
        {**rv, "sections": group_facts(rv)} for rv in document_out.get("ruleValidations", [])
    ]
    return page(
        request,
        ctx,
        "rule_try.html",
        problems=[],
        result=document_out,
        validations=validations,
        report=text_report(evaluation, verbose=True),
        connections=[c.name for c in connections],
        trigger=try_input.trigger,
        issues=document_out.get("ruleValidations", [{}])[0].get("issuesUnderReview", {})
        if document_out.get("ruleValidations")
        else {},
    )


# -- templates gallery -------------------------------------------------------------------------


@router.get(W + "/templates")
async def templates_page(
    request: Request, workspace: str, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    if not (ctx.is_admin or ctx.administered):
        raise forbidden(
            "only administrators can create rules from templates",
            "ask a workspace administrator; the rules themselves are under Compliance rules",
        )
    gallery = []
    for t in templates.TEMPLATES:
        rule = parse_rule(dict(t.rule)).localized(current_locale())
        gallery.append({"template": t, "rule": rule})
    return page(request, ctx, "templates.html", gallery=gallery)


@router.post(W + "/templates/{name}/use")
async def use_template(
    request: Request, workspace: str, name: str, db: Session, user: WebUserDep
) -> Response:
    """Create a rule from a template (in the workspace or a repository), then open the editor."""
    await workspace_ctx(db, user, workspace)  # membership
    template = templates.get(name)
    if template is None:
        raise ApiError(404, "NOT_FOUND", f"no template '{name}'")
    repo = first(await form_data(request), "scope") or None
    scoped = await workspace_ctx(db, user, workspace, repo)
    _require_editor(scoped)
    existing = {r.id for r in await _rows(db, scoped)}
    base_id = str(template.rule.get("id", name))
    rule_id, n = base_id, 2
    while rule_id in existing:
        rule_id, n = f"{base_id}-{n}", n + 1
    body = schemas.FromTemplate(template=name, overrides={"id": rule_id})
    p = user.principal
    if repo is None:
        out = await api.create_workspace_rule_from_template(workspace, body, request, db, p)
    else:
        out = await api.create_repository_rule_from_template(workspace, repo, body, request, db, p)
    return redirect(f"{scoped.scope_base}/rules/{quote(out.id)}?saved=template")
