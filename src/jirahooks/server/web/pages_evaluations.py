"""Evaluations: the history with filters (repository, result, trigger, time), one evaluation
(rules, facts grouped like the hook output, Jira issues used), and the compliance dashboard
with server-rendered SVG charts."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from jirahooks.server.admin import evaluations as api
from jirahooks.server.auth import Session, get_repository
from jirahooks.server.web.charts import (
    DayCounts,
    RuleTrial,
    horizontal_bars,
    over_time,
    would_have_blocked,
)
from jirahooks.server.web.common import W, page, workspace_ctx
from jirahooks.server.web.i18n import _
from jirahooks.server.web.pages_connections import connection_alerts
from jirahooks.server.web.ruleform import group_facts
from jirahooks.server.web.session import WebUserDep
from jirahooks.server.writer import settled
from jirahooks.store.models import EvaluationRow, Repository

# settled: the background writer has stored every evaluation answered before this request
router = APIRouter(dependencies=[Depends(settled)])
RESULTS = ("PASS", "WARNING", "BLOCK", "SKIP", "IGNORE")
TRIGGERS = ("COMMIT", "PUSH", "PULL_REQUEST", "MERGE_COMMIT")
PAGE_SIZE = 50
DASHBOARD_ROWS = 20000
# evaluations whose escape-token uses the dashboard lists (read from the stored documents)
ESCAPE_ROWS = 2000


def _day(value: str) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    except ValueError:
        return None


def _authors(event: dict[str, Any]) -> str:
    """Who wrote the change: the commit authors' names (at most two, then "+ n"), else the
    pull request's author."""
    names: list[str] = []
    for commit in event.get("commits") or []:
        name = str(commit.get("authorDisplayName") or "") if isinstance(commit, dict) else ""
        if name and name not in names:
            names.append(name)
    if not names:
        pr = event.get("pullRequest")
        author = pr.get("author") if isinstance(pr, dict) else None
        if isinstance(author, dict):
            author = author.get("displayName") or author.get("name")
        if author:
            names.append(str(author))
    if len(names) > 2:
        return ", ".join(names[:2]) + " " + _("+ %(n)s more", n=len(names) - 2)
    return ", ".join(names)


