"""``jirahooks secrets rotate-key|generate-key``: re-encrypt every stored secret with a new key."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from jirahooks.server.commands import add_store_options

    parser.add_argument(
        "action",
        choices=["rotate-key", "generate-key"],
        help="rotate-key: new key, all secrets re-encrypted; generate-key: print a new key",
    )
    add_store_options(parser)


def run(args: argparse.Namespace) -> int:
    from jirahooks.server.commands import secrets

    return secrets(args)
