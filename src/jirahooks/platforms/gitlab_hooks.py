"""GitLab webhooks: the secret token, and deliveries parsed into :class:`Delivery` (pure).

Which events evaluate, close, recheck or are ignored is documented in ``platforms/gitlab.py``
and docs/gitlab.md ("Events").
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from jirahooks.event import Commit
from jirahooks.platforms.base import BranchPush, Delivery, DeliveryKind, WebhookError

PLATFORM = "gitlab"
TOKEN_HEADER = "x-gitlab-token"
MR_EVENT = "Merge Request Hook"
PUSH_EVENT = "Push Hook"
NOTE_EVENT = "Note Hook"
SYSTEM_EVENT = "System Hook"  # instance-wide hooks: routed by ``object_kind``
_KIND_OF_OBJECT = {"merge_request": MR_EVENT, "push": PUSH_EVENT, "note": NOTE_EVENT}
MR_EVALUATE_ACTIONS = frozenset({"open", "reopen"})
MR_CLOSED_ACTIONS = frozenset({"merge", "close"})
# what an MR "update" must change for the verdict to possibly change
MR_RELEVANT_CHANGES = frozenset({"title", "description", "source_branch", "target_branch"})
RECHECK_COMMAND = re.compile(r"\A\s*/jirahooks\s+recheck\b", re.IGNORECASE)
_ZERO = "0" * 40
MR_STATES = {"opened": "OPEN", "merged": "MERGED", "closed": "CLOSED", "locked": "LOCKED"}

# -- webhook ----------------------------------------------------------------------------------


def token_ok(headers: Mapping[str, str], secrets: Iterable[str]) -> bool:
    """``X-Gitlab-Token`` equals one of ``secrets`` (constant time; every secret is compared,
    so the time does not tell which one matched). No secret configured: never."""
    lower = {k.lower(): v for k, v in headers.items()}
    given = lower.get(TOKEN_HEADER, "").encode("utf-8", "surrogateescape")
    matched = False
    for secret in secrets:
        if secret and hmac.compare_digest(given, secret.encode("utf-8")):
            matched = True
    return matched and bool(given)


def obj_at(data: Any, *names: str) -> dict[str, Any]:
    for name in names:
        data = data.get(name) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def str_at(data: Any, *names: str) -> str:
    *path, last = names
    holder = obj_at(data, *path) if path else (data if isinstance(data, dict) else {})
    value = holder.get(last)
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def is_recheck_command(note: str) -> bool:
    text = note.strip()
    return bool(text) and bool(RECHECK_COMMAND.match(text.splitlines()[0]))


def split_project(path_with_namespace: str, namespace: str = "") -> tuple[str, str]:
    """(workspace, repository): relative to ``namespace`` when the project is inside it,
    otherwise the project's own namespace and name."""
    path = path_with_namespace.strip("/")
    if namespace and path.lower().startswith(namespace.strip("/").lower() + "/"):
        cut = len(namespace.strip("/")) + 1
        return path[: cut - 1], path[cut:]
    owner, _, name = path.rpartition("/")
    return owner, name


def mr_state(value: str) -> str:
    return MR_STATES.get(value, value.upper() or "OPEN")


def parse_delivery(headers: Mapping[str, str], body: bytes, *, namespace: str = "") -> Delivery:
    """A webhook delivery → :class:`Delivery` (pure; raises WebhookError on malformed JSON).
    The token is checked before this, by :func:`token_ok`."""
    lower = {k.lower(): v for k, v in headers.items()}
    event = lower.get("x-gitlab-event", "").strip()
    common: dict[str, Any] = {
        "platform": PLATFORM,
        "event_key": event,
        "request_id": (
            lower.get("idempotency-key", "") or lower.get("x-gitlab-event-uuid", "")
        ).strip()[:100],
    }
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise WebhookError(
            "the webhook body is not JSON", hint="GitLab sends application/json"
        ) from exc
    if not isinstance(payload, dict):
        raise WebhookError("the webhook body is not a JSON object")
    if event == SYSTEM_EVENT:
        event = _KIND_OF_OBJECT.get(str_at(payload, "object_kind"), "")
    if event not in (MR_EVENT, PUSH_EVENT, NOTE_EVENT):
        return Delivery(kind=DeliveryKind.IGNORED, **common)
    project = obj_at(payload, "project")
    full_path = str_at(project, "path_with_namespace")
    if not full_path:
        raise WebhookError(
            "the webhook payload has no project.path_with_namespace",
            hint="is this a GitLab webhook?",
        )
    workspace, repository = split_project(full_path, namespace)
    common.update(
        workspace=workspace,
        repository=repository,
        repository_uuid=str_at(project, "id"),
        actor=str_at(payload, "user", "username") or str_at(payload, "user_username"),
    )
    if event == PUSH_EVENT:
        return Delivery(kind=DeliveryKind.PUSH, pushes=_pushes(payload), **common)
    if event == NOTE_EVENT:
        return _note_delivery(payload, common)
    mr = obj_at(payload, "object_attributes")
    iid = str_at(mr, "iid")
    if not iid:
        raise WebhookError("the webhook payload has no object_attributes.iid")
    kind = _mr_kind(payload, mr)
    return Delivery(
        kind=kind,
        pull_request_id=iid,
        head=str_at(mr, "last_commit", "id"),
        source_branch=str_at(mr, "source_branch"),
        destination_branch=str_at(mr, "target_branch"),
        title=str_at(mr, "title"),
        description=str_at(mr, "description"),
        state=mr_state(str_at(mr, "state")),
        author=str_at(payload, "user", "name") if _author_is_user(payload, mr) else "",
        author_id=str_at(mr, "author_id"),
        url=str_at(mr, "url"),
        **common,
    )


