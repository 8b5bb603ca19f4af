"""Admin API for the hosts' settings (mounted under ``/api/v1``; issue 17) — GitHub, GitLab and
Bitbucket Data Center, one set of routes for all (``jirahooks.server.host_settings`` declares
each host's fields):

- ``GET | PUT | DELETE /workspaces/{workspace}/platforms/{platform}`` — workspace
  administrators manage a host's credentials. Secrets are encrypted at rest and write-only:
  answers say only whether each is set (and, for a GitHub App key, its SHA-256 fingerprint); a
  ``PUT`` without a secret keeps the stored one, ``""`` clears it. A ``PUT`` that moves the
  stored token to another API URL, owner, project, … without the token again is refused (422
  ``TOKEN_REQUIRED``) and changes nothing.
- ``POST /workspaces/{workspace}/platforms/{platform}/test`` — try the stored credentials:
  GitHub ``GET /app`` with the App's JWT, then an installation token; GitLab ``GET /user``;
  Data Center ``GET /rest/api/latest/projects/{key}/repos``. What the host answered, with a
  hint.

``platform`` is a host's id (``github``, ``gitlab``, ``bitbucket-dc``); Bitbucket Cloud keeps
its own routes (``/bitbucket``, ``jirahooks.server.bitbucket_admin``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.platforms import bitbucket_dc, github, gitlab_hooks
from jirahooks.platforms.base import PlatformAuthError, PlatformError, PlatformUnavailable
from jirahooks.retry import RetryPolicy
from jirahooks.server import binding
from jirahooks.server import host_settings as hs
from jirahooks.server.admin.common import audit
from jirahooks.server.auth import CurrentUser, Session, get_workspace
from jirahooks.server.errors import ApiError, responses
from jirahooks.store.deliveries import PlatformConfig
from jirahooks.store.models import Workspace

log = logging.getLogger("jirahooks.server.hosts")

router = APIRouter(tags=["hosts"])

_PATH = "/workspaces/{workspace}/platforms/{platform}"
NOT_WIRED = (
    "webhooks from {title} are not processed yet: these settings are stored and can be tested, "
    "the pull-request pipeline for {title} comes next"
)


class HostSettingsOut(BaseModel):
    """A host's stored settings, without secrets."""

    configured: bool
    platform: str
    title: str
    settings: dict[str, str] = Field(description="the public fields, as stored")
    secrets: dict[str, bool] = Field(description="each write-only secret: whether it is set")
    key_fingerprint: str = Field("", description="GitHub: SHA256 of the App key's public half")
    effective_api_url: str
    docs: str
    warnings: list[str] = []


class HostTestOut(BaseModel):
    ok: bool
    platform: str
    status: int = Field(description="the host's HTTP status; 0: not reached or not sent")
    code: str = Field(description="OK, AUTH_REJECTED, UNAVAILABLE, REQUEST_REFUSED, NO_TOKEN")
    message: str
    hint: str = ""
    checked: list[str] = Field(
        default_factory=list, description="the requests that succeeded, in order"
    )


def spec_of(platform: str) -> hs.HostSpec:
    """The host's settings table, or 404 ``PLATFORM_UNKNOWN`` naming the known ones."""
    try:
        return hs.host(platform)
    except KeyError:
        known = ", ".join(s.platform for s in hs.HOSTS)
        hint = f"one of: {known}"
        if platform.startswith("bitbucket"):
            hint += "; Bitbucket Cloud is configured at /api/v1/workspaces/{workspace}/bitbucket"
        raise ApiError(
            404, "PLATFORM_UNKNOWN", f"no host settings for platform '{platform}'", hint
        ) from None


def invalid(problems: list[hs.Problem]) -> ApiError:
    """422 ``SETTINGS_INVALID``: the first problem as message and hint, all in ``problems``."""
    first = problems[0]
    return ApiError(
        422,
        "SETTINGS_INVALID",
        f"{first.path}: {first.message}",
        first.hint,
        problems=[{"path": p.path, "message": p.message, "hint": p.hint} for p in problems],
    )


def warnings_for(spec: hs.HostSpec, row: PlatformConfig) -> list[str]:
    found = hs.secrets_set(spec, row)
    notes = [] if spec.processed else [NOT_WIRED.format(title=spec.title)]
    label = spec.field(spec.token_field).label.lower()
    if not found[spec.token_field]:
        notes.append(f"no {label}: jirahooks cannot read pull requests or publish results")
    if not found[hs.WEBHOOK_SECRET]:
        notes.append("no webhook secret: deliveries could not be authenticated")
    return notes