@router.get(W + "/evaluations")
async def evaluations_page(
    request: Request,
    workspace: str,
    db: Session,
    user: WebUserDep,
    repository: str = "",
    result: Annotated[list[str] | None, Query()] = None,
    trigger: Annotated[list[str] | None, Query()] = None,
    since: str = "",
    until: str = "",
    before: int | None = None,
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    results = [r for r in result or [] if r in RESULTS]
    triggers = [t for t in trigger or [] if t in TRIGGERS]
    # The admin API's query (joins for repository, token and user names) plus a trigger filter.
    query = api._query().where(EvaluationRow.workspace_id == ctx.workspace.id)
    if repository:
        repo = await get_repository(db, ctx.workspace, repository)
        query = query.where(EvaluationRow.repository_id == repo.id)
    if results:
        query = query.where(EvaluationRow.result.in_(results))
    if triggers:
        query = query.where(EvaluationRow.trigger.in_(triggers))
    start, end = _day(since), _day(until)
    if start is not None:
        query = query.where(EvaluationRow.created_at >= start)
    if end is not None:
        query = query.where(EvaluationRow.created_at < end + timedelta(days=1))
    if before is not None:
        query = query.where(EvaluationRow.id < before)
    rows = (await db.execute(query.order_by(EvaluationRow.id.desc()).limit(PAGE_SIZE + 1))).all()
    items = [api._out(row, slug, token, who) for row, slug, token, who in rows[:PAGE_SIZE]]
    authors = {row.id: _authors(row.event or {}) for row, *_ in rows[:PAGE_SIZE]}
    filters: dict[str, Any] = {
        "repository": repository,
        "result": results,
        "trigger": triggers,
        "since": since,
        "until": until,
    }
    next_url = ""
    if len(rows) > PAGE_SIZE:
        params = [
            (k, v) for k, vs in filters.items() for v in (vs if isinstance(vs, list) else [vs])
        ]
        params = [(k, v) for k, v in params if v] + [("before", str(items[-1].id))]
        next_url = f"{ctx.base}/evaluations?{urlencode(params)}"
    return page(
        request,
        ctx,
        "evaluations.html",
        items=items,
        authors=authors,
        filters=filters,
        results=RESULTS,
        triggers=TRIGGERS,
        next_url=next_url,
        paged=before is not None,
    )


@router.get(W + "/evaluations/{evaluation_id:int}")
async def evaluation_page(
    request: Request, workspace: str, evaluation_id: int, db: Session, user: WebUserDep
) -> Response:
    ctx = await workspace_ctx(db, user, workspace)
    detail = await api.get_evaluation(workspace, evaluation_id, db, user.principal)
    validations = [
        {**rv, "sections": group_facts(rv)} for rv in detail.document.get("ruleValidations", [])
    ]
    messages = (detail.document.get("errorValidations") or [{}])[0]
    return page(
        request,
        ctx,
        "evaluation.html",
        e=detail,
        validations=validations,
        messages=messages,
        commits=detail.event.get("commits", []),
    )


@router.get(W)
async def dashboard(
    request: Request, workspace: str, db: Session, user: WebUserDep, days: int = 30
) -> Response:
    """Compliance per workspace: pass/block over time, most failing rules, repositories."""
    ctx = await workspace_ctx(db, user, workspace)
    days = days if days in (7, 30, 90) else 30
    today = datetime.now(UTC).date()
    first_day = today - timedelta(days=days - 1)
    start = datetime.combine(first_day, datetime.min.time(), UTC)
    result = await db.execute(
        select(EvaluationRow.created_at, EvaluationRow.result, EvaluationRow.rules, Repository.slug)
        .outerjoin(Repository, Repository.id == EvaluationRow.repository_id)
        .where(EvaluationRow.workspace_id == ctx.workspace.id, EvaluationRow.created_at >= start)
        .order_by(EvaluationRow.id.desc())
        .limit(DASHBOARD_ROWS)
    )
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    failing: Counter[tuple[str, str]] = Counter()
    per_repo: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    trial = TrialCounter()  # rules in evaluate / warn mode
    for created, verdict, rules, slug in result.all():
        day = created.date().isoformat()
        per_day[day][verdict] += 1
        totals[verdict] += 1
        if verdict != "IGNORE":
            per_repo[slug or "(none)"][verdict] += 1
        trial.add(day, rules)
        for rv in rules or []:
            if rv.get("status") == "BLOCK":
                failing[(str(rv.get("id", "")), str(rv.get("title", "")))] += 1
    series = []
    for i in range(days):
        d = (first_day + timedelta(days=i)).isoformat()
        c = per_day.get(d, Counter())
        series.append(DayCounts(d, c["PASS"], c["BLOCK"], c["WARNING"], c["SKIP"] + c["IGNORE"]))
    day_names = [d.day for d in series]
    trials = trial.trials(day_names)
    escapes = await _escapes(db, ctx.workspace.id, start)
    top_rules = failing.most_common(8)
    repos = []
    for slug, c in per_repo.items():
        evaluated = sum(c.values())
        compliant = evaluated - c["BLOCK"]
        repos.append((slug, compliant / evaluated if evaluated else 1.0, evaluated, c["BLOCK"]))
    repos.sort(key=lambda r: (-r[1], r[0]))
    judged = sum(v for k, v in totals.items() if k != "IGNORE")
    charts = {
        "time": over_time(series),
        "rules": horizontal_bars(
            [(title or rid, n, _("%(n)s blocked", n=n)) for (rid, title), n in top_rules],
            title=_("Most failing rules (blocks)"),
            css="bar-fail",
        )
        if top_rules
        else None,
        "repos": horizontal_bars(
            [
                (slug, rate * 100, _("%(rate)s of %(n)s", rate=format(rate, ".0%"), n=n))
                for slug, rate, n, _blocked in repos[:12]
            ],
            title=_("Repositories by compliance (share of evaluations not blocked)"),
            css="bar-rate",
            maximum=100,
            percent=True,
        )
        if repos
        else None,
        "trials": would_have_blocked(trials, day_names) if trials else None,
    }
    return page(
        request,
        ctx,
        "dashboard.html",
        days=days,
        totals=totals,
        judged=judged,
        total=sum(totals.values()),
        pass_rate=(judged - totals["BLOCK"]) / judged if judged else None,
        charts=charts,
        series=series,
        top_rules=top_rules,
        repos=repos,
        trials=trials,
        escapes=escapes,
        connection_alerts=await connection_alerts(db, ctx),
    )


class TrialCounter:
    """Per rule in ``evaluate`` or ``warn`` mode and day: the changes it would have blocked
    and the evaluations it ran in, from ``EvaluationRow.rules`` (ADR 0011; a summary stored
    before modes existed has no ``mode``: enforce, not counted)."""

    def __init__(self) -> None:
        self.blocked: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        self.ran: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        self.mode: dict[tuple[str, str], str] = {}

    def add(self, day: str, rules: Any) -> None:
        for rv in rules or []:
            mode = rv.get("mode") or "enforce"
            if mode not in ("evaluate", "warn"):
                continue
            key = (str(rv.get("id", "")), str(rv.get("title", "")))
            self.mode.setdefault(key, str(mode))  # rows come newest first: the current mode
            if rv.get("status") not in ("SKIP", "IGNORE"):
                self.ran[key][day] += 1
            if rv.get("wouldHaveBlocked"):
                self.blocked[key][day] += 1

    def trials(self, days: list[str], limit: int = 12) -> list[RuleTrial]:
        """Evaluate-mode rules first, then the most blocking."""
        out = [
            RuleTrial(
                rid,
                title,
                mode,
                tuple(self.blocked[(rid, title)][d] for d in days),
                tuple(self.ran[(rid, title)][d] for d in days),
            )
            for (rid, title), mode in self.mode.items()
        ]
        out.sort(key=lambda t: (t.mode != "evaluate", -t.total_blocked, t.title))
        return out[:limit]


async def rule_trials(
    db: Session, workspace_id: int, days: int = 30
) -> tuple[list[RuleTrial], list[str]]:
    """The trials of the last ``days`` days and the day names (the rules page's chart)."""
    today = datetime.now(UTC).date()
    first_day = today - timedelta(days=days - 1)
    start = datetime.combine(first_day, datetime.min.time(), UTC)
    result = await db.execute(
        select(EvaluationRow.created_at, EvaluationRow.rules)
        .where(EvaluationRow.workspace_id == workspace_id, EvaluationRow.created_at >= start)
        .order_by(EvaluationRow.id.desc())
        .limit(DASHBOARD_ROWS)
    )
    counter = TrialCounter()
    for created, rules in result.all():
        counter.add(created.date().isoformat(), rules)
    names = [(first_day + timedelta(days=i)).isoformat() for i in range(days)]
    return counter.trials(names), names


async def _escapes(db: Session, workspace_id: int, start: datetime) -> list[dict[str, Any]]:
    """The escape-token uses of the period, newest first, from the stored documents'
    ``exemptions`` (docs/rules.md): one entry per exempted commit, with its evaluation."""
    result = await db.execute(
        select(EvaluationRow.id, EvaluationRow.created_at, EvaluationRow.document["exemptions"])
        .where(EvaluationRow.workspace_id == workspace_id, EvaluationRow.created_at >= start)
        .order_by(EvaluationRow.id.desc())
        .limit(ESCAPE_ROWS)
    )
    out: list[dict[str, Any]] = []
    for evaluation_id, created, exemptions in result.all():
        for entry in exemptions if isinstance(exemptions, list) else ():
            if isinstance(entry, dict) and entry.get("kind") == "escape":
                out.append(
                    {
                        "evaluation": evaluation_id,
                        "created": created,
                        "commit": str(entry.get("commit") or "")[:12],
                        "author": str(entry.get("author") or ""),
                        "reason": str(entry.get("reason") or ""),
                    }
                )
    return out
