"""Running one git hook: commit-msg, pre-push (remote or local mode), pre-receive, update.

Called by ``jirahooks hook NAME ARGS…`` (the installed hook scripts, the pre-commit framework,
or a person). The order is always:

1. read git's stdin (pre-push, pre-receive) once;
2. run the hook that was installed before ours (``<hook>.legacy``) with the same arguments and
   stdin; if it fails, stop with its exit code;
3. evaluate — remote mode asks the Validation API, local mode runs the engine here;
4. print the result on stderr and exit 0 (pass / warning / nothing to check), 1 (blocked),
   3 (configuration), 4 (environment: server or git unusable).

Remote mode imports only the standard library (see the package docstring); local mode loads
the engine, and the Jira client only when connections are configured.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jirahooks import gitio, output
from jirahooks.errors import (
    EXIT_BLOCKED,
    EXIT_OK,
    ConfigError,
    ConfigProblem,
    JirahooksError,
    UsageError,
)
from jirahooks.event import Event
from jirahooks.hooks import gitpush, remote, report

if TYPE_CHECKING:
    from jirahooks.engine.facts import Evaluation
    from jirahooks.hooks.local import LocalSetup

CLIENT_HOOKS = ("commit-msg", "pre-push")
SERVER_HOOKS = ("pre-receive", "update")
HOOKS = CLIENT_HOOKS + SERVER_HOOKS
MODES = ("auto", "remote", "local")
SERVER_BUDGET_SECONDS = 5.0
_USER_VARIABLES = ("JIRAHOOKS_USER", "GL_USERNAME", "GL_USER", "GITEA_PUSHER_NAME", "REMOTE_USER")


@dataclass(frozen=True)
class HookOptions:
    """How a hook was called and configured (see ``jirahooks hook --help``)."""

    hook: str
    args: Sequence[str] = ()
    mode: str = "auto"
    config: str | None = None
    repo: str | None = None
    timeout: float | None = None
    hooks_dir: str | None = None
    verbose: bool = False
    user: str = ""
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))


def run(options: HookOptions, stdin: bytes | None = None) -> int:
    """Run the hook; ``stdin`` defaults to reading ours for hooks that get git's input there."""
    if options.hook not in HOOKS:
        raise UsageError(f"unknown hook '{options.hook}'", hint=f"one of: {', '.join(HOOKS)}")
    if stdin is None and options.hook in ("pre-push", "pre-receive"):
        stdin = _read_stdin(options)
    legacy = _run_legacy(options, stdin)
    if legacy != 0:
        return legacy
    if options.hook == "commit-msg":
        return _commit_msg(options)
    if options.hook == "pre-push":
        return _pre_push(options, (stdin or b"").decode("utf-8", "replace"))
    if options.hook == "pre-receive":
        updates = gitpush.parse_pre_receive((stdin or b"").decode("utf-8", "replace"))
        return _receive(options, updates)
    return _receive(options, [gitpush.update_args(list(options.args))])


def _read_stdin(options: HookOptions) -> bytes:
    # The pre-commit framework keeps git's stdin for itself (and describes the push in its
    # environment); a terminal on stdin means somebody ran the hook by hand.
    if options.environ.get("PRE_COMMIT_TO_REF") or sys.stdin is None or sys.stdin.isatty():
        return b""
    return sys.stdin.buffer.read()


def _run_legacy(options: HookOptions, stdin: bytes | None) -> int:
    """The hook that was installed before ours runs first, exactly as git would run it."""
    if not options.hooks_dir:
        return 0
    legacy = Path(options.hooks_dir) / f"{options.hook}.legacy"
    if not (legacy.is_file() and os.access(legacy, os.X_OK)):
        return 0
    command = [str(legacy.absolute()), *options.args]
    try:
        proc = subprocess.run(command, input=stdin, check=False)
    except OSError as exc:
        if exc.errno != errno.ENOEXEC:
            raise
        proc = subprocess.run(["sh", *command], input=stdin, check=False)  # no #! line
    if proc.returncode != 0:
        output.err(f"jirahooks: {legacy.name} failed (exit {proc.returncode}); not checking")
    return proc.returncode


# --- configuration --------------------------------------------------------------------------


def _hook_dirs(options: HookOptions) -> list[Path]:
    """Where env files may sit: the running hook's directory, the configured hooks directory
    (``core.hooksPath``), and ``.git/hooks`` (where the reference client keeps its file)."""
    dirs = [Path(options.hooks_dir)] if options.hooks_dir else []
    out = gitio.git(
        ["rev-parse", "--path-format=absolute", "--git-path", "hooks", "--git-common-dir"],
        check=False,
    ).splitlines()
    if len(out) == 2:
        dirs += [Path(out[0]), Path(out[1]) / "hooks"]
    return dirs


