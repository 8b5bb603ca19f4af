"""``jirahooks admin-token issue|revoke --user NAME``: recover access on the server host.

``issue`` prints a new API token for the user (shown once, stored only as its SHA-256);
``revoke`` revokes every API token of the user, web sessions included. Both work on the
database directly, so they need the shell account of the server, not a token.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from jirahooks.server.commands import add_store_options

    parser.add_argument(
        "action",
        choices=["issue", "revoke"],
        help="issue: print a new API token for the user (shown once); "
        "revoke: revoke all API tokens of the user, web sessions included",
    )
    parser.add_argument("--user", required=True, metavar="NAME", help="user name or e-mail")
    parser.add_argument(
        "--name", default="cli", metavar="TEXT", help="name of the issued token (default cli)"
    )
    add_store_options(parser)


def run(args: argparse.Namespace) -> int:
    from jirahooks.server.commands import admin_token

    return admin_token(args)