def _author_is_user(payload: Mapping[str, Any], mr: Mapping[str, Any]) -> bool:
    """The payload names the MR's author only by id; ``user`` is who acted."""
    return bool(str_at(mr, "author_id")) and str_at(mr, "author_id") == str_at(
        payload, "user", "id"
    )


def _mr_kind(payload: Mapping[str, Any], mr: Mapping[str, Any]) -> DeliveryKind:
    action = str_at(mr, "action")
    if action in MR_CLOSED_ACTIONS:
        return DeliveryKind.PULL_REQUEST_CLOSED
    if action in MR_EVALUATE_ACTIONS:
        return DeliveryKind.PULL_REQUEST
    if action == "update":
        if str_at(mr, "oldrev"):
            return DeliveryKind.PULL_REQUEST  # new commits
        changes = payload.get("changes")
        if not isinstance(changes, dict):
            return DeliveryKind.PULL_REQUEST
        if MR_RELEVANT_CHANGES & set(changes):
            return DeliveryKind.PULL_REQUEST
        return DeliveryKind.IGNORED
    if not action and str_at(mr, "state") == "opened":
        return DeliveryKind.PULL_REQUEST  # an old GitLab without ``action``
    return DeliveryKind.IGNORED  # approvals (ours included), and anything new


def _note_delivery(payload: Mapping[str, Any], common: dict[str, Any]) -> Delivery:
    note = obj_at(payload, "object_attributes")
    if (
        str_at(note, "noteable_type") != "MergeRequest"
        or str_at(note, "action") not in ("", "create")
        or not is_recheck_command(str_at(note, "note"))
    ):
        return Delivery(kind=DeliveryKind.IGNORED, **common)
    mr = obj_at(payload, "merge_request")
    iid = str_at(mr, "iid")
    if not iid:
        raise WebhookError("the note payload has no merge_request.iid")
    return Delivery(
        kind=DeliveryKind.RECHECK,
        pull_request_id=iid,
        head=str_at(mr, "last_commit", "id"),
        source_branch=str_at(mr, "source_branch"),
        destination_branch=str_at(mr, "target_branch"),
        state=mr_state(str_at(mr, "state")),
        **common,
    )


def _pushes(payload: Mapping[str, Any]) -> tuple[BranchPush, ...]:
    ref = str_at(payload, "ref")
    after = str_at(payload, "after")
    if not ref.startswith("refs/heads/") or not after or after == _ZERO:
        return ()  # a tag, or a deleted branch
    commits = payload.get("commits")
    listed = [c for c in commits if isinstance(c, dict)] if isinstance(commits, list) else []
    total = payload.get("total_commits_count")
    return (
        BranchPush(
            branch=ref.removeprefix("refs/heads/"),
            head=after,
            commits=tuple(_hook_commit(c) for c in listed),
            # GitLab lists at most 20 commits in a push payload
            truncated=isinstance(total, int) and total > len(listed),
        ),
    )


def _hook_commit(data: Mapping[str, Any]) -> Commit:
    return Commit(
        hash=str_at(data, "id"),
        message=str_at(data, "message"),
        author_name=str_at(data, "author", "name"),
        author_email=str_at(data, "author", "email"),
        url=str_at(data, "url") or None,
    )
