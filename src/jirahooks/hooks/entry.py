"""The client hooks, commit-msg and pre-push: what the installed hook scripts run.

::

    python -m jirahooks.hooks [--mode M] [--config F] [--repo S] [--timeout T]
                                    [--hooks-dir D] [-v] HOOK ARGS…

Every developer pays for this on every commit, so the path stays light (docs/hooks.md, "Cost"):

* no ``argparse``: the options the installed scripts pass are read here; any other command line
  (``--help``, an option after the hook name, an unknown option, pre-receive / update) goes to
  the full command line, ``jirahooks hook …``, which behaves exactly as before;
* no ``dataclasses``, ``typing``, ``subprocess``, ``socket``, ``http.client``, ``email``,
  ``hashlib`` or ``ssl`` in remote mode: ``remote`` speaks HTTP over ``_socket``, ``gitio``
  spawns git directly, and ``ssl`` loads only for an https endpoint; two git calls for a commit
  (``rev-parse`` for the directories, ``config`` for the author and comment character; the
  branch is read from ``HEAD``);
* local mode without Jira judges a commit message (``jirahooks.hooks.judge``) from the rules
  as an earlier commit-msg compiled them (``jirahooks.hooks.compiled``, under ``.git/``): no
  engine, no rule model, no YAML. Otherwise — the first commit, a changed rules file, a push, Jira
  connections — it loads the engine and the rules (``jirahooks.hooks.local``), and
  ``asyncio`` and the Jira client only when a Jira connection is really asked.

``jirahooks hook commit-msg|pre-push`` (the pre-commit framework, a person) runs ``run`` too, so
both ways behave the same. ``tests/hooks/test_light_imports.py`` lists the modules this path
imports (``python -X importtime``) and fails on a heavy one.
"""

from __future__ import annotations

import os
import sys

from jirahooks import gitio, output
from jirahooks.errors import EXIT_BLOCKED, EXIT_INTERNAL, EXIT_OK, JirahooksError, UsageError
from jirahooks.hooks import gitpush, report

TYPE_CHECKING = False  # the hook path does not import typing
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from jirahooks.engine.facts import Evaluation
    from jirahooks.event import Event
    from jirahooks.hooks import remote
    from jirahooks.hooks.setup import LocalSetup

CLIENT_HOOKS = ("commit-msg", "pre-push", "prepare-commit-msg")
MODES = ("auto", "remote", "local")
CONFIG_NAMES = (".jirahooks.toml", ".jirahooks.yml", ".jirahooks.yaml")
CACHE_DIR = "jirahooks"  # under the git directory: the rules cache of local mode
_OPTIONS = {
    "--mode": "mode",
    "--config": "config",
    "-c": "config",
    "--repo": "repo",
    "--timeout": "timeout",
    "--user": "user",
    "--hooks-dir": "hooks_dir",
}


class Call:
    """How a client hook was called (the options of ``jirahooks hook``)."""

    __slots__ = ("args", "config", "hook", "hooks_dir", "mode", "repo", "timeout", "verbose")

    def __init__(
        self,
        hook: str,
        args: Sequence[str] = (),
        *,
        mode: str = "auto",
        config: str | None = None,
        repo: str | None = None,
        timeout: float | None = None,
        hooks_dir: str | None = None,
        verbose: bool = False,
    ) -> None:
        self.hook = hook
        self.args = tuple(args)
        self.mode = mode
        self.config = config
        self.repo = repo
        self.timeout = timeout
        self.hooks_dir = hooks_dir
        self.verbose = verbose


