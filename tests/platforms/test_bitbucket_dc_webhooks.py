"""Bitbucket Data Center webhooks: signature checked, every event kind parsed.

Payloads are shaped as Atlassian's "Event payload" page for Bitbucket Data Center documents them
(``eventKey``, ``actor``, ``pullRequest`` with ``fromRef`` / ``toRef`` and full hashes,
``repository`` with ``project.key``, ``changes`` of ``repo:refs_changed``); the fake builds most
of them, and one is written out by hand below so the fake cannot drift alone.
"""

from __future__ import annotations

import inspect
import json

import pytest
from tests.fakes.fake_bitbucket_dc import WEBHOOK_SECRET, FakeBitbucketDC, FakeRepo
from tests.platforms.bitbucket_dc_support import PROJECT, SLUG, dc, dc_repo, make_adapter

from jirahooks.platforms import base
from jirahooks.platforms.base import DeliveryKind, PlatformAdapter, WebhookError
from jirahooks.platforms.bitbucket_dc import (
    BitbucketDataCenter,
    parse_delivery,
    sign,
    verify_signature,
)

__all__ = ["dc", "dc_repo"]  # fixtures


# -- signature --------------------------------------------------------------------------------


def test_a_signed_delivery_is_accepted(dc: FakeBitbucketDC, dc_repo: FakeRepo) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 Login", source="feature/ABC-1")
    headers, body = dc.pr_event(dc_repo, pr, "pr:opened")
    verify_signature(WEBHOOK_SECRET, headers, body)  # raises when it does not match
    assert headers["X-Hub-Signature"] == sign(WEBHOOK_SECRET, body)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("wrong secret", "WEBHOOK_SIGNATURE_INVALID"),
        ("body changed", "WEBHOOK_SIGNATURE_INVALID"),
        ("no header", "WEBHOOK_SIGNATURE_MISSING"),
        ("sha1 header", "WEBHOOK_SIGNATURE_INVALID"),
        ("no secret configured", "WEBHOOK_SECRET_MISSING"),
    ],
)
def test_a_bad_signature_is_refused(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, change: str, code: str
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 Login", source="feature/ABC-1")
    headers, body = dc.pr_event(dc_repo, pr, "pr:opened")
    secret = WEBHOOK_SECRET
    if change == "wrong secret":
        secret = "another-secret"
    elif change == "body changed":
        body = body.replace(b"ABC-1 Login", b"ABC-9 Login")
    elif change == "no header":
        del headers["X-Hub-Signature"]
    elif change == "sha1 header":
        headers["X-Hub-Signature"] = headers["X-Hub-Signature"].replace("sha256=", "sha1=")
    else:
        secret = ""
    with pytest.raises(WebhookError) as caught:
        verify_signature(secret, headers, body)
    assert caught.value.code == code
    assert caught.value.hint
    assert WEBHOOK_SECRET not in caught.value.message + caught.value.hint


def test_the_header_name_is_case_insensitive(dc: FakeBitbucketDC, dc_repo: FakeRepo) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 Login", source="feature/ABC-1")
    headers, body = dc.pr_event(dc_repo, pr, "pr:opened")
    lower = {k.lower(): v for k, v in headers.items()}
    verify_signature(WEBHOOK_SECRET, lower, body)


# -- event kinds ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("pr:opened", DeliveryKind.PULL_REQUEST),
        ("pr:from_ref_updated", DeliveryKind.PULL_REQUEST),
        ("pr:modified", DeliveryKind.PULL_REQUEST),
        ("pr:merged", DeliveryKind.PULL_REQUEST_CLOSED),
        ("pr:declined", DeliveryKind.PULL_REQUEST_CLOSED),
        ("pr:deleted", DeliveryKind.PULL_REQUEST_CLOSED),
        ("pr:reviewer:approved", DeliveryKind.IGNORED),
        ("pr:reviewer:needs_work", DeliveryKind.IGNORED),
        ("repo:forked", DeliveryKind.IGNORED),
    ],
)
def test_pull_request_event_keys(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, key: str, kind: DeliveryKind
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 Login", source="feature/ABC-1")
    if key in ("pr:merged", "pr:declined"):
        pr.state = key.split(":")[1].upper()
    headers, body = dc.pr_event(dc_repo, pr, key)
    delivery = parse_delivery(headers, body)
    assert delivery.kind is kind
    assert delivery.event_key == key
    assert delivery.request_id == headers["X-Request-Id"]
    if kind is not DeliveryKind.IGNORED:
        assert (delivery.workspace, delivery.repository) == (PROJECT, SLUG)
        assert delivery.pull_request_id == str(pr.id)
        assert delivery.head == pr.head


def test_source_branch_update_is_parsed_in_full(dc: FakeBitbucketDC, dc_repo: FakeRepo) -> None:
    pr = dc.add_pr(
        dc_repo,
        "ABC-1 Login form",
        source="feature/ABC-1-login",
        destination="develop",
        description="Adds the form",
        commits=["ABC-1 one", "ABC-1 two"],
    )
    previous = pr.head
    dc.push(dc_repo, pr, "ABC-1 three")
    headers, body = dc.pr_event(dc_repo, pr, "pr:from_ref_updated", previousFromHash=previous)
    d = parse_delivery(headers, body)
    assert d.kind is DeliveryKind.PULL_REQUEST
    assert d.head == pr.head and len(d.head) == 40  # Data Center sends full hashes
    assert (d.source_branch, d.destination_branch) == ("feature/ABC-1-login", "develop")
    assert (d.title, d.description, d.state) == ("ABC-1 Login form", "Adds the form", "OPEN")
    assert d.author == "Ada" and d.author_id == "ada"
    assert d.url.endswith(f"/projects/{PROJECT}/repos/{SLUG}/pull-requests/{pr.id}")
    assert d.repository_uuid == str(dc_repo.id)


def test_deleted_pr_without_state_is_closed(dc: FakeBitbucketDC, dc_repo: FakeRepo) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 Login", source="feature/ABC-1")
    headers, body = dc.pr_event(dc_repo, pr, "pr:deleted")
    payload = json.loads(body)
    del payload["pullRequest"]["state"]
    d = parse_delivery(headers, json.dumps(payload).encode())
    assert d.kind is DeliveryKind.PULL_REQUEST_CLOSED and d.state == "DELETED"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("/jirahooks recheck", DeliveryKind.RECHECK),
        ("  /JiraHooks   Recheck please\nthanks", DeliveryKind.RECHECK),
        ("LGTM", DeliveryKind.IGNORED),
        ("please run /jirahooks recheck", DeliveryKind.IGNORED),
    ],
)
def test_recheck_comment(
    dc: FakeBitbucketDC, dc_repo: FakeRepo, text: str, kind: DeliveryKind
) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 Login", source="feature/ABC-1")
    comment = {"id": 17, "version": 0, "text": text, "author": dc.user_json("bob")}
    headers, body = dc.pr_event(dc_repo, pr, "pr:comment:added", comment=comment)
    d = parse_delivery(headers, body)
    assert d.kind is kind
    if kind is DeliveryKind.RECHECK:
        assert (d.pull_request_id, d.head, d.repository) == (str(pr.id), pr.head, SLUG)


