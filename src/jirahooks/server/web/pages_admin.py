"""Repositories, Process Guardian settings (workspace defaults, repository overrides) and
Validation API tokens (secret shown once, rotate, revoke) — through the admin API's functions."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from jirahooks.rules.model import Settings, Target
from jirahooks.rules.schema import dump
from jirahooks.server.admin import repositories as repo_api
from jirahooks.server.admin import schemas
from jirahooks.server.admin import tokens as token_api
from jirahooks.server.auth import Session
from jirahooks.server.errors import ApiError
from jirahooks.server.web.common import (
    Ctx,
    W,
    field_errors,
    first,
    form_data,
    lines,
    page,
    redirect,
    rolled_back,
    workspace_ctx,
)
from jirahooks.server.web.i18n import N_, _
from jirahooks.server.web.session import WebUserDep

router = APIRouter()

# -- repositories ----------------------------------------------------------------------------


def _slug_help() -> str:
    return _("Letters, digits, '.', '_' or '-', starting with a letter or digit.")


@router.get(W + "/repositories")
async def repositories_page(
    request: Request,
    workspace: str,
    db: Session,
    user: WebUserDep,
    renamed: str = "",
    deleted: str = "",
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    flash = ""
    if renamed:
        flash = _("Repository renamed to %(slug)s.", slug=renamed)
    elif deleted:
        flash = _("Repository %(slug)s deleted, with its rules, settings and tokens.", slug=deleted)
    return page(request, ctx, "repositories.html", errors={}, slug="", flash=flash)


@router.post(W + "/r/{repository}/rename")
async def rename_repository(
    request: Request, workspace: str, repository: str, db: Session, user: WebUserDep
) -> Response:
    """A new slug (workspace admins): through the admin API's PATCH, audited there."""
    ctx = await workspace_ctx(db, user, workspace, repository)
    ctx.user.principal.require_workspace_admin(ctx.workspace)
    slug = first(await form_data(request), "slug")
    try:
        body = schemas.RepositoryPatch.model_validate({"slug": slug})
        await repo_api.update_repository(workspace, repository, body, db, user.principal)
    except ValidationError:
        errors = {f"rename-{repository}": _slug_help()}
        return page(request, ctx, "repositories.html", errors=errors, slug="", status=422)
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        ctx = await rolled_back(request, db, ctx)
        errors = {f"rename-{repository}": exc.message}
        return page(request, ctx, "repositories.html", errors=errors, slug="", status=422)
    return redirect(f"{ctx.base}/repositories?renamed={quote(slug)}")


@router.post(W + "/r/{repository}/delete")
async def delete_repository(
    request: Request, workspace: str, repository: str, db: Session, user: WebUserDep
) -> Response:
    """Delete a repository with its rules, overrides and tokens (workspace admins, audited)."""
    ctx = await workspace_ctx(db, user, workspace, repository)
    await repo_api.delete_repository(workspace, repository, db, user.principal)
    return redirect(f"{ctx.base}/repositories?deleted={quote(repository)}")


