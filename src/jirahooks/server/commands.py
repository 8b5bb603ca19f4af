"""What the server's CLI commands do (``serve``, ``db``, ``apply``, ``export``, ``secrets``).

The modules in ``jirahooks.cli`` only declare arguments and call these; everything heavy is
imported here, when one of those commands runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any

from jirahooks import output
from jirahooks.errors import EXIT_OK, EnvironmentProblem, UsageError
from jirahooks.server.settings import ServerSettings, load_settings


def add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="data directory: SQLite database and secret key file "
        "(default $JIRAHOOKS_DATA_DIR or .jirahooks-data)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="database URL, e.g. postgresql+psycopg://user@host/db "
        "(default $JIRAHOOKS_DATABASE_URL or SQLite in the data directory)",
    )


def settings_from(args: argparse.Namespace, **extra: Any) -> ServerSettings:
    return load_settings(
        data_dir=getattr(args, "data_dir", None),
        database_url=getattr(args, "database_url", None),
        **extra,
    )


def _require_free_port(host: str, port: int) -> None:
    """Say so plainly when the address is taken, before the database is touched."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="choose another port with --port, or stop the server that uses it",
                code="ADDRESS_IN_USE",
            ) from exc


def _prepare_data_dir(settings: ServerSettings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)


# The CLI's options for the worker processes of ``serve --workers N`` (``worker_app``), as
# JSON: uvicorn starts each worker as a fresh interpreter that imports the app factory.
WORKER_OPTIONS_ENV = "JIRAHOOKS_SERVE_WORKER_OPTIONS"


# How long uvicorn's supervisor waits for a worker to answer its liveness ping (and a new worker
# to start) before it kills it. uvicorn's default, 5 s, killed healthy workers mid-request on a
# loaded host (a 100,000-commit push being judged, a busy machine): a hung worker is still
# replaced, just not a slow one.
WORKER_HEALTHCHECK_SECONDS = 30


def _check_workers(settings: ServerSettings, workers: int) -> None:
    """Several worker processes need a database several processes can write: PostgreSQL."""
    from sqlalchemy.engine import make_url

    from jirahooks.store.database import async_url

    if workers < 1:
        raise UsageError(
            f"--workers {workers}: the number of worker processes must be at least 1",
            hint="e.g. --workers 4 (one per core) on PostgreSQL, or leave it out",
            code="WORKERS_INVALID",
        )
    if workers > 1 and make_url(async_url(settings.effective_database_url)).get_backend_name() == (
        "sqlite"
    ):
        raise UsageError(
            f"--workers {workers} needs PostgreSQL: SQLite is the embedded single-process "
            "database (one writer; several processes would wait on each other's locks)",
            hint="run one worker on SQLite, or start with --database-url "
            "postgresql+psycopg://user@host/db (and --redis-url to share the Jira cache)",
            code="WORKERS_NEED_POSTGRESQL",
        )


def _logging(log_format: str, level: str, access_log: bool) -> dict[str, Any]:
    """One logging document for this process and uvicorn (its worker processes too)."""
    from jirahooks.server import logs

    return logs.configure(log_format, level, access_log=access_log)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from jirahooks.server import metrics
    from jirahooks.server.app import create_app, start
    from jirahooks.server.bootstrap import announce

    workers = int(getattr(args, "workers", 1) or 1)
    settings = settings_from(args, upgrade=True if args.upgrade else None, redis_url=args.redis_url)
    from jirahooks.pipeline.options import WorkerOptions

    WorkerOptions.from_env()  # a bad JIRAHOOKS_PR_* value stops here, with its name and range
    _check_workers(settings, workers)
    _require_free_port(args.host, args.port)
    _prepare_data_dir(settings)
    log_config = _logging(args.log_format, args.log_level, args.access_log)
    metrics.prepare_multiprocess(workers, settings.data_dir)  # one metrics dir for N workers
    server_options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "lifespan": "on",
        "access_log": args.access_log and args.log_format == "text",  # json: http.request
        "log_config": log_config,
    }

    if workers > 1:
        # Prepare once, here (schema, key check, first-start token printed once), then let
        # uvicorn's supervisor run the workers: each builds its own app (worker_app), serves
        # the shared socket, and is restarted if it dies.
        async def prepare() -> None:
            state = await start(settings)
            try:
                if state.first_start is not None:
                    output.out(announce(state.first_start, f"http://{args.host}:{args.port}"))
            finally:
                await state.aclose()

        asyncio.run(prepare())
        os.environ[WORKER_OPTIONS_ENV] = json.dumps(
            {
                "data_dir": str(settings.data_dir),
                "database_url": settings.database_url,
                "redis_url": settings.redis_url,
                "log_level": args.log_level,
                "log_format": args.log_format,
                "access_log": args.access_log,
            }
        )
        uvicorn.run(
            f"{__name__}:worker_app",
            factory=True,
            workers=workers,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            **server_options,
        )
        return EXIT_OK

    async def main() -> None:
        state = await start(settings)
        try:
            if state.first_start is not None:
                output.out(announce(state.first_start, f"http://{args.host}:{args.port}"))
            app = create_app(settings, state=state)
            await uvicorn.Server(uvicorn.Config(app, **server_options)).serve()
        finally:
            await state.aclose()

    # uvicorn's event loop (uvloop when installed, the server extra has it)
    loop_factory = uvicorn.Config(app=None).get_loop_factory()  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())
    return EXIT_OK


