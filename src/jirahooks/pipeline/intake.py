"""Webhooks in, for every registered host: verify → parse → store/dedupe; and the worker's
lifespan.

``POST /webhooks/{platform}/{workspace}`` takes deliveries of any host registered in
``platforms.registry`` (an unknown platform: 404 ``PLATFORM_UNKNOWN``). A host's own URL from
before it (``Host.webhook_path``: Bitbucket Cloud's ``POST /webhooks/bitbucket/{workspace}``,
where its hooks in the wild point) is the same intake for that host.

Order of the checks (docs/bitbucket-cloud.md):

1. the workspace exists (404) and has a configuration for the host (404
   ``PLATFORM_NOT_CONFIGURED``);
2. the body is at most ``webhook_max_body_bytes`` (1 MiB, 413);
3. the host verifies the delivery (Bitbucket Cloud: ``X-Hub-Signature: sha256=<hex>``, the
   HMAC-SHA256 of the raw body under the workspace's webhook secret, compared in constant time:
   401 ``SIGNATURE_MISSING`` / ``SIGNATURE_INVALID``); with no secret configured,
   ``require_signature`` rejects every delivery (401 ``SIGNATURE_NOT_CONFIGURED``);
4. the body is UTF-8 JSON without NUL or lone surrogates, nested at most 32 levels, and an
   object (400 ``WEBHOOK_INVALID``, nothing stored); events jirahooks does not use — and PR
   comments other than ``/jirahooks recheck`` — are acknowledged with 202 ``ignored``;
5. the delivery belongs to the configured host workspace (403) and its repository is known
   or may be registered (404 ``REPOSITORY_NOT_FOUND``);
6. the raw delivery is stored (deduplicated: a duplicate answers 200 ``duplicate``), the worker
   is woken, and the answer is 202 ``accepted`` — milliseconds, no call to the host or Jira.
   A ``/jirahooks recheck`` comment is stored as a forced evaluation of its PR (origin
   ``comment``), processed like the admin API's recheck.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from jirahooks.pipeline.options import options_for
from jirahooks.pipeline.worker import PrWorker
from jirahooks.platforms import registry
from jirahooks.platforms.base import Delivery, DeliveryKind, WebhookError
from jirahooks.platforms.registry import Host, Refusal
from jirahooks.server import metrics
from jirahooks.server.boundary import read_body
from jirahooks.server.errors import ApiError, not_found
from jirahooks.store import queries
from jirahooks.store.deliveries import DeliveryRow, PlatformConfig
from jirahooks.store.models import Workspace
from jirahooks.textcheck import MAX_JSON_DEPTH, Kind, TextError, check_tree, nesting_exceeds


@asynccontextmanager
async def worker_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app's own lifespan (after the database is open): starts the worker."""
    state = app.state.jirahooks
    options = options_for(app.state)
    worker = PrWorker(state, options)
    state.extras["pr_worker"] = worker
    if options.enabled:
        await worker.start()
    try:
        yield
    finally:
        await worker.stop()


router = APIRouter(tags=["webhooks"], lifespan=worker_lifespan)