def parse(argv: Sequence[str]) -> Call | None:
    """``[OPTIONS] HOOK ARGS…`` as the installed scripts write it, or None for anything that
    needs the full command line's judgement."""
    values: dict[str, str] = {}
    verbose = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        if arg in ("--verbose", "-v"):
            verbose = True
            i += 1
        elif eq and name.startswith("--") and name in _OPTIONS:
            values[_OPTIONS[name]] = inline
            i += 1
        elif arg in _OPTIONS and i + 1 < len(argv):
            values[_OPTIONS[arg]] = argv[i + 1]
            i += 2
        elif arg.startswith("-"):
            return None
        else:
            break
    rest = argv[i + 1 :]
    if i >= len(argv) or argv[i] not in CLIENT_HOOKS or any(a.startswith("-") for a in rest):
        return None
    if values.get("mode", "auto") not in MODES:
        return None
    timeout = None
    if "timeout" in values:
        try:
            timeout = float(values["timeout"])
        except ValueError:
            return None
    return Call(
        argv[i],
        rest,
        mode=values.get("mode", "auto"),
        config=values.get("config"),
        repo=values.get("repo"),
        timeout=timeout,
        hooks_dir=values.get("hooks_dir"),
        verbose=verbose,
    )


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    call = parse(arguments)
    if call is None:
        from jirahooks.cli import main as cli_main

        return cli_main(["hook", *arguments])
    return guarded(lambda: run(call))


def guarded(function: Callable[[], int]) -> int:
    """An exit code for anything ``function`` raises, as ``jirahooks.cli.main`` gives it."""
    try:
        return function()
    except JirahooksError as exc:
        output.error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if os.environ.get("JIRAHOOKS_DEBUG"):
            raise
        output.error(
            JirahooksError(
                f"internal error: {type(exc).__name__}: {exc}",
                hint="this is a bug; rerun with JIRAHOOKS_DEBUG=1 for a traceback and report it",
                code="INTERNAL",
            )
        )
        return EXIT_INTERNAL


# --- the hooks -------------------------------------------------------------------------------


def run(call: Call, stdin: bytes | None = None, environ: dict[str, str] | None = None) -> int:
    """Run commit-msg or pre-push: git's stdin once, the hook installed before ours, then ours."""
    env = dict(os.environ) if environ is None else environ
    if stdin is None and call.hook == "pre-push":
        stdin = read_stdin(env)
    legacy = run_legacy(call.hook, call.args, call.hooks_dir, stdin)
    if legacy != 0:
        return legacy
    if call.hook in ("commit-msg", "prepare-commit-msg") and not call.args:
        raise UsageError(
            f"{call.hook} needs the commit message file", hint=f"git passes it: {call.hook} FILE"
        )
    repo = Repository.discover()
    if call.hook == "prepare-commit-msg":
        return _prepare(call, repo, env)
    if call.hook == "commit-msg":
        bare_key = _only_inserted_key(call, repo)
        if bare_key:
            from jirahooks.i18n import translate

            output.err(translate("prepare.only_key", hook_locale(), key=bare_key))
            return EXIT_BLOCKED
    mode, config = _mode(call, repo, env)
    if mode == "none":
        return _unconfigured()
    if call.hook == "commit-msg":
        return _commit_msg(call, repo, mode, config)
    updates = gitpush.pre_commit_push(env) or gitpush.parse_pre_push(
        (stdin or b"").decode("utf-8", "replace")
    )
    return _pre_push(call, repo, updates, mode, config)


def read_stdin(environ: dict[str, str]) -> bytes:
    # The pre-commit framework keeps git's stdin for itself (and describes the push in its
    # environment); a terminal on stdin means somebody ran the hook by hand.
    if environ.get("PRE_COMMIT_TO_REF") or sys.stdin is None or sys.stdin.isatty():
        return b""
    return sys.stdin.buffer.read()


