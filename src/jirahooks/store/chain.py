"""The evaluation log's hash chain: every stored evaluation is a link, so a changed, deleted or
inserted row is found by ``verify`` (docs/audit.md, docs/decisions/0012-evaluation-chain.md).

Per workspace, evaluations carry ``chain_seq`` (1, 2, 3, … without gaps) and ``chain_hash``::

    content = sha256(canonical JSON of the row's audited fields)         # CPU: off the loop
    chain_hash = sha256(prev_hash (32 bytes) || b"<seq>:" || content)    # cheap, under a lock

``prev_hash`` of the first link is 32 zero bytes. The audited fields (``AUDITED``) are what an
auditor relies on: when, what was evaluated, the verdict and the document; not the references
that ``ON DELETE SET NULL`` changes by design (repository, token, user: the repository's slug
is in the event itself).

Writers append under one lock per workspace: the workspace's row in
``evaluation_chain_heads`` (seq and hash of its last link), taken ``FOR UPDATE`` on PostgreSQL
inside the inserting transaction and released by its commit; on SQLite the first statement is
a write to that row, which takes SQLite's one write lock before anything is read. The head also
lets ``verify`` notice rows deleted at the end of the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from jirahooks.store.database import EncodedJSON
from jirahooks.store.models import EvaluationChainHead, EvaluationRow, Workspace, utcnow

GENESIS = "0" * 64
# Canonical form version: bump (and keep the old one for old rows) if AUDITED ever changes.
FORM = 1
AUDITED = (
    "workspace_id",
    "created_at",
    "source",
    "trigger",
    "branch",
    "result",
    "duration_ms",
    "config_version",
    "request_id",
    "event",
    "rules",
    "document",
    "issues",
)
VERIFY_BATCH = 200
JSON_DEFAULTS: dict[str, Any] = {"rules": [], "issues": {}}

RunCpu = Callable[..., Awaitable[Any]]


def _json_value(value: Any) -> Any:
    """A JSON column's value as it reads back: ``EncodedJSON`` text parsed, the rest as is."""
    if isinstance(value, EncodedJSON):
        import orjson

        return orjson.loads(str(value))  # orjson takes exact str only
    return value


def _when(value: Any) -> str:
    if isinstance(value, str):  # a SQLite row read without the column's type
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text: str = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return text


