"""Admin API for Bitbucket Cloud (mounted under ``/api/v1``).

- ``GET | PUT | DELETE /workspaces/{workspace}/bitbucket`` — workspace administrators manage the
  credentials and the webhook secret. Credential kinds (``jirahooks.platforms.bitbucket_auth``):
  ``access_token`` (repository / project / workspace access token, Bearer) and ``api_token``
  (Atlassian API token with scopes, Basic with the account *e-mail* as user name — checked to
  look like one); ``app_password`` is accepted only as a migration alias, stored as
  ``api_token``, and warned about in the answer and the log. Secrets are encrypted at
  rest and write-only: answers only say whether they are set; a ``PUT`` without a secret keeps
  the stored one, ``""`` clears it. The token is bound to the API URL, auth kind, username and
  Bitbucket workspace it was entered for (``jirahooks.server.binding``): a ``PUT`` that changes
  one of them without a new token is refused (422 ``TOKEN_REQUIRED``) and changes nothing.
- ``POST /workspaces/{workspace}/bitbucket/test`` — try the stored credentials against the
  Bitbucket workspace (``GET /2.0/repositories/{workspace}``): what Bitbucket answered, a hint
  for the credential kind, and the rate-limit headers it sent.
- ``POST /workspaces/{workspace}/repositories/{repository}/pull-requests/{id}/recheck`` —
  repository administrators queue a forced re-evaluation of one pull request.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.pipeline.queue import platform_config
from jirahooks.platforms.base import PlatformError
from jirahooks.platforms.bitbucket_auth import (
    APP_PASSWORD_WARNING,
    EMAIL_HINT,
    STORED_APP_PASSWORD_WARNING,
    AuthKind,
    email_problem,
    normalize_kind,
)
from jirahooks.platforms.bitbucket_client import API_URL, BitbucketClient
from jirahooks.platforms.bitbucket_cloud import PLATFORM, status_url_problem
from jirahooks.retry import RetryPolicy
from jirahooks.server import binding
from jirahooks.server.admin.common import audit
from jirahooks.server.admin.schemas import PlainText
from jirahooks.server.auth import CurrentUser, Session, get_repository, get_workspace
from jirahooks.server.errors import ApiError, responses
from jirahooks.store.deliveries import DeliveryRow, PlatformConfig
from jirahooks.store.models import utcnow

log = logging.getLogger("jirahooks.server.bitbucket")

router = APIRouter(tags=["bitbucket"])

_PATH = "/workspaces/{workspace}/bitbucket"


class BitbucketConfigIn(PlainText):
    auth_kind: Literal["access_token", "api_token", "app_password"] = Field(
        "access_token",
        description="access_token: repository / project / workspace access token (Bearer); "
        "api_token: Atlassian API token with scopes (Basic, username = the account e-mail); "
        "app_password: deprecated alias, stored as api_token with a warning",
    )
    username: str = Field(
        "",
        max_length=200,
        description="api_token: the Atlassian account e-mail (not the Bitbucket username)",
    )
    token: str | None = Field(
        None, max_length=10_000, description="write-only; omit to keep the stored one"
    )
    webhook_secret: str | None = Field(
        None, max_length=10_000, description="write-only; omit to keep, '' clears"
    )
    require_signature: bool = True
    register_unknown_repositories: bool = True
    public_url: str = Field("", max_length=500, description="jirahooks' public base URL")
    bitbucket_workspace: str = Field(
        "",
        max_length=200,
        description="the Bitbucket workspace ID (as in bitbucket.org/<ID>/…); empty: the "
        "jirahooks workspace's slug, which must then be the Bitbucket workspace ID",
    )
    api_url: str = Field(
        "",
        max_length=500,
        description="Bitbucket's REST API base URL; empty: https://api.bitbucket.org/2.0. Set "
        "it only for a proxy or a test double; the token goes only there",
    )


class DeliveryFailure(BaseModel):
    """The PR worker's most recent failed attempt (a webhook, recheck or reconciliation)."""

    at: datetime
    delivery: int
    origin: str
    state: str = Field(description="'failed' (given up), else 'pending' or 'processing' (retried)")
    tries: int
    repository: str
    pull_request_id: str
    reason: str


class BitbucketConfigOut(BaseModel):
    configured: bool = True
    platform: str
    auth_kind: str = Field(description="access_token or api_token (app_password: an old row)")
    username: str
    token_set: bool
    webhook_secret_set: bool
    require_signature: bool
    register_unknown_repositories: bool
    public_url: str
    bitbucket_workspace: str
    api_url: str
    effective_bitbucket_workspace: str = ""
    effective_api_url: str = API_URL
    webhook_path: str
    warnings: list[str] = []
    last_failure: DeliveryFailure | None = None


