"""GitLab webhooks: the secret token, and every event parsed from payloads shaped as GitLab's
documentation shows them (built by the fake from its state, validated against the hook schemas
in tests/fakes/gitlab_schemas.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from tests.fakes.fake_gitlab import WEBHOOK_SECRET, FakeGitLab, FakeProject
from tests.platforms.gitlab_support import NAMESPACE, gitlab_fixture, project_fixture  # noqa: F401

from jirahooks.platforms.base import DeliveryKind, WebhookError
from jirahooks.platforms.gitlab import PLATFORM, GitLab, parse_delivery, token_ok
from jirahooks.platforms.gitlab_client import GitLabCredentials

SCHEMAS = json.loads((Path(__file__).parents[1] / "fakes" / "gitlab_schemas.json").read_text())


def checked(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    """The delivery, after its payload was validated against the documented hook shape."""
    schema = {**SCHEMAS["hooks"][headers["X-Gitlab-Event"]], "definitions": SCHEMAS["definitions"]}
    Draft7Validator(schema).validate(json.loads(body))
    return headers, body


def parse(headers: dict[str, str], body: bytes) -> Any:
    return parse_delivery(*checked(headers, body), namespace=NAMESPACE)


# -- the secret token -------------------------------------------------------------------------


def test_the_right_token_is_accepted(gitlab: FakeGitLab, project: FakeProject) -> None:
    headers, _ = gitlab.merge_request_hook(project, gitlab.add_mr(project, "ABC-1 x"))
    assert token_ok(headers, [WEBHOOK_SECRET])
    # during a rotation both secrets are configured: either one is accepted
    assert token_ok(headers, ["the-new-secret", WEBHOOK_SECRET])
    assert token_ok({k.lower(): v for k, v in headers.items()}, [WEBHOOK_SECRET])


@pytest.mark.parametrize(
    ("given", "secrets"),
    [
        ("wrong-secret", [WEBHOOK_SECRET]),
        (WEBHOOK_SECRET[:-1], [WEBHOOK_SECRET]),  # a prefix is not the secret
        (WEBHOOK_SECRET + "x", [WEBHOOK_SECRET]),
        ("", [WEBHOOK_SECRET]),
        ("", [""]),  # no token and an empty secret: still refused
        (WEBHOOK_SECRET, []),  # nothing configured: nothing passes
        ("sécret", ["secret"]),  # non-ASCII does not raise
    ],
)
def test_a_wrong_or_missing_token_is_refused(given: str, secrets: list[str]) -> None:
    headers = {"X-Gitlab-Event": "Push Hook"}
    if given:
        headers["X-Gitlab-Token"] = given
    assert not token_ok(headers, secrets)


def test_the_adapter_verifies_with_the_same_rule(gitlab: FakeGitLab, project: FakeProject) -> None:
    adapter = GitLab(GitLabCredentials("t"), base_url=gitlab.url)
    headers, _ = gitlab.push_hook(project, "main", [])
    assert adapter.verify_webhook(headers, [WEBHOOK_SECRET])
    assert not adapter.verify_webhook({**headers, "X-Gitlab-Token": "nope"}, [WEBHOOK_SECRET])


# -- merge request hooks ----------------------------------------------------------------------


@pytest.mark.parametrize("action", ["open", "reopen"])
def test_opened_and_reopened_merge_requests_are_evaluated(
    gitlab: FakeGitLab, project: FakeProject, action: str
) -> None:
    mr = gitlab.add_mr(
        project, "ABC-1 Login form", source="feature/ABC-1", description="Fixes ABC-1"
    )
    headers, body = gitlab.merge_request_hook(project, mr, action=action)
    delivery = parse(headers, body)
    assert delivery.kind is DeliveryKind.PULL_REQUEST
    assert delivery.platform == PLATFORM == "gitlab"
    assert (delivery.workspace, delivery.repository) == (NAMESPACE, "platform/api-service")
    assert delivery.repository_uuid == str(project.id)
    assert delivery.pull_request_id == str(mr.iid)
    assert delivery.head == mr.sha  # GitLab sends the full hash
    assert (delivery.source_branch, delivery.destination_branch) == ("feature/ABC-1", "main")
    assert (delivery.title, delivery.description) == ("ABC-1 Login form", "Fixes ABC-1")
    assert delivery.state == "OPEN"
    assert delivery.author == "Ada Tester" and delivery.author_id == "17"
    assert delivery.url.endswith(f"/-/merge_requests/{mr.iid}")
    assert delivery.event_key == "Merge Request Hook"
    assert delivery.request_id == headers["Idempotency-Key"]


@pytest.mark.parametrize(("action", "state"), [("merge", "merged"), ("close", "closed")])
def test_merged_and_closed_merge_requests_close(
    gitlab: FakeGitLab, project: FakeProject, action: str, state: str
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 x")
    mr.state = state
    delivery = parse(*gitlab.merge_request_hook(project, mr, action=action))
    assert delivery.kind is DeliveryKind.PULL_REQUEST_CLOSED
    assert delivery.state == state.upper()


def test_an_update_with_new_commits_is_evaluated(gitlab: FakeGitLab, project: FakeProject) -> None:
    mr = gitlab.add_mr(project, "ABC-1 x")
    before = mr.sha
    gitlab.push(project, mr, "ABC-1 more")
    delivery = parse(*gitlab.merge_request_hook(project, mr, action="update", oldrev=before))
    assert delivery.kind is DeliveryKind.PULL_REQUEST
    assert delivery.head == mr.sha != before


@pytest.mark.parametrize("field", ["title", "description", "target_branch", "source_branch"])
def test_an_update_of_what_rules_read_is_evaluated(
    gitlab: FakeGitLab, project: FakeProject, field: str
) -> None:
    mr = gitlab.add_mr(project, "ABC-2 renamed")
    changes = {field: {"previous": "old", "current": "new"}, "updated_at": {}}
    delivery = parse(*gitlab.merge_request_hook(project, mr, action="update", changes=changes))
    assert delivery.kind is DeliveryKind.PULL_REQUEST


@pytest.mark.parametrize(
    "changes",
    [
        {"labels": {"previous": [], "current": [{"id": 1, "title": "bug"}]}},
        {"assignees": {"previous": [], "current": [{"id": 2}]}, "updated_at": {}},
        {"reviewers": {"previous": [], "current": [{"id": 3}]}},
        {"milestone_id": {"previous": None, "current": 4}},
        {},
    ],
)
def test_an_update_that_cannot_change_the_verdict_is_ignored(
    gitlab: FakeGitLab, project: FakeProject, changes: dict[str, Any]
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 x")
    delivery = parse(*gitlab.merge_request_hook(project, mr, action="update", changes=changes))
    assert delivery.kind is DeliveryKind.IGNORED


def test_an_update_without_a_changes_object_is_evaluated(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 x")
    headers, body = gitlab.merge_request_hook(project, mr, action="update")
    payload = json.loads(body)
    del payload["changes"]
    delivery = parse(headers, json.dumps(payload).encode())
    assert delivery.kind is DeliveryKind.PULL_REQUEST


@pytest.mark.parametrize("action", ["approved", "unapproved", "approval", "unapproval"])
def test_approval_events_are_ignored_so_our_own_approval_does_not_loop(
    gitlab: FakeGitLab, project: FakeProject, action: str
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 x")
    delivery = parse(*gitlab.merge_request_hook(project, mr, action=action))
    assert delivery.kind is DeliveryKind.IGNORED


def test_the_actor_is_not_taken_for_the_author(gitlab: FakeGitLab, project: FakeProject) -> None:
    mr = gitlab.add_mr(project, "ABC-1 x")
    reviewer = {"id": 99, "username": "bob", "name": "Bob Reviewer"}
    delivery = parse(*gitlab.merge_request_hook(project, mr, action="reopen", actor=reviewer))
    assert delivery.actor == "bob"
    assert delivery.author == ""  # the payload names the author only by id
    assert delivery.author_id == "17"


# -- push hooks -------------------------------------------------------------------------------


def test_a_push_lists_its_branch_and_commits(gitlab: FakeGitLab, project: FakeProject) -> None:
    mr = gitlab.add_mr(project, "ABC-1 x", commits=["ABC-1 one", "ABC-1 two"])
    delivery = parse(*gitlab.push_hook(project, "feature/ABC-1", mr.commits))
    assert delivery.kind is DeliveryKind.PUSH
    (push,) = delivery.pushes
    assert (push.branch, push.head) == ("feature/ABC-1", mr.sha)
    assert [c.hash for c in push.commits] == mr.commits
    assert push.commits[0].message == "ABC-1 one"
    assert push.commits[0].author_email == "ada@example.com"
    assert not push.truncated
    assert delivery.actor == "ada"


def test_a_push_of_more_than_20_commits_is_marked_truncated(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 x", commits=[f"ABC-1 c{i}" for i in range(25)])
    delivery = parse(*gitlab.push_hook(project, "feature/ABC-1", mr.commits))
    (push,) = delivery.pushes
    assert len(push.commits) == 20 and push.truncated
    assert push.head == mr.sha


def test_tag_pushes_and_branch_deletions_carry_no_branch_update(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 x")
    deleted = parse(*gitlab.push_hook(project, "old", [], before=mr.sha, after="0" * 40))
    assert deleted.kind is DeliveryKind.PUSH and deleted.pushes == ()
    headers, body = gitlab.push_hook(project, "x", mr.commits, ref="refs/tags/v1")
    assert parse(headers, body).pushes == ()
    tag_event = parse_delivery({**headers, "X-Gitlab-Event": "Tag Push Hook"}, body)
    assert tag_event.kind is DeliveryKind.IGNORED


# -- note hooks -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["/jirahooks recheck", "  /JiraHooks   Recheck please\nthanks"])
def test_a_recheck_note_queues_a_recheck(
    gitlab: FakeGitLab, project: FakeProject, text: str
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 x", source="feature/ABC-1")
    delivery = parse(*gitlab.note_hook(project, mr, text))
    assert delivery.kind is DeliveryKind.RECHECK
    assert delivery.pull_request_id == str(mr.iid)
    assert delivery.head == mr.sha
    assert delivery.source_branch == "feature/ABC-1"
    assert delivery.state == "OPEN"


@pytest.mark.parametrize(
    ("text", "noteable", "action"),
    [
        ("looks good", "MergeRequest", "create"),
        ("please /jirahooks recheck", "MergeRequest", "create"),  # not at the start
        ("/jirahooks recheck", "Issue", "create"),
        ("/jirahooks recheck", "Commit", "create"),
        ("/jirahooks recheck", "MergeRequest", "update"),  # an edited note is not a new command
    ],
)
def test_other_notes_are_ignored(
    gitlab: FakeGitLab, project: FakeProject, text: str, noteable: str, action: str
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 x")
    headers, body = gitlab.note_hook(project, mr, text, noteable_type=noteable, action=action)
    assert parse_delivery(headers, body).kind is DeliveryKind.IGNORED


def test_our_own_summary_note_does_not_trigger_a_recheck() -> None:
    from jirahooks.platforms.base import Report
    from jirahooks.platforms.gitlab import is_recheck_command, note_body

    body = note_body(Report("id", "Process Guardian", "1 rule blocked", "FAILED"))
    assert "/jirahooks recheck" in body and not is_recheck_command(body)


# -- everything else --------------------------------------------------------------------------


def test_system_hooks_are_routed_by_object_kind(gitlab: FakeGitLab, project: FakeProject) -> None:
    mr = gitlab.add_mr(project, "ABC-1 x")
    headers, body = gitlab.merge_request_hook(project, mr, action="open")
    delivery = parse_delivery({**headers, "X-Gitlab-Event": "System Hook"}, body)
    assert delivery.kind is DeliveryKind.PULL_REQUEST


@pytest.mark.parametrize("event", ["Pipeline Hook", "Issue Hook", "Job Hook", ""])
def test_events_jirahooks_does_not_use_are_ignored(
    gitlab: FakeGitLab, project: FakeProject, event: str
) -> None:
    _, body = gitlab.push_hook(project, "main", [])
    delivery = parse_delivery({"X-Gitlab-Event": event}, body)
    assert delivery.kind is DeliveryKind.IGNORED


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"object_kind": "push"}', "path_with_namespace"),
    ],
)
def test_malformed_deliveries_raise_a_webhook_error(body: bytes, words: str) -> None:
    with pytest.raises(WebhookError) as caught:
        parse_delivery({"X-Gitlab-Event": "Push Hook"}, body)
    assert words in caught.value.message
    assert caught.value.code == "WEBHOOK_INVALID"


def test_a_merge_request_hook_without_an_iid_is_refused(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    headers, body = gitlab.merge_request_hook(project, gitlab.add_mr(project, "x"))
    payload = json.loads(body)
    del payload["object_attributes"]["iid"]
    with pytest.raises(WebhookError, match="iid"):
        parse_delivery(headers, json.dumps(payload).encode())


def test_retries_of_one_delivery_share_a_dedupe_key(
    gitlab: FakeGitLab, project: FakeProject
) -> None:
    mr = gitlab.add_mr(project, "ABC-1 x")
    headers, body = gitlab.merge_request_hook(project, mr)
    first = parse(headers, body)
    retry = parse({**headers, "X-Gitlab-Webhook-UUID": "another-request"}, body)
    assert first.dedupe_key == retry.dedupe_key
    other = parse({**headers, "Idempotency-Key": "another-event"}, body)
    assert other.dedupe_key != first.dedupe_key
    # a GitLab version without Idempotency-Key: the event UUID stands in
    old = {k: v for k, v in headers.items() if k != "Idempotency-Key"}
    assert parse(old, body).request_id == headers["X-Gitlab-Event-UUID"]


def test_a_project_outside_the_namespace_keeps_its_own(gitlab: FakeGitLab) -> None:
    other = gitlab.add_project("elsewhere/tools/cli")
    delivery = parse(*gitlab.push_hook(other, "main", []))
    assert (delivery.workspace, delivery.repository) == ("elsewhere/tools", "cli")