def _body_problem(body: bytes) -> str | None:
    """Why a (signed) delivery may not be stored: not UTF-8, nested deeper than any payload, or
    holding text that cannot be stored (NUL, a lone surrogate); None when it may."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "the webhook body is not valid UTF-8"
    if nesting_exceeds(body, MAX_JSON_DEPTH):
        return f"the webhook body nests deeper than {MAX_JSON_DEPTH} levels"
    try:
        data = json.loads(body)
    except ValueError:
        return None  # not JSON: the host's parser says so
    try:
        check_tree(data, kind=Kind.MESSAGE)
    except TextError as exc:
        return f"the webhook body's {exc.path or 'text'} {exc.message}"
    return None


def _checked(host: Host, headers: dict[str, str], body: bytes) -> Delivery | str | WebhookError:
    """On the CPU pool: why the body may not be stored (:func:`_body_problem`), or the host's
    refusal of it, or the parsed delivery."""
    problem = _body_problem(body)
    if problem is not None:
        return problem
    try:
        return host.parse(headers, body)
    except WebhookError as exc:
        return exc


@functools.cache
def _context_statement() -> Any:
    """The workspace (by ``slug``) and its configuration for ``platform``: one statement, built
    once."""
    return (
        select(Workspace, PlatformConfig)
        .outerjoin(
            PlatformConfig,
            (PlatformConfig.workspace_id == Workspace.id)
            & (PlatformConfig.platform == bindparam("platform")),
        )
        .where(Workspace.slug == bindparam("slug"))
    )


SECRETS_KEPT = 64


def _secret(state: Any, host: Host, config: PlatformConfig) -> str:
    """The configuration's webhook secret, decrypted once per stored value (a new secret is a
    new ciphertext, so a changed one applies to the very next delivery); kept in the process's
    memory, like the configuration snapshots keep tokens, and never logged."""
    kept: dict[tuple[str, str], str] = state.extras.setdefault("webhook_secrets", {})
    key = (host.name, config.webhook_secret_encrypted or "")
    secret = kept.get(key)
    if secret is None:
        secret = host.webhook_secret(config, state.secrets)
        if len(kept) >= SECRETS_KEPT:
            kept.clear()
        kept[key] = secret
    return secret


def _own_route(host: Host) -> None:
    """A host's own webhook URL from before the generic route (``Host.webhook_path``): hooks
    configured in the wild point at it."""

    async def endpoint(workspace: str, request: Request) -> JSONResponse:
        return await receive(host, workspace, request)

    # named as before the generic route (``bitbucket_webhook``): the same OpenAPI operation id
    endpoint.__name__ = host.settings_path.replace("-", "_") + "_webhook"
    router.add_api_route(
        host.webhook_path,
        endpoint,
        name=endpoint.__name__,
        methods=["POST"],
        status_code=202,
        summary=f"{host.title_long} webhook (pull requests and pushes)",
    )


# registered first: a host's own path wins over the generic one it also matches
for _name in registry.names():
    _host = registry.host(_name)
    if _host is not None and _host.webhook_path:
        _own_route(_host)


@router.post(
    "/webhooks/{platform}/{workspace}",
    status_code=202,
    summary="Code host webhook (pull requests and pushes), by platform name",
    description="`platform` is a registered host's platform name: `"
    + "`, `".join(registry.names())
    + "`.",
)
async def platform_webhook(platform: str, workspace: str, request: Request) -> JSONResponse:
    host = registry.host(platform)
    if host is None:
        raise ApiError(
            404,
            "PLATFORM_UNKNOWN",
            f"no code host is called '{platform}'",
            "use one of: " + ", ".join(registry.names()),
        )
    return await receive(host, workspace, request)


async def receive(host: Host, workspace: str, request: Request) -> JSONResponse:
    """One delivery of ``host`` for ``workspace``: the checks of the module docstring."""
    state = request.app.state.jirahooks
    async with state.database.session() as session:
        found = (
            await session.execute(_context_statement(), {"slug": workspace, "platform": host.name})
        ).first()
        if found is None:
            raise not_found("workspace", workspace)
        ws, config = found
        if config is None:
            raise ApiError(
                404,
                "PLATFORM_NOT_CONFIGURED",
                f"{host.title} is not configured for workspace '{workspace}'",
                f"PUT /api/v1/workspaces/{workspace}/{host.settings_path} first",
            )
        body = await read_body(request, state.settings.webhook_max_body_bytes)
        secret = _secret(state, host, config)
        try:
            host.verify(request.headers, body, secret, config.require_signature)
        except Refusal as exc:
            hint = exc.hint or (
                f"PUT /api/v1/workspaces/{workspace}/{host.settings_path} with a webhook_secret"
            )
            raise ApiError(exc.status, exc.code, exc.message, hint) from None
        # checking and parsing up to a MiB of JSON is CPU work: off the event loop, one trip
        checked = await state.cpu.run(_checked, host, dict(request.headers), body)
        if isinstance(checked, str):
            raise ApiError(400, "WEBHOOK_INVALID", checked, host.webhook_hint or "send JSON")
        if isinstance(checked, WebhookError):
            raise ApiError(
                400, checked.code, checked.message, checked.hint or "send JSON"
            ) from checked
        delivery = checked
        if host.scoped is not None:  # e.g. GitLab: repository paths relative to the group
            delivery = host.scoped(delivery, config.remote_workspace)
        if delivery.kind is DeliveryKind.IGNORED:
            metrics.delivery(state, "ignored", host.name)
            return JSONResponse(
                {
                    "status": "ignored",
                    "note": f"jirahooks does not act on '{delivery.event_key or 'no event key'}'",
                },
                status_code=202,
            )
        # An empty remote workspace setting means this workspace's slug: a delivery from another
        # host workspace could only fail later, in the background, so it is refused now.
        remote = config.remote_workspace or ws.slug
        if delivery.workspace and delivery.workspace.lower() != remote.lower():
            raise ApiError(
                403,
                "WORKSPACE_MISMATCH",
                f"the delivery is for {host.title} workspace '{delivery.workspace}', this "
                f"jirahooks workspace serves '{remote}'",
                f"set {host.remote_field} to '{delivery.workspace}' "
                f"(PUT /api/v1/workspaces/{ws.slug}/{host.settings_path}, or the web UI's "
                f"{host.title} page)",
            )
        if not config.register_unknown_repositories:
            repo = await queries.repository_by_slug(session, ws.id, delivery.repository)
            if repo is None and delivery.repository_uuid:
                repo = await queries.repository_by_uuid(session, ws.id, delivery.repository_uuid)
            if repo is None:
                raise ApiError(
                    404,
                    "REPOSITORY_NOT_FOUND",
                    f"repository '{delivery.repository}' is not registered in '{workspace}'",
                    "register it, or allow register_unknown_repositories",
                )
        lower = {k.lower(): v for k, v in request.headers.items()}
        # a "/jirahooks recheck" comment: a forced evaluation of the PR, processed like the
        # admin API's recheck (origin "comment"; pipeline.rechecks)
        command = delivery.kind is DeliveryKind.RECHECK
        row = DeliveryRow(
            workspace_id=ws.id,
            platform=host.name,
            origin="comment" if command else "webhook",
            force=command,
            event_key=delivery.event_key[:100],
            dedupe_key=delivery.dedupe_key[:500],
            request_id=delivery.request_id[:100],
            hook_id=delivery.hook_id[:100],
            attempt=delivery.attempt,
            repository=delivery.repository[:200],
            pull_request_id=delivery.pull_request_id,
            head=delivery.head[:64],
            headers={k: lower[k] for k in host.kept_headers if k in lower},
            body=body.decode("utf-8", "replace"),
        )
        session.add(row)
        try:
            # SQLite: one writer at a time in this process, handed over at once, instead of
            # meeting the PR worker's writes in SQLite's busy handler (100 ms sleeps)
            async with state.database.writing():
                await session.commit()
        except IntegrityError:
            await session.rollback()
            metrics.delivery(state, "duplicate", host.name)
            return JSONResponse(
                {"status": "duplicate", "note": "this delivery was received before"},
                status_code=200,
            )
        delivery_id = row.id
    metrics.delivery(state, "received", host.name)
    worker: PrWorker | None = state.extras.get("pr_worker")
    if worker is not None:
        worker.wake()
    answer: dict[str, Any] = {"status": "accepted", "delivery": delivery_id}
    return JSONResponse(answer, status_code=202)