@router.post(W + "/repositories")
async def create_repository(
    request: Request, workspace: str, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    slug = first(await form_data(request), "slug")
    try:
        await repo_api.create_repository(
            workspace, schemas.RepositoryIn.model_validate({"slug": slug}), db, user.principal
        )
    except ValidationError:
        errors = {"slug": _slug_help()}
        return page(request, ctx, "repositories.html", errors=errors, slug=slug, status=422)
    except ApiError as exc:
        if exc.status == 403:
            raise
        ctx = await rolled_back(request, db, ctx)
        errors = {"slug": exc.message}
        return page(request, ctx, "repositories.html", errors=errors, slug=slug, status=422)
    return redirect(f"{ctx.base}/r/{slug}/connections")


# -- Process Guardian settings ---------------------------------------------------------------

SETTING_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("enabled", "bool", N_("The Process Guardian evaluates events at all")),
    ("key_pattern", "text", N_("Regular expression for one issue key (RE2 syntax)")),
    ("case_insensitive", "targets", N_("Targets where keys are found in any case (abc-1 → ABC-1)")),
    ("backslash_escape", "bool", N_(r"\ABC-1 is not evaluated (escape syntax)")),
    ("backtick_escape", "bool", N_("`ABC-1` and fenced code blocks are not evaluated")),
    ("ignored_keys", "lines", N_("Globs of keys that are never keys, one per line (CVE-*, UTF-8)")),
    ("jira_unreachable", "policy", N_("When Jira cannot be asked")),
    (
        "review_pull_requests",
        "bool",
        N_("The Guardian approves passing PRs, requests changes else"),
    ),
    ("validation_api", "bool", N_("The Validation API answers for this scope")),
    (
        "share_issue_details",
        "bool",
        N_(
            "Validation API answers also carry each issue's Jira id, fix versions, assignee"
            " account ID and connection name (every hook user sees them); workspace only"
        ),
    ),
    ("time_budget_seconds", "number", N_("Overall deadline for Jira calls in one evaluation")),
    (
        "commit_message_template",
        "text",
        N_(
            "How prepare-commit-msg adds the branch's issue key, e.g. [{key}] {message};"
            " empty: the shape the commit naming rules accept"
        ),
    ),
    (
        "default_mode",
        "mode",
        N_("The mode of rules that set none: evaluate tries a rule without blocking anyone"),
    ),
)
MODE_CHOICES = (
    ("enforce", N_("enforce — rules block as their severity says")),
    ("warn", N_("warn — failures are shown, never block")),
    ("evaluate", N_("evaluate — not shown; recorded as “would have blocked”")),
)
# settings the form does not edit (set through the admin API or `jirahooks apply`): a save
# keeps them as they are
NOT_ON_THE_FORM = ("exemptions", "groups")
WORKSPACE_ONLY = frozenset({"share_issue_details"})
REPOSITORY_FIELDS = tuple(f for f in SETTING_FIELDS if f[0] not in WORKSPACE_ONLY)
LABELS = {
    "enabled": N_("Process Guardian on"),
    "key_pattern": N_("Issue-key pattern"),
    "case_insensitive": N_("Case-insensitive targets"),
    "backslash_escape": N_("Backslash escape"),
    "backtick_escape": N_("Backtick escape"),
    "ignored_keys": N_("Ignored keys"),
    "jira_unreachable": N_("When Jira is unreachable"),
    "review_pull_requests": N_("Review pull requests"),
    "validation_api": N_("Validation API on"),
    "share_issue_details": N_("Share issue details with hook users"),
    "time_budget_seconds": N_("Time budget (seconds)"),
    "commit_message_template": N_("Commit message template"),
    "default_mode": N_("Default rule mode"),
}


def _defaults() -> dict[str, Any]:
    return {f.name: dump(getattr(Settings(), f.name)) for f in dataclasses.fields(Settings)}


def _from_form(form: dict[str, list[str]], name: str, kind: str) -> Any:
    if kind == "bool":
        return first(form, name) in ("on", "true", "1")
    if kind == "targets":
        return [t.value for t in Target if t.value in form.get(name, [])]
    if kind == "lines":
        return lines(first(form, name))
    if kind == "number":
        raw = first(form, name)
        try:
            return float(raw)
        except ValueError:
            return raw  # parse_settings reports it at its path
    return first(form, name)


def _same(kind: str, a: Any, b: Any) -> bool:
    """Whether a submitted value equals the inherited one (as the form renders both)."""
    if kind == "targets" or kind == "lines":
        return set(a or []) == set(b or [])
    if kind == "number":
        try:
            return float(a) == float(b)
        except (TypeError, ValueError):
            return False
    if kind == "bool":
        return bool(a) == bool(b)
    return str(a if a is not None else "") == str(b if b is not None else "")


def _overrides(
    form: dict[str, list[str]], submitted: dict[str, Any], inherited: dict[str, Any]
) -> set[str]:
    """The repository's overrides after a save. A ticked "Override" box is one; so is a value
    the person changed while the box was unticked (they edited the inherited value shown, so
    ticking is implied: the change is kept, never silently thrown away). Unticking a box that
    was ticked when the page was rendered (``was_override_*``) removes that override."""
    overrides: set[str] = set()
    for name, kind, _help in REPOSITORY_FIELDS:
        if first(form, f"override_{name}") or (
            not first(form, f"was_override_{name}")
            and not _same(kind, submitted[name], inherited.get(name))
        ):
            overrides.add(name)
    return overrides