def run_legacy(hook: str, args: Sequence[str], hooks_dir: str | None, stdin: bytes | None) -> int:
    """The hook that was installed before ours runs first, exactly as git would run it."""
    if not hooks_dir:
        return 0
    legacy = os.path.join(hooks_dir, f"{hook}.legacy")
    if not (os.path.isfile(legacy) and os.access(legacy, os.X_OK)):
        return 0
    import errno
    import subprocess

    command = [os.path.abspath(legacy), *args]
    try:
        proc = subprocess.run(command, input=stdin, check=False)
    except OSError as exc:
        if exc.errno != errno.ENOEXEC:
            raise
        proc = subprocess.run(["sh", *command], input=stdin, check=False)  # no #! line
    if proc.returncode != 0:
        output.err(
            f"jirahooks: {os.path.basename(legacy)} failed (exit {proc.returncode}); not checking"
        )
    return proc.returncode


class Repository:
    """The directories a client hook needs, from one ``git rev-parse`` (empty outside a
    repository): hooks (``core.hooksPath`` when set), the common and the own git directory,
    the work tree's root."""

    __slots__ = ("common_dir", "git_dir", "hooks", "root")

    def __init__(self, hooks: str, common_dir: str, git_dir: str, root: str) -> None:
        self.hooks, self.common_dir, self.git_dir, self.root = hooks, common_dir, git_dir, root

    @classmethod
    def discover(cls) -> Repository:
        args = ["--path-format=absolute", "--git-path", "hooks", "--git-common-dir", "--git-dir"]
        _, out, _ = gitio.run_git(["rev-parse", *args, "--show-toplevel"])
        lines = out.decode("utf-8", "replace").splitlines()
        if len(lines) < 3:
            return cls("", "", "", "")
        return cls(lines[0], lines[1], lines[2], lines[3] if len(lines) > 3 else "")

    def hook_dirs(self, hooks_dir: str | None) -> list[str]:
        """Where env files may sit: the running hook's directory, the configured hooks
        directory (``core.hooksPath``), and ``.git/hooks`` (the reference client's place)."""
        dirs = [hooks_dir] if hooks_dir else []
        if self.common_dir:
            dirs += [self.hooks, os.path.join(self.common_dir, "hooks")]
        return dirs


def _mode(call: Call, repo: Repository, env: dict[str, str]) -> tuple[str, object]:
    """("remote", RemoteConfig), ("local", the rules file's path as a str) or ("none", None)."""
    if call.mode in ("remote", "auto"):
        from jirahooks.hooks import remote  # not in local mode: it needs socket

        config = remote.load_config(repo.hook_dirs(call.hooks_dir), environ=env)
        if config is not None:
            return "remote", config
        if call.mode == "remote":
            return "none", None
    path = config_file(call.config, repo.root or None)
    return ("local", path) if path is not None else ("none", None)


def config_file(explicit: str | None, root: str | os.PathLike[str] | None) -> str | None:
    """``--config`` if given, else the one of .jirahooks.toml / .jirahooks.yml / .jirahooks.yaml
    at ``root`` (two of them: a configuration error naming both, never a silent choice)."""
    if explicit:
        return explicit
    if root is None:
        return None
    found = [os.path.join(root, n) for n in CONFIG_NAMES if os.path.isfile(os.path.join(root, n))]
    if len(found) > 1:
        from jirahooks.errors import ConfigError, ConfigProblem

        names = " and ".join(found)
        raise ConfigError(
            [
                ConfigProblem(
                    "--config",
                    f"more than one configuration file: {names}",
                    f"keep one of them (e.g. remove {os.path.basename(found[-1])}), or install "
                    "the hook with --config FILE",
                )
            ]
        )
    return found[0] if found else None


def find_config(explicit: str | None, root: str | os.PathLike[str] | None) -> Path | None:
    """``config_file`` as a ``Path``."""
    from pathlib import Path  # not on the hook path: pathlib costs a third of a bare start

    path = config_file(explicit, root)
    return Path(path) if path is not None else None


def _unconfigured() -> int:
    output.err(
        "jirahooks: warning: not configured — set JIRAHOOKS_ENDPOINT and JIRAHOOKS_SECRET (or "
        "put them into .git/hooks/jirahooks.env) for remote mode, or add .jirahooks.toml for "
        "local mode; nothing was checked"
    )
    return EXIT_OK


