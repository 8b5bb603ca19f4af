"""``jirahooks rules validate FILE [--jira]``: validate a rules file or configuration document.

With ``--jira``, each rule's JQL is also checked by the Jira connections that will run it (the
workspace's for workspace rules, the repository's enabled ones for repository rules): Jira
Cloud's ``jql/parse``, Data Center's search with ``validateQuery``. Policy kept in git can then
be checked in CI before ``jirahooks apply`` loads it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from jirahooks.errors import EXIT_ENVIRONMENT, EXIT_OK, ConfigError, ConfigProblem

if TYPE_CHECKING:
    from jirahooks.rules.config import ConfigDocument, ConnectionConfig


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    validate = sub.add_parser(
        "validate",
        help="check a file; every problem is reported with its exact path (exit 3 when invalid)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("file", help="YAML, TOML or JSON file")
    validate.add_argument(
        "--jira",
        action="store_true",
        help="also ask the document's Jira connections whether each rule's JQL is valid "
        "(tokens from their ${ENV} references; exit 4 when a Jira cannot be asked)",
    )


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
    if not args.jira:
        return EXIT_OK
    import asyncio

    return asyncio.run(check_jql(document, args.file))


def _jql_sites(
    document: ConfigDocument,
) -> dict[tuple[str, tuple[str, ...]], list[str]]:
    """(JQL, connection names) → the paths of the rules using it: one question per pair."""
    sites: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    everyone = tuple(c.name for c in document.connections)
    for i, rule in enumerate(document.rules):
        if rule.checks.jql:
            sites.setdefault((rule.checks.jql, everyone), []).append(f"rules[{i}].checks.jql")
    for j, repo in enumerate(document.repositories):
        enabled = tuple(c.name for c in document.connections_for(repo.slug))
        for i, rule in enumerate(repo.rules):
            if rule.checks.jql:
                path = f"repositories[{j}].rules[{i}].checks.jql"
                sites.setdefault((rule.checks.jql, enabled), []).append(path)
    return sites


async def check_jql(document: ConfigDocument, source: str) -> int:
    from jirahooks import output
    from jirahooks.jira import build_resolver
    from jirahooks.jira.chain import ConnectionChain

    by_name: dict[str, ConnectionConfig] = {c.name: c for c in document.connections}
    problems: list[ConfigProblem] = []
    unreachable = False
    checked = 0
    for (jql, names), paths in _jql_sites(document).items():
        if not names:
            output.out(f"  - {paths[0]}: no Jira connection is enabled here; JQL not checked")
            continue
        chain = build_resolver([by_name[n] for n in names], deadline_seconds=30)
        assert isinstance(chain, ConnectionChain)
        try:
            verdict = await chain.validate_jql(jql)
        finally:
            await chain.aclose()
        checked += 1
        for problem in verdict.problems:
            unreachable = True
            output.err(
                f"jirahooks: Jira connection '{problem.connection}' could not check "
                f"{jql!r}: {problem.message}" + (f" (hint: {problem.hint})" if problem.hint else "")
            )
        for connection, errors in verdict.errors.items():
            for error in errors:
                problems.extend(
                    ConfigProblem(
                        path,
                        f"Jira connection '{connection}' rejects the JQL: {error}",
                        "fix the query; Jira's JQL editor shows the same message",
                    )
                    for path in paths
                )
    if problems:
        raise ConfigError(problems, source=source)
    if unreachable:
        return EXIT_ENVIRONMENT
    output.out(f"  JQL: {checked} distinct quer{'ies' if checked != 1 else 'y'} accepted by Jira")
    return EXIT_OK