def _dumps(content: dict[str, Any]) -> bytes:
    import orjson

    try:
        return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        # Not JSON as orjson takes it (non-string keys, integers beyond 64 bits): first as the
        # column stores it, and the integers as text if still needed; a row read back takes
        # the same way, so both sides agree.
        plain = json.loads(json.dumps(content))
        try:
            return orjson.dumps(plain, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return json.dumps(plain, sort_keys=True, separators=(",", ":")).encode("utf-8")


def canonical(values: Mapping[str, Any]) -> bytes:
    """The audited fields of an evaluation row (column values, as written or read back) as
    canonical JSON: sorted keys, no whitespace, UTC times with microseconds."""
    content: dict[str, Any] = {"form": FORM}
    for name in AUDITED:
        value = values.get(name)
        if name == "created_at":
            content[name] = _when(value)
        elif name in ("event", "rules", "document", "issues"):
            value = _json_value(value)
            # a row written without them holds the columns' defaults
            content[name] = JSON_DEFAULTS.get(name) if value is None else value
        elif name == "duration_ms":
            content[name] = float(value or 0.0)
        else:
            content[name] = value if value is not None or name == "config_version" else ""
    return _dumps(content)


def content_digest(values: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(canonical(values)).digest()


def content_digests(rows: Sequence[Mapping[str, Any]]) -> list[bytes]:
    """``content_digest`` of each row: one call for the CPU pool per batch."""
    return [content_digest(row) for row in rows]


def link(prev_hash: str, seq: int, digest: bytes) -> str:
    """The chain hash of link ``seq`` after ``prev_hash`` (hex) for content ``digest``."""
    h = hashlib.sha256(bytes.fromhex(prev_hash))
    h.update(f"{seq}:".encode("ascii"))
    h.update(digest)
    return h.hexdigest()


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


async def _lock_heads(session: AsyncSession, workspace_ids: list[int]) -> dict[int, list[Any]]:
    """The chain heads of ``workspace_ids`` (created where missing), locked until the
    transaction ends; ``{workspace_id: [seq, hash]}``."""
    heads = _table(EvaluationChainHead)
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        # Take SQLite's write lock first (a deferred transaction only takes it at its first
        # write), so no other connection appends between this read and this commit.
        await session.execute(
            update(heads)
            .where(heads.c.workspace_id.in_(workspace_ids))
            .values(seq=heads.c.seq)
            .execution_options(synchronize_session=False)
        )
    query = (
        select(heads.c.workspace_id, heads.c.seq, heads.c.hash)
        .where(heads.c.workspace_id.in_(workspace_ids))
        .order_by(heads.c.workspace_id)  # one lock order for every writer: no deadlock
        .with_for_update()
    )
    found = {row[0]: [row[1], row[2]] for row in (await session.execute(query)).all()}
    missing = [w for w in workspace_ids if w not in found]
    if missing:
        await _create_heads(session, dialect, missing)
        again = query.where(heads.c.workspace_id.in_(missing))
        found.update({row[0]: [row[1], row[2]] for row in (await session.execute(again)).all()})
    return found


async def _create_heads(session: AsyncSession, dialect: str, workspace_ids: list[int]) -> None:
    """A head for each workspace without one, continuing its chain if it has links (the
    migration made heads for the workspaces of its day)."""
    heads = _table(EvaluationChainHead)
    evaluations = _table(EvaluationRow)
    rows = []
    for workspace_id in workspace_ids:
        last = (
            await session.execute(
                select(evaluations.c.chain_seq, evaluations.c.chain_hash)
                .where(
                    evaluations.c.workspace_id == workspace_id,
                    evaluations.c.chain_seq.is_not(None),
                )
                .order_by(evaluations.c.chain_seq.desc())
                .limit(1)
            )
        ).first()
        seq, hash_ = (int(last[0]), str(last[1])) if last is not None else (0, GENESIS)
        rows.append(
            {"workspace_id": workspace_id, "seq": seq, "hash": hash_, "updated_at": utcnow()}
        )
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        await session.execute(pg_insert(heads).on_conflict_do_nothing(), rows)
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        await session.execute(sqlite_insert(heads).on_conflict_do_nothing(), rows)
    else:  # pragma: no cover - jirahooks runs on SQLite and PostgreSQL
        await session.execute(insert(heads), rows)


async def digest_rows(rows: Sequence[dict[str, Any]], run_cpu: RunCpu | None = None) -> list[bytes]:
    """The content hashes of rows about to be inserted (``created_at`` set where absent: it is
    part of the content), on ``run_cpu`` when given. Needs no lock: callers compute them before
    they take one (the writer does, before its SQLite write lock)."""
    for row in rows:
        if row.get("created_at") is None:
            row["created_at"] = utcnow()
    return list(await run_cpu(content_digests, rows) if run_cpu else content_digests(rows))


async def insert_chained(
    session: AsyncSession,
    rows: Sequence[dict[str, Any]],
    *,
    run_cpu: RunCpu | None = None,
    digests: Sequence[bytes] | None = None,
    returning: bool = False,
) -> list[int]:
    """Insert evaluation rows (``queries.evaluation_values``) as the next links of their
    workspaces' chains, in this order, within the caller's transaction (which must commit to
    release the heads). ``digests``: ``digest_rows(rows)`` computed beforehand, else computed
    here (on ``run_cpu`` when given). Returns the new ids when ``returning``."""
    if not rows:
        return []
    if digests is None or len(digests) != len(rows):
        digests = await digest_rows(rows, run_cpu)
    heads = await _lock_heads(session, sorted({int(r["workspace_id"]) for r in rows}))
    for row, digest in zip(rows, digests, strict=True):
        head = heads.get(int(row["workspace_id"]))
        if head is None:  # a deleted workspace: let the foreign key refuse the row
            row["chain_seq"], row["chain_hash"] = None, None
            continue
        head[0] += 1
        head[1] = link(head[1], head[0], digest)
        row["chain_seq"], row["chain_hash"] = head[0], head[1]
    table = _table(EvaluationRow)
    ids: list[int] = []
    if returning:
        for row in rows:
            result = await session.execute(insert(table).returning(table.c.id), row)
            ids.append(int(result.scalar_one()))
    elif len({frozenset(r) for r in rows}) > 1:
        # a multi-row INSERT takes its columns from the first row: rows that differ go one by one
        for row in rows:
            await session.execute(insert(table), row)
    else:
        await session.execute(insert(table), list(rows))
    heads_table = _table(EvaluationChainHead)
    now = utcnow()
    for workspace_id, (seq, hash_) in heads.items():
        await session.execute(
            update(heads_table)
            .where(heads_table.c.workspace_id == workspace_id)
            .values(seq=seq, hash=hash_, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids


# -- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One broken link: ``kind`` is CHANGED, DELETED, INSERTED or HEAD; ``evaluation_id`` the
    row where it shows (the row after a gap for DELETED; None: the end of the chain)."""

    kind: str
    evaluation_id: int | None
    seq: int | None
    message: str


@dataclass
class Report:
    """What ``verify`` found for one workspace."""

    workspace: str
    links: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        """The first broken link, in the order the rows were written (by id)."""
        ordered = sorted(
            self.problems,
            key=lambda p: (p.evaluation_id is None, p.evaluation_id or 0, p.seq or 0),
        )
        return ordered[0] if ordered else None

    def to_dict(self) -> dict[str, Any]:
        first = self.first
        return {
            "workspace": self.workspace,
            "ok": self.ok,
            "links": self.links,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "firstBroken": None if first is None else _problem(first),
            "problems": [_problem(p) for p in self.problems],
        }


def _problem(p: Problem) -> dict[str, Any]:
    return {"kind": p.kind, "evaluationId": p.evaluation_id, "seq": p.seq, "message": p.message}


_VERIFIED_COLUMNS = ("id", "chain_seq", "chain_hash", *AUDITED)


async def _chained_rows(
    session: AsyncSession, workspace_id: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """The workspace's chained rows in chain order, a batch at a time (bounded memory)."""
    table = _table(EvaluationRow)
    columns = [table.c[name] for name in _VERIFIED_COLUMNS]
    after: tuple[int, int] = (0, 0)
    while True:
        query = (
            select(*columns)
            .where(table.c.workspace_id == workspace_id, table.c.chain_seq.is_not(None))
            .where(
                (table.c.chain_seq > after[0])
                | ((table.c.chain_seq == after[0]) & (table.c.id > after[1]))
            )
            .order_by(table.c.chain_seq, table.c.id)
            .limit(VERIFY_BATCH)
        )
        batch = [dict(r._mapping) for r in (await session.execute(query)).all()]
        if not batch:
            return
        yield batch
        after = (int(batch[-1]["chain_seq"]), int(batch[-1]["id"]))
        session.expunge_all()


async def verify(
    session: AsyncSession, workspace: Workspace, *, run_cpu: RunCpu | None = None
) -> Report:
    """Walk the workspace's chain and report every broken link (see ``Problem``)."""
    report = Report(workspace.slug)
    table = _table(EvaluationRow)
    unchained = (
        await session.execute(
            select(table.c.id)
            .where(table.c.workspace_id == workspace.id, table.c.chain_seq.is_(None))
            .order_by(table.c.id)
        )
    ).scalars()
    for evaluation_id in unchained:
        report.problems.append(
            Problem(
                "INSERTED",
                int(evaluation_id),
                None,
                f"evaluation {evaluation_id} is not part of the chain (inserted outside jirahooks)",
            )
        )
    expected, prev, last_id = 1, GENESIS, None
    async for batch in _chained_rows(session, workspace.id):
        digests = await run_cpu(content_digests, batch) if run_cpu else content_digests(batch)
        for row, digest in zip(batch, digests, strict=True):
            seq, stored, row_id = int(row["chain_seq"]), str(row["chain_hash"]), int(row["id"])
            report.links += 1
            if seq < expected:
                report.problems.append(
                    Problem(
                        "INSERTED",
                        row_id,
                        seq,
                        f"evaluation {row_id} repeats link {seq} of the chain (a row was inserted)",
                    )
                )
                continue
            if seq > expected:
                missing = f"{expected}" if seq == expected + 1 else f"{expected}–{seq - 1}"
                report.problems.append(
                    Problem(
                        "DELETED",
                        row_id,
                        seq,
                        f"link {missing} before evaluation {row_id} is missing (deleted)",
                    )
                )
            elif link(prev, seq, digest) != stored:
                report.problems.append(
                    Problem(
                        "CHANGED",
                        row_id,
                        seq,
                        f"evaluation {row_id} (link {seq}) does not match its hash: its content "
                        "was changed",
                    )
                )
            # carry on from the stored hash: one bad row does not hide the rest of the chain
            expected, prev, last_id = seq + 1, stored, row_id
    heads = _table(EvaluationChainHead)
    head = (
        await session.execute(
            select(heads.c.seq, heads.c.hash).where(heads.c.workspace_id == workspace.id)
        )
    ).first()
    last = expected - 1
    if head is None:
        report.head_seq, report.head_hash = last, prev
        if last:
            report.problems.append(
                Problem("HEAD", None, None, "the chain's head record is missing")
            )
        return report
    report.head_seq, report.head_hash = int(head[0]), str(head[1])
    if report.head_seq > last:
        gone = f"{last + 1}" if report.head_seq == last + 1 else f"{last + 1}–{report.head_seq}"
        after = f" after evaluation {last_id}" if last_id is not None else ""
        report.problems.append(
            Problem(
                "DELETED",
                None,
                last + 1,
                f"link {gone}{after} is missing (deleted at the end of the chain)",
            )
        )
    elif report.head_seq < last or report.head_hash != prev:
        report.problems.append(
            Problem(
                "HEAD",
                None,
                report.head_seq,
                f"the chain's head (link {report.head_seq}) does not match its last link ({last})",
            )
        )
    return report


async def chain_heads(session: AsyncSession, workspace_ids: Iterable[int]) -> dict[int, Any]:
    """``{workspace_id: (seq, hash)}`` of the heads (for evidence exports)."""
    heads = _table(EvaluationChainHead)
    rows = await session.execute(
        select(heads.c.workspace_id, heads.c.seq, heads.c.hash).where(
            heads.c.workspace_id.in_(list(workspace_ids))
        )
    )
    return {int(r[0]): (int(r[1]), str(r[2])) for r in rows.all()}
