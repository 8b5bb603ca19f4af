"""``jirahooks check``: evaluate a commit range, a branch name or a commit-message file.

Examples::

    jirahooks check --range origin/main..HEAD               # what a push would send
    jirahooks check --branch feature/ABC-1-login            # branch-only rules
    jirahooks check --message-file .git/COMMIT_EDITMSG      # what commit-msg checks
    jirahooks check --range A..B --pr-title "ABC-1: Login" --format junit > report.xml

Exit codes: 0 passed (or warnings / nothing to check), 1 blocked, 2 usage, 3 configuration,
4 environment (git failed, Jira unreachable while connecting).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

from jirahooks.cli._common import add_config_argument, load_config
from jirahooks.errors import EXIT_BLOCKED, EXIT_OK, EnvironmentProblem, UsageError
from jirahooks.event import ZERO_HASH, Commit, Event, PullRequest, Trigger

if TYPE_CHECKING:
    from jirahooks.engine.facts import Evaluation, Fact


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    add_config_argument(parser)
    parser.add_argument(
        "--repo",
        metavar="SLUG",
        help="repository whose rules apply (default: workspace rules only)",
    )
    what = parser.add_argument_group("what to check (at least one)")
    what.add_argument(
        "--range", metavar="A..B", help="commits of a git revision range (git log A..B)"
    )
    what.add_argument(
        "--branch", metavar="NAME", help="branch name (default with --range: the current branch)"
    )
    what.add_argument(
        "--message-file", metavar="FILE", help="a commit message file, as commit-msg hooks get"
    )
    what.add_argument(
        "--pr-title", metavar="TEXT", help="pull-request title (implies --trigger PULL_REQUEST)"
    )
    what.add_argument("--pr-description", metavar="TEXT", help="pull-request description")
    what.add_argument(
        "--pr-destination", metavar="BRANCH", default="", help="pull-request destination branch"
    )
    parser.add_argument(
        "--trigger",
        type=str.upper,
        choices=[t.value for t in Trigger],
        help="which rules run: default COMMIT for --message-file, PULL_REQUEST with --pr-title, else PUSH",
    )
    parser.add_argument("--user", default="", help="who pushes (for user conditions)")
    parser.add_argument(
        "--format",
        choices=("text", "json", "junit"),
        default="text",
        help="output format (default text)",
    )
    parser.add_argument(
        "--locale", default="en-US", help="message language: en-US (default) or de-DE"
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="do not contact Jira, even when connections are configured",
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="show every fact, passes included"
    )
    parser.add_argument(
        "--max-lines",
        type=_max_lines,
        default=20,
        metavar="N",
        help="commits listed per section of a failing rule, failures first, and per rule in "
        "--format json (default 20; 0: all)",
    )


def _max_lines(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 0, got {value!r}")
    return number


def build_event(args: argparse.Namespace) -> Event:
    from jirahooks import gitio

    if not (
        args.range
        or args.branch
        or args.message_file
        or args.pr_title is not None
        or args.pr_description is not None
    ):
        raise UsageError(
            "nothing to check",
            hint="give --range A..B, --branch NAME, --message-file FILE or --pr-title TEXT",
        )
    commits: list[Commit] = []
    branch = args.branch or ""
    if args.message_file:
        try:
            raw = Path(args.message_file).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot read {args.message_file}: {exc.strerror}", hint="check the path"
            ) from exc
        comment = gitio.config_value("core.commentChar") or "#"
        if comment == "auto":  # git picks a free character per message; '#' is its default
            comment = "#"
        author = gitio.config_value("user.name")
        commits.append(Commit(ZERO_HASH, gitio.clean_message(raw, comment[:1]), author_name=author))
    if args.range:
        commits.extend(gitio.read_commits([args.range]))
    if not branch and (args.range or args.message_file):
        branch = gitio.current_branch()
    pr = None
    if args.pr_title is not None or args.pr_description is not None:
        pr = PullRequest(
            id="local",
            title=args.pr_title or "",
            description=args.pr_description or "",
            source_branch=branch,
            destination_branch=args.pr_destination,
        )
    if args.trigger:
        trigger = Trigger(args.trigger)
    elif pr is not None:
        trigger = Trigger.PULL_REQUEST
    elif args.message_file and not args.range:
        trigger = Trigger.COMMIT
    else:
        trigger = Trigger.PUSH
    return Event(trigger, branch, tuple(commits), pr, repository=args.repo or "", user=args.user)


async def _evaluate(args: argparse.Namespace, event: Event) -> object:
    from jirahooks.engine import evaluate
    from jirahooks.engine.resolver import OfflineResolver, Resolver

    _, document = load_config(args.config)
    if args.repo and document.repository(args.repo) is None and document.repositories:
        raise UsageError(
            f"no repository '{args.repo}' in the configuration",
            hint=f"known: {', '.join(r.slug for r in document.repositories)}",
        )
    settings = document.settings_for(args.repo)
    rules = document.rules_for(args.repo)
    connections = document.connections_for(args.repo)
    resolver: Resolver = OfflineResolver()
    if connections and not args.offline:
        from jirahooks.jira import build_resolver

        resolver = build_resolver(connections, deadline_seconds=settings.time_budget_seconds)
    try:
        evaluation = await evaluate(event, rules, resolver, settings=settings)
        return _offline_by_request(evaluation) if connections and args.offline else evaluation
    finally:
        close = getattr(resolver, "aclose", None)
        if close is not None:
            await close()


def _offline_by_request(evaluation: Evaluation) -> Evaluation:
    """``--offline`` with Jira connections configured: the "Jira was not asked" notices say
    so, instead of claiming that no connection is configured."""
    from dataclasses import replace

    def facts(items: tuple[Fact, ...]) -> tuple[Fact, ...]:
        return tuple(
            replace(f, message_id="jira.offline.requested") if f.message_id == "jira.offline" else f
            for f in items
        )

    validations = tuple(
        replace(rv, check_facts=facts(rv.check_facts), condition_facts=facts(rv.condition_facts))
        for rv in evaluation.rule_validations
    )
    return replace(evaluation, rule_validations=validations)


def run(args: argparse.Namespace) -> int:
    from jirahooks import output, render
    from jirahooks.engine.facts import Evaluation
    from jirahooks.i18n import normalize_locale

    event = build_event(args)
    evaluation = asyncio.run(_evaluate(args, event))
    assert isinstance(evaluation, Evaluation)
    locale = normalize_locale(args.locale)
    if args.format == "json":
        # the Validation API's bounded document: failures in full, passes counted, no messages
        document = evaluation.to_document(locale, listed_commits=args.max_lines)
        output.out(json.dumps(document, ensure_ascii=False, indent=2))
    elif args.format == "junit":
        output.out(render.junit(evaluation, locale=locale))
    else:
        text = render.text(
            evaluation, locale=locale, verbose=args.verbose, max_lines=args.max_lines
        )
        output.out(text)
    output.flush()  # a reader that went away (| head) does not change the verdict
    return EXIT_BLOCKED if evaluation.blocked else EXIT_OK
