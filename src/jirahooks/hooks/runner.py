"""Running one git hook: commit-msg, pre-push (remote or local mode), pre-receive, update.

Called by ``jirahooks hook NAME ARGS…`` (the installed hook scripts, the pre-commit framework,
or a person). The order is always:

1. read git's stdin (pre-push, pre-receive) once;
2. run the hook that was installed before ours (``<hook>.legacy``) with the same arguments and
   stdin; if it fails, stop with its exit code;
3. evaluate — remote mode asks the Validation API, local mode runs the engine here;
4. print the result on stderr and exit 0 (pass / warning / nothing to check), 1 (blocked),
   3 (configuration), 4 (environment: server or git unusable).

The client hooks (commit-msg, pre-push) are ``jirahooks.hooks.entry``'s, which the installed
scripts call directly; this module adds the server hooks (pre-receive, update) and the
command line's ``HookOptions``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jirahooks import output
from jirahooks.errors import EXIT_BLOCKED, EXIT_OK, ConfigError, ConfigProblem, UsageError
from jirahooks.event import Event
from jirahooks.hooks import entry, gitpush, remote, report

CLIENT_HOOKS = entry.CLIENT_HOOKS
SERVER_HOOKS = ("pre-receive", "update")
HOOKS = CLIENT_HOOKS + SERVER_HOOKS
MODES = entry.MODES
SERVER_BUDGET_SECONDS = entry.SERVER_BUDGET_SECONDS
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


def _call(options: HookOptions) -> entry.Call:
    return entry.Call(
        options.hook,
        options.args,
        mode=options.mode,
        config=options.config,
        repo=options.repo,
        timeout=options.timeout,
        hooks_dir=options.hooks_dir,
        verbose=options.verbose,
    )


def run(options: HookOptions, stdin: bytes | None = None) -> int:
    """Run the hook; ``stdin`` defaults to reading ours for hooks that get git's input there."""
    if options.hook not in HOOKS:
        raise UsageError(f"unknown hook '{options.hook}'", hint=f"one of: {', '.join(HOOKS)}")
    if options.mode not in MODES:
        raise UsageError(f"unknown mode '{options.mode}'", hint=f"one of: {', '.join(MODES)}")
    if options.hook in CLIENT_HOOKS:
        return entry.run(_call(options), stdin, options.environ)
    if stdin is None and options.hook == "pre-receive":
        stdin = entry.read_stdin(options.environ)
    legacy = entry.run_legacy(options.hook, options.args, options.hooks_dir, stdin)
    if legacy != 0:
        return legacy
    if options.hook == "pre-receive":
        updates = gitpush.parse_pre_receive((stdin or b"").decode("utf-8", "replace"))
        return _receive(options, updates)
    return _receive(options, [gitpush.update_args(list(options.args))])


# --- server hooks ---------------------------------------------------------------------------


def _server_mode(options: HookOptions) -> tuple[str, remote.RemoteConfig | Path]:
    """Server hooks read rules from a local file (``--config``, local mode) or ask a jirahooks
    server's Validation API, whose rules and Jira connections then apply (remote mode)."""
    if options.mode not in MODES:
        raise UsageError(f"unknown mode '{options.mode}'", hint=f"one of: {', '.join(MODES)}")
    path = entry.find_config(options.config, None) if options.mode != "remote" else None
    if path is not None:
        return "local", path
    if options.mode != "local":
        repo = entry.Repository.discover()
        config = remote.load_config(repo.hook_dirs(options.hooks_dir), environ=options.environ)
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
    setup = entry.load_setup(config, options.repo, None)
    budget = entry.time_budget(setup, _call(options), server=True)
    evaluations, _ = entry.evaluate([e for _, e in events], setup, budget, loopless_first=False)
    blocked = False
    failed: set[str] = set()
    for (update, event), evaluation in zip(events, evaluations, strict=True):
        title = _ref_title(update, event)
        # a warning (severity WARNING, mode warn) and an exemption are shown, never only counted
        shown = evaluation.result.value == "WARNING" or bool(evaluation.exemptions)
        if evaluation.blocked or shown or options.verbose:
            document = entry.document_of(evaluation)
            output.err(report.render(document, title=title, verbose=options.verbose))
            failed |= report.failed_parts(document)
        else:
            output.err(f"jirahooks: {evaluation.result.value} — {title}")
        blocked |= evaluation.blocked
    if blocked:
        output.err(report.rejected_line(failed))
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
    import time

    budget = options.timeout if options.timeout is not None else SERVER_BUDGET_SECONDS
    deadline = time.monotonic() + budget
    worst = EXIT_OK
    documents: list[dict[str, object]] = []
    for update, event in events:
        left = deadline - time.monotonic()
        if left <= 0:
            error = remote.ServerUnreachable(
                f"the {budget:g} s budget of the hook ran out before {update.ref} was checked",
                hint="raise --timeout, or check why the jirahooks server is slow",
            )
            worst = max(worst, entry.server_trouble(config, error, error.exit_code))
            break
        bounded = config.replace(timeout=min(config.timeout, left))
        code = entry.ask_remote(
            bounded,
            event.trigger.value,
            event.branch,
            event.commits,
            options.verbose,
            title=_ref_title(update, event),
            documents=documents,
        )
        worst = max(worst, code)
    if worst == EXIT_BLOCKED:
        failed: set[str] = set()
        for document in documents:
            failed |= report.failed_parts(document)
        output.err(report.rejected_line(failed))
    return worst