def worker_app() -> Any:
    """The app of one ``serve --workers N`` worker process (uvicorn's app factory). The
    ``serve`` process has already prepared the database, so a worker neither migrates nor
    bootstraps; it opens its own state (database pool, key, caches, writer) in the lifespan."""
    from jirahooks.server.app import create_app

    options = json.loads(os.environ.get(WORKER_OPTIONS_ENV) or "{}")
    log_level = str(options.pop("log_level", "info"))
    log_format = str(options.pop("log_format", "text"))
    _logging(log_format, log_level, bool(options.pop("access_log", True)))
    settings = load_settings(**options, upgrade=False, bootstrap=False)
    return create_app(settings)


def _database(settings: ServerSettings) -> Any:
    from jirahooks.store.database import Database

    return Database(settings.effective_database_url)


def _absent_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL when it does not exist (yet), else None."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # Database() reports a bad URL
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return None if path.exists() else path


def db(args: argparse.Namespace) -> int:
    from jirahooks.store.database import redacted

    settings = settings_from(args)
    if args.action == "backup":
        return backup(settings, getattr(args, "output", None))
    if args.action == "status":
        absent = _absent_sqlite_file(settings.effective_database_url)
        if absent is not None:  # looking must not create the directory and an empty database
            output.out(
                f"database: {redacted(settings.effective_database_url)}\nschema: empty (no "
                f"database file at {absent} yet; 'jirahooks db upgrade' or 'jirahooks serve' "
                "creates it)"
            )
            return EXIT_OK
    if not settings.database_url:
        _prepare_data_dir(settings)

    async def main() -> int:
        database = _database(settings)
        try:
            before = await database.status()
            if args.action == "status":
                output.out(
                    f"database: {redacted(database.url)}\nschema: {before.state.value} "
                    f"(revision {before.current or '-'}, newest {before.head})"
                )
                return EXIT_OK
            await database.upgrade()
            after = await database.status()
            output.out(
                f"database {redacted(database.url)}: revision {before.current or '(empty)'} → "
                f"{after.current}"
            )
            return EXIT_OK
        finally:
            await database.dispose()

    return asyncio.run(main())


