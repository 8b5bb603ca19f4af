"""``jirahooks apply FILE``: load a configuration document into the server's store, idempotently."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from jirahooks.server.commands import add_store_options

    parser.add_argument("file", help="configuration document (YAML, TOML or JSON)")
    add_store_options(parser)
    parser.add_argument(
        "--prune",
        action="store_true",
        help="also delete connections and rules, and revoke validation tokens, the document omits",
    )
    parser.add_argument("--dry-run", action="store_true", help="report the changes, write nothing")


def run(args: argparse.Namespace) -> int:
    from jirahooks.server.commands import apply

    return apply(args)
