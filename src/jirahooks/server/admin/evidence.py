"""Evidence for auditors (``GET /workspaces/{ws}/evidence``): the stored evaluations of a period
as CSV, JSON or a one-page HTML summary, or a reproducible random sample of them
(``store/evidence.py``, docs/audit.md). Workspace administrators and auditors only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from jirahooks.errors import UsageError
from jirahooks.server.auth import CurrentUser, Principal, Session, get_repository, get_workspace
from jirahooks.server.errors import ApiError, responses
from jirahooks.server.writer import settled
from jirahooks.store import chain, evidence
from jirahooks.store.models import Workspace

router = APIRouter(tags=["evaluations and audit"], dependencies=[Depends(settled)])


class ChainProblemOut(BaseModel):
    kind: Literal["CHANGED", "DELETED", "INSERTED", "HEAD"]
    evaluationId: int | None = Field(description="where it shows; null: at the end of the chain")
    seq: int | None = Field(description="the link number concerned")
    message: str


class ChainHeadOut(BaseModel):
    seq: int = Field(description="the last link's number")
    hash: str = Field(description="the last link's hash (hex)")


class ChainReportOut(BaseModel):
    workspace: str
    ok: bool
    links: int = Field(description="evaluations walked")
    head: ChainHeadOut
    firstBroken: ChainProblemOut | None = Field(description="the first broken link, by id")
    problems: list[ChainProblemOut]


Format = Literal["csv", "json", "html"]

CONTENT = {
    "text/csv": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "object"}},
    "text/html": {"schema": {"type": "string"}},
}


async def selection_for(
    session: Session,
    principal: Principal,
    workspace: str,
    first: date,
    last: date,
    repository: str | None,
    sample: int | None,
    seed: str | None,
) -> evidence.Selection:
    """The checked selection (roles, repository, period, sample), or the API error to answer."""
    ws: Workspace = await get_workspace(session, principal, workspace)
    principal.require_evidence_reader(ws)
    repo = await get_repository(session, ws, repository) if repository else None
    try:
        return evidence.Selection.make(ws, evidence.Period(first, last), repo, sample, seed)
    except UsageError as exc:
        raise ApiError(422, exc.code, exc.message, exc.hint) from exc


def stream(request: Request, selection: evidence.Selection, fmt: str) -> StreamingResponse:
    """The export as a download, read with a session of its own (the request's closes when the
    handler returns), encoded on the CPU pool, a batch at a time."""
    state = request.app.state.jirahooks

    async def body() -> AsyncIterator[bytes]:
        async with state.database.session() as session:
            async for chunk in evidence.export(session, selection, fmt, run_cpu=state.cpu.run):
                yield chunk

    headers = {
        "Content-Disposition": f'attachment; filename="{evidence.filename(selection, fmt)}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if fmt == "html":
        headers["Content-Security-Policy"] = evidence.HTML_CSP
    return StreamingResponse(body(), media_type=evidence.MEDIA_TYPES[fmt], headers=headers)


@router.get(
    "/workspaces/{workspace}/evidence",
    summary="Evidence of a period for auditors: CSV, JSON or a one-page HTML summary "
    "(workspace admins and auditors)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The export, as a download: one record per change (CSV row or JSON "
            "item) or the period's summary page",
            "content": CONTENT,
        },
        **responses(403, 404, 422),
    },
)
async def get_evidence(
    request: Request,
    workspace: str,
    session: Session,
    principal: CurrentUser,
    first: Annotated[date, Query(alias="from", description="first day (UTC), included")],
    last: Annotated[date, Query(alias="to", description="last day (UTC), included")],
    repository: Annotated[str | None, Query(max_length=200)] = None,
    format: Annotated[Format, Query(description="csv, json or html")] = "csv",
    sample: Annotated[
        int | None,
        Query(ge=1, le=evidence.MAX_SAMPLE, description="this many random changes of the period"),
    ] = None,
    seed: Annotated[
        str | None,
        Query(max_length=100, description="the sample's seed: the same seed, the same changes"),
    ] = None,
) -> StreamingResponse:
    selection = await selection_for(
        session, principal, workspace, first, last, repository, sample, seed
    )
    return stream(request, selection, format)


@router.get(
    "/workspaces/{workspace}/evidence/chain",
    summary="Verify the workspace's hash chain of evaluations: the first changed, deleted or "
    "inserted row (workspace admins and auditors)",
    response_model=ChainReportOut,
    responses=responses(403, 404),
)
async def verify_chain(
    request: Request, workspace: str, session: Session, principal: CurrentUser
) -> ChainReportOut:
    """What ``jirahooks evidence verify`` says for one workspace (docs/audit.md): ``ok``,
    ``links``, ``head`` (keep it: a later check must find the same hash at that link),
    ``firstBroken`` and every problem. Walks the whole chain: the content hashes are computed
    on the CPU pool."""
    ws = await get_workspace(session, principal, workspace)
    principal.require_evidence_reader(ws)
    report = await chain.verify(session, ws, run_cpu=request.app.state.jirahooks.cpu.run)
    return ChainReportOut.model_validate(report.to_dict())