def backup(settings: ServerSettings, directory: str | None) -> int:
    """``jirahooks db backup --output DIR``: a consistent copy of the SQLite database (SQLite's
    online backup API: safe while the server writes) and what is needed of the secret key, in a
    directory that is itself a data directory (``serve --data-dir DIR`` restores it).

    The key decrypts the stored Jira tokens and validation secrets: a database without it keeps
    its rules and history but loses every secret. A key file is copied (0600); a key from
    ``JIRAHOOKS_SECRET_KEY`` is never written (nor printed): it must be kept with the backup by
    whoever keeps that variable. Before anything is copied, the key is checked against the
    database's key check, so a backup is never taken with a key that cannot open it."""
    import shutil
    import sqlite3
    from contextlib import closing

    from sqlalchemy.engine import make_url

    from jirahooks.crypto import KEY_ENV, SecretKeyError, key_file, load_box
    from jirahooks.store.database import DATABASE_FILE, redacted
    from jirahooks.store.keycheck import CHECK_NAME

    url = make_url(settings.effective_database_url)
    if url.get_backend_name() != "sqlite":
        raise UsageError(
            f"jirahooks db backup copies SQLite databases; {redacted(str(url))} is "
            f"{url.get_backend_name()}",
            hint="PostgreSQL: pg_dump --format=custom --file jirahooks.dump DATABASE, and keep "
            "the secret key with it (docs/operations.md, 'Backup and restore')",
        )
    if not directory:
        raise UsageError("db backup needs --output DIR", hint="e.g. --output /backup/jirahooks-1")
    source = Path(url.database or "")
    if not source.is_file():
        raise EnvironmentProblem(
            f"no database at {source}", hint="check --data-dir / --database-url", code="DATABASE"
        )
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(
            f"{target} exists and is not an empty directory",
            hint="back up into a new directory; nothing was written",
        )
    box = load_box(settings.data_dir, environ=settings.secret_environ() or None, create=False)
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target, 0o700)
    copy = target / DATABASE_FILE
    with closing(sqlite3.connect(source)) as live, closing(sqlite3.connect(copy)) as dest:
        live.backup(dest)
    with closing(sqlite3.connect(copy)) as dest:
        integrity = dest.execute("PRAGMA integrity_check").fetchone()[0]
        row = dest.execute("SELECT value FROM server_meta WHERE name = ?", (CHECK_NAME,)).fetchone()
        revision = dest.execute("SELECT version_num FROM alembic_version").fetchone()
        dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    os.chmod(copy, 0o600)
    try:
        if row is not None:
            box.decrypt(row[0])
    except SecretKeyError as exc:
        copy.unlink()
        raise SecretKeyError(
            f"the secret key from {box.source} does not open this database's key check: the "
            "backup would have no readable secrets; nothing was kept",
            hint="run the backup with the server's key (its --data-dir or JIRAHOOKS_SECRET_KEY)",
        ) from exc
    lines = [
        f"database {source} copied to {copy} (revision {revision[0] if revision else '-'}, "
        f"integrity {integrity})"
    ]
    if box.source == KEY_ENV:
        lines.append(
            f"secret key: it comes from {KEY_ENV} and is NOT in the backup — keep that value "
            "with it: a restore without it loses every stored secret"
        )
    else:
        shutil.copyfile(key_file(settings.data_dir), key_file(target))
        os.chmod(key_file(target), 0o600)
        lines.append(
            f"secret key: the key file was copied to {key_file(target)} (0600); keep the "
            "backup as private as the data directory"
        )
    lines.append(f"restore: jirahooks serve --data-dir {target} (or copy it into one)")
    output.out("\n".join(lines))
    return EXIT_OK


async def _open(settings: ServerSettings) -> tuple[Any, Any]:
    """The database and its secret key, verified before anything is written: a key that is not
    the server's (or a missing key file for a database in use) is refused, never replaced."""
    from jirahooks.store.keycheck import open_box

    database = _database(settings)
    try:
        await database.prepare(upgrade=False)
        box = await open_box(database, settings.data_dir, settings.secret_environ())
    except BaseException:
        await database.dispose()
        raise
    return database, box


def apply(args: argparse.Namespace) -> int:
    from jirahooks.rules.config import load_file
    from jirahooks.server.document import apply_document

    document = load_file(args.file)
    settings = settings_from(args)
    if not settings.database_url:
        _prepare_data_dir(settings)

    async def main() -> int:
        database, box = await _open(settings)
        try:
            async with database.session() as session:
                report = await apply_document(
                    session,
                    box,
                    document,
                    prune=args.prune,
                    default_workspace=settings.default_workspace,
                )
                if args.dry_run:
                    await session.rollback()
                else:
                    await session.commit()
        finally:
            await database.dispose()
        verb = "would change" if args.dry_run else "changed"
        for line in report.notes:
            output.out(f"note: {line}")
        for line in report.changes:
            output.out(f"  {line}")
        output.out(
            f"{args.file}: {verb} {len(report.changes)} object(s) in workspace '{document.workspace}'"
        )
        return EXIT_OK

    return asyncio.run(main())