def test_refs_changed_is_a_push_of_branches(dc: FakeBitbucketDC, dc_repo: FakeRepo) -> None:
    old, new, other = "a" * 40, "b" * 40, "c" * 40
    headers, body = dc.refs_changed(
        dc_repo,
        [
            ("refs/heads/feature/ABC-1", old, new, "UPDATE"),
            ("refs/heads/feature/ABC-2", "0" * 40, other, "ADD"),
            ("refs/heads/gone", old, "0" * 40, "DELETE"),
            ("refs/tags/v1.0", "0" * 40, new, "ADD"),
        ],
    )
    d = parse_delivery(headers, body)
    assert d.kind is DeliveryKind.PUSH
    assert (d.workspace, d.repository) == (PROJECT, SLUG)
    assert [(p.branch, p.head, p.truncated) for p in d.pushes] == [
        ("feature/ABC-1", new, True),
        ("feature/ABC-2", other, True),
    ]
    assert d.dedupe_key.endswith(f"{new},{other}")


def test_a_hand_written_refs_changed_payload() -> None:
    """The shape of Atlassian's documented ``repo:refs_changed`` example, written out."""
    payload = {
        "eventKey": "repo:refs_changed",
        "date": "2017-09-19T09:58:11+1000",
        "actor": {"name": "admin", "id": 1, "displayName": "Administrator", "slug": "admin"},
        "repository": {
            "slug": "repository",
            "id": 84,
            "name": "repository",
            "project": {"key": "PROJ", "id": 84, "name": "project", "type": "NORMAL"},
        },
        "changes": [
            {
                "ref": {"id": "refs/heads/master", "displayId": "master", "type": "BRANCH"},
                "refId": "refs/heads/master",
                "fromHash": "ecddabb624f6f5ba43816f5926e580a5f680a932",
                "toHash": "178864a7d521b6f5e720b386b2c2b0ef8563e0dc",
                "type": "UPDATE",
            }
        ],
    }
    d = parse_delivery({"X-Event-Key": "repo:refs_changed"}, json.dumps(payload).encode())
    assert (d.workspace, d.repository, d.actor) == ("PROJ", "repository", "Administrator")
    assert d.pushes[0].branch == "master"
    assert d.pushes[0].head == "178864a7d521b6f5e720b386b2c2b0ef8563e0dc"


