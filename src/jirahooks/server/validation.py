"""The Validation API (docs: validation-api.md), wire-compatible with the commercial product's
hook clients: ``POST /api/validate/{workspace}?repoSlug={slug}``.

Order of the checks, each answering ``{"error", "errorCode"}`` with the documented status:

1. the workspace is named and exists, else 400 ``WORKSPACE_CONTEXT_MISSING``;
2. the ``Content-Encoding`` is none, ``identity`` or ``gzip``, else 415
   ``UNSUPPORTED_CONTENT_ENCODING``; the body as sent is at most ``max_body_bytes`` (128 MiB,
   ``JIRAHOOKS_MAX_BODY_BYTES``), else 413 ``PAYLOAD_TOO_LARGE``;
3. ``x-hub-signature-256`` is present (401 ``HMAC_AUTH_MISSING``); some unrevoked token can
   sign for the scope (401 ``HMAC_SECRET_NOT_CONFIGURED``); the HMAC-SHA256 over the *raw* body
   — the bytes as sent, so a gzip body's compressed bytes — matches one of them, compared in
   constant time (401 ``HMAC_SIGNATURE_INVALID``) — all before the body is decompressed or
   parsed, so only a caller holding a token can make the server inflate anything;
3b. a gzip body inflates to at most ``max_body_bytes`` (413 ``PAYLOAD_TOO_LARGE``: a zip bomb
   stops there) and is valid gzip (400 ``JSON_PARSE_ERROR``);
4. the body parses as strict UTF-8 JSON (400 ``JSON_PARSE_ERROR``) and has the documented shape
   (400 ``PAYLOAD_VALIDATION_ERROR``, ``UNSUPPORTED_TRIGGER_TYPE``): nested at most 32 levels
   (measured before parsing), every field valid text of its kind and length
   (``jirahooks.textcheck``: no lone surrogate, no NUL, control characters only in commit
   messages); an empty body or one with neither branch nor commits is 200 ``IGNORE``;
5. the repository is named (400 ``REPOSITORY_ID_MISSING``), known (404
   ``REPOSITORY_NOT_FOUND``: unknown repositories are never registered implicitly) and inside
   the token's scope (401 ``HMAC_SIGNATURE_INVALID``, or ``HMAC_SECRET_NOT_CONFIGURED`` when no
   token reaches that repository). Tokens are tried before the repository is looked up, over
   every token of the workspace when the named repository is unknown: only a caller with a
   valid signature learns whether a repository exists;
6. the Validation API is on for the workspace (403 ``FEATURE_DISABLED_GLOBAL``) and the
   repository (403 ``FEATURE_DISABLED_REPO``).

Then the engine evaluates, the evaluation is queued for storage, and the 200 document is
returned. Any other failure is 500 ``INTERNAL_ERROR`` without details (the server log has them).

The CPU-heavy steps — the signature over a body above 1 MiB, inflating a gzip body, parsing it
(up to 128 MiB of JSON), the engine's planning and judging, rendering the document and encoding
the answer — run on the app's CPU pool (server/cpu.py), so a hostile 1 MB branch name or a
100,000-commit push never stalls other requests; a small request (``INLINE_BODY_BYTES`` of
JSON, ``INLINE_RULES``) runs them inline, where the hand-offs would cost more than the work
(decision 0007). Inflating always runs on the pool: a few KB of gzip can hold megabytes. The
answer is bounded (engine/listing.py): per rule at most 10 commits with their facts, the rest
counted and named by hash.

The configuration behind these steps (tokens and their decrypted secrets, repositories, parsed
rules, effective settings, connections with their decrypted Jira tokens) comes from the
process's ``ConfigCache``: a request whose workspace ``config_version`` is unchanged reads only
that version (on SQLite without SQLAlchemy: ``SqliteVersionProbe``; on PostgreSQL not even
that, the ``PostgresVersionWatcher`` keeps it current by LISTEN/NOTIFY, decision 0020). Every
configuration write bumps the version, so changes apply to the next request of this process,
and on other processes when PostgreSQL's notification arrives (at most 2 s later). The evaluation row
and the token's ``last_used_at`` are handed to the background writer (server/writer.py) and
written after the answer, batched; a full writer queue answers 503 ``AUDIT_BACKLOG_FULL``.

What else keeps a warm request cheap (decision 0014): the route (``DirectRoute``) hands the
endpoint its two parameters without FastAPI's per-request dependency solving; the body is
parsed by orjson (``json.loads`` decides what orjson refuses); the commits are checked field
kind by field kind (``_valid_commits``), the per-field path (``_commits``) runs only to name the
first problem.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.event import Commit, Event, Trigger
from jirahooks.i18n import normalize_locale
from jirahooks.server import metrics
from jirahooks.server.jira_adapter import to_config
from jirahooks.server.validation_request import (
    COLLECTOR,
    PAUSE_COLLECTOR_ABOVE,
    Pause,
    Rejection,
    content_coding,
    inflate_body,
    read_body,
)
from jirahooks.server.writer import WriterBacklogged
from jirahooks.store import queries
from jirahooks.store.config_cache import RepositorySnapshot, WorkspaceSnapshot
from jirahooks.store.database import Database, EncodedJSON
from jirahooks.store.models import ValidationToken
from jirahooks.textcheck import (
    MAX_JSON_DEPTH,
    Kind,
    all_acceptable,
    nesting_exceeds,
    text_problem,
)

if TYPE_CHECKING:
    from jirahooks.server.state import AppState

log = logging.getLogger("jirahooks.server.validation")

SIGNATURE_HEADER = "x-hub-signature-256"
SUPPORTED_TRIGGERS = (Trigger.COMMIT, Trigger.PUSH)
# A request this small is parsed, judged and encoded on the event loop (see _runner).
INLINE_BODY_BYTES = 16 * 1024
INLINE_RULES = 20

router = APIRouter(tags=["validation"])


@dataclass(frozen=True)
class Payload:
    trigger: Trigger
    branch: str
    commits: tuple[Commit, ...]
    locale: str
    repo_slug: str
    repo_uuid: str

    @property
    def empty(self) -> bool:
        return not self.branch and not self.commits


_BODY_SCHEMA = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "triggerType": {"type": "string", "enum": ["COMMIT", "PUSH"]},
                        "branchName": {"type": "string"},
                        "commits": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["hash", "message"],
                                "properties": {
                                    "hash": {"type": "string"},
                                    "message": {"type": "string"},
                                    "authorDisplayName": {"type": "string"},
                                    "url": {"type": "string"},
                                },
                            },
                        },
                        "locale": {"type": "string", "example": "en-US"},
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


@router.post("/api/validate", include_in_schema=False)
async def validate_without_workspace(request: Request) -> Response:
    return Rejection(
        400,
        "WORKSPACE_CONTEXT_MISSING",
        "The endpoint names no workspace: use /api/validate/<workspace>",
    ).response()


class DirectRoute(APIRoute):
    """The Validation API's route: FastAPI documents it from the endpoint's signature (OpenAPI),
    but a request goes straight to the endpoint with its path parameter and ``repoSlug`` — no
    per-request dependency solving and pydantic validation of two plain strings, which cost
    more than checking the request's HMAC (decision 0014). FastAPI's own extension point for
    custom request handling (``APIRoute.get_route_handler``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            response: Response = await endpoint(
                request, request.path_params["workspace"], request.query_params.get("repoSlug")
            )
            return response

        return handler


async def validate(request: Request, workspace: str, repoSlug: str | None = None) -> Response:
    state = request.app.state.jirahooks
    session = LazySession(state.database)
    pause = Pause(COLLECTOR)  # the garbage collector, paused for a big push (decision 0014)
    try:
        return await _validate(request, cast(AsyncSession, session), workspace, repoSlug, pause)
    except Rejection as rejection:
        return rejection.response()
    except Exception:
        log.exception("Validation API: internal error (workspace %s)", workspace)
        return Rejection(500, "INTERNAL_ERROR", "Internal error, see the server log").response()
    finally:
        pause.end()
        await session.close()


router.add_api_route(
    "/api/validate/{workspace}",
    validate,
    methods=["POST"],
    summary="Validate a COMMIT or PUSH (hook clients, CI)",
    description="See docs/api.md and validation-api.md. Authenticated by an HMAC-SHA256 signature "
    "of the raw body with a validation token.",
    openapi_extra=_BODY_SCHEMA,
    response_model=None,
    route_class_override=DirectRoute,
)


class LazySession:
    """An ``AsyncSession`` made on first use: a warm request, served from its configuration
    snapshot, never opens one (a session costs more than the rest of the snapshot path)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._session: AsyncSession | None = None

    def __getattr__(self, name: str) -> Any:
        if self._session is None:
            self._session = self._database.sessions()
        return getattr(self._session, name)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


# HMAC-SHA256 runs at a few hundred MB/s: above this, the signature is checked on the CPU pool
VERIFY_ON_POOL_ABOVE = 1024 * 1024


async def _verify_body(
    state: AppState,
    header: str,
    body: bytes,
    tokens: list[ValidationToken],
    key_of: Callable[[ValidationToken], bytes | None],
) -> ValidationToken | None:
    """``_verify``; for a body above ``VERIFY_ON_POOL_ABOVE`` on the CPU pool (the keys are
    looked up here, on the loop, where the configuration snapshot lives)."""
    if len(body) <= VERIFY_ON_POOL_ABOVE:
        return _verify(header, body, tokens, key_of)
    keys = {id(token): key_of(token) for token in tokens}
    return await state.cpu.run(_verify, header, body, tokens, lambda t: keys[id(t)])


def signature_of(secret: str, body: bytes) -> str:
    """``sha256=<hex>`` as the hook clients send it."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _verify(
    header: str,
    body: bytes,
    tokens: list[ValidationToken],
    key_of: Callable[[ValidationToken], bytes | None],
) -> ValidationToken | None:
    """The token whose HMAC matches, comparing against every candidate in constant time (a
    candidate whose secret cannot be decrypted, ``None``, is skipped)."""
    scheme, _, given = header.strip().partition("=")
    if scheme.strip().lower() != "sha256" or not given:
        return None
    given_bytes = given.strip().lower().encode("ascii", "replace")
    match: ValidationToken | None = None
    for token in tokens:
        key = key_of(token)
        if key is None:
            continue
        expected = hmac.new(key, body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected.encode("ascii"), given_bytes) and match is None:
            match = token
    return match


