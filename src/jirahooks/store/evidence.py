"""Evidence for auditors: the stored evaluations of a period as records an auditor can read —
for each change who, when, which commits, which keys (with each key's Jira status and type as
Jira gave them at evaluation time), which rules ran in which mode at which configuration
version, the verdict, the exemptions and escapes used — as CSV, JSON or a one-page HTML summary
(docs/audit.md).

Large periods stream: rows are read in id order a batch at a time (keyset pages), their JSON
columns as text, and turned into records and encoded by ``run_cpu`` (the server's CPU pool; the
CLI runs inline). A sample (``sample=N, seed=S``) keeps the N rows whose
``sha256(seed:id)`` is smallest: the same seed gives the same changes, whatever order the rows
are read in, with memory for N ids only.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import heapq
import html
import io
import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.errors import UsageError
from jirahooks.store.models import EvaluationRow, Repository, User, ValidationToken, Workspace

FORMATS = ("csv", "json", "html")
BATCH = 100
MAX_SAMPLE = 10_000
CHANGE = {
    "COMMIT": "commit",
    "PUSH": "push",
    "PULL_REQUEST": "pull request",
    "MERGE_COMMIT": "merge",
}
CSV_COLUMNS = (
    "id",
    "time",
    "repository",
    "change",
    "branch",
    "pull_request",
    "who",
    "source",
    "token",
    "commits",
    "keys",
    "rules",
    "config_version",
    "result",
    "exemptions",
    "escapes",
    "request_id",
    "chain_seq",
    "chain_hash",
)

RunCpu = Callable[..., Awaitable[Any]]


async def _inline(fn: Callable[..., Any], /, *args: Any) -> Any:
    return fn(*args)


def parse_day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value[:10]) if len(value) > 10 else date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(
            f"{name} {value!r} is not a date",
            hint="give a date as YYYY-MM-DD, e.g. --from 2026-07-01 --to 2026-09-30",
            code="EVIDENCE_BAD_DATE",
        ) from exc


@dataclass(frozen=True)
class Period:
    """From the start of ``first`` to the end of ``last`` (UTC days, both included)."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise UsageError(
                f"the period ends ({self.last}) before it starts ({self.first})",
                hint="give --from before --to (both days are included)",
                code="EVIDENCE_BAD_PERIOD",
            )

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time.min, UTC)


@dataclass(frozen=True)
class Selection:
    """Which evaluations an export holds."""

    workspace: Workspace
    period: Period
    repository: Repository | None = None
    sample: int | None = None
    seed: str = ""

    @classmethod
    def make(
        cls,
        workspace: Workspace,
        period: Period,
        repository: Repository | None = None,
        sample: int | None = None,
        seed: str | None = None,
    ) -> Selection:
        if sample is not None and not 1 <= sample <= MAX_SAMPLE:
            raise UsageError(
                f"sample {sample}: the number of changes must be between 1 and {MAX_SAMPLE}",
                hint="e.g. --sample 25 --seed q3-audit",
                code="EVIDENCE_BAD_SAMPLE",
            )
        if sample is not None and not seed:
            seed = secrets.token_hex(8)  # reported in the export, so the sample can be repeated
        return cls(workspace, period, repository, sample, seed or "")

    def meta(self, head: tuple[int, str] | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "workspace": self.workspace.slug,
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "repository": self.repository.slug if self.repository else None,
            "generatedAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            # the chain's head when exported: an auditor who keeps it can later check that the
            # log still holds this link (docs/audit.md)
            "chainHead": {"seq": head[0], "hash": head[1]} if head else None,
        }
        if self.sample is not None:
            out["sample"] = {"size": self.sample, "seed": self.seed}
        return out


def _where(query: Any, selection: Selection) -> Any:
    query = query.where(
        EvaluationRow.workspace_id == selection.workspace.id,
        EvaluationRow.created_at >= selection.period.start,
        EvaluationRow.created_at < selection.period.end,
    )
    if selection.repository is not None:
        query = query.where(EvaluationRow.repository_id == selection.repository.id)
    return query


def sample_rank(seed: str, evaluation_id: int) -> bytes:
    return hashlib.sha256(f"{seed}:{evaluation_id}".encode()).digest()


def rank_into(heap: list[tuple[bytes, int]], seed: str, ids: Sequence[int], size: int) -> None:
    """Keep in ``heap`` the ``size`` ids of smallest ``sample_rank`` seen so far (a max-heap on
    the rank: its bytes inverted). CPU work: run on the pool, one page of ids at a time."""
    for evaluation_id in ids:
        item = (bytes(255 - b for b in sample_rank(seed, evaluation_id)), evaluation_id)
        if len(heap) < size:
            heapq.heappush(heap, item)
        elif item > heap[0]:
            heapq.heapreplace(heap, item)


