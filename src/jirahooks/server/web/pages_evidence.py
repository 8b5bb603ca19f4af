"""The evaluations page's evidence download (``/ui/w/{ws}/evidence``): the admin API's export
(``server/admin/evidence.py``) with the web session's user, so roles and content are the same."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from jirahooks.errors import UsageError
from jirahooks.server.admin import evidence as api
from jirahooks.server.auth import Session
from jirahooks.server.errors import ApiError
from jirahooks.server.web.common import W
from jirahooks.server.web.i18n import _
from jirahooks.server.web.session import WebUserDep
from jirahooks.server.writer import settled
from jirahooks.store import evidence

router = APIRouter(dependencies=[Depends(settled)])


def _sample(value: str) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ApiError(
            422,
            "EVIDENCE_BAD_SAMPLE",
            _("The sample size must be a whole number."),
            _("Leave it empty for every change, or give e.g. 25."),
        ) from exc


@router.get(W + "/evidence")
async def evidence_download(
    request: Request,
    workspace: str,
    db: Session,
    user: WebUserDep,
    since: str = "",
    until: str = "",
    repository: str = "",
    format: str = "csv",
    sample: str = "",
    seed: str = "",
) -> Response:
    if not since or not until:
        raise ApiError(
            422,
            "EVIDENCE_NO_PERIOD",
            _("Choose the period of the evidence: a first and a last day."),
            _("Fill in From and To above the download button."),
        )
    if format not in evidence.FORMATS:
        raise ApiError(422, "EVIDENCE_BAD_FORMAT", _("Unknown format."), "csv, json, html")
    try:
        first = evidence.parse_day(since, "from")
        last = evidence.parse_day(until, "to")
    except UsageError as exc:
        raise ApiError(422, exc.code, exc.message, exc.hint) from exc
    selection = await api.selection_for(
        db,
        user.principal,
        workspace,
        first,
        last,
        repository or None,
        _sample(sample),
        seed.strip()[:100] or None,
    )
    return api.stream(request, selection, format)
