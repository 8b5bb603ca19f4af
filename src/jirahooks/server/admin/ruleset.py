"""A repository's rule set as a configuration document: what ``jirahooks replay --server`` reads.

``GET /workspaces/{workspace}/repositories/{repository}/rule-set`` answers every member of the
workspace (the same readers as ``effective-rules``) with the stored rule definitions of the
workspace and of the repository, the repository's disabled workspace rules and both levels'
settings — as a configuration document the CLI loads with the same reader and combines with
the same ``rules_for`` / ``settings_for`` as a local file. No connection, no token and no
secret is in it: Jira stays with whoever runs the replay. A stored rule that no longer reads is
left out and named in ``brokenRules``, so the replay says which rule it could not run.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from jirahooks.rules.model import BrokenRule
from jirahooks.server.auth import CurrentUser, Session, get_repository, get_workspace
from jirahooks.server.errors import responses
from jirahooks.store import queries
from jirahooks.store.models import RuleRow

router = APIRouter(tags=["rules"])


class BrokenRuleOut(BaseModel):
    id: str
    problem: str


class RuleSetOut(BaseModel):
    workspace: str
    repository: str
    config_version: int = Field(description="the workspace's configuration version")
    document: dict[str, Any] = Field(
        description="a configuration document with the workspace's and the repository's rules "
        "and settings (no connections, no tokens)"
    )
    broken_rules: list[BrokenRuleOut] = Field(
        default_factory=list, description="stored rules that no longer read, left out"
    )


def _definitions(rows: list[RuleRow], broken: list[BrokenRuleOut]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row in rows:
        rule = queries.row_rule(row)
        if isinstance(rule, BrokenRule):
            broken.append(BrokenRuleOut(id=rule.id, problem=rule.problem))
        elif isinstance(row.definition, dict):
            out.append(dict(row.definition))
    return out


@router.get(
    "/workspaces/{workspace}/repositories/{repository}/rule-set",
    response_model=RuleSetOut,
    summary="The repository's rules and settings as a configuration document (for replay)",
    responses=responses(404),
)
async def rule_set(
    workspace: str, repository: str, session: Session, principal: CurrentUser
) -> RuleSetOut:
    ws = await get_workspace(session, principal, workspace)
    repo = await get_repository(session, ws, repository)
    broken: list[BrokenRuleOut] = []
    repo_doc: dict[str, Any] = {
        "slug": repo.slug,
        "rules": _definitions(await queries.rule_rows(session, ws.id, repo.id), broken),
    }
    if repo.settings:
        repo_doc["settings"] = dict(repo.settings)
    # a broken repository rule still replaces the workspace rule of its id on the server (it
    # fails closed there): that workspace rule must not stand in for it here
    disabled = [str(x) for x in repo.disabled_rules or []] + [b.id for b in broken]
    if disabled:
        repo_doc["disable_rules"] = list(dict.fromkeys(disabled))
    document: dict[str, Any] = {
        "workspace": ws.slug,
        "rules": _definitions(await queries.rule_rows(session, ws.id, None), broken),
        "repositories": [repo_doc],
    }
    if ws.settings:
        document["settings"] = dict(ws.settings)
    return RuleSetOut(
        workspace=ws.slug,
        repository=repo.slug,
        config_version=ws.config_version,
        document=document,
        broken_rules=broken,
    )
