"""Jira tells us what changed: a signed webhook endpoint that updates the Jira cache at once.

``POST /api/jira/webhook/{workspace}/{connection_id}`` receives Jira's webhooks (Jira Cloud:
System → WebHooks; Jira Data Center 10: Administration → WebHooks) for one stored connection:

* ``jira:issue_created`` / ``jira:issue_updated``: the issue's existence entry is replaced with
  the issue the payload carries (a cached "not found" for its key is gone; a key change in the
  changelog keeps the old key answering as the moved issue), and every JQL verdict about the
  issue written before now is stale — the next evaluation asks Jira;
* ``jira:issue_deleted``: the key is "not found" (for the short negative lifetime);
* ``project_created`` / ``project_updated`` / ``project_deleted``: the project list is asked
  again;
* anything else is acknowledged and ignored.

After an issue event has updated the cache, the open pull requests whose last evaluation used
the issue (its key, and its old keys after a move) are queued for a forced re-evaluation
(``jirahooks.pipeline.rechecks``): a PR that passed while its issue was "In Progress" gets its
status updated when the issue moves on or is deleted. The answer says how many (``rechecks``).

Authentication: Jira's signed webhooks — the secret set on the webhook signs the body,
``X-Hub-Signature: sha256=<hex HMAC-SHA256>``. The secret is derived from the server's secret
key, the workspace and the connection (nothing new is stored); a workspace administrator reads
it, with the URL to register, from ``GET /api/v1/workspaces/{workspace}/connections/{id}/
jira-webhook``. Deliveries without a valid signature are refused (401) and change nothing.

The cache is the app's (``Resolvers.cache``): with Redis, one delivery updates every process.

``refresher(state)`` (the app's lifespan) warms the cache at startup with the issues updated
recently in the projects swept before (kept in the cache backend) and then runs the fallback
sweep every ``settings.jira_sweep_seconds`` over every workspace's connections; the updates a
sweep finds (those no webhook brought) queue the same re-evaluations.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from jirahooks.crypto import SecretBox
from jirahooks.jira.api import parse_issue
from jirahooks.jira.cache import JiraCache, connection_namespace
from jirahooks.pipeline.rechecks import queue_rechecks
from jirahooks.platforms.base import sha256_signature_ok
from jirahooks.server.auth import CurrentUser, Session, get_workspace
from jirahooks.server.boundary import read_body
from jirahooks.server.errors import ApiError, not_found, responses
from jirahooks.store import queries
from jirahooks.store.models import Connection, Workspace

log = logging.getLogger("jirahooks.server.jira_webhooks")

router = APIRouter(tags=["jira webhooks"])
admin_router = APIRouter(tags=["connections"])

SIGNATURE_HEADER = "X-Hub-Signature"
ISSUE_EVENTS = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")
PROJECT_EVENTS = ("project_created", "project_updated", "project_deleted")


def webhook_secrets(box: SecretBox, workspace: str, connection: Connection) -> list[str]:
    """The connection's webhook secret under each server key (the first one is handed out;
    the others keep verifying deliveries after a key rotation)."""
    material = f"jira-webhook\0{workspace}\0{connection.id}\0{connection.created_at.isoformat()}"
    return [
        hmac.new(key.encode(), material.encode(), hashlib.sha256).hexdigest() for key in box.keys
    ]


def namespace_of(connection: Connection, box: SecretBox) -> str:
    """The cache namespace the resolver uses for this stored connection (same identity rule
    as ``JiraClient.identity``)."""
    token = box.decrypt(connection.token_encrypted) if connection.token_encrypted else ""
    identity = (
        connection.email or connection.account_id or hashlib.sha256(token.encode()).hexdigest()[:16]
    )
    return connection_namespace(connection.name, connection.url, identity)


async def _stored(session: Any, workspace: str, connection_id: int) -> Connection:
    ws = await queries.workspace_by_slug(session, workspace)
    if ws is None:
        raise not_found("workspace", workspace)
    connection = await session.get(Connection, connection_id)
    if connection is None or connection.workspace_id != ws.id:
        raise not_found("connection", connection_id)
    assert isinstance(connection, Connection)
    return connection


def _old_keys(payload: dict[str, Any]) -> list[str]:
    """Keys the issue had before this update (a move or a project key change)."""
    changelog = payload.get("changelog")
    items = changelog.get("items") if isinstance(changelog, dict) else None
    return [
        str(item["fromString"])
        for item in items or []
        if isinstance(item, dict) and item.get("field") == "Key" and item.get("fromString")
    ]


async def apply_event(
    cache: JiraCache, namespace: str, connection: Connection, payload: dict[str, Any]
) -> str:
    """Update the cache for one delivery; returns what was done (for the answer and the log)."""
    event = str(payload.get("webhookEvent") or "")
    if event in ISSUE_EVENTS:
        raw = payload.get("issue")
        if not isinstance(raw, dict) or not raw.get("key"):
            raise ApiError(
                400,
                "JIRA_WEBHOOK_INVALID",
                f"{event} without an issue key",
                "Jira sends the issue with every issue event",
            )
        issue = parse_issue(raw, connection=connection.name, base_url=connection.url)
        if event == "jira:issue_deleted":
            await cache.issue_deleted(namespace, issue.key, issue.id)
            return "dropped"
        await cache.issue_changed(namespace, issue, _old_keys(payload))
        # the sweep's record of Jira's ``updated``: it does not apply (and recheck) this again
        await cache.new_updates(namespace, [issue])
        return "replaced"
    if event in PROJECT_EVENTS:
        await cache.forget_projects(namespace)
        return "projects dropped"
    return "ignored"


@router.post(
    "/api/jira/webhook/{workspace}/{connection_id}",
    status_code=200,
    summary="Jira webhook (issue and project events) for one connection: updates the cache",
)
async def jira_webhook(workspace: str, connection_id: int, request: Request) -> JSONResponse:
    state = request.app.state.jirahooks
    async with state.database.session() as session:
        connection = await _stored(session, workspace, connection_id)
    body = await read_body(request, state.settings.webhook_max_body_bytes)
    header = request.headers.get(SIGNATURE_HEADER, "")
    if not header:
        raise ApiError(
            401,
            "SIGNATURE_MISSING",
            "X-Hub-Signature is missing",
            "set the secret from GET /api/v1/workspaces/{workspace}/connections/{id}/"
            "jira-webhook on the Jira webhook",
        )
    if not any(
        sha256_signature_ok(s, body, header)
        for s in webhook_secrets(state.secrets, workspace, connection)
    ):
        raise ApiError(
            401,
            "SIGNATURE_INVALID",
            "X-Hub-Signature does not match",
            "the secrets in Jira and jirahooks differ: copy it again from the jira-webhook "
            "endpoint of the connection",
        )
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ApiError(400, "REQUEST_INVALID", "the body is not JSON", "send Jira's JSON") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "REQUEST_INVALID", "the body is not a JSON object", "send Jira's JSON")
    namespace = namespace_of(connection, state.secrets)
    done = await apply_event(state.resolvers.cache, namespace, connection, payload)
    event = str(payload.get("webhookEvent") or "")
    rechecks = 0
    if event in ISSUE_EVENTS:  # the cache is current now: what used the issue is evaluated again
        raw = payload["issue"]
        keys = [str(raw.get("key")), *_old_keys(payload)]
        rechecks = await queue_rechecks(state, connection.workspace_id, keys, event)
    log.info(
        "Jira webhook %s for connection %s: %s, %d pull request(s) to re-evaluate",
        event,
        connection.id,
        done,
        rechecks,
    )
    return JSONResponse({"event": event, "cache": done, "rechecks": rechecks})


class JiraWebhookOut(BaseModel):
    url: str
    secret: str
    events: list[str]
    hint: str


@admin_router.get(
    "/workspaces/{workspace}/connections/{connection_id}/jira-webhook",
    response_model=JiraWebhookOut,
    summary="Where and with which secret to register this connection's Jira webhook (admins)",
    responses=responses(403),
)
async def jira_webhook_settings(
    workspace: str, connection_id: int, request: Request, session: Session, principal: CurrentUser
) -> JiraWebhookOut:
    ws = await get_workspace(session, principal, workspace)
    principal.require_workspace_admin(ws)
    connection = await _stored(session, workspace, connection_id)
    secret = webhook_secrets(request.app.state.jirahooks.secrets, workspace, connection)[0]
    return JiraWebhookOut(
        url=str(request.url_for("jira_webhook", workspace=workspace, connection_id=connection_id)),
        secret=secret,
        events=[*ISSUE_EVENTS, *PROJECT_EVENTS],
        hint="Jira: System → WebHooks → Create: this URL, this secret, the events listed",
    )


async def _chains(state: Any) -> list[tuple[int, Any]]:
    """``(workspace id, chain)`` per workspace with connections (the resolver the evaluations
    use)."""
    from sqlalchemy import select

    from jirahooks.jira.chain import ConnectionChain

    async with state.database.session() as session:
        workspaces = list((await session.execute(select(Workspace))).scalars())
        stored = [(ws.id, await queries.connections(session, ws.id)) for ws in workspaces]
    chains = []
    for workspace_id, connections in stored:
        if connections:
            resolver = state.resolvers.resolver(connections, deadline_seconds=30)
            if isinstance(resolver, ConnectionChain):
                chains.append((workspace_id, resolver))
    return chains


async def sweep_once(state: Any, *, warm: bool = False) -> int:
    """One fallback sweep (or, with ``warm``, the startup warming) over every workspace's
    connections; a failure is logged and skipped, never raised. The issues a sweep finds
    updated queue re-evaluations of the open PRs that used them."""
    done = 0
    for workspace_id, chain in await _chains(state):
        try:
            if warm:
                for client in chain.clients:
                    namespace = chain.namespace_of(client.name)
                    projects = await state.resolvers.cache.recall_projects(namespace)
                    if projects:
                        done += await chain.for_evaluation(60).warm(projects)
            else:
                changed: list[str] = []
                done += await chain.sweep(changed_keys=changed)
                if changed:
                    await queue_rechecks(state, workspace_id, changed, "sweep")
            for client in chain.clients:  # existence indexes of the projects in use (0009)
                namespace = chain.namespace_of(client.name)
                cache = state.resolvers.cache
                seen = cache.seen_projects(namespace) or await cache.recall_projects(namespace)
                if seen:
                    jqls = cache.seen_jqls(namespace)
                    done += await chain.for_evaluation(120).index(seen, jqls=jqls)
        except Exception:  # a background refresh never takes the server down
            log.exception("Jira cache %s failed", "warming" if warm else "sweep")
    return done


@contextlib.asynccontextmanager
async def refresher(state: Any) -> AsyncIterator[None]:
    """Warm at startup, then sweep every ``jira_sweep_seconds`` (0: neither)."""
    period = float(getattr(state.settings, "jira_sweep_seconds", 0.0) or 0.0)
    if period <= 0:
        yield
        return

    async def loop() -> None:
        await sweep_once(state, warm=True)
        while True:
            await asyncio.sleep(period)
            await sweep_once(state)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