_DEFAULTS: dict[str, Any] = {
    "auth_kind": "access_token",
    "username": "",
    "token_encrypted": "",
    "webhook_secret_encrypted": "",
    "require_signature": True,
    "register_unknown_repositories": True,
    "public_url": "",
    "remote_workspace": "",
    "api_url": "",
}


def _out(
    config: PlatformConfig,
    workspace: str,
    *,
    configured: bool = True,
    last_failure: DeliveryFailure | None = None,
    notes: tuple[str, ...] = (),
) -> BitbucketConfigOut:
    warnings = list(notes)
    if config.auth_kind == AuthKind.APP_PASSWORD.value:
        warnings.append(STORED_APP_PASSWORD_WARNING)
    elif config.auth_kind == AuthKind.API_TOKEN.value and email_problem(config.username):
        warnings.append(f"username: {email_problem(config.username)}")
    if last_failure is not None:
        warnings.append(
            f"the last pull-request update failed ({last_failure.state}, "
            f"{last_failure.at:%Y-%m-%d %H:%M} UTC): {last_failure.reason}"
        )
    if not config.remote_workspace:
        warnings.append(
            f"bitbucket_workspace is empty: the Bitbucket workspace ID is taken to be "
            f"'{workspace}' (this workspace's slug); set it if it differs"
        )
    if not config.token_encrypted:
        warnings.append("no token: build statuses and reports cannot be published")
    problem = status_url_problem(config.public_url)
    if problem:
        warnings.append(f"public_url: {problem}")
    if not config.public_url:
        warnings.append("public_url is empty: build statuses carry no link to the evaluation")
    if not config.webhook_secret_encrypted:
        warnings.append("no webhook secret: deliveries cannot be authenticated")
    return BitbucketConfigOut(
        configured=configured,
        platform=config.platform,
        auth_kind=config.auth_kind,
        username=config.username,
        token_set=bool(config.token_encrypted),
        webhook_secret_set=bool(config.webhook_secret_encrypted),
        require_signature=config.require_signature,
        register_unknown_repositories=config.register_unknown_repositories,
        public_url=config.public_url,
        bitbucket_workspace=config.remote_workspace,
        api_url=config.api_url,
        effective_bitbucket_workspace=config.remote_workspace or workspace,
        effective_api_url=config.api_url or API_URL,
        webhook_path=f"/webhooks/bitbucket/{workspace}",
        warnings=warnings,
        last_failure=last_failure,
    )


