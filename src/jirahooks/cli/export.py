"""``jirahooks export``: a workspace from the server's store as a configuration document, with
every secret written as a ${ENV} reference, never its value."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    from jirahooks.server.commands import add_store_options

    parser.add_argument("--workspace", help="workspace slug (default: the default workspace)")
    add_store_options(parser)
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument(
        "--format", choices=["yaml", "json"], help="default: from FILE's suffix, else yaml"
    )


def run(args: argparse.Namespace) -> int:
    from jirahooks.server.commands import export

    return export(args)