def settings_out(
    spec: hs.HostSpec, row: PlatformConfig, *, configured: bool = True
) -> HostSettingsOut:
    values = hs.stored(spec, row)
    return HostSettingsOut(
        configured=configured,
        platform=spec.platform,
        title=spec.title,
        settings=values,
        secrets=hs.secrets_set(spec, row),
        key_fingerprint=str((row.settings or {}).get("key_fingerprint", "")),
        effective_api_url=values.get("api_url") or spec.default_api_url,
        docs=spec.docs,
        warnings=warnings_for(spec, row)
        if configured
        else ([] if spec.processed else [NOT_WIRED.format(title=spec.title)]),
    )


async def _scope(
    session: AsyncSession, principal: Any, workspace: str, platform: str
) -> tuple[Workspace, hs.HostSpec, PlatformConfig | None]:
    """The workspace (its administrators only), the host's table (404 when unknown) and the
    stored row (None: not configured)."""
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    spec = spec_of(platform)
    return ws, spec, await hs.stored_row(session, ws.id, spec.platform)


@router.get(
    _PATH,
    response_model=HostSettingsOut,
    summary="A host's settings (no secrets)",
    responses=responses(403, 404),
)
async def get_host(
    workspace: str, platform: str, session: Session, principal: CurrentUser
) -> HostSettingsOut:
    _, spec, row = await _scope(session, principal, workspace, platform)
    if row is None:
        return settings_out(spec, hs.blank(spec), configured=False)
    return settings_out(spec, row)


@router.put(
    _PATH,
    response_model=HostSettingsOut,
    summary="Set a host's settings and credentials",
    responses=responses(403, 404, 422),
)
async def put_host(
    workspace: str,
    platform: str,
    request: Request,
    session: Session,
    principal: CurrentUser,
    body: dict[str, Any] = Body(  # noqa: B008 - FastAPI's way to declare a body
        ..., examples=[{"api_url": "https://gitlab.example.com", "token": "glpat-…"}]
    ),
) -> HostSettingsOut:
    ws, spec, _ = await _scope(session, principal, workspace, platform)

    try:
        saved = await hs.save(session, ws.id, spec, body, request.app.state.jirahooks.secrets)
    except hs.SettingsInvalid as exc:
        raise invalid(exc.problems) from None
    except hs.TokenRequired as exc:
        raise ApiError(
            422,
            "TOKEN_REQUIRED",
            binding.token_required_message(exc.fields, spec.token_field),
            f"send '{spec.token_field}' with the new {', '.join(exc.fields)} (nothing was changed)",
        ) from None
    row = saved.row
    if saved.changed:
        action = "platform.update" if saved.before is not None else "platform.create"
        view = hs.audit_view(spec, row)
        audit(session, principal, ws.id, action, f"platform:{spec.platform}", saved.before, view)
    await session.commit()
    log.info("workspace %s: %s settings saved by %s", ws.slug, spec.title, principal.name)
    return settings_out(spec, row)


@router.delete(
    _PATH,
    status_code=204,
    summary="Remove a host's settings",
    responses=responses(403, 404),
)
async def delete_host(
    workspace: str, platform: str, session: Session, principal: CurrentUser
) -> Response:
    ws, spec, row = await _scope(session, principal, workspace, platform)
    if row is not None:
        before = hs.audit_view(spec, row)
        await session.delete(row)
        audit(session, principal, ws.id, "platform.delete", f"platform:{spec.platform}", before)
        await session.commit()
    return Response(status_code=204)


# -- the connection test ----------------------------------------------------------------------

# one try, no long waits: an admin is looking at the page
_TEST_RETRY = RetryPolicy(max_attempts=1, backoff_base=0.1, backoff_cap=0.1, max_wait=0.0)

Probe = Callable[[Any, dict[str, str], list[str]], Awaitable[str]]


async def _probe_github(adapter: Any, values: dict[str, str], checked: list[str]) -> str:
    app = await adapter.client.request("GET", "/app", app_auth=True)
    name = app.get("slug") or app.get("name") if isinstance(app, dict) else ""
    checked.append("GET /app (App JWT)")
    await adapter.client.installation_token()
    installation = adapter.client.installation_id
    if installation != values["installation_id"]:  # none configured, or gone: found
        checked.append("GET /app/installations (App JWT)")
    checked.append(f"POST /app/installations/{installation}/access_tokens")
    found = (
        ""
        if installation == values["installation_id"]
        else f"; installation {installation} was found from the owner"
        + (
            f" (the configured {values['installation_id']} is gone)"
            if values["installation_id"]
            else ""
        )
    )
    return (
        f"GitHub accepted the App '{name or values['app_id']}' and issued a token for "
        f"installation {installation} (owner '{values['owner']}'){found}"
    )


