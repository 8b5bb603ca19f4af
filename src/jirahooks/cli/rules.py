"""``jirahooks rules validate FILE``: validate a rules file or configuration document."""

from __future__ import annotations

import argparse

from jirahooks.errors import EXIT_OK


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    validate = sub.add_parser(
        "validate",
        help="check a file; every problem is reported with its exact path (exit 3 when invalid)",
    )
    validate.add_argument("file", help="YAML, TOML or JSON file")


def run(args: argparse.Namespace) -> int:
    from jirahooks import output
    from jirahooks.rules.config import load_file

    document = load_file(args.file)
    rule_count = len(document.rules) + sum(len(r.rules) for r in document.repositories)
    output.out(
        f"{args.file}: valid — {rule_count} rule{'s' if rule_count != 1 else ''}, "
        f"{len(document.repositories)} repositor{'ies' if len(document.repositories) != 1 else 'y'}, "
        f"{len(document.connections)} Jira connection{'s' if len(document.connections) != 1 else ''}"
    )
    return EXIT_OK