def test_diagnostics_ping_is_acknowledged_and_ignored(dc: FakeBitbucketDC) -> None:
    headers, body = dc.webhook("diagnostics:ping", {"test": True})
    verify_signature(WEBHOOK_SECRET, headers, body)
    d = parse_delivery(headers, body)
    assert d.kind is DeliveryKind.IGNORED and d.event_key == "diagnostics:ping"


@pytest.mark.parametrize(
    ("key", "body", "fragment"),
    [
        ("pr:opened", b"not json", "not JSON"),
        ("pr:opened", b"[1, 2]", "not a JSON object"),
        ("pr:opened", b'{"pullRequest": {"id": 3}}', "toRef.repository"),
        ("repo:refs_changed", b'{"repository": {"slug": "x"}}', "project.key"),
    ],
)
def test_malformed_deliveries_are_clear_errors(key: str, body: bytes, fragment: str) -> None:
    with pytest.raises(WebhookError) as caught:
        parse_delivery({"X-Event-Key": key}, body)
    assert fragment in caught.value.message
    assert caught.value.code == "WEBHOOK_INVALID"


def test_nulls_are_tolerated() -> None:
    payload = {
        "pullRequest": {
            "id": 7,
            "title": None,
            "description": None,
            "fromRef": {"id": "refs/heads/x", "displayId": None, "latestCommit": None},
            "toRef": {"repository": {"slug": "r", "project": {"key": "P"}}},
            "author": None,
            "links": None,
        }
    }
    d = parse_delivery({"X-Event-Key": "pr:modified"}, json.dumps(payload).encode())
    assert (d.pull_request_id, d.source_branch, d.title, d.head, d.author) == ("7", "x", "", "", "")


def test_the_adapter_has_the_protocol_s_methods_and_signatures(dc: FakeBitbucketDC) -> None:
    adapter: PlatformAdapter = make_adapter(dc)  # mypy checks the protocol here
    assert adapter.platform == "bitbucket-dc"
    members = [
        name
        for name, value in vars(base.PlatformAdapter).items()
        if callable(value) and not name.startswith("_")
    ]
    assert "publish_report" in members and "review" in members
    for name in members:
        wanted = inspect.signature(getattr(base.PlatformAdapter, name))
        got = inspect.signature(getattr(BitbucketDataCenter, name))
        assert list(got.parameters) == list(wanted.parameters), name
        assert inspect.iscoroutinefunction(getattr(BitbucketDataCenter, name)) == (
            inspect.iscoroutinefunction(getattr(base.PlatformAdapter, name))
        ), name


def test_the_request_id_dedupes_a_redelivery(dc: FakeBitbucketDC, dc_repo: FakeRepo) -> None:
    pr = dc.add_pr(dc_repo, "ABC-1 Login", source="feature/ABC-1")
    first = parse_delivery(*dc.pr_event(dc_repo, pr, "pr:opened"))
    again = parse_delivery(
        *dc.webhook(
            "pr:opened",
            json.loads(dc.pr_event(dc_repo, pr, "pr:opened")[1]),
            request_id=first.request_id,
        )
    )
    other = parse_delivery(*dc.pr_event(dc_repo, pr, "pr:opened"))
    assert first.request_id and first.request_id != other.request_id
    assert again.dedupe_key == first.dedupe_key
    assert other.dedupe_key != first.dedupe_key
    assert first.dedupe_key.startswith("bitbucket-dc|")
