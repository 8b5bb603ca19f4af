"""Platform webhooks in: ``POST /webhooks/bitbucket/{workspace}``, and the worker's lifespan.

Order of the checks (docs/bitbucket-cloud.md):

1. the workspace exists (404) and has a Bitbucket configuration (404 ``PLATFORM_NOT_CONFIGURED``);
2. the body is at most ``webhook_max_body_bytes`` (1 MiB, 413);
3. ``X-Hub-Signature: sha256=<hex>`` matches the HMAC-SHA256 of the raw body under the
   workspace's webhook secret, compared in constant time (401 ``SIGNATURE_MISSING`` /
   ``SIGNATURE_INVALID``); with no secret configured, ``require_signature`` rejects every
   delivery (401 ``SIGNATURE_NOT_CONFIGURED``);
4. the body is UTF-8 JSON without NUL or lone surrogates, nested at most 32 levels, and an
   object (400 ``WEBHOOK_INVALID``, nothing stored); events jirahooks does not use — and PR
   comments other than ``/jirahooks recheck`` — are acknowledged with 202 ``ignored``;
5. the delivery belongs to the configured Bitbucket workspace (403) and its repository is known
   or may be registered (404 ``REPOSITORY_NOT_FOUND``);
6. the raw delivery is stored (deduplicated: a duplicate answers 200 ``duplicate``), the worker
   is woken, and the answer is 202 ``accepted`` — milliseconds, no call to Bitbucket or Jira.
   A ``/jirahooks recheck`` comment is stored as a forced evaluation of its PR (origin
   ``comment``), processed like the admin API's recheck.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from jirahooks.platforms.base import DeliveryKind, WebhookError
from jirahooks.platforms.bitbucket_cloud import PLATFORM, parse_delivery
from jirahooks.server import bitbucket_admin, metrics
from jirahooks.server.errors import ApiError, not_found
from jirahooks.server.platform_config import options_for, webhook_secret
from jirahooks.server.pr_processing import platform_config
from jirahooks.server.pr_worker import PrWorker
from jirahooks.store import queries
from jirahooks.store.deliveries import DeliveryRow
from jirahooks.textcheck import MAX_JSON_DEPTH, Kind, TextError, check_tree, nesting_exceeds

SIGNATURE_HEADER = "x-hub-signature"
KEPT_HEADERS = (
    "content-type",
    "user-agent",
    "x-event-key",
    "x-hook-uuid",
    "x-request-uuid",
    "x-attempt-number",
    "x-event-time",
)


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
router.include_router(bitbucket_admin.router, prefix="/api/v1")


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"the body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


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
        return None  # not JSON: parse_delivery says so
    try:
        check_tree(data, kind=Kind.MESSAGE)
    except TextError as exc:
        return f"the webhook body's {exc.path or 'text'} {exc.message}"
    return None


@router.post(
    "/webhooks/bitbucket/{workspace}",
    status_code=202,
    summary="Bitbucket Cloud webhook (pull requests and pushes)",
)
async def bitbucket_webhook(workspace: str, request: Request) -> JSONResponse:
    state = request.app.state.jirahooks
    async with state.database.session() as session:
        ws = await queries.workspace_by_slug(session, workspace)
        if ws is None:
            raise not_found("workspace", workspace)
        config = await platform_config(session, ws.id)
        if config is None:
            raise ApiError(
                404,
                "PLATFORM_NOT_CONFIGURED",
                f"Bitbucket is not configured for workspace '{workspace}'",
                f"PUT /api/v1/workspaces/{workspace}/bitbucket first",
            )
        body = await _read_body(request, state.settings.webhook_max_body_bytes)
        secret = webhook_secret(config, state.secrets)
        header = request.headers.get(SIGNATURE_HEADER, "")
        if secret:
            if not header:
                raise ApiError(
                    401,
                    "SIGNATURE_MISSING",
                    "X-Hub-Signature is missing",
                    "set the webhook's secret in Bitbucket",
                )
            if not signature_ok(secret, body, header):
                raise ApiError(
                    401,
                    "SIGNATURE_INVALID",
                    "X-Hub-Signature does not match",
                    "the secrets in Bitbucket and jirahooks differ",
                )
        elif config.require_signature:
            raise ApiError(
                401,
                "SIGNATURE_NOT_CONFIGURED",
                "signed deliveries are required but no webhook secret is configured",
                f"PUT /api/v1/workspaces/{workspace}/bitbucket with a webhook_secret",
            )
        # parsing up to a MiB of JSON (twice) is CPU work: off the event loop
        problem = await state.cpu.run(_body_problem, body)
        if problem is not None:
            raise ApiError(400, "WEBHOOK_INVALID", problem, "Bitbucket sends UTF-8 JSON")
        try:
            delivery = await state.cpu.run(parse_delivery, dict(request.headers), body)
        except WebhookError as exc:
            raise ApiError(400, exc.code, exc.message, exc.hint or "send JSON") from exc
        if delivery.kind is DeliveryKind.IGNORED:
            metrics.delivery(state, "ignored")
            return JSONResponse(
                {
                    "status": "ignored",
                    "note": f"jirahooks does not act on '{delivery.event_key or 'no event key'}'",
                },
                status_code=202,
            )
        # An empty bitbucket_workspace means this workspace's slug: a delivery from another
        # Bitbucket workspace could only fail later, in the background, so it is refused now.
        remote = config.remote_workspace or ws.slug
        if delivery.workspace and delivery.workspace.lower() != remote.lower():
            raise ApiError(
                403,
                "WORKSPACE_MISMATCH",
                f"the delivery is for Bitbucket workspace '{delivery.workspace}', this "
                f"jirahooks workspace serves '{remote}'",
                f"set bitbucket_workspace to '{delivery.workspace}' "
                f"(PUT /api/v1/workspaces/{ws.slug}/bitbucket, or the web UI's Bitbucket page)",
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
        # admin API's recheck (origin "comment"; pr_rechecks)
        command = delivery.kind is DeliveryKind.RECHECK
        row = DeliveryRow(
            workspace_id=ws.id,
            platform=PLATFORM,
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
            headers={k: lower[k] for k in KEPT_HEADERS if k in lower},
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
            metrics.delivery(state, "duplicate")
            return JSONResponse(
                {"status": "duplicate", "note": "this delivery was received before"},
                status_code=200,
            )
        delivery_id = row.id
    metrics.delivery(state, "received")
    worker: PrWorker | None = state.extras.get("pr_worker")
    if worker is not None:
        worker.wake()
    answer: dict[str, Any] = {"status": "accepted", "delivery": delivery_id}
    return JSONResponse(answer, status_code=202)