def _prepare(call: Call, repo: Repository, env: dict[str, str]) -> int:
    """prepare-commit-msg (``jirahooks.hooks.prepare``): never fails the commit, whatever the
    configuration says."""
    from jirahooks.hooks import prepare

    try:
        mode, config = _mode(call, repo, env)
    except JirahooksError as exc:
        output.err(f"jirahooks: warning: prepare-commit-msg: {exc}; the message was left as is")
        return EXIT_OK
    return prepare.run(call, repo, mode, config, env)


def _only_inserted_key(call: Call, repo: Repository) -> str:
    """The key, when the message is only what prepare-commit-msg put into an empty one."""
    from jirahooks.hooks.prepare import PREPARED, only_inserted

    if not repo.git_dir or not os.path.exists(os.path.join(repo.git_dir, CACHE_DIR, PREPARED)):
        return ""
    message, _, _ = gitpush.read_commit_message(call.args[0], git_dir=repo.git_dir)
    return only_inserted(repo.git_dir, message)


def _message_file_named(text: str, message_file: str) -> str:
    """The fix-it command names the message file git really used (a linked worktree's lives
    under .git/worktrees/…)."""
    default = ".git/COMMIT_EDITMSG"
    if message_file == default or os.path.basename(message_file) != "COMMIT_EDITMSG":
        return text
    return text.replace(default, message_file)


def _commit_msg(call: Call, repo: Repository, mode: str, config: object) -> int:
    message, author, branch = gitpush.read_commit_message(call.args[0], git_dir=repo.git_dir)
    if not message:
        return EXIT_OK  # git aborts an empty commit itself
    if mode == "remote":
        from jirahooks.hooks import remote

        assert isinstance(config, remote.RemoteConfig)
        commit = gitio.LogRecord(gitpush.ZERO_HASH, (), author, "", message)
        return ask_remote(
            config, "COMMIT", branch, [commit], call.verbose, message_file=call.args[0]
        )
    assert isinstance(config, str)
    cache = os.path.join(repo.common_dir, CACHE_DIR) if repo.common_dir else None
    if cache is not None:
        # the rules as compiled by an earlier commit-msg: no engine (jirahooks.hooks.compiled)
        from jirahooks.hooks import compiled, judge

        form = compiled.cached_form(config, call.repo, cache)
        if form is not None:
            document = judge.evaluate(form, message, author, branch, hook_locale())
            text = report.render(document, verbose=call.verbose)
            output.err(_message_file_named(text, call.args[0]))
            return EXIT_BLOCKED if document["result"] == "BLOCK" else EXIT_OK
    from jirahooks.event import Commit, Event, Trigger

    commit_event = Event(
        Trigger.COMMIT, branch, (Commit(gitpush.ZERO_HASH, message, author_name=author),)
    )
    setup = load_setup(config, call.repo, repo)
    budget = time_budget(setup, call, server=False)
    (evaluation,), _ = evaluate([commit_event], setup, budget)
    code = print_local([("", evaluation)], call.verbose, message_file=call.args[0])
    if cache is not None:
        from pathlib import Path

        from jirahooks.hooks import compiled

        compiled.remember(setup, Path(config), call.repo, Path(cache))
    return code


def _pre_push(
    call: Call, repo: Repository, updates: list[gitpush.RefUpdate], mode: str, config: object
) -> int:
    if mode == "remote":
        from jirahooks.hooks import remote

        assert isinstance(config, remote.RemoteConfig)
        request = gitpush.pre_push_request(updates)
        if request is None:
            return EXIT_OK  # only deletions (or tags): nothing to ask
        branch, commits = request
        return ask_remote(config, "PUSH", branch, commits, call.verbose)
    events = gitpush.ref_events(updates, exclude=["--remotes"])
    if not events:
        return EXIT_OK
    setup = load_setup(config, call.repo, repo)
    evaluations, _ = evaluate([e for _, e in events], setup, time_budget(setup, call, False))
    titled = [(f"push to {u.ref}", ev) for (u, _), ev in zip(events, evaluations, strict=True)]
    return print_local(titled, call.verbose)