async def sampled_ids(
    session: AsyncSession, selection: Selection, run: RunCpu | None = None
) -> list[int]:
    """The ids of a sample: the ``sample`` rows of the selection ranked first by
    ``sample_rank`` (the ids are streamed a page at a time; only the sample is held)."""
    assert selection.sample is not None
    run = run or _inline
    heap: list[tuple[bytes, int]] = []
    after = 0
    while True:
        query = _where(select(EvaluationRow.id), selection).where(EvaluationRow.id > after)
        ids = list((await session.execute(query.order_by(EvaluationRow.id).limit(5000))).scalars())
        if not ids:
            break
        await run(rank_into, heap, selection.seed, ids, selection.sample)
        after = ids[-1]
    return sorted(evaluation_id for _, evaluation_id in heap)


_COLUMNS = (
    EvaluationRow.id,
    EvaluationRow.created_at,
    EvaluationRow.source,
    EvaluationRow.trigger,
    EvaluationRow.branch,
    EvaluationRow.result,
    EvaluationRow.config_version,
    EvaluationRow.request_id,
    EvaluationRow.chain_seq,
    EvaluationRow.chain_hash,
    Repository.slug.label("repository"),
    ValidationToken.name.label("token"),
    User.name.label("user"),
    # as text: parsed on the CPU pool, not by the driver on the event loop
    cast(EvaluationRow.event, Text).label("event"),
    cast(EvaluationRow.document, Text).label("document"),
    cast(EvaluationRow.issues, Text).label("issues"),
)


async def raw_rows(
    session: AsyncSession, selection: Selection, run: RunCpu | None = None
) -> AsyncIterator[list[dict[str, Any]]]:
    """The selected rows in id order, ``BATCH`` at a time, JSON columns as text."""
    base = (
        select(*_COLUMNS)
        .outerjoin(Repository, Repository.id == EvaluationRow.repository_id)
        .outerjoin(ValidationToken, ValidationToken.id == EvaluationRow.token_id)
        .outerjoin(User, User.id == EvaluationRow.user_id)
    )
    base = _where(base, selection)
    if selection.sample is not None:
        ids = await sampled_ids(session, selection, run)
        for i in range(0, len(ids), BATCH):
            chunk = ids[i : i + BATCH]
            query = base.where(EvaluationRow.id.in_(chunk)).order_by(EvaluationRow.id)
            yield [dict(r._mapping) for r in (await session.execute(query)).all()]
        return
    after = 0
    while True:
        query = base.where(EvaluationRow.id > after).order_by(EvaluationRow.id).limit(BATCH)
        batch = [dict(r._mapping) for r in (await session.execute(query)).all()]
        if not batch:
            return
        yield batch
        after = int(batch[-1]["id"])


# -- records (pure: run on the CPU pool) ----------------------------------------------------


def _loads(text: Any) -> Any:
    if text is None:
        return None
    if not isinstance(text, str):
        return text
    import orjson

    return orjson.loads(text)