# The longest value each field may hold (characters); commit messages and the branch name are
# bounded by the body (a hostile branch name is evaluated off the event loop, see _validate).
FIELD_LIMITS = {
    "hash": 200,
    "authorDisplayName": 1000,
    "url": 4096,
    "locale": 64,
    "repoSlug": 200,
    "repositoryUuid": 100,
    "triggerType": 50,
}


def _text(data: dict[str, Any], name: str, path: str, kind: Kind = Kind.LINE) -> str:
    """A string field: absent is empty; not a string, invalid text (a lone surrogate, NUL, a
    control character where the field allows none) or too long is 400."""
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Rejection(400, "PAYLOAD_VALIDATION_ERROR", f"{path}{name} must be a string")
    problem = text_problem(value, kind, FIELD_LIMITS.get(name))
    if problem is not None:
        raise Rejection(400, "PAYLOAD_VALIDATION_ERROR", f"{path}{name} {problem}")
    return value


def _load(body: bytes) -> Any:
    """The parsed body; 400 ``JSON_PARSE_ERROR`` for what is not JSON (invalid UTF-8 included),
    400 ``PAYLOAD_VALIDATION_ERROR`` for nesting deeper than any payload needs — measured before
    parsing, so a body of ``[[[[…`` never recurses."""
    if nesting_exceeds(body, MAX_JSON_DEPTH):
        raise Rejection(
            400,
            "PAYLOAD_VALIDATION_ERROR",
            f"The body nests arrays or objects deeper than {MAX_JSON_DEPTH} levels",
        )
    try:
        # orjson (a fraction of json.loads's cost) is stricter: what it refuses — a BOM, a lone
        # surrogate escape, NaN, an overflowing number — goes the json.loads way below, which
        # decides as before (a lone surrogate: PAYLOAD_VALIDATION_ERROR from the text checks)
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        # strictly UTF-8 (RFC 8259): json.loads on bytes would let encoded surrogates through
        return json.loads(body.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Rejection(400, "JSON_PARSE_ERROR", f"The body is not valid JSON: {exc}") from exc


def parse_payload(body: bytes) -> Payload | None:
    """The request body as a Payload; ``None`` for an empty body."""
    if not body.strip():
        return None
    data = _load(body)
    if not isinstance(data, dict):
        raise Rejection(400, "PAYLOAD_VALIDATION_ERROR", "The body must be a JSON object")
    raw_commits = data.get("commits")
    if raw_commits is None:
        raw_commits = []
    if not isinstance(raw_commits, list):
        raise Rejection(400, "PAYLOAD_VALIDATION_ERROR", "commits must be an array")
    commits = _valid_commits(raw_commits)
    if commits is None:
        commits = _commits(raw_commits)
    return _payload(data, commits)


_ABSENT = object()


def _valid_commits(raw_commits: list[Any]) -> list[Commit] | None:
    """The commits when every one is valid, checked field kind by field kind (one regex search
    per value, no error path built): a 100,000-commit push is 400,000 fields. None when any
    is not: ``_commits`` then checks them one by one and reports the first problem as ever."""
    hashes: list[str] = []
    messages: list[str] = []
    authors: list[str] = []
    urls: list[str] = []
    for raw in raw_commits:
        if not isinstance(raw, dict):
            return None
        commit_hash = raw.get("hash")
        message = raw.get("message", _ABSENT)
        author = raw.get("authorDisplayName")
        url = raw.get("url")
        if not isinstance(commit_hash, str) or not commit_hash or message is _ABSENT:
            return None
        message = "" if message is None else message
        author = "" if author is None else author
        url = "" if url is None else url
        if not (isinstance(message, str) and isinstance(author, str) and isinstance(url, str)):
            return None
        hashes.append(commit_hash)
        messages.append(message)
        authors.append(author)
        urls.append(url)
    for values, name in ((hashes, "hash"), (authors, "authorDisplayName"), (urls, "url")):
        if max(map(len, values), default=0) > FIELD_LIMITS[name]:
            return None
        if not all_acceptable(values, Kind.LINE):
            return None
    if not all_acceptable(messages, Kind.MESSAGE):
        return None
    return [
        Commit(hash=h, message=m, author_name=a, url=u or None)
        for h, m, a, u in zip(hashes, messages, authors, urls, strict=True)
    ]


def _commits(raw_commits: list[Any]) -> list[Commit]:
    """The commits, each field checked in order: the first problem is the answer."""
    commits: list[Commit] = []
    for i, raw in enumerate(raw_commits):
        where = f"commits.{i}."
        if not isinstance(raw, dict):
            raise Rejection(400, "PAYLOAD_VALIDATION_ERROR", f"commits.{i} must be an object")
        commit_hash = _text(raw, "hash", where)
        if not commit_hash:
            raise Rejection(400, "PAYLOAD_VALIDATION_ERROR", f"{where}hash is required")
        if "message" not in raw:
            raise Rejection(400, "PAYLOAD_VALIDATION_ERROR", f"{where}message is required")
        commits.append(
            Commit(
                hash=commit_hash,
                message=_text(raw, "message", where, Kind.MESSAGE),
                author_name=_text(raw, "authorDisplayName", where),
                url=_text(raw, "url", where) or None,
            )
        )
    return commits


def _payload(data: dict[str, Any], commits: list[Commit]) -> Payload:
    branch = _text(data, "branchName", "")
    trigger_raw = data.get("triggerType")
    if trigger_raw is None:
        if not branch and not commits:
            trigger_raw = Trigger.PUSH.value  # "{}": an empty payload, IGNORE like any other
        else:
            raise Rejection(
                400, "PAYLOAD_VALIDATION_ERROR", "triggerType is required (COMMIT or PUSH)"
            )
    trigger_raw = _text({"triggerType": trigger_raw}, "triggerType", "")
    if trigger_raw not in {t.value for t in SUPPORTED_TRIGGERS}:
        raise Rejection(
            400,
            "UNSUPPORTED_TRIGGER_TYPE",
            f"Unsupported triggerType '{trigger_raw}': use COMMIT or PUSH",
        )
    return Payload(
        trigger=Trigger(trigger_raw),
        branch=branch,
        commits=tuple(commits),
        locale=normalize_locale(_text(data, "locale", "")),
        repo_slug=_text(data, "repoSlug", ""),
        repo_uuid=_text(data, "repositoryUuid", ""),
    )


async def _candidate_tokens(
    session: AsyncSession, workspace: WorkspaceSnapshot, query_slug: str | None
) -> list[ValidationToken]:
    """Unrevoked tokens that may have signed: the workspace-wide ones and the named repository's
    when those exist, else every token of the workspace.

    Trying every token when the ``repoSlug`` is unknown (or its repository has no token of its
    own) lets a correctly signed request with a mistyped slug get 404 ``REPOSITORY_NOT_FOUND``,
    and keeps a caller without a valid signature from telling a registered repository from an
    unknown one: either way it gets 401 ``HMAC_SIGNATURE_INVALID`` (or
    ``HMAC_SECRET_NOT_CONFIGURED`` when the workspace has no token at all).
    """
    tokens = list(await workspace.active_tokens(session))
    if not query_slug:
        return tokens
    repo = await workspace.repository_by_slug(session, query_slug)
    if repo is None:
        return tokens
    scoped = [t for t in tokens if t.repository_id in (None, repo.id)]
    return scoped or tokens


async def _repository(
    session: AsyncSession, workspace: WorkspaceSnapshot, query_slug: str | None, payload: Payload
) -> RepositorySnapshot:
    slug = query_slug or payload.repo_slug
    if slug:
        repo = await workspace.repository_by_slug(session, slug)
        name = slug
    elif payload.repo_uuid:
        repo = await workspace.repository_by_uuid(session, payload.repo_uuid)
        name = payload.repo_uuid
    else:
        raise Rejection(
            400,
            "REPOSITORY_ID_MISSING",
            "No repository given: add ?repoSlug=<slug> to the endpoint, or repoSlug to the body",
        )
    if repo is None:
        raise Rejection(
            404,
            "REPOSITORY_NOT_FOUND",
            f"Repository '{name}' is not registered in workspace '{workspace.slug}'",
        )
    return repo


async def _validate(
    request: Request,
    session: AsyncSession,
    workspace_slug: str,
    query_slug: str | None,
    pause: Pause | None = None,
) -> Response:
    state = request.app.state.jirahooks
    started = time.perf_counter()
    workspace = await state.config_cache.workspace(session, workspace_slug)
    if workspace is None:
        raise Rejection(
            400,
            "WORKSPACE_CONTEXT_MISSING",
            f"Workspace '{workspace_slug}' does not exist on this server",
        )
    limit = state.settings.max_body_bytes
    coding = content_coding(request)
    body = await read_body(request, limit)
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
    if pause is not None and len(body) > PAUSE_COLLECTOR_ABOVE:
        pause.begin()

    from jirahooks.engine import evaluate
    from jirahooks.engine.facts import Evaluation, Status

    if coding == "gzip":
        body = await state.cpu.run(inflate_body, body, limit)
    payload = await _runner(state, body)(parse_payload, body)
    # A 100,000-commit body is ~100 MB: not kept while the push is evaluated. ``_runner`` only
    # needs to know whether it was small, which the first INLINE_BODY_BYTES + 1 bytes tell.
    body = body[: INLINE_BODY_BYTES + 1]
    if payload is None or payload.empty:
        event = Event(Trigger.PUSH if payload is None else payload.trigger)
        locale = "en-US" if payload is None else payload.locale
        repo = None
        if payload is not None and (query_slug or payload.repo_slug or payload.repo_uuid):
            try:
                repo = await _repository(session, workspace, query_slug, payload)
            except Rejection:
                repo = None  # deletions must never fail: IGNORE whatever the repository
        evaluation = Evaluation(event, Status.IGNORE)
        return await _answer(
            state, workspace, repo, token, evaluation, locale, started, _runner(state, body)
        )

    # The caller holds a valid token of this workspace: now it may learn whether the repository
    # exists (404) and whether its token reaches it (401).
    repo = await _repository(session, workspace, query_slug, payload)
    if token.repository_id is not None and token.repository_id != repo.id:
        tokens = await workspace.active_tokens(session)
        if not any(t.repository_id in (None, repo.id) for t in tokens):
            raise Rejection(
                401,
                "HMAC_SECRET_NOT_CONFIGURED",
                f"No validation token is configured for repository '{repo.slug}'",
            )
        raise Rejection(401, "HMAC_SIGNATURE_INVALID", "The token is not valid for this repository")
    workspace_settings = workspace.workspace_settings()
    if not workspace_settings.validation_api:
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
    connections = await workspace.connections_for(session, repo)
    # the connections' Jira tokens, decrypted once per snapshot (not once per request)
    configs = workspace.jira_configs(repo, lambda c: to_config(c, state.secrets))
    resolver = state.resolvers.resolver(
        connections, deadline_seconds=settings.time_budget_seconds, configs=configs
    )
    event = Event(
        trigger=payload.trigger,
        branch=payload.branch,
        commits=payload.commits,
        repository=repo.slug,
    )
    run_cpu = _runner(state, body, len(rules))
    stages = metrics.stages(state, "validation-api")  # metrics: stage times at the caller
    evaluation = await evaluate(
        event, rules, stages.resolver(resolver), settings=settings, run_cpu=stages.cpu(run_cpu)
    )
    stages.evaluated(evaluation, workspace=workspace.slug, repository=repo.slug)
    return await _answer(
        state, workspace, repo, token, evaluation, payload.locale, started, run_cpu
    )


def _json(document: dict[str, Any]) -> bytes:
    """A document's bytes: compact UTF-8 JSON (orjson: a fraction of ``json.dumps``'s cost on
    the answer path; NaN and infinities, which no document holds, would become ``null``)."""
    encoded: bytes = orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS)
    return encoded


