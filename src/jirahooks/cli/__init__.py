"""The ``jirahooks`` command line: one ordered table of commands, each imported on demand.

A command module provides ``configure(parser)`` (its arguments) and ``run(args) -> int`` (an
exit code from ``jirahooks.errors``). Only the module of the command being run is imported, so
``jirahooks hook commit-msg`` never pays for the server stack.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from jirahooks import __version__
from jirahooks.errors import EXIT_INTERNAL, EXIT_USAGE, EnvironmentProblem, JirahooksError


@dataclass(frozen=True)
class Command:
    name: str
    module: str
    help: str


COMMANDS: tuple[Command, ...] = (
    Command(
        "check", "jirahooks.cli.check", "evaluate a commit range, a branch or a commit message"
    ),
    Command(
        "replay",
        "jirahooks.cli.replay",
        "evaluate the rules over an existing history: what they would have blocked",
    ),
    Command("rules", "jirahooks.cli.rules", "validate a rules / configuration file"),
    Command("connections", "jirahooks.cli.connections", "test the Jira connections"),
    Command("templates", "jirahooks.cli.templates", "list and show the built-in rule templates"),
    Command("hook", "jirahooks.cli.hook", "run a git hook (what installed hooks call)"),
    Command("install", "jirahooks.cli.install", "install jirahooks' git hooks in this repository"),
    Command("uninstall", "jirahooks.cli.uninstall", "remove jirahooks' git hooks"),
    Command("serve", "jirahooks.cli.serve", "run the server: Validation API and admin API"),
    Command(
        "db",
        "jirahooks.cli.db",
        "create, migrate or back up the server's database (upgrade, status, backup)",
    ),
    Command("apply", "jirahooks.cli.apply", "load a configuration document into the server"),
    Command("export", "jirahooks.cli.export", "write a workspace back as a configuration document"),
    Command("secrets", "jirahooks.cli.secrets", "re-encrypt stored secrets with a new key"),
    Command(
        "evidence",
        "jirahooks.cli.evidence",
        "evidence for auditors: export a period's evaluations, verify the evaluation log's chain",
    ),
    Command(
        "admin-token",
        "jirahooks.cli.admin_token",
        "on the server host: issue a new API token for a user, or revoke all of theirs",
    ),
)

EPILOG = """\
exit codes: 0 passed (or warnings), 1 blocked, 2 usage error, 3 configuration error,
            4 environment error (git, Jira unreachable), 70 internal error.
Run 'jirahooks COMMAND --help' for a command's options. Docs: docs/cli.md, docs/rules.md."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise JirahooksError(message, hint=f"see '{self.prog} --help'", code="USAGE")


def build_parser(selected: str | None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jirahooks",
        description="Process Guardian for git: every change belongs to an approved Jira work item.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"jirahooks {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name,
            help=command.help,
            description=command.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if command.name == selected:
            module = importlib.import_module(command.module)
            module.configure(sub)
            sub.set_defaults(_run=module.run)
            _plain_help(sub)
    return parser


def plain(text: str) -> str:
    """Help text from a docstring written in reStructuredText: ``code`` and `code` lose their
    backquotes, a paragraph ending in ``::`` (a literal block follows) ends in ``:``, roles
    (:class:`X`) become their text."""
    import re

    text = re.sub(r":[a-z]+:`([^`]*)`", r"\1", text)
    text = text.replace("``", "")
    text = re.sub(r"(?<!`)`([^`\n]+)`(?!`)", r"\1", text)
    return re.sub(r"(?m)(\S)::$", r"\1:", text).replace(" ::\n", "\n")


def _plain_help(parser: argparse.ArgumentParser) -> None:
    if parser.description:
        parser.description = plain(parser.description)
    if parser.epilog:
        parser.epilog = plain(parser.epilog)
    for action in parser._actions:
        if isinstance(action.help, str):
            action.help = plain(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _plain_help(child)
    for group in parser._action_groups:
        if group.description:
            group.description = plain(group.description)


# The optional extras (pyproject.toml) and the top-level modules each brings: a command that
# needs one in an install without it (a laptop that only runs hooks) says which to install.
_EXTRAS = {
    "server": (
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "alembic",
        "cryptography",
        "jinja2",
        "redis",
        "multipart",
        "python_multipart",
        "aiosqlite",
    ),
    "postgres": ("psycopg", "psycopg_binary"),
}


def missing_extra(exc: ModuleNotFoundError) -> EnvironmentProblem | None:
    """The problem to report when ``exc`` is a module of an optional extra, else None."""
    top = (exc.name or "").split(".", 1)[0]
    extra = next((name for name, modules in _EXTRAS.items() if top in modules), None)
    if extra is None:
        return None
    return EnvironmentProblem(
        f"this command needs the '{extra}' extra of jirahooks, which is not installed "
        f"(no module named '{top}')",
        hint=f"install jirahooks[{extra}]: in a checkout, pip install '.[{extra}]'; from a "
        f"wheel, pip install 'jirahooks-VERSION-py3-none-any.whl[{extra}]' (README: Installing)",
        code="MISSING_EXTRA",
    )


def _selected(argv: Sequence[str]) -> str | None:
    names = {c.name for c in COMMANDS}
    for arg in argv:
        if arg.startswith("-"):
            continue
        return arg if arg in names else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    from jirahooks import output

    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(_selected(args_list))
        args = parser.parse_args(args_list)
        if not getattr(args, "_run", None):
            parser.print_help()
            return EXIT_USAGE
        code: int = args._run(args)
        return code
    except JirahooksError as exc:
        output.error(exc)
        return exc.exit_code if exc.code != "USAGE" else EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if os.environ.get("JIRAHOOKS_DEBUG"):
            raise
        missing = missing_extra(exc) if isinstance(exc, ModuleNotFoundError) else None
        if missing is not None:
            output.error(missing)
            return missing.exit_code
        output.error(
            JirahooksError(
                f"internal error: {type(exc).__name__}: {exc}",
                hint="this is a bug; rerun with JIRAHOOKS_DEBUG=1 for a traceback and report it",
                code="INTERNAL",
            )
        )
        return EXIT_INTERNAL
