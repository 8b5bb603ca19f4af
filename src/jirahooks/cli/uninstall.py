"""``jirahooks uninstall [HOOK…]``: remove jirahooks' hooks, putting back the ones they replaced.

Only hooks written by ``jirahooks install`` (they carry its marker line) are removed; a
``<hook>.legacy`` kept at install time is renamed back; with Husky, only jirahooks' lines in
.husky/<hook> go. Default: every hook jirahooks installs.
Exit codes: 0 done, 2 usage, 4 environment (not a git repository).
"""

from __future__ import annotations

import argparse

ALL = ("commit-msg", "pre-push", "prepare-commit-msg", "pre-receive", "update")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument(
        "hooks",
        nargs="*",
        metavar="HOOK",
        help="commit-msg, pre-push, pre-receive, update or all (default: all)",
    )


def _check(names: list[str]) -> None:
    from jirahooks.errors import UsageError

    known = (*ALL, "all")
    for name in names:
        if name not in known:
            raise UsageError(f"unknown hook '{name}'", hint=f"one of: {', '.join(known)}")


def run(args: argparse.Namespace) -> int:
    from jirahooks import output
    from jirahooks.errors import EXIT_OK
    from jirahooks.hooks import install

    _check(args.hooks)
    location = install.locate()
    names = [h for h in args.hooks if h != "all"] if args.hooks and "all" not in args.hooks else ALL
    from jirahooks import gitio
    from jirahooks.hooks import managers

    manager = None if location.bare else managers.detect(location.hooks_dir, gitio.repo_root())
    for hook in names:
        if manager is not None and hook in ("commit-msg", "pre-push", "prepare-commit-msg"):
            done = managers.remove(hook, manager)
            if done != "not installed" or args.hooks:
                output.out(f"jirahooks: {hook}: {done}")
        change = install.uninstall(hook, location.hooks_dir)
        if change.action != "not installed" or (args.hooks and manager is None):
            output.out(f"jirahooks: {change}")
    return EXIT_OK
