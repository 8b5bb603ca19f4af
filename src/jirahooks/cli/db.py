"""``jirahooks db upgrade|status|backup``: create or migrate the server's database schema; back
up a SQLite database with what is needed of its secret key."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from jirahooks.server.commands import add_store_options

    parser.add_argument(
        "action",
        choices=["upgrade", "status", "backup"],
        help="upgrade: migrate to the newest schema; backup: a consistent copy of a SQLite "
        "database and its key file into --output DIR (PostgreSQL: pg_dump)",
    )
    add_store_options(parser)
    parser.add_argument(
        "--output", "-o", metavar="DIR", help="backup: a new (or empty) directory to write"
    )


def run(args: argparse.Namespace) -> int:
    from jirahooks.server.commands import db

    return db(args)