def export(args: argparse.Namespace) -> int:
    import json

    import yaml

    from jirahooks.server.document import export_document

    settings = settings_from(args)

    async def main() -> dict[str, Any]:
        database = _database(settings)
        try:
            await database.prepare(upgrade=False)
            async with database.session() as session:
                return await export_document(session, args.workspace or settings.default_workspace)
        finally:
            await database.dispose()

    data = asyncio.run(main())
    fmt = args.format or ("json" if args.output and args.output.endswith(".json") else "yaml")
    text = (
        json.dumps(data, indent=2, ensure_ascii=False)
        if fmt == "json"
        else yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    )
    if args.output:
        Path(args.output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    else:
        output.out(text.rstrip("\n"))
    return EXIT_OK


def secrets(args: argparse.Namespace) -> int:
    from jirahooks.crypto import (
        KEY_ENV,
        SecretBox,
        generate_key,
        key_file,
        parse_keys,
        write_key_file,
    )
    from jirahooks.server.document import rotate_key
    from jirahooks.store.keycheck import re_encrypt

    if args.action == "generate-key":
        output.out(generate_key())
        return EXIT_OK
    settings = settings_from(args)

    async def main() -> int:
        database, box = await _open(settings)
        try:
            if box.source == KEY_ENV:
                new_env = os.environ.get("JIRAHOOKS_NEW_SECRET_KEY", "")
                if not new_env:
                    raise UsageError(
                        f"the key comes from {KEY_ENV}: put the new key in JIRAHOOKS_NEW_SECRET_KEY",
                        hint="JIRAHOOKS_NEW_SECRET_KEY=$(jirahooks secrets generate-key) "
                        "jirahooks secrets rotate-key; then set JIRAHOOKS_SECRET_KEY to it",
                    )
                new_key = parse_keys(new_env, source="JIRAHOOKS_NEW_SECRET_KEY")[0]
                path = None
            else:
                new_key = generate_key()
                path = key_file(settings.data_dir)
                # Stage first: new key + old ones, so a crash mid-way leaves every secret readable.
                write_key_file(path, [new_key, *box.keys])
            staged = SecretBox([new_key, *box.keys], source=box.source)
            async with database.session() as session:
                count = await rotate_key(session, staged)
                await re_encrypt(session, staged)
                await session.commit()
            if path is not None:
                write_key_file(path, [new_key])
                output.out(f"re-encrypted {count} secret(s); new key written to {path} (0600)")
            else:
                output.out(
                    f"re-encrypted {count} secret(s) with JIRAHOOKS_NEW_SECRET_KEY; set "
                    f"{KEY_ENV} to that key before the next start"
                )
            return EXIT_OK
        finally:
            await database.dispose()

    return asyncio.run(main())


def admin_token(args: argparse.Namespace) -> int:
    """Issue a new API token for a user, or revoke all of theirs (``jirahooks admin-token``)."""
    from sqlalchemy import func, select

    from jirahooks.server.auth import new_api_token
    from jirahooks.store import queries
    from jirahooks.store.models import ApiToken, User, utcnow

    settings = settings_from(args)
    name = args.user.strip()
    token_name = (args.name or "cli").strip()[:200] or "cli"

    async def main() -> int:
        database = _database(settings)
        try:
            await database.prepare(upgrade=False)
            async with database.session() as session:
                user = (
                    await session.execute(select(User).where(User.name == name))
                ).scalar_one_or_none()
                if user is None and "@" in name:
                    user = (
                        (
                            await session.execute(
                                select(User)
                                .where(func.lower(User.email) == name.lower())
                                .order_by(User.id)
                            )
                        )
                        .scalars()
                        .first()
                    )
                if user is None:
                    known = (
                        await session.execute(select(User.name).order_by(User.id).limit(10))
                    ).scalars()
                    raise UsageError(
                        f"no user '{name}' in {_redacted(database.url)}",
                        hint=f"known users: {', '.join(known) or '(none: start the server once)'}"
                        " — check --data-dir / --database-url",
                    )
                if args.action == "issue":
                    token, token_hash, prefix = new_api_token()
                    session.add(
                        ApiToken(
                            user_id=user.id, name=token_name, token_hash=token_hash, prefix=prefix
                        )
                    )
                    queries.audit(
                        session,
                        workspace_id=None,
                        actor="cli:admin-token",
                        action="api_token.create",
                        target=f"user:{user.name}",
                        after={"name": token_name, "prefix": prefix},
                    )
                    await session.commit()
                    output.out(
                        f"new API token for '{user.name}' (shown once, stored only as a hash):\n"
                        f"\n    {token}\n\n"
                        "sign in to the web UI with it (/ui/login) or send it as "
                        "'Authorization: Bearer …'"
                    )
                    return EXIT_OK
                rows = (
                    await session.execute(
                        select(ApiToken).where(
                            ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)
                        )
                    )
                ).scalars()
                now = utcnow()
                count = 0
                for row in rows:
                    row.revoked_at = now
                    count += 1
                queries.audit(
                    session,
                    workspace_id=None,
                    actor="cli:admin-token",
                    action="api_token.revoke_all",
                    target=f"user:{user.name}",
                    after={"revoked": count},
                )
                await session.commit()
                output.out(f"revoked {count} API token(s) of '{user.name}' (web sessions included)")
                return EXIT_OK
        finally:
            await database.dispose()

    return asyncio.run(main())


def _redacted(url: str) -> str:
    from jirahooks.store.database import redacted

    return redacted(url)
