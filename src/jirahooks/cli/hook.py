"""``jirahooks hook NAME [ARGS…]``: what the installed git hooks run.

Hooks::

    jirahooks hook commit-msg FILE          # a commit is being created
    jirahooks hook pre-push [REMOTE [URL]]  # refs on stdin, as git gives them
    jirahooks hook prepare-commit-msg FILE [SOURCE [SHA]]  # the branch's key into the message
    jirahooks hook pre-receive              # server side: <old> <new> <ref> lines on stdin
    jirahooks hook update REF OLD NEW       # server side, one ref

Modes (commit-msg, pre-push): ``remote`` asks a jirahooks server's Validation API
(JIRAHOOKS_ENDPOINT / JIRAHOOKS_SECRET, or JHFB_* as the reference client; env or
.git/hooks/jirahooks.env); ``local`` runs the rules of .jirahooks.toml / .jirahooks.yml (or
--config) here; ``auto`` (default) is remote when an endpoint is configured, else local when a
rules file exists, else a warning. pre-receive / update always run locally with --config.

Exit codes: 0 passed (or warnings, or not configured), 1 blocked (also: the server refused the
request), 2 usage, 3 configuration, 4 environment (server unreachable: fail closed unless
JIRAHOOKS_FAIL_OPEN=1; git failed). Docs: docs/hooks.md.
"""

from __future__ import annotations

import argparse

HOOK_NAMES = ("commit-msg", "pre-push", "prepare-commit-msg", "pre-receive", "update")


def _options(parser: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    default = None if defaults else argparse.SUPPRESS
    parser.add_argument(
        "--mode",
        choices=("auto", "remote", "local"),
        default="auto" if defaults else argparse.SUPPRESS,
        help="remote (Validation API), local (rules file) or auto (default)",
    )
    parser.add_argument(
        "--config", "-c", metavar="FILE", default=default, help="rules / configuration file"
    )
    parser.add_argument(
        "--repo", metavar="SLUG", default=default, help="repository whose rules apply"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        default=default,
        help="time budget for Jira (default: settings.time_budget_seconds; 5 s server-side)",
    )
    parser.add_argument(
        "--user", default="" if defaults else argparse.SUPPRESS, help="who pushes (server side)"
    )
    parser.add_argument(
        "--hooks-dir",
        metavar="DIR",
        default=default,
        help="the installed hook's directory (set by the hook script; runs <hook>.legacy first)",
    )
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        default=False if defaults else argparse.SUPPRESS,
        help="show every fact",
    )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    _options(parser)
    parser.add_argument("hook", choices=HOOK_NAMES, metavar="HOOK", help=", ".join(HOOK_NAMES))
    parser.add_argument(
        "hook_args", nargs=argparse.REMAINDER, metavar="ARGS", help="git's arguments"
    )


def _reparse(args: argparse.Namespace) -> argparse.Namespace:
    """Options may also follow the hook name (the pre-commit framework appends ``args:`` and
    the message file after ``entry``)."""
    rest = list(args.hook_args)
    if rest[:1] == ["--"]:
        return argparse.Namespace(**{**vars(args), "hook_args": rest[1:]})
    if not any(a.startswith("-") for a in rest):
        return args
    from jirahooks.cli import _Parser

    parser = _Parser(prog=f"jirahooks hook {args.hook}", add_help=False)
    _options(parser, defaults=False)
    parser.add_argument("hook_args", nargs="*")
    parsed = parser.parse_intermixed_args(rest)
    return argparse.Namespace(**{**vars(args), **vars(parsed)})


def run(args: argparse.Namespace) -> int:
    from jirahooks.hooks.runner import HookOptions
    from jirahooks.hooks.runner import run as run_hook

    args = _reparse(args)
    options = HookOptions(
        hook=args.hook,
        args=tuple(args.hook_args),
        mode=args.mode,
        config=args.config,
        repo=args.repo,
        timeout=args.timeout,
        hooks_dir=args.hooks_dir,
        verbose=args.verbose,
        user=args.user,
    )
    return run_hook(options)