def _display(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    out["ignored_keys"] = "\n".join(values.get("ignored_keys") or [])
    return out


async def _settings_page(
    request: Request,
    ctx: Ctx,
    current: schemas.SettingsOut,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    overrides: set[str] | None = None,
    flash: str = "",
    status: int = 200,
) -> HTMLResponse:
    shown = values if values is not None else current.effective
    return page(
        request,
        ctx,
        "settings.html",
        fields=SETTING_FIELDS if ctx.repository is None else REPOSITORY_FIELDS,
        labels=LABELS,
        values=_display(shown),
        overrides=overrides if overrides is not None else set(current.settings),
        errors=errors or {},
        flash=flash,
        targets=[t.value for t in Target],
        modes=MODE_CHOICES,
        exemptions=current.effective.get("exemptions") or {},
        tab="settings",
        status=status,
    )


async def _current(db: Session, ctx: Ctx) -> schemas.SettingsOut:
    p, ws = ctx.user.principal, ctx.workspace.slug
    if ctx.repository is None:
        return await repo_api.workspace_settings(ws, db, p)
    return await repo_api.repository_settings(ws, ctx.repository.slug, db, p)


@router.get(W + "/settings")
@router.get(W + "/r/{repository}/settings")
async def settings_page(
    request: Request, workspace: str, db: Session, user: WebUserDep, repository: str | None = None
) -> Response:
    ctx = await workspace_ctx(db, user, workspace, repository)
    return await _settings_page(request, ctx, await _current(db, ctx))


@router.post(W + "/settings")
@router.post(W + "/r/{repository}/settings")
async def save_settings(
    request: Request, workspace: str, db: Session, user: WebUserDep, repository: str | None = None
) -> Response:
    ctx = await workspace_ctx(db, user, workspace, repository)
    form = await form_data(request)
    submitted = {name: _from_form(form, name, kind) for name, kind, _help in SETTING_FIELDS}
    if ctx.repository is None:
        defaults = _defaults()
        body = {k: v for k, v in submitted.items() if v != defaults.get(k)}
        overrides: set[str] = set(body)
    else:
        inherited = (await repo_api.workspace_settings(workspace, db, user.principal)).effective
        overrides = _overrides(form, submitted, inherited)
        body = {k: v for k, v in submitted.items() if k in overrides}
    p = user.principal
    stored = (await _current(db, ctx)).settings
    body.update({k: stored[k] for k in NOT_ON_THE_FORM if k in stored})
    try:
        if ctx.repository is None:
            await repo_api.put_workspace_settings(workspace, body, db, p)
        else:
            await repo_api.put_repository_settings(workspace, ctx.repository.slug, body, db, p)
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        ctx = await rolled_back(request, db, ctx)
        errors = {
            path.rsplit(".", 1)[-1].split("[", 1)[0]: msg for path, msg in field_errors(exc).items()
        }
        return await _settings_page(
            request,
            ctx,
            await _current(db, ctx),
            errors=errors,
            values=submitted,
            overrides=overrides,
            status=422,
        )
    return await _settings_page(request, ctx, await _current(db, ctx), flash=_("Settings saved."))


# -- Validation API tokens -------------------------------------------------------------------


async def _tokens_page(
    request: Request,
    ctx: Ctx,
    db: Session,
    *,
    created: schemas.ValidationTokenSecret | None = None,
    action: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    rows = await token_api.list_tokens(ctx.workspace.slug, db, ctx.user.principal)
    return page(
        request,
        ctx,
        "tokens.html",
        rows=rows,
        created=created,
        action=action,
        errors=errors or {},
        status=status,
    )


@router.get(W + "/tokens")
async def tokens_page(request: Request, workspace: str, db: Session, user: WebUserDep) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    return await _tokens_page(request, ctx, db)


@router.post(W + "/tokens")
async def create_token(request: Request, workspace: str, db: Session, user: WebUserDep) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    form = await form_data(request)
    name = first(form, "name")
    if not name:
        return await _tokens_page(
            request, ctx, db, errors={"name": _("Give the token a name.")}, status=422
        )
    try:
        body = schemas.ValidationTokenIn(name=name, repository=first(form, "repository") or None)
        created = await token_api.create_token(workspace, body, request, db, user.principal)
    except ValidationError:
        return await _tokens_page(
            request, ctx, db, errors={"name": _("At most 200 characters.")}, status=422
        )
    except ApiError as exc:
        if exc.status in (403, 404):
            raise
        ctx = await rolled_back(request, db, ctx)
        return await _tokens_page(request, ctx, db, errors={"name": exc.message}, status=422)
    return await _tokens_page(request, ctx, db, created=created, action="created")


@router.post(W + "/tokens/{token_id:int}/rotate")
async def rotate_token(
    request: Request, workspace: str, token_id: int, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    created = await token_api.rotate_token(workspace, token_id, request, db, user.principal)
    return await _tokens_page(request, ctx, db, created=created, action="rotated")


@router.post(W + "/tokens/{token_id:int}/revoke")
async def revoke_token(
    request: Request, workspace: str, token_id: int, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    await token_api.revoke_token(workspace, token_id, db, user.principal)
    return redirect(ctx.base + "/tokens")
