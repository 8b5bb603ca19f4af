""" "Try these rules on the last N changes of this repository": the repository's current rule set,
or an edited one, replayed over the evaluations the server already stored, showing what would
change — newly blocked, newly passing — without saving anything.

The rule set is edited as the ``rules:`` list of a configuration document (YAML, the same
reader as ``.jirahooks.yml`` and ``jirahooks apply``), prefilled with the rules that apply to
the repository now (``GET …/rule-set``, the admin API's route function). The stored events are
evaluated with one batched Jira pass (``jirahooks.replay.run``: every key of the N changes
resolved together, each JQL once) through the app's Jira resolvers and cache; parsing the
rules and the engine's planning and judging run on the CPU pool (``server.cpu``), so the event
loop keeps answering while 500 changes are judged.

It runs the typed JQL against Jira as the connection's technical user, like the rule editor's
"Try it": an editor's tool (repository administrators and workspace administrators).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from jirahooks.errors import ConfigError
from jirahooks.replay.history import Change
from jirahooks.replay.run import evaluate_changes
from jirahooks.replay.stored import Comparison, change_from_stored
from jirahooks.rules.model import Rule
from jirahooks.server.admin import rules as rules_api
from jirahooks.server.admin import ruleset
from jirahooks.server.auth import Session
from jirahooks.server.web.common import Ctx, W, first, form_data, page, workspace_ctx
from jirahooks.server.web.i18n import _, current_locale
from jirahooks.server.web.session import WebUserDep
from jirahooks.server.writer import settled
from jirahooks.store import queries
from jirahooks.store.models import EvaluationRow

router = APIRouter()
PATH = W + "/r/{repository}/rules/-/replay"
DEFAULT_COUNT = 50
MAX_COUNT = 500
MAX_RULES_TEXT = 200_000  # characters of the edited rule set
# commits judged per try (a stored push can hold 10,000): the newest changes up to this bound
MAX_COMMITS = 50_000
# a replay of 500 stored changes may ask Jira more than one hook does: its own deadline
JIRA_DEADLINE_SECONDS = 60.0


def _current_yaml(document: dict[str, Any], slug: str) -> str:
    """The rules that apply to the repository now, as the ``rules:`` YAML the form edits."""
    import yaml

    from jirahooks.rules.config import load_document
    from jirahooks.rules.schema import dump

    rules = []
    for rule in load_document(document).rules_for(slug):
        data = dump(rule)
        data.pop("scope", None)
        rules.append(data)
    text: str = yaml.safe_dump({"rules": rules}, sort_keys=False, allow_unicode=True)
    return text


def _parse(text: str) -> list[Rule]:
    """The edited rule set (on the CPU pool: YAML and the rule reader)."""
    import yaml

    from jirahooks.errors import ConfigProblem
    from jirahooks.rules.config import load_document

    try:
        data = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(
            [ConfigProblem("rules", f"not valid YAML{where}", "indent with spaces")]
        ) from exc
    if isinstance(data, list):
        data = {"rules": data}
    if not isinstance(data, dict) or set(data) - {"rules"}:
        raise ConfigError(
            [ConfigProblem("rules", "expected a mapping with a rules: list", "rules:\n  - …")]
        )
    return load_document(data).rules_for(None)


async def _ctx(db: Session, user: Any, workspace: str, repository: str) -> Ctx:
    ctx = await workspace_ctx(db, user, workspace, repository)
    assert ctx.repository is not None
    # it runs the typed JQL as the technical user, like "Try it"
    rules_api.require_rule_writer(ctx.user.principal, ctx.workspace, ctx.repository)
    return ctx


async def _document(db: Session, ctx: Ctx) -> dict[str, Any]:
    assert ctx.repository is not None
    answer = await ruleset.rule_set(ctx.workspace.slug, ctx.repository.slug, db, ctx.user.principal)
    return answer.document


@router.get(PATH)
async def replay_form(
    request: Request, workspace: str, repository: str, db: Session, user: WebUserDep
) -> Response:
    ctx = await _ctx(db, user, workspace, repository)
    document = await _document(db, ctx)
    state = request.app.state.jirahooks
    text = await state.cpu.run(_current_yaml, document, repository)
    return page(
        request, ctx, "rules_replay.html", tab="rules", rules_text=text, count=DEFAULT_COUNT
    )


def _count(raw: str) -> int | None:
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 1 <= value <= MAX_COUNT else None


@router.post(PATH)
async def replay_run(
    request: Request, workspace: str, repository: str, db: Session, user: WebUserDep
) -> Response:
    ctx = await _ctx(db, user, workspace, repository)
    assert ctx.repository is not None
    form = await form_data(request)
    text = first(form, "rules")
    raw_count = first(form, "count", str(DEFAULT_COUNT)).strip()
    count = _count(raw_count)
    problems: list[str] = []
    if count is None:
        problems.append(_("Number of changes: a whole number from 1 to %(max)s.", max=MAX_COUNT))
    if len(text) > MAX_RULES_TEXT:
        problems.append(_("The rule set is too long (at most %(n)s characters).", n=MAX_RULES_TEXT))
    state = request.app.state.jirahooks
    rules: list[Rule] = []
    if not problems:
        try:
            rules = await state.cpu.run(_parse, text)
        except ConfigError as exc:
            problems.extend(f"{p.path}: {p.message}" for p in exc.problems)
    context: dict[str, Any] = {"tab": "rules", "rules_text": text, "count": raw_count}
    if problems:
        return page(request, ctx, "rules_replay.html", status=422, problems=problems, **context)
    assert count is not None
    await settled(request)  # every evaluation answered before is stored
    # the columns the replay reads (not the stored documents, which can be large)
    rows = (
        await db.execute(
            select(
                EvaluationRow.id,
                EvaluationRow.created_at,
                EvaluationRow.result,
                EvaluationRow.event,
            )
            .where(
                EvaluationRow.workspace_id == ctx.workspace.id,
                EvaluationRow.repository_id == ctx.repository.id,
            )
            .order_by(EvaluationRow.id.desc())
            .limit(count)
        )
    ).all()
    slug = ctx.repository.slug
    changes: list[Change] = []
    stored: dict[str, str] = {}
    commits = 0
    capped = 0
    for row_id, created_at, result, event in rows:
        change = change_from_stored(str(row_id), event, slug, created_at.isoformat())
        if change is None:
            continue
        if changes and commits + len(change.event.commits) > MAX_COMMITS:
            capped += 1  # older changes past the bound: left out, and said so
            continue
        commits += len(change.event.commits)
        changes.append(change)
        stored[change.ref] = result
    settings = queries.effective_settings(ctx.workspace, ctx.repository)
    connections = await queries.enabled_connections(db, ctx.workspace.id, ctx.repository.id)
    resolver = state.resolvers.resolver(connections, deadline_seconds=JIRA_DEADLINE_SECONDS)
    locale = current_locale()
    comparison = Comparison()
    started = time.perf_counter()
    calls, keys = await evaluate_changes(
        changes,
        rules,
        resolver,
        settings=settings,
        run_cpu=state.cpu.run,
        on_result=lambda change, evaluation: comparison.add(
            change, stored[change.ref], evaluation, locale
        ),
    )
    return page(
        request,
        ctx,
        "rules_replay.html",
        comparison=comparison,
        skipped=len(rows) - len(changes) - capped,
        capped=capped,
        max_commits=MAX_COMMITS,
        jira_calls=calls,
        jira_keys=keys,
        connections=[c.name for c in connections],
        seconds=time.perf_counter() - started,
        **context,
    )
