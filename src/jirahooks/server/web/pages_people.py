"""Workspace settings → People (workspace administrators only): the people of the workspace
with their role and the repositories they administer; add a person, change their roles, remove
them, and create an API token for them (shown once; it signs in at ``/ui/login``).

Every read and change goes through the admin API's route functions
(``jirahooks.server.admin.users``), so only workspace administrators get past the first call
(everyone else gets the API's 403), and validation and audit entries are the API's.

People are addressed by their user id in URLs (names may hold any character).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from jirahooks.server.admin import schemas
from jirahooks.server.admin import users as users_api
from jirahooks.server.auth import Role, Session
from jirahooks.server.errors import ApiError
from jirahooks.server.web.common import (
    PREFIX,
    Ctx,
    W,
    first,
    form_data,
    page,
    redirect,
    rolled_back,
    workspace_ctx,
)
from jirahooks.server.web.i18n import N_, _
from jirahooks.server.web.session import WebUserDep

router = APIRouter()

ROLES = (
    (Role.MEMBER.value, N_("Member — reads everything")),
    (Role.AUDITOR.value, N_("Auditor — reads everything and exports evidence")),
    (Role.ADMIN.value, N_("Workspace admin — manages everything")),
)
# Shown only for someone who has no workspace role (the API allows it: repository admin only).
NO_ROLE = ("", N_("No workspace role — administers the repositories ticked below"))


def _problem_field(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in exc.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "_form"
        errors.setdefault(name, problem["msg"])
    return errors


def _values(form: dict[str, list[str]]) -> dict[str, Any]:
    role = first(form, "role")
    return {
        "name": first(form, "name"),
        "email": first(form, "email"),
        "role": role or None,
        "repository_admin": form.get("repository_admin", []),
    }


async def _people(ctx: Ctx, db: Session) -> list[schemas.UserOut]:
    return await users_api.list_users(ctx.workspace_slug, db, ctx.user.principal)


async def _person(ctx: Ctx, db: Session, user_id: int) -> schemas.UserOut:
    for person in await _people(ctx, db):
        if person.id == user_id:
            return person
    raise ApiError(
        404, "NOT_FOUND", f"no person with id {user_id} in this workspace", "see the People list"
    )


def _people_page(
    request: Request,
    ctx: Ctx,
    people: list[schemas.UserOut],
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    flash: str = "",
    status: int = 200,
) -> HTMLResponse:
    return page(
        request,
        ctx,
        "people.html",
        people=people,
        roles=ROLES,
        values=values or {"name": "", "email": "", "role": "MEMBER", "repository_admin": []},
        errors=errors or {},
        flash=flash,
        status=status,
    )


@router.get(W + "/people")
async def people_page(
    request: Request, workspace: str, db: Session, user: WebUserDep, removed: str = ""
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    people = await _people(ctx, db)
    flash = _("%(name)s was removed from the workspace.", name=removed) if removed else ""
    return _people_page(request, ctx, people, flash=flash)


@router.post(W + "/people")
async def add_person(request: Request, workspace: str, db: Session, user: WebUserDep) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    values = _values(await form_data(request))
    try:
        body = schemas.UserIn.model_validate(values)
    except ValidationError as exc:
        errors = _problem_field(exc)
        if not values["name"]:
            errors["name"] = _(
                "Enter the person's name (the name they are known by in audit logs)."
            )
        return _people_page(
            request, ctx, await _people(ctx, db), values=values, errors=errors, status=422
        )
    try:
        out = await users_api.add_user(workspace, body, db, user.principal)
    except ApiError as exc:
        if exc.status == 403:
            raise
        ctx = await rolled_back(request, db, ctx)
        field = "name" if exc.status == 409 else "_form"
        errors = {field: exc.message + (f" — {exc.hint}" if exc.hint else "")}
        return _people_page(
            request, ctx, await _people(ctx, db), values=values, errors=errors, status=422
        )
    return redirect(f"{ctx.base}/people/{out.id}?added=1")


def _person_page(
    request: Request,
    ctx: Ctx,
    person: schemas.UserOut,
    *,
    created: schemas.ApiTokenSecret | None = None,
    errors: dict[str, str] | None = None,
    flash: str = "",
    status: int = 200,
) -> HTMLResponse:
    roles = ROLES if person.role else (NO_ROLE, *ROLES)
    base = str(request.base_url).rstrip("/")
    return page(
        request,
        ctx,
        "person.html",
        person=person,
        roles=roles,
        is_self=person.id == ctx.user.principal.user.id,
        created=created,
        login_url=f"{base}{PREFIX}/login",
        errors=errors or {},
        flash=flash,
        status=status,
    )


@router.get(W + "/people/{user_id:int}")
async def person_page(
    request: Request, workspace: str, user_id: int, db: Session, user: WebUserDep, added: str = ""
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    person = await _person(ctx, db, user_id)
    flash = (
        _("%(name)s was added. Create an API token so they can sign in.", name=person.name)
        if added
        else ""
    )
    return _person_page(request, ctx, person, flash=flash)


@router.post(W + "/people/{user_id:int}")
async def save_person(
    request: Request, workspace: str, user_id: int, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    person = await _person(ctx, db, user_id)
    values = _values(await form_data(request))
    try:
        body = schemas.UserPatch.model_validate(
            {"role": values["role"], "repository_admin": values["repository_admin"]}
        )
        out = await users_api.update_user(workspace, person.name, body, db, user.principal)
    except ValidationError as exc:
        errors = _problem_field(exc)
        return _person_page(request, ctx, person, errors=errors, status=422)
    except ApiError as exc:
        if exc.status == 403:
            raise
        ctx = await rolled_back(request, db, ctx)
        person = await _person(ctx, db, user_id)
        errors = {"roles": exc.message + (f" — {exc.hint}" if exc.hint else "")}
        return _person_page(request, ctx, person, errors=errors, status=exc.status)
    return _person_page(request, ctx, out, flash=_("Roles saved."))


@router.post(W + "/people/{user_id:int}/remove")
async def remove_person(
    request: Request, workspace: str, user_id: int, db: Session, user: WebUserDep
) -> Response:
    from urllib.parse import quote

    ctx = await workspace_ctx(db, user, workspace)
    person = await _person(ctx, db, user_id)
    try:
        await users_api.remove_user(workspace, person.name, db, user.principal)
    except ApiError as exc:
        if exc.status == 403:
            raise
        ctx = await rolled_back(request, db, ctx)
        errors = {"remove": exc.message + (f" — {exc.hint}" if exc.hint else "")}
        return _person_page(
            request, ctx, await _person(ctx, db, user_id), errors=errors, status=exc.status
        )
    return redirect(f"{ctx.base}/people?removed={quote(person.name)}")


@router.post(W + "/people/{user_id:int}/tokens")
async def create_person_token(
    request: Request, workspace: str, user_id: int, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    person = await _person(ctx, db, user_id)
    name = first(await form_data(request), "token_name")
    try:
        body = schemas.ApiTokenIn(name=name)
    except ValidationError:
        message = (
            _("Give the token a name, e.g. “web”.") if not name else _("At most 200 characters.")
        )
        return _person_page(request, ctx, person, errors={"token_name": message}, status=422)
    created = await users_api.create_user_token(workspace, person.name, body, db, user.principal)
    return _person_page(request, ctx, person, created=created)