async def _probe_gitlab(adapter: Any, values: dict[str, str], checked: list[str]) -> str:
    user = await adapter.client.request("GET", "/user")
    checked.append("GET /api/v4/user")
    name = user.get("username", "") if isinstance(user, dict) else ""
    return f"GitLab accepted the token (user '{name}')"


async def _probe_bitbucket_dc(adapter: Any, values: dict[str, str], checked: list[str]) -> str:
    key = values["project_key"]
    page = await adapter.client.request(
        "GET", f"/rest/api/latest/projects/{key}/repos", params={"limit": 1}
    )
    checked.append(f"GET /rest/api/latest/projects/{key}/repos")
    size = page.get("size", 0) if isinstance(page, dict) else 0
    user = adapter.client.user_name
    who = f" as '{user}'" if user else ""
    return f"Bitbucket Data Center accepted the token{who} for project {key} ({size} visible)"


_PROBES: dict[str, Probe] = {
    github.PLATFORM: _probe_github,
    gitlab_hooks.PLATFORM: _probe_gitlab,
    bitbucket_dc.PLATFORM: _probe_bitbucket_dc,
}

_TEST_CODES: dict[type[PlatformError], str] = {
    PlatformAuthError: "AUTH_REJECTED",
    PlatformUnavailable: "UNAVAILABLE",
}
_NOT_FOUND_HINTS = {
    github.PLATFORM: "GitHub knows no installation {installation_id} of this App: check "
    "installation_id (the App's installation on '{owner}'), and app_id",
    gitlab_hooks.PLATFORM: "check api_url: it should be the GitLab instance's URL",
    bitbucket_dc.PLATFORM: "Bitbucket Data Center knows no project '{project_key}' this token "
    "can see: check project_key, and that the token belongs to that project",
}


@router.post(
    _PATH + "/test",
    response_model=HostTestOut,
    summary="Try a host's stored credentials (workspace administrators)",
    responses=responses(403, 404),
)
async def test_host(
    workspace: str, platform: str, request: Request, session: Session, principal: CurrentUser
) -> HostTestOut:
    ws, spec, row = await _scope(session, principal, workspace, platform)
    if row is None:
        raise ApiError(
            404,
            "PLATFORM_NOT_CONFIGURED",
            f"{spec.title} is not configured",
            f"PUT /api/v1/workspaces/{ws.slug}/platforms/{spec.platform} first",
        )
    return await try_credentials(spec, row, request.app.state.jirahooks.secrets)


async def try_credentials(spec: hs.HostSpec, row: PlatformConfig, box: Any) -> HostTestOut:
    """Ask the host with the stored credentials (one try, short timeout)."""
    label = spec.field(spec.token_field).label
    if not row.token_encrypted:
        return HostTestOut(
            ok=False,
            platform=spec.platform,
            status=0,
            code="NO_TOKEN",
            message=f"no {label.lower()} is stored",
            hint=f"set {spec.token_field} first",
        )
    values = hs.stored(spec, row)
    adapter = hs.adapter_config(spec.platform, row, box).build()
    adapter.client.retry = _TEST_RETRY
    checked: list[str] = []
    try:
        message = await _PROBES[spec.platform](adapter, values, checked)
    except PlatformError as exc:
        hint = _NOT_FOUND_HINTS[spec.platform].format(**values) if exc.status == 404 else ""
        return HostTestOut(
            ok=False,
            platform=spec.platform,
            status=exc.status or 0,
            code=_TEST_CODES.get(type(exc), "REQUEST_REFUSED"),
            message=exc.message,
            hint=hint or exc.hint or "",
            checked=checked,
        )
    finally:
        await adapter.aclose()
    return HostTestOut(
        ok=True,
        platform=spec.platform,
        status=200,
        code="OK",
        message=message,
        hint=(
            f"point the {spec.title} webhook at {spec.webhook_path}"
            if spec.processed
            else NOT_WIRED.format(title=spec.title)
        ),
        checked=checked,
    )
