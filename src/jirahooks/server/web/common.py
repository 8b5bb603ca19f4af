"""What every page shares: the Jinja environment, the workspace context, rendering with security
headers, form helpers and the mapping of admin-API errors to messages next to fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.server.auth import Role, get_repository, get_workspace
from jirahooks.server.errors import ApiError
from jirahooks.server.web import i18n
from jirahooks.server.web.i18n import _
from jirahooks.server.web.session import WebUser
from jirahooks.store.models import Repository, Workspace

HERE = Path(__file__).parent
PREFIX = "/ui"
W = PREFIX + "/w/{workspace}"  # every workspace page lives below this

# Everything is served by the app itself: no CDN, no inline script, no inline style.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _datetime(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _rule_title(rule: Any) -> str:
    """A listed rule's title in the page's language (its ``translations``), else its own."""
    definition = getattr(rule, "definition", None) or {}
    translations = definition.get("translations") if isinstance(definition, dict) else None
    texts = translations.get(i18n.current_locale()) if isinstance(translations, dict) else None
    title = texts.get("title") if isinstance(texts, dict) else None
    return str(title or rule.rule.get("title") or rule.id)


def make_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html", "svg"]),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.filters["dt"] = _datetime
    env.filters["rule_title"] = _rule_title
    env.globals["PREFIX"] = PREFIX
    env.globals["LOCALE"] = i18n.current_locale
    env.globals["N_"] = i18n.N_
    env.globals["LOCALES"] = i18n.LOCALES
    env.globals["LOCALE_NAMES"] = i18n.NAMES
    for locale in i18n.LOCALES:  # read the catalogues now, not on the first request
        i18n.translations(locale)
    return env


def environment(request: Request) -> Environment:
    env: Environment = request.app.state.jirahooks_web
    return env


@dataclass
class Ctx:
    """One request's workspace (and repository) and what the signed-in person may do there."""

    user: WebUser
    workspace: Workspace
    repositories: list[Repository]
    repository: Repository | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Kept as plain strings: they survive a rollback, which expires the ORM rows.
        self.workspace_slug = self.workspace.slug
        self.repository_slug = self.repository.slug if self.repository else None

    @property
    def is_admin(self) -> bool:
        return self.user.principal.is_workspace_admin(self.workspace)

    def is_repo_admin(self, repository: Repository) -> bool:
        return self.user.principal.is_repository_admin(self.workspace, repository)

    @property
    def administered(self) -> list[Repository]:
        return [r for r in self.repositories if self.is_repo_admin(r)]

    @property
    def is_auditor(self) -> bool:
        return self.user.principal.workspace_roles.get(self.workspace.id) is Role.AUDITOR

    @property
    def can_export_evidence(self) -> bool:
        """Evidence downloads (the evaluations page): workspace admins and auditors."""
        return self.is_admin or self.is_auditor

    @property
    def role(self) -> str:
        if self.is_admin:
            return _("Workspace admin")
        if self.administered:
            return _("Repository admin")
        if self.is_auditor:
            return _("Auditor")
        return _("Member")

    @property
    def base(self) -> str:
        return f"{PREFIX}/w/{self.workspace.slug}"

    @property
    def scope_base(self) -> str:
        """The URL of the current scope: the workspace, or one of its repositories."""
        return f"{self.base}/r/{self.repository.slug}" if self.repository else self.base

    @property
    def can_write_scope(self) -> bool:
        if self.repository is None:
            return self.is_admin
        return self.is_repo_admin(self.repository)


async def workspace_ctx(
    db: AsyncSession, user: WebUser, workspace: str, repository: str | None = None
) -> Ctx:
    ws = await get_workspace(db, user.principal, workspace)
    repo = await get_repository(db, ws, repository) if repository else None
    result = await db.execute(
        select(Repository).where(Repository.workspace_id == ws.id).order_by(Repository.slug)
    )
    return Ctx(user, ws, list(result.scalars()), repo)


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    body = environment(request).get_template(template).render(request=request, **context)
    return HTMLResponse(body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def page(
    request: Request, ctx: Ctx, template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    """A full page (or, for htmx requests asking for a fragment, the same template)."""
    return render(
        request,
        template,
        {"ctx": ctx, "user": ctx.user, "csrf": ctx.user.csrf, **context},
        status=status,
    )


async def form_data(request: Request) -> dict[str, list[str]]:
    """The submitted form as name → values (text fields only)."""
    form = await request.form()
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


def first(form: dict[str, list[str]], name: str, default: str = "") -> str:
    values = form.get(name)
    return values[0].strip() if values else default


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def field_errors(exc: ApiError, prefix: str = "") -> dict[str, str]:
    """An admin-API error as field → message (the problem paths name the fields)."""
    errors: dict[str, str] = {}
    for problem in exc.extra.get("problems", []) or []:
        path = str(problem.get("path", ""))
        if prefix and path.startswith(prefix):
            path = path[len(prefix) :]
        message = str(problem.get("message", ""))
        hint = str(problem.get("hint", "") or "")
        errors.setdefault(path or "_form", f"{message} ({hint})" if hint else message)
    if not errors:
        errors["_form"] = f"{exc.message}" + (f" — {exc.hint}" if exc.hint else "")
    return errors


def redirect(url: str, *, htmx: bool = False) -> HTMLResponse:
    """A 303 for plain forms; htmx follows ``HX-Redirect`` instead."""
    if htmx:
        return HTMLResponse("", headers={"HX-Redirect": url, **SECURITY_HEADERS})
    return HTMLResponse("", status_code=303, headers={"Location": url, **SECURITY_HEADERS})


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def rolled_back(request: Request, db: AsyncSession, ctx: Ctx) -> Ctx:
    """Roll back a failed change and reload the person and the context (a rollback expires
    every loaded row)."""
    from jirahooks.server.web.session import LoginRequired, current_user

    await db.rollback()
    user = await current_user(request, db)
    if user is None:  # pragma: no cover - signed in a moment ago
        raise LoginRequired()
    return await workspace_ctx(db, user, ctx.workspace_slug, ctx.repository_slug)
