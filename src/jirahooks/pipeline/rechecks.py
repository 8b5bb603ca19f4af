"""When Jira changes after the check (issue 16 §5): evaluate the open pull requests again whose
last evaluation used a changed issue.

- Every PR evaluation's issue keys are kept (``store.pr_keys``, written with the evaluation by
  ``pipeline.processing.Processor.store`` through :func:`keys_of`).
- A signed Jira webhook (``jira:issue_updated`` / ``jira:issue_deleted`` / ``jira:issue_created``,
  ``server.jira_webhooks``) first updates the cache, then calls :func:`queue_rechecks` with the
  issue's keys (and its old keys after a move); the fallback sweep does the same for the updates
  it finds (``jira_webhooks.sweep_once``) — an update the webhook already applied is not found
  again, so it is not rechecked twice.
- A recheck is a forced evaluation queued on the durable PR queue (``pipeline.processing.enqueue``,
  origin ``jira``): the worker evaluates with the updated cache and publishes the new build
  status — a PR that passed while its issue was "In Progress" turns FAILED when the issue moves
  to Done and the rule's JQL asks for "In Progress". A PR that already has a recheck of this
  kind waiting (not yet claimed) gets no second one: a burst of edits to one issue costs one
  evaluation per PR.
- A ``/jirahooks recheck`` comment on a PR (Bitbucket ``pullrequest:comment_created``) queues
  the same forced evaluation (origin ``comment``, ``pipeline.intake``); the admin API's recheck
  endpoint (``bitbucket_admin``) stays.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from jirahooks.engine.facts import Evaluation
from jirahooks.pipeline.queue import enqueue
from jirahooks.store.deliveries import DeliveryRow
from jirahooks.store.pr_keys import open_prs_on_hosts_using

if TYPE_CHECKING:
    from jirahooks.server.state import AppState

log = logging.getLogger("jirahooks.server.pr_rechecks")

ORIGIN = "jira"


def keys_of(evaluation: Evaluation) -> set[str]:
    """The issue keys an evaluation used: the issues it resolved (as requested and as Jira
    knows them now) and the keys its facts name (e.g. a key Jira did not find, which an
    ``issue_created`` can make valid)."""
    keys: set[str] = set()
    for key, issue in evaluation.issues.items():
        keys.add(key.upper())
        if issue.current_key:
            keys.add(issue.current_key.upper())
    for rv in evaluation.rule_validations:
        for fact in (*rv.condition_facts, *rv.check_facts):
            one = fact.params.get("key")
            if isinstance(one, str) and one:
                keys.add(one.upper())
            many = fact.params.get("keys")
            if isinstance(many, str):
                keys.update(k.strip().upper() for k in many.split(",") if k.strip())
    return keys


async def queue_rechecks(
    state: AppState | Any, workspace_id: int, keys: Iterable[str], why: str
) -> int:
    """Queue a forced evaluation of every open PR of the workspace whose last evaluation used
    one of ``keys``; returns how many were queued (a PR with such a recheck still waiting is
    not queued again)."""
    wanted = sorted({k.upper() for k in keys if k})
    if not wanted:
        return 0
    async with state.database.session() as session:
        prs = await open_prs_on_hosts_using(session, workspace_id, wanted)
        if not prs:
            return 0
        waiting = {
            (str(repo), str(pr))
            for repo, pr in (
                await session.execute(
                    select(DeliveryRow.repository, DeliveryRow.pull_request_id).where(
                        DeliveryRow.workspace_id == workspace_id,
                        DeliveryRow.origin == ORIGIN,
                        DeliveryRow.state == "pending",
                        DeliveryRow.claimed_at.is_(None),
                    )
                )
            ).all()
        }
    queued = 0
    for repository, pr_id, platform in prs:
        if (repository, pr_id) in waiting:
            continue
        made = await enqueue(
            state,
            workspace_id,
            ORIGIN,
            f"jira|{why}|{repository}|{pr_id}|{uuid.uuid4()}",
            repository,
            pr_id,
            force=True,
            platform=platform,
        )
        queued += made is not None
    if queued:
        log.info(
            "Jira %s of %s: %d pull request(s) queued for re-evaluation",
            why,
            ", ".join(wanted[:5]) + ("…" if len(wanted) > 5 else ""),
            queued,
        )
        worker: Any = state.extras.get("pr_worker") if hasattr(state, "extras") else None
        if worker is not None:
            worker.wake()
    return queued
