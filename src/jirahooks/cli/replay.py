"""``jirahooks replay``: what a rule set would have blocked over an existing history.

Evaluates the rules over every commit of a range (``--unit commit``), every change the branch
received on its first-parent line (``--unit push``: a merge counts with the commits it brought
in), or every merged pull request a host's merge commit marks (``--unit pr``: Bitbucket Cloud and
Data Center, GitHub, GitLab), with one batched Jira pass for the keys of the whole history. The
report counts verdicts per rule, per author and per branch and lists the changes that would be
blocked with the reason — as text, JSON, or a self-contained HTML page with charts.

Examples::

    jirahooks replay --since 2026-01-01                       # every commit of HEAD since then
    jirahooks replay --range v1.0..main --unit pr --format html --output replay.html
    jirahooks replay --config new-rules.yml --unit push --format json > replay.json
    JIRAHOOKS_API_TOKEN=… jirahooks replay --server https://jh.example --repo api --since 2026-01-01

Rules come from ``--config FILE`` (default: the repository's .jirahooks.toml / .yml) or, with
``--server URL --repo SLUG``, from a jirahooks server (the API token in JIRAHOOKS_API_TOKEN;
Jira connections then come from ``--config FILE`` if given, else Jira is not asked).

A progress bar is drawn on stderr when it is a terminal; ``--quiet``, a CI environment (CI set)
or a redirected stderr keep it off.

Exit codes: 0 report written (whatever it found), 2 usage (bad range or date, unknown
repository), 3 configuration, 4 environment (git failed, server or Jira unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from jirahooks.cli._common import load_config
from jirahooks.errors import EXIT_OK, EnvironmentProblem, UsageError

if TYPE_CHECKING:
    from jirahooks.replay.history import History
    from jirahooks.replay.run import Summary
    from jirahooks.rules.config import ConfigDocument, ConnectionConfig
    from jirahooks.rules.model import Rule, Settings


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    what = parser.add_argument_group("what to replay (default: every commit of HEAD)")
    what.add_argument("--range", metavar="A..B", help="a revision range (git log A..B)")
    what.add_argument(
        "--since", metavar="DATE", help="commits since an ISO 8601 date (2026-01-31) or date-time"
    )
    what.add_argument(
        "--unit",
        choices=("commit", "push", "pr"),
        default="commit",
        help="one change per commit (default), per first-parent push, or per merged pull request",
    )
    what.add_argument(
        "--branch",
        metavar="NAME",
        help="the branch the history belongs to, for branch conditions and pull requests' "
        "destination (default: the range's end when it is a branch, else the current branch)",
    )
    rules = parser.add_argument_group("which rules")
    rules.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="configuration document or rules file; default: .jirahooks.toml / .jirahooks.yml "
        "at the repository root. With --server: only its Jira connections are used",
    )
    rules.add_argument(
        "--server",
        metavar="URL",
        help="read the rules from a jirahooks server (API token in JIRAHOOKS_API_TOKEN)",
    )
    rules.add_argument(
        "--workspace", metavar="SLUG", default="default", help="the server's workspace (default)"
    )
    rules.add_argument(
        "--repo", metavar="SLUG", help="repository whose rules apply (required with --server)"
    )
    out = parser.add_argument_group("report")
    out.add_argument(
        "--format", choices=("text", "json", "html"), default="text", help="default text"
    )
    out.add_argument(
        "--output", "-o", metavar="FILE", help="write the report here (default: stdout)"
    )
    out.add_argument("--locale", default="en-US", help="message language: en-US or de-DE")
    out.add_argument(
        "--max-failures",
        type=_count,
        default=50,
        metavar="N",
        help="blocked changes listed in the text report (default 50; 0: all)",
    )
    parser.add_argument("--offline", action="store_true", help="do not contact Jira")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 0, got {value!r}")
    return number


_PHASES = {"plan": "reading keys", "jira": "asking Jira", "judge": "judging"}


class ProgressBar:
    """One line on stderr, redrawn at most ten times a second; only on a terminal, never in CI
    (``CI`` set, as every CI service does) or with ``--quiet``. The one place ``replay`` writes
    to stderr besides errors (``jirahooks.output``)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0
        self._drawn = False

    @staticmethod
    def wanted(quiet: bool) -> bool:
        return not quiet and not os.environ.get("CI") and sys.stderr.isatty()

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        share = done / total if total else 1.0
        filled = int(share * 30)
        label = _PHASES.get(phase, phase)
        sys.stderr.write(
            f"\rjirahooks replay: {label:<12} [{'#' * filled}{'.' * (30 - filled)}] "
            f"{done}/{total}\x1b[K"
        )
        sys.stderr.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _branch(args: argparse.Namespace) -> str:
    from jirahooks import gitio

    if args.branch:
        return str(args.branch)
    if args.range:
        end = args.range.replace("...", "..").split("..", 1)[1]
        if gitio.run_git(["show-ref", "--verify", "--quiet", f"refs/heads/{end}"])[0] == 0:
            return str(end)
        if gitio.run_git(["show-ref", "--verify", "--quiet", f"refs/remotes/{end}"])[0] == 0:
            return str(end.split("/", 1)[1])
    return gitio.current_branch()