def _local_config(options: HookOptions) -> Path | None:
    from jirahooks.hooks.local import find_config

    return find_config(options.config, gitio.repo_root())


def _unconfigured(options: HookOptions) -> int:
    output.err(
        "jirahooks: warning: not configured — set JIRAHOOKS_ENDPOINT and JIRAHOOKS_SECRET (or "
        "put them into .git/hooks/jirahooks.env) for remote mode, or add .jirahooks.toml for "
        "local mode; nothing was checked"
    )
    return EXIT_OK


# --- remote mode ----------------------------------------------------------------------------


def _ask_remote(
    config: remote.RemoteConfig, event: Event, verbose: bool, *, title: str = ""
) -> int:
    body = remote.payload(event.trigger.value, event.branch, event.commits, locale=config.locale)
    try:
        document = remote.post(config, body)
    except remote.ServerUnreachable as exc:
        return _server_trouble(config, exc, exc.exit_code)
    except remote.ServerRejected as exc:
        if exc.status >= 500:
            return _server_trouble(config, exc, EXIT_BLOCKED)
        output.error(exc)
        return EXIT_BLOCKED
    output.err(report.render(document, title=title, verbose=verbose or config.verbose))
    return EXIT_BLOCKED if document.get("result") == "BLOCK" else EXIT_OK


def _server_trouble(config: remote.RemoteConfig, exc: JirahooksError, code: int) -> int:
    output.error(exc)
    if config.fail_open:
        output.err("jirahooks: JIRAHOOKS_FAIL_OPEN is set: letting the change through unchecked")
        return EXIT_OK
    return code


# --- client hooks ---------------------------------------------------------------------------


def _commit_msg(options: HookOptions) -> int:
    if len(options.args) < 1:
        raise UsageError(
            "commit-msg needs the commit message file", hint="git passes it: commit-msg FILE"
        )
    mode, config = _mode(options)
    if mode == "none":
        return _unconfigured(options)
    event = gitpush.commit_msg_event(options.args[0])
    if not event.commits[0].message:
        return EXIT_OK  # git aborts an empty commit itself
    if mode == "remote":
        assert isinstance(config, remote.RemoteConfig)
        return _ask_remote(config, event, options.verbose)
    assert isinstance(config, Path)
    setup = _setup(config, options)
    budget = _budget(setup, options, server=False)
    (evaluation,), _ = _evaluate([event], setup, budget)
    return _print_local([("", evaluation)], options)


def _pre_push(options: HookOptions, stdin: str) -> int:
    updates = gitpush.pre_commit_push(options.environ) or gitpush.parse_pre_push(stdin)
    mode, config = _mode(options)
    if mode == "none":
        return _unconfigured(options)
    if mode == "remote":
        assert isinstance(config, remote.RemoteConfig)
        event = gitpush.pre_push_event(updates)
        if event is None:
            return EXIT_OK  # only deletions (or tags): nothing to ask
        return _ask_remote(config, event, options.verbose)
    assert isinstance(config, Path)
    events = gitpush.ref_events(updates, exclude=["--remotes"])
    if not events:
        return EXIT_OK
    setup = _setup(config, options)
    evaluations, _ = _evaluate([e for _, e in events], setup, _budget(setup, options, False))
    titled = [(f"push to {u.ref}", ev) for (u, _), ev in zip(events, evaluations, strict=True)]
    return _print_local(titled, options)


def _mode(options: HookOptions) -> tuple[str, remote.RemoteConfig | Path | None]:
    if options.mode not in MODES:
        raise UsageError(f"unknown mode '{options.mode}'", hint=f"one of: {', '.join(MODES)}")
    if options.mode in ("remote", "auto"):
        config = remote.load_config(_hook_dirs(options), environ=options.environ)
        if config is not None:
            return "remote", config
        if options.mode == "remote":
            return "none", None
    path = _local_config(options)
    return ("local", path) if path is not None else ("none", None)


# --- local evaluation -----------------------------------------------------------------------


def _setup(path: Path, options: HookOptions) -> LocalSetup:
    from jirahooks.hooks.local import load_setup

    setup = load_setup(path, options.repo)
    for note in setup.notes:
        output.err(f"jirahooks: note: {note}")
    return setup


def _budget(setup: LocalSetup, options: HookOptions, server: bool) -> float:
    from jirahooks.hooks.local import time_budget

    if options.timeout is not None:
        return options.timeout
    default = SERVER_BUDGET_SECONDS if server else setup.settings.time_budget_seconds
    return time_budget(setup, options.repo, default)


def _evaluate(
    events: list[Event], setup: LocalSetup, budget: float
) -> tuple[list[Evaluation], int]:
    import asyncio

    from jirahooks.hooks.local import run_batch

    return asyncio.run(run_batch(events, setup, budget=budget))