def _encode(document: dict[str, Any], share_issue_details: bool) -> tuple[bytes, bytes]:
    """``(answer, stored)``: every hook user reads the answer, so unless the workspace shares
    issue details it carries only what a developer needs of each issue; the stored evaluation
    (administrators, web UI) keeps the full document. One job on the CPU pool."""
    from jirahooks.engine.facts import for_pusher, without_issue_details

    stored = _json(document)
    answer = for_pusher(document)  # rules in evaluate mode are for the stored evaluation only
    if share_issue_details and answer is document:
        return stored, stored
    return _json(answer if share_issue_details else without_issue_details(answer)), stored


def _encode_text(*values: Any) -> tuple[EncodedJSON, ...]:
    """JSON columns of the evaluation row, encoded here (orjson, and on the CPU pool for a big
    push) instead of by the background writer's ``json.dumps``."""
    return tuple(
        EncodedJSON(orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")) for v in values
    )


async def _inline(fn: Callable[..., Any], /, *args: Any) -> Any:
    """``CpuPool.run``'s shape, run here: for a small request, handing each step to a pool
    thread costs more CPU than the step itself."""
    return fn(*args)


def _runner(state: AppState, body: bytes, rules: int = 0) -> Callable[..., Any]:
    """Where a request's CPU steps run: on the event loop for a small request (a body of at
    most ``INLINE_BODY_BYTES`` judged by at most ``INLINE_RULES`` rules: well under a
    millisecond of work), on the CPU pool otherwise (decision 0004)."""
    if len(body) <= INLINE_BODY_BYTES and rules <= INLINE_RULES:
        return _inline
    run: Callable[..., Any] = state.cpu.run
    return run


async def _answer(
    state: AppState,
    workspace: WorkspaceSnapshot,
    repo: RepositorySnapshot | None,
    token: ValidationToken,
    evaluation: Any,
    locale: str,
    started: float,
    run_cpu: Callable[..., Any],
) -> Response:
    document: dict[str, Any] = await run_cpu(evaluation.to_document, locale)
    share = workspace.workspace_settings().share_issue_details
    answer, stored = await run_cpu(_encode, document, share)
    event = evaluation.event
    values = queries.evaluation_values(
        evaluation,
        workspace_id=workspace.id,
        repository_id=repo.id if repo else None,
        source="validation-api",
        event={
            "trigger": event.trigger.value,
            "branch": event.branch,
            "repository": repo.slug if repo else "",
            "locale": locale,
            "commits": [
                {
                    "hash": c.hash,
                    "message": c.message,
                    "authorDisplayName": c.author_name,
                    "url": c.url,
                }
                for c in event.commits
            ],
        },
        document=document,
        duration_ms=(time.perf_counter() - started) * 1000,
        token_id=token.id,
        config_version=workspace.version,  # the snapshot the rules came from (evidence)
    )
    # The big JSON columns are encoded on the pool too (10,000 commits, a 30 MB document).
    values["document"] = EncodedJSON(stored.decode("utf-8"))
    values["event"], values["rules"], values["issues"] = await run_cpu(
        _encode_text, values["event"], values["rules"], values["issues"]
    )
    # The audit row and the token's last_used_at are written by the background writer
    # (server/writer.py, decision 0007): no write on the answer path.
    try:
        # metrics' "store" stage: handing the row over (waits only under back-pressure)
        async with metrics.timed(state, "store", "validation-api"):
            await state.writer.submit(values, token.id)
    except WriterBacklogged as exc:
        log.error("Validation API: answered 503, the evaluation cannot be stored: %s", exc)
        raise Rejection(
            503,
            "AUDIT_BACKLOG_FULL",
            "The server cannot store evaluations as fast as they come: retry in a few seconds",
        ) from exc
    return Response(answer, media_type="application/json")
