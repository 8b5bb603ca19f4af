"""``jirahooks db upgrade|status``: create or migrate the server's database schema."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from jirahooks.server.commands import add_store_options

    parser.add_argument(
        "action", choices=["upgrade", "status"], help="upgrade: migrate to the newest schema"
    )
    add_store_options(parser)


def run(args: argparse.Namespace) -> int:
    from jirahooks.server.commands import db

    return db(args)