def _rules(args: argparse.Namespace) -> tuple[ConfigDocument, str | None, str, list[str]]:
    """The document to take rules and settings from, the repository slug, a description of
    where the rules came from, and notes; connections come from ``--config`` (see ``run``)."""
    if args.server:
        if not args.repo:
            raise UsageError(
                "--server needs --repo SLUG",
                hint="the repository whose rules to replay, e.g. --server URL --repo api",
                code="REPO_REQUIRED",
            )
        from jirahooks.replay.remote import TOKEN_ENV, fetch

        remote = fetch(args.server, args.workspace, args.repo, os.environ.get(TOKEN_ENV, ""))
        notes = [
            f"rule '{rule}' on the server does not read: not replayed ({problem})"
            for rule, problem in remote.broken
        ]
        return remote.document, args.repo, remote.source, notes
    path, document = load_config(args.config)
    if args.repo and document.repository(args.repo) is None and document.repositories:
        raise UsageError(
            f"no repository '{args.repo}' in {path}",
            hint=f"known: {', '.join(r.slug for r in document.repositories)}",
            code="UNKNOWN_REPOSITORY",
        )
    return document, args.repo, str(path), []


async def _replay(
    history: History,
    summary: Summary,
    progress: ProgressBar,
    *,
    rules: list[Rule],
    settings: Settings,
    connections: list[ConnectionConfig],
    locale: str,
) -> None:
    from jirahooks.engine.resolver import OfflineResolver, Resolver
    from jirahooks.replay.run import add, evaluate_changes

    resolver: Resolver = OfflineResolver()
    if connections:
        from jirahooks.jira import build_resolver

        # no time budget: a replay is no hook; the client's timeouts and retries apply
        resolver = build_resolver(connections)
    try:
        calls, keys = await evaluate_changes(
            history.changes,
            rules,
            resolver,
            settings=settings,
            progress=progress,
            on_result=lambda change, evaluation: add(summary, change, evaluation, locale),
        )
    finally:
        close = getattr(resolver, "aclose", None)
        if close is not None:
            await close()
    summary.jira_calls, summary.keys = calls, keys
    summary.jira = "offline" if resolver.offline else "asked"


def run(args: argparse.Namespace) -> int:
    from jirahooks.i18n import normalize_locale
    from jirahooks.replay import history as hist
    from jirahooks.replay.run import new_summary

    args.locale = normalize_locale(args.locale)
    since = hist.parse_since(args.since) if args.since else None
    revs = hist.revisions(args.range, since)
    document, repo, source, notes = _rules(args)
    connections: list[ConnectionConfig] = []
    if not args.server:
        connections = document.connections_for(repo)
    elif args.config:  # the server's rules, this file's Jira connections
        connections = load_config(args.config)[1].connections_for(None)
    started = time.perf_counter()
    branch = _branch(args)
    history = hist.read_history(hist.Unit(args.unit), revs, branch=branch, repository=repo or "")
    summary = new_summary(args.unit, branch, repo or "", source)
    summary.commits, summary.not_judged = history.commits, history.not_judged
    summary.notes.extend(notes)
    if connections and args.offline:
        summary.notes.append("--offline: Jira was not asked although connections are configured")
    if not history.changes:
        summary.notes.append("nothing to replay: the range holds no change of this unit")
    progress = ProgressBar(ProgressBar.wanted(args.quiet))
    try:
        asyncio.run(
            _replay(
                history,
                summary,
                progress,
                rules=document.rules_for(repo),
                settings=document.settings_for(repo),
                connections=[] if args.offline else connections,
                locale=args.locale,
            )
        )
    finally:
        progress.close()
    summary.seconds = time.perf_counter() - started
    _write(args, summary)
    return EXIT_OK


def _write(args: argparse.Namespace, summary: Summary) -> None:
    from jirahooks import output
    from jirahooks.replay import report

    if args.format == "text":
        text = report.text(summary, max_failures=args.max_failures)
    elif args.format == "json":
        import json

        text = json.dumps(report.to_data(summary), ensure_ascii=False, indent=2)
    else:
        from jirahooks.replay.html import page

        text = page(report.to_data(summary))
    if args.output:
        try:
            Path(args.output).write_text(output.safe(text) + "\n", encoding="utf-8")
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot write {args.output}: {exc.strerror}",
                hint="check the directory exists and is writable",
                code="OUTPUT_NOT_WRITABLE",
            ) from exc
        output.err(
            f"jirahooks replay: {summary.changes} change(s), {summary.blocked} would be blocked; "
            f"report in {args.output}"
        )
        return
    output.out(text)
    output.flush()
