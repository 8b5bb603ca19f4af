"""``jirahooks evidence``: evidence for auditors from the server's store (docs/audit.md).

``jirahooks evidence --from 2026-07-01 --to 2026-09-30 [--repo SLUG] [--format csv|json|html]
[--sample 25 --seed q3]`` writes every change of the period (or a reproducible random sample)
with its commits, keys, rules, modes, configuration version and verdict; ``jirahooks evidence
verify`` walks each workspace's hash chain of evaluations and names the first broken link
(exit 1 when one is broken).
"""

from __future__ import annotations

import argparse
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    from jirahooks.server.commands import add_store_options

    parser.add_argument(
        "action",
        nargs="?",
        choices=["export", "verify"],
        default="export",
        help="export (default): the evidence of a period; verify: check the evaluation log's "
        "hash chain (a changed, deleted or inserted row is named)",
    )
    parser.add_argument(
        "--workspace",
        help="workspace slug (default: the default workspace; verify: every workspace)",
    )
    parser.add_argument("--from", dest="first", metavar="DATE", help="first day (UTC), included")
    parser.add_argument("--to", dest="last", metavar="DATE", help="last day (UTC), included")
    parser.add_argument("--repo", metavar="SLUG", help="only this repository's changes")
    parser.add_argument(
        "--format", choices=["csv", "json", "html"], help="default: from FILE's suffix, else csv"
    )
    parser.add_argument("--sample", type=int, metavar="N", help="N random changes of the period")
    parser.add_argument(
        "--seed", metavar="S", help="the sample's seed: the same seed gives the same changes"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument("--json", action="store_true", help="verify: the report as JSON")
    add_store_options(parser)


def run(args: argparse.Namespace) -> int:
    if args.action == "verify":
        return _verify(args)
    return _export(args)


def _open_database(args: argparse.Namespace) -> tuple[Any, Any]:
    from jirahooks.errors import EnvironmentProblem
    from jirahooks.server.commands import _absent_sqlite_file, settings_from
    from jirahooks.store.database import Database

    settings = settings_from(args)
    absent = _absent_sqlite_file(settings.effective_database_url)
    if absent is not None:  # reading evidence must not create an empty database
        raise EnvironmentProblem(
            f"no jirahooks database at {absent}",
            hint="pass the server's --data-dir or --database-url",
            code="DATABASE_NOT_FOUND",
        )
    return settings, Database(settings.effective_database_url)


async def _ready(database: Any) -> None:
    """The schema is there and current; never created or migrated here."""
    from jirahooks.errors import EnvironmentProblem
    from jirahooks.store.database import SchemaState, redacted

    status = await database.status()
    if status.state is SchemaState.EMPTY:
        raise EnvironmentProblem(
            f"the database {redacted(database.url)} holds no jirahooks schema",
            hint="pass the server's --data-dir or --database-url",
            code="DATABASE_NOT_FOUND",
        )
    await database.prepare(upgrade=False)


def _export(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from jirahooks import output
    from jirahooks.errors import EXIT_OK, UsageError
    from jirahooks.store import evidence
    from jirahooks.store.queries import repository_by_slug, workspace_by_slug

    if not args.first or not args.last:
        raise UsageError(
            "the evidence of which period? --from and --to are required",
            hint="e.g. jirahooks evidence --from 2026-07-01 --to 2026-09-30 --format html",
            code="EVIDENCE_NO_PERIOD",
        )
    if args.seed and args.sample is None:
        raise UsageError(
            "--seed chooses a sample: give --sample N too",
            hint="e.g. --sample 25 --seed q3-audit",
            code="EVIDENCE_BAD_SAMPLE",
        )
    period = evidence.Period(
        evidence.parse_day(args.first, "--from"), evidence.parse_day(args.last, "--to")
    )
    fmt = args.format or _format_of(args.output)
    settings, database = _open_database(args)
    slug = args.workspace or settings.default_workspace

    async def main() -> int:
        try:
            await _ready(database)
            async with database.session() as session:
                workspace = await workspace_by_slug(session, slug)
                if workspace is None:
                    raise UsageError(
                        f"no workspace '{slug}' in this database",
                        hint="pass --workspace SLUG (the web UI lists them)",
                        code="WORKSPACE_NOT_FOUND",
                    )
                repository = None
                if args.repo:
                    repository = await repository_by_slug(session, workspace.id, args.repo)
                    if repository is None:
                        raise UsageError(
                            f"no repository '{args.repo}' in workspace '{slug}'",
                            hint="check the slug (the web UI lists the repositories)",
                            code="REPOSITORY_NOT_FOUND",
                        )
                selection = evidence.Selection.make(
                    workspace, period, repository, args.sample, args.seed
                )
                chunks = evidence.export(session, selection, fmt)
                if args.output:
                    with Path(args.output).open("wb") as fh:
                        async for chunk in chunks:
                            fh.write(chunk)
                else:
                    async for chunk in chunks:
                        text = chunk.decode("utf-8").replace("\r\n", "\n")
                        output.out(text.removesuffix("\n"))
                if selection.sample is not None:
                    output.err(
                        f"sample of {selection.sample} changes, seed {selection.seed} "
                        "(the same --seed gives the same changes)"
                    )
            return EXIT_OK
        finally:
            await database.dispose()

    return asyncio.run(main())


def _format_of(path: str | None) -> str:
    for fmt in ("json", "html"):
        if path and path.lower().endswith("." + fmt):
            return fmt
    return "csv"


def _verify(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from sqlalchemy import select

    from jirahooks import output
    from jirahooks.errors import EXIT_BLOCKED, EXIT_OK, UsageError
    from jirahooks.store import chain
    from jirahooks.store.models import Workspace

    _settings, database = _open_database(args)

    async def main() -> list[chain.Report]:
        try:
            await _ready(database)
            async with database.session() as session:
                query = select(Workspace).order_by(Workspace.id)
                if args.workspace:
                    query = query.where(Workspace.slug == args.workspace)
                workspaces = list((await session.execute(query)).scalars())
                if args.workspace and not workspaces:
                    raise UsageError(
                        f"no workspace '{args.workspace}' in this database",
                        hint="leave --workspace out to verify every workspace",
                        code="WORKSPACE_NOT_FOUND",
                    )
                return [await chain.verify(session, ws) for ws in workspaces]
        finally:
            await database.dispose()

    reports = asyncio.run(main())
    if not reports and not args.json:
        output.out("no workspace in this database: nothing to verify")
    if args.json:
        output.out(json.dumps([r.to_dict() for r in reports], indent=2, ensure_ascii=False))
    else:
        for report in reports:
            head = f"link {report.head_seq}, {report.head_hash}"
            first = report.first
            if first is None:
                output.out(
                    f"workspace {report.workspace}: chain intact, {report.links} evaluation(s) "
                    f"(head {head})"
                )
                continue
            where = f"evaluation {first.evaluation_id}" if first.evaluation_id else "the end"
            output.out(
                f"workspace {report.workspace}: chain BROKEN at {where} ({first.kind}): "
                f"{first.message}"
            )
            for problem in report.problems:
                if problem is not first:
                    output.out(f"  also {problem.kind}: {problem.message}")
    return EXIT_OK if all(r.ok for r in reports) else EXIT_BLOCKED
