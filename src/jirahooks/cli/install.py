"""``jirahooks install [HOOK…]``: install jirahooks as git hooks of this repository.

Examples::

    jirahooks install                          # commit-msg, pre-push, prepare-commit-msg
                                               # (pre-receive in a bare repo)
    jirahooks install commit-msg --mode remote # ask the Validation API (JIRAHOOKS_ENDPOINT …)
    jirahooks install all --mode local --config ci/jirahooks.yml
    jirahooks install pre-receive --config /etc/jirahooks/acme.yml --repo api   # bare repository
    jirahooks install pre-receive --mode remote   # bare repository; hooks/jirahooks.env names
                                                  # the server (JIRAHOOKS_ENDPOINT, _SECRET)

An existing hook that is not ours is kept as <hook>.legacy and runs first; installing again is
harmless; core.hooksPath is respected. With Husky (5–9) the hooks are lines in the team's
.husky/commit-msg and .husky/pre-push, the way Husky expects; a hook that core.hooksPath
points at and git tracks is the team's and is not renamed (install says which line to add).
Undo with ``jirahooks uninstall``.
Exit codes: 0 done, 2 usage, 3 configuration (the --config file is invalid), 4 environment.
"""

from __future__ import annotations

import argparse

CLIENT = ("commit-msg", "pre-push", "prepare-commit-msg")
SERVER = ("pre-receive", "update")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument(
        "hooks",
        nargs="*",
        metavar="HOOK",
        help="commit-msg, pre-push, prepare-commit-msg, pre-receive, update or all (default: "
        "all client hooks; pre-receive in a bare repository)",
    )
    parser.add_argument(
        "--mode",
        choices=("auto", "remote", "local"),
        default="auto",
        help="remote (ask the Validation API), local (run the rules file here) or auto "
        "(default: client hooks use remote when an endpoint is configured, else local; "
        "server hooks use --config when given, else the endpoint in hooks/jirahooks.env)",
    )
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="rules / configuration file baked into the hook (pre-receive: required unless "
        "--mode remote)",
    )
    parser.add_argument("--repo", metavar="SLUG", help="repository whose rules apply")
    parser.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="time budget for Jira in the hook"
    )


def selected_hooks(names: list[str], bare: bool) -> list[str]:
    if not names:
        return list(SERVER[:1] if bare else CLIENT)
    out: list[str] = []
    for name in names:
        out.extend(CLIENT if name == "all" else (name,))
    return list(dict.fromkeys(out))


def _check(names: list[str]) -> None:
    from jirahooks.errors import UsageError

    known = (*CLIENT, *SERVER, "all")
    for name in names:
        if name not in known:
            raise UsageError(f"unknown hook '{name}'", hint=f"one of: {', '.join(known)}")


def run(args: argparse.Namespace) -> int:
    from jirahooks import output
    from jirahooks.errors import EXIT_OK, UsageError
    from jirahooks.hooks import install

    _check(args.hooks)
    location = install.locate()
    hooks = selected_hooks(args.hooks, location.bare)
    server = [h for h in hooks if h in SERVER]
    if server and not args.config and args.mode != "remote":
        raise UsageError(
            f"{', '.join(server)} needs --config FILE, or --mode remote",
            hint="jirahooks install pre-receive --config /path/to/jirahooks.yml, or "
            "jirahooks install pre-receive --mode remote with JIRAHOOKS_ENDPOINT and "
            "JIRAHOOKS_SECRET in hooks/jirahooks.env",
        )
    if location.bare and any(h in CLIENT for h in hooks):
        raise UsageError(
            "commit-msg, pre-push and prepare-commit-msg hooks need a working tree; this "
            "repository is bare",
            hint="in a bare repository install pre-receive (or update)",
        )
    if args.config:
        from jirahooks.rules.config import load_file

        load_file(args.config)  # an invalid file fails now, not on the next push
    arguments = install.hook_arguments(
        mode=args.mode if not server or len(server) < len(hooks) or args.mode == "remote" else None,
        config=args.config,
        repo=args.repo,
        timeout=args.timeout,
    )
    from jirahooks import gitio
    from jirahooks.hooks import managers

    root = None if location.bare else gitio.repo_root()
    manager = None if location.bare else managers.detect(location.hooks_dir, root)
    for hook in hooks:
        path = location.hooks_dir / hook
        if manager is not None and hook in CLIENT:
            if install.is_ours(path):  # written there by an older jirahooks: put Husky's back
                output.out(f"jirahooks: {install.uninstall(hook, location.hooks_dir)}")
            done = managers.integrate(hook, manager, arguments, root)
            output.out(f"jirahooks: {hook}: {done}")
            continue
        if location.custom and path.is_file() and not install.is_ours(path):
            managers.refusal(hook, path, arguments, root)
        change = install.install(hook, location.hooks_dir, arguments)
        output.out(f"jirahooks: {change}")
    if manager is not None:
        import shutil

        output.out(
            f"jirahooks: note: {manager.name} runs the hooks; they call `jirahooks` on PATH"
            + (
                ""
                if shutil.which("jirahooks")
                else ", which is not there for you yet (README: Installing)"
            )
        )
    elif location.custom:
        output.out(f"jirahooks: note: core.hooksPath is set; hooks live in {location.hooks_dir}")
    return EXIT_OK
