"""``POST /api/validate/{workspace}/message-format``: how a commit message should name its issue.

jirahooks' addition beside the Validation API (docs/validation-api.md, "Message format"): the
prepare-commit-msg hook in remote mode asks it which shape the repository's rules want
(``{key} {message}``, ``[{key}] {message}``, …) and how keys are found, so that the key it
inserts from the branch passes the server's commit-msg check. Authenticated exactly like a
validation request (HMAC-SHA256 of the raw body with a validation token; the body is ``{}`` or
``{"repoSlug": …}``), answers ``{"messageFormat": {…}}``; it evaluates nothing and writes
nothing (no audit row: no change was judged). Errors are the Validation API's.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.event import Trigger
from jirahooks.server.validation import (
    SIGNATURE_HEADER,
    LazySession,
    Payload,
    _candidate_tokens,
    _load,
    _repository,
    _text,
    _verify_body,
)
from jirahooks.server.validation_request import Rejection, read_body

log = logging.getLogger("jirahooks.validation")
router = APIRouter(tags=["validation"])
MAX_BODY = 64 * 1024  # "{}" or a repository name: nothing bigger is meaningful

_SCHEMA = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "repoSlug": {"type": "string"},
                        "repositoryUuid": {"type": "string"},
                    },
                }
            }
        },
    },
    "parameters": [
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": True,
            "description": "sha256=<lowercase hex HMAC-SHA256(token, raw body)>",
            "schema": {"type": "string"},
        }
    ],
}


@router.post(
    "/api/validate/{workspace}/message-format",
    summary="How commit messages name their issue (prepare-commit-msg)",
    description="The template and key settings the prepare-commit-msg hook uses to add the "
    "branch's issue key to a message (docs/validation-api.md, Message format). Signed like "
    "a validation request.",
    openapi_extra=_SCHEMA,
    response_model=None,
)
async def message_format(request: Request, workspace: str, repoSlug: str | None = None) -> Response:
    state = request.app.state.jirahooks
    session = LazySession(state.database)
    try:
        answer = await _answer(request, cast(AsyncSession, session), workspace, repoSlug)
        return JSONResponse(answer)
    except Rejection as rejection:
        return rejection.response()
    except Exception:
        log.exception("message format: internal error (workspace %s)", workspace)
        return Rejection(500, "INTERNAL_ERROR", "Internal error, see the server log").response()
    finally:
        await session.close()


def _payload(body: bytes) -> Payload:
    data: Any = _load(body) if body.strip() else {}
    if not isinstance(data, dict):
        raise Rejection(400, "PAYLOAD_VALIDATION_ERROR", "The body must be a JSON object")
    return Payload(
        trigger=Trigger.COMMIT,
        branch="",
        commits=(),
        locale="en-US",
        repo_slug=_text(data, "repoSlug", ""),
        repo_uuid=_text(data, "repositoryUuid", ""),
    )


async def _answer(
    request: Request, session: AsyncSession, workspace_slug: str, query_slug: str | None
) -> dict[str, Any]:
    state = request.app.state.jirahooks
    workspace = await state.config_cache.workspace(session, workspace_slug)
    if workspace is None:
        raise Rejection(
            400,
            "WORKSPACE_CONTEXT_MISSING",
            f"Workspace '{workspace_slug}' does not exist on this server",
        )
    body = await read_body(request, min(MAX_BODY, state.settings.max_body_bytes))
    header = request.headers.get(SIGNATURE_HEADER)
    if not header:
        raise Rejection(401, "HMAC_AUTH_MISSING", f"The {SIGNATURE_HEADER} header is missing")
    candidates = await _candidate_tokens(session, workspace, query_slug)
    if not candidates:
        raise Rejection(
            401,
            "HMAC_SECRET_NOT_CONFIGURED",
            "No validation token is configured for this repository or workspace",
        )
    decrypt = state.secrets.decrypt
    token = await _verify_body(
        state, header, body, candidates, lambda t: workspace.hmac_key(t, decrypt)
    )
    if token is None:
        raise Rejection(401, "HMAC_SIGNATURE_INVALID", "The request signature does not match")
    repo = await _repository(session, workspace, query_slug, _payload(body))
    if token.repository_id is not None and token.repository_id != repo.id:
        raise Rejection(401, "HMAC_SIGNATURE_INVALID", "The token is not valid for this repository")
    if not workspace.workspace_settings().validation_api:
        raise Rejection(
            403,
            "FEATURE_DISABLED_GLOBAL",
            f"The Validation API is disabled for workspace '{workspace.slug}'",
        )
    settings = workspace.repository_settings(repo)
    if not settings.validation_api:
        raise Rejection(
            403,
            "FEATURE_DISABLED_REPO",
            f"The Validation API is disabled for repository '{repo.slug}'",
        )
    rules = await workspace.rules_for(session, repo, state.cpu.run)
    from jirahooks.hooks.prepare import form_of

    form = form_of(rules, settings)
    return {
        "messageFormat": {
            "template": form["template"],
            "source": form["source"],
            "keyPattern": form["key_pattern"],
            "ignoredKeys": form["ignored_keys"],
            "backslashEscape": form["backslash_escape"],
            "backtickEscape": form["backtick_escape"],
            "caseInsensitive": form["case_insensitive"],
        }
    }