async def last_failure(
    session: AsyncSession, workspace_id: int, platform: str = PLATFORM
) -> DeliveryFailure | None:
    """The most recent delivery of ``platform`` whose last attempt failed (failed for good, or
    waiting for its retry); a delivery that later succeeded has no error any more. Another
    host's deliveries (Data Center, GitHub, GitLab) are not Bitbucket Cloud's failures."""
    row = (
        await session.execute(
            select(DeliveryRow)
            .where(
                DeliveryRow.workspace_id == workspace_id,
                DeliveryRow.platform == platform,
                DeliveryRow.last_error != "",
                DeliveryRow.state.in_(("failed", "pending", "processing")),
            )
            .order_by(DeliveryRow.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    return DeliveryFailure(
        at=row.processed_at or row.claimed_at or row.received_at,
        delivery=row.id,
        origin=row.origin,
        state=row.state,
        tries=row.tries,
        repository=row.repository,
        pull_request_id=row.pull_request_id,
        reason=row.last_error,
    )


# Bitbucket Cloud workspace IDs: letters (shown lower-case), digits, '-' and '_'.
_WORKSPACE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")


def _refuse_what_cannot_work(body: BitbucketConfigIn, workspace: str) -> None:
    """422 (code, message naming the field, hint) for settings no delivery could work with."""
    for name, url in (("public_url", body.public_url), ("api_url", body.api_url)):
        if url and (not re.match(r"https?://[^/\s?#]+", url) or re.search(r"[\s?#]", url)):
            raise ApiError(
                422,
                "REQUEST_INVALID",
                f"{name}: expected an http(s) URL without query or fragment",
                "api_url: leave empty for https://api.bitbucket.org/2.0"
                if name == "api_url"
                else "jirahooks' public base URL, e.g. https://guardian.example.com",
            )
    kind, _ = normalize_kind(body.auth_kind)
    problem = email_problem(body.username) if kind is AuthKind.API_TOKEN else None
    if problem:
        raise ApiError(
            422,
            "BITBUCKET_EMAIL_REQUIRED",
            f"username: {problem}",
            EMAIL_HINT,
        )
    remote = body.bitbucket_workspace.strip()
    if not _WORKSPACE_ID.fullmatch(remote or workspace):
        field = (
            f"'{remote}'"
            if remote
            else f"empty, so it would be this workspace's slug '{workspace}', which"
        )
        raise ApiError(
            422,
            "BITBUCKET_WORKSPACE_INVALID",
            f"bitbucket_workspace: {field} is not a Bitbucket workspace ID (letters, digits, "
            "'-' and '_'); every pull-request update would fail",
            "give the workspace ID as in https://bitbucket.org/<workspace-id>/<repository>",
        )


def _stored_username(kind: AuthKind, username: str) -> str:
    """An API token's e-mail without the spaces a paste brings along."""
    return username.strip() if kind is AuthKind.API_TOKEN else username


def _audit_view(config: PlatformConfig) -> dict[str, Any]:
    return {
        "auth_kind": config.auth_kind,
        "username": config.username,
        "token_set": bool(config.token_encrypted),
        "webhook_secret_set": bool(config.webhook_secret_encrypted),
        "require_signature": config.require_signature,
        "public_url": config.public_url,
        "bitbucket_workspace": config.remote_workspace,
    }


def _require_token_to_rebind(
    config: PlatformConfig | None, body: BitbucketConfigIn, workspace: str
) -> None:
    """The stored token stays with the Bitbucket API, user and workspace it was entered for."""
    if config is None or not config.token_encrypted or body.token is not None:
        return
    kind, _ = normalize_kind(body.auth_kind)
    before = binding.bitbucket_binding(
        config.api_url or API_URL,
        config.auth_kind,
        config.username,
        config.remote_workspace or workspace,
    )
    after = binding.bitbucket_binding(
        body.api_url or API_URL,
        kind.value,
        _stored_username(kind, body.username),
        body.bitbucket_workspace or workspace,
    )
    fields = binding.changed(before, after)
    if fields:
        raise ApiError(
            422,
            "TOKEN_REQUIRED",
            binding.token_required_message(fields),
            f"send 'token' with the new {', '.join(fields)} (nothing was changed)",
        )


@router.get(
    _PATH,
    response_model=BitbucketConfigOut,
    summary="Bitbucket settings (no secrets)",
    responses=responses(403),
)
async def get_bitbucket(
    workspace: str, session: Session, principal: CurrentUser
) -> BitbucketConfigOut:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    config = await platform_config(session, ws.id, PLATFORM)
    if config is None:
        return _out(PlatformConfig(platform=PLATFORM, **_DEFAULTS), ws.slug, configured=False)
    return _out(config, ws.slug, last_failure=await last_failure(session, ws.id))


@router.put(_PATH, response_model=BitbucketConfigOut, summary="Set Bitbucket credentials")
async def put_bitbucket(
    workspace: str,
    body: BitbucketConfigIn,
    request: Request,
    session: Session,
    principal: CurrentUser,
) -> BitbucketConfigOut:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    _refuse_what_cannot_work(body, ws.slug)
    box = request.app.state.jirahooks.secrets
    config = await platform_config(session, ws.id, PLATFORM)
    _require_token_to_rebind(config, body, ws.slug)
    before = _audit_view(config) if config is not None else None
    if config is None:
        config = PlatformConfig(workspace_id=ws.id, platform=PLATFORM)
        session.add(config)
    kind, alias = normalize_kind(body.auth_kind)
    notes: tuple[str, ...] = ()
    if alias:
        notes = (APP_PASSWORD_WARNING,)
        log.warning(
            "workspace %s: Bitbucket auth_kind 'app_password' given by %s, stored as "
            "'api_token' (app passwords are no longer accepted by Bitbucket)",
            ws.slug,
            principal.name,
        )
    config.auth_kind = kind.value
    config.username = _stored_username(kind, body.username)
    if body.token is not None:
        config.token_encrypted = box.encrypt(body.token) if body.token else ""
    if body.webhook_secret is not None:
        config.webhook_secret_encrypted = (
            box.encrypt(body.webhook_secret) if body.webhook_secret else ""
        )
    config.require_signature = body.require_signature
    config.register_unknown_repositories = body.register_unknown_repositories
    config.public_url = body.public_url.rstrip("/")
    config.remote_workspace = body.bitbucket_workspace.strip()
    config.api_url = body.api_url.rstrip("/")
    config.updated_at = utcnow()
    await session.flush()
    audit(session, principal, ws.id, "bitbucket.update", "bitbucket", before, _audit_view(config))
    await session.commit()
    return _out(config, ws.slug, last_failure=await last_failure(session, ws.id), notes=notes)


@router.delete(_PATH, status_code=204, summary="Remove the Bitbucket configuration")
async def delete_bitbucket(workspace: str, session: Session, principal: CurrentUser) -> Response:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    config = await platform_config(session, ws.id, PLATFORM)
    if config is not None:
        audit(session, principal, ws.id, "bitbucket.delete", "bitbucket", _audit_view(config))
        await session.delete(config)
        await session.commit()
    return Response(status_code=204)


class BitbucketTestOut(BaseModel):
    """What Bitbucket answered to the stored credentials (never the credentials)."""

    ok: bool
    auth_kind: str
    status: int = Field(description="Bitbucket's HTTP status; 0: not reached")
    code: str = Field(description="OK, AUTH_REJECTED, UNAVAILABLE, REQUEST_REFUSED, NO_TOKEN")
    message: str
    hint: str = ""
    repositories_visible: int = 0
    rate_limit: dict[str, Any] | None = None


# one try, no long waits: an admin is looking at the page
_TEST_RETRY = RetryPolicy(max_attempts=1, backoff_base=0.1, backoff_cap=0.1, max_wait=0.0)


@router.post(
    _PATH + "/test",
    response_model=BitbucketTestOut,
    summary="Try the stored Bitbucket credentials (workspace administrators)",
    responses=responses(403, 404),
)
async def bitbucket_connection_test(
    workspace: str, request: Request, session: Session, principal: CurrentUser
) -> BitbucketTestOut:
    from jirahooks.platforms.bitbucket_cloud_host import credentials

    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    config = await platform_config(session, ws.id, PLATFORM)
    if config is None:
        raise ApiError(
            404,
            "PLATFORM_NOT_CONFIGURED",
            "Bitbucket is not configured",
            f"PUT /api/v1/workspaces/{ws.slug}/bitbucket first",
        )
    creds = credentials(config, request.app.state.jirahooks.secrets)
    if not creds.secret:
        return BitbucketTestOut(
            ok=False,
            auth_kind=config.auth_kind,
            status=0,
            code="NO_TOKEN",
            message="no token is stored",
            hint="set the access token or API token first",
        )
    remote = config.remote_workspace or ws.slug
    client = BitbucketClient(
        remote, creds, base_url=config.api_url or API_URL, retry=_TEST_RETRY, timeout=10.0
    )
    try:
        page = await client.request("GET", f"/repositories/{remote}", params={"pagelen": 1})
    except PlatformError as exc:
        code = {
            "PlatformAuthError": "AUTH_REJECTED",
            "PlatformUnavailable": "UNAVAILABLE",
        }.get(type(exc).__name__, "REQUEST_REFUSED")
        hint = exc.hint or ""
        if exc.status == 404:
            hint = (
                f"Bitbucket knows no workspace '{remote}' these credentials can see: check "
                "bitbucket_workspace, and that the token belongs to that workspace"
            )
        return BitbucketTestOut(
            ok=False,
            auth_kind=config.auth_kind,
            status=exc.status or 0,
            code=code,
            message=exc.message,
            hint=hint,
            rate_limit=client.rate_limit.to_dict() if client.rate_limit else None,
        )
    finally:
        await client.aclose()
    size = page.get("size") if isinstance(page, dict) else None
    values = page.get("values") if isinstance(page, dict) else None
    visible = size if isinstance(size, int) else len(values or [])
    hint = STORED_APP_PASSWORD_WARNING if config.auth_kind == AuthKind.APP_PASSWORD.value else ""
    return BitbucketTestOut(
        ok=True,
        auth_kind=config.auth_kind,
        status=200,
        code="OK",
        message=f"Bitbucket accepted the {config.auth_kind.replace('_', ' ')} for workspace "
        f"'{remote}' ({visible} repositories visible)",
        hint=hint,
        repositories_visible=visible,
        rate_limit=client.rate_limit.to_dict() if client.rate_limit else None,
    )


@router.post(
    "/workspaces/{workspace}/repositories/{repository}/pull-requests/{pr_id}/recheck",
    status_code=202,
    summary="Evaluate one pull request again now (no result reuse)",
)
async def recheck(
    workspace: str,
    repository: str,
    pr_id: int,
    request: Request,
    session: Session,
    principal: CurrentUser,
) -> dict[str, Any]:
    from jirahooks.pipeline.queue import enqueue

    ws = await get_workspace(session, principal, workspace)
    repo = await get_repository(session, ws, repository)
    principal.require_repository_admin(ws, repo)
    if await platform_config(session, ws.id, PLATFORM) is None:
        raise ApiError(404, "PLATFORM_NOT_CONFIGURED", "Bitbucket is not configured")
    await session.commit()
    state = request.app.state.jirahooks
    delivery = await enqueue(
        state,
        ws.id,
        "recheck",
        f"recheck|{uuid.uuid4()}",
        repo.slug,
        str(pr_id),
        force=True,
        platform=PLATFORM,
    )
    worker = state.extras.get("pr_worker")
    if worker is not None:
        worker.wake()
    return {"status": "accepted", "delivery": delivery}