def _document(evaluation: Evaluation) -> dict[str, Any]:
    from jirahooks.i18n import normalize_locale

    locale = normalize_locale(os.environ.get("JIRAHOOKS_LOCALE") or os.environ.get("LANG"))
    return evaluation.to_document(locale)


def _print_local(results: list[tuple[str, Evaluation]], options: HookOptions) -> int:
    blocked = False
    for title, evaluation in results:
        output.err(report.render(_document(evaluation), title=title, verbose=options.verbose))
        blocked |= evaluation.blocked
    return EXIT_BLOCKED if blocked else EXIT_OK


# --- server hooks ---------------------------------------------------------------------------


def _server_mode(options: HookOptions) -> tuple[str, remote.RemoteConfig | Path]:
    """Server hooks read rules from a local file (``--config``, local mode) or ask a jirahooks
    server's Validation API, whose rules and Jira connections then apply (remote mode)."""
    from jirahooks.hooks.local import find_config

    if options.mode not in MODES:
        raise UsageError(f"unknown mode '{options.mode}'", hint=f"one of: {', '.join(MODES)}")
    path = find_config(options.config, None) if options.mode != "remote" else None
    if path is not None:
        return "local", path
    if options.mode != "local":
        config = remote.load_config(_hook_dirs(options), environ=options.environ)
        if config is not None:
            return "remote", config
    raise ConfigError(
        [
            ConfigProblem(
                "--config",
                "the server-side hook has no rules: no configuration file and no Validation API "
                "endpoint",
                "reinstall with: jirahooks install pre-receive --config /path/to/jirahooks.yml, "
                "or put JIRAHOOKS_ENDPOINT and JIRAHOOKS_SECRET into hooks/jirahooks.env",
            )
        ]
    )


def _receive(options: HookOptions, updates: list[gitpush.RefUpdate]) -> int:
    """pre-receive / update: evaluate the commits new to this repository, ref by ref, with one
    batched Jira pass (local mode) or one Validation API request per ref (remote mode); reject
    the whole push if any ref is blocked."""
    mode, config = _server_mode(options)
    user = options.user or next(
        (options.environ[v] for v in _USER_VARIABLES if options.environ.get(v)), ""
    )
    # pre-receive runs inside the receiving repository with GIT_DIR and the quarantine object
    # directories set: they must be kept, or the pushed objects are invisible.
    events = gitpush.ref_events(
        updates, exclude=["--all"], keep_git_vars=True, user=user, repository=options.repo or ""
    )
    if not events:
        return EXIT_OK
    if mode == "remote":
        assert isinstance(config, remote.RemoteConfig)
        return _receive_remote(options, config, events)
    assert isinstance(config, Path)
    setup = _setup(config, options)
    evaluations, _ = _evaluate([e for _, e in events], setup, _budget(setup, options, True))
    blocked = False
    for (update, event), evaluation in zip(events, evaluations, strict=True):
        title = _ref_title(update, event)
        if evaluation.blocked or options.verbose:
            output.err(report.render(_document(evaluation), title=title, verbose=options.verbose))
        else:
            output.err(f"jirahooks: {evaluation.result.value} — {title}")
        blocked |= evaluation.blocked
    if blocked:
        output.err("jirahooks: push rejected; fix the commits above and push again")
    return EXIT_BLOCKED if blocked else EXIT_OK


def _ref_title(update: gitpush.RefUpdate, event: Event) -> str:
    count = len(event.commits)
    return f"{update.ref}, {count} new commit{'s' if count != 1 else ''}"


def _receive_remote(
    options: HookOptions,
    config: remote.RemoteConfig,
    events: list[tuple[gitpush.RefUpdate, Event]],
) -> int:
    """One request per ref (each ref's branch conditions apply), within the hook's budget."""
    import dataclasses
    import time

    budget = options.timeout if options.timeout is not None else SERVER_BUDGET_SECONDS
    deadline = time.monotonic() + budget
    worst = EXIT_OK
    for update, event in events:
        left = deadline - time.monotonic()
        if left <= 0:
            error = remote.ServerUnreachable(
                f"the {budget:g} s budget of the hook ran out before {update.ref} was checked",
                hint="raise --timeout, or check why the jirahooks server is slow",
            )
            worst = max(worst, _server_trouble(config, error, error.exit_code))
            break
        bounded = dataclasses.replace(config, timeout=min(config.timeout, left))
        code = _ask_remote(bounded, event, options.verbose, title=_ref_title(update, event))
        worst = max(worst, code)
    if worst == EXIT_BLOCKED:
        output.err("jirahooks: push rejected; fix the commits above and push again")
    return worst