# --- remote mode -----------------------------------------------------------------------------


def ask_remote(
    config: remote.RemoteConfig,
    trigger: str,
    branch: str,
    commits: Sequence[remote.CommitLike],
    verbose: bool,
    *,
    title: str = "",
    documents: list[dict[str, object]] | None = None,
    message_file: str = "",
) -> int:
    """Ask the Validation API, print its answer; the exit code it means. The answer is also
    appended to ``documents`` when given (pre-receive's closing line names what failed)."""
    from jirahooks.hooks import remote

    body = remote.payload(trigger, branch, commits, locale=config.locale)
    try:
        document = remote.post(config, body)
    except remote.ServerUnreachable as exc:
        return server_trouble(config, exc, exc.exit_code)
    except remote.ServerRejected as exc:
        if exc.status >= 500:
            return server_trouble(config, exc, EXIT_BLOCKED)
        output.error(exc)
        return EXIT_BLOCKED
    text = report.render(document, title=title, verbose=verbose or config.verbose)
    output.err(_message_file_named(text, message_file) if message_file else text)
    if documents is not None:
        documents.append(document)
    return EXIT_BLOCKED if document.get("result") == "BLOCK" else EXIT_OK


def server_trouble(config: remote.RemoteConfig, exc: JirahooksError, code: int) -> int:
    output.error(exc)
    if config.fail_open:
        output.err("jirahooks: JIRAHOOKS_FAIL_OPEN is set: letting the change through unchecked")
        return EXIT_OK
    return code


# --- local mode ------------------------------------------------------------------------------


def load_setup(path: object, repository: str | None, repo: Repository | None) -> LocalSetup:
    """The rules of ``path`` (parsed data cached under ``.git/jirahooks/``), notes printed."""
    from pathlib import Path

    from jirahooks.hooks.local import load_setup as load

    assert isinstance(path, str | Path)
    cache = Path(repo.common_dir, CACHE_DIR) if repo is not None and repo.common_dir else None
    setup = load(Path(path), repository, cache_dir=cache)
    for note in setup.notes:
        output.err(f"jirahooks: note: {note}")
    return setup


SERVER_BUDGET_SECONDS = 5.0


def time_budget(setup: LocalSetup, call: Call, server: bool) -> float:
    from jirahooks.hooks.local import time_budget as budget_of

    if call.timeout is not None:
        return call.timeout
    default = SERVER_BUDGET_SECONDS if server else setup.settings.time_budget_seconds
    return budget_of(setup, call.repo, default)


def evaluate(
    events: list[Event], setup: LocalSetup, budget: float, *, loopless_first: bool = True
) -> tuple[list[Evaluation], int]:
    from jirahooks.hooks.local import run_batch_sync

    return run_batch_sync(events, setup, budget=budget, loopless_first=loopless_first)


def hook_locale() -> str:
    """The locale of local mode's messages: ``JIRAHOOKS_LOCALE``, else ``LANG``."""
    from jirahooks.i18n import normalize_locale

    return normalize_locale(os.environ.get("JIRAHOOKS_LOCALE") or os.environ.get("LANG"))


def document_of(evaluation: Evaluation) -> dict[str, object]:
    document: dict[str, object] = evaluation.to_document(hook_locale())
    return document


def print_local(
    results: list[tuple[str, Evaluation]], verbose: bool, *, message_file: str = ""
) -> int:
    blocked = False
    for title, evaluation in results:
        text = report.render(document_of(evaluation), title=title, verbose=verbose)
        output.err(_message_file_named(text, message_file) if message_file else text)
        blocked |= evaluation.blocked
    return EXIT_BLOCKED if blocked else EXIT_OK