def _when(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text: str = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return text


def _keys(document: Mapping[str, Any], issues: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every key the evaluation looked at, with its Jira status and type as stored then
    (``issues`` column, else the rule's ``issuesUnderReview``); keys Jira did not know (or
    could not be asked about) come from the facts, without a status."""
    seen: dict[str, dict[str, Any]] = {}
    for key, issue in issues.items():
        if isinstance(issue, Mapping):
            seen[str(key)] = dict(issue)
    for rv in document.get("ruleValidations") or ():
        if not isinstance(rv, Mapping):
            continue
        for key, issue in (rv.get("issuesUnderReview") or {}).items():
            if isinstance(issue, Mapping):
                seen.setdefault(str(key), dict(issue))
        for fact in (*(rv.get("conditionFacts") or ()), *(rv.get("checkFacts") or ())):
            params = fact.get("params") if isinstance(fact, Mapping) else None
            if not isinstance(params, Mapping):
                continue
            named: list[Any] = [params.get("key"), *str(params.get("keys") or "").split(",")]
            for name in named:
                if isinstance(name, str) and name.strip():
                    seen.setdefault(name.strip(), {})
    return [
        {
            "key": key,
            "status": str(issue.get("status") or ""),
            "statusCategory": str(issue.get("statusCategory") or ""),
            "issueType": str(issue.get("issueType") or ""),
            "found": bool(issue),
        }
        for key, issue in sorted(seen.items())
    ]


def _rules(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for rv in document.get("ruleValidations") or ():
        if not isinstance(rv, Mapping):
            continue
        found = rv.get("rule")
        rule: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        mode = rv.get("mode") or rule.get("mode") or "enforce"
        entry: dict[str, Any] = {
            "id": str(rule.get("id") or ""),
            "title": str(rule.get("title") or rule.get("name") or ""),
            "mode": str(mode),
            "status": str(rv.get("ruleStatus") or ""),
        }
        if rv.get("wouldHaveBlocked"):
            entry["wouldHaveBlocked"] = True
        out.append(entry)
    return out


def record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One change's evidence from one stored row (``raw_rows``)."""
    event = _loads(row.get("event")) or {}
    document = _loads(row.get("document")) or {}
    issues = _loads(row.get("issues")) or {}
    commits = [
        {"hash": str(c.get("hash") or ""), "author": str(c.get("authorDisplayName") or "")}
        for c in event.get("commits") or ()
        if isinstance(c, Mapping)
    ]
    pr = event.get("pullRequest") if isinstance(event.get("pullRequest"), Mapping) else None
    pr_author = ""
    if pr is not None:
        author = pr.get("author")
        if isinstance(author, Mapping):
            author = author.get("displayName") or author.get("name") or author.get("nickname")
        pr_author = str(author or "")
    authors = list(dict.fromkeys(c["author"] for c in commits if c["author"]))
    exempt = [dict(e) for e in document.get("exemptions") or () if isinstance(e, Mapping)]
    trigger = str(row.get("trigger") or "")
    out: dict[str, Any] = {
        "id": int(row["id"]),
        "time": _when(row["created_at"]),
        "repository": row.get("repository") or event.get("repository") or "",
        "change": CHANGE.get(trigger, trigger.lower()),
        "trigger": trigger,
        "branch": str(row.get("branch") or ""),
        "who": {
            "authors": authors,
            "pullRequestAuthor": pr_author,
            "token": row.get("token") or "",
            "user": row.get("user") or "",
        },
        "source": str(row.get("source") or ""),
        "commits": commits,
        "keys": _keys(document, issues),
        "rules": _rules(document),
        "configVersion": row.get("config_version"),
        "result": str(row.get("result") or ""),
        "exemptions": [e for e in exempt if e.get("kind") != "escape"],
        "escapes": [e for e in exempt if e.get("kind") == "escape"],
        "requestId": str(row.get("request_id") or ""),
        "chain": {"seq": row.get("chain_seq"), "hash": row.get("chain_hash")},
    }
    if pr is not None:
        out["pullRequest"] = {
            "id": pr.get("id"),
            "title": str(pr.get("title") or ""),
            "destination": str(pr.get("destinationBranch") or ""),
            "url": str(pr.get("url") or ""),
        }
    return out


def records(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [record(row) for row in rows]


def _exemption_text(e: Mapping[str, Any]) -> str:
    why = e.get("reason") or e.get("bot") or e.get("tool") or e.get("reverted") or ""
    commit = str(e.get("commit") or "")[:12]
    return f"{commit} {e.get('kind', '')}" + (f": {why}" if why else "")


def csv_row(r: Mapping[str, Any]) -> list[str]:
    who = list(r["who"]["authors"])
    if r["who"]["pullRequestAuthor"] and r["who"]["pullRequestAuthor"] not in who:
        who.append(r["who"]["pullRequestAuthor"])
    keys = "; ".join(
        f"{k['key']} ({k['status'] or 'not found'}, {k['issueType'] or '-'})" for k in r["keys"]
    )
    rules = "; ".join(f"{x['id']}={x['status']} ({x['mode']})" for x in r["rules"])
    pr = r.get("pullRequest")
    return [
        str(r["id"]),
        r["time"],
        r["repository"],
        r["change"],
        r["branch"],
        "" if pr is None else f"#{pr['id']} {pr['title']}".strip(),
        ", ".join(who),
        r["source"],
        r["who"]["token"],
        " ".join(c["hash"] for c in r["commits"]),
        keys,
        rules,
        "" if r["configVersion"] is None else str(r["configVersion"]),
        r["result"],
        "; ".join(_exemption_text(e) for e in r["exemptions"]),
        "; ".join(_exemption_text(e) for e in r["escapes"]),
        r["requestId"],
        "" if r["chain"]["seq"] is None else str(r["chain"]["seq"]),
        r["chain"]["hash"] or "",
    ]


def _csv_safe(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection): text from commits and
    branch names is the pusher's."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def encode_csv(rs: Iterable[Mapping[str, Any]], header: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for r in rs:
        writer.writerow([_csv_safe(c) for c in csv_row(r)])
    return buffer.getvalue().encode("utf-8")


def encode_json_items(rs: Sequence[Mapping[str, Any]], first: bool) -> bytes:
    parts = [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rs]
    if not parts:
        return b""
    return (("" if first else ",\n") + ",\n".join(parts)).encode("utf-8")


def csv_batch(rows: Sequence[Mapping[str, Any]], header: bool) -> bytes:
    return encode_csv(records(rows), header)


def json_batch(rows: Sequence[Mapping[str, Any]], first: bool) -> bytes:
    return encode_json_items(records(rows), first)


# -- the one-page summary ---------------------------------------------------------------------


@dataclass
class Summary:
    """Totals of a period for the HTML page, kept while the rows stream by."""

    changes: int = 0
    results: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    repositories: Counter[str] = field(default_factory=Counter)
    rules: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    exemptions: Counter[str] = field(default_factory=Counter)
    escapes: int = 0
    config_versions: set[int] = field(default_factory=set)
    unresolved_keys: int = 0
    keys: int = 0
    first_id: int | None = None
    last_id: int | None = None
    blocked: list[dict[str, Any]] = field(default_factory=list)

    def add(self, rs: Iterable[Mapping[str, Any]]) -> None:
        for r in rs:
            self.changes += 1
            self.first_id = r["id"] if self.first_id is None else self.first_id
            self.last_id = r["id"]
            self.results[r["result"]] += 1
            self.kinds[r["change"]] += 1
            self.repositories[r["repository"] or "—"] += 1
            for rule in r["rules"]:
                counts = self.rules.setdefault((rule["id"], rule["mode"]), Counter())
                counts[rule["status"]] += 1
                if rule.get("wouldHaveBlocked"):
                    counts["wouldHaveBlocked"] += 1
            for e in r["exemptions"]:
                self.exemptions[str(e.get("kind") or "")] += 1
            self.escapes += len(r["escapes"])
            if r["configVersion"] is not None:
                self.config_versions.add(int(r["configVersion"]))
            self.keys += len(r["keys"])
            self.unresolved_keys += sum(1 for k in r["keys"] if not k["found"])
            if r["result"] == "BLOCK" and len(self.blocked) < 20:
                self.blocked.append(
                    {"id": r["id"], "time": r["time"], "repository": r["repository"]}
                )


def summary_batch(summary: Summary, rows: Sequence[Mapping[str, Any]]) -> None:
    summary.add(records(rows))


STYLE = (
    "body{font:13px/1.4 system-ui,sans-serif;margin:24px;color:#111}"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px}"
    "table{border-collapse:collapse;width:100%}th,td{border:1px solid #bbb;padding:3px 6px;"
    "text-align:left;vertical-align:top}th{background:#eee}.num{text-align:right}"
    ".muted{color:#555}.mono{font-family:ui-monospace,monospace;font-size:11px;"
    "word-break:break-all}@page{size:A4;margin:14mm}@media print{body{margin:0}}"
)
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
# The summary is one self-contained page: its own style block, nothing loaded from anywhere.
HTML_CSP = f"default-src 'none'; style-src '{STYLE_HASH}'; base-uri 'none'; form-action 'none'"


def _table(head: Sequence[str], rows: Iterable[Sequence[Any]], numeric: int = 1) -> str:
    e = html.escape
    out = ["<table><thead><tr>", *(f"<th>{e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = ' class="num"' if i >= len(row) - numeric else ""
            cells.append(f"<td{cls}>{e(str(cell))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    if len(out) == 4:
        out.append(f'<tr><td colspan="{len(head)}" class="muted">none</td></tr>')
    out.append("</tbody></table>")
    return "".join(out)


def render_html(summary: Summary, meta: Mapping[str, Any]) -> bytes:
    e = html.escape
    scope = meta["repository"] or "all repositories"
    head = meta.get("chainHead") or {}
    sample = meta.get("sample")
    statuses = ("PASS", "WARNING", "BLOCK", "SKIP", "IGNORE")
    rule_rows = [
        (rid, mode, *(counts.get(s, 0) for s in statuses), counts.get("wouldHaveBlocked", 0))
        for (rid, mode), counts in sorted(summary.rules.items())
    ]
    versions = sorted(summary.config_versions)
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{e(HTML_CSP)}">',
        f"<title>Evidence {e(meta['workspace'])} {e(meta['from'])} – {e(meta['to'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Evidence: workspace {e(meta['workspace'])}, {e(scope)}</h1>",
        f'<p class="muted">Period {e(meta["from"])} to {e(meta["to"])} (UTC, both days '
        f"included) · generated {e(meta['generatedAt'])}"
        + (
            f" · sample of {sample['size']} changes, seed {e(str(sample['seed']))}"
            if sample
            else ""
        )
        + "</p>",
        "<h2>Changes checked</h2>",
        _table(
            ("what", "count"),
            [
                ("changes evaluated", summary.changes),
                *((f"result {r}", summary.results.get(r, 0)) for r in statuses),
                *((f"{k}", n) for k, n in sorted(summary.kinds.items())),
                ("issue keys looked at", summary.keys),
                ("of them unknown to Jira or not determined", summary.unresolved_keys),
                ("exempt commits", sum(summary.exemptions.values())),
                ("escape tokens used", summary.escapes),
            ],
        ),
        "<h2>Repositories</h2>",
        _table(("repository", "changes"), sorted(summary.repositories.items())),
        "<h2>Rules, by mode</h2>",
        _table(("rule", "mode", *statuses, "would have blocked"), rule_rows, numeric=6),
        "<h2>Exemptions</h2>",
        _table(("kind", "commits"), sorted(summary.exemptions.items())),
        "<h2>Blocked changes</h2>",
        _table(
            ("evaluation", "time", "repository"),
            [(b["id"], b["time"], b["repository"]) for b in summary.blocked],
            numeric=0,
        ),
        "<h2>Integrity</h2>",
        _table(
            ("what", "value"),
            [
                ("configuration versions", ", ".join(map(str, versions)) or "not recorded"),
                (
                    "evaluations",
                    f"{summary.first_id} – {summary.last_id}" if summary.changes else "none",
                ),
                ("chain head at export", f"link {head.get('seq', 0)}"),
            ],
            numeric=0,
        ),
        f'<p class="mono">chain head hash: {e(str(head.get("hash", "")))}</p>',
        '<p class="muted">Every evaluation is a link of the workspace\'s hash chain: '
        "<code>jirahooks evidence verify</code> checks that no stored evaluation was changed, "
        "deleted or inserted. The CSV and JSON exports hold each change's commits, keys, "
        "rules and verdict.</p></body></html>",
    ]
    return "".join(parts).encode("utf-8")


# -- the export as a stream of bytes -----------------------------------------------------------


async def export(
    session: AsyncSession,
    selection: Selection,
    fmt: str,
    *,
    run_cpu: RunCpu | None = None,
) -> AsyncIterator[bytes]:
    """The export as chunks of bytes (one per batch of rows): CSV, JSON or the HTML page."""
    from jirahooks.store.chain import chain_heads

    run = run_cpu or _inline
    heads = await chain_heads(session, [selection.workspace.id])
    meta = selection.meta(heads.get(selection.workspace.id))
    if fmt == "csv":
        first = True
        async for batch in raw_rows(session, selection, run):
            yield await run(csv_batch, batch, first)
            first = False
        if first:
            yield await run(csv_batch, [], True)
        return
    if fmt == "json":
        head = json.dumps(meta, ensure_ascii=False, sort_keys=True)
        yield (head[:-1] + ', "changes": [\n').encode("utf-8")
        first = True
        async for batch in raw_rows(session, selection, run):
            chunk = await run(json_batch, batch, first)
            first = first and not chunk
            if chunk:
                yield chunk
        yield b"\n]}\n"
        return
    if fmt == "html":
        summary = Summary()
        async for batch in raw_rows(session, selection, run):
            await run(summary_batch, summary, batch)
        yield await run(render_html, summary, meta)
        return
    raise UsageError(
        f"format {fmt!r} is not one of {', '.join(FORMATS)}",
        hint="--format csv, json or html",
        code="EVIDENCE_BAD_FORMAT",
    )


MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "html": "text/html; charset=utf-8",
}


def filename(selection: Selection, fmt: str) -> str:
    repo = f"-{selection.repository.slug}" if selection.repository else ""
    sample = f"-sample{selection.sample}" if selection.sample else ""
    name = f"evidence-{selection.workspace.slug}{repo}-{selection.period.first}-"
    name += f"{selection.period.last}{sample}.{fmt}"
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name)
